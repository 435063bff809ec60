"""Gymnasium export: a jaxrl env driven through Gymnasium's VectorEnv / Env APIs from numpy code."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gymnasium

import jaxrl  # noqa: E402
from gymnasium import spaces as gspaces  # noqa: E402
from gymnasium.vector import AutoresetMode, VectorEnv  # noqa: E402
from gymnasium.vector.utils import batch_space  # noqa: E402
from jaxrl.envs import spaces  # noqa: E402
from jaxrl.envs.gymnasium_export import (  # noqa: E402
    JaxGymnasiumEnv,
    to_gymnasium_env,
    to_gymnasium_space,
    to_gymnasium_vector_env,
)

N = 4
NAMES = ["CartPole-v1", "Pendulum-v1"]


def _actions(venv: VectorEnv, rng: np.random.Generator) -> np.ndarray:
    """Actions from numpy (as non-JAX code would make them), in Gymnasium's dtypes."""
    space = venv.single_action_space
    if isinstance(space, gspaces.Discrete):
        return rng.integers(0, space.n, size=venv.num_envs)
    return rng.uniform(space.low, space.high, size=(venv.num_envs, *space.shape)).astype(space.dtype)


# ----------------------------------------------------------------------------- spaces
def test_space_conversion():
    box = spaces.Box(-1.0, 2.0, (3,), jnp.float32)
    assert to_gymnasium_space(box) == gspaces.Box(-1.0, 2.0, (3,), np.float32)
    assert to_gymnasium_space(spaces.Discrete(5)) == gspaces.Discrete(5)
    nested = spaces.Dict({"a": spaces.Discrete(3), "b": spaces.Tuple([box, spaces.Discrete(2)])})
    g = to_gymnasium_space(nested)
    g_box = gspaces.Box(-1.0, 2.0, (3,), np.float32)
    assert g == gspaces.Dict({"a": gspaces.Discrete(3), "b": gspaces.Tuple([g_box, gspaces.Discrete(2)])})
    batched = batch_space(g, 7)
    assert batched["b"][0].shape == (7, 3) and batched["a"].shape == (7,)


def test_vector_spaces():
    venv = to_gymnasium_vector_env("CartPole-v1", N)
    assert isinstance(venv, VectorEnv) and venv.num_envs == N
    assert venv.single_action_space == gspaces.Discrete(2)
    assert venv.action_space == gspaces.MultiDiscrete([2] * N)
    assert venv.single_observation_space.shape == (4,) and venv.single_observation_space.dtype == np.float32
    assert venv.observation_space.shape == (N, 4)
    venv = to_gymnasium_vector_env("Pendulum-v1", N)
    assert venv.single_action_space == gspaces.Box(-2.0, 2.0, (1,), np.float32)
    assert venv.action_space.shape == (N, 1)
    assert venv.single_observation_space.shape == (3,)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP


@pytest.mark.parametrize("name", NAMES)
def test_reset_step_shapes_and_dtypes(name):
    venv = to_gymnasium_vector_env(name, N, seed=0)
    obs, infos = venv.reset()
    assert isinstance(obs, np.ndarray) and obs.dtype == np.float32 and obs in venv.observation_space
    assert infos == {}
    rng = np.random.default_rng(0)
    for _ in range(3):
        obs, rewards, terminations, truncations, infos = venv.step(_actions(venv, rng))
        assert isinstance(obs, np.ndarray) and obs in venv.observation_space
        assert rewards.shape == (N,) and rewards.dtype == np.float64
        assert terminations.shape == (N,) and terminations.dtype == np.bool_
        assert truncations.shape == (N,) and truncations.dtype == np.bool_
    venv.close()
    assert venv.closed


def test_step_before_reset_is_an_error():
    venv = to_gymnasium_vector_env("CartPole-v1", 2)
    with pytest.raises(RuntimeError, match="reset"):
        venv.step(np.zeros(2, np.int64))


