"""Parity of the classic-control envs with Gymnasium's reference implementations.

For each env, N copies run in lockstep through our public (jitted, vmapped) `env.step`, with
auto-reset. At every step each Gymnasium env is synchronised to our current state (internal state
in float64, TimeLimit's step counter from `state.time`), takes the same action, and the two results
are compared: observation (`info["final_observation"]` on a finished episode), next state, reward,
terminated and truncated. Tolerances are float32-vs-float64; transitions landing within 1e-4 of a
discontinuity (a termination threshold, the left wall) are skipped, since float32 rounding can
legitimately put them on the other side.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit

import jaxrl

N = 20  # copies in lockstep; each runs one or more episodes
BOUNDARY = 1e-4


@dataclasses.dataclass
class Spec:
    name: str
    fields: tuple[str, ...]  # our state fields, in the order of Gymnasium's `env.unwrapped.state`
    steps: int  # lockstep steps (past the limit, so every copy truncates or terminates)
    ambiguous: Callable[[np.ndarray], np.ndarray]  # next states (batched) within BOUNDARY of a discontinuity
    wide: dict[str, Any]  # broad start ranges (one, or a list cycled over copies): terminations, clipping
    angles: tuple[int, ...] = ()  # state indices wrapped to [-pi, pi] (compared modulo 2 pi)
    action_high: float | None = None  # continuous actions: sample in +-1.5 * high (tests clipping)
    atol: float = 1e-5
    reset_ranges: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)


def _cartpole_ambiguous(s):
    thr = 12 * 2 * np.pi / 360
    return (np.abs(np.abs(s[:, 0]) - 2.4) < BOUNDARY) | (np.abs(np.abs(s[:, 2]) - thr) < BOUNDARY)


def _acrobot_ambiguous(s):
    return np.abs(-np.cos(s[:, 0]) - np.cos(s[:, 1] + s[:, 0]) - 1.0) < BOUNDARY


def _mountain_ambiguous(goal):
    def ambiguous(s):
        pos, vel = s[:, 0], s[:, 1]
        at_goal = ((np.abs(pos - goal) < BOUNDARY) & (vel > -BOUNDARY)) | (
            (np.abs(vel) < BOUNDARY) & (pos > goal - BOUNDARY)
        )
        # Just inside the left wall in float64 may be clipped to it in float32 (velocity zeroed).
        at_wall = (np.abs(pos + 1.2) < BOUNDARY) & (np.abs(pos + 1.2) > 1e-7)  # 1e-7: float32(-1.2)
        return at_goal | at_wall

    return ambiguous


def _never(s):
    return np.zeros(len(s), bool)


SPECS = {
    "CartPole-v1": Spec(
        "CartPole-v1", ("x", "x_dot", "theta", "theta_dot"), 120, _cartpole_ambiguous,
        {"x": (-2.3, 2.3), "x_dot": (-2, 2), "theta": (-0.2, 0.2), "theta_dot": (-2, 2)},
        reset_ranges={k: (-0.05, 0.05) for k in ("x", "x_dot", "theta", "theta_dot")},
    ),
    "Pendulum-v1": Spec(
        "Pendulum-v1", ("theta", "theta_dot"), 230, _never,
        {"theta": (-20, 20), "theta_dot": (-8, 8)}, action_high=2.0,
        reset_ranges={"theta": (-np.pi, np.pi), "theta_dot": (-1, 1)},
    ),
    "Acrobot-v1": Spec(
        "Acrobot-v1", ("theta1", "theta2", "dtheta1", "dtheta2"), 530, _acrobot_ambiguous,
        {"theta1": (-np.pi, np.pi), "theta2": (-np.pi, np.pi),
         "dtheta1": (-4 * np.pi, 4 * np.pi), "dtheta2": (-9 * np.pi, 9 * np.pi)},
        angles=(0, 1),
        reset_ranges={k: (-0.1, 0.1) for k in ("theta1", "theta2", "dtheta1", "dtheta2")},
    ),
    "MountainCar-v0": Spec(
        "MountainCar-v0", ("position", "velocity"), 230, _mountain_ambiguous(0.5),
        {"position": [(0.3, 0.6), (-1.2, -0.9)], "velocity": [(0.0, 0.07), (-0.07, 0.0)]}, atol=1e-6,
        reset_ranges={"position": (-0.6, -0.4), "velocity": (0.0, 0.0)},
    ),
    "MountainCarContinuous-v0": Spec(
        "MountainCarContinuous-v0", ("position", "velocity"), 1010, _mountain_ambiguous(0.45),
        {"position": [(0.3, 0.6), (-1.2, -0.9)], "velocity": [(0.0, 0.07), (-0.07, 0.0)]},
        action_high=1.0, atol=1e-6,
        reset_ranges={"position": (-0.6, -0.4), "velocity": (0.0, 0.0)},
    ),
}
NAMES = list(SPECS)


def _time_limit(genv: gym.Env) -> TimeLimit:
    while not isinstance(genv, TimeLimit):
        genv = genv.env
    return genv


def _state_matrix(spec: Spec, state: Any) -> np.ndarray:
    return np.stack([np.asarray(getattr(state, f), np.float64) for f in spec.fields], axis=-1)


def _sample_actions(spec: Spec, rng: np.random.Generator, n_actions: int | None) -> np.ndarray:
    if spec.action_high is None:
        return rng.integers(0, n_actions, size=N).astype(np.int32)
    return rng.uniform(-1.5 * spec.action_high, 1.5 * spec.action_high, size=(N, 1)).astype(np.float32)


def _n_actions(env, params) -> int | None:
    return getattr(env.action_space(params), "n", None)


def _gym_action(spec: Spec, action: np.ndarray) -> Any:
    return int(action) if spec.action_high is None else np.asarray(action, np.float32)


def _start_states(env, params, spec: Spec, key: jax.Array):
    """Half the copies from `reset`, half from broad ranges (terminations, clipping, wall); every
    other copy starts a few steps before the time limit, so truncation happens mid-run."""
    k_reset, k_wide = jax.random.split(key)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, N), params)
    idx = np.arange(N)
    half = idx < N // 2
    wide = {}
    for i, (f, ranges) in enumerate(spec.wide.items()):
        ranges = np.asarray(ranges, np.float32).reshape(-1, 2)  # one range, or several cycled over copies
        lo, hi = ranges[idx % len(ranges)].T
        draw = jax.random.uniform(jax.random.fold_in(k_wide, i), (N,), jnp.float32, lo, hi)
        wide[f] = jnp.where(half, draw, getattr(state, f))
    limit = int(params.max_steps_in_episode)
    time = np.where(idx % 2 == 1, limit - 1 - idx // 2, 0).astype(np.int32)
    return state.replace(time=jnp.asarray(time), **wide)


def _sync_and_step(spec: Spec, genvs, state_np: np.ndarray, times: np.ndarray, actions: np.ndarray):
    """Put every Gymnasium env in our state and step it. Returns stacked results."""
    out = {"obs": [], "reward": [], "terminated": [], "truncated": [], "state": [], "elapsed": []}
    for i, genv in enumerate(genvs):
        base = genv.unwrapped
        base.state = state_np[i].copy()
        if hasattr(base, "steps_beyond_terminated"):
            base.steps_beyond_terminated = None
        limit = _time_limit(genv)
        limit._elapsed_steps = int(times[i])
        obs, reward, terminated, truncated, _ = genv.step(_gym_action(spec, actions[i]))
        out["obs"].append(np.asarray(obs, np.float64))
        out["reward"].append(float(reward))
        out["terminated"].append(bool(terminated))
        out["truncated"].append(bool(truncated))
        out["state"].append(np.asarray(base.state, np.float64))
        out["elapsed"].append(limit._elapsed_steps)
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.fixture(scope="module", params=NAMES)
def setup(request):
    name = request.param
    env, params = jaxrl.make(name)
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    genvs = [gym.make(name, disable_env_checker=True) for _ in range(N)]
    for i, genv in enumerate(genvs):
        genv.reset(seed=i)
    return SPECS[name], env, params, step, genvs


def test_limits_match_gymnasium_registration(setup):
    spec, env, params, _, genvs = setup
    assert int(params.max_steps_in_episode) == gym.spec(spec.name).max_episode_steps
    assert _time_limit(genvs[0])._max_episode_steps == int(params.max_steps_in_episode)
    assert env.name == spec.name
    gspace = genvs[0].action_space
    ours = env.action_space(params)
    if spec.action_high is None:
        assert ours.n == gspace.n
    else:
        assert ours.shape == gspace.shape
        np.testing.assert_allclose(ours.low, gspace.low)
        np.testing.assert_allclose(ours.high, gspace.high)
    # Gymnasium's Box turns float32-max bounds into inf; compare with that convention.
    f32max = np.finfo(np.float32).max
    for side in ("low", "high"):
        ours_b = np.asarray(getattr(env.observation_space(params), side), np.float64)
        ours_b = np.where(np.abs(ours_b) >= f32max, np.sign(ours_b) * np.inf, ours_b)
        np.testing.assert_allclose(ours_b, getattr(genvs[0].observation_space, side))


def test_step_parity(setup):
    spec, env, params, step, genvs = setup
    rng = np.random.default_rng(0)
    key = jax.random.PRNGKey(0)
    state = _start_states(env, params, spec, key)
    n_actions = _n_actions(env, params)
    rtol, atol = 1e-5, spec.atol
    compared = skipped = terminations = truncations = 0
    for t in range(spec.steps):
        key, k_step = jax.random.split(key)
        actions = _sample_actions(spec, rng, n_actions)
        state_np, times = _state_matrix(spec, state), np.asarray(state.time)
        g = _sync_and_step(spec, genvs, state_np, times, actions)
        obs, new_state, reward, terminated, truncated, info = step(
            jax.random.split(k_step, N), state, jnp.asarray(actions), params
        )
        final_obs = np.asarray(info["final_observation"], np.float64)
        terminated, truncated = np.asarray(terminated), np.asarray(truncated)
        new_np, new_time = _state_matrix(spec, new_state), np.asarray(new_state.time)

        ok = ~spec.ambiguous(g["state"])
        skipped += int((~ok).sum())
        compared += int(ok.sum())
        msg = f"{spec.name} step {t}"
        np.testing.assert_array_equal(terminated[ok], g["terminated"][ok], err_msg=msg)
        np.testing.assert_array_equal(truncated, g["truncated"], err_msg=msg)
        np.testing.assert_allclose(final_obs[ok], g["obs"][ok], rtol=rtol, atol=atol, err_msg=msg)
        np.testing.assert_allclose(np.asarray(reward)[ok], g["reward"][ok], rtol=rtol, atol=atol, err_msg=msg)

        done = terminated | truncated
        live = ok & ~done
        diff = new_np[live] - g["state"][live]
        for a in spec.angles:  # wrapped angles may sit on opposite ends of [-pi, pi]
            diff[:, a] = (diff[:, a] + np.pi) % (2 * np.pi) - np.pi
        np.testing.assert_array_less(
            np.abs(diff), atol + rtol * np.abs(g["state"][live]) + 1e-12, err_msg=msg
        )
        np.testing.assert_array_equal(new_time[~done], g["elapsed"][~done], err_msg=msg)
        np.testing.assert_array_equal(new_time[done], 0, err_msg=msg)
        assert np.asarray(obs).dtype == np.float32 and np.asarray(reward).dtype == np.float32
        terminations += int(terminated.sum())
        truncations += int(truncated.sum())
        state = new_state

    assert skipped <= 0.01 * compared, f"{spec.name}: {skipped} of {compared} transitions near a boundary"
    assert truncations >= N // 2, f"{spec.name}: only {truncations} truncations"
    if spec.name != "Pendulum-v1":
        assert terminations > 0, f"{spec.name}: no termination reached"


@pytest.mark.parametrize("offset", [1, 2])
def test_truncation_at_limit(setup, offset):
    """At `time = limit - 1` the next step truncates (as TimeLimit does); at `limit - 2` it does not."""
    spec, env, params, step, genvs = setup
    limit = int(params.max_steps_in_episode)
    key = jax.random.PRNGKey(1)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, N), params)
    state = state.replace(time=jnp.full((N,), limit - offset, jnp.int32))
    actions = _sample_actions(spec, np.random.default_rng(1), _n_actions(env, params))
    g = _sync_and_step(spec, genvs, _state_matrix(spec, state), np.asarray(state.time), actions)
    keys = jax.random.split(key, N)
    _, new_state, _, terminated, truncated, _ = step(keys, state, jnp.asarray(actions), params)
    np.testing.assert_array_equal(np.asarray(truncated), g["truncated"])
    np.testing.assert_array_equal(np.asarray(truncated), offset == 1)
    np.testing.assert_array_equal(np.asarray(terminated), g["terminated"])
    if offset == 1:
        np.testing.assert_array_equal(np.asarray(new_state.time), 0)


def test_episode_length_from_reset(setup):
    """Counting from `reset`, the episode is truncated after exactly `limit` steps (no terminations
    on this path: zero torque / no push keeps Pendulum, Acrobot and MountainCar away from the goal)."""
    spec, env, params, step, _ = setup
    if spec.name == "CartPole-v1":
        pytest.skip("CartPole terminates under any constant action; covered by the lockstep test")
    limit = int(params.max_steps_in_episode)
    action = np.zeros((1,), np.float32) if spec.action_high is not None else np.int32(1)
    actions = jnp.asarray(np.broadcast_to(action, (N, *action.shape)))
    keys = jax.random.split(jax.random.PRNGKey(2), N)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    np.testing.assert_array_equal(np.asarray(state.time), 0)
    for t in range(limit):
        _, state, _, terminated, truncated, _ = step(keys, state, actions, params)
        assert not np.asarray(terminated).any()
        np.testing.assert_array_equal(np.asarray(truncated), t == limit - 1, err_msg=f"step {t + 1}")
    genv = gym.make(spec.name, disable_env_checker=True)
    genv.reset(seed=0)
    for t in range(limit):
        _, _, gterm, gtrunc, _ = genv.step(_gym_action(spec, action))
        assert not gterm and gtrunc == (t == limit - 1)


def test_reset_distribution(setup):
    spec, env, params, _, genvs = setup
    n = 4000
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(4), n), params)
    assert np.asarray(obs).dtype == np.float32 and np.asarray(state.time).dtype == np.int32
    np.testing.assert_array_equal(np.asarray(state.time), 0)
    for f, (lo, hi) in spec.reset_ranges.items():
        x = np.asarray(getattr(state, f), np.float64)
        assert x.min() >= np.float32(lo) and x.max() <= np.float32(hi), f
        if hi > lo:  # uniform over the whole range, as Gymnasium samples it
            width = hi - lo
            assert x.min() < lo + 0.01 * width and x.max() > hi - 0.01 * width, f
            assert abs(x.mean() - (lo + hi) / 2) < 0.03 * width, f
        else:
            np.testing.assert_array_equal(x, lo)
    # Gymnasium's own reset states lie in the same ranges.
    gstates = []
    for seed in range(200):
        genvs[0].reset(seed=seed)
        gstates.append(np.asarray(genvs[0].unwrapped.state, np.float64))
    gstates = np.asarray(gstates)
    for j, (lo, hi) in enumerate(spec.reset_ranges.values()):
        assert gstates[:, j].min() >= lo and gstates[:, j].max() <= hi


def test_dtypes_under_x64(setup):
    spec, env, params, _, _ = setup
    with jax.enable_x64(True):
        key = jax.random.PRNGKey(0)
        obs, state = jax.jit(env.reset)(key, params)
        action = env.action_space(params).sample(key)
        obs, state, reward, terminated, truncated, info = jax.jit(env.step)(key, state, action, params)
        assert obs.dtype == jnp.float32 and info["final_observation"].dtype == jnp.float32
        assert reward.dtype == jnp.float32 and terminated.dtype == jnp.bool_ and truncated.dtype == jnp.bool_
        assert state.time.dtype == jnp.int32
        for f in spec.fields:
            assert getattr(state, f).dtype == jnp.float32, f


def test_vmap_over_params(setup):
    """Every constant is a traced leaf: a batch of params (one per copy) vmaps like keys and states."""
    spec, env, params, step, _ = setup
    batched = jax.tree.map(lambda x: jnp.full((N,), x), params)
    keys = jax.random.split(jax.random.PRNGKey(5), N)
    obs, state = jax.vmap(env.reset)(keys, batched)
    actions = jnp.asarray(_sample_actions(spec, np.random.default_rng(5), _n_actions(env, params)))
    out = jax.jit(jax.vmap(env.step))(keys, state, actions, batched)
    ref = step(keys, state, actions, params)
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
