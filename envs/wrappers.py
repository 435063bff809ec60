"""Environment wrappers: same `reset`/`step` contract, extra behaviour around an inner env.

A wrapper overrides the public `reset`/`step` and delegates to `self.env`, whose `step` already
does the time limit and the auto-reset; so a wrapper sees `terminated`, `truncated` and
`info["final_observation"]` and needs no reset logic of its own. Wrappers that keep something
across steps (running sums, statistics) return a `WrapperState` pytree holding the inner
`env_state`; `state.time` still reads the inner episode step count. Params pass through unchanged,
so `vmap` over `EnvParams` works through any stack of wrappers.

    env, params = jaxrl.make("CartPole-v1")
    env = EpisodeStatistics(NormalizeObservation(env))
    obs, state = env.reset(key_reset, params)
    obs, state, reward, terminated, truncated, info = env.step(key_step, state, action, params)
    info["episode_return"]  # valid where info["episode_done"]

Shapes below are for one env copy; under `jax.vmap` every array gains the batch axis.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment, StepResult
from jaxrl.envs.running_stats import RunningMeanStd, normalize_with_stats, update_running_stats


class Wrapper(Environment):
    """Base wrapper: delegates everything to `self.env`; subclasses override what they change.

    Unknown attributes are looked up on the wrapped env, so env-specific helpers stay reachable.
    """

    def __init__(self, env: Environment):
        self.env = env

    def __getattr__(self, name: str) -> Any:
        if name == "env" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.env, name)

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, Any]:
        return self.env.reset(key, self._params(params))

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None) -> StepResult:
        return self.env.step(key, state, action, self._params(params))

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        raise NotImplementedError(f"{type(self).__name__} is a wrapper: call reset/step, not reset_env/step_env.")

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any):
        raise NotImplementedError(f"{type(self).__name__} is a wrapper: call reset/step, not reset_env/step_env.")

    def observation_space(self, params: Any) -> spaces.Space:
        return self.env.observation_space(params)

    def action_space(self, params: Any) -> spaces.Space:
        return self.env.action_space(params)

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def unwrapped(self) -> Any:
        return self.env.unwrapped

    def _params(self, params: Any) -> Any:
        return self.default_params if params is None else params

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env!r})"


@struct.dataclass
class WrapperState:
    """Base state of a stateful wrapper: the inner env's state plus the wrapper's own fields."""

    env_state: Any

    @property
    def time(self) -> jax.Array:
        """Step count of the current episode (int32 scalar), read from the inner state."""
        return self.env_state.time


# ------------------------------------------------------------------------------ episode statistics
@struct.dataclass
class EpisodeStatisticsState(WrapperState):
    """Running undiscounted return (float32 scalar) and length (int32 scalar) of the current episode."""

    episode_return: jax.Array
    episode_length: jax.Array


class EpisodeStatistics(Wrapper):
    """Reports the return and length of each finished episode.

    Adds to `info` (scalars per copy):

    * `episode_done` (bool): an episode finished at this step (`terminated | truncated`);
    * `episode_return` (float32): its undiscounted return where `episode_done`, NaN elsewhere;
    * `episode_length` (int32): its number of steps where `episode_done`, -1 elsewhere.

    The placeholders are NaN/-1 rather than 0 so that averaging without the mask fails loudly;
    reduce with e.g. `jnp.sum(jnp.where(done, ret, 0)) / jnp.sum(done)`.
    Rewards are summed as the inner env returns them (wrap outside reward scaling to log raw returns).
    """

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, EpisodeStatisticsState]:
        obs, env_state = self.env.reset(key, self._params(params))
        return obs, EpisodeStatisticsState(env_state, jnp.float32(0.0), jnp.int32(0))

    def step(self, key: jax.Array, state: EpisodeStatisticsState, action: Any, params: Any = None) -> StepResult:
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action, self._params(params)
        )
        episode_return = state.episode_return + reward
        episode_length = state.episode_length + 1
        done = terminated | truncated
        info = {
            **info,
            "episode_done": done,
            "episode_return": jnp.where(done, episode_return, jnp.nan).astype(jnp.float32),
            "episode_length": jnp.where(done, episode_length, -1).astype(jnp.int32),
        }
        state = EpisodeStatisticsState(
            env_state,
            jnp.where(done, 0.0, episode_return).astype(jnp.float32),
            jnp.where(done, 0, episode_length).astype(jnp.int32),
        )
        return obs, state, reward, terminated, truncated, info


# ------------------------------------------------------------------------------ observation normalisation
@struct.dataclass
class NormalizeObservationState(WrapperState):
    """`stats`: running mean/var of raw observations (shaped like one observation)."""

    stats: RunningMeanStd


class NormalizeObservation(Wrapper):
    """Observations become `(obs - mean) / sqrt(var + epsilon)` under running statistics.

    The statistics live in the state (so they are saved, vmapped and restored with it). They are
    updated with every observation returned by `reset`/`step` before normalising it;
    `info["final_observation"]` is normalised with the same statistics.

    * `axis_name`: pool the statistics across the copies of `jax.vmap(..., axis_name=axis_name)`
      (use the same axis name for the vmapped `reset` and `step`); all copies then share them.
    * `clip`: clip normalised observations to `[-clip, clip]` (None: no clipping).
    * `update_stats=False` (see `frozen`): statistics stay fixed, e.g. for evaluation.

    The observation space becomes an unbounded float32 Box of the same shape (array observations).
    """

    def __init__(
        self,
        env: Environment,
        *,
        axis_name: str | None = None,
        epsilon: float = 1e-8,
        clip: float | None = None,
        update_stats: bool = True,
        initial_stats: RunningMeanStd | None = None,
    ):
        super().__init__(env)
        self.axis_name = axis_name
        self.epsilon = epsilon
        self.clip = clip
        self.update_stats = update_stats
        self.initial_stats = initial_stats

    def frozen(self, stats: RunningMeanStd | None = None) -> NormalizeObservation:
        """A copy that never updates its statistics and starts from `stats` (e.g. the training ones).

        `stats` may be traced (build the frozen env inside the jitted evaluation function).
        """
        env = copy.copy(self)
        env.update_stats = False
        env.initial_stats = stats if stats is not None else self.initial_stats
        return env

    def normalize(self, stats: RunningMeanStd, obs: Any) -> Any:
        """Normalise `obs` (one observation, or a batch with trailing observation axes) with `stats`."""
        return normalize_with_stats(stats, obs, self.epsilon, self.clip)

    def _update(self, stats: RunningMeanStd, obs: Any) -> RunningMeanStd:
        return update_running_stats(stats, obs, self.axis_name) if self.update_stats else stats

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, NormalizeObservationState]:
        obs, env_state = self.env.reset(key, self._params(params))
        stats = self.initial_stats if self.initial_stats is not None else RunningMeanStd.zeros_like(obs)
        stats = self._update(stats, obs)
        return self.normalize(stats, obs), NormalizeObservationState(env_state, stats)

    def step(self, key: jax.Array, state: NormalizeObservationState, action: Any, params: Any = None) -> StepResult:
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action, self._params(params)
        )
        stats = self._update(state.stats, obs)
        info = {**info, "final_observation": self.normalize(stats, info["final_observation"])}
        state = NormalizeObservationState(env_state, stats)
        return self.normalize(stats, obs), state, reward, terminated, truncated, info

    def observation_space(self, params: Any) -> spaces.Space:
        inner = self.env.observation_space(params)
        if isinstance(inner, spaces.Box):
            bound = np.inf if self.clip is None else self.clip
            return spaces.Box(-bound, bound, inner.shape, jnp.float32)
        return inner


# ------------------------------------------------------------------------------ reward scaling
class ScaleReward(Wrapper):
    """Multiplies every reward by a fixed `scale` (float32)."""

    def __init__(self, env: Environment, scale: float):
        super().__init__(env)
        self.scale = scale

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None) -> StepResult:
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, self._params(params))
        return obs, state, (reward * self.scale).astype(jnp.float32), terminated, truncated, info


@struct.dataclass
class NormalizeRewardState(WrapperState):
    """`discounted_return`: running discounted return of the current episode (float32 scalar);
    `stats`: running mean/var of that return (scalars)."""

    discounted_return: jax.Array
    stats: RunningMeanStd


class NormalizeReward(Wrapper):
    """Divides rewards by the running standard deviation of the discounted return (as Gymnasium's
    `NormalizeReward` and SB3's `VecNormalize`); the return restarts at every episode end.

    `axis_name` pools the statistics across `jax.vmap` copies, as in `NormalizeObservation`.
    Returns logged by an inner `EpisodeStatistics` stay unscaled.
    """

    def __init__(self, env: Environment, *, gamma: float = 0.99, epsilon: float = 1e-8, axis_name: str | None = None):
        super().__init__(env)
        self.gamma = gamma
        self.epsilon = epsilon
        self.axis_name = axis_name

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, NormalizeRewardState]:
        obs, env_state = self.env.reset(key, self._params(params))
        return obs, NormalizeRewardState(env_state, jnp.float32(0.0), RunningMeanStd.zeros_like(jnp.float32(0.0)))

    def step(self, key: jax.Array, state: NormalizeRewardState, action: Any, params: Any = None) -> StepResult:
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action, self._params(params)
        )
        ret = state.discounted_return * self.gamma + reward
        stats = update_running_stats(state.stats, ret, self.axis_name)
        scaled = (reward / jnp.sqrt(stats.var + self.epsilon)).astype(jnp.float32)
        ret = jnp.where(terminated | truncated, 0.0, ret).astype(jnp.float32)
        return obs, NormalizeRewardState(env_state, ret, stats), scaled, terminated, truncated, info


# ------------------------------------------------------------------------------ actions
class ClipAction(Wrapper):
    """Clips continuous actions to the bounds of the inner `Box` action space before stepping.

    The reported action space stays the inner Box, so agents still see the meaningful range.
    """

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None) -> StepResult:
        params = self._params(params)
        space = self.env.action_space(params)
        if not isinstance(space, spaces.Box):
            raise TypeError(f"ClipAction needs a Box action space, got {space!r}.")
        action = jnp.clip(action, space.low, space.high).astype(space.dtype)
        return self.env.step(key, state, action, params)


# ------------------------------------------------------------------------------ observations
class FlattenObservation(Wrapper):
    """Observations (Box, Discrete, Dict or Tuple spaces, nested) become one 1-D float32 vector.

    Order: Dict entries in the space's key order, Tuple entries in order, Box entries row-major;
    a Discrete entry contributes its integer as one float. The observation space becomes
    `Box(low, high, (flat_dim,), float32)` with the concatenated bounds.
    """

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, Any]:
        params = self._params(params)
        obs, state = self.env.reset(key, params)
        return self._flatten(obs, params), state

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None) -> StepResult:
        params = self._params(params)
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        info = {**info, "final_observation": self._flatten(info["final_observation"], params)}
        return self._flatten(obs, params), state, reward, terminated, truncated, info

    def _flatten(self, obs: Any, params: Any) -> jax.Array:
        return flatten(self.env.observation_space(params), obs)

    def observation_space(self, params: Any) -> spaces.Box:
        low, high = _flat_bounds(self.env.observation_space(params))
        return spaces.Box(low, high, low.shape, jnp.float32)


def flatten(space: spaces.Space, x: Any) -> jax.Array:
    """One element of `space` -> float32 vector `[flat_dim(space)]`."""
    if isinstance(space, spaces.Discrete):
        return jnp.reshape(jnp.asarray(x, jnp.float32), (1,))
    if isinstance(space, spaces.Box):
        return jnp.reshape(jnp.asarray(x, jnp.float32), (-1,))
    if isinstance(space, spaces.Dict):
        return jnp.concatenate([flatten(s, x[k]) for k, s in space.spaces.items()])
    if isinstance(space, spaces.Tuple):
        return jnp.concatenate([flatten(s, v) for s, v in zip(space.spaces, x)])
    raise TypeError(f"FlattenObservation does not know space {space!r}.")


def _flat_bounds(space: spaces.Space) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(space, spaces.Discrete):
        return np.zeros(1, np.float32), np.full(1, space.n - 1, np.float32)
    if isinstance(space, spaces.Box):
        return space.low.astype(np.float32).ravel(), space.high.astype(np.float32).ravel()
    subspaces = space.spaces.values() if isinstance(space, spaces.Dict) else getattr(space, "spaces", None)
    if subspaces is None:
        raise TypeError(f"FlattenObservation does not know space {space!r}.")
    bounds = [_flat_bounds(s) for s in subspaces]
    return np.concatenate([b[0] for b in bounds]), np.concatenate([b[1] for b in bounds])


class MaskObservation(Wrapper):
    """Keeps only the entries `keep` of a 1-D Box observation: a partially observed variant of the env.

    `obs` and `info["final_observation"]` become `obs[keep]` (float32 `[len(keep)]` for a float32
    env), in the order given; the observation space becomes the Box of the kept bounds. The name is
    the inner env's plus `-po` (e.g. `CartPole-v1-po`, which keeps `[x, theta]`).
    """

    def __init__(self, env: Environment, keep: Sequence[int]):
        super().__init__(env)
        self.keep = tuple(int(i) for i in keep)
        space = env.observation_space(env.default_params)
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise TypeError(f"MaskObservation needs a 1-D Box observation space, got {space!r}.")
        size = space.shape[0]
        if not self.keep or len(set(self.keep)) != len(self.keep) or not all(0 <= i < size for i in self.keep):
            raise ValueError(f"MaskObservation needs distinct indices in [0, {size}), got keep={keep!r}.")

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, Any]:
        obs, state = self.env.reset(key, self._params(params))
        return self._mask(obs), state

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None) -> StepResult:
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, self._params(params))
        info = {**info, "final_observation": self._mask(info["final_observation"])}
        return self._mask(obs), state, reward, terminated, truncated, info

    def _mask(self, obs: jax.Array) -> jax.Array:
        return obs[np.asarray(self.keep)]

    def observation_space(self, params: Any) -> spaces.Box:
        inner = self.env.observation_space(params)
        keep = list(self.keep)
        return spaces.Box(inner.low[keep], inner.high[keep], (len(keep),), inner.dtype)

    @property
    def name(self) -> str:
        return f"{self.env.name}-po"

    def __repr__(self) -> str:
        return f"MaskObservation({self.env!r}, keep={self.keep})"


# ------------------------------------------------------------------------------ time limit
class TimeLimit(Wrapper):
    """Overrides the episode limit: truncate after `max_steps` steps, whatever the params say.

    The limit is `params.max_steps_in_episode`, read by the inner env's `step` (which also does the
    auto-reset), so this wrapper only replaces that field on every call; episodes can be made
    shorter or longer than the env's default. It needs params with a `max_steps_in_episode` field.

    Prefer plain params when you can: `jaxrl.make(name, max_steps_in_episode=N)` or
    `params.replace(max_steps_in_episode=N)` does the same without a wrapper and, unlike this
    wrapper, lets the limit differ per vmapped copy. Use `TimeLimit` when code you do not control
    passes the env's original params.
    """

    def __init__(self, env: Environment, max_steps: int):
        super().__init__(env)
        if int(max_steps) < 1:
            raise ValueError(f"TimeLimit needs max_steps >= 1, got {max_steps!r}.")
        self.max_steps = int(max_steps)

    def _params(self, params: Any) -> Any:
        params = self.env.default_params if params is None else params
        if not hasattr(params, "max_steps_in_episode") or not hasattr(params, "replace"):
            raise TypeError(
                f"TimeLimit needs params with a max_steps_in_episode field, got {type(params).__name__}."
            )
        return params.replace(max_steps_in_episode=self.max_steps)

    @property
    def default_params(self) -> Any:
        return self._params(None)

    def observation_space(self, params: Any) -> spaces.Space:
        return self.env.observation_space(self._params(params))

    def action_space(self, params: Any) -> spaces.Space:
        return self.env.action_space(self._params(params))

    def __repr__(self) -> str:
        return f"TimeLimit({self.env!r}, max_steps={self.max_steps})"
