"""Adapter for XLand-MiniGrid (Nikulin et al. 2024): `make("xminigrid:MiniGrid-Empty-8x8")`.

Every name of `xminigrid.registered_environments()`: the MiniGrid ports (`MiniGrid-DoorKey-8x8`,
...) and the XLand meta-RL grids (`XLand-MiniGrid-R1-9x9`, ...), which need rulesets from a
benchmark: `make("xminigrid:XLand-MiniGrid-R1-9x9", benchmark="trivial-21k")` (`envs.xland_adapter`).
Observation: the agent's symbolic view, float32 `[view, view, 2]` (tile id, colour; the CNN encoder
reads it); 6 actions.

Time limit: xminigrid's `max_steps` ends an episode as a LAST step with discount 1. The adapter
keeps it equal to ours, `params.max_steps_in_episode` (default: xminigrid's own, e.g. 4 * 8 * 8
for 8x8 grids; the reward `1 - 0.9 * steps / max_steps` reads it), reports it as `truncated`, and
reports a LAST step with discount 0 (the goal reached) as `terminated`.
Install: pip install 'jaxrl[xminigrid]'.
"""

from __future__ import annotations

from typing import Any

import jax

from jaxrl.envs import spaces
from jaxrl.envs.suites import SuiteAdapter, SuiteParams, float_obs, grid_space, import_suite, unknown_env


class XMiniGridAdapter(SuiteAdapter):
    prefix = "xminigrid"

    def __init__(self, env: Any, env_name: str, inner_params: Any):
        super().__init__(env, env_name)
        self._inner_params = inner_params

    @property
    def default_params(self) -> SuiteParams:
        return SuiteParams(max_steps_in_episode=int(self._inner_params.max_steps), inner=self._inner_params)

    def _inner(self, params: SuiteParams) -> Any:
        return params.inner.replace(max_steps=params.max_steps_in_episode)

    def suite_reset(self, key: jax.Array, params: SuiteParams):
        timestep = self._env.reset(self._inner(params), key)
        return float_obs(timestep.observation), timestep

    def suite_step(self, key: jax.Array, inner: Any, action: Any, params: SuiteParams):
        del key  # xminigrid's step is deterministic given its state
        timestep = self._env.step(self._inner(params), inner, action)
        terminated = (timestep.step_type == 2) & (timestep.discount == 0.0)  # StepType.LAST
        return float_obs(timestep.observation), timestep, timestep.reward, terminated, False, {}

    def observation_space(self, params: SuiteParams) -> spaces.Box:
        from xminigrid.core.constants import NUM_COLORS, NUM_TILES

        shape = self._env.observation_shape(params.inner)
        return grid_space(shape, max(NUM_TILES, NUM_COLORS))

    def action_space(self, params: SuiteParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(int(self._env.num_actions(self._inner_params)))


def make_xminigrid_env(name: str, benchmark: str | None = None, trials_per_ruleset: int = 1,
                       **kwargs: Any) -> XMiniGridAdapter:
    """xminigrid's env `name`; an `XLand-*` one draws rulesets from `benchmark` (a name or a file),
    `trials_per_ruleset` episodes each (`envs.xland_adapter`). Other keyword arguments go to
    `xminigrid.make` (e.g. `max_steps`)."""
    xminigrid = import_suite("xminigrid", "xminigrid")
    if name not in xminigrid.registered_environments():
        raise unknown_env("xminigrid", name, list(xminigrid.registered_environments()))
    xland = name.startswith("XLand-")
    if not xland and (benchmark is not None or trials_per_ruleset != 1):
        raise ValueError(f"xminigrid:{name} has a fixed task; benchmark= and trials_per_ruleset= apply to the "
                         "XLand-* envs only (e.g. xminigrid:XLand-MiniGrid-R1-9x9).")
    env, params = xminigrid.make(name, **kwargs)
    if not xland:
        return XMiniGridAdapter(env, name, params)
    from jaxrl.envs.xland_adapter import XLandAdapter, load_rulesets

    rulesets = None if benchmark is None else load_rulesets(benchmark)
    return XLandAdapter(env, name, params, rulesets, trials_per_ruleset)


def xminigrid_env_names() -> list[str]:
    return list(import_suite("xminigrid", "xminigrid").registered_environments())
