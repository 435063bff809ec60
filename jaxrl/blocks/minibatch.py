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
    perms = random_permutations(key, num_epochs, size)  # every epoch's from one random-number site

    def epoch(carry, perm):
        minibatches = jax.tree.map(lambda x: x[perm].reshape(num_minibatches, -1, *x.shape[1:]), batch)
        return jax.lax.scan(step, carry, minibatches)

    return jax.lax.scan(epoch, carry, perms)


def random_permutations(key: jax.Array, num: int, size: int) -> jax.Array:
    """`num` independent uniformly random permutations of `range(size)`: int32 `[num, size]`.

    Each round sorts one uint32 array whose high bits are random and whose low bits hold the
    element's position, and reads the order back from the low bits. A single integer operand is
    what XLA:CPU sorts fast: 5 x 2048 elements take 0.28 ms, against 1.56 ms for `argsort`'s
    (keys, indices) sort and 4.6 ms for five `jax.random.permutation` calls. Elements whose random
    bits tie keep the previous round's (random) order, and rounds are added until the chance that
    any pair ties in every round is below 2^-20 (`jax.random.permutation` allows about 1/size).
    Sizes above 2^20 leave too few random bits per round and use `argsort` of random keys.
    """
    index_bits = max(1, (size - 1).bit_length())
    random_bits = 32 - index_bits
    if random_bits < 12:
        return jnp.argsort(jax.random.bits(key, (num, size)), axis=-1).astype(jnp.int32)
    # P(some pair ties in all rounds) <= size^2 / 2 * 2^(-rounds * random_bits) <= 2^-20.
    rounds = -(-(2 * index_bits + 20) // random_bits)
    bits = jax.random.bits(key, (rounds, num, size), jnp.uint32)
    low = jnp.uint32((1 << index_bits) - 1)
    position = jnp.arange(size, dtype=jnp.uint32)
    perm = None
    for r in range(rounds):
        order = jnp.sort((bits[r] & ~low) | position, axis=-1) & low
        perm = order if perm is None else jnp.take_along_axis(perm, order, axis=-1)
    return perm.astype(jnp.int32)
