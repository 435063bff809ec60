"""Return, advantage and TD-target estimators, truncation-correct.

All arrays are time-major `[T, B]`. `next_values[t]` is the value of the state that follows step `t`:
the value of `info["final_observation"]` when the episode ended at `t`, otherwise of the next
observation. A terminated step does not bootstrap; a truncated one does (through `next_values`),
and no estimator ever carries credit across an episode boundary.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array | float,
    gae_lambda: jax.Array | float,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation. Returns `(advantages, value_targets)`, both `[T, B]`.

    `delta_t = r_t + gamma * (1 - terminated_t) * next_values_t - values_t`,
    `A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}` with `done = terminated | truncated`.
    """
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
    """Partial n-step returns of sequences `[n, B]` that stop at their first episode end.

    Returns `(returns [B], discounts [B], last [B] int32)`; the target is
    `returns + discounts * V(next_obs[last])`, where `last` is the first step with
    `terminated | truncated` (else `n - 1`), `returns = sum_{k <= last} gamma^k r_k` and
    `discounts = gamma^(last + 1)`, zero when the sequence ends by termination. Steps after an
    episode end (the next episode, reached through the auto-reset) contribute nothing.
    """
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
    """Bootstrap value of the next state from action values `[..., A]` -> `[...]`.

    Q-learning: `max_a Q_target(s', a)`; double Q-learning (with `next_q_online`):
    `Q_target(s', argmax_a Q_online(s', a))`.
    """
    if next_q_online is None:
        return jnp.max(next_q_target, axis=-1)
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
    """TD(lambda) returns of a rollout `[T, B]` (Peng's Q(lambda) targets with max-Q `next_values`).

    `G_t = r_t + gamma * (1 - terminated_t) * ((1 - c_t) * next_values_t + c_t * G_{t+1})` with
    `c_t = lambda * (1 - done_t)`, `done = terminated | truncated`, and `G_T = next_values_{T-1}` at the
    end of the rollout. At a truncation the return bootstraps from `next_values` (the final
    observation's value) and takes nothing from the next episode.
    """
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
