"""Adapter for Craftax (Matthews et al. 2024): `make("craftax:Craftax-Classic-Symbolic-v1")`.

Names: `Craftax-Classic-Symbolic-v1`, `Craftax-Classic-Pixels-v1`, `Craftax-Symbolic-v1`,
`Craftax-Pixels-v1`. Symbolic observations are float32 vectors (Classic: 1345), pixel observations
float32 images `[H, W, 3]` in [0, 1] (the CNN encoder reads them); 17 (Classic) or 43 actions.

Time limit: Craftax ends an episode at `max_timesteps` inside its `done`, with no truncation flag.
The adapter sets Craftax's own limit out of reach, so its `done` means death (terminated), and
truncates at `params.max_steps_in_episode` (default: Craftax's `max_timesteps`, 10,000 for Classic
and 100,000 for Craftax). Craftax's per-step `info` (achievements, `discount`) is kept.

Auto-reset is optimistic (`envs.optimistic_reset`): generating a world costs ~30 steps, so a batch
of B copies generates ceil(B / reset_ratio) fresh worlds per step (default ratio 16, as Craftax's
own PPO) and the copies whose episode ended take them in turn; copies ending on the same step
share a world only when more than that many end together. `make(name, reset_ratio=1)`: every
copy its own world, as the other envs.
Craftax does not trace with `jax_enable_x64` on (its `lax.select`s mix int32 and int64).
Install: pip install 'jaxrl[craftax]'.
"""

from __future__ import annotations

from typing import Any

import jax

from jaxrl.envs import spaces
from jaxrl.envs.optimistic_reset import optimistic_reset
from jaxrl.envs.suites import SuiteAdapter, SuiteParams, float_obs, import_suite, unknown_env

NAMES = ("Craftax-Classic-Symbolic-v1", "Craftax-Classic-Pixels-v1", "Craftax-Symbolic-v1", "Craftax-Pixels-v1")
_NEVER = 2**30  # Craftax's own limit, out of reach (ours truncates)


class CraftaxAdapter(SuiteAdapter):
    prefix = "craftax"

    def __init__(self, env: Any, env_name: str, reset_ratio: int = 16):
        super().__init__(env, env_name)
        self.reset_ratio = reset_ratio
        self._auto_reset = optimistic_reset(self.reset_env, reset_ratio)

    def auto_reset(self, done: jax.Array, key: jax.Array, params: SuiteParams):
        return self._auto_reset(done, key, params)

    @property
    def default_params(self) -> SuiteParams:
        inner = self._env.default_params
        return SuiteParams(max_steps_in_episode=int(inner.max_timesteps), inner=inner.replace(max_timesteps=_NEVER))

    def suite_reset(self, key: jax.Array, params: SuiteParams):
        obs, inner = self._env.reset_env(key, params.inner)
        return float_obs(obs), inner

    def suite_step(self, key: jax.Array, inner: Any, action: Any, params: SuiteParams):
        obs, inner, reward, done, info = self._env.step_env(key, inner, action, params.inner)
        return float_obs(obs), inner, reward, done, False, float_obs(info)

    def observation_space(self, params: SuiteParams) -> spaces.Box:
        space = self._env.observation_space(params.inner)
        return spaces.Box(space.low, space.high, tuple(space.shape), "float32")

    def action_space(self, params: SuiteParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(int(self._env.num_actions))


def make_craftax_env(name: str, reset_ratio: int = 16) -> CraftaxAdapter:
    """Craftax's env `name` (one of `NAMES`), without Craftax's own auto-reset (ours does it, one
    fresh world per `reset_ratio` copies and step)."""
    craftax_env = import_suite("craftax.craftax_env", "craftax")
    if name not in NAMES:
        raise unknown_env("craftax", name, list(NAMES))
    return CraftaxAdapter(craftax_env.make_craftax_env_from_name(name, auto_reset=False), name, reset_ratio)


def craftax_env_names() -> list[str]:
    import_suite("craftax.craftax_env", "craftax")
    return list(NAMES)
