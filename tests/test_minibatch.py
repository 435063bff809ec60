"""Shuffled minibatch epochs and the random permutations behind them."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.blocks.minibatch import minibatch_epochs, random_permutations


@pytest.mark.parametrize("size", [1, 2, 5, 512, 2048, 3000])
def test_every_row_is_a_permutation(size):
    perms = np.asarray(jax.jit(random_permutations, static_argnums=(1, 2))(jax.random.key(size), 6, size))
    assert perms.shape == (6, size) and perms.dtype == np.int32
    np.testing.assert_array_equal(np.sort(perms, axis=-1), np.broadcast_to(np.arange(size), (6, size)))
    if size > 5:
        assert len({tuple(p) for p in perms}) == 6  # independent rows


def test_permutations_of_four_are_uniform():
    """All 24 orders equally likely: chi-square over 24,000 draws (p ~ 1e-4 critical value)."""
    perms = np.asarray(random_permutations(jax.random.key(0), 24_000, 4))
    index = {p: i for i, p in enumerate(itertools.permutations(range(4)))}
    counts = np.bincount([index[tuple(p)] for p in perms], minlength=24)
    chi2 = ((counts - 1000) ** 2 / 1000).sum()
    assert chi2 < 52.0, counts  # chi-square, 23 dof: P(> 52) ~ 5e-4


def test_two_round_permutations_are_uniform_in_position_and_order():
    """Size 2048 runs two sorting rounds: each element's position is uniform and each pair's order a fair coin."""
    perms = np.asarray(random_permutations(jax.random.key(1), 2000, 2048))
    where = np.argsort(perms, axis=-1)  # where[k, e] = position of element e in permutation k
    # Position of elements 0 and 2047 (the ends, where a tie-break bias by index would show) in 8 bins.
    for element in (0, 2047):
        counts = np.bincount(where[:, element] // 256, minlength=8)
        assert ((counts - 250) ** 2 / 250).sum() < 26.0, counts  # 7 dof: P(> 26) ~ 5e-4
    before = (where[:, :-1] < where[:, 1:]).mean()  # element e placed before e + 1
    assert abs(before - 0.5) < 0.005, before  # sd of the mean over 2000 x 2047 pairs ~ 0.0003


def test_sizes_above_two_to_the_twenty_fall_back_to_argsort():
    size = (1 << 20) + 3
    perm = np.asarray(random_permutations(jax.random.key(2), 1, size))[0]
    assert perm.dtype == np.int32
    np.testing.assert_array_equal(np.sort(perm), np.arange(size))


def test_minibatch_epochs_visit_every_sample_once_per_epoch():
    batch = {"x": jnp.arange(12, dtype=jnp.float32), "y": jnp.arange(12)[:, None] * jnp.ones((1, 2))}

    def step(carry, mb):
        np.testing.assert_equal(mb["x"].shape, (4,))
        return carry + mb["x"].sum(), {"seen": mb["y"][:, 0]}

    total, stats = jax.jit(lambda b, k: minibatch_epochs(step, jnp.float32(0), b, k, 3, 3))(batch, jax.random.key(3))
    assert float(total) == 3 * 66
    seen = np.asarray(stats["seen"])
    assert seen.shape == (3, 3, 4)
    for epoch in seen:
        np.testing.assert_array_equal(np.sort(epoch.ravel()), np.arange(12))
    assert not np.array_equal(seen[0], seen[1])  # shuffled anew each epoch
