"""Networks (flax.linen): MLP torsos and the actor-critic used by policy-gradient agents.

Shapes: observations `[..., obs_dim]` (flattened float32), outputs keep the leading axes.
Initialisation follows the PPO "implementation details" convention: orthogonal weights with gain
sqrt(2) in hidden layers, 0.01 for the policy head and 1.0 for the value head; zero biases.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.distributions import Categorical, DiagGaussian

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}


def _dense(features: int, gain: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.orthogonal(gain), bias_init=nn.initializers.zeros)


class MLP(nn.Module):
    """Hidden layers of `hidden_sizes` with `activation`, optional LayerNorm; `[..., d] -> [..., h]`."""

    hidden_sizes: Sequence[int]
    activation: str = "tanh"
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = _dense(size, np.sqrt(2.0))(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = act(x)
        return x


class ActorCritic(nn.Module):
    """Separate policy and value MLPs.

    `__call__(obs [..., d]) -> (dist, value [...])`; `dist` is `Categorical` over `num_actions`
    logits when `num_actions` is set, else a `DiagGaussian` of `action_dim` with a learned,
    state-independent log standard deviation.
    """

    hidden_sizes: Sequence[int]
    activation: str = "tanh"
    num_actions: int | None = None
    action_dim: int | None = None
    init_log_std: float = 0.0

    @nn.compact
    def __call__(self, obs: jax.Array):
        actor = MLP(self.hidden_sizes, self.activation, name="actor_torso")(obs)
        if self.num_actions is not None:
            dist = Categorical(_dense(self.num_actions, 0.01)(actor))
        else:
            mean = _dense(self.action_dim, 0.01)(actor)
            log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (self.action_dim,))
            dist = DiagGaussian(mean, jnp.broadcast_to(log_std, mean.shape))
        critic = MLP(self.hidden_sizes, self.activation, name="critic_torso")(obs)
        value = _dense(1, 1.0)(critic)[..., 0]
        return dist, value
