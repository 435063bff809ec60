"""Proximal Policy Optimisation (clipped objective) for `Discrete` and `Box` action spaces.

One `update` = a rollout of `num_steps` x `num_envs` transitions, truncation-correct GAE, then
`update_epochs` passes of `num_minibatches` shuffled minibatches. Config names follow CleanRL and
PureJaxRL. Continuous actions come from a Gaussian head and are either clipped to the action box
(`action_squash="clip"`, CleanRL's choice) or squashed by tanh and rescaled (`"tanh"`, with the
log-det correction in the log-probability).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl.agents.base import (
    AgentFns, AgentSpec, EncoderOptions, MemoryOptions, episode_metrics, flatten_obs, network_input,
)
from jaxrl.agents.validation import check_minibatches, checked
from jaxrl.blocks.action_masks import masked_policy
from jaxrl.blocks.distributions import TanhGaussian
from jaxrl.envs import Environment, spaces
from jaxrl.envs.running_stats import RunningMeanStd, normalize_with_stats, update_running_stats_batch
from jaxrl.blocks.losses import approx_kl, clipped_surrogate_loss, explained_variance, value_loss
from jaxrl.blocks.minibatch import minibatch_epochs
from jaxrl.blocks.networks import ActorCritic
from jaxrl.blocks.optim import learning_rate_at, make_optimizer
from jaxrl.blocks.returns import gae
from jaxrl.blocks.rollout import EnvCarry, reset_envs, rollout


@dataclasses.dataclass(frozen=True)
class PPOConfig(MemoryOptions, EncoderOptions):
    """Static settings: changing one recompiles. `network="gru"`/`"lstm"`: see `ppo_rnn`;
    `encoder`/`cnn` (images, dict observations): see `EncoderOptions`."""

    num_envs: int = checked(4, ">= 1")
    num_steps: int = checked(128, ">= 1")
    update_epochs: int = checked(4, ">= 1")
    num_minibatches: int = checked(4, ">= 1")
    total_timesteps: int = 500_000
    anneal_lr: bool = True
    normalize_obs: bool = False
    normalize_advantages: bool = True
    clip_vloss: bool = False
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    action_squash: str = checked("clip", ("clip", "tanh"))

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size


@struct.dataclass
class PPOHparams:
    """Traced settings: a sweep over these compiles once."""

    learning_rate: float = checked(2.5e-4, "> 0")
    gamma: float = checked(0.99, "[0, 1]")
    gae_lambda: float = checked(0.95, "[0, 1]")
    clip_eps: float = checked(0.2, "> 0")
    ent_coef: float = checked(0.01, ">= 0")
    vf_coef: float = checked(0.5, ">= 0")
    max_grad_norm: float = checked(0.5, "> 0")
    reward_scale: float = checked(1.0, "> 0")


@struct.dataclass
class PPOPolicy:
    """What acting needs: network parameters and observation statistics."""

    params: Any
    obs_stats: RunningMeanStd


@struct.dataclass
class PPOState:
    policy: PPOPolicy
    opt_state: Any
    env: EnvCarry
    key: jax.Array
    update_step: jax.Array  # int32 count of updates done; env steps = update_step * batch_size


def build(env: Environment, env_params: Any, config: PPOConfig, surrogate: Surrogate | None = None) -> AgentFns:
    """PPO's pure functions; `surrogate` replaces the clipped policy objective (e.g. `agents.lpo`)."""
    SPEC.validate(config)
    obs_space, action_space = env.observation_space(env_params), env.action_space(env_params)
    check_spaces(obs_space, action_space)
    if config.recurrent:
        from jaxrl.agents import ppo_rnn

        return ppo_rnn.build(env, env_params, config)
    obs_ndim = len(obs_space.shape)
    discrete = isinstance(action_space, spaces.Discrete)
    encoder, prepare, dummy_input = network_input(obs_space, config, "PPO")
    network = ActorCritic(**head_settings(config, action_space), encoder=encoder)
    to_env_action = action_transform(action_space, config.action_squash)
    tanh = not discrete and config.action_squash == "tanh"

    def forward(policy: PPOPolicy, obs: jax.Array):
        x = prepare(obs)
        if config.normalize_obs:
            x = normalize_with_stats(policy.obs_stats, x, clip=10.0)
        dist, value = network.apply(policy.params, x)
        return (TanhGaussian(dist.mean, dist.log_std) if tanh else masked_policy(dist, obs)), value

    def init(key: jax.Array, hparams: PPOHparams) -> PPOState:
        key, key_net, key_env = jax.random.split(key, 3)
        dummy = dummy_input()
        params = network.init(key_net, dummy)
        policy = PPOPolicy(params=params, obs_stats=obs_stats_like(dummy, encoder))
        opt_state = optimizer_for(hparams, hparams.learning_rate).init(params)
        env_carry = reset_envs(env, env_params, key_env, config.num_envs)
        return PPOState(policy, opt_state, env_carry, key, jnp.int32(0))

    def act(policy: PPOPolicy, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array:
        dist, _ = forward(policy, obs)
        return to_env_action(dist.mode() if deterministic else dist.sample(key))

    def update(state: PPOState, hparams: PPOHparams) -> tuple[PPOState, dict[str, jax.Array]]:
        # split(k, 4)[:3] == split(k, 3) (partitionable threefry): adding key_entropy left the others.
        key, key_rollout, key_epochs, key_entropy = jax.random.split(state.key, 4)
        policy = state.policy

        def behaviour(obs, key):
            dist, value = forward(policy, obs)
            action = dist.sample(key)
            return to_env_action(action), {"action": action, "log_prob": dist.log_prob(action), "value": value}

        env_carry, traj = rollout(env, env_params, behaviour, state.env, key_rollout, config.num_steps)
        _, next_values = forward(policy, traj.next_obs)
        rewards = traj.reward * hparams.reward_scale
        advantages, targets = gae(
            rewards, traj.extras["value"], next_values, traj.terminated, traj.truncated,
            hparams.gamma, hparams.gae_lambda,
        )
        batch = {
            "obs": traj.obs, "action": traj.extras["action"], "log_prob": traj.extras["log_prob"],
            "value": traj.extras["value"], "advantage": advantages, "target": targets,
        }
        batch = jax.tree.map(lambda x: x.reshape(config.batch_size, *x.shape[2:]), batch)

        learning_rate = learning_rate_at(hparams.learning_rate, state.update_step, config.num_updates,
                                         config.anneal_lr)
        optimizer = optimizer_for(hparams, learning_rate)

        def loss_fn(params, mb, key_entropy):
            dist, value = forward(policy.replace(params=params), mb["obs"])
            return ppo_loss(dist, value, mb, hparams, config.normalize_advantages, config.clip_vloss,
                            key_entropy if tanh else None, surrogate, state.update_step)

        # Not fold_in(key_epochs, 1): that equals split(key_epochs)[1], whose bits the permutations draw.
        (params, opt_state, _), stats = minibatch_epochs(
            sgd_step(loss_fn, optimizer, tanh), (policy.params, state.opt_state, key_entropy), batch,
            key_epochs, config.update_epochs, config.num_minibatches,
        )
        obs_stats = policy.obs_stats
        if config.normalize_obs:
            obs_stats = update_running_stats_batch(obs_stats, flatten_obs(batch["obs"], obs_ndim))
        new_state = PPOState(
            PPOPolicy(params, obs_stats), opt_state, env_carry, key, state.update_step + 1
        )
        metrics = update_metrics(stats, batch, hparams, learning_rate, traj.episode)
        return new_state, metrics

    return AgentFns(
        init=init,
        update=update,
        policy=lambda state: state.policy,
        act=act,
        steps_per_update=config.batch_size,
    )


def head_settings(config: PPOConfig, action_space: spaces.Space) -> dict[str, Any]:
    """The actor-critic's torso and head settings for `action_space` (a Discrete or Box)."""
    discrete = isinstance(action_space, spaces.Discrete)
    return dict(hidden_sizes=tuple(config.hidden_sizes), activation=config.activation,
                num_actions=action_space.n if discrete else None,
                action_dim=None if discrete else int(np.prod(action_space.shape)))


def obs_stats_like(dummy: Any, encoder: Any) -> RunningMeanStd:
    """Normaliser statistics for the flat network input `dummy [1, d]` (a placeholder of one
    coordinate when an encoder reads the observations: normalize_obs is for flat vectors)."""
    return RunningMeanStd.zeros_like(dummy[0] if encoder is None else jnp.zeros((1,), jnp.float32))


def check_spaces(obs_space: spaces.Space, action_space: spaces.Space) -> None:
    """Observation spaces are checked by the encoder choice (`network_input`)."""
    if not isinstance(action_space, (spaces.Discrete, spaces.Box)):
        raise ValueError(f"PPO supports Discrete and Box action spaces, got {action_space!r}.")


class Surrogate(Protocol):
    """`surrogate(log_prob, old_log_prob, advantage, hparams, update_step) -> (loss, ratio)`: a policy loss."""

    def __call__(self, log_prob: jax.Array, old_log_prob: jax.Array, advantage: jax.Array, hparams: Any,
                 update_step: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The policy loss of a minibatch (`[N]` inputs; `update_step`: updates done before this one)
        and the ratios `[N]`: `(loss, ratio)`."""


def clipped_surrogate(log_prob, old_log_prob, advantage, hparams, update_step):
    """PPO's `Surrogate`: the clipped objective at `hparams.clip_eps`."""
    return clipped_surrogate_loss(log_prob, old_log_prob, advantage, hparams.clip_eps)


def ppo_loss(dist, value, mb, hparams: PPOHparams, normalize_advantages: bool, clip_vloss: bool,
             key_entropy: jax.Array | None, surrogate: Surrogate | None = None, update_step: Any = 0):
    """The PPO objective of a minibatch `mb` (action, log_prob, value, advantage, target, each
    shaped like `value`) under the current `dist` and `value`: `(loss, stats)`. A key for the
    entropy estimate of a tanh-Gaussian, None for distributions with a closed-form entropy.
    `surrogate` (default: the clipped objective) gives the policy loss; see `Surrogate`."""
    log_prob = dist.log_prob(mb["action"])
    advantage = mb["advantage"]
    if normalize_advantages:
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
    pg_loss, ratio = (surrogate or clipped_surrogate)(log_prob, mb["log_prob"], advantage, hparams, update_step)
    v_loss = value_loss(value, mb["value"], mb["target"], hparams.clip_eps, clip_vloss)
    entropy = dist.entropy().mean() if key_entropy is None else _entropy(dist, key_entropy)
    total = pg_loss + hparams.vf_coef * v_loss - hparams.ent_coef * entropy
    stats = {
        "policy_loss": pg_loss,
        "value_loss": v_loss,
        "entropy": entropy,
        "approx_kl": approx_kl(log_prob - mb["log_prob"]),
        "clip_fraction": jnp.mean((jnp.abs(ratio - 1.0) > hparams.clip_eps).astype(jnp.float32)),
    }
    return total, stats


def sgd_step(loss_fn, optimizer: optax.GradientTransformation, tanh: bool):
    """`step((params, opt_state, key_entropy), minibatch)` for `minibatch_epochs`: one gradient step
    on `loss_fn(params, minibatch, key) -> (loss, stats)`; only a tanh-Gaussian's entropy draws keys."""

    def step(carry, mb):
        params, opt_state, key_entropy = carry
        key_step = None
        if tanh:
            key_entropy, key_step = jax.random.split(key_entropy)
        grads, stats = jax.grad(loss_fn, has_aux=True)(params, mb, key_step)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        stats["grad_norm"] = optax.tree.norm(grads)
        return (optax.apply_updates(params, updates), opt_state, key_entropy), stats

    return step


def update_metrics(stats, batch, hparams: PPOHparams, learning_rate, episode) -> dict[str, jax.Array]:
    """An update's metrics: the means of the minibatch `stats`, the critic's fit on `batch`, the
    learning rate and the finished episodes' sums."""
    metrics = {k: v.mean() for k, v in stats.items()}
    metrics.update(
        explained_variance=explained_variance(batch["value"], batch["target"]),
        value_mean=batch["value"].mean() / hparams.reward_scale,
        learning_rate=learning_rate,
        **episode_metrics(episode),
    )
    return metrics


def optimizer_for(hparams: PPOHparams, learning_rate: jax.Array) -> optax.GradientTransformation:
    return make_optimizer(learning_rate, hparams.max_grad_norm, "adam", eps=1e-5)


def _entropy(dist: TanhGaussian, key: jax.Array) -> jax.Array:
    """A one-sample estimate of the tanh-Gaussian's entropy (it has no closed form)."""
    _, log_prob = dist.sample_and_log_prob(key)
    return -log_prob.mean()


def action_transform(action_space: spaces.Space, squash: str):
    """Policy sample -> env action: identity (Discrete), clip to the box, or tanh-rescale."""
    if isinstance(action_space, spaces.Discrete):
        return lambda a: a
    low, high = action_space.low, action_space.high
    shape = action_space.shape
    if squash == "tanh":
        if not action_space.bounded:
            raise ValueError(f"action_squash='tanh' needs a bounded action box, got {action_space!r}.")
        return lambda a: (low + (a + 1.0) * 0.5 * (high - low)).reshape(*a.shape[:-1], *shape)
    return lambda a: jnp.clip(a, low, high).reshape(*a.shape[:-1], *shape)


SPEC = AgentSpec(
    name="ppo",
    config_cls=PPOConfig,
    hparams_cls=PPOHparams,
    build=build,
    config_checks=check_minibatches,
    description="Proximal Policy Optimisation (clipped), discrete and continuous actions",
    recurrent=True,
)
