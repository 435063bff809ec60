"""Adapter for Navix (Pignatelli et al. 2024), MiniGrid in JAX: `make("navix:Navix-DoorKey-5x5-v0")`.

Every name of `navix.registry()`. Observation: Navix's default symbolic view, float32
`[H, W, 3]` (the CNN encoder reads it); 7 actions. Navix's own auto-reset is not used (ours is).

Time limit: Navix truncates at its `max_steps` (a constructor argument, default 100; its step type
1) and terminates at a goal or a hazard (step type 2). The adapter reports them as `truncated` and
`terminated`, and truncates at `params.max_steps_in_episode` too (default: Navix's `max_steps`;
build the env with `make("navix:NAME", max_steps=N)` to raise Navix's own limit).
Install: pip install 'jaxrl[navix]'.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.envs import spaces
from jaxrl.envs.suites import SuiteAdapter, SuiteParams, float_obs, grid_space, import_suite, strong_types, unknown_env


class NavixAdapter(SuiteAdapter):
    prefix = "navix"

    @property
    def default_params(self) -> SuiteParams:
        return SuiteParams(max_steps_in_episode=int(self._env.max_steps), inner=None)

    def suite_reset(self, key: jax.Array, params: SuiteParams):
        timestep = strong_types(self._env.reset(key, self._rendering_cache()))
        return float_obs(timestep.observation), timestep

    def suite_step(self, key: jax.Array, inner: Any, action: Any, params: SuiteParams):
        del key  # Navix draws from the key in its state
        timestep = self._env._step(inner, action)  # without Navix's auto-reset (`step` wraps `_step`)
        timestep = timestep.replace(info={k: v for k, v in timestep.info.items() if k in inner.info})
        timestep = jax.tree.map(lambda new, old: jnp.asarray(new, old.dtype), timestep, inner)  # reset's dtypes
        return (float_obs(timestep.observation), timestep, timestep.reward, timestep.step_type == 2,
                timestep.step_type == 1, {})

    def _rendering_cache(self) -> Any:
        """Navix's rendering cache, built once (Navix's own auto-reset reuses the state's; building it
        at every reset made the adapter ~9x slower than Navix's own step)."""
        if getattr(self, "_cache", None) is None:
            with jax.ensure_compile_time_eval():
                self._cache = jax.device_get(self._env.reset(jax.random.key(0)).state.cache)
        return self._cache

    def observation_space(self, params: SuiteParams) -> spaces.Box:
        space = self._env.observation_space
        # MiniGrid's object ids reach 10 (the agent) in the symbolic view; Navix's space says 8.
        return grid_space(space.shape, max(float(space.maximum), 10.0))

    def action_space(self, params: SuiteParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(int(self._env.action_space.maximum) + 1)


def make_navix_env(name: str, **kwargs: Any) -> NavixAdapter:
    """Navix's env `name` (keyword arguments, e.g. `max_steps`, go to `navix.make`)."""
    navix = import_suite("navix", "navix")
    if name not in navix.registry():
        raise unknown_env("navix", name, list(navix.registry()))
    return NavixAdapter(navix.make(name, **kwargs), name)


def navix_env_names() -> list[str]:
    return list(import_suite("navix", "navix").registry())
