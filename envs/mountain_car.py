"""MountainCar-v0 and MountainCarContinuous-v0, identical to Gymnasium's.

Both: observation `[position, velocity]` (float32, shape (2,)); velocity clipped to +-max_speed,
position to [min_position, max_position], and the velocity zeroed when the car sits at the left wall
moving left; terminates when `position >= goal_position and velocity >= goal_velocity`; resets to
position ~ U[-0.6, -0.4], velocity 0.

* `MountainCar` (MountainCar-v0): actions 0, 1, 2 push left, not at all, right; reward -1.0 every
  step (the terminating one included); goal 0.5; truncated after 200 steps.
* `MountainCarContinuous` (MountainCarContinuous-v0): action a float32 force of shape (1,), clipped
  to [-1, 1] for the dynamics; reward `100 * terminated - 0.1 * action^2` (the unclipped action, as
  in Gymnasium); goal 0.45; truncated after 999 steps.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment, EnvParams, EnvState, episode_limit
from jaxrl.envs.validation import checked


@struct.dataclass
class MountainCarState(EnvState):
    position: jax.Array
    velocity: jax.Array


# The track holds the reset range [-0.6, -0.4]; the continuous action range holds 0 (no force).
@struct.dataclass
class MountainCarParams(EnvParams):
    min_position: float = checked(-1.2, "(-inf, -0.6]")
    max_position: float = checked(0.6, "[-0.4, inf)")
    max_speed: float = checked(0.07, "(0, inf)")
    goal_position: float = checked(0.5, "(-inf, inf)")
    goal_velocity: float = checked(0.0, "(-inf, inf)")
    force: float = checked(0.001, "[0, inf)")
    gravity: float = checked(0.0025, "[0, inf)")
    max_steps_in_episode: int = episode_limit(200)


@struct.dataclass
class MountainCarContinuousParams(EnvParams):
    min_action: float = checked(-1.0, "(-inf, 0]")
    max_action: float = checked(1.0, "[0, inf)")
    min_position: float = checked(-1.2, "(-inf, -0.6]")
    max_position: float = checked(0.6, "[-0.4, inf)")
    max_speed: float = checked(0.07, "(0, inf)")
    goal_position: float = checked(0.45, "(-inf, inf)")
    goal_velocity: float = checked(0.0, "(-inf, inf)")
    power: float = checked(0.0015, "[0, inf)")
    gravity: float = checked(0.0025, "[0, inf)")
    max_steps_in_episode: int = episode_limit(999)


def _reset(key: jax.Array) -> tuple[jax.Array, MountainCarState]:
    position = jax.random.uniform(key, (), jnp.float32, -0.6, -0.4)
    state = MountainCarState(time=jnp.int32(0), position=position, velocity=jnp.float32(0.0))
    return _observation(state), state


def _move(state: MountainCarState, velocity: jax.Array, params: Any) -> tuple[MountainCarState, jax.Array]:
    """Clip velocity and position, stop at the left wall, and test the goal (shared by both envs)."""
    velocity = jnp.clip(velocity, -params.max_speed, params.max_speed)
    position = jnp.clip(state.position + velocity, params.min_position, params.max_position)
    velocity = jnp.where((position == params.min_position) & (velocity < 0), 0.0, velocity)
    terminated = (position >= params.goal_position) & (velocity >= params.goal_velocity)
    state = MountainCarState(
        time=(state.time + 1).astype(jnp.int32),
        position=position.astype(jnp.float32),
        velocity=velocity.astype(jnp.float32),
    )
    return state, terminated


def _observation(state: MountainCarState) -> jax.Array:
    return jnp.stack([state.position, state.velocity]).astype(jnp.float32)


def _observation_space(params: Any) -> spaces.Box:
    low = np.array([params.min_position, -params.max_speed], np.float32)
    high = np.array([params.max_position, params.max_speed], np.float32)
    return spaces.Box(low, high, (2,), jnp.float32)


class MountainCar(Environment[MountainCarState, MountainCarParams]):
    @property
    def default_params(self) -> MountainCarParams:
        return MountainCarParams()

    def reset_env(self, key: jax.Array, params: MountainCarParams) -> tuple[jax.Array, MountainCarState]:
        return _reset(key)

    def step_env(self, key: jax.Array, state: MountainCarState, action: Any, params: MountainCarParams):
        push = (jnp.asarray(action) - 1).astype(jnp.float32) * params.force
        velocity = state.velocity + (push + jnp.cos(3 * state.position) * (-params.gravity))
        state, terminated = _move(state, velocity, params)
        return _observation(state), state, jnp.float32(-1.0), terminated, {}

    def observation_space(self, params: MountainCarParams) -> spaces.Box:
        return _observation_space(params)

    def action_space(self, params: MountainCarParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(3)

    @property
    def name(self) -> str:
        return "MountainCar-v0"


class MountainCarContinuous(Environment[MountainCarState, MountainCarContinuousParams]):
    @property
    def default_params(self) -> MountainCarContinuousParams:
        return MountainCarContinuousParams()

    def reset_env(
        self, key: jax.Array, params: MountainCarContinuousParams
    ) -> tuple[jax.Array, MountainCarState]:
        return _reset(key)

    def step_env(
        self, key: jax.Array, state: MountainCarState, action: Any, params: MountainCarContinuousParams
    ):
        a = jnp.reshape(jnp.asarray(action, jnp.float32), (-1,))[0]
        force = jnp.clip(a, params.min_action, params.max_action)
        velocity = state.velocity + (force * params.power - params.gravity * jnp.cos(3 * state.position))
        state, terminated = _move(state, velocity, params)
        reward = jnp.where(terminated, 100.0, 0.0) - a**2 * 0.1
        return _observation(state), state, reward.astype(jnp.float32), terminated, {}

    def observation_space(self, params: MountainCarContinuousParams) -> spaces.Box:
        return _observation_space(params)

    def action_space(self, params: MountainCarContinuousParams) -> spaces.Box:
        return spaces.Box(params.min_action, params.max_action, (1,), jnp.float32)

    @property
    def name(self) -> str:
        return "MountainCarContinuous-v0"
