"""LPO / TA-LPO: the drift's mirror-learning conditions, parity with PPO at zero parameters, the
objective file and its errors, and the meta-training pipeline (tiny budget, resume, memory check)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import cli
from jaxrl.blocks import drift
from jaxrl.blocks.losses import clipped_surrogate_loss
from jaxrl.config import ConfigError, from_dict, resolve

HIDDEN = 8


def _random_params(key, temporal, scale=1.0):
    return scale * jax.random.normal(key, (drift.num_params(temporal, HIDDEN),))


@pytest.mark.parametrize("temporal", [False, True])
def test_drift_meets_the_mirror_learning_conditions(temporal):
    """Non-negative everywhere, zero at r = 1 with zero gradient in r, for random networks."""
    key_r, key_a = jax.random.split(jax.random.key(0))
    ratio = jnp.exp(jax.random.uniform(key_r, (512,), minval=-1.0, maxval=1.0))
    advantage = 3.0 * jax.random.normal(key_a, (512,))
    for i in range(2):
        params = _random_params(jax.random.key(i + 1), temporal)
        time = drift.time_features(17, 40) if temporal else None
        values = drift.learned_drift(params, ratio, advantage, 0.2, HIDDEN, time)
        assert values.shape == (512,) and bool(jnp.all(values >= 0.0))

        def at(r, a):
            return drift.learned_drift(params, r, a, 0.2, HIDDEN, time).sum()

        a = jnp.asarray([-2.0, -0.1, 0.5, 4.0])  # the drift of each item depends on its own r only
        value, grad = jax.jit(jax.value_and_grad(at))(jnp.ones(4), a)
        assert float(value) == 0.0 and bool(jnp.all(grad == 0.0))
        assert float(values.max()) > 0.0  # not trivially zero


def test_zero_parameters_give_ppo_clip():
    key_l, key_o, key_a = jax.random.split(jax.random.key(3), 3)
    log_prob = 0.3 * jax.random.normal(key_l, (256,))
    old = 0.3 * jax.random.normal(key_o, (256,))
    advantage = jax.random.normal(key_a, (256,))
    zeros = jnp.zeros(drift.num_params(False, HIDDEN))

    def lpo(lp):
        return drift.drift_surrogate_loss(lp, old, advantage, zeros, 0.2, HIDDEN)[0]

    def ppo(lp):
        return clipped_surrogate_loss(lp, old, advantage, 0.2)[0]

    np.testing.assert_allclose(lpo(log_prob), ppo(log_prob), atol=1e-6)
    np.testing.assert_allclose(jax.grad(lpo)(log_prob), jax.grad(ppo)(log_prob), atol=1e-6)


def test_objective_file_round_trip_and_errors(tmp_path):
    params = np.asarray(_random_params(jax.random.key(5), True))
    path = drift.save_objective(tmp_path / "obj.npz", params, True, HIDDEN, {"envs": ["CartPole-v1"]})
    loaded = drift.load_objective(path)
    np.testing.assert_array_equal(loaded["params"], params)
    assert loaded["temporal"] and loaded["hidden"] == HIDDEN and loaded["info"]["envs"] == ["CartPole-v1"]

    np.savez(tmp_path / "old.npz", format=drift.OBJECTIVE_FORMAT, version=0, params=params, temporal=True, hidden=HIDDEN)
    np.savez(tmp_path / "shape.npz", format=drift.OBJECTIVE_FORMAT, version=drift.OBJECTIVE_VERSION,
             params=params[:-3], temporal=True, hidden=HIDDEN)
    (tmp_path / "text.npz").write_text("agent,env\n")
    for name, words in (("old.npz", "version 0"), ("shape.npz", "damaged"), ("text.npz", "not a jaxrl objective"),
                        ("missing.npz", "does not exist")):
        with pytest.raises(ValueError, match=words):
            drift.load_objective(tmp_path / name)

    overrides = {"objective": str(path), "drift_hidden": HIDDEN}
    with pytest.raises(ConfigError, match="set temporal=true"):  # a temporal objective without the features
        resolve("lpo", "CartPole-v1", overrides)
    with pytest.raises(ConfigError, match="set drift_hidden=8"):
        resolve("lpo", "CartPole-v1", {"objective": str(path), "temporal": True})
    resolved = resolve("lpo", "CartPole-v1", {**overrides, "temporal": True})
    np.testing.assert_array_equal(resolved.hparams.drift_params, params)
    again = from_dict(resolved.to_dict())  # config.json round trip keeps the parameters themselves
    np.testing.assert_array_equal(again.hparams.drift_params, params)
    assert cli.main(["train", "lpo", "--set", f"objective={path}", "--out", str(tmp_path)]) == 2


@pytest.mark.slow
def test_zero_objective_trains_like_ppo_clip():
    """objective="" is PPO's objective: same learning on a short CartPole run."""
    import jaxrl

    common = dict(seeds=2, total_timesteps=16_384, out=None, progress=False, config={"num_logs": 1})
    lpo = jaxrl.train("lpo", "CartPole-v1", **{**common, "config": {"num_logs": 1, "objective": ""}})
    ppo = jaxrl.train("ppo", "CartPole-v1", **common)
    assert min(lpo.final_eval_return) > 100 and min(ppo.final_eval_return) > 100


