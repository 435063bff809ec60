"""Recurrent policies (network=gru|lstm): hidden-state handling, exact re-runs of stored sequences,
resume, exported acting, bad input, and learning a task that needs memory."""

import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import jaxrl
from jaxrl.blocks import recurrent
from jaxrl.blocks.networks import RecurrentActorCritic
from jaxrl.config import ConfigError, resolve
from jaxrl.envs import Environment, EnvParams, EnvState, make, spaces
from jaxrl.interrupt import TrainingInterrupted
from jaxrl.population import build_agent, member_inputs

SMALL = dict(num_envs=8, num_steps=16, update_epochs=2, num_minibatches=2, rnn_size=16, hidden_sizes=(16,),
             eval_episodes=4)


@struct.dataclass
class CueState(EnvState):
    cue: jax.Array


@struct.dataclass
class CueParams(EnvParams):
    max_steps_in_episode: int = 100
    delay: int = 3


class CueRecall(Environment):
    """A cue (one of two) is shown at the first step only; `delay` steps later a query flag asks
    for it: +1 for naming the cue, -1 otherwise, 0 on every other step. Observations
    `[cue one-hot (2), query flag]`. Without memory the query step is a coin flip (expected
    return 0); with memory the return is 1."""

    @property
    def default_params(self) -> CueParams:
        return CueParams()

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (3,), jnp.float32)

    def action_space(self, params):
        return spaces.Discrete(2)

    def _obs(self, state, params):
        shown = state.time == 0
        cue = jax.nn.one_hot(state.cue, 2) * shown
        return jnp.concatenate([cue, (state.time == params.delay)[None].astype(jnp.float32)])

    def reset_env(self, key, params):
        state = CueState(time=jnp.int32(0), cue=jax.random.randint(key, (), 0, 2))
        return self._obs(state, params), state

    def step_env(self, key, state, action, params):
        query = state.time == params.delay
        reward = jnp.where(query, jnp.where(action == state.cue, 1.0, -1.0), 0.0).astype(jnp.float32)
        state = state.replace(time=state.time + 1)
        return self._obs(state, params), state, reward, query, {}


def test_a_reset_zeroes_the_carry_of_that_copy_only():
    torso = recurrent.RecurrentTorso("gru", 8)
    x = jax.random.normal(jax.random.key(0), (1, 3, 4))
    carry = jax.random.normal(jax.random.key(1), (3, 8))
    params = torso.init(jax.random.key(2), carry, x, jnp.zeros((1, 3), bool))
    first = jnp.array([[False, True, False]])
    _, y = torso.apply(params, carry, x, first)
    _, from_zero = torso.apply(params, jnp.zeros_like(carry), x, jnp.zeros((1, 3), bool))
    _, kept = torso.apply(params, carry, x, jnp.zeros((1, 3), bool))
    np.testing.assert_array_equal(y[0, 1], from_zero[0, 1])
    np.testing.assert_array_equal(y[0, [0, 2]], kept[0, [0, 2]])
    assert not np.allclose(kept[0, 1], from_zero[0, 1])


