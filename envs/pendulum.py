"""Pendulum-v1, identical in dynamics, reward and time limit to Gymnasium's.

Observation `[cos(theta), sin(theta), theta_dot]` (float32, shape (3,)); action: a torque, float32
shape (1,), clipped to `[-max_torque, max_torque]` inside `step`; reward
`-(angle_normalize(theta)^2 + 0.1 * theta_dot^2 + 0.001 * torque^2)` with the clipped torque and the
pre-step state; never terminates; truncated after 200 steps. Resets to theta ~ U[-pi, pi],
theta_dot ~ U[-1, 1]. As in Gymnasium, theta itself is not wrapped.
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
class PendulumState(EnvState):
    theta: jax.Array
    theta_dot: jax.Array


@struct.dataclass
class PendulumParams(EnvParams):
    max_speed: float = checked(8.0, "(0, inf)")
    max_torque: float = checked(2.0, "[0, inf)")
    dt: float = checked(0.05, "(0, inf)")
    g: float = checked(10.0, "[0, inf)")
    m: float = checked(1.0, "(0, inf)")
    l: float = checked(1.0, "(0, inf)")  # noqa: E741
    max_steps_in_episode: int = episode_limit(200)


def angle_normalize(x: jax.Array) -> jax.Array:
    return ((x + jnp.pi) % (2 * jnp.pi)) - jnp.pi


class Pendulum(Environment[PendulumState, PendulumParams]):
    @property
    def default_params(self) -> PendulumParams:
        return PendulumParams()

    def reset_env(self, key: jax.Array, params: PendulumParams) -> tuple[jax.Array, PendulumState]:
        high = jnp.array([jnp.pi, 1.0], jnp.float32)
        theta, theta_dot = jax.random.uniform(key, (2,), jnp.float32, -high, high)
        state = PendulumState(time=jnp.int32(0), theta=theta, theta_dot=theta_dot)
        return self.observation(state), state

    def step_env(self, key: jax.Array, state: PendulumState, action: Any, params: PendulumParams):
        f32 = jnp.float32
        u = jnp.clip(jnp.reshape(jnp.asarray(action, f32), (-1,))[0], -params.max_torque, params.max_torque)
        th, thdot = state.theta, state.theta_dot
        costs = angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * u**2
        g, m, l, dt = params.g, params.m, params.l, params.dt  # noqa: E741
        newthdot = thdot + (3 * g / (2 * l) * jnp.sin(th) + 3.0 / (m * l**2) * u) * dt
        newthdot = jnp.clip(newthdot, -params.max_speed, params.max_speed)
        newth = th + newthdot * dt
        state = PendulumState(
            time=(state.time + 1).astype(jnp.int32), theta=newth.astype(f32), theta_dot=newthdot.astype(f32)
        )
        return self.observation(state), state, (-costs).astype(f32), jnp.bool_(False), {}

    @staticmethod
    def observation(state: PendulumState) -> jax.Array:
        th = state.theta
        return jnp.stack([jnp.cos(th), jnp.sin(th), state.theta_dot]).astype(jnp.float32)

    def observation_space(self, params: PendulumParams) -> spaces.Box:
        high = np.array([1.0, 1.0, params.max_speed], np.float32)
        return spaces.Box(-high, high, (3,), jnp.float32)

    def action_space(self, params: PendulumParams) -> spaces.Box:
        return spaces.Box(-params.max_torque, params.max_torque, (1,), jnp.float32)

    @property
    def name(self) -> str:
        return "Pendulum-v1"
