"""CartPole-v1, identical in dynamics, reward, termination and time limit to Gymnasium's.

Observation `[x, x_dot, theta, theta_dot]` (float32, shape (4,)); actions 0 (push left) and 1 (push
right); reward 1.0 every step, including the terminating one; episodes terminate when the pole
leaves +-12 degrees or the cart leaves +-2.4, and are truncated after 500 steps.
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
class CartPoleState(EnvState):
    x: jax.Array
    x_dot: jax.Array
    theta: jax.Array
    theta_dot: jax.Array


@struct.dataclass
class CartPoleParams(EnvParams):
    gravity: float = checked(9.8, "[0, inf)")
    masscart: float = checked(1.0, "(0, inf)")
    masspole: float = checked(0.1, "(0, inf)")
    length: float = checked(0.5, "(0, inf)")  # half the pole's length
    force_mag: float = checked(10.0, "[0, inf)")
    tau: float = checked(0.02, "(0, inf)")  # seconds between state updates (explicit Euler)
    theta_threshold_radians: float = checked(12 * 2 * np.pi / 360, "(0, inf)")
    x_threshold: float = checked(2.4, "(0, inf)")
    max_steps_in_episode: int = episode_limit(500)


class CartPole(Environment[CartPoleState, CartPoleParams]):
    @property
    def default_params(self) -> CartPoleParams:
        return CartPoleParams()

    def reset_env(self, key: jax.Array, params: CartPoleParams) -> tuple[jax.Array, CartPoleState]:
        x, x_dot, theta, theta_dot = jax.random.uniform(key, (4,), jnp.float32, -0.05, 0.05)
        state = CartPoleState(time=jnp.int32(0), x=x, x_dot=x_dot, theta=theta, theta_dot=theta_dot)
        return self.observation(state), state

    def step_env(self, key: jax.Array, state: CartPoleState, action: Any, params: CartPoleParams):
        f32 = jnp.float32
        total_mass = params.masspole + params.masscart
        polemass_length = params.masspole * params.length
        force = jnp.where(action == 1, params.force_mag, -params.force_mag)
        costheta, sintheta = jnp.cos(state.theta), jnp.sin(state.theta)
        temp = (force + polemass_length * state.theta_dot**2 * sintheta) / total_mass
        thetaacc = (params.gravity * sintheta - costheta * temp) / (
            params.length * (4.0 / 3.0 - params.masspole * costheta**2 / total_mass)
        )
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        state = CartPoleState(
            time=state.time + 1,
            x=(state.x + params.tau * state.x_dot).astype(f32),
            x_dot=(state.x_dot + params.tau * xacc).astype(f32),
            theta=(state.theta + params.tau * state.theta_dot).astype(f32),
            theta_dot=(state.theta_dot + params.tau * thetaacc).astype(f32),
        )
        terminated = (
            (state.x < -params.x_threshold)
            | (state.x > params.x_threshold)
            | (state.theta < -params.theta_threshold_radians)
            | (state.theta > params.theta_threshold_radians)
        )
        return self.observation(state), state, jnp.float32(1.0), terminated, {}

    @staticmethod
    def observation(state: CartPoleState) -> jax.Array:
        return jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot]).astype(jnp.float32)

    def observation_space(self, params: CartPoleParams) -> spaces.Box:
        high = np.array(
            [params.x_threshold * 2, np.inf, params.theta_threshold_radians * 2, np.inf], np.float32
        )
        return spaces.Box(-high, high, (4,), jnp.float32)

    def action_space(self, params: CartPoleParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(2)

    @property
    def name(self) -> str:
        return "CartPole-v1"
