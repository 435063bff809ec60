"""Adapter for brax environments: `make("brax:inverted_pendulum")` for every env in brax's registry.

    env, params = jaxrl.make("brax:ant")                                  # spring backend (default)
    env, params = jaxrl.make("brax:ant", backend="generalized")           # brax's own default
    env, params = jaxrl.make("brax:hopper", max_steps_in_episode=500)     # our time limit
    env, params = jaxrl.make("brax:ant", env_kwargs={"ctrl_cost_weight": 0.1})

The time limit and the auto-reset are ours (the `Environment` base class), not brax's
`EpisodeWrapper`/`AutoResetWrapper`: the episode is truncated after `params.max_steps_in_episode`
steps (default 1000, like brax's `episode_length`), brax's `done` becomes `terminated`, and
`info["final_observation"]` holds the last observation of a finished episode.

Keys: `reset` hands its key to brax's `reset`; brax's `step` is deterministic, so the step key is
unused (the contract still takes one). Observations and rewards are float32, flags bool, and the
brax state's leaves keep the dtypes `reset` gave them, so states can be carried through `lax.scan`.

Backends: `backend=` picks brax's physics pipeline ("spring", "positional", "generalized", "mjx").
The default here is "spring" (falling back to the env's own default where an env does not support
it: brax's swimmer runs only on "generalized"). On a 2-core CPU, spring stepped fastest of the four
(inverted_pendulum, 256 copies x 100 steps: ~1.0-1.8e5 steps/s against ~0.5-1.0e5 for generalized,
positional and mjx; reacher ~6e4 against ~1.3e4 for generalized), and its compile times were the
lowest or close to it (reacher jit reset+step ~18 s against ~28 s for generalized; mjx and
positional were the slowest). Spring's contacts are the crudest of the four: pass
`backend="generalized"` for brax's own default (the setting of most published brax results), or
"mjx" for MuJoCo's solver.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment, EnvParams, EnvState

# Chosen for CPU compile and step speed; see the module docstring for the measurements.
DEFAULT_BACKEND = "spring"
BACKENDS = ("spring", "positional", "generalized", "mjx")

_INSTALL_HINT = "brax is not installed; install it with: pip install 'jaxrl[brax]' (or pip install brax)."


def _brax_envs() -> Any:
    try:
        from brax import envs as brax_envs
    except ImportError as exc:
        raise ImportError(f"{_INSTALL_HINT} (import failed: {exc})") from exc
    return brax_envs


@struct.dataclass
class BraxEnvState(EnvState):
    """`time` (int32 step count of the episode) plus brax's env `State`.

    `brax_state` is brax's full `State` (its `pipeline_state`, the physics, plus `obs`, `reward`,
    `done`, `metrics` and `info`), because brax's `step` reads and rewrites all of it.
    """

    brax_state: Any

    @property
    def pipeline_state(self) -> Any:
        """brax's physics state (`brax.base.State`), e.g. for rendering a trajectory."""
        return self.brax_state.pipeline_state


@struct.dataclass
class BraxParams(EnvParams):
    """Only the episode limit: brax's physics (`sys`) lives in the brax env object."""

    max_steps_in_episode: int = 1000


