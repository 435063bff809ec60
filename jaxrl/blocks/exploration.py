"""Exploration for value-based and deterministic-policy agents: schedules and noisy action choice.

Shapes: Q values `[B, A]` -> actions `[B]` int32; continuous actions `[B, d]`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def linear_schedule(step: jax.Array, start: jax.Array | float, end: jax.Array | float,
                    duration: jax.Array | float) -> jax.Array:
    """`start` at step 0, moving linearly to `end` at `duration` steps, then `end` (float32 scalar).

    The one schedule of jaxrl: exploration rates and learning-rate decay (`blocks.optim`) use it.
    """
    done = jnp.asarray(step, jnp.float32) / jnp.maximum(jnp.asarray(duration, jnp.float32), 1.0)
    remaining = jnp.clip(1.0 - done, 0.0, 1.0)
    return jnp.asarray(end + (start - end) * remaining, jnp.float32)


def epsilon_greedy(q_values: jax.Array, epsilon: jax.Array | float, key: jax.Array,
                   mask: jax.Array | None = None) -> jax.Array:
    """Argmax of `q_values [..., A]` with probability `1 - epsilon`, else a uniform action ([...] int32).

    One uniform draw `u` serves both choices (each random-number site costs compile and run time):
    explore when `u < epsilon`; then `u / epsilon` is uniform on [0, 1) and picks the action. With a
    bool `mask [..., A]` (`blocks.action_masks`) both choices are among the available actions only
    (exploring picks the k-th available one, k uniform over their count).
    """
    num_actions = q_values.shape[-1]
    if mask is not None:
        q_values = jnp.where(mask, q_values, -jnp.inf)
    greedy = jnp.argmax(q_values, axis=-1)
    u = jax.random.uniform(key, greedy.shape)
    epsilon = jnp.asarray(epsilon, jnp.float32)
    if mask is None:
        random = jnp.minimum(u / jnp.maximum(epsilon, 1e-12) * num_actions, num_actions - 1).astype(jnp.int32)
    else:
        count = jnp.maximum(mask.sum(axis=-1), 1)
        k = jnp.minimum(u / jnp.maximum(epsilon, 1e-12) * count, count - 1).astype(jnp.int32)
        random = jnp.argmax(jnp.cumsum(mask, axis=-1) > k[..., None], axis=-1)
    return jnp.where(u < epsilon, random, greedy).astype(jnp.int32)


def uniform_warmup(warmup: jax.Array, policy_action, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Continuous behaviour: uniform actions on (-1, 1) while `warmup`, else `policy_action(z)` [*shape].

    One standard-normal draw `z` [*shape] serves both (each random-number site costs compile time):
    `policy_action` maps it to the policy's noisy action, and `erf(z / sqrt(2)) = 2 Phi(z) - 1` is
    uniform on (-1, 1). Only one of the two is used, so their dependence does not matter.
    """
    z = jax.random.normal(key, shape, jnp.float32)
    return jnp.where(warmup, jax.scipy.special.erf(z / jnp.sqrt(2.0)), policy_action(z))


def gaussian_noise(action: jax.Array, std: jax.Array | float, key: jax.Array,
                   clip: jax.Array | float | None = None) -> jax.Array:
    """`action + N(0, std^2)` (noise clipped to `[-clip, clip]` when given), kept in `[-1, 1]`."""
    return perturbed(action, std, jax.random.normal(key, action.shape, action.dtype), clip)


def perturbed(action: jax.Array, std: jax.Array | float, noise: jax.Array,
              clip: jax.Array | float | None = None) -> jax.Array:
    """`action + std * noise` for standard-normal `noise` (`std * noise` clipped to `[-clip, clip]`
    when given), kept in `[-1, 1]`: `gaussian_noise` for noise drawn elsewhere."""
    noise = std * noise
    if clip is not None:
        noise = jnp.clip(noise, -clip, clip)
    return jnp.clip(action + noise, -1.0, 1.0)
