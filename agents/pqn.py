"""Parallel Q-learning (PQN; Gallici et al. 2024, "Simplifying Deep Temporal Difference Learning").

No replay buffer and no target network: many env copies act epsilon-greedily, the rollout's
Q(lambda) returns are computed with the current network (`max_a Q(next_obs, a)` bootstraps, the true
final observation at truncations), and the network regresses on them for `update_epochs` passes of
`num_minibatches` minibatches. LayerNorm in the Q network keeps the bootstrapping stable.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.agents.base import AgentFns, AgentSpec, EncoderOptions, MemoryOptions, episode_metrics, network_input
from jaxrl.agents.validation import check_minibatches, checked
from jaxrl.blocks.action_masks import action_mask, masked
from jaxrl.envs import Environment, spaces
from jaxrl.blocks.exploration import epsilon_greedy, linear_schedule
from jaxrl.blocks.losses import td_loss
from jaxrl.blocks.minibatch import minibatch_epochs
from jaxrl.blocks.networks import QNetwork
from jaxrl.blocks.optim import OPTIMIZERS, learning_rate_at, make_optimizer
from jaxrl.blocks.returns import lambda_returns
from jaxrl.blocks.rollout import EnvCarry, reset_envs, rollout


@dataclasses.dataclass(frozen=True)
class PQNConfig(MemoryOptions, EncoderOptions):
    """Static settings: changing one recompiles. `network="gru"`/`"lstm"`: see `pqn_rnn`;
    `encoder`/`cnn` (images, dict observations): see `EncoderOptions`."""

    num_envs: int = checked(32, ">= 1")
    num_steps: int = checked(32, ">= 1")
    update_epochs: int = checked(4, ">= 1")
    num_minibatches: int = checked(8, ">= 1")
    total_timesteps: int = 200_000
    anneal_lr: bool = True
    loss: str = checked("mse", ("huber", "mse"))
    hidden_sizes: tuple[int, ...] = (128, 128)
    activation: str = "relu"
    layer_norm: bool = True
    # the paper's; "adam" as in rejax's PQN (same optimiser-state layout)
    optimizer: str = checked("radam", tuple(OPTIMIZERS))

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size


@struct.dataclass
class PQNHparams:
    """Traced settings: a sweep over these compiles once."""

    learning_rate: float = checked(1e-3, "> 0")
    gamma: float = checked(0.99, "[0, 1]")
    td_lambda: float = checked(0.9, "[0, 1]")
    start_e: float = checked(1.0, "[0, 1]")
    end_e: float = checked(0.05, "[0, 1]")
    exploration_fraction: float = checked(0.2, "[0, 1]")
    max_grad_norm: float = checked(10.0, "> 0")


@struct.dataclass
class PQNPolicy:
    params: Any
    epsilon: jax.Array


@struct.dataclass
class PQNState:
    params: Any
    opt_state: Any
    env: EnvCarry
    epsilon: jax.Array
    key: jax.Array
    update_step: jax.Array  # int32; env steps = update_step * batch_size


def build(env: Environment, env_params: Any, config: PQNConfig) -> AgentFns:
    SPEC.validate(config)
    obs_space, action_space = env.observation_space(env_params), env.action_space(env_params)
    if not isinstance(action_space, spaces.Discrete):
        raise ValueError(f"PQN needs a Discrete action space, got {action_space!r}.")
    if config.recurrent:
        from jaxrl.agents import pqn_rnn

        return pqn_rnn.build(env, env_params, config)
    encoder, prepare, dummy_input = network_input(obs_space, config, "PQN")
    network = QNetwork(
        num_actions=action_space.n, hidden_sizes=tuple(config.hidden_sizes), activation=config.activation,
        layer_norm=config.layer_norm, encoder=encoder,
    )
    # Masked actions (blocks.action_masks) are never chosen nor bootstrapped from.
    q_values = lambda params, obs: masked(network.apply(params, prepare(obs)), action_mask(obs))

    def init(key: jax.Array, hparams: PQNHparams) -> PQNState:
        key, key_net, key_env = jax.random.split(key, 3)
        params = network.init(key_net, dummy_input())
        opt_state = make_optimizer(hparams.learning_rate, hparams.max_grad_norm, config.optimizer).init(params)
        env_carry = reset_envs(env, env_params, key_env, config.num_envs)
        return PQNState(params, opt_state, env_carry, jnp.float32(hparams.start_e), key, jnp.int32(0))

    def act(policy: PQNPolicy, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array:
        q = q_values(policy.params, obs)
        if deterministic:
            return jnp.argmax(q, axis=-1).astype(jnp.int32)
        return epsilon_greedy(q, policy.epsilon, key, action_mask(obs))

    def update(state: PQNState, hparams: PQNHparams) -> tuple[PQNState, dict[str, jax.Array]]:
        key, key_rollout, key_epochs = jax.random.split(state.key, 3)
        epsilon = epsilon_at(state.update_step, hparams, config)

        def behaviour(obs, key):
            return epsilon_greedy(q_values(state.params, obs), epsilon, key, action_mask(obs)), {}

        env_carry, traj = rollout(env, env_params, behaviour, state.env, key_rollout, config.num_steps)
        next_q = jnp.max(q_values(state.params, traj.next_obs), axis=-1)
        targets = lambda_returns(traj.reward, next_q, traj.terminated, traj.truncated, hparams.gamma,
                                 hparams.td_lambda)
        batch = {"obs": traj.obs, "action": traj.action, "target": targets}
        batch = jax.tree.map(lambda x: x.reshape(config.batch_size, *x.shape[2:]), batch)

        learning_rate = learning_rate_at(hparams.learning_rate, state.update_step, config.num_updates,
                                         config.anneal_lr)
        optimizer = make_optimizer(learning_rate, hparams.max_grad_norm, config.optimizer)

        def loss_fn(params, mb):
            return q_regression(q_values(params, mb["obs"]), mb, config.loss)

        (params, opt_state), stats = minibatch_epochs(
            sgd_step(loss_fn, optimizer), (state.params, state.opt_state), batch, key_epochs, config.update_epochs, config.num_minibatches
        )
        metrics = {k: v.mean() for k, v in stats.items()}
        metrics.update(epsilon=epsilon, learning_rate=learning_rate, **episode_metrics(traj.episode))
        new_state = PQNState(params, opt_state, env_carry, epsilon, key, state.update_step + 1)
        return new_state, metrics

    return AgentFns(
        init=init,
        update=update,
        policy=lambda state: PQNPolicy(state.params, state.epsilon),
        act=act,
        steps_per_update=config.batch_size,
    )


def epsilon_at(update_step: jax.Array, hparams: PQNHparams, config: PQNConfig) -> jax.Array:
    """The exploration rate of the update after `update_step` updates (linear decay over env steps)."""
    env_steps = update_step * config.batch_size
    return linear_schedule(env_steps, hparams.start_e, hparams.end_e,
                           hparams.exploration_fraction * config.total_timesteps)


def q_regression(q: jax.Array, mb: dict[str, jax.Array], loss: str) -> tuple[jax.Array, jax.Array]:
    """`(loss, Q of the taken actions)`: the regression of `Q [..., A]`'s taken `mb["action"]` on
    `mb["target"]` (both shaped like `q[..., 0]`)."""
    q_taken = jnp.take_along_axis(q, mb["action"][..., None].astype(jnp.int32), axis=-1)[..., 0]
    return td_loss(q_taken, mb["target"], loss), q_taken


def sgd_step(loss_fn, optimizer: optax.GradientTransformation):
    """`step((params, opt_state), minibatch)` for `minibatch_epochs`: one gradient step on
    `loss_fn(params, minibatch) -> (loss, Q of the taken actions)`."""

    def step(carry, mb):
        params, opt_state = carry
        (loss, q_taken), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, mb)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), {"td_loss": loss, "q_mean": q_taken.mean()}

    return step


SPEC = AgentSpec(
    name="pqn",
    config_cls=PQNConfig,
    hparams_cls=PQNHparams,
    build=build,
    config_checks=check_minibatches,
    description="Parallel Q-learning: Q(lambda) over vectorised envs, LayerNorm, no buffer, no target network",
    recurrent=True,
)
