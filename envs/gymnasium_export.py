"""Export a jaxrl env to Gymnasium, for non-JAX code (plain Gymnasium users, Stable-Baselines3, ...).

    venv = to_gymnasium_vector_env("CartPole-v1", num_envs=8, seed=0)   # gymnasium.vector.VectorEnv
    obs, infos = venv.reset()
    obs, rewards, terminations, truncations, infos = venv.step(venv.action_space.sample())

    env = to_gymnasium_env("Pendulum-v1")                               # gymnasium.Env
    # Stable-Baselines3: DummyVecEnv([lambda: to_gymnasium_env("CartPole-v1")])

The vector env runs all copies in one jitted, vmapped `reset`/`step` and returns numpy arrays.

Autoreset: our envs reset in the same step as an episode ends, so the vector env declares
`metadata["autoreset_mode"] = AutoresetMode.SAME_STEP` (Gymnasium's default is NEXT_STEP) and follows
`SyncVectorEnv`'s same-step convention: on a step where copy `i` terminated or truncated, `obs[i]` is
already the first observation of its next episode, `infos["final_obs"][i]` is the last observation
of the finished one (an object array, None elsewhere; mask `infos["_final_obs"]`), and
`infos["final_info"]` holds that step's info (mask `infos["_final_info"]`). Other info entries are
batched arrays with an all-True `_key` mask, as in Gymnasium.

Keys (so results can be reproduced with the JAX env directly): `reset(seed=s)` sets
`key = jax.random.PRNGKey(s)`; then every `reset` and every `step` does
`key, sub = jax.random.split(key)` and gives copy `i` the key `jax.random.split(sub, num_envs)[i]`.
The constructor's `seed` seeds the key used by a first `reset()` without a seed.

Dtypes: observations and actions take the Gymnasium space's dtype (float32 Boxes stay float32,
`Discrete` becomes int64 as in Gymnasium); rewards are float64 and flags bool, as in `SyncVectorEnv`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment, EnvParams

try:
    import gymnasium
    from gymnasium import spaces as gspaces
    from gymnasium.vector import AutoresetMode, VectorEnv
    from gymnasium.vector.utils import batch_space
except ImportError as exc:  # pragma: no cover - exercised only without gymnasium
    raise ImportError(
        "The Gymnasium export needs gymnasium: pip install 'jaxrl[gymnasium]' (or pip install gymnasium)."
    ) from exc

_FINAL_OBS = "final_observation"


def to_gymnasium_space(space: spaces.Space) -> gspaces.Space:
    """jaxrl space -> Gymnasium space (`Box`, `Discrete`, `Dict`, `Tuple`)."""
    if isinstance(space, spaces.Discrete):
        return gspaces.Discrete(space.n)
    if isinstance(space, spaces.Box):
        dtype = np.dtype(space.dtype)
        return gspaces.Box(np.asarray(space.low, dtype), np.asarray(space.high, dtype), space.shape, dtype)
    if isinstance(space, spaces.Dict):
        return gspaces.Dict({k: to_gymnasium_space(v) for k, v in space.spaces.items()})
    if isinstance(space, spaces.Tuple):
        return gspaces.Tuple([to_gymnasium_space(v) for v in space.spaces])
    raise TypeError(f"Cannot convert space {space!r} to a Gymnasium space.")


class JaxVectorEnv(VectorEnv):
    """`num_envs` copies of a jaxrl env as a Gymnasium `VectorEnv` (same-step autoreset).

    `reset` -> `(obs [num_envs, ...], infos)`; `step(actions [num_envs, ...])` ->
    `(obs, rewards [num_envs] float64, terminations [num_envs] bool, truncations [num_envs] bool, infos)`.
    """

    def __init__(self, env: Environment, params: EnvParams, num_envs: int, seed: int = 0):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs!r}.")
        self.env, self.params, self.num_envs = env, params, int(num_envs)
        self.metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
        self.render_mode = None
        self._obs_space = env.observation_space(params)
        self._act_space = env.action_space(params)
        self.single_observation_space = to_gymnasium_space(self._obs_space)
        self.single_action_space = to_gymnasium_space(self._act_space)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._key = _key_from_seed(seed)
        self._state: Any = None

    def reset(
        self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if isinstance(seed, Sequence):
            # One seed per copy, as Gymnasium allows: copy i resets with PRNGKey(seed[i]).
            if len(seed) != self.num_envs:
                raise ValueError(f"reset(seed=[...]) needs {self.num_envs} seeds, got {len(seed)}.")
            super().reset(seed=int(seed[0]))
            keys = jnp.stack([_key_from_seed(s) for s in seed])
            self._key = jax.random.fold_in(_key_from_seed(seed[0]), self.num_envs)
        else:
            super().reset(seed=seed)
            if seed is not None:
                self._key = _key_from_seed(seed)
            keys = self._next_keys()
        obs, self._state = _vector_reset(self.env, keys, self.params)
        return _to_numpy(obs, self.observation_space), {}

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("Call reset() before step().")
        actions = _to_jax(actions, self._act_space)
        obs, self._state, reward, terminated, truncated, info = _vector_step(
            self.env, self._next_keys(), self._state, actions, self.params
        )
        info = dict(info)
        final_obs = info.pop(_FINAL_OBS)
        terminated, truncated = np.asarray(terminated, np.bool_), np.asarray(truncated, np.bool_)
        done = terminated | truncated
        step_info = jax.tree.map(np.asarray, info)
        infos = _vector_info(step_info, np.ones(self.num_envs, np.bool_))
        if done.any():
            final_np = _to_numpy(final_obs, self.observation_space)
            final_array = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):
                final_array[i] = jax.tree.map(lambda x, i=i: x[i], final_np)
            infos["final_obs"], infos["_final_obs"] = final_array, done.copy()
            infos["final_info"], infos["_final_info"] = _vector_info(step_info, done), done.copy()
        return (
            _to_numpy(obs, self.observation_space),
            np.asarray(reward, np.float64),
            terminated,
            truncated,
            infos,
        )

    def _next_keys(self) -> jax.Array:
        self._key, sub = jax.random.split(self._key)
        return jax.random.split(sub, self.num_envs)

    def __repr__(self) -> str:
        return f"JaxVectorEnv({self.env.name}, num_envs={self.num_envs})"


class JaxGymnasiumEnv(gymnasium.Env):
    """One copy of a jaxrl env as a `gymnasium.Env` (jitted `reset`/`step`, numpy outputs).

    `step` returns the last observation of an episode on its final step (Gymnasium's single-env
    convention); call `reset()` then, as usual. Keys follow the vector env's schedule with one copy:
    `reset(seed=s)` sets `key = PRNGKey(s)`; each `reset`/`step` uses `key, sub = split(key)` and `sub`.
    """

    def __init__(self, env: Environment, params: EnvParams, seed: int = 0):
        self.env, self.params = env, params
        self.metadata = {"render_modes": []}
        self.render_mode = None
        self._obs_space = env.observation_space(params)
        self._act_space = env.action_space(params)
        self.observation_space = to_gymnasium_space(self._obs_space)
        self.action_space = to_gymnasium_space(self._act_space)
        self._key = _key_from_seed(seed)
        self._state: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self._key = _key_from_seed(seed)
        obs, self._state = _single_reset(self.env, self._next_key(), self.params)
        return _to_numpy(obs, self.observation_space), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("Call reset() before step().")
        _, self._state, reward, terminated, truncated, info = _single_step(
            self.env,
            self._next_key(), self._state, _to_jax(action, self._act_space), self.params
        )
        info = dict(info)
        # The pre-reset observation: equal to the new one on ordinary steps, the last of the episode
        # on its final step (our state has already moved on to the next episode).
        obs = info.pop(_FINAL_OBS)
        info = jax.tree.map(np.asarray, info)
        return _to_numpy(obs, self.observation_space), float(reward), bool(terminated), bool(truncated), info

    def _next_key(self) -> jax.Array:
        self._key, sub = jax.random.split(self._key)
        return sub

    def __repr__(self) -> str:
        return f"JaxGymnasiumEnv({self.env.name})"


def to_gymnasium_vector_env(
    env_or_name: str | Environment | tuple[Environment, EnvParams],
    num_envs: int,
    params: EnvParams | None = None,
    seed: int = 0,
) -> JaxVectorEnv:
    """A Gymnasium `VectorEnv` of `num_envs` copies (an env name, an env, or `make`'s `(env, params)`)."""
    env, params = _resolve(env_or_name, params)
    return JaxVectorEnv(env, params, num_envs, seed)


def to_gymnasium_env(
    env_or_name: str | Environment | tuple[Environment, EnvParams],
    params: EnvParams | None = None,
    seed: int = 0,
) -> JaxGymnasiumEnv:
    """A single `gymnasium.Env` (e.g. for Stable-Baselines3's `DummyVecEnv`)."""
    env, params = _resolve(env_or_name, params)
    return JaxGymnasiumEnv(env, params, seed)


# --------------------------------------------------------------------------- compiled functions
# The env is a static argument (by identity), so every export of the same env object shares one
# compilation per batch size and params structure.
class _Static:
    """Hashable-by-identity handle on an env (envs need not be hashable themselves)."""

    __slots__ = ("env",)

    def __init__(self, env: Environment):
        self.env = env

    def __hash__(self) -> int:
        return id(self.env)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Static) and other.env is self.env


