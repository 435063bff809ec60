"""The loop shared by replay-based agents (DQN, SAC, TD3): act -> store -> learn when ready.

One update of such an agent is

    carry, buffer_state, traj = collect(...)      # `num_steps` vmapped env steps into the buffer
    learner, metrics = learn_when_ready(...)      # `gradient_steps` sampled-batch steps, or none

`learn_when_ready` uses `lax.cond`; under `vmap` (a population) it becomes a select, so both sides
run and the skipped learning is only discarded: results are the same, the warm-up costs compute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.agents.base import episode_metrics
from jaxrl.envs import Environment, spaces
from jaxrl.blocks.encoders import zeros_of
from jaxrl.blocks.replay import ReplayBuffer, ReplayState, transition_item
from jaxrl.blocks.rollout import EnvCarry, Transition, rollout


def collect(
    env: Environment,
    env_params: Any,
    behaviour: Callable[[jax.Array, jax.Array], tuple[jax.Array, dict[str, jax.Array]]],
    carry: EnvCarry,
    key: jax.Array,
    num_steps: int,
    buffer: ReplayBuffer,
    buffer_state: ReplayState,
) -> tuple[EnvCarry, ReplayState, Transition]:
    """Roll `behaviour` for `num_steps` steps of every env copy and append the transitions."""
    carry, traj = rollout(env, env_params, behaviour, carry, key, num_steps)
    return carry, buffer.add(buffer_state, transition_item(traj)), traj


def learn_when_ready(
    ready: jax.Array,
    learn_step: Callable[[Any, jax.Array], tuple[Any, dict[str, jax.Array]]],
    learner: Any,
    key: jax.Array,
    num_steps: int,
) -> tuple[Any, dict[str, jax.Array]]:
    """`num_steps` scanned calls of `learn_step(learner, key) -> (learner, metrics)` when `ready`
    (bool scalar), else `learner` unchanged. Returns the metrics averaged over the steps (zeros
    when not ready)."""

    def learn(learner):
        learner, metrics = jax.lax.scan(learn_step, learner, jax.random.split(key, num_steps))
        return learner, jax.tree.map(lambda m: jnp.mean(m, axis=0).astype(jnp.float32), metrics)

    def skip(learner):
        _, shapes = jax.eval_shape(learn, learner)
        return learner, jax.tree.map(lambda s: jnp.zeros(s.shape, jnp.float32), shapes)

    return jax.lax.cond(ready, learn, skip, learner)


def ready_to_learn(buffer: ReplayBuffer, buffer_state: ReplayState, learning_starts: int) -> jax.Array:
    """Whether the buffer holds at least `learning_starts` transitions (and one full sequence)."""
    stored = buffer_state.size * buffer.num_envs
    return (stored >= learning_starts) & buffer.can_sample(buffer_state)


def collection_metrics(buffer: ReplayBuffer, buffer_state: ReplayState, traj: Transition) -> dict[str, jax.Array]:
    """`buffer_fill` (fraction of capacity in use) and the episode sums of the rollout."""
    return {"buffer_fill": buffer.fill(buffer_state), **episode_metrics(traj.episode)}


def unit_box_scaling(action_space: spaces.Box):
    """`(to_env, to_unit)`: affine maps between policy actions in [-1, 1]^d (`[..., d]`) and the
    bounded action box (`[..., *shape]`). Replay stores env actions; learners map them back."""
    if not action_space.bounded:
        raise ValueError(f"Continuous off-policy agents need a bounded action box, got {action_space!r}.")
    low = jnp.asarray(action_space.low, jnp.float32).reshape(-1)
    high = jnp.asarray(action_space.high, jnp.float32).reshape(-1)
    shape = action_space.shape

    def to_env(a: jax.Array) -> jax.Array:
        return (low + (a + 1.0) * 0.5 * (high - low)).reshape(*a.shape[:-1], *shape)

    def to_unit(env_action: jax.Array) -> jax.Array:
        flat = env_action.reshape(*env_action.shape[: env_action.ndim - len(shape)], -1)
        return jnp.clip(2.0 * (flat - low) / (high - low) - 1.0, -1.0, 1.0)

    return to_env, to_unit


def transition_example(obs_space: spaces.Space, action_space: spaces.Space) -> dict[str, jax.Array]:
    """One transition of one env copy, zeros, with the dtypes the buffer should store."""
    return {
        "obs": zeros_of(obs_space),
        "action": jnp.zeros(action_space.shape, action_space.dtype),
        "reward": jnp.float32(0),
        "terminated": jnp.bool_(False),
        "truncated": jnp.bool_(False),
        "next_obs": zeros_of(obs_space),
    }


def polyak(target: Any, online: Any, tau: jax.Array | float) -> Any:
    """`tau * online + (1 - tau) * target`, leaf by leaf."""
    return jax.tree.map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)
