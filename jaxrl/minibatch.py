"""Epochs of shuffled minibatches over a flat batch: the inner loop of on-policy learners (PQN).

`batch` is a pytree of `[N, ...]`; each epoch permutes N and splits it into `num_minibatches`
minibatches of `N // num_minibatches` (N must divide evenly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax


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

    def epoch(carry, key):
        perm = jax.random.permutation(key, size)
        minibatches = jax.tree.map(lambda x: x[perm].reshape(num_minibatches, -1, *x.shape[1:]), batch)
        return jax.lax.scan(step, carry, minibatches)

    return jax.lax.scan(epoch, carry, jax.random.split(key, num_epochs))