@functools.partial(jax.jit, static_argnums=0)
def _vector_reset_jit(env: _Static, keys: jax.Array, params: EnvParams) -> tuple[Any, Any]:
    return jax.vmap(env.env.reset, in_axes=(0, None))(keys, params)


@functools.partial(jax.jit, static_argnums=0)
def _vector_step_jit(env: _Static, keys: jax.Array, state: Any, actions: Any, params: EnvParams) -> Any:
    return jax.vmap(env.env.step, in_axes=(0, 0, 0, None))(keys, state, actions, params)


@functools.partial(jax.jit, static_argnums=0)
def _single_reset_jit(env: _Static, key: jax.Array, params: EnvParams) -> tuple[Any, Any]:
    return env.env.reset(key, params)


@functools.partial(jax.jit, static_argnums=0)
def _single_step_jit(env: _Static, key: jax.Array, state: Any, action: Any, params: EnvParams) -> Any:
    return env.env.step(key, state, action, params)


def _vector_reset(env: Environment, *args: Any) -> Any:
    return _vector_reset_jit(_Static(env), *args)


def _vector_step(env: Environment, *args: Any) -> Any:
    return _vector_step_jit(_Static(env), *args)


def _single_reset(env: Environment, *args: Any) -> Any:
    return _single_reset_jit(_Static(env), *args)