# ----------------------------------------------------------------------------- equality with JAX
@pytest.mark.parametrize("name", NAMES)
def test_rollout_equals_the_jax_env(name):
    """Per-step results equal our env's own `step` with the documented key schedule, through
    several auto-resets (short episodes), including Gymnasium's same-step final-obs infos."""
    env, params = jaxrl.make(name, max_steps_in_episode=7)
    venv = to_gymnasium_vector_env((env, params), N, seed=3)
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    key = jax.random.PRNGKey(3)
    key, sub = jax.random.split(key)
    obs_ref, state = reset(jax.random.split(sub, N), params)
    obs, _ = venv.reset()
    np.testing.assert_array_equal(obs, np.asarray(obs_ref))

    rng = np.random.default_rng(0)
    ends = 0
    for t in range(20):
        actions = _actions(venv, rng)
        key, sub = jax.random.split(key)
        action_space = env.action_space(params)
        obs_ref, state, r_ref, te_ref, tr_ref, info_ref = step(
            jax.random.split(sub, N), state, jnp.asarray(actions, action_space.dtype), params
        )
        obs, rewards, terminations, truncations, infos = venv.step(actions)
        np.testing.assert_array_equal(obs, np.asarray(obs_ref), err_msg=f"step {t}")
        np.testing.assert_array_equal(rewards, np.asarray(r_ref, np.float64))
        np.testing.assert_array_equal(terminations, np.asarray(te_ref))
        np.testing.assert_array_equal(truncations, np.asarray(tr_ref))
        done = terminations | truncations
        if not done.any():
            assert "final_obs" not in infos
            continue
        ends += int(done.sum())
        # Gymnasium's SAME_STEP convention (as SyncVectorEnv): obs already belongs to the next
        # episode; the finished episode's last observation is in infos["final_obs"].
        np.testing.assert_array_equal(infos["_final_obs"], done)
        np.testing.assert_array_equal(infos["_final_info"], done)
        assert infos["final_obs"].dtype == object and infos["final_obs"].shape == (N,)
        final_ref = np.asarray(info_ref["final_observation"])
        for i in range(N):
            if done[i]:
                assert infos["final_obs"][i].dtype == np.float32
                np.testing.assert_array_equal(infos["final_obs"][i], final_ref[i])
                assert not np.array_equal(infos["final_obs"][i], obs[i])
                assert infos["final_obs"][i] in venv.single_observation_space
            else:
                assert infos["final_obs"][i] is None
    assert ends >= N * 2  # every copy finished at least two (7-step) episodes


