"""Value-based targets against plain NumPy loops: n-step returns (with Q-learning and double-Q
bootstraps) and lambda-returns, with terminated and truncated steps inside the batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.blocks.returns import greedy_bootstrap, lambda_returns, n_step_returns


def _episode_flags(rng, shape, p=0.15):
    terminated = rng.random(shape) < p
    truncated = (rng.random(shape) < p) & ~terminated
    return terminated, truncated


def numpy_n_step_target(rewards, terminated, truncated, next_q_target, next_q_online, gamma, double):
    """Per sequence: sum rewards until the first episode end, then bootstrap unless terminated."""
    n, B = rewards.shape
    targets = np.zeros(B)
    for b in range(B):
        ret, discount = 0.0, 1.0
        for k in range(n):
            ret += discount * rewards[k, b]
            discount *= gamma
            if terminated[k, b]:
                boot = 0.0
                break
            if truncated[k, b] or k == n - 1:
                q_t, q_o = next_q_target[k, b], next_q_online[k, b]
                boot = q_t[np.argmax(q_o)] if double else np.max(q_t)
                break
        targets[b] = ret + discount * boot
    return targets


@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("n,gamma", [(1, 0.99), (3, 0.9), (5, 1.0)])
def test_n_step_q_targets_match_numpy(n, gamma, double):
    rng = np.random.default_rng(n)
    B, A = 256, 3
    rewards = rng.normal(size=(n, B)).astype(np.float32)
    terminated, truncated = _episode_flags(rng, (n, B))
    terminated[0, 0] = truncated[0, 0] = True  # both at once: termination wins
    next_q_target = rng.normal(size=(n, B, A)).astype(np.float32)
    next_q_online = rng.normal(size=(n, B, A)).astype(np.float32)

    returns, discounts, last = n_step_returns(jnp.asarray(rewards), jnp.asarray(terminated), jnp.asarray(truncated), gamma)
    pick = lambda q: jnp.take_along_axis(jnp.asarray(q), last[None, :, None], axis=0)[0]  # next_obs[last]
    boot = greedy_bootstrap(pick(next_q_target), pick(next_q_online) if double else None)
    targets = returns + discounts * boot

    expected = numpy_n_step_target(rewards, terminated, truncated, next_q_target, next_q_online, gamma, double)
    np.testing.assert_allclose(np.asarray(targets), expected, rtol=1e-5, atol=1e-5)


def test_double_q_uses_the_online_argmax():
    target = jnp.array([[1.0, 5.0, 3.0]])
    online = jnp.array([[0.0, 1.0, 9.0]])
    assert float(greedy_bootstrap(target)[0]) == 5.0
    assert float(greedy_bootstrap(target, online)[0]) == 3.0


def test_n_step_never_crosses_an_episode_end():
    # Sequence: r=1 (truncated here), then a next-episode reward of 100 that must not count.
    rewards = jnp.array([[1.0], [100.0], [100.0]])
    never = jnp.zeros((3, 1), bool)
    end = jnp.array([[True], [False], [False]])
    ret, disc, last = n_step_returns(rewards, never, end, 0.5)
    assert (float(ret[0]), float(disc[0]), int(last[0])) == (1.0, 0.5, 0)  # bootstraps from final obs
    ret, disc, last = n_step_returns(rewards, end, never, 0.5)
    assert (float(ret[0]), float(disc[0]), int(last[0])) == (1.0, 0.0, 0)  # terminal: no bootstrap
    ret, disc, last = n_step_returns(rewards, never, never, 0.5)
    assert (float(ret[0]), float(disc[0]), int(last[0])) == (1.0 + 50.0 + 25.0, 0.125, 2)


def numpy_lambda_returns(rewards, next_values, terminated, truncated, gamma, lam):
    T, B = rewards.shape
    out = np.zeros((T, B))
    for b in range(B):
        following = next_values[T - 1, b]
        for t in reversed(range(T)):
            if terminated[t, b]:
                g = rewards[t, b]
            elif truncated[t, b] or t == T - 1:
                g = rewards[t, b] + gamma * next_values[t, b]
            else:
                g = rewards[t, b] + gamma * ((1 - lam) * next_values[t, b] + lam * following)
            out[t, b] = g
            following = g
    return out


@pytest.mark.parametrize("gamma,lam", [(0.99, 0.65), (0.9, 1.0), (0.99, 0.0)])
def test_lambda_returns_match_numpy(gamma, lam):
    rng = np.random.default_rng(7)
    T, B = 32, 16
    rewards = rng.normal(size=(T, B)).astype(np.float32)
    next_values = rng.normal(size=(T, B)).astype(np.float32)
    terminated, truncated = _episode_flags(rng, (T, B), p=0.08)
    assert terminated.any() and truncated.any()
    got = jax.jit(lambda *a: lambda_returns(*a, gamma, lam))(
        jnp.asarray(rewards), jnp.asarray(next_values), jnp.asarray(terminated), jnp.asarray(truncated)
    )
    expected = numpy_lambda_returns(rewards, next_values, terminated, truncated, gamma, lam)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)


def test_lambda_zero_is_one_step_q_learning_and_lambda_one_is_monte_carlo_within_an_episode():
    rewards = jnp.array([[1.0], [2.0], [3.0]])
    next_values = jnp.array([[10.0], [20.0], [30.0]])
    never = jnp.zeros((3, 1), bool)
    one_step = lambda_returns(rewards, next_values, never, never, 0.5, 0.0)
    np.testing.assert_allclose(np.asarray(one_step)[:, 0], [1 + 5.0, 2 + 10.0, 3 + 15.0])
    mc = lambda_returns(rewards, next_values, never, never, 0.5, 1.0)
    np.testing.assert_allclose(np.asarray(mc)[:, 0], [1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 30, 2 + 1.5 + 7.5, 3 + 15.0])
