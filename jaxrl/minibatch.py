"""Epochs of shuffled minibatches over a flat batch: the inner loop of on-policy learners (PPO, PQN).

`batch` is a pytree of `[N, ...]`; each epoch permutes N and splits it into `num_minibatches`
minibatches of `N // num_minibatches` (N must divide evenly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def minibatch_epochs(
    step: Callable[[Any, Any], tuple[Any, dict[str, jax.Array]]],
    carry: Any,
    batch: Any,
    key: jax.Array,
    num_epochs: int,
    num_minibatches: int,
) -> tuple[Any, dict[str, jax.Array]]:
    """Run `step(carry, minibatch) -> (carry, metrics)` over `num_epochs` shuffled passes.

    Returns the final carry and the metrics stacked `[num_epochs, num_minibatches]`.
    """
    size = jax.tree.leaves(batch)[0].shape[0]
    # Every epoch's permutation from one draw (sorting random 32-bit keys, one round of what
    # `jax.random.permutation` does): each random-number site is a sizeable part of compile time.
    perms = jnp.argsort(jax.random.bits(key, (num_epochs, size)), axis=-1)

    def epoch(carry, perm):
        minibatches = jax.tree.map(lambda x: x[perm].reshape(num_minibatches, -1, *x.shape[1:]), batch)
        return jax.lax.scan(step, carry, minibatches)

    return jax.lax.scan(epoch, carry, perms)
