"""Running mean and variance (Chan et al.'s parallel update), for observation normalisation.

A leaf module: it imports nothing from jaxrl, so both env wrappers and agents can use it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningStats:
    """Mean and variance `[*shape]` of everything seen so far, and the count (float32 scalar)."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array


def init_stats(shape: tuple[int, ...]) -> RunningStats:
    # A tiny prior count keeps the first normalisation finite, as in Gymnasium's RunningMeanStd.
    return RunningStats(jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), jnp.float32(1e-4))


def update_stats(stats: RunningStats, batch: jax.Array) -> RunningStats:
    """Fold a batch `[N, *shape]` into the statistics."""
    batch = batch.astype(jnp.float32)
    batch_mean, batch_var, n = batch.mean(0), batch.var(0), jnp.float32(batch.shape[0])
    total = stats.count + n
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * n / total
    m2 = stats.var * stats.count + batch_var * n + delta**2 * stats.count * n / total
    return RunningStats(mean, m2 / total, total)


def normalize(stats: RunningStats, x: jax.Array, clip: float = 10.0) -> jax.Array:
    """`(x - mean) / sqrt(var + 1e-8)`, clipped to `[-clip, clip]`; x is `[..., *shape]`."""
    return jnp.clip((x - stats.mean) / jnp.sqrt(stats.var + 1e-8), -clip, clip)
