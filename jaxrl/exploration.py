"""Exploration for value-based and deterministic-policy agents: schedules and noisy action choice.

Shapes: Q values `[B, A]` -> actions `[B]` int32; continuous actions `[B, d]`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def linear_schedule(step: jax.Array, start: jax.Array | float, end: jax.Array | float,
                    duration: jax.Array | float) -> jax.Array:
    """`start` at step 0, moving linearly to `end` at `duration` steps, then `end` (float32 scalar)."""
    frac = jnp.clip(jnp.asarray(step, jnp.float32) / jnp.maximum(jnp.asarray(duration, jnp.float32), 1.0), 0.0, 1.0)
    return jnp.asarray(start + frac * (end - start), jnp.float32)


def epsilon_greedy(q_values: jax.Array, epsilon: jax.Array | float, key: jax.Array) -> jax.Array:
    """Argmax of `q_values [..., A]` with probability `1 - epsilon`, else a uniform action ([...] int32)."""
    key_explore, key_action = jax.random.split(key)
    greedy = jnp.argmax(q_values, axis=-1)
    random = jax.random.randint(key_action, greedy.shape, 0, q_values.shape[-1])
    explore = jax.random.uniform(key_explore, greedy.shape) < epsilon
    return jnp.where(explore, random, greedy).astype(jnp.int32)


def gaussian_noise(action: jax.Array, std: jax.Array | float, key: jax.Array,
                   clip: jax.Array | float | None = None) -> jax.Array:
    """`action + N(0, std^2)` (noise clipped to `[-clip, clip]` when given), kept in `[-1, 1]`."""
    noise = std * jax.random.normal(key, action.shape, action.dtype)
    if clip is not None:
        noise = jnp.clip(noise, -clip, clip)
    return jnp.clip(action + noise, -1.0, 1.0)
