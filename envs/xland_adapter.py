"""XLand-MiniGrid's meta-RL tasks with real rulesets:
`make("xminigrid:XLand-MiniGrid-R1-9x9", benchmark="trivial-21k", trials_per_ruleset=4)`.

An XLand task is a *ruleset* (a goal, rules that turn tiles into other tiles, and the tiles placed
at reset; Nikulin et al. 2024) drawn from a benchmark of many. xminigrid's meta-RL training
(`training/train_meta_task.py`) gives each env copy one ruleset for a block of episodes ("trials"),
keeps it hidden (the observation is the agent's view of the grid, as here; the goal shows only
through the tiles it sees) and lets the learner's recurrent state run across the trials. So here:

* `benchmark=` (a constructor option; `--set env.benchmark=...`): a name of
  `xminigrid.registered_benchmarks()` ("trivial-21k", "small-1m", "medium-1m", "high-1m", ...),
  which xminigrid downloads from Hugging Face into `xminigrid.benchmarks.DATA_PATH` (the
  `XLAND_MINIGRID_DATA` folder, default `~/.xland_minigrid`) on first use, or the path of a
  benchmark file (read by `xminigrid.benchmarks.load_benchmark_from_path`). The rulesets live in
  the params (`params.rulesets`, an `xminigrid.benchmarks.Benchmark` of N rulesets), so Python code
  may pass any `Benchmark` itself: `make(name, rulesets=benchmark)`.
* `trials_per_ruleset=K` (a constructor option, default 1): one episode of ours is K xminigrid
  episodes (trials) on one ruleset, drawn uniformly from the benchmark when the episode starts.
  When a trial ends before the K-th, the grid is generated again (new layout and positions, same
  ruleset) and no episode end is reported, so memory agents (`network=gru|lstm`) keep their state
  and can learn in context what the hidden goal is; the trial's reward is the step's reward. The
  K-th trial's end ends the episode as `terminated` (the block of trials is the task; nothing
  follows it). K = 1 is a fresh ruleset every episode, reported as every xminigrid env: its goal
  `terminated`, its time limit `truncated`.
* Time limits: a trial lasts at most xminigrid's `max_steps` (a constructor option, `max_steps=N`;
  default 3 * height * width; its reward `1 - 0.9 * steps / max_steps` reads it), and our
  `max_steps_in_episode` (default K * max_steps) truncates the episode. With K = 1 they are one
  limit: `--set env.max_steps_in_episode=N` sets both, as for the other xminigrid envs.

An XLand env without rulesets (xminigrid's default params hold an empty ruleset: no goal, so no
reward, ever) is refused with a ValueError when it is first used (its spaces or reset), before
anything compiles. The benchmark is a constant of the compiled program (uint8 arrays, roughly 100
bytes a ruleset by our estimate), and `check_env` copies params once per env copy: check with a
small benchmark file.
"""

from __future__ import annotations

import difflib
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.envs.core import select_tree
from jaxrl.envs.suites import SuiteParams, SuiteState, float_obs, strong_types
from jaxrl.envs.xminigrid_adapter import XMiniGridAdapter

_LAST = 2  # xminigrid's StepType.LAST


@struct.dataclass
class XLandParams(SuiteParams):
    """`SuiteParams` plus the benchmark the rulesets are drawn from (`xminigrid.benchmarks.Benchmark`:
    goals `[N, G]`, rules `[N, R, 7]`, init_tiles `[N, T, 2]`, num_rules `[N]`; None: no rulesets)."""

    rulesets: Any = None


@struct.dataclass
class XLandState(SuiteState):
    """`SuiteState` plus the episode's ruleset (int32 index into `params.rulesets`) and the number
    of its trials finished so far (int32)."""

    ruleset_id: jax.Array
    trial: jax.Array


