"""TD3 (Fujimoto et al. 2018) for `Box` actions, with DDPG as a configuration of it.

One `update` = `num_steps` steps of each of `num_envs` env copies into the replay buffer (uniform
random actions until `learning_starts` transitions are stored, then the deterministic actor plus
Gaussian noise of std `exploration_noise`, in units of half the action range), followed by
`gradient_steps` steps on sampled batches: `num_critics` critics regress on
`r + gamma (1 - terminated) min_i Q'_i(s', clip(mu'(s') + clip(noise)))` (target policy smoothing
when `target_smoothing`), and every `policy_delay` critic steps the actor ascends `Q_1(s, mu(s))`
and the targets move by Polyak `tau`. DDPG (`ddpg`): one critic, no smoothing, no delay.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl.agents.base import AgentFns, AgentSpec, flatten_obs
from jaxrl.agents.offpolicy import (
    collect, collection_metrics, learn_when_ready, polyak, ready_to_learn, transition_example, unit_box_scaling,
)
from jaxrl.agents.validation import check_replay_sizes, checked
from jaxrl.envs import Environment, spaces
from jaxrl.blocks.exploration import gaussian_noise, perturbed, uniform_warmup
from jaxrl.blocks.networks import Critics, DeterministicActor
from jaxrl.blocks.optim import make_optimizer
from jaxrl.blocks.replay import ReplayBuffer, ReplayState
from jaxrl.blocks.rollout import EnvCarry, reset_envs


@dataclasses.dataclass(frozen=True)
class TD3Config:
    """Static settings: changing one recompiles."""

    num_envs: int = checked(4, ">= 1")
    num_steps: int = checked(1, ">= 1")  # env steps per env copy per update
    gradient_steps: int = checked(4, ">= 1")  # critic steps per update
    total_timesteps: int = 20_000
    buffer_size: int = checked(100_000, ">= 1")
    batch_size: int = checked(256, ">= 1")
    learning_starts: int = checked(1_000, ">= 0")  # uniform random actions until this many transitions are stored
    num_critics: int = checked(2, ">= 1")
    policy_delay: int = checked(2, ">= 1")  # critic steps per actor (and target) step
    target_smoothing: bool = True
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "relu"

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update


@dataclasses.dataclass(frozen=True)
class DDPGConfig(TD3Config):
    """DDPG = TD3 with one critic, no target policy smoothing and no policy delay."""

    num_critics: int = checked(1, ">= 1")
    policy_delay: int = checked(1, ">= 1")
    target_smoothing: bool = False


@struct.dataclass
class TD3Hparams:
    """Traced settings: a sweep over these compiles once. Noise scales are in units of half the
    action range (the policy acts in [-1, 1])."""

    learning_rate: float = checked(1e-3, "> 0")  # actor and critics
    gamma: float = checked(0.99, "[0, 1]")
    tau: float = checked(0.005, "(0, 1]")
    exploration_noise: float = checked(0.1, ">= 0")
    target_noise: float = checked(0.2, ">= 0")
    target_noise_clip: float = checked(0.5, ">= 0")
    max_grad_norm: float = checked(10.0, "> 0")


@struct.dataclass
class TD3Policy:
    actor_params: Any
    exploration_noise: jax.Array


@struct.dataclass
class TD3Learner:
    actor_params: Any
    critic_params: Any
    target_actor_params: Any
    target_critic_params: Any
    actor_opt: Any
    critic_opt: Any
    buffer: ReplayState
    grad_step: jax.Array  # int32


@struct.dataclass
class TD3State:
    learner: TD3Learner
    env: EnvCarry
    exploration_noise: jax.Array
    key: jax.Array
    update_step: jax.Array  # int32; env steps = update_step * steps_per_update


def build(env: Environment, env_params: Any, config: TD3Config) -> AgentFns:
    spec = DDPG_SPEC if isinstance(config, DDPGConfig) else SPEC
    spec.validate(config)
    name = spec.name.upper()
    obs_space, action_space = env.observation_space(env_params), env.action_space(env_params)
    if not isinstance(obs_space, spaces.Box):
        raise ValueError(f"{name} needs a Box observation space, got {obs_space!r}.")
    if not isinstance(action_space, spaces.Box):
        raise ValueError(f"{name} needs a Box action space, got {action_space!r}; use dqn, pqn or sac.")
    obs_ndim = len(obs_space.shape)
    action_dim = int(np.prod(action_space.shape))
    hidden, activation = tuple(config.hidden_sizes), config.activation
    actor = DeterministicActor(action_dim, hidden, activation)
    critics = Critics(config.num_critics, hidden, activation)
    to_env, to_unit = unit_box_scaling(action_space)
    buffer = ReplayBuffer(config.buffer_size, config.num_envs, config.batch_size)
    flat = lambda obs: flatten_obs(obs, obs_ndim)

    def init(key: jax.Array, hparams: TD3Hparams) -> TD3State:
        key, key_actor, key_critic, key_env = jax.random.split(key, 4)
        dummy_obs = jnp.zeros((1, int(np.prod(obs_space.shape))), jnp.float32)
        actor_params = actor.init(key_actor, dummy_obs)
        critic_params = critics.init(key_critic, dummy_obs, jnp.zeros((1, action_dim), jnp.float32))
        optimizer = make_optimizer(hparams.learning_rate, hparams.max_grad_norm)
        learner = TD3Learner(
            actor_params, critic_params, actor_params, critic_params, optimizer.init(actor_params),
            optimizer.init(critic_params), buffer.init(transition_example(obs_space, action_space)), jnp.int32(0),
        )
        env_carry = reset_envs(env, env_params, key_env, config.num_envs)
        return TD3State(learner, env_carry, jnp.float32(hparams.exploration_noise), key, jnp.int32(0))

    def act(policy: TD3Policy, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array:
        action = actor.apply(policy.actor_params, flat(obs))
        if not deterministic:
            action = gaussian_noise(action, policy.exploration_noise, key)
        return to_env(action)

    def learn_step(hparams: TD3Hparams, learner: TD3Learner, key: jax.Array):
        key_sample, key_noise = jax.random.split(key)
        batch = jax.tree.map(lambda x: x[0], buffer.sample(learner.buffer, key_sample).experience)
        obs, next_obs, action = flat(batch["obs"]), flat(batch["next_obs"]), to_unit(batch["action"])
        optimizer = make_optimizer(hparams.learning_rate, hparams.max_grad_norm)

        next_action = actor.apply(learner.target_actor_params, next_obs)
        if config.target_smoothing:
            next_action = gaussian_noise(next_action, hparams.target_noise, key_noise, hparams.target_noise_clip)
        next_q = jnp.min(critics.apply(learner.target_critic_params, next_obs, next_action), axis=0)
        not_terminal = 1.0 - batch["terminated"].astype(jnp.float32)
        targets = jax.lax.stop_gradient(batch["reward"] + hparams.gamma * not_terminal * next_q)

        def critic_loss_fn(params):
            q = critics.apply(params, obs, action)
            return 0.5 * jnp.mean(jnp.sum((q - targets[None]) ** 2, axis=0)), q

        (critic_loss, q_taken), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(learner.critic_params)
        updates, critic_opt = optimizer.update(grads, learner.critic_opt, learner.critic_params)
        critic_params = optax.apply_updates(learner.critic_params, updates)

        def actor_loss_fn(params):
            return -jnp.mean(critics.apply(critic_params, obs, actor.apply(params, obs))[0])

        actor_loss, grads = jax.value_and_grad(actor_loss_fn)(learner.actor_params)
        updates, actor_opt = optimizer.update(grads, learner.actor_opt, learner.actor_params)
        actor_params = optax.apply_updates(learner.actor_params, updates)

        grad_step = learner.grad_step + 1
        due = grad_step % config.policy_delay == 0
        pick = lambda new, old: jax.tree.map(lambda n, o: jnp.where(due, n, o), new, old)
        actor_params, actor_opt = pick((actor_params, actor_opt), (learner.actor_params, learner.actor_opt))
        target_actor = pick(polyak(learner.target_actor_params, actor_params, hparams.tau), learner.target_actor_params)
        target_critic = pick(polyak(learner.target_critic_params, critic_params, hparams.tau),
                             learner.target_critic_params)
        new = TD3Learner(actor_params, critic_params, target_actor, target_critic, actor_opt, critic_opt,
                         learner.buffer, grad_step)
        return new, {"td_loss": critic_loss, "q_mean": jnp.mean(q_taken), "actor_loss": actor_loss}

    def update(state: TD3State, hparams: TD3Hparams) -> tuple[TD3State, dict[str, jax.Array]]:
        key, key_rollout, key_learn = jax.random.split(state.key, 3)
        actor_params = state.learner.actor_params
        warmup = state.learner.buffer.size * config.num_envs < config.learning_starts

        def behaviour(obs, key):
            mean = actor.apply(actor_params, flat(obs))
            noisy = lambda noise: perturbed(mean, hparams.exploration_noise, noise)
            return to_env(uniform_warmup(warmup, noisy, key, mean.shape)), {}

        env_carry, buffer_state, traj = collect(
            env, env_params, behaviour, state.env, key_rollout, config.num_steps, buffer, state.learner.buffer
        )
        learner = state.learner.replace(buffer=buffer_state)
        ready = ready_to_learn(buffer, buffer_state, config.learning_starts)
        learner, metrics = learn_when_ready(
            ready, lambda l, k: learn_step(hparams, l, k), learner, key_learn, config.gradient_steps
        )
        metrics.update(collection_metrics(buffer, buffer_state, traj))
        new_state = TD3State(learner, env_carry, jnp.float32(hparams.exploration_noise), key, state.update_step + 1)
        return new_state, metrics

    return AgentFns(
        init=init,
        update=update,
        policy=lambda state: TD3Policy(state.learner.actor_params, state.exploration_noise),
        act=act,
        steps_per_update=config.steps_per_update,
    )


SPEC = AgentSpec(
    name="td3",
    config_cls=TD3Config,
    hparams_cls=TD3Hparams,
    build=build,
    config_checks=check_replay_sizes,
    description="TD3: twin critics, target policy smoothing, delayed actor updates (continuous actions)",
)

DDPG_SPEC = AgentSpec(
    name="ddpg",
    config_cls=DDPGConfig,
    hparams_cls=TD3Hparams,
    build=build,
    config_checks=check_replay_sizes,
    description="DDPG, as a configuration of TD3 (one critic, no target smoothing, no policy delay)",
)
