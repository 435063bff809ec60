"""Collecting experience: `num_steps` vmapped env steps inside one `lax.scan`.

The policy is any function `policy(obs [B, ...], key) -> (action [B, ...], extras dict of [B, ...])`;
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


@struct.dataclass
class Transition:
    """One batch of steps, each field `[T, B, ...]`.

    `next_obs` is the true successor observation (the final observation at episode ends), which is
    what bootstrapped targets need; `extras` holds what the policy returned (log-probs, values...).
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_obs: jax.Array
    extras: dict[str, jax.Array]
    episode: dict[str, jax.Array]


@struct.dataclass
class EnvCarry:
    """Vectorised env state between rollouts: `state` (pytree of [B, ...]) and `obs` [B, ...]."""

    state: Any
    obs: jax.Array


def reset_envs(env: Environment, env_params: Any, key: jax.Array, num_envs: int) -> EnvCarry:
    """Reset `num_envs` copies with independent keys."""
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
    num_envs = jax.tree.leaves(carry.obs)[0].shape[0]
    step_envs = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def one_step(carry: EnvCarry, keys: jax.Array):
        action, extras = policy(carry.obs, keys[0])
        obs, state, reward, terminated, truncated, info = step_envs(keys[1:], carry.state, action, env_params)
        transition = Transition(
            obs=carry.obs,
            action=action,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            next_obs=info["final_observation"],
            extras=extras,
            episode={k: info[k] for k in EPISODE_INFO_KEYS if k in info},
        )
        return EnvCarry(state=state, obs=obs), transition

    # All keys up front (per step: the policy's, then one per env copy): random-number sites inside
    # the loop body each cost compile time.
    return jax.lax.scan(one_step, carry, jax.random.split(key, (num_steps, num_envs + 1)))
