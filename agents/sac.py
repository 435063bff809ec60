"""Soft Actor-Critic for `Box` actions (tanh-Gaussian policy) and `Discrete` actions.

One `update` = `num_steps` steps of each of `num_envs` env copies into the replay buffer (uniform
random actions until `learning_starts` transitions are stored), then `gradient_steps` steps on
sampled batches: twin (`num_critics`) soft Q critics against Polyak-averaged targets, the actor,
and (with `autotune`) the temperature alpha towards a target entropy of
`-target_entropy_scale * action_dim` (continuous) or `target_entropy_ratio * log(num_actions)`
(discrete, below the uniform policy's log(num_actions); Christodoulou 2019, with expectations over
actions instead of samples).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl.agents.base import AgentFns, AgentSpec, EncoderOptions, network_input
from jaxrl.agents.offpolicy import (
    collect, collection_metrics, learn_when_ready, polyak, ready_to_learn, transition_example, unit_box_scaling,
)
from jaxrl.agents.validation import check_replay_sizes, checked
from jaxrl.envs import Environment, spaces
from jaxrl.blocks.action_masks import NO_ACTION, masked_policy
from jaxrl.blocks.exploration import uniform_warmup
from jaxrl.envs.multi import AVAIL_ACTIONS
from jaxrl.blocks.networks import CategoricalActor, Critics, SquashedGaussianActor
from jaxrl.blocks.optim import make_optimizer
from jaxrl.blocks.replay import ReplayBuffer, ReplayState
from jaxrl.blocks.rollout import EnvCarry, reset_envs


@dataclasses.dataclass(frozen=True)
class SACConfig(EncoderOptions):
    """Static settings: changing one recompiles. `encoder`/`cnn` (images, dict observations;
    discrete actions only): see `EncoderOptions`."""

    num_envs: int = checked(4, ">= 1")
    num_steps: int = checked(1, ">= 1")  # env steps per env copy per update
    gradient_steps: int = checked(4, ">= 1")  # gradient steps per update
    total_timesteps: int = 10_000
    buffer_size: int = checked(100_000, ">= 1")
    batch_size: int = checked(256, ">= 1")
    learning_starts: int = checked(1_000, ">= 0")  # uniform random actions until this many transitions are stored
    num_critics: int = checked(2, ">= 1")
    autotune: bool = True
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "relu"

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update


@struct.dataclass
class SACHparams:
    """Traced settings: a sweep over these compiles once."""

    learning_rate: float = checked(3e-3, "> 0")  # actor, critics and temperature
    gamma: float = checked(0.99, "[0, 1]")
    tau: float = checked(0.02, "(0, 1]")
    init_alpha: float = checked(1.0, "> 0")  # the fixed temperature when autotune is off
    target_entropy_scale: float = checked(1.0, ">= 0")  # continuous: target entropy -scale * action_dim
    target_entropy_ratio: float = checked(0.7, "[0, 1)")  # discrete: target entropy ratio * log(num_actions)
    max_grad_norm: float = checked(10.0, "> 0")


def soft_target_continuous(reward, terminated, gamma, next_q, next_log_prob, alpha):
    """`r + gamma (1 - terminated) (min_i Q'_i(s', a') - alpha log pi(a'|s'))`, `a' ~ pi(s')`.

    `reward`, `terminated`, `next_log_prob`: `[B]`; `next_q`: `[num_critics, B]` -> `[B]`.
    """
    soft_value = jnp.min(next_q, axis=0) - alpha * next_log_prob
    return reward + gamma * (1.0 - terminated.astype(reward.dtype)) * soft_value


def soft_target_discrete(reward, terminated, gamma, next_q, next_logits, alpha):
    """`r + gamma (1 - terminated) sum_a pi(a|s') (min_i Q'_i(s', a) - alpha log pi(a|s'))`.

    `reward`, `terminated`: `[B]`; `next_q`: `[num_critics, B, A]`; `next_logits`: `[B, A]` -> `[B]`.
    """
    log_probs = jax.nn.log_softmax(next_logits)
    soft_value = jnp.sum(jnp.exp(log_probs) * (jnp.min(next_q, axis=0) - alpha * log_probs), axis=-1)
    return reward + gamma * (1.0 - terminated.astype(reward.dtype)) * soft_value


@struct.dataclass
class SACPolicy:
    actor_params: Any


@struct.dataclass
class SACLearner:
    actor_params: Any
    critic_params: Any
    target_critic_params: Any
    log_alpha: jax.Array
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any
    buffer: ReplayState


@struct.dataclass
class SACState:
    learner: SACLearner
    env: EnvCarry
    key: jax.Array
    update_step: jax.Array  # int32; env steps = update_step * steps_per_update


class _ActionHead(NamedTuple):
    """What depends on the action space. Shapes: `obs` `[B, obs_dim]` (flat); policy actions ints `[B]`
    (Discrete) or in the unit box `[B, d]` (Box); `dist` an actor output for `[B]` observations.

    * `actor`: flat obs -> action distribution; `to_env`/`to_unit`: policy <-> env actions;
    * `init_critics(key, dummy_obs [1, obs_dim]) -> params`;
    * `q_taken(critic_params, obs, action) -> [num_critics, B]`;
    * `noise(key, next_dist)`: the learn step's policy noise (None for Discrete);
    * `soft_target(target_params, next_obs, next_dist, reward, terminated, gamma, alpha, noise) -> [B]`;
    * `actor_loss(critic_params, dist, obs, alpha, noise) -> (loss, mean entropy)`;
    * `explore(dist, warmup, key) -> policy actions`: the behaviour (uniform while `warmup`);
    * `target_entropy(hparams)`: autotune's entropy target.
    """

    actor: nn.Module
    to_env: Callable
    to_unit: Callable
    init_critics: Callable
    q_taken: Callable
    noise: Callable
    soft_target: Callable
    actor_loss: Callable
    explore: Callable
    target_entropy: Callable


def _discrete_head(action_space: spaces.Discrete, config: SACConfig, encoder: Any, has_mask: bool) -> _ActionHead:
    """Categorical policy; critics output `[num_critics, B, A]`; expectations over actions. With
    `has_mask` the warm-up's uniform actions are drawn among the available ones."""
    num_actions, hidden = action_space.n, tuple(config.hidden_sizes)
    critics = Critics(config.num_critics, hidden, config.activation, num_actions=num_actions, encoder=encoder)

    def q_taken(params, obs, action):
        q = critics.apply(params, obs)
        return jnp.take_along_axis(q, action[None, :, None].astype(jnp.int32), axis=-1)[..., 0]

    def soft_target(target_params, next_obs, next_dist, reward, terminated, gamma, alpha, noise):
        next_q = critics.apply(target_params, next_obs)
        return soft_target_discrete(reward, terminated, gamma, next_q, next_dist.logits, alpha)

    def actor_loss(critic_params, dist, obs, alpha, noise):
        log_probs = jax.nn.log_softmax(dist.logits)
        probs = jnp.exp(log_probs)
        min_q = jnp.min(critics.apply(critic_params, obs), axis=0)
        loss = jnp.mean(jnp.sum(probs * (alpha * log_probs - min_q), axis=-1))
        return loss, jnp.mean(-jnp.sum(probs * log_probs, axis=-1))

    def explore(dist, warmup, key):
        key_policy, key_random = jax.random.split(key)
        if has_mask:  # masked logits sit at NO_ACTION (blocks.action_masks)
            random = jax.random.categorical(key_random, jnp.where(dist.logits > NO_ACTION / 2, 0.0, NO_ACTION))
        else:
            random = jax.random.randint(key_random, dist.logits.shape[:-1], 0, num_actions)
        return jnp.where(warmup, random, dist.sample(key_policy))

    return _ActionHead(
        CategoricalActor(num_actions, hidden, config.activation, encoder=encoder), lambda a: a, lambda a: a, critics.init,
        q_taken, lambda key, dist: None, soft_target, actor_loss, explore,
        lambda hparams: hparams.target_entropy_ratio * jnp.log(float(num_actions)),
    )


