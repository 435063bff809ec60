"""The environment contract, checked directly (independently of check_env) on every registered
single-agent env and a few gymnax adapters: jit, vmap over 1024 copies with per-copy params, dtypes,
termination and truncation flags, auto-reset, final_observation and determinism. (The multi-agent
MPE envs: tests/test_mpe.py and check_env in tests/test_check_env.py.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.envs.multi import is_multi_agent
from jaxrl.envs.randomize import batch_params

# Array observations (dict-observation probes, e.g. ProbeMaskedActions-v0, run check_env in test_encoders.py).
SINGLE_AGENT_NAMES = [n for n in jaxrl.envs.registered_names() if not is_multi_agent(jaxrl.make(n)[0])
                      and isinstance(jaxrl.make(n)[0].observation_space(jaxrl.make(n)[1]), jaxrl.envs.spaces.Box)]
ADAPTER_NAMES = ["gymnax:CartPole-v1", "gymnax:Breakout-MinAtar", "gymnax:Catch-bsuite"]
NUM_ENVS = 1024
NUM_STEPS = 8
LIMITS = np.resize(np.arange(1, 7, dtype=np.int32), NUM_ENVS)  # per-copy episode limits 1..6

# Tests run short rollouts once, so compile time dominates: skip XLA's LLVM optimisations on CPU.
FAST_COMPILE = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None


def make_env(name: str):
    return jaxrl.make(name)


def contract_program(env, obs_space, act_space):
    """(reset_keys [N], step_keys [T, N], act_keys [T, N], params [N]) -> dict of [T, N, ...] arrays."""

    def program(reset_keys, step_keys, act_keys, params):
        obs0, state0 = jax.vmap(env.reset)(reset_keys, params)

        def body(state, keys):
            step_key, act_key = keys
            action = jax.vmap(act_space.sample)(act_key)
            obs, state, reward, terminated, truncated, info = jax.vmap(env.step)(step_key, state, action, params)
            # Auto-reset contract of the base class: the new episode is reset(split(key)[1]).
            reset_obs, reset_state = jax.vmap(env.reset)(jax.vmap(lambda k: jax.random.split(k)[1])(step_key), params)
            return state, dict(
                obs=obs, final_obs=info["final_observation"], reset_obs=reset_obs, reward=reward,
                terminated=terminated, truncated=truncated, time=state.time, reset_time=reset_state.time,
                obs_in_space=jax.vmap(obs_space.contains)(obs),
                final_in_space=jax.vmap(obs_space.contains)(info["final_observation"]),
            )

        _, traj = jax.lax.scan(body, state0, (step_keys, act_keys))
        return dict(obs0=obs0, time0=state0.time, obs0_in_space=jax.vmap(obs_space.contains)(obs0), traj=traj)

    return program


@pytest.mark.parametrize("name", SINGLE_AGENT_NAMES + ADAPTER_NAMES)
def test_env_contract(name: str) -> None:
    env, params = make_env(name)
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    batched = batch_params(params, NUM_ENVS).replace(max_steps_in_episode=jnp.asarray(LIMITS))
    key = jax.random.key(7)
    k_reset, k_step, k_act = jax.random.split(key, 3)
    args = (
        jax.random.split(k_reset, NUM_ENVS),
        jax.random.split(k_step, (NUM_STEPS, NUM_ENVS)),
        jax.random.split(k_act, (NUM_STEPS, NUM_ENVS)),
        batched,
    )
    program = jax.jit(contract_program(env, obs_space, act_space), compiler_options=FAST_COMPILE)
    out = jax.device_get(program(*args))
    again = jax.device_get(program(*args))
    traj = out["traj"]

    # Determinism: the same keys give bitwise-identical results.
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(again)):
        np.testing.assert_array_equal(a, b)

    # Shapes and dtypes under vmap over 1024 copies.
    T, N = NUM_STEPS, NUM_ENVS
    assert out["obs0"].shape == (N, *obs_space.shape) and out["obs0"].dtype == np.dtype(obs_space.dtype)
    assert traj["obs"].shape == (T, N, *obs_space.shape) and traj["obs"].dtype == out["obs0"].dtype
    assert traj["final_obs"].shape == traj["obs"].shape and traj["final_obs"].dtype == traj["obs"].dtype
    assert traj["reward"].shape == (T, N) and traj["reward"].dtype == np.float32
    for flag in ("terminated", "truncated"):
        assert traj[flag].shape == (T, N) and traj[flag].dtype == np.bool_
    assert traj["time"].dtype == np.int32 and out["time0"].dtype == np.int32
    assert np.isfinite(traj["reward"]).all()

    # Spaces honoured, including final observations.
    assert out["obs0_in_space"].all() and traj["obs_in_space"].all() and traj["final_in_space"].all()
    assert (out["time0"] == 0).all()

    # Flags, time and auto-reset, against a host-side step counter.
    count = np.zeros(N, np.int64)
    for t in range(T):
        count += 1
        terminated, truncated = traj["terminated"][t], traj["truncated"][t]
        done = terminated | truncated
        np.testing.assert_array_equal(truncated, count >= LIMITS, err_msg=f"truncation at step {t}")
        np.testing.assert_array_equal(traj["time"][t], np.where(done, 0, count), err_msg=f"state.time at step {t}")
        # final_observation equals obs except where an episode ended ...
        np.testing.assert_array_equal(traj["final_obs"][t][~done], traj["obs"][t][~done])
        # ... where obs is the fresh episode's reset observation.
        np.testing.assert_allclose(traj["obs"][t][done], traj["reset_obs"][t][done], rtol=1e-5, atol=1e-6)
        count[done] = 0
    assert traj["truncated"][0][LIMITS == 1].all()  # the limit-1 copies truncate on their first step
    # (a step that both terminates and truncates is allowed: terminated wins for bootstrapping)
