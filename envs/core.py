"""The functional environment contract (gymnax >= 1.0 compatible).

An environment is a stateless object; all state lives in `EnvState` and all per-copy constants
(physics, goals, the episode limit) in `EnvParams`, both frozen pytrees. Because `step` and `reset`
are pure functions of their arguments, `jax.vmap` over keys, states and even `EnvParams` gives
thousands of independent copies, each possibly with its own dynamics.

Subclasses implement `reset_env` and `step_env`; the public `reset`/`step` add the time limit and
the auto-reset:

    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

* `terminated`: the MDP ended (a terminal state; do not bootstrap).
* `truncated`: the episode hit `params.max_steps_in_episode` without terminating (bootstrap from
  the value of `info["final_observation"]`).
* Both can be true on the same step (as in Gymnasium's TimeLimit); `terminated` then wins: no
  bootstrap.
* On either, the returned `obs`/`state` already belong to a fresh episode, and
  `info["final_observation"]` holds the last observation of the finished one (on other steps it
  equals `obs`).

dtypes: observations float32 (unless the space says otherwise), reward float32, flags bool,
`state.time` int32, for any setting of `jax_enable_x64`.

Params fields may declare the values they accept (`jaxrl.envs.validation.checked`); `make` rejects
an override outside them with a ValueError naming the field.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.validation import checked


@struct.dataclass
class EnvState:
    """Base state: every env state carries the step count of the current episode (int32 scalar)."""

    time: jax.Array


def episode_limit(default: int) -> Any:
    """A `max_steps_in_episode` field: at least one step, and an int32 like the `state.time` it bounds."""
    return checked(default, "[1, 2147483647]")


@struct.dataclass
class EnvParams:
    """Base parameters: every env has an episode limit (a traced leaf, so it can vary per copy)."""

    max_steps_in_episode: int = episode_limit(1)


TEnvState = TypeVar("TEnvState", bound=EnvState)
TEnvParams = TypeVar("TEnvParams", bound=EnvParams)

StepResult = tuple[Any, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]


class Environment(Generic[TEnvState, TEnvParams]):
    """Base class of functional environments. Subclasses override `reset_env` and `step_env`.

    `step_env` must increment `state.time`; the base class derives truncation from it. Wrappers
    override `reset`/`step` instead and delegate to the wrapped env.
    """

    @property
    def default_params(self) -> TEnvParams:
        return EnvParams()  # type: ignore[return-value]

    # ----------------------------------------------------------------- public API
    def reset(self, key: jax.Array, params: TEnvParams | None = None) -> tuple[Any, TEnvState]:
        """Start an episode. Returns `(obs, state)`."""
        if params is None:
            params = self.default_params
        return self.reset_env(key, params)

    def step(
        self,
        key: jax.Array,
        state: TEnvState,
        action: Any,
        params: TEnvParams | None = None,
    ) -> StepResult:
        """One transition with auto-reset.

        Returns `(obs, state, reward, terminated, truncated, info)` with `info["final_observation"]`.
        """
        if params is None:
            params = self.default_params
        key_step, key_reset = jax.random.split(key)
        obs_step, state_step, reward, terminated, info = self.step_env(key_step, state, action, params)
        terminated = jnp.asarray(terminated, dtype=jnp.bool_)
        truncated = jnp.asarray(self.is_truncated(state_step, params), dtype=jnp.bool_)
        done = terminated | truncated
        obs_reset, state_reset = self.auto_reset(done, key_reset, params)
        state = select_tree(done, state_reset, state_step)
        obs = select_tree(done, obs_reset, obs_step)
        info = {**info, "final_observation": obs_step}
        return obs, state, jnp.asarray(reward, dtype=jnp.float32), terminated, truncated, info

    # ----------------------------------------------------------------- to implement
    def reset_env(self, key: jax.Array, params: TEnvParams) -> tuple[Any, TEnvState]:
        """Environment-specific reset. Returns `(obs, state)` with `state.time == 0`."""
        raise NotImplementedError(f"{type(self).__name__} must implement reset_env")

    def step_env(
        self, key: jax.Array, state: TEnvState, action: Any, params: TEnvParams
    ) -> tuple[Any, TEnvState, jax.Array, jax.Array, dict[str, Any]]:
        """Environment-specific transition, no auto-reset.

        Returns `(obs, state, reward, terminated, info)`; must increment `state.time`.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement step_env")

    def auto_reset(self, done: jax.Array, key: jax.Array, params: TEnvParams) -> tuple[Any, TEnvState]:
        """The episode `step` starts where one ended (`done`, bool scalar; used only where true):
        `reset_env(key, params)`. Envs whose reset is costly may share fresh episodes between the
        copies of a batch instead (`envs.optimistic_reset`)."""
        return self.reset_env(key, params)

    def is_truncated(self, state: TEnvState, params: TEnvParams) -> jax.Array:
        """Time limit reached (bool scalar)."""
        return state.time >= params.max_steps_in_episode

    def observation_space(self, params: TEnvParams) -> spaces.Space:
        raise NotImplementedError(f"{type(self).__name__} must implement observation_space")

    def action_space(self, params: TEnvParams) -> spaces.Space:
        raise NotImplementedError(f"{type(self).__name__} must implement action_space")

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def unwrapped(self) -> Environment:
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def select_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Leafwise `where(pred, on_true, on_false)` for a scalar boolean `pred` (shapes preserved).

    Raises TypeError when two leaves differ in dtype (e.g. `reset_env` and `step_env` returning
    observations of different dtypes), instead of silently promoting one of them.
    """

    def select(path, t, f):
        if jnp.result_type(t) != jnp.result_type(f):
            raise TypeError(
                f"reset and step disagree on the dtype of {jax.tree_util.keystr(path) or 'the value'}: "
                f"{jnp.result_type(t)} after reset, {jnp.result_type(f)} after step; cast both to one dtype."
            )
        return jnp.where(pred, t, f)

    return jax.tree_util.tree_map_with_path(select, on_true, on_false)
