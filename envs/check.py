"""`check_env`: the conformance check a user runs on their own environment.

    report = jaxrl.check_env(env, params)   # raises EnvCheckError on the first problem
    report = jaxrl.check_env("MPE_simple_spread_v3")   # or a registered name, with its params
    print(report)                            # the checks that passed (and any skipped, with why)

What it checks (each failure raises `EnvCheckError` with a one-sentence message):

* `spaces`: `observation_space`/`action_space` return `jaxrl.spaces.Space` objects.
* `trace`: `reset` and `step` trace as `jax.jit` does (no Python control flow on traced values).
* `determinism_trace`: tracing twice gives the same program (no numpy/`random`/time or mutable
  Python state, which jit would silently freeze into constants).
* `dtypes`: reset and step agree with the spaces and the contract (obs as the space says; reward
  float32 scalar; flags bool scalars; `state.time` int32 scalar; `info` a dict with
  `final_observation`), and the state keeps its structure, shapes and dtypes through `step`;
  `dtypes_x64`: the same with `jax_enable_x64` on.
* `jit`, `vmap`: `num_envs` copies run jitted under `jax.vmap` (over keys, states, actions and
  params) inside `lax.scan`; `determinism`: a second run gives bitwise-identical results.
* `spaces_honoured`: sampled actions lie in the action space; every observation (including
  `final_observation`) is finite and lies in the observation space; rewards are finite.
* `time`: `state.time` counts the steps of the current episode and is 0 after an episode end.
* `truncation`: `truncated` is true exactly when the step count reaches
  `params.max_steps_in_episode` (run with per-copy limits 1..5 set by `params.replace`).
* `final_observation`: equals the returned observation on steps that do not end an episode.
* `auto_reset`: after an episode end the returned observation is the reset observation for the key
  the base class uses (`jax.random.split(key)[1]`); skipped for envs that override `step`.

A `MultiAgentEnv` (or its `TeamView`) is checked as its `TeamView`, so all of the above applies to
the dict of every agent's observation and action, after the per-agent check `agents`: `agents` are
distinct names; `observation_spaces`/`action_spaces` give a space for each; `step`'s rewards,
terminated and truncated are dicts of float32/bool scalars for each agent and
`info["final_observation"]` a dict of each agent's observation; `step` rejects an actions dict that
lacks an agent; `avail_actions` gives bool `[n]` masks of `Discrete` agents only; `global_state`
is None or float32 `[d]`.

`check_env` jits on purpose (it tests jit-safety); it is a test utility, not library code. It
compiles one program (a vmapped `lax.scan` rollout), run three times.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NoReturn

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment
from jaxrl.envs.multi import MultiAgentEnv, TeamView
from jaxrl.envs.randomize import batch_params
from jaxrl.envs.registry import make


class EnvCheckError(AssertionError):
    """An environment breaks the contract; the message says how, in one sentence."""


@dataclasses.dataclass
class EnvCheckReport:
    """Result of a successful `check_env`: the checks passed and those skipped (name -> reason)."""

    env_name: str
    passed: list[str] = dataclasses.field(default_factory=list)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"check_env({self.env_name}): {len(self.passed)} checks passed"]
        lines += [f"  ok    {name}" for name in self.passed]
        lines += [f"  skip  {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


TRUNCATION_LIMITS = (1, 2, 3, 4, 5)
"""Per-copy episode limits used by the truncation check (copy i gets limit `TRUNCATION_LIMITS[i % 5]`)."""


def check_env(
    env: Environment | MultiAgentEnv | str,
    params: Any = None,
    *,
    num_steps: int = 64,
    num_envs: int = 64,
    key: jax.Array | None = None,
    check_x64: bool = True,
) -> EnvCheckReport:
    """Run the conformance checks (see the module docstring) on `env` with `params`.

    `env` is an `Environment`, a `MultiAgentEnv` (or its `TeamView`), or a name for `make` (whose
    params are used when `params` is None). `num_envs` copies are stepped `num_steps` times with
    random actions, once with `params` and once with small per-copy episode limits. Returns an
    `EnvCheckReport`; raises `EnvCheckError`.
    """
    if isinstance(env, str):
        env, made_params = make(env)
        params = made_params if params is None else params
    multi = env.multi if isinstance(env, TeamView) else env if isinstance(env, MultiAgentEnv) else None
    params = env.default_params if params is None else params
    key = jax.random.key(0) if key is None else key
    name = getattr(env, "name", type(env).__name__)
    report = EnvCheckReport(env_name=name)

    def fail(message: str) -> NoReturn:
        raise EnvCheckError(f"{name}: {message}")

    if multi is not None:
        _check_agents(multi, params, key, fail)
        report.passed.append("agents")
        env = TeamView(multi)

    # ------------------------------------------------------------------ spaces
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    for what, space in (("observation_space", obs_space), ("action_space", act_space)):
        if not isinstance(space, spaces.Space):
            fail(f"{what}(params) returned {type(space).__name__}, not a jaxrl.spaces.Space.")
    report.passed.append("spaces")

    # ------------------------------------------------------------------ tracing, dtypes, shapes
    k_reset, k_act, k_step, k_roll = jax.random.split(key, 4)
    reset_sd, step_sd = _trace(env, params, act_space, k_reset, k_act, k_step, fail, twice=True)
    _check_signature(reset_sd, step_sd, obs_space, fail, "")
    report.passed += ["trace", "determinism_trace", "dtypes"]
    if check_x64:
        with jax.enable_x64(True):
            reset64, step64 = _trace(env, params, act_space, k_reset, k_act, k_step, fail, twice=False)
        _check_signature(reset64, step64, obs_space, fail, " with jax_enable_x64 on")
        report.passed.append("dtypes_x64")

    # ------------------------------------------------------------------ one compiled program: vmapped rollout
    has_limit = hasattr(params, "max_steps_in_episode") and hasattr(params, "replace")
    rollout = jax.jit(_make_rollout(env, obs_space, act_space), compiler_options=_compiler_options())
    reset_keys = jax.random.split(k_roll, num_envs)
    step_keys = jax.random.split(jax.random.fold_in(k_roll, 1), (num_steps, num_envs))
    act_keys = jax.random.split(jax.random.fold_in(k_roll, 2), (num_steps, num_envs))
    batched = batch_params(params, num_envs)
    try:
        run = jax.device_get(rollout(reset_keys, step_keys, act_keys, batched))
    except Exception as exc:  # noqa: BLE001 - tracing passed, so this is a jit/vmap problem
        fail(f"reset/step fail when jitted and vmapped over {num_envs} copies ({_describe(exc)}).")
    report.passed += ["jit", "vmap"]
    _expect_equal(run, jax.device_get(rollout(reset_keys, step_keys, act_keys, batched)), fail,
                  "the jitted rollout gives different results for the same keys on a second call")
    report.passed.append("determinism")

    runs = [(run, np.asarray(batched.max_steps_in_episode) if has_limit else None)]
    if has_limit:
        limits = np.resize(np.asarray(TRUNCATION_LIMITS, np.int32), num_envs)
        short = batched.replace(max_steps_in_episode=jnp.asarray(limits))
        runs.append((jax.device_get(rollout(reset_keys, step_keys, act_keys, short)), limits))
    else:
        report.skipped["truncation"] = "params have no max_steps_in_episode field to set"

    base_step = type(multi).step is MultiAgentEnv.step if multi is not None else type(env).step is Environment.step
    for traj, limits in runs:
        _check_semantics(traj, limits, base_step, fail)
    report.passed += ["spaces_honoured", "time"] + (["truncation"] if has_limit else []) + ["final_observation"]
    if base_step:
        report.passed.append("auto_reset")
    else:
        report.skipped["auto_reset"] = (
            f"{type(multi or env).__name__} overrides step (a wrapper or its own auto-reset), so the reset-key "
            "path is not compared; state.time == 0 after episode ends is still checked"
        )
    return report


# ---------------------------------------------------------------------------------------- tracing
def _trace(env, params, act_space, k_reset, k_act, k_step, fail, twice: bool) -> tuple[Any, Any]:
    """Trace reset and step as jit does (no compilation): their output shapes/dtypes.

    With `twice`, trace each a second time and require the same program: a difference means the
    env reads Python-side randomness or mutable state, which jit would freeze into constants.
    """
    reset_sd = _trace_one(env.reset, (k_reset, params), "reset", fail, twice)
    if not (isinstance(reset_sd, tuple) and len(reset_sd) == 2):
        fail(f"reset must return (obs, state), got {type(reset_sd).__name__} of length {_len(reset_sd)}.")
    action_sd = jax.eval_shape(act_space.sample, k_act)
    step_sd = _trace_one(env.step, (k_step, reset_sd[1], action_sd, params), "step", fail, twice)
    if not (isinstance(step_sd, tuple) and len(step_sd) == 6):
        fail(
            "step must return (obs, state, reward, terminated, truncated, info), got "
            f"{type(step_sd).__name__} of length {_len(step_sd)}."
        )
    return reset_sd, step_sd


def _trace_one(fn: Callable, args: tuple, what: str, fail, twice: bool) -> Any:
    # Fresh lambdas: jax caches traces per function object, which would hide a second trace.
    try:
        jaxpr, out = jax.make_jaxpr(lambda *a: fn(*a), return_shape=True)(*args)
        again = jax.make_jaxpr(lambda *a: fn(*a))(*args) if twice else jaxpr
    except Exception as exc:  # noqa: BLE001
        fail(f"{what} cannot be traced by jax.jit ({_describe(exc)}).")
    if str(jaxpr) != str(again) or not _trees_equal(list(jaxpr.consts), list(again.consts)):
        fail(
            f"{what} traces to a different program each time with the same inputs, so it depends on "
            "Python-side randomness or state (numpy/random/time/attributes) instead of the key."
        )
    return out


def _check_signature(reset_sd, step_sd, obs_space, fail, mode: str) -> None:
    """Shapes and dtypes of reset/step outputs against the space and the contract."""
    obs0, state0 = reset_sd
    obs1, state1, reward, terminated, truncated, info = step_sd
    problem = _space_mismatch(obs_space, obs0)
    if problem:
        fail(f"the reset observation does not match observation_space{mode}: {problem}.")
    if _signature(obs1) != _signature(obs0):
        fail(f"step returns observations of {_signature(obs1)} but reset returns {_signature(obs0)}{mode}.")
    for what, x, dtype in (
        ("reward", reward, jnp.float32),
        ("terminated", terminated, jnp.bool_),
        ("truncated", truncated, jnp.bool_),
    ):
        if not hasattr(x, "dtype") or x.shape != () or x.dtype != dtype:
            fail(f"{what} must be a {np.dtype(dtype).name} scalar, got {_signature(x)}{mode}.")
    if not isinstance(info, dict) or "final_observation" not in info:
        fail(f"step's info must be a dict with 'final_observation', got {_signature(info)}{mode}.")
    if _signature(info["final_observation"]) != _signature(obs0):
        fail(
            f"info['final_observation'] (the observation step_env returns) is "
            f"{_signature(info['final_observation'])} but reset returns {_signature(obs0)}{mode}."
        )
    time = getattr(state0, "time", None)
    if time is None:
        fail(f"the state ({type(state0).__name__}) has no 'time' field counting the episode's steps.")
    if time.shape != () or time.dtype != jnp.int32:
        fail(f"state.time must be an int32 scalar, got {_signature(time)}{mode}.")
    if jax.tree.structure(state1) != jax.tree.structure(state0):
        fail(f"step changes the state's structure from {jax.tree.structure(state0)} to {jax.tree.structure(state1)}.")
    for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(state0)[0], jax.tree.leaves(state1)):
        if a.shape != b.shape or a.dtype != b.dtype:
            fail(f"step changes state{jax.tree_util.keystr(path)} from {_signature(a)} to {_signature(b)}{mode}.")


def _space_mismatch(space: spaces.Space, x: Any, where: str = "obs") -> str | None:
    """Why `x` (abstract value) does not fit `space`'s structure, shape and dtype; None if it does."""
    if isinstance(space, (spaces.Box, spaces.Discrete)):
        if not hasattr(x, "shape"):
            return f"{where} is {type(x).__name__}, expected an array"
        if tuple(x.shape) != tuple(space.shape) or x.dtype != np.dtype(space.dtype):
            want = jax.ShapeDtypeStruct(space.shape, space.dtype)
            return f"{where} is {_signature(x)}, the space says {_signature(want)}"
        return None
    if isinstance(space, spaces.Dict):
        if not isinstance(x, dict) or set(x) != set(space.spaces):
            return f"{where} should be a dict with keys {sorted(space.spaces)}, got {_signature(x)}"
        items = [(f"{where}[{k!r}]", s, x[k]) for k, s in space.spaces.items()]
    elif isinstance(space, spaces.Tuple):
        if not isinstance(x, (tuple, list)) or len(x) != len(space.spaces):
            return f"{where} should be a sequence of {len(space.spaces)} items, got {_signature(x)}"
        items = [(f"{where}[{i}]", s, v) for i, (s, v) in enumerate(zip(space.spaces, x))]
    else:
        return None  # an unknown Space subclass: only `contains` is checked, at run time
    for sub_where, sub_space, sub_x in items:
        problem = _space_mismatch(sub_space, sub_x, sub_where)
        if problem:
            return problem
    return None