class BraxAdapter(Environment[BraxEnvState, BraxParams]):
    """Wraps a brax `Env` (unwrapped: no `EpisodeWrapper`/`AutoResetWrapper`).

    Observation: float32 vector `(observation_size,)` (or a dict of float32 arrays when the brax env
    returns a dict), unbounded Box. Action: `Box(-1, 1, (action_size,))` float32, which brax envs scale
    to their actuators' control ranges. `info["metrics"]` carries brax's per-step metrics (float32).
    """

    def __init__(self, env: Any, name: str | None = None):
        brax_envs = _brax_envs()
        if isinstance(env, brax_envs.Wrapper):
            raise ValueError(
                "BraxAdapter takes an unwrapped brax env: jaxrl does the time limit and the auto-reset "
                "itself. Build it with brax.envs.get_environment(name), not brax.envs.create(...)."
            )
        self._env = env
        self._name = name or type(env).__name__
        self._obs_shape: Any = None

    # ----------------------------------------------------------------- contract
    @property
    def default_params(self) -> BraxParams:
        return BraxParams()

    def reset_env(self, key: jax.Array, params: BraxParams) -> tuple[Any, BraxEnvState]:
        brax_state = self._env.reset(key)
        state = BraxEnvState(time=jnp.zeros((), jnp.int32), brax_state=brax_state)
        return _float32(brax_state.obs), state

    def step_env(self, key: jax.Array, state: BraxEnvState, action: Any, params: BraxParams):
        del key  # brax's step is deterministic
        old = state.brax_state
        # Some brax envs update `metrics`/`info` in place; give them copies so `state` stays intact.
        old_copy = old.replace(metrics=dict(old.metrics), info=dict(old.info))
        new = self._env.step(old_copy, jnp.asarray(action, jnp.float32))
        # Keep reset's dtypes (brax sometimes returns Python floats or weak types after a step), so the
        # auto-reset select and `lax.scan` carries see one stable state type.
        new = jax.tree.map(lambda n, o: jnp.asarray(n, o.dtype), new, old)
        reward = jnp.asarray(new.reward, jnp.float32)
        terminated = jnp.asarray(new.done, jnp.float32) > 0.5
        info = {"metrics": _float32(new.metrics)}
        state = BraxEnvState(time=state.time + 1, brax_state=new)
        return _float32(new.obs), state, reward, terminated, info

    def observation_space(self, params: BraxParams | None = None) -> spaces.Space:
        shape = self._observation_shape()
        if isinstance(shape, Mapping):
            return spaces.Dict({k: spaces.Box(-np.inf, np.inf, s, jnp.float32) for k, s in shape.items()})
        return spaces.Box(-np.inf, np.inf, shape, jnp.float32)

    def action_space(self, params: BraxParams | None = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (int(self._env.action_size),), jnp.float32)

    # ----------------------------------------------------------------- extras
    def _observation_shape(self) -> Any:
        if self._obs_shape is None:
            # Trace (no compile) one reset; brax's own `observation_size` runs an eager reset instead.
            obs = jax.eval_shape(self._env.reset, jax.random.PRNGKey(0)).obs
            if isinstance(obs, Mapping):
                self._obs_shape = {k: tuple(v.shape) for k, v in obs.items()}
            else:
                self._obs_shape = tuple(obs.shape)
        return self._obs_shape

    @property
    def backend(self) -> str | None:
        """brax's physics pipeline name (None for envs without one, e.g. brax's test env `fast`)."""
        return getattr(self._env, "_backend", None)

    @property
    def brax_env(self) -> Any:
        return self._env

    @property
    def name(self) -> str:
        return f"brax:{self._name}"

    @property
    def unwrapped(self) -> Any:
        return self._env

    def __repr__(self) -> str:
        return f"BraxAdapter({self._name}, backend={self.backend!r})"


def make_brax_env(
    name: str,
    backend: str | None = None,
    n_frames: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> BraxAdapter:
    """Build brax's env `name` (from `brax.envs`' registry) wrapped for jaxrl.

    `backend`: brax physics pipeline, one of `BACKENDS`; None means `DEFAULT_BACKEND` where the env
    supports it, else the env's own default (brax's `swimmer` only runs on "generalized").
    `n_frames`: physics steps per env step (None: the env's default).
    `env_kwargs`: further keyword arguments for the brax env's constructor (e.g. `ctrl_cost_weight`).
    These are named keywords, not `**kwargs`, so that `jaxrl.make` can tell them from params fields.
    """
    brax_envs = _brax_envs()
    registry = brax_envs._envs  # brax has no public listing of its registry
    if name not in registry:
        close = difflib.get_close_matches(name, list(registry), n=5, cutoff=0.4)
        raise ValueError(
            f"brax has no environment {name!r}. "
            + (f"Closest: {', '.join('brax:' + c for c in close)}. " if close else "")
            + f"brax environments: {', '.join(sorted(registry))}."
        )
    kwargs = dict(env_kwargs or {})
    if n_frames is not None:
        kwargs["n_frames"] = int(n_frames)
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(f"Unknown brax backend {backend!r}; choose one of {BACKENDS}.")
        kwargs["backend"] = backend
    elif "backend" not in kwargs and _takes_backend(registry[name]):
        try:
            return BraxAdapter(brax_envs.get_environment(name, backend=DEFAULT_BACKEND, **kwargs), name=name)
        except ValueError:
            pass  # the env does not support the default backend (e.g. swimmer): use the env's own default
    return BraxAdapter(brax_envs.get_environment(name, **kwargs), name=name)


def brax_env_names() -> list[str]:
    """Names in brax's env registry (use them as `brax:NAME`)."""
    return sorted(_brax_envs()._envs)


def _takes_backend(cls: Any) -> bool:
    try:
        return "backend" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _float32(tree: Any) -> Any:
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)