def _continuous_head(action_space: spaces.Box, config: SACConfig) -> _ActionHead:
    """Tanh-Gaussian policy in the unit box; critics take `(obs, action)` -> `[num_critics, B]`."""
    action_dim, hidden = int(np.prod(action_space.shape)), tuple(config.hidden_sizes)
    critics = Critics(config.num_critics, hidden, config.activation)
    to_env, to_unit = unit_box_scaling(action_space)

    def noise(key, next_dist):
        # Both policy samples' noise in one draw: each random-number site costs compile time.
        return jax.random.normal(key, (2, *next_dist.mean.shape), next_dist.mean.dtype)

    def soft_target(target_params, next_obs, next_dist, reward, terminated, gamma, alpha, noise):
        next_action, next_log_prob = next_dist.transform_and_log_prob(noise[0])
        next_q = critics.apply(target_params, next_obs, next_action)
        return soft_target_continuous(reward, terminated, gamma, next_q, next_log_prob, alpha)

    def actor_loss(critic_params, dist, obs, alpha, noise):
        new_action, log_prob = dist.transform_and_log_prob(noise[1])
        min_q = jnp.min(critics.apply(critic_params, obs, new_action), axis=0)
        return jnp.mean(alpha * log_prob - min_q), jnp.mean(-log_prob)

    def explore(dist, warmup, key):
        return uniform_warmup(warmup, lambda z: dist.transform_and_log_prob(z)[0], key, dist.mean.shape)

    return _ActionHead(
        SquashedGaussianActor(action_dim, hidden, config.activation), to_env, to_unit,
        lambda key, obs: critics.init(key, obs, jnp.zeros((1, action_dim), jnp.float32)),
        critics.apply, noise, soft_target, actor_loss, explore,
        lambda hparams: -hparams.target_entropy_scale * action_dim,
    )


