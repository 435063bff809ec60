"""Probe environments: rewards, episode lengths and the exposed optimal solution agree."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.envs.probes import PROBES, ProbeEnvironment

GAMMA = 0.9
N = 256

# Tests run short rollouts once, so compile time dominates: skip XLA's LLVM optimisations on CPU.
FAST_COMPILE = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None


def _two_steps(env: ProbeEnvironment, params, key: jax.Array, action: jax.Array) -> dict:
    """(Traced.) N copies: reset, then two steps with a fixed action; the second counts only if the first did not end."""

    def one(key):
        k_reset, k1, k2 = jax.random.split(key, 3)
        obs0, state = env.reset(k_reset, params)
        obs1, state, r1, term1, trunc1, _ = env.step(k1, state, action, params)
        _, _, r2, term2, trunc2, _ = env.step(k2, state, action, params)
        done1 = term1 | trunc1
        ret = r1 + GAMMA * jnp.where(done1, 0.0, r2)
        length = jnp.where(done1, 1, 2)
        return dict(obs0=obs0, obs1=obs1, ret=ret, length=length, term1=term1, term2=term2,
                    trunc=trunc1 | (~done1 & trunc2), done2=term2 | trunc2)

    return jax.vmap(one)(jax.random.split(key, N))


@pytest.fixture(scope="module")
def probe_runs() -> dict:
    """For every probe and both actions, N episodes; all compiled as one program."""
    envs = {name: jaxrl.make(name) for name in PROBES}

    def run(key):
        return {
            (name, action): _two_steps(env, params, key, jnp.int32(action))
            for name, (env, params) in envs.items()
            for action in (0, 1)
        }

    return jax.device_get(jax.jit(run, compiler_options=FAST_COMPILE)(jax.random.key(0)))


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_returns_match_documented_optimum(name: str, probe_runs: dict) -> None:
    env, params = jaxrl.make(name)
    assert isinstance(env, PROBES[name]) and env.name == name
    assert env.observation_space(params).shape == (1,) and env.action_space(params).n == 2
    returns = []
    for action in (0, 1):
        out = probe_runs[name, action]
        assert out["obs0"].dtype == np.float32 and out["obs0"].shape == (N, 1)
        assert not out["trunc"].any(), "probes end by termination, never by the time limit"
        expected_len = 2 if name == "ProbeTwoStep-v0" else 1
        np.testing.assert_array_equal(out["length"], expected_len)
        if expected_len == 2:
            assert not out["term1"].any() and out["term2"].all()
            np.testing.assert_array_equal(out["obs1"], 1.0)
            # From the second observation the value is the undiscounted final reward.
            np.testing.assert_allclose(np.asarray(env.q_values(out["obs1"], GAMMA))[:, action], 1.0)
        else:
            assert out["term1"].all()
        q = np.asarray(env.q_values(out["obs0"], GAMMA))
        assert q.shape == (N, 2)
        np.testing.assert_allclose(out["ret"], q[:, action], rtol=1e-6)
        returns.append(out["ret"])
    returns = np.stack(returns, -1)
    np.testing.assert_allclose(np.asarray(env.optimal_value(out["obs0"], GAMMA)), returns.max(-1), rtol=1e-6)
    best = np.asarray(env.optimal_action(out["obs0"]))
    np.testing.assert_allclose(returns[np.arange(N), best], returns.max(-1))
    assert env.action_matters == bool(np.any(returns[:, 0] != returns[:, 1]))


@pytest.mark.parametrize(
    "name, obs, value, action",
    [
        ("ProbeConstantReward-v0", [0.0], 1.0, None),
        ("ProbeObsDependentReward-v0", [1.0], 1.0, None),
        ("ProbeObsDependentReward-v0", [-1.0], -1.0, None),
        ("ProbeTwoStep-v0", [0.0], GAMMA, None),
        ("ProbeTwoStep-v0", [1.0], 1.0, None),
        ("ProbeActionDependentReward-v0", [0.0], 1.0, 1),
        ("ProbeObsActionReward-v0", [1.0], 1.0, 1),
        ("ProbeObsActionReward-v0", [-1.0], 1.0, 0),
    ],
)
def test_documented_optimal_values(name: str, obs: list, value: float, action: int | None) -> None:
    env, _ = jaxrl.make(name)
    obs = jnp.asarray(obs, jnp.float32)
    assert float(env.optimal_value(obs, GAMMA)) == pytest.approx(value)
    if action is not None:
        assert int(env.optimal_action(obs)) == action
        assert float(env.q_values(obs, GAMMA)[1 - action]) == pytest.approx(-1.0)
    else:
        q = np.asarray(env.q_values(obs, GAMMA))
        assert q[0] == q[1]


@pytest.mark.parametrize("name", ["ProbeObsDependentReward-v0", "ProbeObsActionReward-v0"])
def test_random_observation_probes_show_both_signs(name: str, probe_runs: dict) -> None:
    obs = probe_runs[name, 0]["obs0"]
    assert set(np.unique(obs)) == {-1.0, 1.0}
    assert 0.3 < (obs > 0).mean() < 0.7


def test_probes_registry_matches_registered_names() -> None:
    """Every registered probe is one of the vector probes (`PROBES`) or one of the image / masked-action
    probes of `envs.structured_probes`."""
    from jaxrl.envs import structured_probes

    structured = {cls.registered_name for cls in vars(structured_probes).values()
                  if isinstance(cls, type) and getattr(cls, "registered_name", "").startswith("Probe")}
    assert structured == {"ProbeImageObsReward-v0", "ProbeMaskedActions-v0"}
    assert set(PROBES) <= set(jaxrl.envs.registered_names())
    assert {n for n in jaxrl.envs.registered_names() if n.startswith("Probe")} == set(PROBES) | structured
