"""GAE against a plain NumPy reference, with terminated and truncated steps inside the batch; every
estimator refuses mis-shaped inputs."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.blocks.returns import gae, greedy_bootstrap, lambda_returns, n_step_returns


def numpy_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Straightforward per-env backward loop: no bootstrap through termination, no credit across ends."""
    T, B = rewards.shape
    advantages = np.zeros((T, B))
    for b in range(B):
        running = 0.0
        for t in reversed(range(T)):
            bootstrap = 0.0 if terminated[t, b] else gamma * next_values[t, b]
            delta = rewards[t, b] + bootstrap - values[t, b]
            if terminated[t, b] or truncated[t, b]:
                running = 0.0
            running = delta + gamma * lam * running
            advantages[t, b] = running
    return advantages, advantages + values


@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 1.0), (1.0, 0.0)])
def test_gae_matches_numpy_reference(gamma, lam):
    rng = np.random.default_rng(0)
    T, B = 64, 8
    rewards = rng.normal(size=(T, B)).astype(np.float32)
    values = rng.normal(size=(T, B)).astype(np.float32)
    next_values = rng.normal(size=(T, B)).astype(np.float32)
    terminated = rng.random((T, B)) < 0.08
    truncated = (rng.random((T, B)) < 0.08) & ~terminated
    truncated[5, 0] = terminated[5, 0] = True  # both flags at once: termination wins
    assert terminated.any() and truncated.any()
    adv, targets = gae(
        jnp.asarray(rewards), jnp.asarray(values), jnp.asarray(next_values),
        jnp.asarray(terminated), jnp.asarray(truncated), gamma, lam,
    )
    ref_adv, ref_targets = numpy_gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    np.testing.assert_allclose(np.asarray(adv), ref_adv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(targets), ref_targets, rtol=1e-5, atol=1e-5)


def test_truncation_bootstraps_and_termination_does_not():
    # One env, three steps; the episode ends at t=1. With lambda=0 the advantage is the TD error.
    rewards = jnp.ones((3, 1))
    values = jnp.zeros((3, 1))
    next_values = jnp.full((3, 1), 10.0)
    ends = jnp.array([[False], [True], [False]])
    never = jnp.zeros((3, 1), bool)
    adv_trunc, _ = gae(rewards, values, next_values, never, ends, 0.5, 0.0)
    adv_term, _ = gae(rewards, values, next_values, ends, never, 0.5, 0.0)
    assert float(adv_trunc[1, 0]) == pytest.approx(1.0 + 0.5 * 10.0)  # bootstraps from final obs value
    assert float(adv_term[1, 0]) == pytest.approx(1.0)  # no bootstrap past a terminal state
    # With lambda=1, no credit flows from t=2 back across the boundary into t=1.
    adv_trunc_l1, _ = gae(rewards, values, next_values, never, ends, 0.5, 1.0)
    assert float(adv_trunc_l1[1, 0]) == pytest.approx(6.0)


STEPS, FLAGS = jnp.zeros((4, 2)), jnp.zeros((4, 2), bool)


@pytest.mark.parametrize(
    "estimator, args",
    [
        (gae, (STEPS, STEPS, jnp.zeros((4, 3)), FLAGS, FLAGS, 0.9, 0.9)),  # next_values [T, B']
        (gae, (STEPS, STEPS, STEPS, FLAGS, FLAGS, jnp.ones(2), 0.9)),  # gamma not a scalar
        (n_step_returns, (jnp.zeros(4), FLAGS[:, 0], FLAGS[:, 0], 0.9)),  # [n] instead of [n, B]
        (n_step_returns, (STEPS, FLAGS[:3], FLAGS, 0.9)),  # terminated [n - 1, B]
        (greedy_bootstrap, (jnp.zeros(3),)),  # one state's values, not [B, A]
        (greedy_bootstrap, (jnp.zeros((2, 3)), jnp.zeros((2, 4)))),  # online [B, A']
        (lambda_returns, (STEPS, STEPS[:, :1], FLAGS, FLAGS, 0.9, 0.9)),  # next_values [T, 1]
        (lambda_returns, (STEPS[None], STEPS[None], FLAGS[None], FLAGS[None], 0.9, 0.9)),  # rank 3
    ],
)
def test_mis_shaped_inputs_are_refused(estimator, args):
    with pytest.raises(AssertionError, match="Chex"):
        estimator(*args)
