"""Return, advantage and TD-target estimators, truncation-correct.

All arrays are time-major `[T, B]`. `next_values[t]` is the value of the state that follows step `t`:
the value of `info["final_observation"]` when the episode ended at `t`, otherwise of the next
observation. A terminated step does not bootstrap; a truncated one does (through `next_values`),
and no estimator ever carries credit across an episode boundary. Every input's shape is checked
when the function is traced (chex; a mismatch raises `AssertionError`).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def _check_steps(*arrays: jax.Array) -> None:
    """Every array is `[T, B]`, all the same shape."""
    chex.assert_rank(arrays, 2)
    chex.assert_equal_shape(arrays)


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array | float,
    gae_lambda: jax.Array | float,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation (Schulman et al. 2016), truncation-correct.

        delta_t = r_t + gamma (1 - terminated_t) next_values_t - values_t
        A_t = delta_t + gamma lambda (1 - done_t) A_{t+1},   done_t = terminated_t | truncated_t

    Args:
      rewards: `[T, B]` rewards r_t.
      values: `[T, B]` values of the states the steps were taken in.
      next_values: `[T, B]` values of the states that follow (final observations at episode ends).
      terminated: `[T, B]` bool, the step entered a terminal state.
      truncated: `[T, B]` bool, the episode was cut after the step (time limit).
      gamma: scalar discount.
      gae_lambda: scalar lambda (0: one-step TD errors, 1: Monte Carlo within an episode).

    Returns:
      `(advantages, value_targets)`, both `[T, B]`; `value_targets = advantages + values`.
    """
    _check_steps(rewards, values, next_values, terminated, truncated)
    chex.assert_rank([gamma, gae_lambda], 0)
    terminated = terminated.astype(values.dtype)
    not_done = 1.0 - jnp.maximum(terminated, truncated.astype(values.dtype))
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values
    decay = gamma * gae_lambda * not_done

    def backward(next_advantage, step):
        delta, d = step
        advantage = delta + d * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(values[0]), (deltas, decay), reverse=True)
    return advantages, advantages + values


def n_step_returns(
    rewards: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array | float,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Partial n-step returns of sequences that stop at their first episode end.

        last = min({k : terminated_k | truncated_k} + {n - 1})
        returns = sum_{k <= last} gamma^k r_k
        discounts = gamma^(last + 1) (1 - terminated_last)

    The target is `returns + discounts * V(next_obs[last])`. Steps after an episode end (the next
    episode, reached through the auto-reset) contribute nothing.

    Args:
      rewards: `[n, B]` rewards of B sequences of n consecutive steps.
      terminated: `[n, B]` bool, the step entered a terminal state.
      truncated: `[n, B]` bool, the episode was cut after the step.
      gamma: scalar discount.

    Returns:
      `(returns [B], discounts [B], last [B] int32)`.
    """
    _check_steps(rewards, terminated, truncated)
    chex.assert_rank(gamma, 0)
    dtype = rewards.dtype
    done = jnp.maximum(terminated.astype(dtype), truncated.astype(dtype))
    # alive[k] = 1 while no episode end happened strictly before step k.
    alive = jnp.cumprod(jnp.concatenate([jnp.ones_like(done[:1]), 1.0 - done[:-1]], axis=0), axis=0)
    powers = gamma ** jnp.arange(rewards.shape[0], dtype=dtype).reshape(-1, *([1] * (rewards.ndim - 1)))
    returns = jnp.sum(powers * alive * rewards, axis=0)
    used = jnp.sum(alive, axis=0)
    last = (used - 1).astype(jnp.int32)
    terminal = jnp.take_along_axis(terminated.astype(dtype), last[None], axis=0)[0]
    discounts = gamma**used * (1.0 - terminal)
    return returns, discounts, last


def greedy_bootstrap(next_q_target: jax.Array, next_q_online: jax.Array | None = None) -> jax.Array:
    """Bootstrap value of the next state from its action values.

        Q-learning:         max_a Q_target(s', a)
        double Q-learning:  Q_target(s', argmax_a Q_online(s', a))

    Args:
      next_q_target: `[B, A]` target-network action values of the next states.
      next_q_online: `[B, A]` online-network action values (double Q-learning), or None.

    Returns:
      `[B]` bootstrap values.
    """
    chex.assert_rank(next_q_target, 2)
    if next_q_online is None:
        return jnp.max(next_q_target, axis=-1)
    chex.assert_equal_shape([next_q_target, next_q_online])
    best = jnp.argmax(next_q_online, axis=-1)
    return jnp.take_along_axis(next_q_target, best[..., None], axis=-1)[..., 0]


def lambda_returns(
    rewards: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array | float,
    td_lambda: jax.Array | float,
) -> jax.Array:
    """TD(lambda) returns of a rollout (Peng's Q(lambda) targets with max-Q `next_values`).

        G_t = r_t + gamma (1 - terminated_t) ((1 - c_t) next_values_t + c_t G_{t+1})
        c_t = lambda (1 - done_t),   done_t = terminated_t | truncated_t,   G_T = next_values_{T-1}

    At a truncation the return bootstraps from `next_values` (the final observation's value) and
    takes nothing from the next episode.

    Args:
      rewards: `[T, B]` rewards r_t.
      next_values: `[T, B]` values of the states that follow (final observations at episode ends).
      terminated: `[T, B]` bool, the step entered a terminal state.
      truncated: `[T, B]` bool, the episode was cut after the step.
      gamma: scalar discount.
      td_lambda: scalar lambda (0: one-step targets, 1: Monte Carlo within an episode).

    Returns:
      `[T, B]` returns G_t.
    """
    _check_steps(rewards, next_values, terminated, truncated)
    chex.assert_rank([gamma, td_lambda], 0)
    dtype = rewards.dtype
    not_terminal = 1.0 - terminated.astype(dtype)
    carry_on = td_lambda * (1.0 - jnp.maximum(terminated.astype(dtype), truncated.astype(dtype)))

    def backward(next_return, step):
        reward, next_value, nt, c = step
        ret = reward + gamma * nt * ((1.0 - c) * next_value + c * next_return)
        return ret, ret

    _, returns = jax.lax.scan(
        backward, next_values[-1], (rewards, next_values, not_terminal, carry_on), reverse=True
    )
    return returns
