"""Collecting experience: `num_steps` vmapped env steps inside one `lax.scan`.

The policy is any function `policy(obs [B, ...], key) -> (action [B, ...], extras dict of [B, ...])`
(`recurrent_rollout`: a policy with memory);
the env is stepped with `action` for every copy. Output arrays are time-major `[T, B, ...]`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from flax import struct

from jaxrl.envs import Environment

# Keys of `info` (from the EpisodeStatistics wrapper) carried into the transitions for logging.
EPISODE_INFO_KEYS = ("episode_return", "episode_length", "episode_done")
# Keys of `info` a multi-agent env's team view adds (`envs.multi.TeamView`), kept for its learners.
AGENT_INFO_KEYS = ("agent_rewards", "agent_terminated", "agent_truncated")


@struct.dataclass
class Transition:
    """One batch of steps, each field `[T, B, ...]`.

    `next_obs` is the true successor observation (the final observation at episode ends), which is
    what bootstrapped targets need; `extras` holds what the policy returned (log-probs, values...);
    `agents` the per-agent rewards and flags of a multi-agent env (`AGENT_INFO_KEYS`; else empty).
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_obs: jax.Array
    extras: dict[str, jax.Array]
    episode: dict[str, jax.Array]
    agents: dict[str, Any] = struct.field(default_factory=dict)


@struct.dataclass
class EnvCarry:
    """Vectorised env state between rollouts: `state` (pytree of [B, ...]) and `obs` [B, ...]."""

    state: Any
    obs: jax.Array


def reset_envs(env: Environment, env_params: Any, key: jax.Array, num_envs: int) -> EnvCarry:
    """Reset `num_envs` copies with independent keys: an `EnvCarry` of states and obs `[num_envs, ...]`."""
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), env_params)
    return EnvCarry(state=state, obs=obs)


def rollout(
    env: Environment,
    env_params: Any,
    policy: Callable[[jax.Array, jax.Array], tuple[jax.Array, dict[str, jax.Array]]],
    carry: EnvCarry,
    key: jax.Array,
    num_steps: int,
) -> tuple[EnvCarry, Transition]:
    """Step every env copy `num_steps` times. Returns the new carry and a `[T, B]` `Transition`."""

    def one_step(carry: EnvCarry, keys: jax.Array):
        action, extras = policy(carry.obs, keys[0])
        return _step_envs(env, env_params, carry, action, extras, keys[1:])

    return jax.lax.scan(one_step, carry, _rollout_keys(carry, key, num_steps))


def recurrent_rollout(
    env: Environment,
    env_params: Any,
    policy: Callable[[Any, jax.Array, jax.Array, jax.Array], tuple[Any, jax.Array, dict[str, jax.Array]]],
    carry: EnvCarry,
    memory: Any,
    first: jax.Array,
    key: jax.Array,
    num_steps: int,
) -> tuple[tuple[EnvCarry, Any, jax.Array], Transition]:
    """`rollout` for a policy with memory: `policy(memory, obs [B, ...], first [B], key) ->
    (memory, action, extras)`, where `first` marks observations that open an episode (the policy
    resets its memory there). Returns `(carry, memory, first)` for the next rollout and the
    `[T, B]` `Transition`; the same keys as `rollout`, so a memoryless policy gives its values."""

    def one_step(loop, keys: jax.Array):
        carry, memory, first = loop
        memory, action, extras = policy(memory, carry.obs, first, keys[0])
        carry, transition = _step_envs(env, env_params, carry, action, extras, keys[1:])
        return (carry, memory, transition.terminated | transition.truncated), transition

    return jax.lax.scan(one_step, (carry, memory, first), _rollout_keys(carry, key, num_steps))


def _rollout_keys(carry: EnvCarry, key: jax.Array, num_steps: int) -> jax.Array:
    """All keys up front (per step: the policy's, then one per env copy): random-number sites
    inside the loop body each cost compile time."""
    num_envs = jax.tree.leaves(carry.obs)[0].shape[0]
    return jax.random.split(key, (num_steps, num_envs + 1))


def _step_envs(env, env_params, carry: EnvCarry, action, extras, keys) -> tuple[EnvCarry, Transition]:
    obs, state, reward, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
        keys, carry.state, action, env_params
    )
    transition = Transition(
        obs=carry.obs,
        action=action,
        reward=reward,
        terminated=terminated,
        truncated=truncated,
        next_obs=info["final_observation"],
        extras=extras,
        episode={k: info[k] for k in EPISODE_INFO_KEYS if k in info},
        agents={k: info[k] for k in AGENT_INFO_KEYS if k in info},
    )
    return EnvCarry(state=state, obs=obs), transition
