"""The env-suite adapters (craftax:, xminigrid:, navix:, jumanji:): the contract (check_env: auto-reset,
terminated vs truncated with the final observation, spaces, jit/vmap), a few hundred random steps
under jit + vmap, explicit time limits, and the messages for unknown names and missing suites.

The contract runs compile each suite's step (tens of seconds to minutes on a 2-core CPU): slow set.
A suite that is not installed skips with the extra to install (navix is not in the test extra).
"""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.envs import check_env
from jaxrl.envs.multi import AVAIL_ACTIONS
from jaxrl.envs.suites import SuiteNotInstalled, import_suite


def need(module: str, extra: str):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"{module} is not installed: pip install 'jaxrl[{extra}]'")


# name, x64 (craftax and navix do not trace with jax_enable_x64), module, extra
CONTRACT = [
    ("craftax:Craftax-Classic-Symbolic-v1", False, "craftax", "craftax"),
    ("xminigrid:MiniGrid-Empty-6x6", True, "xminigrid", "xminigrid"),
    ("navix:Navix-Empty-5x5-v0", False, "navix", "navix"),
    ("jumanji:Knapsack-v1", True, "jumanji", "jumanji"),
    ("jumanji:Minesweeper-v0", True, "jumanji", "jumanji"),  # MultiDiscrete actions, flattened
]


@pytest.mark.slow
@pytest.mark.parametrize("name, x64, module, extra", CONTRACT, ids=[c[0] for c in CONTRACT])
def test_suite_env_contract_and_random_steps(name, x64, module, extra):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: pip install 'jaxrl[{extra}]'")
    env, params = jaxrl.make(name, max_steps_in_episode=20)  # short episodes: truncation is exercised
    check_env(env, params, num_envs=8, num_steps=300, check_x64=x64)
    # A few hundred random steps under jit + vmap: flags, rewards and time stay consistent.
    obs_space, act_space = env.observation_space(params), env.action_space(params)

    def run(key):
        obs, state = env.reset(key, params)

        def step(carry, key):
            state, _ = carry
            key_act, key_step = jax.random.split(key)
            action = act_space.sample(key_act)
            if isinstance(obs_space, jaxrl.envs.spaces.Dict) and AVAIL_ACTIONS in obs_space.spaces:
                mask = carry[1][AVAIL_ACTIONS]
                action = jax.random.categorical(key_act, jnp.where(mask, 0.0, -jnp.inf)).astype(jnp.int32)
            obs, state, reward, terminated, truncated, info = env.step(key_step, state, action, params)
            return (state, obs), (reward, terminated, truncated, state.time)

        return jax.lax.scan(step, (state, obs), jax.random.split(key, 300))[1]

    reward, terminated, truncated, time = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(1), 8))
    assert reward.shape == (8, 300) and np.all(np.isfinite(reward))
    assert np.asarray(time).max() < 20  # never past the explicit limit
    assert np.asarray(truncated | terminated).any()


@need("xminigrid", "xminigrid")
@pytest.mark.slow
def test_xminigrid_time_limit_is_ours_and_truncates():
    env, params = jaxrl.make("xminigrid:MiniGrid-Empty-8x8", max_steps_in_episode=3)
    obs, state = env.reset(jax.random.key(0), params)
    flags = []
    for _ in range(3):
        obs, state, reward, terminated, truncated, info = env.step(jax.random.key(1), state, jnp.int32(0), params)
        flags.append((bool(terminated), bool(truncated)))
    assert flags == [(False, False), (False, False), (False, True)]  # turning left never reaches the goal


def test_missing_suite_names_the_extra(monkeypatch):
    with pytest.raises(SuiteNotInstalled, match=r"pip install 'jaxrl\[craftax\]'") as info:
        import_suite("craftax_not_a_module", "craftax")
    assert isinstance(info.value, ValueError) and isinstance(info.value, ImportError)


@pytest.mark.parametrize("name, suggestion, module", [
    ("xminigrid:MiniGrid-Empty-7x7", "xminigrid:MiniGrid-Empty-8x8", "xminigrid"),
    ("jumanji:Snake", "jumanji:Snake-v1", "jumanji"),
    ("craftax:Craftax-Classic-Symbolc-v1", "craftax:Craftax-Classic-Symbolic-v1", "craftax"),
    ("navix:Navix-Empty-5x5", "navix:Navix-Empty-5x5-v0", "navix"),
])
def test_unknown_suite_env_suggests_from_the_suites_registry(name, suggestion, module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: pip install 'jaxrl[{module}]'")
    with pytest.raises(ValueError, match="Did you mean") as info:
        jaxrl.make(name)
    assert suggestion in str(info.value)


def test_misspelt_prefix_suggests_the_adapter():
    with pytest.raises(ValueError, match="did you mean 'craftax:'"):
        jaxrl.make("craftx:Craftax-Classic-Symbolic-v1")


@need("jumanji", "jumanji")
def test_ppo_trains_on_a_jumanji_env_with_dict_observations_and_masks():
    """End to end through the population program (its cache key once choked on a suite env's dict)."""
    result = jaxrl.train("ppo", "jumanji:Knapsack-v1", seeds=1, out=None, progress=False,
                         config={"num_envs": 8, "num_steps": 16, "total_timesteps": 1024, "num_logs": 1,
                                 "eval_episodes": 2})
    assert np.isfinite(result.final_eval_return).all() and result.final_eval_return[0] > 0
