"""PQN: learns every probe's Q* (one program for all probes), determinism through the host loop,
CartPole with tuned defaults (slow)."""

import numpy as np
import pytest
from probe_suite import INSTANCES, NAMES, member, probe_obs, train_on_probes

import jaxrl
from jaxrl.agents.pqn import PQNConfig, PQNHparams
from jaxrl.blocks.networks import QNetwork

GAMMA = 0.9


@pytest.mark.parametrize("optimizer", ["radam", "adam"])
def test_pqn_learns_probe_q_values_and_actions(optimizer):
    config = PQNConfig(num_envs=16, num_steps=8, update_epochs=4, num_minibatches=2, total_timesteps=300 * 128,
                       hidden_sizes=(32, 32), anneal_lr=False, optimizer=optimizer)
    hparams = PQNHparams(learning_rate=3e-3, gamma=GAMMA, td_lambda=0.8, exploration_fraction=0.2, end_e=0.5)
    states, sums = train_on_probes("pqn", config, hparams, num_updates=300)
    network = QNetwork(2, (32, 32), layer_norm=True)
    for i, (name, env) in enumerate(zip(NAMES, INSTANCES)):
        obs = probe_obs(name)
        q = np.asarray(network.apply(member(states.params, i), obs))
        np.testing.assert_allclose(q, np.asarray(env.q_values(obs, GAMMA)), atol=0.1, err_msg=name)
        if env.action_matters:
            np.testing.assert_array_equal(q.argmax(-1), np.asarray(env.optimal_action(obs)), err_msg=name)
    assert np.isfinite(np.asarray(sums["td_loss"])).all()


SMALL = dict(num_envs=4, num_steps=8, update_epochs=2, num_minibatches=2, hidden_sizes=(16,), num_logs=2,
             eval_episodes=2)


def _train(seeds, **config):
    return jaxrl.train("pqn", "CartPole-v1", seeds=seeds, total_timesteps=512, config={**SMALL, **config},
                       out=None, progress=False, use_tuned=False)


def test_pqn_is_deterministic_and_logs_its_diagnostics():
    a, b = _train([0, 1]), _train([0, 1])
    assert a.summary["params_sha256"] == b.summary["params_sha256"]
    assert a.summary["params_sha256"][0] != a.summary["params_sha256"][1]
    c = _train([0, 1], learning_rate=1e-4, td_lambda=0.0)  # traced: same program, other result
    assert c.summary["num_compiles"] == 0
    assert c.summary["params_sha256"] != a.summary["params_sha256"]
    for name in ("td_loss", "q_mean", "epsilon"):
        assert all(np.isfinite(row[name]) for row in a.metrics), name
    # (a chunk in which no episode ended logs NaN episode statistics)
    assert any(np.isfinite(row["episode_return"]) for row in a.metrics)


def test_unknown_optimizer_is_refused_before_compiling():
    with pytest.raises(ValueError, match="optimizer must be one of 'radam', 'adam', got 'sgd'"):
        _train([0], optimizer="sgd")


@pytest.mark.slow
def test_pqn_solves_cartpole_with_tuned_defaults():
    result = jaxrl.train("pqn", "CartPole-v1", seeds=2, out=None, progress=False)
    assert min(result.final_eval_return) >= 475, result.final_eval_return