@pytest.mark.parametrize("cell, seq_len", [("gru", 12), ("lstm", 12), ("gru", 4), ("lstm", 3)])
def test_stored_carries_rerun_the_rollout_exactly(cell, seq_len):
    """The torso run step by step (as a rollout does, resets included) and the stored starting
    carries of `to_sequences` re-run sequence by sequence give the same values, to float32
    rounding: the heads then multiply `[L * N, H]` matrices where the rollout multiplied `[B, H]`
    ones, and XLA:CPU's products may round differently for another shape (as feed-forward PPO's
    minibatches do). A wrong carry or a misplaced reset would differ by orders of magnitude more."""
    num_steps, num_envs = 12, 3
    net = RecurrentActorCritic(cell, 8, (8,), num_actions=2)
    obs = jax.random.normal(jax.random.key(0), (num_steps, num_envs, 5))
    first = jax.random.bernoulli(jax.random.key(1), 0.2, (num_steps, num_envs)).at[0].set(True)
    carry = recurrent.initial_carry(cell, 8, num_envs)
    params = net.init(jax.random.key(2), carry, obs[:1], first[:1])

    def one_step(carry, inputs):
        new_carry, _, value = net.apply(params, carry, inputs[0][None], inputs[1][None])
        return new_carry, (value[0], carry)

    final, (values, carries_before) = jax.lax.scan(one_step, carry, (obs, first))
    sequences, starts = recurrent.to_sequences({"obs": obs, "first": first, "value": values}, carries_before, seq_len)
    assert sequences["obs"].shape == (num_steps // seq_len * num_envs, seq_len, 5)
    assert jax.tree.leaves(starts)[0].shape == (num_steps // seq_len * num_envs, 8)
    seq = jax.tree.map(recurrent.time_major, sequences)
    _, _, rerun = net.apply(params, starts, seq["obs"], seq["first"])
    np.testing.assert_allclose(rerun, seq["value"], rtol=1e-5, atol=1e-6)
    after = recurrent.carries_after(carries_before, final)
    np.testing.assert_array_equal(jax.tree.leaves(after)[0][-1], jax.tree.leaves(final)[0])


@pytest.mark.parametrize("algo, seq_len", [("ppo", 0), ("ppo", 4), ("pqn", 8)])
def test_the_first_gradient_step_sees_exactly_the_rollouts_outputs(algo, seq_len):
    """One epoch of one minibatch: PPO's re-run log-probs equal the rollout's to float rounding
    (ratio 1, KL 0)."""
    settings = {**SMALL, "network": "gru", "update_epochs": 1, "num_minibatches": 1, "seq_len": seq_len}
    resolved = resolve(algo, "CartPole-v1", settings, use_tuned=False)
    fns = build_agent(resolved, *make("CartPole-v1"))
    keys, hparams = member_inputs(resolved)
    state = jax.vmap(fns.init)(keys, hparams)
    state, metrics = jax.jit(jax.vmap(fns.update))(state, hparams)
    assert float(metrics["episode_count"][0]) > 0  # episodes ended (and carries were reset) inside the rollout
    if algo == "ppo":
        assert float(metrics["approx_kl"][0]) < 1e-10
        assert float(metrics["clip_fraction"][0]) == 0.0
    assert jax.tree.leaves(state.memory)[0].shape == (1, SMALL["num_envs"], SMALL["rnn_size"])


def test_recurrent_run_stopped_and_resumed_equals_uninterrupted(tmp_path):
    settings = {**SMALL, "network": "lstm", "num_logs": 6, "checkpoint_every": 2}
    kwargs = dict(seeds=2, total_timesteps=12 * 128, config=settings, out=tmp_path, progress=False)
    reference = jaxrl.train("ppo", "CartPole-v1", name="reference", **kwargs)

    class Stop:
        def log(self, rows):
            if rows[0]["step"] == 3 * 256:
                os.kill(os.getpid(), signal.SIGINT)

        def close(self):
            pass

    with pytest.raises(TrainingInterrupted):
        jaxrl.train("ppo", "CartPole-v1", name="stopped", loggers=[Stop()], **kwargs)
    resumed = jaxrl.resume(tmp_path / "stopped", progress=False)
    assert resumed.summary["resumed_from_step"] == 3 * 256
    assert resumed.summary["params_sha256"] == reference.summary["params_sha256"]


def test_memory_solves_a_recall_task_that_no_memoryless_policy_can():
    """Same budget and settings: the GRU names the cue (return ~1), the MLP cannot beat a coin flip
    (return ~0: the query step's observation holds nothing about the cue)."""
    settings = dict(num_envs=16, num_steps=32, update_epochs=4, num_minibatches=4, rnn_size=32,
                    hidden_sizes=(32,), learning_rate=3e-3, eval_episodes=64, ent_coef=0.0)
    kwargs = dict(seeds=2, total_timesteps=40_960, out=None, progress=False, use_tuned=False)
    gru = jaxrl.train("ppo", "test_recurrent:CueRecall", config={**settings, "network": "gru"}, **kwargs)
    mlp = jaxrl.train("ppo", "test_recurrent:CueRecall", config=settings, **kwargs)
    gru_returns, mlp_returns = gru.summary["final_eval_return"], mlp.summary["final_eval_return"]
    assert min(gru_returns) > 0.9, gru_returns
    assert max(mlp_returns) < 0.5, mlp_returns


def test_exported_policy_steps_a_gymnasium_env_with_its_carry_reset_between_episodes(tmp_path):
    pytest.importorskip("gymnasium")
    jaxrl.train("ppo", "CartPole-v1", total_timesteps=1024, config={**SMALL, "network": "gru"},
                out=tmp_path, name="run", progress=False)
    policy = jaxrl.load_policy(tmp_path / "run")
    assert policy.recurrent and policy.initial_carry().shape == (SMALL["rnn_size"],)
    act = jax.jit(policy)
    env = jaxrl.envs.to_gymnasium_env("CartPole-v1")
    for episode in range(2):
        obs, _ = env.reset(seed=episode)
        carry, done, carries = policy.initial_carry(), False, []
        while not done:
            carry, action = act(carry, obs)
            carries.append(carry)
            obs, _, terminated, truncated, _ = env.step(int(action))
            done = terminated or truncated
        assert len(carries) > 1 and np.any(np.asarray(carries[-1]) != 0)
    carry, actions = policy(policy.initial_carry(3), np.zeros((3, 4), np.float32))  # a batch of observations
    assert actions.shape == (3,) and carry.shape == (3, SMALL["rnn_size"])


@pytest.mark.parametrize("settings, message", [
    ({"network": "gru", "seq_len": 5}, "seq_len = 5 does not divide num_steps = 16"),
    ({"network": "gru", "num_minibatches": 3}, "2 sequences must be divisible by num_minibatches = 3"),
    ({"network": "rnn"}, "network must be one of 'mlp', 'gru', 'lstm'"),
])
def test_bad_recurrent_settings_get_one_clear_message(settings, message):
    with pytest.raises(ConfigError, match=message):
        resolve("ppo", "CartPole-v1", {**SMALL, "num_envs": 2, "num_steps": 16, **settings}, use_tuned=False)


def test_a_recurrent_option_on_an_agent_without_one_names_those_with_it():
    with pytest.raises(ConfigError, match="dqn has no recurrent .* are ippo, mappo, ppo, pqn"):
        resolve("dqn", "CartPole-v1", {"network": "gru"})


@pytest.mark.slow
@pytest.mark.parametrize("env, memoryless_at_most", [("RepeatPrevious-easy", -0.3), ("CartPole-v1-po", 100.0)])
def test_tuned_gru_solves_the_built_in_memory_tasks_and_the_mlp_does_not(env, memoryless_at_most):
    """The tuned defaults (experiments/ppo.toml) with their GRU, and the same with network=mlp."""
    best = {"RepeatPrevious-easy": 1.0, "CartPole-v1-po": 500.0}[env]
    gru = jaxrl.train("ppo", env, seeds=2, out=None, progress=False)
    mlp = jaxrl.train("ppo", env, seeds=2, config={"network": "mlp"}, out=None, progress=False)
    assert min(gru.summary["final_eval_return"]) >= 0.99 * best, gru.summary["final_eval_return"]
    assert max(mlp.summary["final_eval_return"]) <= memoryless_at_most, mlp.summary["final_eval_return"]
