"""DQN: learns every probe's Q* (one program for all probes), determinism and host-loop integration,
target-update and epsilon schedules, CartPole with tuned defaults (slow)."""

import jax
import numpy as np
import pytest
from probe_suite import INSTANCES, NAMES, member, probe_obs, train_on_probes

import jaxrl
from jaxrl.agents.dqn import DQNConfig, DQNHparams
from jaxrl.blocks.networks import QNetwork

GAMMA = 0.9


def test_dqn_learns_probe_q_values_and_actions():
    # Exercises the non-default paths: MSE loss, prioritised replay, 2-step returns, no dueling head.
    config = DQNConfig(
        num_envs=8, num_steps=1, gradient_steps=1, total_timesteps=1500 * 8, buffer_size=2048,
        batch_size=64, learning_starts=256, n_step=2, dueling=False, loss="mse", prioritized=True,
        anneal_lr=False, hidden_sizes=(32, 32),
    )
    hparams = DQNHparams(learning_rate=3e-3, gamma=GAMMA, tau=0.05, exploration_fraction=0.3, end_e=0.1)
    states, sums = train_on_probes("dqn", config, hparams, num_updates=1500)
    network = QNetwork(2, (32, 32), dueling=False, layer_norm=True)
    for i, (name, env) in enumerate(zip(NAMES, INSTANCES)):
        obs = probe_obs(name)
        q = np.asarray(network.apply(member(states.learner.params, i), obs))
        q_star = np.asarray(env.q_values(obs, GAMMA))
        best = np.asarray(env.optimal_action(obs))
        # The greedy action's value is learned precisely; the other action's is visited less.
        np.testing.assert_allclose(q[np.arange(len(obs)), best], q_star[np.arange(len(obs)), best], atol=0.05,
                                   err_msg=name)
        np.testing.assert_allclose(q, q_star, atol=0.2, err_msg=name)
        if env.action_matters:
            np.testing.assert_array_equal(q.argmax(-1), best, err_msg=name)
    assert np.isfinite(np.asarray(sums["td_loss"])).all()


SMALL = dict(
    num_envs=4, num_steps=2, gradient_steps=3, batch_size=16, buffer_size=256, learning_starts=64,
    target_update_every=3, tau=1.0, hidden_sizes=(16,), num_logs=2, eval_episodes=2, exploration_fraction=0.5,
)


def _train(seeds, **config):
    return jaxrl.train("dqn", "CartPole-v1", seeds=seeds, total_timesteps=800, config={**SMALL, **config},
                       out=None, progress=False, use_tuned=False)


def test_dqn_is_deterministic_and_logs_its_diagnostics():
    a, b, c = _train([3]), _train([3]), _train([4])
    assert a.summary["num_compiles"] + b.summary["num_compiles"] <= 1  # the second run reuses the program
    assert a.summary["params_sha256"] == b.summary["params_sha256"]
    assert c.summary["params_sha256"] != a.summary["params_sha256"]
    last = a.metrics[-1]
    for name in ("td_loss", "q_mean", "epsilon", "buffer_fill", "episode_return"):
        assert np.isfinite(last[name]), name
    assert last["buffer_fill"] == 1.0  # 800 steps into a 256-transition buffer
    # Epsilon reaches end_e after exploration_fraction of the run (the last chunk is past it).
    assert last["epsilon"] == pytest.approx(0.02)
    # 100 updates; learning starts at update 8 (64 stored transitions) -> 93 * 3 = 279 gradient
    # steps, a multiple of target_update_every: with tau = 1 the target is a copy of the online net.
    learner = jax.tree.map(lambda x: np.asarray(x)[0], a.state.learner)
    assert int(learner.grad_step) == 279
    for online, target in zip(jax.tree.leaves(learner.params), jax.tree.leaves(learner.target_params)):
        np.testing.assert_array_equal(online, target)


@pytest.mark.slow
def test_dqn_solves_cartpole_with_tuned_defaults():
    result = jaxrl.train("dqn", "CartPole-v1", seeds=2, out=None, progress=False)
    assert min(result.final_eval_return) >= 475, result.final_eval_return
