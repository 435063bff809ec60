"""Networks (flax.linen): MLP torsos, the actor-critic of policy-gradient agents, Q networks, their
recurrent variants, and the actors/critics of off-policy agents.

Shapes: observations `[..., obs_dim]` (flattened float32), outputs keep the leading axes. Networks
with an `encoder` (`blocks.encoders.EncoderSpec`: images, dict observations) read the observations
as the env gives them (`[..., *obs_shape]`, or a dict of such) through it; ActorCritic's actor and
critic share it. Without one (vector observations) they create exactly the parameters they did
before encoders existed.
Initialisation follows the PPO "implementation details" convention: orthogonal weights with gain
sqrt(2) in hidden layers, 0.01 for the policy head and 1.0 for the value head; zero biases.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import backend
from jaxrl.blocks.distributions import Categorical, DiagGaussian, TanhGaussian
from jaxrl.blocks.encoders import EncoderSpec, encode
from jaxrl.blocks.recurrent import RecurrentTorso

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}


def _dense(features: int, gain: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.orthogonal(gain), bias_init=nn.initializers.zeros,
                    dot_general=backend.dense_dot_general())


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
                x = backend.LayerNorm()(x)
            x = act(x)
        return x


class ActorCritic(nn.Module):
    """Separate policy and value MLPs.

    `__call__(obs [..., d]) -> (dist, value [...])`; `dist` is `Categorical` over `num_actions`
    logits when `num_actions` is set, else a `DiagGaussian` of `action_dim` with a learned,
    state-independent log standard deviation. With `critic_in [..., c]` the critic reads it
    instead of `obs` (a centralised critic).
    """

    hidden_sizes: Sequence[int]
    activation: str = "tanh"
    num_actions: int | None = None
    action_dim: int | None = None
    init_log_std: float = 0.0
    encoder: EncoderSpec | None = None

    @nn.compact
    def __call__(self, obs: jax.Array, critic_in: jax.Array | None = None):
        obs = encode(self.encoder, obs)
        return _policy_and_value(self, obs, obs if critic_in is None else critic_in)


def _policy_and_value(module: nn.Module, actor_in: jax.Array, critic_in: jax.Array):
    """The actor and critic MLPs and heads of an (optionally recurrent) actor-critic `module`,
    created inside its compact `__call__`: `(dist, value [...])`."""
    actor = MLP(module.hidden_sizes, module.activation, name="actor_torso")(actor_in)
    if module.num_actions is not None:
        dist = Categorical(_dense(module.num_actions, 0.01)(actor))
    else:
        mean = _dense(module.action_dim, 0.01)(actor)
        log_std = module.param("log_std", nn.initializers.constant(module.init_log_std), (module.action_dim,),
                               jnp.float32)
        dist = DiagGaussian(mean, jnp.broadcast_to(log_std, mean.shape))
    critic = MLP(module.hidden_sizes, module.activation, name="critic_torso")(critic_in)
    return dist, _dense(1, 1.0)(critic)[..., 0]


class RecurrentActorCritic(nn.Module):
    """An actor-critic with memory (PureJaxRL's PPO-RNN layout): a `size`-wide dense embedding, a
    GRU or LSTM `cell` of `size`, then `ActorCritic`'s actor and critic MLPs and heads on its output.

    `__call__(carry, obs [T, B, d], first [T, B]) -> (carry, dist [T, B], value [T, B])`, the carry
    as `recurrent.initial_carry(cell, size, B)`; `first` zeroes a copy's carry before its step.
    With `critic_in [T, B, c]` the critic reads it instead of the memory (a centralised critic).
    """

    cell: str
    size: int
    hidden_sizes: Sequence[int]
    activation: str = "tanh"
    num_actions: int | None = None
    action_dim: int | None = None
    init_log_std: float = 0.0
    encoder: EncoderSpec | None = None

    @nn.compact
    def __call__(self, carry, obs: jax.Array, first: jax.Array, critic_in: jax.Array | None = None):
        x = ACTIVATIONS[self.activation](_dense(self.size, np.sqrt(2.0))(encode(self.encoder, obs)))
        carry, memory = RecurrentTorso(self.cell, self.size, name="memory")(carry, x, first)
        dist, value = _policy_and_value(self, memory, memory if critic_in is None else critic_in)
        return carry, dist, value


class QNetwork(nn.Module):
    """Action values for `Discrete` actions: `obs [..., d] -> Q [..., num_actions]`.

    `dueling`: value and advantage heads on the shared torso, `Q = V + A - mean_a A` (Wang et al.
    2016). `layer_norm`: LayerNorm after every hidden layer (PQN's stabiliser).
    """

    num_actions: int
    hidden_sizes: Sequence[int]
    activation: str = "relu"
    dueling: bool = False
    layer_norm: bool = False
    encoder: EncoderSpec | None = None

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = MLP(self.hidden_sizes, self.activation, self.layer_norm, name="torso")(encode(self.encoder, obs))
        if not self.dueling:
            return _dense(self.num_actions, 1.0)(x)
        value = _dense(1, 1.0)(x)
        advantage = _dense(self.num_actions, 1.0)(x)
        return value + advantage - jnp.mean(advantage, axis=-1, keepdims=True)


class RecurrentQNetwork(nn.Module):
    """Action values with memory: a `size`-wide dense embedding, a GRU or LSTM `cell`, then
    `QNetwork`'s torso and head. `(carry, obs [T, B, d], first [T, B]) -> (carry, Q [T, B, num_actions])`."""

    num_actions: int
    cell: str
    size: int
    hidden_sizes: Sequence[int]
    activation: str = "relu"
    layer_norm: bool = False
    encoder: EncoderSpec | None = None

    @nn.compact
    def __call__(self, carry, obs: jax.Array, first: jax.Array):
        x = ACTIVATIONS[self.activation](_dense(self.size, np.sqrt(2.0))(encode(self.encoder, obs)))
        carry, memory = RecurrentTorso(self.cell, self.size, name="memory")(carry, x, first)
        q = QNetwork(self.num_actions, self.hidden_sizes, self.activation, layer_norm=self.layer_norm,
                     name="q")(memory)
        return carry, q


class ContinuousQ(nn.Module):
    """`(obs [..., d], action [..., a]) -> Q [...]`."""

    hidden_sizes: Sequence[int]
    activation: str = "relu"
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = jnp.concatenate([obs, action], axis=-1)
        x = MLP(self.hidden_sizes, self.activation, self.layer_norm, name="torso")(x)
        return _dense(1, 1.0)(x)[..., 0]


class Critics(nn.Module):
    """`num_critics` independent critics with stacked parameters (one vmapped program).

    Continuous (`num_actions=None`): `(obs [..., d], action [..., a]) -> [num_critics, ...]`;
    discrete: `obs [..., d] -> [num_critics, ..., num_actions]`.
    """

    num_critics: int
    hidden_sizes: Sequence[int]
    activation: str = "relu"
    num_actions: int | None = None
    layer_norm: bool = False
    encoder: EncoderSpec | None = None  # discrete critics only (each critic has its own)

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array | None = None) -> jax.Array:
        if self.num_actions is None:
            module, kwargs, args = ContinuousQ, {}, (obs, action)
        else:
            module, kwargs, args = QNetwork, {"num_actions": self.num_actions, "encoder": self.encoder}, (obs,)
        ensemble = nn.vmap(
            module, variable_axes={"params": 0}, split_rngs={"params": True},
            in_axes=None, out_axes=0, axis_size=self.num_critics,
        )
        return ensemble(
            hidden_sizes=self.hidden_sizes, activation=self.activation, layer_norm=self.layer_norm,
            name="critic", **kwargs,
        )(*args)


class DeterministicActor(nn.Module):
    """`obs [..., d] -> action [..., action_dim]` in (-1, 1) (tanh output; rescale to the box outside)."""

    action_dim: int
    hidden_sizes: Sequence[int]
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = MLP(self.hidden_sizes, self.activation, name="torso")(obs)
        return jnp.tanh(_dense(self.action_dim, 0.01)(x))


class SquashedGaussianActor(nn.Module):
    """`obs [..., d] -> TanhGaussian` with a state-dependent log std squashed into
    `[log_std_min, log_std_max]` (SAC's actor; actions in (-1, 1))."""

    action_dim: int
    hidden_sizes: Sequence[int]
    activation: str = "relu"
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, obs: jax.Array) -> TanhGaussian:
        x = MLP(self.hidden_sizes, self.activation, name="torso")(obs)
        mean = _dense(self.action_dim, 0.01)(x)
        raw = _dense(self.action_dim, 0.01)(x)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (jnp.tanh(raw) + 1.0)
        return TanhGaussian(mean, log_std)


class CategoricalActor(nn.Module):
    """`obs [..., d] -> Categorical` over `num_actions` (discrete SAC's actor)."""

    num_actions: int
    hidden_sizes: Sequence[int]
    activation: str = "relu"
    encoder: EncoderSpec | None = None

    @nn.compact
    def __call__(self, obs: jax.Array) -> Categorical:
        x = MLP(self.hidden_sizes, self.activation, name="torso")(encode(self.encoder, obs))
        return Categorical(_dense(self.num_actions, 0.01)(x))
