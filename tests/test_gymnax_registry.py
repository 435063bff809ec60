"""Every env in gymnax's registry works as `gymnax:NAME` (MNISTBandit needs a download: excluded)."""

import jax
import jax.numpy as jnp
import pytest

import jaxrl
from jaxrl.envs.gymnax_adapter import gymnax_env_names

NEEDS_DOWNLOAD = {"MNISTBandit-bsuite"}  # fetches MNIST from the internet in its constructor
FLOAT_TIME = ["BernoulliBandit-misc", "GaussianBandit-misc", "MetaMaze-misc", "PointRobot-misc"]


def _step_once(name):
    env, params = jaxrl.make(f"gymnax:{name}")
    key = jax.random.key(0)
    obs, state = env.reset(key, params)
    action = env.action_space(params).sample(key)
    obs2, state2, reward, terminated, truncated, info = jax.jit(env.step)(key, state, action, params)
    assert obs2.dtype == jnp.float32 and obs2.shape == obs.shape
    assert reward.dtype == jnp.float32 and terminated.dtype == jnp.bool_ and truncated.dtype == jnp.bool_
    assert jax.tree.structure(state2) == jax.tree.structure(state)
    assert jnp.asarray(state2.time).dtype in (jnp.int32, jnp.float32)
    assert env.observation_space(params).shape == obs.shape


@pytest.mark.parametrize("name", FLOAT_TIME + ["Breakout-MinAtar"])
def test_gymnax_envs_including_float_time_ones(name):
    _step_once(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(gymnax_env_names()) - NEEDS_DOWNLOAD))
def test_every_gymnax_env(name):
    _step_once(name)
