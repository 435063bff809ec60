"""Deep Q-Networks for `Discrete` actions, with the usual options.

One `update` = `num_steps` epsilon-greedy steps of each of `num_envs` env copies into the replay
buffer, then (once `learning_starts` transitions are stored) `gradient_steps` steps on sampled
batches. Options: double Q-learning (`double_q`), a dueling head (`dueling`), n-step returns cut at
episode ends (`n_step`), Polyak (`tau < 1`) or periodic hard (`tau = 1`, every
`target_update_every` gradient steps) target updates, Huber or MSE loss, prioritised replay
(`prioritized`), LayerNorm in the Q network (`layer_norm`, on by default: with it the defaults solve
CartPole on every seed tried, without it DQN's greedy policy there oscillates) and a linearly
annealed learning rate (`anneal_lr`). Epsilon decays linearly from `start_e` to `end_e` over
`exploration_fraction * total_timesteps` env steps. Names follow CleanRL where it has them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.agents.base import AgentFns, AgentSpec, EncoderOptions, network_input
from jaxrl.agents.validation import check_replay_sizes, checked
from jaxrl.agents.offpolicy import (
    collect, collection_metrics, learn_when_ready, polyak, ready_to_learn, transition_example,
)
from jaxrl.blocks.action_masks import action_mask, masked
from jaxrl.envs import Environment, spaces
from jaxrl.blocks.exploration import epsilon_greedy, linear_schedule
from jaxrl.blocks.losses import td_loss
from jaxrl.blocks.networks import QNetwork
from jaxrl.blocks.optim import learning_rate_at, make_optimizer
from jaxrl.blocks.replay import ReplayBuffer, ReplayState
from jaxrl.blocks.returns import greedy_bootstrap, n_step_returns
from jaxrl.blocks.rollout import EnvCarry, reset_envs


@dataclasses.dataclass(frozen=True)
class DQNConfig(EncoderOptions):
    """Static settings: changing one recompiles. `encoder`/`cnn` (images, dict observations): see
    `EncoderOptions`."""

    num_envs: int = checked(8, ">= 1")
    num_steps: int = checked(4, ">= 1")  # env steps per env copy per update
    gradient_steps: int = checked(8, ">= 1")  # gradient steps per update
    total_timesteps: int = 100_000
    buffer_size: int = checked(100_000, ">= 1")
    batch_size: int = checked(128, ">= 1")
    learning_starts: int = checked(2_000, ">= 0")  # stored transitions before the first gradient step
    target_update_every: int = checked(1, ">= 1")  # gradient steps between target updates (each moves by tau)
    n_step: int = checked(3, ">= 1")
    double_q: bool = True
    dueling: bool = True
    loss: str = checked("huber", ("huber", "mse"))
    prioritized: bool = False
    anneal_lr: bool = True  # linear decay of the learning rate to 0 over the run
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    layer_norm: bool = True  # LayerNorm after every hidden layer (stabilises bootstrapping)

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update


def _config_checks(config: DQNConfig, algo: str) -> None:
    """The buffer keeps an n-step sequence and one update per env copy; the run is one update long."""
    rows = config.buffer_size // config.num_envs
    if rows < max(config.n_step, config.num_steps):
        raise ValueError(
            f"{algo}: buffer_size = {config.buffer_size} keeps {rows} steps per env copy (buffer_size // "
            f"num_envs, num_envs = {config.num_envs}), fewer than max(n_step, num_steps) = "
            f"{max(config.n_step, config.num_steps)}; raise buffer_size or lower num_envs, n_step or num_steps."
        )
    check_replay_sizes(config, algo)


@struct.dataclass
class DQNHparams:
    """Traced settings: a sweep over these compiles once."""

    learning_rate: float = checked(1e-3, "> 0")
    gamma: float = checked(0.99, "[0, 1]")
    tau: float = checked(0.01, "(0, 1]")  # target <- tau * online + (1 - tau) * target (1: a hard copy)
    start_e: float = checked(1.0, "[0, 1]")
    end_e: float = checked(0.02, "[0, 1]")
    exploration_fraction: float = checked(0.2, "[0, 1]")
    max_grad_norm: float = checked(10.0, "> 0")
    per_alpha: float = checked(0.6, ">= 0")
    per_beta: float = checked(0.4, "[0, 1]")


@struct.dataclass
class DQNPolicy:
    """What acting needs: Q-network parameters and the current exploration rate."""

    params: Any
    epsilon: jax.Array


@struct.dataclass
class DQNLearner:
    """The part of the state that gradient steps change."""

    params: Any
    target_params: Any
    opt_state: Any
    buffer: ReplayState
    grad_step: jax.Array  # int32


@struct.dataclass
class DQNState:
    learner: DQNLearner
    env: EnvCarry
    epsilon: jax.Array
    key: jax.Array
    update_step: jax.Array  # int32; env steps = update_step * steps_per_update


def build(env: Environment, env_params: Any, config: DQNConfig) -> AgentFns:
    SPEC.validate(config)
    obs_space, action_space = env.observation_space(env_params), env.action_space(env_params)
    if not isinstance(action_space, spaces.Discrete):
        raise ValueError(f"DQN needs a Discrete action space, got {action_space!r}; use sac or td3 for Box.")
    encoder, prepare, dummy_input = network_input(obs_space, config, "DQN")
    network = QNetwork(
        num_actions=action_space.n, hidden_sizes=tuple(config.hidden_sizes), activation=config.activation,
        dueling=config.dueling, layer_norm=config.layer_norm, encoder=encoder,
    )
    buffer = ReplayBuffer(
        capacity=config.buffer_size, num_envs=config.num_envs, batch_size=config.batch_size,
        sequence_length=config.n_step, prioritized=config.prioritized,
    )
    # Masked actions (blocks.action_masks) are never chosen nor bootstrapped from.
    q_values = lambda params, obs: masked(network.apply(params, prepare(obs)), action_mask(obs))

    def init(key: jax.Array, hparams: DQNHparams) -> DQNState:
        key, key_net, key_env = jax.random.split(key, 3)
        params = network.init(key_net, dummy_input())
        opt_state = make_optimizer(hparams.learning_rate, hparams.max_grad_norm).init(params)
        env_carry = reset_envs(env, env_params, key_env, config.num_envs)
        example = transition_example(obs_space, action_space)
        learner = DQNLearner(params, params, opt_state, buffer.init(example), jnp.int32(0))
        return DQNState(learner, env_carry, jnp.float32(hparams.start_e), key, jnp.int32(0))

    def act(policy: DQNPolicy, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array:
        q = q_values(policy.params, obs)
        if deterministic:
            return jnp.argmax(q, axis=-1).astype(jnp.int32)
        return epsilon_greedy(q, policy.epsilon, key, action_mask(obs))

    def learn_step(hparams: DQNHparams, learning_rate: jax.Array, learner: DQNLearner, key: jax.Array):
        sample = buffer.sample(learner.buffer, key, hparams.per_alpha, hparams.per_beta)
        seq = sample.experience  # leaves [n_step, batch, ...]
        returns, discounts, last = n_step_returns(seq["reward"], seq["terminated"], seq["truncated"], hparams.gamma)
        next_obs = jax.tree.map(
            lambda x: jnp.take_along_axis(x, last.reshape(1, -1, *([1] * (x.ndim - 2))), axis=0)[0],
            seq["next_obs"],
        )
        next_q_target = q_values(learner.target_params, next_obs)
        next_q_online = q_values(learner.params, next_obs) if config.double_q else None
        targets = returns + discounts * greedy_bootstrap(next_q_target, next_q_online)
        obs, action = jax.tree.map(lambda x: x[0], seq["obs"]), seq["action"][0]

        def loss_fn(params):
            q = q_values(params, obs)
            q_taken = jnp.take_along_axis(q, action[:, None].astype(jnp.int32), axis=-1)[:, 0]
            weights = sample.weights if config.prioritized else None
            return td_loss(q_taken, targets, config.loss, weights), q_taken

        (loss, q_taken), grads = jax.value_and_grad(loss_fn, has_aux=True)(learner.params)
        optimizer = make_optimizer(learning_rate, hparams.max_grad_norm)
        updates, opt_state = optimizer.update(grads, learner.opt_state, learner.params)
        params = optax.apply_updates(learner.params, updates)
        grad_step = learner.grad_step + 1
        due = grad_step % config.target_update_every == 0
        target_params = jax.tree.map(
            lambda new, old: jnp.where(due, new, old),
            polyak(learner.target_params, params, hparams.tau), learner.target_params,
        )
        buffer_state = buffer.update_priorities(
            learner.buffer, sample.rows, sample.envs, jnp.abs(q_taken - targets) + 1e-6
        )
        new = DQNLearner(params, target_params, opt_state, buffer_state, grad_step)
        return new, {"td_loss": loss, "q_mean": jnp.mean(q_taken)}

    def update(state: DQNState, hparams: DQNHparams) -> tuple[DQNState, dict[str, jax.Array]]:
        key, key_rollout, key_learn = jax.random.split(state.key, 3)
        env_steps = state.update_step * config.steps_per_update
        epsilon = linear_schedule(
            env_steps, hparams.start_e, hparams.end_e, hparams.exploration_fraction * config.total_timesteps
        )
        params = state.learner.params

        def behaviour(obs, key):
            return epsilon_greedy(q_values(params, obs), epsilon, key, action_mask(obs)), {}

        env_carry, buffer_state, traj = collect(
            env, env_params, behaviour, state.env, key_rollout, config.num_steps, buffer, state.learner.buffer
        )
        learner = state.learner.replace(buffer=buffer_state)
        ready = ready_to_learn(buffer, buffer_state, config.learning_starts)
        learning_rate = learning_rate_at(hparams.learning_rate, state.update_step, config.num_updates,
                                         config.anneal_lr)
        learner, metrics = learn_when_ready(
            ready, lambda l, k: learn_step(hparams, learning_rate, l, k), learner, key_learn,
            config.gradient_steps,
        )
        metrics.update(epsilon=epsilon, **collection_metrics(buffer, buffer_state, traj))
        return DQNState(learner, env_carry, epsilon, key, state.update_step + 1), metrics

    return AgentFns(
        init=init,
        update=update,
        policy=lambda state: DQNPolicy(state.learner.params, state.epsilon),
        act=act,
        steps_per_update=config.steps_per_update,
    )


SPEC = AgentSpec(
    name="dqn",
    config_cls=DQNConfig,
    hparams_cls=DQNHparams,
    build=build,
    config_checks=_config_checks,
    description="Deep Q-Network (double, dueling, n-step, Polyak/periodic targets, prioritised replay)",
)
