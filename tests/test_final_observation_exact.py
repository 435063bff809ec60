"""On steps that do not end an episode, `info["final_observation"]` is bit-identical to the next obs.

XLA can compute one value inside two fusions that round differently (seen with `jnp.array` of
traced scalars under vmap in CartPole); this pins the contract for every classic env.
"""

import jax
import numpy as np
import pytest

from jaxrl.envs import make
from jaxrl.blocks.rollout import reset_envs, rollout


@pytest.mark.parametrize(
    "name,limit",
    [("CartPole-v1", 4), ("Pendulum-v1", 5), ("Acrobot-v1", 7), ("MountainCar-v0", 5), ("MountainCarContinuous-v0", 5)],
)
def test_final_observation_equals_next_observation_bitwise(name, limit):
    env, params = make(name)
    params = params.replace(max_steps_in_episode=limit)
    space = env.action_space(params)

    @jax.jit
    def collect(key):
        key_reset, key_run = jax.random.split(key)
        carry = reset_envs(env, params, key_reset, 64)
        policy = lambda obs, key: (jax.vmap(space.sample)(jax.random.split(key, obs.shape[0])), {})
        return rollout(env, params, policy, carry, key_run, 40)[1]

    traj = collect(jax.random.key(0))
    next_obs, obs = np.asarray(traj.next_obs), np.asarray(traj.obs)
    done = np.asarray(traj.terminated | traj.truncated)
    continuing = ~done[:-1]
    assert continuing.any() and done.any()
    np.testing.assert_array_equal(next_obs[:-1][continuing], obs[1:][continuing])
