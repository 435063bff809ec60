"""The evaluation program: undiscounted and discounted return, length and success per episode."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment, EnvParams, EnvState
from jaxrl.population import make_evaluate


@struct.dataclass
class _State(EnvState):
    goal: jax.Array


class ThreeSteps(Environment):
    """Three steps of reward 1, 2, 4; success at the end when the last action equals the episode's goal."""

    @property
    def default_params(self):
        return EnvParams(max_steps_in_episode=100)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 1.0, (1,), jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def reset_env(self, key, params):
        state = _State(time=jnp.int32(0), goal=jax.random.bernoulli(key).astype(jnp.int32))
        return state.goal.astype(jnp.float32)[None], state

    def step_env(self, key, state, action, params):
        state = state.replace(time=state.time + 1)
        reward = 2.0 ** (state.time - 1).astype(jnp.float32)
        done = state.time >= 3
        return state.goal.astype(jnp.float32)[None], state, reward, done, {"success": done & (action == state.goal)}


def test_returns_lengths_and_success_are_exact():
    env = ThreeSteps()
    act = lambda goal_seen, obs, key, deterministic: (obs[:, 0] > 0.5).astype(jnp.int32) * goal_seen
    evaluate = jax.jit(make_evaluate(env, env.default_params, act, num_episodes=16))
    perfect = evaluate(1, jax.random.key(0), 0.5)
    np.testing.assert_allclose(perfect["return"], 7.0)
    np.testing.assert_allclose(perfect["discounted_return"], 1 + 0.5 * 2 + 0.25 * 4)
    np.testing.assert_allclose(perfect["length"], 3.0)
    np.testing.assert_allclose(perfect["success"], 1.0)
    always_zero = evaluate(0, jax.random.key(0), 0.5)  # succeeds exactly on the episodes whose goal is 0
    np.testing.assert_array_equal(always_zero["return"], perfect["return"])
    assert 0 < always_zero["success"].mean() < 1


def test_success_is_nan_where_the_env_reports_none():
    from jaxrl.envs import make

    env, params = make("CartPole-v1")
    evaluate = jax.jit(make_evaluate(env, params, lambda p, o, k, d: jnp.zeros(o.shape[0], jnp.int32), 4))
    out = evaluate(None, jax.random.key(1))
    assert np.isnan(out["success"]).all()
    np.testing.assert_allclose(out["return"], out["length"])  # reward 1 per step
    np.testing.assert_allclose(out["discounted_return"], out["return"])  # gamma defaults to 1