class XLandAdapter(XMiniGridAdapter):
    """An `XLand-*` env of xminigrid whose episodes draw rulesets from a benchmark (module docstring).
    It implements `reset_env`/`step_env` itself (its state carries the ruleset and the trial), not
    the `suite_reset`/`suite_step` of the other adapters."""

    def __init__(self, env: Any, env_name: str, inner_params: Any, rulesets: Any = None, trials_per_ruleset: int = 1):
        super().__init__(env, env_name, inner_params)
        if isinstance(trials_per_ruleset, bool) or not isinstance(trials_per_ruleset, int) or trials_per_ruleset < 1:
            raise ValueError(f"xminigrid:{env_name}: trials_per_ruleset must be an integer >= 1 (the episodes "
                             f"played on each drawn ruleset), got {trials_per_ruleset!r}.")
        self.trials_per_ruleset = trials_per_ruleset
        self._rulesets = rulesets

    @property
    def default_params(self) -> XLandParams:
        limit = self.trials_per_ruleset * int(self._inner_params.max_steps)
        return XLandParams(max_steps_in_episode=limit, inner=self._inner_params, rulesets=self._rulesets)

    def _trial_params(self, params: XLandParams, ruleset_id: jax.Array) -> Any:
        """xminigrid's params for a trial of ruleset `ruleset_id` (its time limit: see the module docstring)."""
        inner = params.inner.replace(ruleset=params.rulesets.get_ruleset(ruleset_id))
        return inner.replace(max_steps=params.max_steps_in_episode) if self.trials_per_ruleset == 1 else inner

    def reset_env(self, key: jax.Array, params: XLandParams):
        num = self._num_rulesets(params)
        key_ruleset, key_reset = jax.random.split(key)
        ruleset_id = jax.random.randint(key_ruleset, (), 0, num, dtype=jnp.int32)
        timestep = strong_types(self._env.reset(self._trial_params(params, ruleset_id), key_reset))
        state = XLandState(time=jnp.int32(0), inner=timestep, suite_truncated=jnp.bool_(False),
                           ruleset_id=ruleset_id, trial=jnp.int32(0))
        return float_obs(timestep.observation), state

    def step_env(self, key: jax.Array, state: XLandState, action: Any, params: XLandParams):
        trial_params = self._trial_params(params, state.ruleset_id)
        timestep = strong_types(self._env.step(trial_params, state.inner, action))
        trial_end = timestep.step_type == _LAST
        goal = trial_end & (timestep.discount == 0.0)
        if self.trials_per_ruleset == 1:
            terminated, suite_truncated = goal, trial_end & ~goal
        else:  # a trial before the K-th ends: the next one starts on a new grid, same ruleset
            terminated, suite_truncated = trial_end & (state.trial + 1 >= self.trials_per_ruleset), jnp.bool_(False)
            next_trial = strong_types(self._env.reset(trial_params, key))
            timestep = select_tree(trial_end & ~terminated, next_trial, timestep)
        state = XLandState(time=state.time + 1, inner=timestep, suite_truncated=suite_truncated,
                           ruleset_id=state.ruleset_id, trial=state.trial + trial_end.astype(jnp.int32))
        return float_obs(timestep.observation), state, jnp.asarray(timestep.reward, jnp.float32), terminated, {}

    def observation_space(self, params: XLandParams):
        self._num_rulesets(params)
        return super().observation_space(params)

    def _num_rulesets(self, params: XLandParams) -> int:
        """N, the number of rulesets in `params` (static); ValueError when there are none."""
        goals = None if params.rulesets is None else params.rulesets.goals
        if goals is None or jnp.ndim(goals) < 2 or jnp.shape(goals)[-2] == 0:
            raise ValueError(
                f"xminigrid:{self.env_name} has no rulesets: an XLand env needs tasks drawn from a benchmark "
                "(with xminigrid's default, empty ruleset there is no goal and the reward is always 0). Give "
                f"one with make('xminigrid:{self.env_name}', benchmark=NAME_OR_PATH) or --set env.benchmark="
                f"NAME_OR_PATH, where NAME is one of {', '.join(_benchmark_names())} (downloaded once into "
                f"{_data_path()}) or PATH a benchmark file; or pass rulesets=<xminigrid.benchmarks.Benchmark>."
            )
        return int(jnp.shape(goals)[-2])


