"""PQN with value decomposition (VDN; Sunehag et al. 2018) for cooperative multi-agent envs.

The team's action value is the sum of the agents' own: `Q_tot(o, u) = sum_a Q(o_a, u_a)`, one Q
network shared by the agents (agent one-hot appended, as in `agents.ippo`). Everything else is PQN
(`agents.pqn`): epsilon-greedy agents on many env copies, Q(lambda) targets of the team reward
(the team view's mean of the agents' rewards) bootstrapped from `sum_a max_u Q(next o_a, u)` on the
true final observations, no buffer, no target network, LayerNorm. Padded actions (agents with fewer
actions than others) and those the env's `avail_actions` rules out are never chosen, neither
greedily nor when exploring.

Shapes: `B` env copies, `n` agents, `A` the largest action count, `T` steps.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.agents.base import AgentFns, AgentSpec, episode_metrics
from jaxrl.agents.ippo import AgentLayout
from jaxrl.agents.pqn import PQNConfig, PQNHparams, epsilon_at, sgd_step
from jaxrl.agents.validation import check_minibatches
from jaxrl.blocks.losses import td_loss
from jaxrl.blocks.minibatch import minibatch_epochs
from jaxrl.blocks.networks import QNetwork
from jaxrl.blocks.optim import learning_rate_at, make_optimizer
from jaxrl.blocks.returns import lambda_returns
from jaxrl.blocks.rollout import EnvCarry, reset_envs, rollout
from jaxrl.envs import Environment

NO_ACTION = -1e9  # the value of a padded action: below any real one


@struct.dataclass
class VDNPolicy:
    params: Any
    epsilon: jax.Array


@struct.dataclass
class VDNState:
    params: Any
    opt_state: Any
    env: EnvCarry
    epsilon: jax.Array
    key: jax.Array
    update_step: jax.Array


def build(env: Environment, env_params: Any, config: PQNConfig) -> AgentFns:
    """PQN-VDN's `AgentFns` for a `TeamView` of a multi-agent env with `Discrete` actions."""
    layout = AgentLayout.of(env.multi, env_params, share_params=True)
    if layout.num_actions is None:
        raise ValueError(f"PQN_VDN needs Discrete actions for every agent; {env.multi.name} has Box actions.")
    network = QNetwork(num_actions=layout.num_actions, hidden_sizes=tuple(config.hidden_sizes),
                       activation=config.activation, layer_norm=config.layer_norm)

    def q_values(params, obs: dict) -> jax.Array:
        """`obs` dict of `[B, ...]` -> each agent's `Q [B, n, A]`, unavailable actions at `NO_ACTION`."""
        return jnp.where(layout.action_mask(obs), network.apply(params, layout.inputs(obs)), NO_ACTION)

    def choose(q: jax.Array, epsilon, key: jax.Array) -> dict:
        """Epsilon-greedy per agent over its available actions (one uniform draw per agent, as PQN's):
        exploring picks the k-th available action, k uniform over their count."""
        available = q > NO_ACTION / 2
        counts = available.sum(axis=-1)  # [B, n]
        u = jax.random.uniform(key, q.shape[:-1])
        k = jnp.minimum(u / jnp.maximum(epsilon, 1e-12) * counts, counts - 1).astype(jnp.int32)
        explore = jnp.argmax(jnp.cumsum(available, axis=-1) > k[..., None], axis=-1)
        return layout.env_actions(jnp.where(u < epsilon, explore, jnp.argmax(q, axis=-1)))

    def init(key: jax.Array, hparams: PQNHparams) -> VDNState:
        key, key_net, key_env = jax.random.split(key, 3)
        params = network.init(key_net, jnp.zeros((1, layout.num_agents, layout.input_dim)))
        opt_state = make_optimizer(hparams.learning_rate, hparams.max_grad_norm, config.optimizer).init(params)
        env_carry = reset_envs(env, env_params, key_env, config.num_envs)
        return VDNState(params, opt_state, env_carry, jnp.float32(hparams.start_e), key, jnp.int32(0))

    def act(policy: VDNPolicy, obs: dict, key: jax.Array, deterministic: bool = False) -> dict:
        return choose(q_values(policy.params, obs), 0.0 if deterministic else policy.epsilon, key)

    def update(state: VDNState, hparams: PQNHparams):
        key, key_rollout, key_epochs = jax.random.split(state.key, 3)
        epsilon = epsilon_at(state.update_step, hparams, config)

        def behaviour(obs, key):
            return choose(q_values(state.params, obs), epsilon, key), {}

        env_carry, traj = rollout(env, env_params, behaviour, state.env, key_rollout, config.num_steps)
        next_q = jax.vmap(q_values, in_axes=(None, 0))(state.params, traj.next_obs).max(axis=-1).sum(axis=-1)
        targets = lambda_returns(traj.reward, next_q, traj.terminated, traj.truncated, hparams.gamma,
                                 hparams.td_lambda)
        batch = {"obs": traj.obs, "action": layout.stack(traj.action), "target": targets}
        batch = jax.tree.map(lambda x: x.reshape(config.batch_size, *x.shape[2:]), batch)
        learning_rate = learning_rate_at(hparams.learning_rate, state.update_step, config.num_updates,
                                         config.anneal_lr)

        def loss_fn(params, mb):
            q = q_values(params, mb["obs"])  # [N, n, A]
            q_tot = jnp.take_along_axis(q, mb["action"][..., None], axis=-1)[..., 0].sum(axis=-1)
            return td_loss(q_tot, mb["target"], config.loss), q_tot

        (params, opt_state), stats = minibatch_epochs(
            sgd_step(loss_fn, make_optimizer(learning_rate, hparams.max_grad_norm, config.optimizer)),
            (state.params, state.opt_state), batch, key_epochs, config.update_epochs, config.num_minibatches,
        )
        metrics = {k: v.mean() for k, v in stats.items()}
        metrics.update(epsilon=epsilon, learning_rate=learning_rate, **episode_metrics(traj.episode))
        return VDNState(params, opt_state, env_carry, epsilon, key, state.update_step + 1), metrics

    return AgentFns(init=init, update=update, policy=lambda state: VDNPolicy(state.params, state.epsilon),
                    act=act, steps_per_update=config.batch_size)


def check_config(config: PQNConfig, algo: str) -> None:
    check_minibatches(config, algo)
    if config.recurrent:
        raise ValueError(f"{algo}: network = {config.network!r} is not available for PQN_VDN yet (only 'mlp').")


SPEC = AgentSpec(
    name="pqn_vdn",
    config_cls=PQNConfig,
    hparams_cls=PQNHparams,
    build=build,
    config_checks=check_config,
    description="PQN with value decomposition (VDN): the team's Q is the sum of the agents'",
    multi_agent=True,
)
