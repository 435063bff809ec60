"""Epsilon-greedy action choice: the action frequencies its definition implies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.exploration import epsilon_greedy

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