def load_rulesets(benchmark: str) -> Any:
    """The `xminigrid.benchmarks.Benchmark` named `benchmark` (a registered name or a file path);
    ValueError in one paragraph when it cannot be had (unknown name, no download, bad file)."""
    from xminigrid import benchmarks

    if not isinstance(benchmark, str) or not benchmark:
        raise ValueError(f"benchmark must be a benchmark name ({', '.join(_benchmark_names())}) or the path "
                         f"of a benchmark file, got {benchmark!r}.")
    if benchmark in benchmarks.registered_benchmarks():
        path = os.path.join(_data_path(), benchmarks.NAME2HFFILENAME[benchmark])
        downloaded = os.path.exists(path)
        try:
            return _checked(benchmarks.load_benchmark(benchmark))
        except Exception as exc:  # noqa: BLE001 - urllib, bz2 and pickle each raise their own
            if downloaded:
                raise ValueError(_bad_file(path, exc) + " Delete it to download it again.") from None
            url = f"https://huggingface.co/datasets/{benchmarks.HF_REPO_ID}/resolve/main/{os.path.basename(path)}"
            raise ValueError(
                f"Could not download the XLand benchmark {benchmark!r} from {url} ({type(exc).__name__}: {exc}). "
                f"Without internet access, download that file on another machine and put it at {path} (the "
                "folder is xminigrid.benchmarks.DATA_PATH, set by the XLAND_MINIGRID_DATA environment variable), "
                "or pass its path as benchmark=PATH (read by xminigrid.benchmarks.load_benchmark_from_path)."
            ) from None
    if os.path.isfile(os.path.expanduser(benchmark)):
        path = os.path.expanduser(benchmark)
        try:
            return _checked(benchmarks.load_benchmark_from_path(path))
        except Exception as exc:  # noqa: BLE001
            raise ValueError(_bad_file(path, exc)) from None
    close = difflib.get_close_matches(benchmark, _benchmark_names(), n=3, cutoff=0.5)
    hint = f"Did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    what = "there is no such file" if os.sep in benchmark else "neither a registered name nor an existing file"
    raise ValueError(
        f"Unknown XLand benchmark {benchmark!r}: {what}. {hint}The "
        f"registered benchmarks are {', '.join(_benchmark_names())} (downloaded once into {_data_path()}); "
        "a file path is read with xminigrid.benchmarks.load_benchmark_from_path."
    )


def _checked(bench: Any) -> Any:
    """`bench` if it holds N >= 1 rulesets with the shapes xminigrid expects; else an error."""
    goals, rules, tiles = (np.asarray(getattr(bench, f)) for f in ("goals", "rules", "init_tiles"))
    n = goals.shape[0] if goals.ndim == 2 else -1
    if n < 1 or rules.ndim != 3 or tiles.ndim != 3 or rules.shape[0] != n or tiles.shape[0] != n:
        raise ValueError(f"goals {goals.shape}, rules {rules.shape}, init_tiles {tiles.shape}: expected "
                         "[N, G], [N, R, 7] and [N, T, 2] with N >= 1")
    return bench


def _bad_file(path: str, exc: Exception) -> str:
    return (f"{path} is not a usable XLand benchmark file ({type(exc).__name__}: {exc}); a benchmark file is a "
            "bz2-compressed pickle of a dict of goals, rules, init_tiles and num_rules, as written by "
            "xminigrid.benchmarks.save_bz2_pickle and read by xminigrid.benchmarks.load_benchmark_from_path.")


def _benchmark_names() -> tuple[str, ...]:
    from xminigrid import benchmarks

    return benchmarks.registered_benchmarks()


def _data_path() -> str:
    from xminigrid import benchmarks

    return benchmarks.DATA_PATH
