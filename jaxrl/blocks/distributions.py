"""Action distributions for policy heads (batched over leading axes).

Small and dependency-free on purpose: `Categorical` for `Discrete` actions, `DiagGaussian` for `Box`
actions, and `TanhGaussian` (a Gaussian squashed by tanh, with the numerically stable log-det
`2 * (log 2 - u - softplus(-2u))`) for bounded continuous actions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

_LOG_2PI = jnp.log(2.0 * jnp.pi)


@struct.dataclass
class Categorical:
    """Categorical over the last axis of `logits` [..., n]; samples are int32 [...]."""

    logits: jax.Array

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.categorical(key, self.logits).astype(jnp.int32)

    def mode(self) -> jax.Array:
        return jnp.argmax(self.logits, axis=-1).astype(jnp.int32)

    def log_prob(self, action: jax.Array) -> jax.Array:
        log_probs = jax.nn.log_softmax(self.logits)
        return jnp.take_along_axis(log_probs, action[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def entropy(self) -> jax.Array:
        log_probs = jax.nn.log_softmax(self.logits)
        return -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)

    def probs(self) -> jax.Array:
        return jax.nn.softmax(self.logits)


@struct.dataclass
class DiagGaussian:
    """Independent Gaussians: `mean`, `log_std` [..., d]; log-prob and entropy sum over d."""

    mean: jax.Array
    log_std: jax.Array

    def sample(self, key: jax.Array) -> jax.Array:
        return self.mean + jnp.exp(self.log_std) * jax.random.normal(key, self.mean.shape, self.mean.dtype)

    def mode(self) -> jax.Array:
        return self.mean

    def log_prob(self, action: jax.Array) -> jax.Array:
        z = (action - self.mean) * jnp.exp(-self.log_std)
        return jnp.sum(-0.5 * z**2 - self.log_std - 0.5 * _LOG_2PI, axis=-1)

    def entropy(self) -> jax.Array:
        return jnp.sum(self.log_std + 0.5 * (1.0 + _LOG_2PI), axis=-1) * jnp.ones(self.mean.shape[:-1])


@struct.dataclass
class TanhGaussian:
    """`tanh(u)` with `u ~ DiagGaussian(mean, log_std)`; actions lie in (-1, 1) [..., d]."""

    mean: jax.Array
    log_std: jax.Array

    def sample_and_log_prob(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.transform_and_log_prob(jax.random.normal(key, self.mean.shape, self.mean.dtype))

    def transform_and_log_prob(self, noise: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The action for standard-normal `noise` (same shape as `mean`), and its log-prob."""
        base = DiagGaussian(self.mean, self.log_std)
        u = self.mean + jnp.exp(self.log_std) * noise
        return jnp.tanh(u), base.log_prob(u) - jnp.sum(_tanh_log_det(u), axis=-1)

    def sample(self, key: jax.Array) -> jax.Array:
        return self.sample_and_log_prob(key)[0]

    def mode(self) -> jax.Array:
        return jnp.tanh(self.mean)

    def log_prob(self, action: jax.Array) -> jax.Array:
        # Clip away from +-1 so that atanh stays finite for actions that hit the boundary.
        eps = jnp.finfo(action.dtype).eps
        u = jnp.arctanh(jnp.clip(action, -1.0 + eps, 1.0 - eps))
        return DiagGaussian(self.mean, self.log_std).log_prob(u) - jnp.sum(_tanh_log_det(u), axis=-1)


def _tanh_log_det(u: jax.Array) -> jax.Array:
    """log |d tanh(u) / du| = log(1 - tanh(u)^2), computed stably."""
    return 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
