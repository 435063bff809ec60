"""The brax adapter: `make("brax:...")`, our time limit and auto-reset around brax's physics.

The main checks share one compiled rollout (jit of vmap over 288 copies, lax.scan over 16 steps) of
brax's inverted_pendulum. The copies form three groups with the same keys and actions but different
`max_steps_in_episode` (5, 1000, 7), so truncation can be compared against an unlimited twin, and
pushing the cart at full force topples the pole (terminated) on the 7th step.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brax  # noqa: F401  (the test extra installs it)

import jaxrl  # noqa: E402
from jaxrl.envs import spaces  # noqa: E402
from jaxrl.envs.brax_adapter import (  # noqa: E402
    DEFAULT_BACKEND,
    BraxAdapter,
    BraxEnvState,
    brax_env_names,
    make_brax_env,
)

# brax's own notices (unmaintained physics, jaxopt, MuJoCo field deprecations) are not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Brax System:UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:brax.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:jaxopt.*"),
]

G = 96  # copies per group
LIMITS = (5, 1000, 7)  # max_steps_in_episode of the three groups
T = 16  # steps
TOPPLE_STEP = 7  # full force in either direction terminates on this step


@pytest.fixture(scope="module")
def pendulum():
    return jaxrl.make("brax:inverted_pendulum", max_steps_in_episode=5)


def _rollout(env: BraxAdapter, key: jax.Array, params) -> dict:
    """[T, 3G, ...] arrays of a rollout; `params` batched over copies, group g = copies g*G..(g+1)*G."""
    n = len(LIMITS) * G
    key_reset, key_act, key_steps = jax.random.split(key, 3)
    reset_keys = jnp.tile(jax.random.split(key_reset, G), (len(LIMITS), 1))
    # A quarter of each group pushes at +1, a quarter at -1, the rest acts at random in [-1, 1].
    const = jnp.tile(jnp.repeat(jnp.array([1.0, -1.0, jnp.nan, jnp.nan]), G // 4), len(LIMITS))
    obs, state = jax.vmap(env.reset)(reset_keys, params)

    def body(state, keys):
        k_act, k_step = keys
        noise = jnp.tile(jax.random.uniform(k_act, (G, 1), minval=-1.0, maxval=1.0), (len(LIMITS), 1))
        action = jnp.where(jnp.isnan(const)[:, None], noise, const[:, None])
        step_keys = jnp.tile(jax.random.split(k_step, G), (len(LIMITS), 1))
        obs, state, reward, terminated, truncated, info = jax.vmap(env.step)(step_keys, state, action, params)
        out = dict(
            obs=obs,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            final_obs=info["final_observation"],
            time=state.time,
        )
        return state, out

    keys = (jax.random.split(key_act, T), jax.random.split(key_steps, T))
    _, out = jax.lax.scan(body, state, keys)
    out["reset_obs"] = obs
    assert out["obs"].shape == (T, n, 4)
    return out


@pytest.fixture(scope="module")
def rollout(pendulum):
    env, params = pendulum
    batched = jax.tree.map(
        lambda _: jnp.repeat(jnp.array(LIMITS, jnp.int32), G), params
    )  # params has one leaf, the limit
    run = jax.jit(lambda key, p: _rollout(env, key, p))
    out = run(jax.random.PRNGKey(0), batched)
    return run, batched, jax.tree.map(np.asarray, out)


def _group(x: np.ndarray, g: int) -> np.ndarray:
    return x[:, g * G : (g + 1) * G]


# ----------------------------------------------------------------------------- construction
def test_make_spaces_and_params(pendulum):
    env, params = pendulum
    assert isinstance(env, BraxAdapter)
    assert env.name == "brax:inverted_pendulum"
    assert env.backend == DEFAULT_BACKEND
    assert params.max_steps_in_episode == 5
    assert jaxrl.make("brax:inverted_pendulum")[1].max_steps_in_episode == 1000  # brax's episode_length
    assert env.observation_space(params) == spaces.Box(-np.inf, np.inf, (4,), jnp.float32)
    assert env.action_space(params) == spaces.Box(-1.0, 1.0, (1,), jnp.float32)
    names = brax_env_names()
    assert {"inverted_pendulum", "ant", "hopper", "reacher"} <= set(names)
    assert "brax:ant" in jaxrl.list_envs()


def test_backend_and_constructor_options():
    env, _ = jaxrl.make("brax:inverted_pendulum", backend="generalized")
    assert env.backend == "generalized"
    env, _ = jaxrl.make("brax:inverted_pendulum", n_frames=3, env_kwargs={"debug": False})
    assert env.brax_env._n_frames == 3
    # swimmer only runs on "generalized": the default falls back to the env's own default.
    assert jaxrl.make("brax:swimmer")[0].backend == "generalized"
    with pytest.raises(ValueError, match="backend"):
        make_brax_env("inverted_pendulum", backend="warp-drive")
    with pytest.raises(ValueError, match="brax:inverted_pendulum"):
        jaxrl.make("brax:inverted_pendulm")


def test_rejects_brax_wrappers():
    from brax import envs as brax_envs

    wrapped = brax_envs.create("inverted_pendulum", episode_length=10)
    with pytest.raises(ValueError, match="unwrapped"):
        BraxAdapter(wrapped)


def test_missing_brax_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "brax", None)
    with pytest.raises(ImportError, match=r"pip install 'jaxrl\[brax\]'"):
        make_brax_env("inverted_pendulum")
    assert "CartPole-v1" in jaxrl.list_envs()  # the listing skips brax silently


# ----------------------------------------------------------------------------- the rollout
def test_dtypes_and_shapes(rollout, pendulum):
    _, _, out = rollout
    assert out["obs"].dtype == np.float32 and out["final_obs"].dtype == np.float32
    assert out["reward"].dtype == np.float32 and out["reward"].shape == (T, 3 * G)
    assert out["terminated"].dtype == np.bool_ and out["truncated"].dtype == np.bool_
    assert out["time"].dtype == np.int32
    np.testing.assert_array_equal(out["reward"], 1.0)
    # The state type is stable through a step (a lax.scan carry needs it; dtypes included).
    env, params = pendulum
    obs, state = jax.eval_shape(env.reset, jax.random.PRNGKey(0), params)
    stepped = jax.eval_shape(env.step, jax.random.PRNGKey(0), state, jnp.zeros(1), params)[1]
    assert isinstance(stepped, BraxEnvState)
    assert jax.tree.structure(stepped) == jax.tree.structure(state)
    assert [(x.shape, x.dtype) for x in jax.tree.leaves(stepped)] == [
        (x.shape, x.dtype) for x in jax.tree.leaves(state)
    ]


def test_time_limit_truncates_and_resets(rollout):
    _, _, out = rollout
    for g, limit in enumerate(LIMITS):
        te, tr, time = (_group(out[k], g) for k in ("terminated", "truncated", "time"))
        count = np.zeros(G, np.int64)
        for t in range(T):
            count += 1
            np.testing.assert_array_equal(tr[t], count >= limit, err_msg=f"limit {limit}, step {t + 1}")
            count[te[t] | tr[t]] = 0
            np.testing.assert_array_equal(time[t], count)
    assert _group(out["truncated"], 0)[LIMITS[0] - 1].all()  # every copy hits the 5-step limit
    assert not _group(out["truncated"], 1).any()


def test_terminated_vs_truncated(rollout):
    _, _, out = rollout
    pushed = slice(0, G // 2)  # constant +-1 actions
    te_free, tr_free = _group(out["terminated"], 1), _group(out["truncated"], 1)
    assert te_free[TOPPLE_STEP - 1, pushed].all() and not tr_free[TOPPLE_STEP - 1].any()
    # Terminations come from brax's `done` (the pole past 0.2 rad), time limits never set it.
    final_angle = np.abs(_group(out["final_obs"], 1)[..., 1])
    np.testing.assert_array_equal(te_free, final_angle > 0.2)
    assert not _group(out["terminated"], 0)[: LIMITS[0]].any()  # truncated before toppling
    # Limit 7 and toppling on step 7: both flags, as with Gymnasium's TimeLimit.
    te7, tr7 = _group(out["terminated"], 2), _group(out["truncated"], 2)
    assert (te7[TOPPLE_STEP - 1, pushed] & tr7[TOPPLE_STEP - 1, pushed]).all()


def test_final_observation(rollout):
    _, _, out = rollout
    obs, final = out["obs"], out["final_obs"]
    done = out["terminated"] | out["truncated"]
    np.testing.assert_array_equal(final[~done], obs[~done])  # equal on ordinary steps
    # On a finished episode, obs is a fresh reset (brax adds U(-0.01, 0.01) noise) and the final
    # observation is where the episode ended.
    assert done.any() and np.abs(obs[done]).max() <= 0.01
    assert np.abs(final[done]).max(axis=-1).min() > 0.01
    # The truncated copies' final observations equal their unlimited twins' observations.
    limit = LIMITS[0]
    np.testing.assert_array_equal(_group(obs, 0)[: limit - 1], _group(obs, 1)[: limit - 1])
    np.testing.assert_array_equal(_group(final, 0)[limit - 1], _group(obs, 1)[limit - 1])
    np.testing.assert_array_equal(out["reset_obs"][:G], out["reset_obs"][G : 2 * G])


def test_deterministic_for_a_key(rollout):
    run, batched, out = rollout
    again = jax.tree.map(np.asarray, run(jax.random.PRNGKey(0), batched))
    for k in out:
        np.testing.assert_array_equal(again[k], out[k], err_msg=k)
    other = np.asarray(run(jax.random.PRNGKey(1), batched)["obs"])
    assert not np.array_equal(other, out["obs"])


# ----------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_hopper_rollout():
    env, params = jaxrl.make("brax:hopper", max_steps_in_episode=20)
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    assert obs_space.shape == (11,) and act_space.shape == (3,)
    n, steps = 64, 30

    @jax.jit
    def run(key):
        k_reset, k_act, k_step = jax.random.split(key, 3)
        _, state = jax.vmap(env.reset, (0, None))(jax.random.split(k_reset, n), params)

        def body(state, keys):
            action = jax.vmap(act_space.sample)(jax.random.split(keys[0], n))
            obs, state, r, te, tr, info = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(keys[1], n), state, action, params
            )
            return state, (obs, r, te, tr, info["final_observation"], info["metrics"])

        keys = (jax.random.split(k_act, steps), jax.random.split(k_step, steps))
        return jax.lax.scan(body, state, keys)[1]

    obs, r, te, tr, final, metrics = jax.tree.map(np.asarray, run(jax.random.PRNGKey(0)))
    assert obs.shape == (steps, n, 11) and obs.dtype == np.float32 and r.dtype == np.float32
    assert te.dtype == np.bool_ and tr.dtype == np.bool_ and np.isfinite(obs).all()
    # A copy is truncated on step 20 exactly when no termination ended its first episode earlier.
    np.testing.assert_array_equal(tr[19], ~te[:19].any(axis=0))
    assert "reward_forward" in metrics and metrics["reward_forward"].dtype == np.float32
    done = te | tr
    np.testing.assert_array_equal(final[~done], obs[~done])
    again = jax.tree.map(np.asarray, run(jax.random.PRNGKey(0)))
    np.testing.assert_array_equal(again[0], obs)
