"""The tanh-Gaussian's samples and log-probs against closed forms (NumPy)."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.blocks.distributions import TanhGaussian


def _dist():
    mean = jnp.array([[0.3, -1.2], [0.0, 0.8]], jnp.float32)
    log_std = jnp.array([[-0.5, 0.2], [0.1, -1.0]], jnp.float32)
    return TanhGaussian(mean, log_std), np.asarray(mean, np.float64), np.exp(np.asarray(log_std, np.float64))


def test_transform_and_log_prob_match_the_change_of_variables_density():
    dist, mean, std = _dist()
    noise = np.array([[0.5, -0.7], [1.3, 0.1]], np.float32)
    action, log_prob = dist.transform_and_log_prob(jnp.asarray(noise))
    u = mean + std * noise
    np.testing.assert_allclose(action, np.tanh(u), rtol=1e-6, atol=1e-6)
    # log N(u; mean, std) - log |d tanh(u)/du|, summed over the action dimensions.
    density = -0.5 * noise**2 - np.log(std) - 0.5 * np.log(2 * np.pi) - np.log(1 - np.tanh(u) ** 2)
    np.testing.assert_allclose(log_prob, density.sum(-1), rtol=1e-5, atol=1e-5)


def test_sampled_log_prob_agrees_with_log_prob_of_the_action():
    dist, _, _ = _dist()
    action, log_prob = dist.sample_and_log_prob(jax.random.key(3))
    np.testing.assert_allclose(log_prob, dist.log_prob(action), rtol=1e-4, atol=1e-4)
    noise = jax.random.normal(jax.random.key(3), dist.mean.shape)
    np.testing.assert_allclose(action, dist.transform_and_log_prob(noise)[0], rtol=1e-6)