def _single_step(env: Environment, *args: Any) -> Any:
    return _single_step_jit(_Static(env), *args)


# --------------------------------------------------------------------------- helpers
def _resolve(env_or_name: Any, params: EnvParams | None) -> tuple[Environment, EnvParams]:
    if isinstance(env_or_name, str):
        from jaxrl.envs.registry import make

        env, default = make(env_or_name)
    elif isinstance(env_or_name, tuple) and len(env_or_name) == 2:
        env, default = env_or_name
    elif isinstance(env_or_name, Environment):
        env, default = env_or_name, env_or_name.default_params
    else:
        raise TypeError(
            "Expected an env name, a jaxrl Environment or make()'s (env, params), "
            f"got {type(env_or_name).__name__}."
        )
    return env, default if params is None else params


def _key_from_seed(seed: Any) -> jax.Array:
    return jax.random.PRNGKey(int(seed))


def _to_numpy(x: Any, space: gspaces.Space) -> Any:
    """Device arrays -> numpy in the (possibly batched) Gymnasium space's dtypes."""
    if isinstance(space, gspaces.Dict):
        return {k: _to_numpy(x[k], s) for k, s in space.spaces.items()}
    if isinstance(space, gspaces.Tuple):
        return tuple(_to_numpy(v, s) for v, s in zip(x, space.spaces))
    return np.asarray(x, dtype=space.dtype)


def _to_jax(x: Any, space: spaces.Space) -> Any:
    """Gymnasium actions (numpy, any int/float dtype) -> JAX arrays in our space's dtypes."""
    if isinstance(space, spaces.Dict):
        return {k: _to_jax(x[k], s) for k, s in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        return tuple(_to_jax(v, s) for v, s in zip(x, space.spaces))
    return jnp.asarray(np.asarray(x), dtype=space.dtype)


def _vector_info(info: Mapping[str, Any], mask: np.ndarray) -> dict[str, Any]:
    """Batched info dict -> Gymnasium's vector info (each key paired with a `_key` bool mask)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        out[key] = _vector_info(value, mask) if isinstance(value, Mapping) else value
        out[f"_{key}"] = mask.copy()
    return out
