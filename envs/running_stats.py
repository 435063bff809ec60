"""Running mean and variance of a stream of (pytree) samples, and normalisation by them.

Shared by the normalising env wrappers (`NormalizeObservation`, `NormalizeReward`) and by learners
that keep their own observation statistics (PPO's `normalize_obs`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningMeanStd:
    """Running mean and (population) variance of a stream of arrays; `count` is a float32 scalar.

    `mean` and `var` have the shape of one sample (a pytree of arrays for pytree samples).
    """

    mean: Any
    var: Any
    count: jax.Array

    @classmethod
    def zeros_like(cls, sample: Any) -> RunningMeanStd:
        """Empty statistics for samples shaped like `sample` (mean 0, var 1, count 0)."""
        return cls(
            mean=jax.tree.map(lambda x: jnp.zeros(jnp.shape(x), jnp.float32), sample),
            var=jax.tree.map(lambda x: jnp.ones(jnp.shape(x), jnp.float32), sample),
            count=jnp.float32(0.0),
        )


def update_running_stats(stats: RunningMeanStd, sample: Any, axis_name: str | None = None) -> RunningMeanStd:
    """Fold one `sample` (shaped like `stats.mean`) into `stats` (Chan et al.'s parallel update).

    With `axis_name`, this must run under `jax.vmap(..., axis_name=axis_name)` (or a named mapped
    axis): the samples of all copies along that axis are pooled with `lax.psum` and every copy
    ends with the same statistics. Without it, each copy keeps its own.
    """

    def psum(x: Any) -> Any:
        return x if axis_name is None else jax.lax.psum(x, axis_name)

    batch_count = psum(jnp.float32(1.0))
    batch_mean = jax.tree.map(lambda x: psum(jnp.asarray(x, jnp.float32)) / batch_count, sample)
    batch_var = jax.tree.map(
        lambda x, m: psum(jnp.square(jnp.asarray(x, jnp.float32) - m)) / batch_count, sample, batch_mean
    )
    return _merge_running_stats(stats, batch_count, batch_mean, batch_var)


def update_running_stats_batch(stats: RunningMeanStd, batch: Any) -> RunningMeanStd:
    """Fold a batch of samples (leading axis `[N, ...]`, pytree like `stats.mean`) into `stats`."""
    batch = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), batch)
    batch_count = jnp.float32(jax.tree.leaves(batch)[0].shape[0])
    batch_mean = jax.tree.map(lambda x: x.mean(axis=0), batch)
    batch_var = jax.tree.map(lambda x: x.var(axis=0), batch)
    return _merge_running_stats(stats, batch_count, batch_mean, batch_var)


def normalize_with_stats(stats: RunningMeanStd, x: Any, epsilon: float = 1e-8, clip: float | None = None) -> Any:
    """`(x - mean) / sqrt(var + epsilon)`, optionally clipped; `x` has trailing sample axes."""

    def norm(v: jax.Array, mean: jax.Array, var: jax.Array) -> jax.Array:
        y = (jnp.asarray(v, jnp.float32) - mean) / jnp.sqrt(var + epsilon)
        return y if clip is None else jnp.clip(y, -clip, clip)

    return jax.tree.map(norm, x, stats.mean, stats.var)


def _merge_running_stats(stats: RunningMeanStd, batch_count: jax.Array, batch_mean: Any, batch_var: Any) -> RunningMeanStd:
    total = stats.count + batch_count
    w_new = batch_count / total

    def mean_var(mean: jax.Array, var: jax.Array, b_mean: jax.Array, b_var: jax.Array) -> tuple:
        delta = b_mean - mean
        m2 = var * stats.count + b_var * batch_count + jnp.square(delta) * stats.count * w_new
        return mean + delta * w_new, m2 / total

    leaves, treedef = jax.tree.flatten(stats.mean)
    var, b_mean, b_var = (treedef.flatten_up_to(t) for t in (stats.var, batch_mean, batch_var))
    pairs = [mean_var(*args) for args in zip(leaves, var, b_mean, b_var)]
    return RunningMeanStd(
        mean=treedef.unflatten([p[0] for p in pairs]),
        var=treedef.unflatten([p[1] for p in pairs]),
        count=total,
    )