# ---------------------------------------------------------------------------------------- agents
def _check_agents(multi: MultiAgentEnv, params: Any, key: jax.Array, fail) -> None:
    """The per-agent contract of a `MultiAgentEnv` (module docstring), checked by tracing; runs
    before its `TeamView`'s checks, whose messages would not name the agent."""
    agents = multi.agents
    if not (isinstance(agents, tuple) and agents and all(isinstance(a, str) for a in agents)
            and len(set(agents)) == len(agents)):
        fail(f"agents must be a non-empty tuple of distinct name strings, got {agents!r}.")
    for what in ("observation_spaces", "action_spaces"):
        _check_agent_spaces(getattr(multi, what)(params), what, agents, fail)
    act_space = spaces.Dict(multi.action_spaces(params))
    k_reset, k_act, k_step = jax.random.split(key, 3)
    (obs, state), step_sd = _trace(multi, params, act_space, k_reset, k_act, k_step, fail, twice=False)
    _check_agent_outputs(obs, step_sd, agents, fail)
    actions = jax.eval_shape(act_space.sample, k_act)
    missing = agents[-1]
    try:
        jax.eval_shape(multi.step, k_step, state, {a: x for a, x in actions.items() if a != missing}, params)
    except Exception:  # noqa: BLE001 - any error rejects it; MultiAgentEnv.step's ValueError names the agent
        pass
    else:
        fail(f"step accepts an actions dict without agent {missing!r}; it must raise (MultiAgentEnv.step "
             "raises a ValueError naming the missing agents).")
    masks = _trace_one(multi.avail_actions, (state, params), "avail_actions", fail, twice=False)
    _check_masks(masks, act_space.spaces, agents, fail)
    global_state = _trace_one(multi.global_state, (state, params), "global_state", fail, twice=False)
    if global_state is not None and (getattr(global_state, "ndim", None) != 1 or global_state.dtype != jnp.float32):
        fail(f"global_state must be None or a float32 vector, got {_signature(global_state)}.")


