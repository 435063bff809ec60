"""Policy-gradient and TD losses. Inputs are flat batches `[N]`; each returns a scalar (mean over N)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def clipped_surrogate_loss(log_prob: jax.Array, old_log_prob: jax.Array, advantages: jax.Array, clip_eps):
    """PPO's clipped objective, negated for minimisation. Returns `(loss, ratio [N])`."""
    ratio = jnp.exp(log_prob - old_log_prob)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    return -jnp.mean(jnp.minimum(unclipped, clipped)), ratio


def value_loss(values: jax.Array, old_values: jax.Array, targets: jax.Array, clip_eps, clip: bool) -> jax.Array:
    """0.5 * mean squared error of `values` against `targets` (any equal shapes; a scalar); with
    `clip`, the pessimistic max over the value clipped to `old_values +- clip_eps` (CleanRL)."""
    unclipped = (values - targets) ** 2
    if not clip:
        return 0.5 * jnp.mean(unclipped)
    clipped_values = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
    return 0.5 * jnp.mean(jnp.maximum(unclipped, (clipped_values - targets) ** 2))


def approx_kl(log_ratio: jax.Array) -> jax.Array:
    """The low-variance KL estimator `E[(r - 1) - log r]` (Schulman's k3)."""
    return jnp.mean(jnp.exp(log_ratio) - 1.0 - log_ratio)


def explained_variance(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """`1 - Var[targets - predictions] / Var[targets]` (NaN-free: 0 when targets are constant)."""
    var_targets = jnp.var(targets)
    return jnp.where(var_targets > 0, 1.0 - jnp.var(targets - predictions) / jnp.maximum(var_targets, 1e-12), 0.0)


def td_loss(predictions: jax.Array, targets: jax.Array, kind: str = "huber", weights: jax.Array | None = None):
    """Regression of predicted Q values on (stop-gradient) targets: `"huber"` (delta 1, the DQN
    paper's error clipping) or `"mse"` (0.5 * squared error); `weights` [N] for importance sampling."""
    error = predictions - jax.lax.stop_gradient(targets)
    if kind == "huber":
        abs_error = jnp.abs(error)
        per_item = jnp.where(abs_error <= 1.0, 0.5 * error**2, abs_error - 0.5)
    elif kind == "mse":
        per_item = 0.5 * error**2
    else:
        raise ValueError(f"td_loss: kind must be 'huber' or 'mse', got {kind!r}.")
    if weights is not None:
        per_item = per_item * weights
    return jnp.mean(per_item)
