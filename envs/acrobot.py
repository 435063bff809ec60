"""Acrobot-v1, identical in dynamics, reward, termination and time limit to Gymnasium's.

Observation `[cos(theta1), sin(theta1), cos(theta2), sin(theta2), dtheta1, dtheta2]` (float32,
shape (6,)); actions 0, 1, 2 apply torque -1, 0, +1 on the joint between the links; reward -1.0
per step and 0.0 on the terminating step; terminates when `-cos(theta1) - cos(theta1 + theta2) > 1`
(the free end is a link length above the base); truncated after 500 steps. Dynamics: the "book"
equations (Sutton & Barto), one RK4 step of `dt` per action, angles wrapped to [-pi, pi] and
velocities bounded, exactly as Gymnasium. Torque noise U[-torque_noise_max, torque_noise_max] is
added when `torque_noise_max > 0` (default 0, as in Gymnasium). Resets to all four state
variables ~ U[-0.1, 0.1].
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
class AcrobotState(EnvState):
    theta1: jax.Array
    theta2: jax.Array
    dtheta1: jax.Array
    dtheta2: jax.Array


@struct.dataclass
class AcrobotParams(EnvParams):
    dt: float = checked(0.2, "(0, inf)")
    link_length_1: float = checked(1.0, "(0, inf)")
    link_mass_1: float = checked(1.0, "(0, inf)")
    link_mass_2: float = checked(1.0, "(0, inf)")
    link_com_pos_1: float = checked(0.5, "[0, inf)")
    link_com_pos_2: float = checked(0.5, "[0, inf)")
    link_moi: float = checked(1.0, "(0, inf)")  # moment of inertia of both links
    gravity: float = checked(9.8, "[0, inf)")
    max_vel_1: float = checked(4 * np.pi, "(0, inf)")
    max_vel_2: float = checked(9 * np.pi, "(0, inf)")
    torque_mag: float = checked(1.0, "[0, inf)")  # actions 0, 1, 2 -> torque -1, 0, +1 times this
    torque_noise_max: float = checked(0.0, "[0, inf)")
    max_steps_in_episode: int = episode_limit(500)


def wrap(x: jax.Array, m: float, big_m: float) -> jax.Array:
    """Gymnasium's `wrap` (repeatedly add/subtract `big_m - m` until in range) without a loop."""
    diff = big_m - m
    above = x - diff * jnp.ceil((x - big_m) / diff)
    below = x + diff * jnp.ceil((m - x) / diff)
    return jnp.where(x > big_m, above, jnp.where(x < m, below, x))


def dsdt(s: jax.Array, torque: jax.Array, params: AcrobotParams) -> jax.Array:
    """Time derivative of `[theta1, theta2, dtheta1, dtheta2]` (book dynamics)."""
    m1, m2 = params.link_mass_1, params.link_mass_2
    l1, lc1, lc2 = params.link_length_1, params.link_com_pos_1, params.link_com_pos_2
    i1 = i2 = params.link_moi
    g, a = params.gravity, torque
    theta1, theta2, dtheta1, dtheta2 = s[0], s[1], s[2], s[3]
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * jnp.cos(theta2)) + i1 + i2
    d2 = m2 * (lc2**2 + l1 * lc2 * jnp.cos(theta2)) + i2
    phi2 = m2 * lc2 * g * jnp.cos(theta1 + theta2 - jnp.pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * dtheta2**2 * jnp.sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * jnp.sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * jnp.cos(theta1 - jnp.pi / 2)
        + phi2
    )
    ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * jnp.sin(theta2) - phi2) / (
        m2 * lc2**2 + i2 - d2**2 / d1
    )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return jnp.stack([dtheta1, dtheta2, ddtheta1, ddtheta2])


def rk4(s: jax.Array, torque: jax.Array, params: AcrobotParams) -> jax.Array:
    """One classical Runge-Kutta step of length `params.dt`, as Gymnasium's `rk4` over `[0, dt]`."""
    dt = params.dt
    dt2 = dt / 2.0
    k1 = dsdt(s, torque, params)
    k2 = dsdt(s + dt2 * k1, torque, params)
    k3 = dsdt(s + dt2 * k2, torque, params)
    k4 = dsdt(s + dt * k3, torque, params)
    return s + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


class Acrobot(Environment[AcrobotState, AcrobotParams]):
    @property
    def default_params(self) -> AcrobotParams:
        return AcrobotParams()

    def reset_env(self, key: jax.Array, params: AcrobotParams) -> tuple[jax.Array, AcrobotState]:
        th1, th2, dth1, dth2 = jax.random.uniform(key, (4,), jnp.float32, -0.1, 0.1)
        state = AcrobotState(time=jnp.int32(0), theta1=th1, theta2=th2, dtheta1=dth1, dtheta2=dth2)
        return self.observation(state), state

    def step_env(self, key: jax.Array, state: AcrobotState, action: Any, params: AcrobotParams):
        f32 = jnp.float32
        torque = (jnp.asarray(action) - 1).astype(f32) * params.torque_mag
        # Zero noise when torque_noise_max == 0, so the default matches Gymnasium exactly.
        torque = torque + params.torque_noise_max * jax.random.uniform(key, (), f32, -1.0, 1.0)
        s = jnp.stack([state.theta1, state.theta2, state.dtheta1, state.dtheta2])
        ns = rk4(s, torque, params)
        state = AcrobotState(
            time=(state.time + 1).astype(jnp.int32),
            theta1=wrap(ns[0], -jnp.pi, jnp.pi).astype(f32),
            theta2=wrap(ns[1], -jnp.pi, jnp.pi).astype(f32),
            dtheta1=jnp.clip(ns[2], -params.max_vel_1, params.max_vel_1).astype(f32),
            dtheta2=jnp.clip(ns[3], -params.max_vel_2, params.max_vel_2).astype(f32),
        )
        terminated = -jnp.cos(state.theta1) - jnp.cos(state.theta2 + state.theta1) > 1.0
        reward = jnp.where(terminated, 0.0, -1.0).astype(f32)
        return self.observation(state), state, reward, terminated, {}

    @staticmethod
    def observation(state: AcrobotState) -> jax.Array:
        th1, th2 = state.theta1, state.theta2
        # jnp.array, not jnp.stack: under vmap, stacking scalars lowers to a stack plus a transpose.
        return jnp.array(
            [jnp.cos(th1), jnp.sin(th1), jnp.cos(th2), jnp.sin(th2), state.dtheta1, state.dtheta2],
            dtype=jnp.float32,
        )

    def observation_space(self, params: AcrobotParams) -> spaces.Box:
        high = np.array([1.0, 1.0, 1.0, 1.0, params.max_vel_1, params.max_vel_2], np.float32)
        return spaces.Box(-high, high, (6,), jnp.float32)

    def action_space(self, params: AcrobotParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(3)

    @property
    def name(self) -> str:
        return "Acrobot-v1"