def _check_agent_spaces(got: Any, what: str, agents: tuple[str, ...], fail) -> None:
    if not isinstance(got, dict) or set(got) != set(agents):
        keys = sorted(got) if isinstance(got, dict) else type(got).__name__
        fail(f"{what}(params) must be a dict with a space for each agent of {list(agents)}, got {keys}.")
    for agent, space in got.items():
        if not isinstance(space, spaces.Space):
            fail(f"{what}(params)[{agent!r}] is {type(space).__name__}, not a jaxrl.spaces.Space.")


def _check_agent_outputs(obs0: Any, step_sd: tuple, agents: tuple[str, ...], fail) -> None:
    """Per-agent dicts of reset's observations and step's outputs (abstract values)."""
    obs1, _, rewards, terminated, truncated, info = step_sd
    for what, tree in (("reset's observation", obs0), ("step's observation", obs1)):
        if not isinstance(tree, dict) or set(tree) != set(agents):
            fail(f"{what} must be a dict with an entry for each agent of {list(agents)}, got {_signature(tree)}.")
    for what, tree, dtype in (("rewards", rewards, jnp.float32), ("terminated", terminated, jnp.bool_),
                              ("truncated", truncated, jnp.bool_)):
        if not isinstance(tree, dict) or set(tree) != set(agents):
            fail(f"step's {what} must be a dict with an entry for each agent of {list(agents)}, "
                 f"got {_signature(tree)}.")
        for agent in agents:
            x = tree[agent]
            if not hasattr(x, "dtype") or x.shape != () or x.dtype != dtype:
                fail(f"{what}[{agent!r}] must be a {np.dtype(dtype).name} scalar, got {_signature(x)}.")
    final = info.get("final_observation") if isinstance(info, dict) else None
    if not isinstance(final, dict) or set(final) != set(agents):
        fail(f"step's info['final_observation'] must be a dict of each agent's observation, got {_signature(final)}.")
    for agent in agents:
        if _signature(final[agent]) != _signature(obs0[agent]):
            fail(f"info['final_observation'][{agent!r}] is {_signature(final[agent])} but reset's observation "
                 f"of {agent!r} is {_signature(obs0[agent])}.")


