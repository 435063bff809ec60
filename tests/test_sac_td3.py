"""SAC (continuous and discrete), TD3 and DDPG: soft targets vs NumPy, learning every probe (one
program per agent), determinism, host-loop runs with their diagnostics, Pendulum (slow)."""

import jax
import numpy as np
import pytest
from probe_suite import INSTANCES, NAMES, member, probe_obs, train_on_probes

import jaxrl
from jaxrl.agents.sac import SACConfig, SACHparams, soft_target_continuous, soft_target_discrete
from jaxrl.agents.td3 import TD3Config, TD3Hparams
from jaxrl.blocks.networks import CategoricalActor, Critics, DeterministicActor, SquashedGaussianActor

GAMMA = 0.9
HIDDEN = (32, 32)


def test_soft_targets_match_numpy():
    rng = np.random.default_rng(0)
    B, C, A, gamma, alpha = 64, 2, 3, 0.97, 0.3
    reward = rng.normal(size=B).astype(np.float32)
    terminated = rng.random(B) < 0.3
    next_q = rng.normal(size=(C, B)).astype(np.float32)
    next_log_prob = rng.normal(size=B).astype(np.float32)
    got = soft_target_continuous(reward, terminated, gamma, next_q, next_log_prob, alpha)
    expected = [
        reward[b] + (0.0 if terminated[b] else gamma * (min(next_q[:, b]) - alpha * next_log_prob[b]))
        for b in range(B)
    ]
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)

    next_q = rng.normal(size=(C, B, A)).astype(np.float32)
    logits = rng.normal(size=(B, A)).astype(np.float32)
    got = soft_target_discrete(reward, terminated, gamma, next_q, logits, alpha)
    expected = []
    for b in range(B):
        p = np.exp(logits[b] - logits[b].max())
        p /= p.sum()
        v = sum(p[a] * (min(next_q[:, b, a]) - alpha * np.log(p[a])) for a in range(A))
        expected.append(reward[b] + (0.0 if terminated[b] else gamma * v))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)


OFF_POLICY_PROBE = dict(num_envs=8, num_steps=1, gradient_steps=1, buffer_size=4096, batch_size=64,
                        learning_starts=256, hidden_sizes=HIDDEN)
UPDATES = 1500


def _check_continuous(name, env, q_at_action, action):
    """`q_at_action` [critics, n]: critics at the actor's (deterministic) action; `action` [n, 1]."""
    obs = probe_obs(name)
    np.testing.assert_allclose(q_at_action, np.broadcast_to(np.asarray(env.optimal_value(obs, GAMMA)),
                                                            q_at_action.shape), atol=0.1, err_msg=name)
    if env.action_matters:
        np.testing.assert_array_equal((action[:, 0] > 0).astype(int), np.asarray(env.optimal_action(obs)),
                                      err_msg=name)


