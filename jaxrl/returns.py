"""Return and advantage estimators, truncation-correct.

All arrays are time-major `[T, B]`. `next_values[t]` is the value of the state that follows step `t`:
the value of `info["final_observation"]` when the episode ended at `t`, otherwise of the next
observation. A terminated step does not bootstrap; a truncated one does (through `next_values`),
and no estimator ever carries credit across an episode boundary.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array | float,
    gae_lambda: jax.Array | float,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation. Returns `(advantages, value_targets)`, both `[T, B]`.

    `delta_t = r_t + gamma * (1 - terminated_t) * next_values_t - values_t`,
    `A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}` with `done = terminated | truncated`.
    """
    terminated = terminated.astype(values.dtype)
    not_done = 1.0 - jnp.maximum(terminated, truncated.astype(values.dtype))
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values
    decay = gamma * gae_lambda * not_done

    def backward(next_advantage, step):
        delta, d = step
        advantage = delta + d * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(values[0]), (deltas, decay), reverse=True)
    return advantages, advantages + values
