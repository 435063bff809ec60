"""PQN with memory (`network="gru"` or `"lstm"`): Q(lambda) on a recurrent Q network.

As `ppo_rnn`: the rollout carries each env copy's memory (zeroed where an episode starts) and
keeps every step's starting memory; the bootstrap `max_a Q(next_obs, a)` is read with the memory
after the step on the true final observation; training cuts the rollout into sequences of
`seq_len` steps (default: the whole rollout, as PQN's own recurrent variant), minibatches whole
sequences and re-runs each from its stored starting memory (`jaxrl.blocks.recurrent`). The
settings and the regression are PQN's (`agents.pqn`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.agents.base import AgentFns, episode_metrics, network_input
from jaxrl.agents.pqn import PQNConfig, PQNHparams, epsilon_at, q_regression, sgd_step
from jaxrl.blocks.action_masks import action_mask, masked
from jaxrl.blocks.exploration import epsilon_greedy
from jaxrl.blocks.minibatch import minibatch_epochs
from jaxrl.blocks.networks import RecurrentQNetwork
from jaxrl.blocks.optim import learning_rate_at, make_optimizer
from jaxrl.blocks.recurrent import bootstrap_inputs, carries_after, first_flags, initial_carry, time_major, to_sequences
from jaxrl.blocks.returns import lambda_returns
from jaxrl.blocks.rollout import EnvCarry, recurrent_rollout, reset_envs
from jaxrl.envs import Environment


@struct.dataclass
class RecurrentPQNPolicy:
    params: Any
    epsilon: jax.Array


@struct.dataclass
class RecurrentPQNState:
    params: Any
    opt_state: Any
    env: EnvCarry
    memory: Any  # [num_envs, rnn_size] (an LSTM: a pair): after each copy's latest observation
    first: jax.Array  # [num_envs] bool: the copy's current observation opens an episode
    epsilon: jax.Array
    key: jax.Array
    update_step: jax.Array  # int32; env steps = update_step * batch_size


def build(env: Environment, env_params: Any, config: PQNConfig) -> AgentFns:
    """PQN's `AgentFns` with memory; `act(policy, memory, obs, key, deterministic) -> (memory, action)`."""
    obs_space, action_space = env.observation_space(env_params), env.action_space(env_params)
    encoder, prepare, dummy_input = network_input(obs_space, config, "PQN")
    network = RecurrentQNetwork(
        num_actions=action_space.n, cell=config.network, size=config.rnn_size,
        hidden_sizes=tuple(config.hidden_sizes), activation=config.activation, layer_norm=config.layer_norm,
        encoder=encoder,
    )
    initial_memory = lambda batch: initial_carry(config.network, config.rnn_size, batch)

    def q_values(params, memory, obs: jax.Array, first: jax.Array):
        """`memory [B, H]`, `obs [T, B, ...]`, `first [T, B]` -> `(memory, Q [T, B, A])`."""
        q = network.apply(params, memory, prepare(obs), first)
        return q[0], masked(q[1], action_mask(obs))

    def init(key: jax.Array, hparams: PQNHparams) -> RecurrentPQNState:
        key, key_net, key_env = jax.random.split(key, 3)
        dummy = jax.tree.map(lambda x: x[None], dummy_input())
        params = network.init(key_net, initial_memory(1), dummy, jnp.zeros((1, 1), bool))
        opt_state = make_optimizer(hparams.learning_rate, hparams.max_grad_norm, config.optimizer).init(params)
        env_carry = reset_envs(env, env_params, key_env, config.num_envs)
        return RecurrentPQNState(params, opt_state, env_carry, initial_memory(config.num_envs),
                                 jnp.ones(config.num_envs, bool), jnp.float32(hparams.start_e), key, jnp.int32(0))

    def act(policy: RecurrentPQNPolicy, memory, obs: jax.Array, key: jax.Array, deterministic: bool = False):
        no_reset = jnp.zeros((1, jax.tree.leaves(obs)[0].shape[0]), bool)
        memory, q = q_values(policy.params, memory, jax.tree.map(lambda x: x[None], obs), no_reset)
        if deterministic:
            return memory, jnp.argmax(q[0], axis=-1).astype(jnp.int32)
        return memory, epsilon_greedy(q[0], policy.epsilon, key, action_mask(obs))

    def update(state: RecurrentPQNState, hparams: PQNHparams):
        key, key_rollout, key_epochs = jax.random.split(state.key, 3)
        epsilon = epsilon_at(state.update_step, hparams, config)

        def behaviour(memory, obs, first, key):
            new_memory, q = q_values(state.params, memory, jax.tree.map(lambda x: x[None], obs), first[None])
            return new_memory, epsilon_greedy(q[0], epsilon, key, action_mask(obs)), {"memory": memory}

        (env_carry, memory, first), traj = recurrent_rollout(
            env, env_params, behaviour, state.env, state.memory, state.first, key_rollout, config.num_steps
        )
        _, next_q = q_values(state.params, *bootstrap_inputs(carries_after(traj.extras["memory"], memory),
                                                             traj.next_obs))
        next_q = jnp.max(next_q, axis=-1).reshape(traj.reward.shape)
        targets = lambda_returns(traj.reward, next_q, traj.terminated, traj.truncated, hparams.gamma,
                                 hparams.td_lambda)
        batch = {"obs": traj.obs, "first": first_flags(state.first, traj.terminated, traj.truncated),
                 "action": traj.action, "target": targets}
        sequences, starts = to_sequences(batch, traj.extras["memory"], config.sequence_length)

        learning_rate = learning_rate_at(hparams.learning_rate, state.update_step, config.num_updates,
                                         config.anneal_lr)
        optimizer = make_optimizer(learning_rate, hparams.max_grad_norm, config.optimizer)

        def loss_fn(params, mb):
            seq = jax.tree.map(time_major, mb["sequence"])
            _, q = q_values(params, mb["start"], seq["obs"], seq["first"])
            return q_regression(q, seq, config.loss)

        (params, opt_state), stats = minibatch_epochs(
            sgd_step(loss_fn, optimizer), (state.params, state.opt_state), {"sequence": sequences, "start": starts},
            key_epochs, config.update_epochs, config.num_minibatches,
        )
        metrics = {k: v.mean() for k, v in stats.items()}
        metrics.update(epsilon=epsilon, learning_rate=learning_rate, **episode_metrics(traj.episode))
        new_state = RecurrentPQNState(params, opt_state, env_carry, memory, first, epsilon, key,
                                      state.update_step + 1)
        return new_state, metrics

    return AgentFns(init=init, update=update, policy=lambda state: RecurrentPQNPolicy(state.params, state.epsilon),
                    act=act, steps_per_update=config.batch_size, initial_memory=initial_memory)