def _check_masks(masks: Any, act_spaces: dict, agents: tuple[str, ...], fail) -> None:
    if not isinstance(masks, dict) or not set(masks) <= set(agents):
        fail(f"avail_actions must be a dict keyed by agents of {list(agents)}, got {_signature(masks)}.")
    for agent, mask in masks.items():
        space = act_spaces[agent]
        if not isinstance(space, spaces.Discrete):
            fail(f"avail_actions has a mask for {agent!r}, whose action space {space!r} is not Discrete.")
        if mask.shape != (space.n,) or mask.dtype != jnp.bool_:
            fail(f"avail_actions[{agent!r}] must be bool[{space.n}], got {_signature(mask)}.")


# ---------------------------------------------------------------------------------------- running
def _compiler_options() -> dict[str, Any] | None:
    """The check runs one short rollout, so compile time dominates: on CPU, skip XLA's backend
    (LLVM) optimisations, which halves it. Semantics are unchanged."""
    return {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None


def _make_rollout(env: Environment, obs_space: spaces.Space, act_space: spaces.Space) -> Callable:
    """(reset_keys [N], step_keys [T, N], act_keys [T, N], params [N]) -> arrays [T, N] per quantity."""
    in_obs_space = jax.vmap(obs_space.contains)

    def rollout(reset_keys, step_keys, act_keys, params):
        obs, state = jax.vmap(env.reset)(reset_keys, params)

        def body(carry, keys):
            state = carry
            step_key, act_key = keys
            action = jax.vmap(act_space.sample)(act_key)
            obs, new_state, reward, terminated, truncated, info = jax.vmap(env.step)(step_key, state, action, params)
            final_obs = info["final_observation"]
            # The observation the base class's auto-reset would return: reset with split(key)[1].
            reset_key = jax.vmap(lambda k: jax.random.split(k)[1])(step_key)
            reset_obs, _ = jax.vmap(env.reset)(reset_key, params)
            out = {
                "obs": obs,
                "final_obs": final_obs,
                "reset_obs": reset_obs,
                "reward": reward,
                "terminated": terminated,
                "truncated": truncated,
                "time": new_state.time,
                "action_ok": jax.vmap(act_space.contains)(action),
                "obs_ok": in_obs_space(obs),
                "final_obs_ok": in_obs_space(final_obs),
                "obs_finite": _finite_per_copy(obs),
                "final_obs_finite": _finite_per_copy(final_obs),
            }
            return new_state, out

        _, traj = jax.lax.scan(body, state, (step_keys, act_keys))
        return {"obs0_ok": in_obs_space(obs), "obs0_finite": _finite_per_copy(obs), "time0": state.time, "traj": traj}

    return rollout


def _finite_per_copy(x: Any) -> jax.Array:
    """`[N]` bools: is every float leaf of the batched pytree `x` finite in copy n."""
    flags = [jnp.isfinite(v).reshape(v.shape[0], -1).all(axis=1) for v in jax.tree.leaves(x)
             if jnp.issubdtype(v.dtype, jnp.inexact)]
    return jnp.stack(flags).all(axis=0) if flags else jnp.ones(jax.tree.leaves(x)[0].shape[:1], bool)


def _check_semantics(run: dict, limits: np.ndarray | None, base_step: bool, fail) -> None:
    """Host-side checks of a rollout; every array is `[T, N]` (obs `[T, N, ...]`)."""
    traj = run["traj"]
    if not np.all(run["obs0_finite"]):
        fail(f"reset returns a NaN/inf observation (copy {_first(~run['obs0_finite'])[0]}); observations must be "
             "finite.")
    for field, what in (("obs_finite", "observation"), ("final_obs_finite", "info['final_observation']")):
        if not np.all(traj[field]):
            t, i = _first(~traj[field])
            fail(f"step returns a NaN/inf {what} (step {t}, copy {i}); observations must be finite.")
    if not np.all(run["obs0_ok"]):
        fail(f"reset returns an observation outside observation_space (copy {_first(~run['obs0_ok'])[0]}).")
    if not np.all(run["time0"] == 0):
        fail(f"reset returns state.time = {run['time0'][_first(run['time0'] != 0)[0]]}, not 0.")
    if not np.all(traj["action_ok"]):
        fail("actions sampled from action_space are not contained in it (sample and contains disagree).")
    for field, what in (("obs_ok", "an observation"), ("final_obs_ok", "a final_observation")):
        if not np.all(traj[field]):
            t, i = _first(~traj[field])
            fail(f"step returns {what} outside observation_space (step {t}, copy {i}).")
    if not np.all(np.isfinite(traj["reward"])):
        t, i = _first(~np.isfinite(traj["reward"]))
        fail(f"step returns the reward {traj['reward'][t, i]} (step {t}, copy {i}); rewards must be finite float32.")

    done_all = traj["terminated"] | traj["truncated"]
    bad = ~done_all & ~_leafwise(traj["final_obs"], traj["obs"], exact=True)
    if np.any(bad):
        t, i = _first(bad)
        fail(
            "info['final_observation'] differs from the returned observation on a step that ends no "
            f"episode (step {t}, copy {i})."
        )
    if base_step:
        bad = done_all & ~_leafwise(traj["obs"], traj["reset_obs"], exact=False)
        if np.any(bad):
            t, i = _first(bad)
            fail(
                f"after an episode end the observation is not the reset observation for the step's reset "
                f"key (step {t}, copy {i}): reset_env must depend only on its key and params."
            )

    num_steps, num_envs = traj["reward"].shape
    count = np.zeros(num_envs, np.int64)
    for t in range(num_steps):
        count = count + 1
        terminated, truncated, time = traj["terminated"][t], traj["truncated"][t], traj["time"][t]
        done = terminated | truncated
        if limits is not None:
            expected = count >= limits
            if np.any(truncated != expected):
                i = _first(truncated != expected)[0]
                fail(
                    f"truncated is {bool(truncated[i])} after {count[i]} steps with max_steps_in_episode="
                    f"{limits[i]} (step {t}, copy {i}); it must be true exactly when the limit is reached."
                )
        bad = ~done & (time != count)
        if np.any(bad):
            i = _first(bad)[0]
            fail(
                f"state.time is {time[i]} after {count[i]} steps of an episode (step {t}, copy {i}); "
                "step_env must increment state.time by one per step."
            )
        bad = done & (time != 0)
        if np.any(bad):
            i = _first(bad)[0]
            fail(f"state.time is {time[i]}, not 0, right after an episode end (step {t}, copy {i}): no auto-reset.")
        count = np.where(done, 0, count)


# ---------------------------------------------------------------------------------------- helpers
def _describe(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _len(x: Any) -> str:
    return str(len(x)) if isinstance(x, (tuple, list)) else "n/a"


def _signature(x: Any) -> str:
    """Readable structure/shape/dtype, e.g. 'float32[4]' or "{'a': float32[2]}"."""
    def leaf(v: Any) -> str:
        if hasattr(v, "shape") and hasattr(v, "dtype"):
            return f"{np.dtype(v.dtype).name if not _is_key(v) else 'key'}{list(v.shape)}"
        return type(v).__name__
    return str(jax.tree.map(leaf, x)) if not hasattr(x, "shape") else leaf(x)


def _is_key(x: Any) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _as_numpy(x: Any) -> np.ndarray:
    return np.asarray(jax.random.key_data(x)) if hasattr(x, "dtype") and _is_key(x) else np.asarray(x)


def _trees_equal(a: Any, b: Any) -> bool:
    if jax.tree.structure(a) != jax.tree.structure(b):
        return False
    return all(
        np.array_equal(_as_numpy(x), _as_numpy(y), equal_nan=np.issubdtype(_as_numpy(x).dtype, np.inexact))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


def _leafwise(a: Any, b: Any, exact: bool) -> np.ndarray:
    """Per-element match of two `[T, N, ...]` trees -> bool `[T, N]` (NaN matches NaN).

    Not `exact`: a few ulps' slack for floats (separately compiled computations may fuse differently).
    """
    match = None
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        x, y = _as_numpy(x), _as_numpy(y)
        if np.issubdtype(x.dtype, np.inexact):
            same = (x == y) | (np.isnan(x) & np.isnan(y)) if exact else np.isclose(x, y, 1e-5, 1e-6, True)
        else:
            same = x == y
        same = same.reshape(same.shape[:2] + (-1,)).all(-1)
        match = same if match is None else match & same
    return match


def _expect_equal(a: Any, b: Any, fail, message: str) -> None:
    if not _trees_equal(a, b):
        fail(message + ".")


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])

