"""Exploration: epsilon-greedy frequencies, and the uniform warm-up of continuous agents."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

from jaxrl.blocks.exploration import epsilon_greedy, uniform_warmup

N = 200_000


@pytest.mark.parametrize("epsilon", [0.0, 0.05, 0.3, 1.0])
def test_epsilon_greedy_frequencies(epsilon):
    q = jnp.broadcast_to(jnp.array([0.0, 2.0, 1.0, -1.0]), (N, 4))  # greedy action 1
    actions = np.asarray(jax.jit(epsilon_greedy)(q, epsilon, jax.random.key(0)))
    assert actions.dtype == np.int32 and actions.min() >= 0 and actions.max() <= 3
    expected = np.full(4, epsilon / 4)
    expected[1] += 1 - epsilon
    freq = np.bincount(actions, minlength=4) / N
    np.testing.assert_allclose(freq, expected, atol=4 * np.sqrt(0.25 / N))


def test_uniform_warmup_is_uniform_during_warmup_and_the_policy_after():
    shape = (N, 2)
    policy = lambda z: 0.2 + 0.1 * z  # the policy's action for standard-normal noise z
    draw = jax.jit(uniform_warmup, static_argnums=(1, 3))
    warm = np.asarray(draw(True, policy, jax.random.key(1), shape))
    assert warm.dtype == np.float32 and warm.min() >= -1.0 and warm.max() <= 1.0
    # Uniform on (-1, 1): 20 equal bins, each coordinate, and the two coordinates independent.
    for column in warm.T:
        freq = np.histogram(column, bins=20, range=(-1, 1))[0] / N
        np.testing.assert_allclose(freq, 0.05, atol=4 * np.sqrt(0.05 * 0.95 / N))
    assert abs(np.corrcoef(warm.T)[0, 1]) < 4 / np.sqrt(N)
    z = (np.asarray(draw(False, policy, jax.random.key(1), shape)) - 0.2) / 0.1  # back to the noise
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and abs(z.std() - 1.0) < 0.01
    # One draw, two maps of it: warm-up action = 2 Phi(z) - 1 (compared where erfinv is well conditioned).
    inner = np.abs(warm) < 0.99
    np.testing.assert_allclose(np.sqrt(2) * scipy.special.erfinv(warm[inner]), z[inner], atol=1e-3)
