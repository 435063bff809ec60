"""Adapter for JaxMARL's multi-agent envs: `make("jaxmarl:MPE_simple_spread_v3")` for every env in
JaxMARL's registry (`pip install 'jaxrl[marl]'`), or any JaxMARL env instance, as a `MultiAgentEnv`.

    env, params = jaxrl.make("jaxmarl:SMAX")
    env, params = jaxrl.make("jaxmarl:MPE_simple_spread_v3", max_steps=50)   # JaxMARL's constructor keywords

JaxMARL's `step` auto-resets and reports one `done` per agent plus `"__all__"`. The adapter calls
its `step_env` (no reset) and lets our base class reset, so `info["final_observation"]` holds the
last observation of a finished episode; an episode ends where JaxMARL's `"__all__"` ends it, and
each end is told apart into `terminated` and `truncated` by what the env family's done means:

* MPE (`SimpleMPE` and subclasses): MPE has no terminal state, so `terminated` is never true;
  `truncated` when JaxMARL's step counter passes `max_steps` (its only done).
* SMAX, HeuristicEnemySMAX, LearnedPolicyEnemySMAX: `terminated[agent]` when the agent is dead
  (its done), and for every agent once a team is wiped out; `truncated` when the step counter
  passes `max_steps`.
* Every other env: `terminated[agent]` on the agent's done, and for every agent on `"__all__"`
  (so an episode also ends when every agent is done); never `truncated`, since a time limit cannot
  be told from a terminal state there (a time limit counts as terminal: no bootstrap).

JaxMARL's MPE and SMAX compare the counter with `max_steps` before incrementing it, so their
episodes last `max_steps + 1` steps (26 for MPE, 101 for SMAX); the adapter keeps those lengths.
The time limit is the env's own constructor setting, so the params (`JaxMARLParams`) are empty.

Observations are the agents' own (extra keys such as SMAX's `"world_state"` are dropped; the
env's `get_world_state`, where it has one, is `global_state`), cast to float32, rewards to
float32; `avail_actions` is JaxMARL's `get_avail_actions` where the env defines it. The state is
`JaxMARLState`: our step count `time` and JaxMARL's own state.
"""

from __future__ import annotations

import difflib
import sys
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import EnvState
from jaxrl.envs.multi import MultiAgentEnv

_INSTALL_HINT = "jaxmarl is not installed; install it with: pip install 'jaxrl[marl]' (or pip install jaxmarl)."


def _jaxmarl() -> Any:
    """Import jaxmarl, its import-time prints sent to stderr (they would mix into `jaxrl envs`'s
    list). Its MABrax module resets `sys.stdout` to `sys.__stdout__` while importing, so both are set."""
    saved = sys.stdout, sys.__stdout__
    sys.stdout = sys.__stdout__ = sys.stderr
    try:
        import jaxmarl
    except ImportError as exc:
        raise ImportError(f"{_INSTALL_HINT} (import failed: {exc})") from exc
    finally:
        sys.stdout, sys.__stdout__ = saved
    return jaxmarl


def is_jaxmarl_env(obj: Any) -> bool:
    """True for an instance of JaxMARL's `MultiAgentEnv` (looked up only when jaxmarl is imported)."""
    module = sys.modules.get("jaxmarl.environments.multi_agent_env")
    return module is not None and isinstance(obj, module.MultiAgentEnv)


@struct.dataclass
class JaxMARLState(EnvState):
    """`time` (int32 step count of the episode) plus JaxMARL's state of the env."""

    jaxmarl_state: Any


@struct.dataclass
class JaxMARLParams:
    """Empty: a JaxMARL env keeps its constants (its time limit too) on the env object; set them
    with constructor keywords, `make("jaxmarl:NAME", max_steps=...)`."""


# ------------------------------------------------------------------------------ episode ends per family
# Each family's rule: (terminated(env, state, dones) -> {agent: bool}, time_limit(env, state) -> bool),
# given JaxMARL's state after `step_env`.
def _never_terminated(env: Any, state: Any, dones: dict) -> dict:
    return {a: jnp.bool_(False) for a in env.agents}


def _counter_past_max_steps(env: Any, state: Any) -> jax.Array:
    return getattr(state, "state", state).step > env.max_steps  # EnemySMAX keeps SMAX's state in `.state`


def _dead_or_battle_over(env: Any, state: Any, dones: dict) -> dict:
    alive = getattr(state, "state", state).unit_alive
    over = ~jnp.any(alive[:env.num_allies]) | ~jnp.any(alive[env.num_allies:])
    return {a: dones[a] | over for a in env.agents}


def _done(env: Any, state: Any, dones: dict) -> dict:
    return {a: dones[a] | dones["__all__"] for a in env.agents}


def _no_time_limit(env: Any, state: Any) -> jax.Array:
    return jnp.bool_(False)


def _episode_rule(env: Any) -> tuple[Callable, Callable]:
    from jaxmarl.environments import SMAX, SimpleMPE
    from jaxmarl.environments.smax.heuristic_enemy_smax_env import EnemySMAX

    if isinstance(env, SimpleMPE):
        return _never_terminated, _counter_past_max_steps
    if isinstance(env, (SMAX, EnemySMAX)):
        return _dead_or_battle_over, _counter_past_max_steps
    return _done, _no_time_limit