def test_autoreset_matches_gymnasium_sync_vector_env_layout():
    """Our infos on an episode end have the keys and masks SyncVectorEnv(SAME_STEP) produces."""
    ours = to_gymnasium_vector_env("CartPole-v1", 2, seed=0)
    ours.reset()
    theirs = gymnasium.vector.SyncVectorEnv(
        [lambda: gymnasium.make("CartPole-v1", max_episode_steps=3)] * 2,
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    theirs.reset(seed=0)
    ours_p = to_gymnasium_vector_env(jaxrl.make("CartPole-v1", max_steps_in_episode=3), 2, seed=0)
    ours_p.reset()
    for _ in range(3):
        *_, info_ours = ours_p.step(np.zeros(2, np.int64))
        *_, info_theirs = theirs.step(np.zeros(2, np.int64))
    assert set(info_ours) == set(info_theirs) == {"final_obs", "_final_obs", "final_info", "_final_info"}
    for k in ("_final_obs", "_final_info"):
        np.testing.assert_array_equal(info_ours[k], info_theirs[k])
        assert info_ours[k].dtype == info_theirs[k].dtype
    assert ours.metadata["autoreset_mode"] == theirs.metadata["autoreset_mode"]


# ----------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("name", NAMES)
def test_deterministic_with_seed(name):
    def run(venv: VectorEnv, seed: int | None) -> list[np.ndarray]:
        obs, _ = venv.reset(seed=seed)
        rng = np.random.default_rng(1)
        out = [obs]
        for _ in range(5):
            out.append(venv.step(_actions(venv, rng))[0])
        return out

    env_params = jaxrl.make(name)
    a = to_gymnasium_vector_env(env_params, N, seed=11)
    b = to_gymnasium_vector_env(env_params, N, seed=0)  # shares a's compiled functions
    first = run(a, None)  # the constructor's seed
    for x, y in zip(first, run(b, 11)):  # the same seed through reset
        np.testing.assert_array_equal(x, y)
    for x, y in zip(first, run(a, 11)):  # reseeding reproduces it
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(run(a, 12)[0], first[0])
    per_copy = run(a, [5, 6, 7, 8])[0]  # one seed per copy
    np.testing.assert_array_equal(per_copy, run(b, [5, 6, 7, 8])[0])


# ----------------------------------------------------------------------------- single env
@pytest.mark.parametrize("name", NAMES)
def test_single_env_passes_gymnasium_check_env(name):
    from gymnasium.utils.env_checker import check_env

    env = to_gymnasium_env(name)
    assert isinstance(env, gymnasium.Env) and isinstance(env, JaxGymnasiumEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # advisory warnings (infinite bounds, no render spec)
        check_env(env)


def test_single_env_episode_end():
    jenv, params = jaxrl.make("CartPole-v1", max_steps_in_episode=4)
    env = to_gymnasium_env((jenv, params), seed=0)
    obs, info = env.reset(seed=1)
    assert obs.dtype == np.float32 and obs.shape == (4,) and info == {}
    key = jax.random.PRNGKey(1)
    key, sub = jax.random.split(key)
    obs_ref, state = jenv.reset(sub, params)
    np.testing.assert_array_equal(obs, np.asarray(obs_ref))
    for t in range(4):
        obs, reward, terminated, truncated, info = env.step(np.int64(1))
        assert type(reward) is float and type(terminated) is bool and type(truncated) is bool
        assert "final_observation" not in info
        key, sub = jax.random.split(key)
        _, state, *_, info_ref = jenv.step(sub, state, jnp.int32(1), params)
        # Gymnasium's single-env convention: the step that ends an episode returns its last
        # observation (our auto-reset's info["final_observation"]), not the next episode's first.
        np.testing.assert_array_equal(obs, np.asarray(info_ref["final_observation"]))
    assert truncated and not terminated
    obs2, _ = env.reset()
    assert np.abs(obs2).max() <= 0.05  # a fresh episode (CartPole starts in U(-0.05, 0.05))


# ----------------------------------------------------------------------------- composite spaces
from flax import struct  # noqa: E402

from jaxrl.envs.core import Environment, EnvParams, EnvState  # noqa: E402


@struct.dataclass
class _CountState(EnvState):
    pos: jax.Array


class _DictObsEnv(Environment):
    """Dict observation {pos: Box(2), count: Discrete(10)}, Tuple action (Discrete(3), Box(1))."""

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=3)

    def reset_env(self, key, params):
        state = _CountState(time=jnp.int32(0), pos=jax.random.uniform(key, (2,)))
        return self._obs(state), state

    def step_env(self, key, state, action, params):
        direction, push = action
        pos = state.pos + push[0] * jnp.stack([direction == 1, direction == 2]).astype(jnp.float32)
        state = _CountState(time=state.time + 1, pos=pos)
        return self._obs(state), state, jnp.sum(pos), jnp.asarray(False), {"norm": jnp.linalg.norm(pos)}

    def _obs(self, state):
        return {"pos": state.pos, "count": state.time}

    def observation_space(self, params):
        return spaces.Dict({"pos": spaces.Box(-np.inf, np.inf, (2,)), "count": spaces.Discrete(10)})

    def action_space(self, params):
        return spaces.Tuple([spaces.Discrete(3), spaces.Box(-1.0, 1.0, (1,))])


def test_composite_spaces_through_the_vector_env():
    venv = to_gymnasium_vector_env(_DictObsEnv(), 3, seed=0)
    assert isinstance(venv.single_observation_space, gspaces.Dict)
    assert isinstance(venv.action_space, gspaces.Tuple)
    obs, _ = venv.reset()
    assert obs in venv.observation_space and obs["count"].dtype == np.int64
    venv.action_space.seed(0)
    for t in range(3):
        obs, rewards, terminations, truncations, infos = venv.step(venv.action_space.sample())
        assert obs in venv.observation_space
        assert infos["norm"].shape == (3,) and infos["_norm"].all()
    assert truncations.all() and not terminations.any()
    np.testing.assert_array_equal(obs["count"], 0)
    for i in range(3):
        final = infos["final_obs"][i]
        assert final in venv.single_observation_space and final["count"] == 3
    np.testing.assert_array_equal(infos["final_info"]["norm"], infos["norm"])
    assert infos["_final_info"].all() and infos["final_info"]["_norm"].all()


# ----------------------------------------------------------------------------- brax (slow)
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
def test_brax_env_through_gymnasium():
    from gymnasium.utils.env_checker import check_env

    env_params = jaxrl.make("brax:inverted_pendulum", max_steps_in_episode=5)
    venv = to_gymnasium_vector_env(env_params, 8, seed=0)
    assert venv.single_action_space == gspaces.Box(-1.0, 1.0, (1,), np.float32)
    obs, _ = venv.reset()
    assert obs.shape == (8, 4) and obs.dtype == np.float32
    for _ in range(5):
        obs, rewards, terminations, truncations, infos = venv.step(venv.action_space.sample())
    assert (terminations | truncations).all() and infos["_final_obs"].all()
    assert np.abs(obs).max() <= 0.01  # fresh episodes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(to_gymnasium_env(env_params))
