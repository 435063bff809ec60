"""PPO: determinism, vmapped seeds == one-by-one runs, no recompilation, learning on probes and CartPole."""

import jax
import jax.monitoring
import numpy as np
import pytest

import jaxrl
from jaxrl.envs import make
from jaxrl.blocks.networks import ActorCritic

SMALL = dict(num_envs=8, num_steps=16, update_epochs=2, num_minibatches=2, num_logs=2, eval_episodes=4)


def _train(seeds, total_timesteps=512, env="CartPole-v1", **config):
    return jaxrl.train(
        "ppo", env, seeds=seeds, total_timesteps=total_timesteps, config={**SMALL, **config},
        out=None, progress=False, use_tuned=False,
    )


def test_same_key_same_parameters():
    a, b = _train([3]), _train([3])
    assert a.summary["params_sha256"] == b.summary["params_sha256"]
    assert _train([4]).summary["params_sha256"] != a.summary["params_sha256"]


def test_vmapped_seeds_equal_seeds_run_one_by_one():
    together = _train([0, 1, 2])
    for i, seed in enumerate([0, 1, 2]):
        alone = _train([seed])
        for x, y in zip(jax.tree.leaves(together.state.policy), jax.tree.leaves(alone.state.policy)):
            # Equal up to float rounding of batched kernels (observed: 1 ulp on CPU, 1.2e-6 on an H100).
            tol = dict(rtol=1e-5, atol=1e-6) if jax.default_backend() == "cpu" else dict(rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(np.asarray(x)[i], np.asarray(y)[0], **tol)
        np.testing.assert_array_equal(np.asarray(together.state.env.obs)[i], np.asarray(alone.state.env.obs)[0])


def test_no_recompilation_for_other_seeds_or_traced_hyperparameters():
    first = _train([0, 1])
    assert first.summary["num_compiles"] in (0, 1)  # 0 when an earlier test compiled this program
    compiles = []
    listener = lambda name, *_, **__: compiles.append(name) if name.endswith("backend_compile_duration") else None
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        second = _train([7, 8], learning_rate=1e-3, ent_coef=0.0, clip_eps=0.1, gamma=0.9)
    finally:
        unregister = getattr(jax.monitoring, "unregister_event_duration_listener", None)  # absent in jax 0.6.0
        if unregister is not None:
            unregister(listener)
    assert second.summary["num_compiles"] == 0
    assert compiles == [], f"XLA compiled {len(compiles)} program(s) on the second call"
    assert second.summary["params_sha256"] != first.summary["params_sha256"]


# Each probe with the observations it can produce (the value is only constrained there).
PROBE_OBS = {
    "ProbeConstantReward-v0": [0.0],
    "ProbeObsDependentReward-v0": [-1.0, 1.0],
    "ProbeTwoStep-v0": [0.0, 1.0],
    "ProbeActionDependentReward-v0": [0.0],
    "ProbeObsActionReward-v0": [-1.0, 1.0],
}


@pytest.mark.parametrize("probe", sorted(PROBE_OBS))
def test_ppo_learns_probe_values_and_actions(probe):
    gamma = 0.9
    result = _train(
        [0], total_timesteps=16_384, env=probe, num_envs=16, num_steps=16, update_epochs=4,
        num_minibatches=2, learning_rate=3e-3, gamma=gamma, gae_lambda=1.0, ent_coef=0.0,
        eval_episodes=8,
    )
    env, _ = make(probe)
    obs = np.array(PROBE_OBS[probe], np.float32)[:, None]
    network = ActorCritic(hidden_sizes=(64, 64), activation="tanh", num_actions=2)
    dist, value = network.apply(jax.tree.map(lambda x: x[0], result.state.policy.params), obs)
    np.testing.assert_allclose(np.asarray(value), np.asarray(env.optimal_value(obs, gamma)), atol=0.1)
    if env.action_matters:
        best = np.asarray(env.optimal_action(obs))
        chosen = np.take_along_axis(np.asarray(dist.probs()), best[:, None], axis=1)
        assert (chosen > 0.9).all(), f"probability of the optimal action: {chosen.ravel()}"
        assert result.summary["final_eval_return_mean"] == pytest.approx(1.0)


@pytest.mark.slow
def test_ppo_solves_cartpole_with_tuned_defaults():
    result = jaxrl.train("ppo", "CartPole-v1", seeds=2, out=None, progress=False)
    assert min(result.final_eval_return) >= 475, result.final_eval_return


def test_ppo_runs_continuous_actions_with_both_squashes():
    for squash in ("clip", "tanh"):
        result = _train([0], total_timesteps=1024, env="Pendulum-v1", action_squash=squash, normalize_obs=True)
        row = result.metrics[-1]
        assert np.isfinite([row["policy_loss"], row["value_loss"], row["entropy"], row["grad_norm"]]).all()
        assert -1700 <= result.summary["final_eval_return_mean"] <= 0  # Pendulum returns lie in [-16.3*200, 0]
