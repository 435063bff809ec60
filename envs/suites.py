"""What the adapters of outside env suites share (`craftax:`, `xminigrid:`, `navix:`, `jumanji:`).

Each suite is an optional extra, imported only when one of its envs is made; `import_suite` turns
a missing one into `SuiteNotInstalled` (a ValueError, so the CLI reports it in one paragraph and
exits 2, and an ImportError, so `list_envs` skips the suite) naming the extra to install, and
`unknown_env` builds the did-you-mean message from the suite's own registry.

`SuiteAdapter` keeps the suite's own state and params inside ours (`SuiteState.inner`,
`SuiteParams.inner`), counts steps in `state.time` and truncates at `params.max_steps_in_episode`
(the base class; default: the suite's own limit), so every adapted env has an explicit time limit
that `--set env.max_steps_in_episode=N` changes. Where the suite ends episodes at its own limit
too, that end is reported as `truncated` (`SuiteState.suite_truncated`), never as `terminated`.
Observations are float32 (action masks bool, under `avail_actions`), rewards float32.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment, EnvParams, EnvState, episode_limit

EXTRAS = {"craftax": "craftax", "xminigrid": "xminigrid", "navix": "navix", "jumanji": "jumanji"}


class SuiteNotInstalled(ImportError, ValueError):
    """An env suite's package is missing (see the module docstring)."""


def import_suite(module: str, prefix: str) -> Any:
    """Import `module` of the suite behind `prefix:`, or raise `SuiteNotInstalled`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise SuiteNotInstalled(
            f"The '{prefix}:' environments need the {prefix} package, which is not installed ({exc}). "
            f"Install it with: pip install 'jaxrl[{EXTRAS[prefix]}]'."
        ) from None


def unknown_env(prefix: str, name: str, names: list[str]) -> ValueError:
    """A ValueError for `prefix:name` that suggests the closest of the suite's `names`."""
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.4)
    hint = f"Did you mean {', '.join(f'{prefix}:{c}' for c in close)}? " if close else ""
    listing = f"Its environments: {', '.join(sorted(names))}. " if len(names) <= 12 else f"It has {len(names)} environments. "
    return ValueError(f"{prefix} has no environment {name!r}. {hint}{listing}`jaxrl envs` lists every name.")


@struct.dataclass
class SuiteState(EnvState):
    """`time` (int32 steps of the episode), the suite's own state, and whether the suite itself
    ended the episode at its own time limit on the last step (bool)."""

    inner: Any
    suite_truncated: jax.Array


@struct.dataclass
class SuiteParams(EnvParams):
    """Our episode limit and the suite's own params (None for suites without params)."""

    max_steps_in_episode: int = episode_limit(1000)
    inner: Any = None


class SuiteAdapter(Environment[SuiteState, SuiteParams]):
    """Subclasses set `prefix`, `env_name`, `default_params` and implement `suite_reset(key, params)
    -> (obs, inner)` and `suite_step(key, inner, action, params) -> (obs, inner, reward, terminated,
    suite_truncated, info)`, plus the spaces."""

    prefix = ""

    def __init__(self, env: Any, env_name: str):
        self._env = env
        self.env_name = env_name

    def reset_env(self, key: jax.Array, params: SuiteParams):
        obs, inner = self.suite_reset(key, params)
        return obs, SuiteState(time=jnp.int32(0), inner=inner, suite_truncated=jnp.bool_(False))

    def step_env(self, key: jax.Array, state: SuiteState, action: Any, params: SuiteParams):
        obs, inner, reward, terminated, suite_truncated, info = self.suite_step(key, state.inner, action, params)
        terminated = jnp.asarray(terminated, bool)
        state = SuiteState(time=state.time + 1, inner=inner,
                           suite_truncated=jnp.asarray(suite_truncated, bool) & ~terminated)
        return obs, state, jnp.asarray(reward, jnp.float32), terminated, info

    def is_truncated(self, state: SuiteState, params: SuiteParams) -> jax.Array:
        return (state.time >= params.max_steps_in_episode) | state.suite_truncated

    def suite_reset(self, key: jax.Array, params: SuiteParams):
        raise NotImplementedError

    def suite_step(self, key: jax.Array, inner: Any, action: Any, params: SuiteParams):
        raise NotImplementedError

    @property
    def name(self) -> str:
        return f"{self.prefix}:{self.env_name}"

    @property
    def unwrapped(self) -> Any:
        return self._env

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env_name})"


def float_obs(obs: Any) -> Any:
    """Every leaf as float32."""
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), obs)


def grid_space(shape: tuple[int, ...], high: float) -> spaces.Box:
    """A float32 Box `[0, high]` of `shape` (symbolic grids of object ids)."""
    return spaces.Box(0.0, float(high), tuple(int(s) for s in shape), jnp.float32)


def strong_types(tree: Any) -> Any:
    """Every leaf with its own dtype made explicit (no weak types), so that states from reset and
    step, and the branches of a suite's `lax.cond`s on them, agree."""
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.asarray(x).dtype), tree)
