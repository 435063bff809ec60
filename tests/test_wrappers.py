"""Wrappers: episode statistics, observation/reward normalisation, flattening, clipping, time limit."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import jaxrl
from jaxrl.envs import spaces
from jaxrl.envs.check import check_env
from jaxrl.envs.core import Environment, EnvParams, EnvState
from jaxrl.envs.running_stats import RunningMeanStd
from jaxrl.envs.wrappers import (
    ClipAction,
    EpisodeStatistics,
    FlattenObservation,
    NormalizeObservation,
    NormalizeReward,
    ScaleReward,
    TimeLimit,
    Wrapper,
    flatten,
)

# Tests run short rollouts once, so compile time dominates: skip XLA's LLVM optimisations on CPU.
FAST_COMPILE = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None


# ------------------------------------------------------------------------------ small test envs
@struct.dataclass
class EchoState(EnvState):
    last: jax.Array


class EchoEnv(Environment):
    """Continuous actions in [-1, 1]^2; the observation echoes the (unclipped) action, reward = its sum.

    Never terminates; the default episode limit is 100.
    """

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=100)

    def reset_env(self, key, params):
        state = EchoState(time=jnp.int32(0), last=jnp.zeros((2,), jnp.float32))
        return state.last, state

    def step_env(self, key, state, action, params):
        action = jnp.asarray(action, jnp.float32)
        state = EchoState(time=state.time + 1, last=action)
        return action, state, jnp.sum(action), jnp.asarray(False), {}

    def observation_space(self, params):
        return spaces.Box(-10.0, 10.0, (2,), jnp.float32)

    def action_space(self, params):
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)


@struct.dataclass
class DictState(EnvState):
    pos: jax.Array


class DictObsEnv(Environment):
    """Dict observations {vel: Box[1], flag: Discrete(3), pos: Box[2]} (keys deliberately unsorted)."""

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=6)

    def reset_env(self, key, params):
        state = DictState(time=jnp.int32(0), pos=jax.random.uniform(key, (2,), jnp.float32, -1.0, 1.0))
        return self._obs(state), state

    def step_env(self, key, state, action, params):
        pos = jnp.clip(state.pos + jnp.where(action == 1, 0.25, -0.25), -1.0, 1.0)
        state = DictState(time=state.time + 1, pos=pos)
        return self._obs(state), state, -jnp.abs(pos[0]), pos[0] >= 1.0, {}

    def _obs(self, state):
        return {
            "vel": jnp.reshape(state.pos[1] * 2.0, (1,)),
            "flag": (state.time % 3).astype(jnp.int32),
            "pos": state.pos,
        }

    def observation_space(self, params):
        return spaces.Dict(
            {"vel": spaces.Box(-2.0, 2.0, (1,)), "flag": spaces.Discrete(3), "pos": spaces.Box(-1.0, 1.0, (2,))}
        )

    def action_space(self, params):
        return spaces.Discrete(2)


def rollout(env, params, key, num_steps: int, num_envs: int, axis_name: str | None = None) -> dict:
    """Call inside jit. vmapped reset + `lax.scan` of random-action steps; arrays are [T, N, ...]."""
    action_space = env.action_space(params)

    def step(key, state):
        k_act, k_step = jax.random.split(key)
        action = action_space.sample(k_act)
        return env.step(k_step, state, action, params) + (action,)

    vreset = jax.vmap(lambda k: env.reset(k, params), axis_name=axis_name)
    vstep = jax.vmap(step, axis_name=axis_name)
    k_reset, k_steps = jax.random.split(key)
    obs0, state0 = vreset(jax.random.split(k_reset, num_envs))

    def body(state, key):
        obs, state, reward, terminated, truncated, info, action = vstep(jax.random.split(key, num_envs), state)
        out = dict(obs=obs, state=state, reward=reward, terminated=terminated, truncated=truncated, info=info,
                   action=action)
        return state, out

    _, traj = jax.lax.scan(body, state0, jax.random.split(k_steps, num_steps))
    return dict(obs0=obs0, state0=state0, traj=traj)


# ------------------------------------------------------------------------------ base wrapper
def test_wrapper_delegates() -> None:
    env, params = jaxrl.make("CartPole-v1")
    wrapped = EpisodeStatistics(Wrapper(env))
    assert wrapped.name == "CartPole-v1"
    assert wrapped.unwrapped is env
    assert wrapped.observation_space(params) == env.observation_space(params)
    assert wrapped.action_space(params) == env.action_space(params)
    assert wrapped.default_params == params
    assert wrapped.observation is env.observation  # unknown attributes reach the inner env
    assert "EpisodeStatistics(Wrapper(CartPole()))" == repr(wrapped)


# ------------------------------------------------------------------------------ CartPole-based runs
T, N = 40, 6
CARTPOLE_LIMIT = 9
FROZEN_STATS = RunningMeanStd(mean=jnp.full((4,), 0.1), var=jnp.full((4,), 4.0), count=jnp.float32(100.0))


@pytest.fixture(scope="module")
def cartpole_runs() -> dict:
    """Every CartPole rollout of this module, compiled as one program (the same keys drive all)."""
    env, params = jaxrl.make("CartPole-v1", max_steps_in_episode=CARTPOLE_LIMIT)
    stacks = {
        "raw": (env, None),
        "stats": (EpisodeStatistics(ScaleReward(env, 0.5)), None),
        "norm": (NormalizeObservation(env), None),
        "pooled": (NormalizeObservation(env, axis_name="envs"), "envs"),
        "frozen": (NormalizeObservation(env).frozen(FROZEN_STATS), None),
    }

    def run(key):
        return {name: rollout(e, params, key, T, N, axis) for name, (e, axis) in stacks.items()}

    return jax.device_get(jax.jit(run, compiler_options=FAST_COMPILE)(jax.random.key(3)))


# ------------------------------------------------------------------------------ episode statistics
def test_episode_statistics_match_manual_accounting(cartpole_runs: dict) -> None:
    traj = cartpole_runs["stats"]["traj"]
    info = traj["info"]
    np.testing.assert_allclose(traj["reward"], 0.5 * cartpole_runs["raw"]["traj"]["reward"])
    ret, length = np.zeros(N), np.zeros(N, int)
    finished = 0
    for t in range(T):
        ret += traj["reward"][t]
        length += 1
        done = traj["terminated"][t] | traj["truncated"][t]
        np.testing.assert_array_equal(info["episode_done"][t], done)
        np.testing.assert_allclose(info["episode_return"][t][done], ret[done], rtol=1e-6)
        np.testing.assert_array_equal(info["episode_length"][t][done], length[done])
        # Unfinished episodes never look like finished ones: NaN / -1, not 0.
        assert np.isnan(info["episode_return"][t][~done]).all()
        assert (info["episode_length"][t][~done] == -1).all()
        finished += done.sum()
        ret[done], length[done] = 0.0, 0
    assert finished > N  # several episodes per copy
    assert traj["terminated"].any() and traj["truncated"].any()  # both kinds of ending
    np.testing.assert_allclose(traj["state"].episode_return[-1], ret, rtol=1e-6)
    np.testing.assert_array_equal(traj["state"].episode_length[-1], length)
    assert info["episode_return"].dtype == np.float32 and info["episode_length"].dtype == np.int32


# ------------------------------------------------------------------------------ observation normalisation
def _normalize(x, mean, var, eps=1e-8):
    return (x - mean) / np.sqrt(var + eps)


@pytest.mark.parametrize("pooled", [False, True], ids=["per_copy", "pooled_axis_name"])
def test_normalize_observation_statistics(cartpole_runs: dict, pooled: bool) -> None:
    norm, raw = cartpole_runs["pooled" if pooled else "norm"], cartpole_runs["raw"]
    stats = norm["traj"]["state"].stats  # [T, N, ...]: statistics after each step
    raw_obs = np.concatenate([raw["obs0"][None], raw["traj"]["obs"]])  # [T + 1, N, 4]
    assert raw["traj"]["truncated"].any()  # episodes ended, so final observations differ from obs

    for t in (0, T // 2, T - 1):
        seen = raw_obs[: t + 2]
        if pooled:  # one pool over all copies; every copy holds the same statistics
            want_mean = np.broadcast_to(seen.reshape(-1, 4).mean(0), (N, 4))
            want_var = np.broadcast_to(seen.reshape(-1, 4).var(0), (N, 4))
        else:
            want_mean, want_var = seen.mean(0), seen.var(0)
        np.testing.assert_allclose(stats.mean[t], want_mean, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(stats.var[t], want_var, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(stats.count[t], (t + 2) * (N if pooled else 1))

    mean, var = stats.mean, stats.var
    np.testing.assert_allclose(norm["traj"]["obs"], _normalize(raw["traj"]["obs"], mean, var), rtol=1e-4, atol=1e-4)
    final = norm["traj"]["info"]["final_observation"]
    raw_final = raw["traj"]["info"]["final_observation"]
    np.testing.assert_allclose(final, _normalize(raw_final, mean, var), rtol=1e-4, atol=1e-4)
    env, params = jaxrl.make("CartPole-v1")
    assert NormalizeObservation(env).observation_space(params) == spaces.Box(-np.inf, np.inf, (4,))


def test_normalize_observation_frozen_keeps_stats(cartpole_runs: dict) -> None:
    norm, raw = cartpole_runs["frozen"], cartpole_runs["raw"]
    for field in ("mean", "var", "count"):
        got = getattr(norm["traj"]["state"].stats, field)
        np.testing.assert_array_equal(got, np.broadcast_to(getattr(FROZEN_STATS, field), got.shape))
    np.testing.assert_allclose(norm["obs0"], _normalize(raw["obs0"], 0.1, 4.0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(norm["traj"]["obs"], _normalize(raw["traj"]["obs"], 0.1, 4.0), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ EchoEnv-based runs
GAMMA = 0.9
ECHO_LIMIT = 7
TIME_LIMITS = (3, 150)  # shorter and longer than EchoEnv's own limit (100)


@pytest.fixture(scope="module")
def echo_runs() -> dict:
    env = EchoEnv()
    params = env.default_params.replace(max_steps_in_episode=ECHO_LIMIT)

    def run(key):
        out = {
            "raw": rollout(env, params, key, 25, 1),
            "normalized": rollout(NormalizeReward(env, gamma=GAMMA), params, key, 25, 1),
            "scaled": rollout(ScaleReward(env, -3.0), params, key, 25, 1),
        }
        for limit in TIME_LIMITS:  # the original params: the wrapper's limit must win
            out[f"limit{limit}"] = rollout(TimeLimit(env, limit), env.default_params, key, 2 * limit, 2)
        return out

    return jax.device_get(jax.jit(run, compiler_options=FAST_COMPILE)(jax.random.key(2)))


# ------------------------------------------------------------------------------ rewards
def test_scale_reward(echo_runs: dict) -> None:
    rewards = echo_runs["raw"]["traj"]["reward"]
    np.testing.assert_allclose(echo_runs["scaled"]["traj"]["reward"], -3.0 * rewards, rtol=1e-6)


def test_normalize_reward_matches_reference(echo_runs: dict) -> None:
    raw = echo_runs["raw"]["traj"]
    rewards = raw["reward"][:, 0]
    # Reference: Gymnasium-style running discounted return, restarted at each episode end.
    ret, seen, expected = 0.0, [], []
    for t in range(len(rewards)):
        ret = ret * GAMMA + rewards[t]
        seen.append(ret)
        expected.append(rewards[t] / np.sqrt(np.var(seen) + 1e-8))
        if raw["truncated"][t, 0]:
            ret = 0.0
    assert raw["truncated"].any()
    # (step 0: the variance of one sample is 0, so the scale is 1/sqrt(eps): skip it)
    np.testing.assert_allclose(echo_runs["normalized"]["traj"]["reward"][1:, 0], expected[1:], rtol=2e-4)


# ------------------------------------------------------------------------------ actions
def test_clip_action() -> None:
    env = ClipAction(EchoEnv())
    params = env.default_params
    obs, state = env.reset(jax.random.key(0), params)
    obs, state, reward, *_ = env.step(jax.random.key(1), state, jnp.array([5.0, -0.5]), params)
    np.testing.assert_allclose(obs, [1.0, -0.5])
    assert float(reward) == pytest.approx(0.5)
    assert env.action_space(params) == EchoEnv().action_space(params)
    with pytest.raises(TypeError, match="needs a Box action space"):
        ClipAction(jaxrl.make("CartPole-v1")[0]).step(jax.random.key(0), None, 0)


# ------------------------------------------------------------------------------ flattening
def test_flatten_dict_observation() -> None:
    env = FlattenObservation(DictObsEnv())
    params = env.default_params
    space = env.observation_space(params)
    assert space.shape == (4,) and space.dtype == jnp.float32
    np.testing.assert_array_equal(space.low, [-2.0, 0.0, -1.0, -1.0])  # space order: vel, flag, pos
    np.testing.assert_array_equal(space.high, [2.0, 2.0, 1.0, 1.0])

    inner = DictObsEnv()
    obs, state = env.reset(jax.random.key(0), params)
    inner_obs, _ = inner.reset(jax.random.key(0), params)
    expected = np.concatenate([inner_obs["vel"], [float(inner_obs["flag"])], inner_obs["pos"]])
    np.testing.assert_allclose(obs, expected)
    assert obs.dtype == jnp.float32 and bool(space.contains(obs))

    # Through check_env: jit/vmap, spaces, final_observation flattened like obs.
    report = check_env(env, num_envs=8, num_steps=12)
    assert "final_observation" in report.passed


def test_flatten_tuple_and_box() -> None:
    space = spaces.Tuple([spaces.Box(0.0, 1.0, (2, 2)), spaces.Discrete(4)])
    x = (jnp.arange(4.0).reshape(2, 2) / 4, jnp.int32(3))
    np.testing.assert_allclose(flatten(space, x), [0.0, 0.25, 0.5, 0.75, 3.0])


# ------------------------------------------------------------------------------ time limit
@pytest.mark.parametrize("limit", TIME_LIMITS)
def test_time_limit_overrides_params(echo_runs: dict, limit: int) -> None:
    assert TimeLimit(EchoEnv(), limit).default_params.max_steps_in_episode == limit
    traj = echo_runs[f"limit{limit}"]["traj"]
    expected = np.zeros(2 * limit, bool)
    expected[limit - 1 :: limit] = True
    for copy in range(2):
        np.testing.assert_array_equal(traj["truncated"][:, copy], expected)
    assert not traj["terminated"].any()


def test_time_limit_validates() -> None:
    with pytest.raises(ValueError, match="max_steps >= 1"):
        TimeLimit(EchoEnv(), 0)
    with pytest.raises(TypeError, match="max_steps_in_episode field"):
        TimeLimit(EchoEnv(), 5).reset(jax.random.key(0), params={"not": "params"})