def test_meta_train_tiny_budget_resumes_identically(tmp_path, monkeypatch):
    from jaxrl.meta import meta_train
    from jaxrl.population import sharding

    kwargs = dict(population=2, seeds=1, total_timesteps=2048, progress=False, out=tmp_path,
                  config={"num_envs": 8, "num_steps": 32, "drift_hidden": HIDDEN, "eval_episodes": 4})
    straight = meta_train("lpo", "CartPole-v1", generations=2, name="straight", **kwargs)
    meta_train("lpo", "CartPole-v1", generations=1, name="stopped", **kwargs)
    resumed = meta_train(resume=tmp_path / "stopped", generations=2, progress=False)
    np.testing.assert_array_equal(resumed.objective, straight.objective)
    for column, values in straight.history.items():
        if column != "train_s":
            np.testing.assert_array_equal(resumed.history[column], values)
    run_dir = straight.run_dir
    for name in ("meta.json", "fitness.csv", "fitness.png", "objective.npz", "objective.png", "best_objective.npz",
                 "es_state.npz", "es_state.prev.npz"):
        assert (run_dir / name).exists(), name
    assert len((run_dir / "fitness.csv").read_text().splitlines()) == 3
    loaded = drift.load_objective(run_dir / "objective.npz")
    np.testing.assert_array_equal(loaded["params"], straight.objective)

    # A generation that does not fit in memory: ConfigError before anything runs, ES state untouched.
    before = (run_dir / "es_state.npz").read_bytes()
    monkeypatch.setattr(sharding, "memory_budget", lambda: 1)
    with pytest.raises(ConfigError, match="fit in device"):
        meta_train(resume=run_dir, generations=3, progress=False)
    assert (run_dir / "es_state.npz").read_bytes() == before


def test_meta_train_rejects_bad_input(tmp_path):
    assert cli.main(["meta-train", "lpo", "--population", "3", "--out", str(tmp_path)]) == 2
    assert cli.main(["meta-train", "lpo", "--set", "objective=x.npz", "--out", str(tmp_path)]) == 2
    assert not any(tmp_path.iterdir())


def test_lpo_config_is_ppo_plus_the_drift():
    from jaxrl.agents import get_agent

    spec = get_agent("lpo")
    ppo_fields = {f.name for f in dataclasses.fields(get_agent("ppo").config_cls)}
    assert ppo_fields < set(spec.config_fields)
    with pytest.raises(ConfigError, match="network must be 'mlp'"):
        resolve("lpo", "CartPole-v1", {"network": "gru", "objective": ""})
