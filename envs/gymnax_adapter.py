"""Adapter for gymnax environments: `make("gymnax:Breakout-MinAtar")` or any gymnax `Environment`.

gymnax >= 1.0 already has our step contract, so the adapter only delegates `reset_env`/`step_env`
(our base class adds time-limit truncation and auto-reset) and converts spaces. Observations are
cast to float32 and rewards to float32 so dtypes match the rest of jaxrl.
"""

from __future__ import annotations

import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment


def is_gymnax_env(obj: Any) -> bool:
    """True for an instance of gymnax's `Environment` base class.

    Only looks when gymnax is already imported (an instance of its class implies it is), so that
    `make` of a built-in env never pays gymnax's import time.
    """
    module = sys.modules.get("gymnax.environments.environment")
    return module is not None and isinstance(obj, module.Environment)


class GymnaxAdapter(Environment):
    """Wraps a gymnax `Environment` instance; params and states are gymnax's own pytrees."""

    def __init__(self, env: Any):
        self._env = env

    @property
    def default_params(self) -> Any:
        return self._env.default_params

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        obs, state = self._env.reset_env(key, params)
        return _as_float(obs), _canonical_time(state)

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any):
        obs, state, reward, terminated, info = self._env.step_env(key, state, action, params)
        reward, terminated = jnp.asarray(reward, jnp.float32), jnp.asarray(terminated, bool)
        return _as_float(obs), _canonical_time(state), reward, terminated, info

    def is_truncated(self, state: Any, params: Any) -> jax.Array:
        return jnp.asarray(self._env.is_truncated(state, params), bool)

    def observation_space(self, params: Any) -> spaces.Space:
        return convert_space(self._env.observation_space(params), float_obs=True)

    def action_space(self, params: Any) -> spaces.Space:
        return convert_space(self._env.action_space(params))

    @property
    def name(self) -> str:
        return f"gymnax:{self._env.name}"

    @property
    def unwrapped(self) -> Any:
        return self._env

    def __repr__(self) -> str:
        return f"GymnaxAdapter({type(self._env).__name__})"


def wrap_gymnax(env: Any) -> GymnaxAdapter:
    return GymnaxAdapter(env)


def make_gymnax_env(name: str, **kwargs: Any) -> GymnaxAdapter:
    """Build gymnax's env `name` (keyword arguments go to its constructor)."""
    import gymnax

    if name not in gymnax.registered_envs:
        import difflib

        close = difflib.get_close_matches(name, gymnax.registered_envs, n=5, cutoff=0.4)
        raise ValueError(
            f"gymnax has no environment {name!r}. "
            + (f"Closest: {', '.join('gymnax:' + c for c in close)}. " if close else "")
            + "See jaxrl.list_envs() for all names."
        )
    env, _ = gymnax.make(name, **kwargs)
    return GymnaxAdapter(env)


def gymnax_env_names() -> list[str]:
    import gymnax

    return list(gymnax.registered_envs)


def convert_space(space: Any, float_obs: bool = False) -> spaces.Space:
    """gymnax space -> jaxrl space (Box dtype forced to float32 when `float_obs`)."""
    from gymnax.environments import spaces as gspaces

    if isinstance(space, gspaces.Discrete):
        return spaces.Discrete(space.n)
    if isinstance(space, gspaces.Box):
        dtype = jnp.float32 if float_obs else space.dtype
        shape = tuple(space.shape) if space.shape is not None else np.shape(space.low)
        return spaces.Box(np.asarray(space.low, np.float64), np.asarray(space.high, np.float64), shape, dtype)
    if isinstance(space, gspaces.Dict):
        return spaces.Dict({k: convert_space(v, float_obs) for k, v in space.spaces.items()})
    if isinstance(space, gspaces.Tuple):
        return spaces.Tuple([convert_space(v, float_obs) for v in space.spaces])
    raise TypeError(f"Cannot convert gymnax space {space!r}")


def _canonical_time(state: Any) -> Any:
    """gymnax keeps `time` as a Python int (int64 under x64), or a float in a few envs (the bandits,
    MetaMaze, PointRobot, whose observations read it). Keep its kind, fix its width: int32 or float32."""
    time = jnp.asarray(state.time)
    dtype = jnp.float32 if jnp.issubdtype(time.dtype, jnp.floating) else jnp.int32
    return state.replace(time=time.astype(dtype))


def _as_float(obs: Any) -> Any:
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), obs)
