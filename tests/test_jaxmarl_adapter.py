"""`jaxmarl:NAME`: JaxMARL's envs in the MultiAgentEnv contract (explicit truncation, final
observations, action masks); its MPE steps as our built-in MPE does."""

from __future__ import annotations

import builtins

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.envs import spaces
from jaxrl.envs.check import check_env
from jaxrl.envs.jaxmarl_adapter import JaxMARLAdapter, JaxMARLState

jaxmarl = pytest.importorskip("jaxmarl")

from mpe_states import JAXMARL_EPISODE, NUM_STATES, assert_close, random_state, to_jaxmarl  # noqa: E402


@pytest.mark.parametrize("name", ["MPE_simple_spread_v3", "MPE_simple_speaker_listener_v4"])
def test_adapted_mpe_steps_as_the_builtin(name):
    """From the same random states, actions and keys: the same observations, rewards, flags and
    final observations as our `MPE_*` with JaxMARL's episode length (26 steps)."""
    builtin, params = jaxrl.make(name, max_steps_in_episode=JAXMARL_EPISODE)
    adapted, adapted_params = jaxrl.make(f"jaxmarl:{name}")
    assert adapted.agents == builtin.agents
    assert adapted.observation_spaces(adapted_params) == builtin.observation_spaces(params)
    assert adapted.action_spaces(adapted_params) == builtin.action_spaces(params)
    action_space = spaces.Dict(builtin.action_spaces(params))

    def both(key):
        key_state, key_act, key_step = jax.random.split(key, 3)
        state = random_state(key_state, builtin, params)
        adapted_state = JaxMARLState(time=state.time, jaxmarl_state=to_jaxmarl(state, adapted.unwrapped))
        actions = action_space.sample(key_act)
        ours = builtin.step(key_step, state, actions, params)
        theirs = adapted.step(key_step, adapted_state, actions, adapted_params)
        return ours, theirs

    ours, theirs = jax.jit(jax.vmap(both))(jax.random.split(jax.random.key(0), NUM_STATES))
    obs, _, rewards, terminated, truncated, info = ours
    a_obs, a_state, a_rewards, a_terminated, a_truncated, a_info = theirs
    assert_close(obs, a_obs, "obs")
    assert_close(rewards, a_rewards, "rewards")
    assert_close(info["final_observation"], a_info["final_observation"], "final_observation")
    for agent in builtin.agents:
        np.testing.assert_array_equal(truncated[agent], a_truncated[agent])
        np.testing.assert_array_equal(terminated[agent], a_terminated[agent])
    assert 0 < np.asarray(a_truncated[builtin.agents[0]]).sum() < NUM_STATES
    np.testing.assert_array_equal(a_state.time, np.where(a_truncated[builtin.agents[0]], 0, a_state.jaxmarl_state.step))


@pytest.mark.parametrize("name, x64", [("MPE_simple_spread_v3", True), ("switch_riddle", True),
                                      ("HeuristicEnemySMAX", False)])  # JaxMARL's SMAX fails to trace with x64 on
def test_check_env_passes_on_adapted_envs(name, x64):
    report = check_env(f"jaxmarl:{name}", num_envs=8, num_steps=16, check_x64=x64)
    assert {"agents", "jit", "vmap", "final_observation", "auto_reset"} <= set(report.passed)
    assert ("dtypes_x64" in report.passed) == x64
    assert set(report.skipped) == {"truncation"}  # the time limit is JaxMARL's constructor setting


def test_adapted_mpe_episode_is_jaxmarls_26_steps():
    env, params = jaxrl.make("jaxmarl:MPE_simple_spread_v3")
    obs, state = env.reset(jax.random.key(0), params)
    step = jax.jit(env.step)
    actions = {a: jnp.int32(0) for a in env.agents}
    flags = []
    for t in range(1, 28):
        obs, state, rewards, terminated, truncated, info = step(jax.random.key(t), state, actions, params)
        flags.append((bool(terminated["agent_0"]), bool(truncated["agent_0"]), int(state.time)))
    assert flags[24] == (False, False, 25) and flags[25] == (False, True, 0) and flags[26] == (False, False, 1)


def _smax_state_with(env, state, enemies_dead: bool, step: int):
    """The adapter's SMAX state with every enemy's health zeroed (optionally) and JaxMARL's counter set."""
    inner = state.jaxmarl_state.state
    health = jnp.where(jnp.arange(inner.unit_health.shape[0]) >= env.unwrapped.num_allies, 0.0, inner.unit_health)
    inner = inner.replace(unit_health=health if enemies_dead else inner.unit_health, step=jnp.int32(step))
    return state.replace(jaxmarl_state=state.jaxmarl_state.replace(state=inner))


def test_smax_ends_are_terminations_or_its_time_limit():
    """HeuristicEnemySMAX: a wiped-out team terminates every agent; the counter passing max_steps
    truncates; both at once: both flags (terminated wins). Masks and the world state come through."""
    env, params = jaxrl.make("jaxmarl:HeuristicEnemySMAX", max_steps=5)
    _, state = env.reset(jax.random.key(0), params)
    actions = {a: jnp.int32(4) for a in env.agents}  # stop
    step = jax.jit(lambda s: env.step(jax.random.key(1), s, actions, params)[2:5])
    for enemies_dead, counter, want in [(False, 0, (False, False)), (True, 0, (True, False)),
                                        (False, 5, (False, True)), (True, 5, (True, True))]:
        _, terminated, truncated = step(_smax_state_with(env, state, enemies_dead, counter))
        assert {(bool(terminated[a]), bool(truncated[a])) for a in env.agents} == {want}
    masks = env.avail_actions(state, params)
    n = env.action_spaces(params)["ally_0"].n
    assert set(masks) == set(env.agents) and all(m.dtype == jnp.bool_ and m.shape == (n,) for m in masks.values())
    assert env.global_state(state, params).dtype == jnp.float32
    obs, _ = env.reset(jax.random.key(0), params)
    assert set(obs) == set(env.agents)  # JaxMARL's "world_state" key is global_state, not an agent


def test_other_envs_count_done_as_terminated():
    env, params = jaxrl.make("jaxmarl:switch_riddle")
    _, state = env.reset(jax.random.key(0), params)
    tell = {a: jnp.int32(2) for a in env.agents}  # TELL ends the game
    _, state, _, terminated, truncated, info = env.step(jax.random.key(1), state, tell, params)
    assert all(bool(terminated[a]) and not bool(truncated[a]) for a in env.agents) and int(state.time) == 0
    assert env.observation_spaces(params)["agent_0"] == spaces.Box(0, 1, (2,))  # MultiDiscrete([2, 2])


def test_registry_listing_import_paths_and_errors():
    assert "jaxmarl:MPE_simple_spread_v3" in jaxrl.envs.list_envs()
    env, _ = jaxrl.make("jaxmarl.environments.mpe.simple_spread:SimpleSpreadMPE")
    assert isinstance(env, JaxMARLAdapter)
    with pytest.raises(ValueError, match="jaxmarl has no environment 'MPE_simple_sprd_v3'. Closest: "
                                         "jaxmarl:MPE_simple_spread_v3"):
        jaxrl.make("jaxmarl:MPE_simple_sprd_v3")


def test_missing_jaxmarl_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_jaxmarl(name, *args, **kwargs):
        if name == "jaxmarl":
            raise ImportError("No module named 'jaxmarl'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jaxmarl)
    with pytest.raises(ImportError, match=r"pip install 'jaxrl\[marl\]'"):
        jaxrl.make("jaxmarl:MPE_simple_spread_v3")
