"""IPPO and MAPPO with memory (`network="gru"` or `"lstm"`): `agents.ippo` on a recurrent network.

Every agent of every env copy carries its own memory through the rollout (zeroed when the copy's
episode ends), and the agents share the recurrent network (agent one-hot appended; per-agent
networks are not available with memory). IPPO's critic reads the memory; MAPPO's is feed-forward
on all agents' observations. Training cuts the rollout into sequences of `seq_len` steps and
minibatches env copies' sequences (all their agents together), each re-run from its stored memory,
as `agents.ppo_rnn`; bootstrap values come from the memory after each step.

Shapes: `B` env copies, `n` agents, `T` steps; the memory is `[B, n, H]`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.agents.base import AgentFns
from jaxrl.agents.ippo import AgentLayout, IPPOConfig, agent_batch, agent_episode_returns
from jaxrl.agents.ppo import PPOHparams, optimizer_for, ppo_loss, sgd_step, update_metrics
from jaxrl.blocks.minibatch import minibatch_epochs
from jaxrl.blocks.networks import RecurrentActorCritic
from jaxrl.blocks.optim import learning_rate_at
from jaxrl.blocks.recurrent import bootstrap_inputs, carries_after, first_flags, initial_carry, time_major, \
    to_sequences
from jaxrl.blocks.rollout import EnvCarry, recurrent_rollout, reset_envs
from jaxrl.envs import Environment


@struct.dataclass
class RecurrentIPPOState:
    params: Any
    opt_state: Any
    env: EnvCarry
    memory: Any  # [B, n, H] (an LSTM: a pair): after each agent's latest observation
    first: jax.Array  # [B] bool: the copy's current observation opens an episode
    returns: jax.Array  # [B, n] each agent's return so far in the running episode
    key: jax.Array
    update_step: jax.Array


def build(env: Environment, env_params: Any, config: IPPOConfig, layout: AgentLayout, centralised: bool) -> AgentFns:
    """The recurrent `AgentFns`; `act(params, memory, obs, key, deterministic) -> (memory, actions)`."""
    network = RecurrentActorCritic(
        cell=config.network, size=config.rnn_size, hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation, num_actions=layout.num_actions, action_dim=layout.action_dim,
    )
    n = layout.num_agents
    initial_memory = lambda batch: jax.tree.map(lambda c: c.reshape(batch, n, -1),
                                                initial_carry(config.network, config.rnn_size, batch * n))

    def forward(params, memory, obs: dict, first: jax.Array):
        """`memory [B, n, H]`, `obs` dict of `[T, B, ...]`, `first [T, B]` -> `(memory, dist [T, B, n],
        value [T, B, n])`."""
        steps, copies = first.shape
        memory = jax.tree.map(lambda c: c.reshape(copies * n, *c.shape[2:]), memory)
        flat = lambda x: x.reshape(steps, copies * n, *x.shape[3:])  # [T, B, n, ...] -> [T, B * n, ...]
        x = jax.vmap(layout.inputs)(obs)
        critic_in = flat(jax.vmap(layout.critic_inputs)(obs)) if centralised else None
        agent_first = jnp.repeat(first, n, axis=1)
        memory, dist, value = network.apply(params, memory, flat(x), agent_first, critic_in)
        memory = jax.tree.map(lambda c: c.reshape(copies, n, *c.shape[1:]), memory)
        unflat = lambda y: y.reshape(steps, copies, n, *y.shape[2:])
        dist = jax.tree.map(unflat, dist)
        return memory, jax.vmap(layout.masked)(dist, obs), unflat(value)

    def step(params, memory, obs: dict, first: jax.Array, key: jax.Array, deterministic: bool):
        one = lambda x: x[None]
        memory, dist, value = forward(params, memory, jax.tree.map(one, obs), first[None])
        action = dist.mode() if deterministic else dist.sample(key)
        return memory, action[0], dist.log_prob(action)[0], value[0]

    def init(key: jax.Array, hparams: PPOHparams) -> RecurrentIPPOState:
        key, key_net, key_env = jax.random.split(key, 3)
        env_carry = reset_envs(env, env_params, key_env, config.num_envs)
        obs = jax.tree.map(lambda x: x[None, :1], env_carry.obs)
        first = jnp.ones((1, 1), bool)
        x = jax.vmap(layout.inputs)(obs).reshape(1, n, -1)
        critic_in = jax.vmap(layout.critic_inputs)(obs).reshape(1, n, -1) if centralised else None
        params = network.init(key_net, initial_carry(config.network, config.rnn_size, n), x,
                              jnp.repeat(first, n, axis=1), critic_in)
        opt_state = optimizer_for(hparams, hparams.learning_rate).init(params)
        returns = jnp.zeros((config.num_envs, n), jnp.float32)
        return RecurrentIPPOState(params, opt_state, env_carry, initial_memory(config.num_envs),
                                  jnp.ones(config.num_envs, bool), returns, key, jnp.int32(0))

    def act(params, memory, obs: dict, key: jax.Array, deterministic: bool = False):
        copies = jax.tree.leaves(obs)[0].shape[0]
        memory, action, _, _ = step(params, memory, obs, jnp.zeros(copies, bool), key, deterministic)
        return memory, layout.env_actions(action)

    def update(state: RecurrentIPPOState, hparams: PPOHparams):
        key, key_rollout, key_epochs, key_entropy = jax.random.split(state.key, 4)

        def behaviour(memory, obs, first, key):
            new_memory, action, log_prob, value = step(state.params, memory, obs, first, key, False)
            extras = {"action": action, "log_prob": log_prob, "value": value, "memory": memory}
            return new_memory, layout.env_actions(action), extras

        (env_carry, memory, first), traj = recurrent_rollout(
            env, env_params, behaviour, state.env, state.memory, state.first, key_rollout, config.num_steps
        )
        _, _, next_values = forward(state.params, *bootstrap_inputs(carries_after(traj.extras["memory"], memory),
                                                                    traj.next_obs))
        next_values = next_values.reshape(traj.reward.shape + (n,))
        batch = agent_batch(traj, next_values, hparams, layout)
        batch["first"] = first_flags(state.first, traj.terminated, traj.truncated)
        sequences, starts = to_sequences(batch, traj.extras["memory"], config.sequence_length)
        learning_rate = learning_rate_at(hparams.learning_rate, state.update_step, config.num_updates,
                                         config.anneal_lr)

        def loss_fn(params, mb, key_entropy):
            seq = jax.tree.map(time_major, mb["sequence"])
            _, dist, value = forward(params, mb["start"], seq["obs"], seq["first"])
            return ppo_loss(dist, value, seq, hparams, config.normalize_advantages, config.clip_vloss, None)

        (params, opt_state, _), stats = minibatch_epochs(
            sgd_step(loss_fn, optimizer_for(hparams, learning_rate), False),
            (state.params, state.opt_state, key_entropy), {"sequence": sequences, "start": starts},
            key_epochs, config.update_epochs, config.num_minibatches,
        )
        returns, agent_metrics = agent_episode_returns(state.returns, traj, layout)
        metrics = {**update_metrics(stats, batch, hparams, learning_rate, traj.episode), **agent_metrics}
        new_state = RecurrentIPPOState(params, opt_state, env_carry, memory, first, returns, key,
                                       state.update_step + 1)
        return new_state, metrics

    return AgentFns(init=init, update=update, policy=lambda state: state.params, act=act,
                    steps_per_update=config.batch_size, initial_memory=initial_memory)
