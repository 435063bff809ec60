"""Independent PPO (IPPO) and PPO with a centralised critic (MAPPO) for multi-agent envs.

Every agent acts from its own observation with PPO's clipped objective (`agents.ppo`): per-agent
GAE from per-agent rewards, terminations and the time limit (truncations bootstrap from the value
of each agent's final observation), one PPO loss over all agents' transitions. By default the agents
share one network and see a one-hot of their index appended to the observation (JaxMARL's IPPO);
`share_params=False` gives each agent its own network (parameters stacked on an agent axis, one
vmapped program). Observations of different sizes are zero-padded to the largest, `Discrete` action
spaces of different sizes are padded and the padding masked out of the policy, as are the actions
the env's `avail_actions` rules out (the team view's observations carry them). MAPPO's critic reads
the env's `global_state` where it defines one, else the agents' observations concatenated
(`envs.multi.global_state_of`), plus the agent one-hot.

Shapes: `B` env copies, `n` agents, `T` steps; observations stacked to `[B, n, d]`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.agents.base import AgentFns, AgentSpec
from jaxrl.agents.ppo import PPOConfig, PPOHparams, optimizer_for, ppo_loss, sgd_step, update_metrics
from jaxrl.agents.validation import check_minibatches
from jaxrl.blocks.minibatch import minibatch_epochs
from jaxrl.blocks.networks import ActorCritic
from jaxrl.blocks.optim import learning_rate_at
from jaxrl.blocks.returns import gae
from jaxrl.blocks.rollout import EnvCarry, reset_envs, rollout
from jaxrl.envs import Environment, spaces
from jaxrl.envs.multi import AVAIL_ACTIONS, GLOBAL_STATE, TeamView, global_state_of


@dataclasses.dataclass(frozen=True)
class IPPOConfig(PPOConfig):
    """PPO's static settings (`batch_size` counts env steps: each carries every agent's transition)
    and `share_params` (one network for all agents, with the agent index as input)."""

    share_params: bool = True


@struct.dataclass
class IPPOState:
    params: Any  # shared, or stacked on a leading agent axis [n, ...]
    opt_state: Any
    env: EnvCarry
    returns: jax.Array  # [num_envs, n] each agent's return so far in the running episode
    key: jax.Array
    update_step: jax.Array


def build(env: Environment, env_params: Any, config: IPPOConfig, centralised: bool = False) -> AgentFns:
    """IPPO's (MAPPO's with `centralised`) `AgentFns` for a `TeamView` of a multi-agent env."""
    layout = AgentLayout.of(env.multi, env_params, config.share_params)
    if config.recurrent:
        from jaxrl.agents import ippo_rnn

        return ippo_rnn.build(env, env_params, config, layout, centralised)
    network = ActorCritic(
        hidden_sizes=tuple(config.hidden_sizes), activation=config.activation,
        num_actions=layout.num_actions, action_dim=layout.action_dim,
    )

    def forward(params, obs: dict):
        """`obs` dict of `[B, ...]` -> (dist over `[B, n]`, value `[B, n]`)."""
        x = layout.inputs(obs)  # [B, n, d]
        critic_in = layout.critic_inputs(obs) if centralised else x
        apply = network.apply if config.share_params else jax.vmap(network.apply, in_axes=(0, 1, 1), out_axes=1)
        dist, value = apply(params, x, critic_in)
        return layout.masked(dist, obs), value

    def init(key: jax.Array, hparams: PPOHparams) -> IPPOState:
        key, key_net, key_env = jax.random.split(key, 3)
        x = jnp.zeros((1, layout.num_agents, layout.input_dim))
        c = jnp.zeros((1, layout.num_agents, layout.critic_dim if centralised else layout.input_dim))
        if config.share_params:
            params = network.init(key_net, x, c)
        else:
            keys = jax.random.split(key_net, layout.num_agents)
            params = jax.vmap(network.init, in_axes=(0, 1, 1))(keys, x, c)
        opt_state = optimizer_for(hparams, hparams.learning_rate).init(params)
        env_carry = reset_envs(env, env_params, key_env, config.num_envs)
        returns = jnp.zeros((config.num_envs, layout.num_agents), jnp.float32)
        return IPPOState(params, opt_state, env_carry, returns, key, jnp.int32(0))

    def act(params, obs: dict, key: jax.Array, deterministic: bool = False) -> dict:
        dist, _ = forward(params, obs)
        return layout.env_actions(dist.mode() if deterministic else dist.sample(key))

    def update(state: IPPOState, hparams: PPOHparams):
        key, key_rollout, key_epochs, key_entropy = jax.random.split(state.key, 4)

        def behaviour(obs, key):
            dist, value = forward(state.params, obs)
            action = dist.sample(key)
            return layout.env_actions(action), {"action": action, "log_prob": dist.log_prob(action), "value": value}

        env_carry, traj = rollout(env, env_params, behaviour, state.env, key_rollout, config.num_steps)
        _, next_values = jax.vmap(forward, in_axes=(None, 0))(state.params, traj.next_obs)
        batch = agent_batch(traj, next_values, hparams, layout)
        batch = jax.tree.map(lambda x: x.reshape(config.batch_size, *x.shape[2:]), batch)
        learning_rate = learning_rate_at(hparams.learning_rate, state.update_step, config.num_updates,
                                         config.anneal_lr)

        def loss_fn(params, mb, key_entropy):
            dist, value = forward(params, mb["obs"])
            return ppo_loss(dist, value, mb, hparams, config.normalize_advantages, config.clip_vloss, None)

        (params, opt_state, _), stats = minibatch_epochs(
            sgd_step(loss_fn, optimizer_for(hparams, learning_rate), False),
            (state.params, state.opt_state, key_entropy), batch, key_epochs, config.update_epochs,
            config.num_minibatches,
        )
        returns, agent_metrics = agent_episode_returns(state.returns, traj, layout)
        metrics = {**update_metrics(stats, batch, hparams, learning_rate, traj.episode), **agent_metrics}
        return IPPOState(params, opt_state, env_carry, returns, key, state.update_step + 1), metrics

    return AgentFns(init=init, update=update, policy=lambda state: state.params, act=act,
                    steps_per_update=config.batch_size)


@dataclasses.dataclass(frozen=True)
class AgentLayout:
    """How per-agent dicts map to stacked arrays: agent order, padded sizes, action handling."""

    agents: tuple[str, ...]
    obs_dims: tuple[int, ...]
    num_actions: int | None  # padded Discrete size, None for Box actions
    valid_actions: np.ndarray | None  # [n, num_actions] bool: the padding is False
    action_dim: int | None
    action_boxes: tuple | None  # per agent (low, high, shape) of Box actions
    agent_ids: bool
    global_dim: int | None  # the env's global state size (MAPPO's critic input), None if it has none

    @staticmethod
    def of(multi, params, share_params: bool) -> AgentLayout:
        agents = tuple(multi.agents)
        obs_spaces, act_spaces = multi.observation_spaces(params), multi.action_spaces(params)
        team_space = TeamView(multi).observation_space(params).spaces
        global_dim = int(np.prod(team_space[GLOBAL_STATE].shape)) if GLOBAL_STATE in team_space else None
        obs_dims = tuple(int(np.prod(obs_spaces[a].shape)) for a in agents)
        kinds = {type(act_spaces[a]) for a in agents}
        if kinds == {spaces.Discrete}:
            sizes = [int(act_spaces[a].n) for a in agents]
            valid = np.arange(max(sizes))[None, :] < np.asarray(sizes)[:, None]
            return AgentLayout(agents, obs_dims, max(sizes), valid, None, None, share_params, global_dim)
        shapes = {tuple(act_spaces[a].shape) for a in agents}
        if kinds != {spaces.Box} or len(shapes) != 1:
            raise ValueError(
                f"IPPO/MAPPO need every agent's actions Discrete, or every agent's a Box of one shape; "
                f"{multi.name} has {', '.join(f'{a}: {act_spaces[a]!r}' for a in agents)}."
            )
        boxes = tuple((act_spaces[a].low, act_spaces[a].high, act_spaces[a].shape) for a in agents)
        return AgentLayout(agents, obs_dims, None, None, int(np.prod(shapes.pop())), boxes, share_params,
                           global_dim)

    @property
    def num_agents(self) -> int:
        return len(self.agents)

    @property
    def input_dim(self) -> int:
        return max(self.obs_dims) + (self.num_agents if self.agent_ids else 0)

    @property
    def critic_dim(self) -> int:
        joint = sum(self.obs_dims) if self.global_dim is None else self.global_dim
        return joint + (self.num_agents if self.agent_ids else 0)

    def stack(self, per_agent: dict) -> jax.Array:
        """`{agent: [...]}` -> `[..., n]`."""
        return jnp.stack([per_agent[a] for a in self.agents], axis=-1)

    def inputs(self, obs: dict) -> jax.Array:
        """`{agent: [B, *shape]}` -> `[B, n, input_dim]`: flattened, zero-padded, agent one-hot."""
        width = max(self.obs_dims)
        rows = [jnp.pad(obs[a].reshape(obs[a].shape[0], -1).astype(jnp.float32), ((0, 0), (0, width - d)))
                for a, d in zip(self.agents, self.obs_dims)]
        return self._with_ids(jnp.stack(rows, axis=1))

    def critic_inputs(self, obs: dict) -> jax.Array:
        """MAPPO: every agent's critic sees the env's global state, or else all observations
        concatenated: `[B, n, critic_dim]`."""
        if GLOBAL_STATE in obs:
            joint = obs[GLOBAL_STATE].reshape(obs[GLOBAL_STATE].shape[0], -1).astype(jnp.float32)
        else:
            joint = global_state_of(obs, self.agents)  # [B, sum(obs_dims)]
        return self._with_ids(jnp.broadcast_to(joint[:, None], (joint.shape[0], self.num_agents, joint.shape[-1])))

    def _with_ids(self, x: jax.Array) -> jax.Array:
        if not self.agent_ids:
            return x
        ids = jnp.broadcast_to(jnp.eye(self.num_agents), (*x.shape[:-2], self.num_agents, self.num_agents))
        return jnp.concatenate([x, ids], axis=-1)

    def action_mask(self, obs: dict) -> jax.Array:
        """`[B, n, A]` bool (`Discrete` actions): the padding off, and the env's action masks where
        the observation carries them (`envs.multi.AVAIL_ACTIONS`)."""
        valid = jnp.asarray(self.valid_actions)
        if AVAIL_ACTIONS not in obs:
            return valid
        width = self.num_actions
        masks = [jnp.pad(obs[AVAIL_ACTIONS][a], ((0, 0), (0, width - obs[AVAIL_ACTIONS][a].shape[-1])))
                 for a in self.agents]
        return jnp.stack(masks, axis=1) & valid

    def masked(self, dist, obs: dict):
        """The policy with unavailable and padded `Discrete` actions given probability zero."""
        if self.valid_actions is None:
            return dist
        return dist.replace(logits=jnp.where(self.action_mask(obs), dist.logits, -1e9))

    def env_actions(self, action: jax.Array) -> dict:
        """`[B, n]` (Discrete) or `[B, n, a]` (Box, clipped to each agent's box) -> `{agent: [B, ...]}`."""
        if self.action_boxes is None:
            return {a: action[:, i].astype(jnp.int32) for i, a in enumerate(self.agents)}
        return {a: jnp.clip(action[:, i], low, high).reshape(action.shape[0], *shape)
                for i, (a, (low, high, shape)) in enumerate(zip(self.agents, self.action_boxes))}


def agent_batch(traj, next_values: jax.Array, hparams: PPOHparams, layout: AgentLayout) -> dict:
    """The `[T, B, ...]` training batch of a multi-agent rollout: observations, the behaviour's
    `action`, `log_prob`, `value` (each `[T, B, n]`) and per-agent GAE `advantage` and `target`
    from each agent's rewards and flags, bootstrapped with `next_values [T, B, n]`."""
    per_agent = {k: layout.stack(v) for k, v in traj.agents.items()}  # each [T, B, n]
    steps = lambda x: x.reshape(x.shape[0], -1)  # [T, B, n] -> [T, B * n]: each agent its own sequence
    advantages, targets = gae(
        steps(per_agent["agent_rewards"] * hparams.reward_scale), steps(traj.extras["value"]),
        steps(next_values), steps(per_agent["agent_terminated"]), steps(per_agent["agent_truncated"]),
        hparams.gamma, hparams.gae_lambda,
    )
    return {"obs": traj.obs, "action": traj.extras["action"], "log_prob": traj.extras["log_prob"],
            "value": traj.extras["value"], "advantage": advantages.reshape(next_values.shape),
            "target": targets.reshape(next_values.shape)}


def agent_episode_returns(returns: jax.Array, traj, layout: AgentLayout):
    """Each agent's returns over the episodes that ended in the rollout `traj`.

    `returns [B, n]`: the running episode's returns so far. Returns them after the rollout and
    `{"episode_return_<agent>_sum": ...}` metrics (the host divides them by `episode_count`, as
    the team return)."""
    rewards, done = layout.stack(traj.agents["agent_rewards"]), traj.terminated | traj.truncated
    agents = layout.agents

    def step(running, inputs):
        reward, ended = inputs
        running = running + reward
        finished = jnp.where(ended[:, None], running, 0.0)
        return jnp.where(ended[:, None], 0.0, running), finished.sum(axis=0)

    returns, finished = jax.lax.scan(step, returns, (rewards, done))
    totals = finished.sum(axis=0)
    return returns, {f"episode_return_{agent}_sum": totals[i] for i, agent in enumerate(agents)}


def check_config(config: IPPOConfig, algo: str) -> None:
    check_minibatches(config, algo)
    for name, value, ok in (("normalize_obs", config.normalize_obs, False), ("action_squash", config.action_squash, "clip")):
        if value != ok:
            raise ValueError(f"{algo}: {name} = {value!r} is not available for multi-agent PPO yet (only "
                             f"{ok!r}); use the single-agent PPO for it.")
    if config.recurrent and not config.share_params:
        raise ValueError(f"{algo}: network = {config.network!r} needs share_params = true (the agents share "
                         "the recurrent network); per-agent recurrent networks are not available yet.")


SPEC = AgentSpec(
    name="ippo",
    config_cls=IPPOConfig,
    hparams_cls=PPOHparams,
    build=build,
    config_checks=check_config,
    description="Independent PPO for multi-agent envs (shared parameters with agent ids by default)",
    multi_agent=True,
    recurrent=True,
)