# ------------------------------------------------------------------------------ the adapter
class JaxMARLAdapter(MultiAgentEnv):
    """Wraps a JaxMARL env instance (see the module docstring); `name` is its registered name."""

    def __init__(self, env: Any, name: str | None = None):
        self._env = env
        self._name = name or type(env).__name__
        self._terminated, self._time_limit = _episode_rule(env)
        base = sys.modules["jaxmarl.environments.multi_agent_env"].MultiAgentEnv
        self._has_masks = type(env).get_avail_actions is not base.get_avail_actions

    @property
    def agents(self) -> tuple[str, ...]:
        return tuple(self._env.agents)

    @property
    def default_params(self) -> JaxMARLParams:
        return JaxMARLParams()

    def reset_env(self, key: jax.Array, params: JaxMARLParams) -> tuple[dict, JaxMARLState]:
        obs, state = self._env.reset(key)
        return self._own_obs(obs), JaxMARLState(time=jnp.int32(0), jaxmarl_state=state)

    def step_env(self, key: jax.Array, state: JaxMARLState, actions: dict, params: JaxMARLParams):
        obs, inner, rewards, dones, info = self._env.step_env(key, state.jaxmarl_state, actions)
        terminated = self._terminated(self._env, inner, dones)
        state = JaxMARLState(time=state.time + 1, jaxmarl_state=inner)
        return self._own_obs(obs), state, {a: rewards[a] for a in self.agents}, terminated, info

    def is_truncated(self, state: JaxMARLState, params: JaxMARLParams) -> jax.Array:
        return self._time_limit(self._env, state.jaxmarl_state)

    def _own_obs(self, obs: dict) -> dict:
        return {a: jnp.asarray(obs[a], jnp.float32) for a in self.agents}

    def observation_spaces(self, params: JaxMARLParams) -> dict[str, spaces.Space]:
        return {a: convert_space(self._env.observation_space(a), float_obs=True) for a in self.agents}

    def action_spaces(self, params: JaxMARLParams) -> dict[str, spaces.Space]:
        return {a: convert_space(self._env.action_space(a)) for a in self.agents}

    def avail_actions(self, state: JaxMARLState, params: JaxMARLParams) -> dict[str, jax.Array]:
        if not self._has_masks:
            return super().avail_actions(state, params)
        masks = self._env.get_avail_actions(state.jaxmarl_state)
        return {a: jnp.asarray(masks[a], jnp.bool_) for a in self.agents}

    def global_state(self, state: JaxMARLState, params: JaxMARLParams) -> jax.Array | None:
        if not hasattr(self._env, "get_world_state"):
            return None
        return jnp.ravel(self._env.get_world_state(state.jaxmarl_state)).astype(jnp.float32)

    @property
    def name(self) -> str:
        return f"jaxmarl:{self._name}"

    @property
    def unwrapped(self) -> Any:
        return self._env

    def __repr__(self) -> str:
        return f"JaxMARLAdapter({type(self._env).__name__})"


def wrap_jaxmarl(env: Any) -> JaxMARLAdapter:
    return JaxMARLAdapter(env)


def make_jaxmarl_env(name: str, **kwargs: Any) -> JaxMARLAdapter:
    """Build JaxMARL's env `name` (keyword arguments go to its constructor)."""
    jaxmarl = _jaxmarl()
    if name not in jaxmarl.registered_envs:
        close = difflib.get_close_matches(name, jaxmarl.registered_envs, n=5, cutoff=0.4)
        raise ValueError(
            f"jaxmarl has no environment {name!r}. "
            + (f"Closest: {', '.join('jaxmarl:' + c for c in close)}. " if close else "")
            + "See jaxrl.list_envs() for all names."
        )
    return JaxMARLAdapter(jaxmarl.make(name, **kwargs), name)


def jaxmarl_env_names() -> list[str]:
    return list(_jaxmarl().registered_envs)


def convert_space(space: Any, float_obs: bool = False) -> spaces.Space:
    """JaxMARL space -> jaxrl space (Box dtype forced to float32 when `float_obs`; a MultiDiscrete
    becomes an integer Box `[0, n - 1]`)."""
    from jaxmarl.environments import spaces as mspaces

    if isinstance(space, mspaces.Discrete):
        return spaces.Discrete(space.n)
    if isinstance(space, mspaces.MultiDiscrete):
        high = np.asarray(space.num_categories) - 1
        return spaces.Box(np.zeros_like(high), high, space.shape, jnp.float32 if float_obs else jnp.int32)
    if isinstance(space, mspaces.Box):
        dtype = jnp.float32 if float_obs else space.dtype
        return spaces.Box(np.asarray(space.low, np.float64), np.asarray(space.high, np.float64), space.shape, dtype)
    if isinstance(space, mspaces.Dict):
        return spaces.Dict({k: convert_space(v, float_obs) for k, v in space.spaces.items()})
    if isinstance(space, mspaces.Tuple):
        return spaces.Tuple([convert_space(v, float_obs) for v in space.spaces])
    raise TypeError(f"Cannot convert JaxMARL space {space!r}")
