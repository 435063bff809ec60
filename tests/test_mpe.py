"""The built-in MPE envs: step-by-step parity with JaxMARL's (same states, same actions, many random
ones), auto-reset and truncation at the time limit, determinism, registry options."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.envs import spaces
from jaxrl.envs.mpe import SimpleSpread

from mpe_states import JAXMARL_EPISODE, NUM_STATES, assert_close, from_jaxmarl, random_state, to_jaxmarl

# (our name, JaxMARL's name, JaxMARL's constructor keywords)
CASES = [
    ("MPE_simple_spread_v3", "MPE_simple_spread_v3", {}),
    ("MPE_simple_spread_v3-continuous", "MPE_simple_spread_v3", {"action_type": "Continuous"}),
    ("MPE_simple_speaker_listener_v4", "MPE_simple_speaker_listener_v4", {}),
    ("MPE_simple_speaker_listener_v4-continuous", "MPE_simple_speaker_listener_v4", {"action_type": "Continuous"}),
]


@pytest.fixture(scope="module")
def jaxmarl():
    return pytest.importorskip("jaxmarl")


# ------------------------------------------------------------------------------ parity with JaxMARL
@pytest.mark.parametrize("name, jm_name, jm_kwargs", CASES, ids=[c[0] for c in CASES])
def test_step_matches_jaxmarl_from_random_states(jaxmarl, name, jm_name, jm_kwargs):
    """From the same states, actions and keys, `step` (auto-reset included: some copies are at the
    time limit) gives JaxMARL's observations, rewards, dones, positions and velocities; with
    `max_steps_in_episode=26`, JaxMARL's episode length."""
    env, params = jaxrl.make(name, max_steps_in_episode=JAXMARL_EPISODE)
    jm_env = jaxmarl.make(jm_name, **jm_kwargs)
    action_space = spaces.Dict(env.action_spaces(params))

    def both(key):
        key_state, key_act, key_step = jax.random.split(key, 3)
        state = random_state(key_state, env, params)
        actions = action_space.sample(key_act)
        ours = env.step(key_step, state, actions, params)
        ours_no_reset = env.step_env(jax.random.split(key_step)[0], state, actions, params)
        theirs = jm_env.step(key_step, to_jaxmarl(state, jm_env), actions)
        theirs_no_reset = jm_env.step_env(jax.random.split(key_step)[0], to_jaxmarl(state, jm_env), actions)
        return state, ours, ours_no_reset, theirs, theirs_no_reset

    keys = jax.random.split(jax.random.key(0), NUM_STATES)
    state, ours, ours_nr, theirs, theirs_nr = jax.jit(jax.vmap(both))(keys)
    obs, new_state, rewards, terminated, truncated, info = ours
    jm_obs, jm_state, jm_rewards, jm_dones, _ = theirs
    assert_close(obs, jm_obs, "obs")
    assert_close(rewards, jm_rewards, "rewards")
    assert_close(info["final_observation"], theirs_nr[0], "final_observation")
    assert_close(ours_nr[1], from_jaxmarl(theirs_nr[1], env), "state before reset")
    assert_close(new_state, from_jaxmarl(jm_state, env), "state after reset")
    for agent in env.agents:
        np.testing.assert_array_equal(truncated[agent], jm_dones[agent])
        assert not np.any(terminated[agent])
    ends = np.asarray(jm_dones["__all__"])
    assert 0 < ends.sum() < NUM_STATES  # both episode ends and ordinary steps were compared
    if isinstance(env, SimpleSpread):  # some agents overlapped (collision penalty, contact force)
        assert np.any(np.asarray(rewards["agent_0"]) != np.asarray(rewards["agent_2"]))


@pytest.mark.parametrize("name, jm_name, jm_kwargs", CASES[::2], ids=[c[0] for c in CASES[::2]])
def test_trajectories_match_jaxmarl_through_episode_ends(jaxmarl, name, jm_name, jm_kwargs):
    """60 steps from reset with the same keys and random actions (two auto-resets): the same
    observations and dones as JaxMARL's own `reset`/`step`."""
    env, params = jaxrl.make(name, max_steps_in_episode=JAXMARL_EPISODE)
    jm_env = jaxmarl.make(jm_name, **jm_kwargs)
    action_space = spaces.Dict(env.action_spaces(params))

    def rollout(key):
        obs, state = env.reset(key, params)
        jm_obs, jm_state = jm_env.reset(key)

        def body(carry, key):
            state, jm_state = carry
            actions = action_space.sample(jax.random.fold_in(key, 1))
            obs, state, _, _, truncated, _ = env.step(key, state, actions, params)
            jm_obs, jm_state, _, jm_dones, _ = jm_env.step(key, jm_state, actions)
            return (state, jm_state), (obs, truncated, jm_obs, jm_dones)

        _, traj = jax.lax.scan(body, (state, jm_state), jax.random.split(key, 60))
        return (obs, jm_obs), traj

    (obs0, jm_obs0), (obs, truncated, jm_obs, jm_dones) = jax.jit(jax.vmap(rollout))(
        jax.random.split(jax.random.key(1), 32))
    assert_close(obs0, jm_obs0, "reset obs")
    assert_close(obs, jm_obs, "obs")
    for agent in env.agents:
        np.testing.assert_array_equal(truncated[agent], jm_dones[agent])
    assert np.asarray(jm_dones["__all__"]).sum() == 2 * 32


