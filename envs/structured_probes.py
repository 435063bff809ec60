"""Probes for structured observations: an image observation and an action mask (one step each).

| registered name              | class             | isolates                                          |
|------------------------------|-------------------|---------------------------------------------------|
| `ProbeImageObsReward-v0`     | `ImageObsReward`  | a CNN encoder reading an image `[6, 6, 1]`        |
| `ProbeMaskedActions-v0`      | `MaskedActions`   | action masks reaching acting and exploration      |

`ImageObsReward`: a 2x2 block lit in the left or the right half of a 6x6 image (its row and column
random within the half); action 0 for left, 1 for right gives +1, the other -1. Optimal return 1.
`size` (a constructor option, `make("ProbeImageObsReward-v0", size=36)` or `--set env.size=36`)
makes the image `[size, size, 1]` with a block of side `size // 3`: 36 fits the Nature CNN, whose
first conv (8x8, stride 4) needs images of at least 36x36.

`MaskedActions`: dict observations `{"obs": float32 [1] (zero), "avail_actions": bool [4]}` with a
random nonempty set of available actions; an available action gives +1, an unavailable one -10 (a
catastrophe). An agent that honours the mask scores exactly 1 on every episode, exploring or not;
one that ignores it averages below 1.

Both terminate after one step (the observation is kept on the terminating step, as in `probes`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment
from jaxrl.envs.multi import AVAIL_ACTIONS
from jaxrl.envs.probes import ProbeParams


@struct.dataclass
class StructuredProbeState:
    time: jax.Array  # int32
    obs: Any  # the current observation
    target: jax.Array  # int32: the rewarded side (image) / unused (mask)


class _OneStep(Environment):
    registered_name = ""

    @property
    def default_params(self) -> ProbeParams:
        return ProbeParams()

    @property
    def name(self) -> str:
        return self.registered_name


class ImageObsReward(_OneStep):
    """See the module docstring."""

    registered_name = "ProbeImageObsReward-v0"

    def __init__(self, size: int = 6):
        if isinstance(size, bool) or not isinstance(size, int) or size < 6 or size % 2:
            raise ValueError(f"ProbeImageObsReward-v0: size is the image side, an even int >= 6; got {size!r}.")
        self.size = size

    def reset_env(self, key: jax.Array, params: ProbeParams):
        n, block = self.size, self.size // 3  # 6: a 2x2 block, its column within a half of 3
        key_side, key_row, key_col = jax.random.split(key, 3)
        side = jax.random.randint(key_side, (), 0, 2)
        row = jax.random.randint(key_row, (), 0, n - block + 1)
        col = n // 2 * side + jax.random.randint(key_col, (), 0, n // 2 - block + 1)
        rows, cols = jnp.arange(n)[:, None], jnp.arange(n)[None, :]
        lit = (rows >= row) & (rows < row + block) & (cols >= col) & (cols < col + block)
        obs = lit.astype(jnp.float32)[..., None]
        return obs, StructuredProbeState(jnp.int32(0), obs, side.astype(jnp.int32))

    def step_env(self, key: jax.Array, state: StructuredProbeState, action: Any, params: ProbeParams):
        reward = jnp.where(action == state.target, 1.0, -1.0).astype(jnp.float32)
        return state.obs, state.replace(time=state.time + 1), reward, jnp.asarray(True), {}

    def observation_space(self, params: ProbeParams | None = None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.size, self.size, 1), jnp.float32)

    def action_space(self, params: ProbeParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(2)


class MaskedActions(_OneStep):
    """See the module docstring."""

    registered_name = "ProbeMaskedActions-v0"
    num_actions = 4

    def reset_env(self, key: jax.Array, params: ProbeParams):
        key_mask, key_one = jax.random.split(key)
        mask = jax.random.bernoulli(key_mask, 0.5, (self.num_actions,))
        mask = mask.at[jax.random.randint(key_one, (), 0, self.num_actions)].set(True)  # nonempty
        obs = {"obs": jnp.zeros((1,), jnp.float32), AVAIL_ACTIONS: mask}
        return obs, StructuredProbeState(jnp.int32(0), obs, jnp.int32(0))

    def step_env(self, key: jax.Array, state: StructuredProbeState, action: Any, params: ProbeParams):
        reward = jnp.where(state.obs[AVAIL_ACTIONS][action], 1.0, -10.0).astype(jnp.float32)
        return state.obs, state.replace(time=state.time + 1), reward, jnp.asarray(True), {}

    def observation_space(self, params: ProbeParams | None = None) -> spaces.Dict:
        return spaces.Dict({"obs": spaces.Box(-1.0, 1.0, (1,), jnp.float32),
                            AVAIL_ACTIONS: spaces.Box(0, 1, (self.num_actions,), jnp.bool_)})

    def action_space(self, params: ProbeParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)