def test_discrete_sac_learns_probes_and_is_deterministic():
    config = SACConfig(total_timesteps=UPDATES * 8, **OFF_POLICY_PROBE)
    # A small fixed temperature: the soft values are then within ~0.01 of the probes' Q*.
    hparams = SACHparams(learning_rate=3e-3, gamma=GAMMA, tau=0.05, init_alpha=0.01)
    config = SACConfig(**{**config.__dict__, "autotune": False})
    states, _ = train_on_probes("sac", config, hparams, UPDATES)
    actor, critics = CategoricalActor(2, HIDDEN), Critics(2, HIDDEN, num_actions=2)
    for i, (name, env) in enumerate(zip(NAMES, INSTANCES)):
        learner = member(states.learner, i)
        obs = probe_obs(name)
        q = np.asarray(critics.apply(learner.critic_params, obs))  # [2 critics, n, 2 actions]
        probs = np.asarray(actor.apply(learner.actor_params, obs).probs())
        if env.action_matters:  # the other action is rarely taken late: check the chosen one only
            best = np.asarray(env.optimal_action(obs))
            q = np.take_along_axis(q, best[None, :, None], axis=2)
            np.testing.assert_allclose(q[..., 0], np.broadcast_to(np.asarray(env.optimal_value(obs, GAMMA)),
                                                                  q.shape[:2]), atol=0.1, err_msg=name)
            chosen = np.take_along_axis(probs, best[:, None], axis=1)
            assert (chosen > 0.9).all(), (name, chosen)
        else:  # only the actions the policy takes are in the data: check their policy-weighted value
            value = (q * probs[None]).sum(-1) / probs.sum(-1)[None]
            np.testing.assert_allclose(value, np.broadcast_to(np.asarray(env.optimal_value(obs, GAMMA)),
                                                              value.shape), atol=0.1, err_msg=name)
    again, _ = train_on_probes("sac", config, hparams, UPDATES)  # cached program, same key
    for x, y in zip(jax.tree.leaves(states.learner.actor_params), jax.tree.leaves(again.learner.actor_params)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_continuous_sac_learns_probes():
    config = SACConfig(total_timesteps=UPDATES * 8, autotune=False, **OFF_POLICY_PROBE)
    hparams = SACHparams(learning_rate=3e-3, gamma=GAMMA, tau=0.05, init_alpha=0.01)
    states, _ = train_on_probes("sac", config, hparams, UPDATES, continuous=True)
    actor, critics = SquashedGaussianActor(1, HIDDEN), Critics(2, HIDDEN)
    for i, (name, env) in enumerate(zip(NAMES, INSTANCES)):
        learner = member(states.learner, i)
        obs = probe_obs(name)
        action = np.asarray(actor.apply(learner.actor_params, obs).mode())
        q = np.asarray(critics.apply(learner.critic_params, obs, action))
        _check_continuous(name, env, q, action)


def test_td3_learns_probes():
    config = TD3Config(total_timesteps=UPDATES * 8, **OFF_POLICY_PROBE)
    hparams = TD3Hparams(learning_rate=3e-3, gamma=GAMMA, tau=0.05, exploration_noise=0.3)
    states, _ = train_on_probes("td3", config, hparams, UPDATES, continuous=True)
    actor, critics = DeterministicActor(1, HIDDEN), Critics(2, HIDDEN)
    for i, (name, env) in enumerate(zip(NAMES, INSTANCES)):
        learner = member(states.learner, i)
        obs = probe_obs(name)
        action = np.asarray(actor.apply(learner.actor_params, obs))
        q = np.asarray(critics.apply(learner.critic_params, obs, action))
        _check_continuous(name, env, q, action)


TINY = dict(num_envs=2, num_steps=2, gradient_steps=2, batch_size=16, buffer_size=256, learning_starts=64,
            hidden_sizes=(16,), num_logs=2, eval_episodes=2)


def _train(algo, seeds, **config):
    return jaxrl.train(algo, "Pendulum-v1", seeds=seeds, total_timesteps=400, config={**TINY, **config},
                       out=None, progress=False, use_tuned=False)


def test_sac_host_loop_tunes_alpha_and_is_deterministic():
    a, b = _train("sac", [0]), _train("sac", [0])
    assert a.summary["params_sha256"] == b.summary["params_sha256"]
    last = a.metrics[-1]
    for name in ("td_loss", "q_mean", "actor_loss", "alpha", "entropy", "buffer_fill", "episode_return"):
        assert np.isfinite(last[name]), name
    assert last["alpha"] != 1.0  # the temperature moved from init_alpha
    assert -3300 <= a.summary["final_eval_return_mean"] <= 0


def test_ddpg_is_td3_with_one_critic_and_no_delay():
    result = _train("ddpg", [0, 1])
    assert result.config.config.num_critics == 1 and result.config.config.policy_delay == 1
    assert not result.config.config.target_smoothing
    kernels = [x for x in jax.tree.leaves(result.state.learner.critic_params)]
    assert all(np.asarray(k).shape[1] == 1 for k in kernels)  # [seeds, critics=1, ...]
    # No delay: every critic step also moved the actor's target.
    learner = jax.tree.map(lambda x: np.asarray(x)[0], result.state.learner)
    assert int(learner.grad_step) > 0
    for name in ("td_loss", "q_mean", "actor_loss", "buffer_fill"):
        assert np.isfinite(result.metrics[-1][name]), name


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["sac", "td3", "ddpg"])
def test_solves_pendulum_with_tuned_defaults(algo):
    result = jaxrl.train(algo, "Pendulum-v1", seeds=2, out=None, progress=False)
    assert min(result.final_eval_return) >= -250, result.final_eval_return