# ------------------------------------------------------------------------------ our contract
@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_episodes_are_truncated_at_step_25_and_never_terminate(name):
    env, params = jaxrl.make(name)
    assert params.max_steps_in_episode == 25
    action_space = spaces.Dict(env.action_spaces(params))

    def rollout(key):
        _, state = env.reset(key, params)

        def body(state, key):
            obs, state, _, terminated, truncated, info = env.step(key, state, action_space.sample(key), params)
            return state, (obs, terminated, truncated, info["final_observation"], state.time)

        return jax.lax.scan(body, state, jax.random.split(key, 50))[1]

    obs, terminated, truncated, final_obs, time = jax.jit(jax.vmap(rollout))(jax.random.split(jax.random.key(2), 8))
    ends = np.zeros(50, bool)
    ends[[24, 49]] = True
    for agent in env.agents:
        np.testing.assert_array_equal(truncated[agent], np.broadcast_to(ends, (8, 50)))
        assert not np.any(terminated[agent])
    # The final observation is the finished episode's; the returned one a fresh episode's.
    obs, final_obs = (np.concatenate([x[a] for a in env.agents], axis=-1) for x in (obs, final_obs))
    np.testing.assert_array_equal(final_obs[:, ~ends], obs[:, ~ends])
    assert np.all(np.any(final_obs[:, ends] != obs[:, ends], axis=-1))
    np.testing.assert_array_equal(time[:, ends], 0)


@pytest.mark.parametrize("name", ["MPE_simple_spread_v3", "MPE_simple_speaker_listener_v4"])
def test_deterministic_per_key(name):
    env, params = jaxrl.make(name)
    action_space = spaces.Dict(env.action_spaces(params))

    def rollout(key):
        obs, state = env.reset(key, params)
        for k in jax.random.split(key, 5):
            obs, state, *_ = env.step(k, state, action_space.sample(k), params)
        return obs

    run = jax.jit(rollout)
    assert_close(run(jax.random.key(3)), run(jax.random.key(3)), "same key")
    first, other = run(jax.random.key(3)), run(jax.random.key(4))
    assert not np.allclose(first[env.agents[-1]], other[env.agents[-1]])


def test_sizes_and_options_through_make():
    env, params = jaxrl.make("MPE_simple_spread_v3", num_agents=4, num_landmarks=2, local_ratio=0.2)
    assert env.agents == ("agent_0", "agent_1", "agent_2", "agent_3") and params.local_ratio == 0.2
    obs, _ = env.reset(jax.random.key(0), params)
    assert {a: o.shape for a, o in obs.items()} == {a: (4 + 4 + 12,) for a in env.agents}
    env, params = jaxrl.make("MPE_simple_speaker_listener_v4")
    assert env.agents == ("speaker_0", "listener_0")
    assert env.action_spaces(params) == {"speaker_0": spaces.Discrete(3), "listener_0": spaces.Discrete(5)}
    with pytest.raises(ValueError, match="local_ratio must be in \\[0, 1\\], got 1.5"):
        jaxrl.make("MPE_simple_spread_v3", local_ratio=1.5)
    with pytest.raises(ValueError, match="action_type must be one of"):
        jaxrl.make("MPE_simple_spread_v3", action_type="Continuous")
    assert {c[0] for c in CASES} <= set(jaxrl.envs.list_envs(include_adapters=False))


def test_movement_actions_push_along_the_axes():
    """Discrete 1..4 = -x, +x, -y, +y (MPE's order); continuous (a2 - a1, a4 - a3)."""
    env = SimpleSpread(num_agents=1, num_landmarks=1)
    params = env.default_params
    _, state = env.reset(jax.random.key(0), params)
    for action, direction in enumerate([(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)]):
        _, moved, *_ = env.step_env(jax.random.key(0), state, {"agent_0": jnp.int32(action)}, params)
        np.testing.assert_allclose(moved.agent_vel[0], np.array(direction) * params.accel * params.dt)
    continuous = SimpleSpread(num_agents=1, num_landmarks=1, action_type="continuous")
    action = jnp.array([1.0, 0.25, 1.0, 0.5, 0.0])
    _, moved, *_ = continuous.step_env(jax.random.key(0), state, {"agent_0": action}, params)
    np.testing.assert_allclose(moved.agent_vel[0], np.array([0.75, -0.5]) * params.accel * params.dt, rtol=1e-6)