def build(env: Environment, env_params: Any, config: SACConfig) -> AgentFns:
    SPEC.validate(config)
    obs_space, action_space = env.observation_space(env_params), env.action_space(env_params)
    continuous = isinstance(action_space, spaces.Box)
    # Continuous actions: flat observations, as before encoders (ContinuousQ has no encoder).
    encoder, flat, dummy_input = network_input(
        obs_space, EncoderOptions(encoder="flatten") if continuous else config, "SAC")
    if isinstance(action_space, spaces.Discrete):
        has_mask = isinstance(obs_space, spaces.Dict) and AVAIL_ACTIONS in obs_space.spaces
        head = _discrete_head(action_space, config, encoder, has_mask)
    elif continuous:
        if encoder is not None:
            raise ValueError(f"SAC with Box actions reads Box observations (flattened), got {obs_space!r}.")
        head = _continuous_head(action_space, config)
    else:
        raise ValueError(f"SAC supports Discrete and Box action spaces, got {action_space!r}.")
    actor = head.actor
    # The policy on a network input `x` (masked where `x`, the raw observation of an encoder, carries a mask).
    pi = lambda params, x: masked_policy(actor.apply(params, x), x)
    buffer = ReplayBuffer(config.buffer_size, config.num_envs, config.batch_size)

    def init(key: jax.Array, hparams: SACHparams) -> SACState:
        key, key_actor, key_critic, key_env = jax.random.split(key, 4)
        dummy_obs = dummy_input()
        actor_params = actor.init(key_actor, dummy_obs)
        critic_params = head.init_critics(key_critic, dummy_obs)
        log_alpha = jnp.log(jnp.asarray(hparams.init_alpha, jnp.float32))
        optimizer = make_optimizer(hparams.learning_rate, hparams.max_grad_norm)
        learner = SACLearner(
            actor_params, critic_params, critic_params, log_alpha, optimizer.init(actor_params),
            optimizer.init(critic_params), optimizer.init(log_alpha),
            buffer.init(transition_example(obs_space, action_space)),
        )
        env_carry = reset_envs(env, env_params, key_env, config.num_envs)
        return SACState(learner, env_carry, key, jnp.int32(0))

    def act(policy: SACPolicy, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array:
        dist = pi(policy.actor_params, flat(obs))
        return head.to_env(dist.mode() if deterministic else dist.sample(key))

    def learn_step(hparams: SACHparams, learner: SACLearner, key: jax.Array):
        key_sample, key_noise = jax.random.split(key)
        batch = jax.tree.map(lambda x: x[0], buffer.sample(learner.buffer, key_sample).experience)
        obs, next_obs, action = flat(batch["obs"]), flat(batch["next_obs"]), head.to_unit(batch["action"])
        alpha = jnp.exp(learner.log_alpha)
        optimizer = make_optimizer(hparams.learning_rate, hparams.max_grad_norm)

        next_dist = pi(learner.actor_params, next_obs)
        noise = head.noise(key_noise, next_dist)
        targets = jax.lax.stop_gradient(head.soft_target(
            learner.target_critic_params, next_obs, next_dist, batch["reward"], batch["terminated"],
            hparams.gamma, alpha, noise,
        ))

        def critic_loss_fn(params):
            q = head.q_taken(params, obs, action)
            return 0.5 * jnp.mean(jnp.sum((q - targets[None]) ** 2, axis=0)), q

        (critic_loss, q_taken), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(learner.critic_params)
        updates, critic_opt = optimizer.update(grads, learner.critic_opt, learner.critic_params)
        critic_params = optax.apply_updates(learner.critic_params, updates)

        def actor_loss_fn(params):
            return head.actor_loss(critic_params, pi(params, obs), obs, alpha, noise)

        (actor_loss, entropy), grads = jax.value_and_grad(actor_loss_fn, has_aux=True)(learner.actor_params)
        updates, actor_opt = optimizer.update(grads, learner.actor_opt, learner.actor_params)
        actor_params = optax.apply_updates(learner.actor_params, updates)

        log_alpha, alpha_opt = learner.log_alpha, learner.alpha_opt
        if config.autotune:
            entropy_gap = jax.lax.stop_gradient(entropy - head.target_entropy(hparams))
            alpha_grad = entropy_gap  # d/d(log_alpha) of log_alpha * (entropy - target)
            updates, alpha_opt = optimizer.update(alpha_grad, alpha_opt, log_alpha)
            log_alpha = optax.apply_updates(log_alpha, updates)

        new = SACLearner(
            actor_params, critic_params, polyak(learner.target_critic_params, critic_params, hparams.tau),
            log_alpha, actor_opt, critic_opt, alpha_opt, learner.buffer,
        )
        metrics = {
            "td_loss": critic_loss, "q_mean": jnp.mean(q_taken), "actor_loss": actor_loss,
            "alpha": jnp.exp(log_alpha), "entropy": entropy,
        }
        return new, metrics

    def update(state: SACState, hparams: SACHparams) -> tuple[SACState, dict[str, jax.Array]]:
        key, key_rollout, key_learn = jax.random.split(state.key, 3)
        actor_params = state.learner.actor_params
        warmup = state.learner.buffer.size * config.num_envs < config.learning_starts

        def behaviour(obs, key):
            return head.to_env(head.explore(pi(actor_params, flat(obs)), warmup, key)), {}

        env_carry, buffer_state, traj = collect(
            env, env_params, behaviour, state.env, key_rollout, config.num_steps, buffer, state.learner.buffer
        )
        learner = state.learner.replace(buffer=buffer_state)
        ready = ready_to_learn(buffer, buffer_state, config.learning_starts)
        learner, metrics = learn_when_ready(
            ready, lambda l, k: learn_step(hparams, l, k), learner, key_learn, config.gradient_steps
        )
        metrics.update(collection_metrics(buffer, buffer_state, traj))
        return SACState(learner, env_carry, key, state.update_step + 1), metrics

    return AgentFns(
        init=init,
        update=update,
        policy=lambda state: SACPolicy(state.learner.actor_params),
        act=act,
        steps_per_update=config.steps_per_update,
    )


SPEC = AgentSpec(
    name="sac",
    config_cls=SACConfig,
    hparams_cls=SACHparams,
    build=build,
    config_checks=check_replay_sizes,
    description="Soft Actor-Critic (twin critics, automatic entropy tuning), continuous and discrete actions",
)
