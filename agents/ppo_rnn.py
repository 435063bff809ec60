"""PPO with memory (`network="gru"` or `"lstm"`): PPO's objective on a recurrent actor-critic.

The rollout carries each env copy's memory and zeroes it where an episode starts; every step's
starting memory is kept. Bootstrap values come from the memory after the step, read on the true
final observation (so truncations bootstrap correctly, as in feed-forward PPO). Training cuts the
rollout into sequences of `seq_len` steps (default: the whole rollout, as PureJaxRL's PPO-RNN),
shuffles whole sequences into `num_minibatches` minibatches, and re-runs each from the memory stored
at its first step (`jaxrl.blocks.recurrent`). The settings and objective are PPO's (`agents.ppo`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.agents.base import AgentFns, flatten_obs, network_input
from jaxrl.agents.ppo import (
    PPOConfig, PPOHparams, PPOPolicy, action_transform, head_settings, obs_stats_like, optimizer_for, ppo_loss,
    sgd_step, update_metrics,
)
from jaxrl.blocks.action_masks import masked_policy
from jaxrl.blocks.distributions import TanhGaussian
from jaxrl.blocks.minibatch import minibatch_epochs
from jaxrl.blocks.networks import RecurrentActorCritic
from jaxrl.blocks.optim import learning_rate_at
from jaxrl.blocks.recurrent import bootstrap_inputs, carries_after, first_flags, initial_carry, time_major, to_sequences
from jaxrl.blocks.returns import gae
from jaxrl.blocks.rollout import EnvCarry, recurrent_rollout, reset_envs
from jaxrl.envs import Environment, spaces
from jaxrl.envs.running_stats import normalize_with_stats, update_running_stats_batch


@struct.dataclass
class RecurrentPPOState:
    policy: PPOPolicy
    opt_state: Any
    env: EnvCarry
    memory: Any  # [num_envs, rnn_size] (an LSTM: a pair): after each copy's latest observation
    first: jax.Array  # [num_envs] bool: the copy's current observation opens an episode
    key: jax.Array
    update_step: jax.Array  # int32 count of updates done


def build(env: Environment, env_params: Any, config: PPOConfig) -> AgentFns:
    """PPO's `AgentFns` with memory; `act(policy, memory, obs, key, deterministic) -> (memory, action)`."""
    obs_space, action_space = env.observation_space(env_params), env.action_space(env_params)
    obs_ndim = len(obs_space.shape)
    discrete = isinstance(action_space, spaces.Discrete)
    encoder, prepare, dummy_input = network_input(obs_space, config, "PPO")
    network = RecurrentActorCritic(cell=config.network, size=config.rnn_size, **head_settings(config, action_space),
                                   encoder=encoder)
    to_env_action = action_transform(action_space, config.action_squash)
    tanh = not discrete and config.action_squash == "tanh"
    initial_memory = lambda batch: initial_carry(config.network, config.rnn_size, batch)

    def forward(policy: PPOPolicy, memory, obs: jax.Array, first: jax.Array):
        """`memory [B, H]`, `obs [T, B, ...]`, `first [T, B]` -> `(memory, dist [T, B], value [T, B])`."""
        x = prepare(obs)
        if config.normalize_obs:
            x = normalize_with_stats(policy.obs_stats, x, clip=10.0)
        memory, dist, value = network.apply(policy.params, memory, x, first)
        return memory, (TanhGaussian(dist.mean, dist.log_std) if tanh else masked_policy(dist, obs)), value

    def step(policy: PPOPolicy, memory, obs: jax.Array, first: jax.Array, key: jax.Array, deterministic: bool):
        """One step of every copy: `(memory, raw action [B, ...], log_prob [B], value [B])`."""
        memory, dist, value = forward(policy, memory, jax.tree.map(lambda x: x[None], obs), first[None])
        action = dist.mode() if deterministic else dist.sample(key)
        return memory, action[0], dist.log_prob(action)[0], value[0]

    def init(key: jax.Array, hparams: PPOHparams) -> RecurrentPPOState:
        key, key_net, key_env = jax.random.split(key, 3)
        dummy = dummy_input()
        params = network.init(key_net, initial_memory(1), jax.tree.map(lambda x: x[None], dummy),
                              jnp.zeros((1, 1), bool))
        policy = PPOPolicy(params=params, obs_stats=obs_stats_like(dummy, encoder))
        opt_state = optimizer_for(hparams, hparams.learning_rate).init(params)
        env_carry = reset_envs(env, env_params, key_env, config.num_envs)
        first = jnp.ones(config.num_envs, bool)
        return RecurrentPPOState(policy, opt_state, env_carry, initial_memory(config.num_envs), first, key,
                                 jnp.int32(0))

    def act(policy: PPOPolicy, memory, obs: jax.Array, key: jax.Array, deterministic: bool = False):
        no_reset = jnp.zeros(jax.tree.leaves(obs)[0].shape[:1], bool)
        memory, action, _, _ = step(policy, memory, obs, no_reset, key, deterministic)
        return memory, to_env_action(action)

    def update(state: RecurrentPPOState, hparams: PPOHparams):
        key, key_rollout, key_epochs, key_entropy = jax.random.split(state.key, 4)
        policy = state.policy

        def behaviour(memory, obs, first, key):
            new_memory, action, log_prob, value = step(policy, memory, obs, first, key, False)
            extras = {"action": action, "log_prob": log_prob, "value": value, "memory": memory}
            return new_memory, to_env_action(action), extras

        (env_carry, memory, first), traj = recurrent_rollout(
            env, env_params, behaviour, state.env, state.memory, state.first, key_rollout, config.num_steps
        )
        _, _, next_values = forward(policy, *bootstrap_inputs(carries_after(traj.extras["memory"], memory),
                                                              traj.next_obs))
        next_values = next_values.reshape(traj.reward.shape)
        advantages, targets = gae(
            traj.reward * hparams.reward_scale, traj.extras["value"], next_values, traj.terminated,
            traj.truncated, hparams.gamma, hparams.gae_lambda,
        )
        batch = {
            "obs": traj.obs, "first": first_flags(state.first, traj.terminated, traj.truncated),
            "action": traj.extras["action"], "log_prob": traj.extras["log_prob"],
            "value": traj.extras["value"], "advantage": advantages, "target": targets,
        }
        sequences, starts = to_sequences(batch, traj.extras["memory"], config.sequence_length)

        learning_rate = learning_rate_at(hparams.learning_rate, state.update_step, config.num_updates,
                                         config.anneal_lr)

        def loss_fn(params, mb, key_entropy):
            seq = jax.tree.map(time_major, mb["sequence"])
            _, dist, value = forward(policy.replace(params=params), mb["start"], seq["obs"], seq["first"])
            return ppo_loss(dist, value, seq, hparams, config.normalize_advantages, config.clip_vloss,
                            key_entropy if tanh else None)

        (params, opt_state, _), stats = minibatch_epochs(
            sgd_step(loss_fn, optimizer_for(hparams, learning_rate), tanh),
            (policy.params, state.opt_state, key_entropy), {"sequence": sequences, "start": starts},
            key_epochs, config.update_epochs, config.num_minibatches,
        )
        obs_stats = policy.obs_stats
        if config.normalize_obs:
            flat = flatten_obs(traj.obs, obs_ndim).reshape(config.batch_size, -1)
            obs_stats = update_running_stats_batch(obs_stats, flat)
        new_state = RecurrentPPOState(PPOPolicy(params, obs_stats), opt_state, env_carry, memory, first, key,
                                      state.update_step + 1)
        return new_state, update_metrics(stats, batch, hparams, learning_rate, traj.episode)

    return AgentFns(init=init, update=update, policy=lambda state: state.policy, act=act,
                    steps_per_update=config.batch_size, initial_memory=initial_memory)

