"""Multi-agent envs (`envs.multi`) and agents (IPPO, MAPPO) through the usual loop: the contract, the
team view, learning a cooperative task, sweeps, resume and bad input."""

import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import jaxrl
from jaxrl.envs import spaces
from jaxrl.envs.core import EnvParams, EnvState
from jaxrl.envs.multi import MultiAgentEnv, TeamView, global_state_of, is_multi_agent
from jaxrl.interrupt import TrainingInterrupted

ENV = "test_multi_agent:CoopMatch"
SMALL = dict(num_envs=16, num_steps=20, learning_rate=3e-3, eval_episodes=16)


@struct.dataclass
class MatchState(EnvState):
    target: jax.Array  # [2] int32


@struct.dataclass
class MatchParams(EnvParams):
    max_steps_in_episode: int = 5


class CoopMatch(MultiAgentEnv):
    """Two agents each see their own target (a one-hot of 3; agent_1 also a constant feature, so
    the observations differ in size) and must name it; agent_1 has a fourth, never-right action.
    Both get the mean of the two hits; agent_0 terminates early when `early_end` is set at a miss.
    Episodes are 5 steps (a time limit): the best team return is 5.0, uniform random ~1.46."""

    agents = ("agent_0", "agent_1")

    @property
    def default_params(self) -> MatchParams:
        return MatchParams()

    def observation_spaces(self, params):
        return {"agent_0": spaces.Box(0.0, 1.0, (3,)), "agent_1": spaces.Box(0.0, 1.0, (4,))}

    def action_spaces(self, params):
        return {"agent_0": spaces.Discrete(3), "agent_1": spaces.Discrete(4)}

    def _obs(self, state):
        return {"agent_0": jax.nn.one_hot(state.target[0], 3),
                "agent_1": jnp.concatenate([jax.nn.one_hot(state.target[1], 3), jnp.ones(1)])}

    def reset_env(self, key, params):
        state = MatchState(time=jnp.int32(0), target=jax.random.randint(key, (2,), 0, 3))
        return self._obs(state), state

    def step_env(self, key, state, actions, params):
        hits = jnp.stack([actions["agent_0"] == state.target[0], actions["agent_1"] == state.target[1]])
        reward = hits.astype(jnp.float32).mean()
        state = MatchState(time=state.time + 1, target=jax.random.randint(key, (2,), 0, 3))
        no = jnp.bool_(False)
        return self._obs(state), state, {"agent_0": reward, "agent_1": reward}, {"agent_0": no, "agent_1": no}, {}


class MaskedMatch(CoopMatch):
    """CoopMatch where agent_0 may only name its target and agent_1 any of its first three actions."""

    def avail_actions(self, state, params):
        return {"agent_0": jnp.arange(3) == state.target[0], "agent_1": jnp.arange(4) < 3}


class GlobalMatch(CoopMatch):
    """CoopMatch with a global state: both targets, one-hot `[6]`."""

    def global_state(self, state, params):
        return jax.nn.one_hot(state.target, 3).reshape(-1)


def test_mappo_reads_the_envs_global_state_where_it_has_one():
    from jaxrl.agents.ippo import AgentLayout

    env, params = jaxrl.make("test_multi_agent:GlobalMatch")
    team = TeamView(env)
    obs, state = team.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(obs["global_state"], jax.nn.one_hot(state.target, 3).reshape(-1))
    for t in range(5):
        _, state, _, _, _, info = team.step(jax.random.key(t), state, {a: jnp.int32(0) for a in env.agents}, params)
    assert info["final_observation"]["global_state"].shape == (6,)
    assert AgentLayout.of(env, params, True).critic_dim == 6 + 2  # the global state and the agent one-hot
    assert AgentLayout.of(jaxrl.make(ENV)[0], params, True).critic_dim == 3 + 4 + 2  # observations concatenated



@pytest.mark.slow
def test_mappo_learns_with_the_envs_global_state():
    result = jaxrl.train("mappo", "test_multi_agent:GlobalMatch", total_timesteps=16_000, config=SMALL, out=None,
                         progress=False, use_tuned=False)
    assert result.summary["final_eval_return"][0] >= 4.5


def test_action_masks_travel_in_the_team_views_observations():
    env, params = jaxrl.make("test_multi_agent:MaskedMatch")
    team = TeamView(env)
    assert "avail_actions" in team.observation_space(params).spaces
    obs, state = team.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(obs["avail_actions"]["agent_0"], jnp.arange(3) == state.target[0])
    actions = {"agent_0": jnp.int32(0), "agent_1": jnp.int32(0)}
    for t in range(5):
        obs, state, _, _, _, info = team.step(jax.random.key(t), state, actions, params)
    assert set(info["final_observation"]["avail_actions"]) == {"agent_0", "agent_1"}
    assert "avail_actions" not in TeamView(jaxrl.make(ENV)[0]).observation_space(params).spaces


@pytest.mark.parametrize("algo", ["ippo", "mappo", "pqn_vdn"])
def test_agents_never_take_an_unavailable_or_padded_action(algo):
    from jaxrl.config import resolve
    from jaxrl.population import build_agent, member_inputs

    resolved = resolve(algo, "test_multi_agent:MaskedMatch", {"num_envs": 4, "num_steps": 4, "num_minibatches": 2},
                       use_tuned=False)
    fns = build_agent(resolved, *jaxrl.make(resolved.env))
    keys, hparams = member_inputs(resolved)
    state = jax.tree.map(lambda x: x[0], jax.vmap(fns.init)(keys, hparams))
    policy = fns.policy(state)
    if algo == "pqn_vdn":
        policy = policy.replace(epsilon=jnp.float32(1.0))  # explore every step
    obs = state.env.obs
    actions = jax.vmap(lambda k: fns.act(policy, obs, k, False))(jax.random.split(jax.random.key(0), 64))
    targets = state.env.state.env_state.target[:, 0]
    assert np.all(np.asarray(actions["agent_0"]) == np.asarray(targets)[None])
    assert np.all(np.asarray(actions["agent_1"]) < 3)


def test_the_team_view_steps_every_agent_and_reports_the_team():
    env, params = jaxrl.make(ENV)
    assert is_multi_agent(env) and not is_multi_agent(jaxrl.make("CartPole-v1")[0])
    team = TeamView(env)
    obs, state = team.reset(jax.random.key(0), params)
    right = {"agent_0": jnp.argmax(obs["agent_0"]), "agent_1": jnp.argmax(obs["agent_1"][:3])}
    wrong = {"agent_0": (right["agent_0"] + 1) % 3, "agent_1": right["agent_1"]}
    _, _, reward, terminated, truncated, info = team.step(jax.random.key(1), state, right, params)
    assert float(reward) == 1.0 and not bool(terminated) and not bool(truncated)
    _, _, reward, _, _, info = team.step(jax.random.key(1), state, wrong, params)
    assert float(reward) == 0.5 and float(info["agent_rewards"]["agent_0"]) == 0.5
    assert set(info["final_observation"]) == set(env.agents)


def test_the_time_limit_truncates_every_agent_and_auto_resets():
    env, params = jaxrl.make(ENV)
    obs, state = env.reset(jax.random.key(0), params)
    actions = {"agent_0": jnp.int32(0), "agent_1": jnp.int32(0)}
    for t in range(5):
        obs, state, rewards, terminated, truncated, info = env.step(jax.random.key(t + 1), state, actions, params)
    assert all(bool(truncated[a]) for a in env.agents) and not any(bool(terminated[a]) for a in env.agents)
    assert int(state.time) == 0  # a fresh episode
    assert {a: info["final_observation"][a].shape for a in env.agents} == {"agent_0": (3,), "agent_1": (4,)}


def test_actions_missing_an_agent_are_named():
    env, params = jaxrl.make(ENV)
    _, state = env.reset(jax.random.key(0), params)
    with pytest.raises(ValueError, match=r"no entry for agent\(s\) \['agent_1'\]"):
        env.step(jax.random.key(1), state, {"agent_0": jnp.int32(0)}, params)


def test_global_state_concatenates_observations_in_agent_order():
    obs = {"b": jnp.ones((2, 3)), "a": jnp.zeros((2, 2, 2))}
    joint = global_state_of(obs, ("a", "b"))
    assert joint.shape == (2, 7) and float(joint[0, :4].sum()) == 0.0 and float(joint[0, 4:].sum()) == 3.0


@pytest.mark.parametrize("algo, settings", [
    ("ippo", {}),
    pytest.param("ippo", {"share_params": False}, marks=pytest.mark.slow),
    pytest.param("mappo", {}, marks=pytest.mark.slow),
])
def test_multi_agent_ppo_learns_a_cooperative_task(algo, settings):
    result = jaxrl.train(algo, ENV, seeds=2, total_timesteps=16_000, config={**SMALL, **settings}, out=None,
                         progress=False, use_tuned=False)
    assert min(result.summary["final_eval_return"]) >= 4.5, result.summary["final_eval_return"]  # random: ~1.46


def test_pqn_vdn_learns_the_cooperative_task():
    settings = dict(num_envs=16, num_steps=20, num_minibatches=4, learning_rate=3e-3, eval_episodes=16)
    result = jaxrl.train("pqn_vdn", ENV, seeds=2, total_timesteps=30_000, config=settings, out=None,
                         progress=False, use_tuned=False)
    assert min(result.summary["final_eval_return"]) >= 4.5, result.summary["final_eval_return"]


def test_per_agent_returns_are_logged_and_eval_reads_the_run(tmp_path):
    jaxrl.train("ippo", ENV, total_timesteps=3200, config=SMALL, out=tmp_path, name="run", progress=False,
                use_tuned=False)
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"episode_return", "episode_return_agent_0", "episode_return_agent_1"} <= set(header)
    from jaxrl.policy import evaluate_run

    results = evaluate_run(tmp_path / "run", episodes=4)
    assert results["returns"].shape == (1, 4) and np.all(results["lengths"] == 5)


@pytest.mark.slow
def test_a_sweep_over_seeds_and_learning_rates_compiles_once(tmp_path):
    result = jaxrl.sweep("mappo", ENV, grid={"learning_rate": [1e-3, 3e-3]}, seeds=2, total_timesteps=3200,
                         config={k: v for k, v in SMALL.items() if k != "learning_rate"}, out=tmp_path,
                         progress=False)
    assert result.summary["num_compiles"] == 1


def test_a_multi_agent_run_stopped_and_resumed_equals_uninterrupted(tmp_path):
    settings = {**SMALL, "num_logs": 6, "checkpoint_every": 2}
    kwargs = dict(seeds=2, total_timesteps=12 * 320, config=settings, out=tmp_path, progress=False, use_tuned=False)
    reference = jaxrl.train("ippo", ENV, name="reference", **kwargs)

    class Stop:
        def log(self, rows):
            if rows[0]["step"] == 3 * 640:
                os.kill(os.getpid(), signal.SIGINT)

        def close(self):
            pass

    with pytest.raises(TrainingInterrupted):
        jaxrl.train("ippo", ENV, name="stopped", loggers=[Stop()], **kwargs)
    resumed = jaxrl.resume(tmp_path / "stopped", progress=False)
    assert resumed.summary["resumed_from_step"] == 3 * 640
    assert resumed.summary["params_sha256"] == reference.summary["params_sha256"]


@pytest.mark.parametrize("algo, env, message", [
    ("ppo", ENV, "ppo is a single-agent algorithm and test_multi_agent:CoopMatch is a multi-agent env "
                 r"\(agents: agent_0, agent_1\); train it with ippo, mappo, pqn_vdn"),
    ("ippo", "CartPole-v1", "ippo is a multi-agent algorithm and CartPole-v1 is a single-agent env"),
])
def test_an_algorithm_of_the_other_kind_gets_one_message(algo, env, message):
    with pytest.raises(ValueError, match=message):
        jaxrl.train(algo, env, out=None, progress=False)


@pytest.mark.parametrize("algo, settings", [
    ("ippo", {"network": "gru"}),
    pytest.param("mappo", {"network": "lstm", "seq_len": 10}, marks=pytest.mark.slow),
])
def test_recurrent_multi_agent_ppo_learns_and_its_exported_policy_steps_with_a_carry(algo, settings, tmp_path):
    config = {**SMALL, "rnn_size": 32, **settings}
    result = jaxrl.train(algo, ENV, total_timesteps=16_000, config=config, out=tmp_path, name="run", progress=False,
                         use_tuned=False)
    assert min(result.summary["final_eval_return"]) >= 4.5, result.summary["final_eval_return"]
    policy = jaxrl.load_policy(tmp_path / "run")
    assert policy.recurrent
    carry = policy.initial_carry()  # one env copy: every agent's memory, [n, H]
    assert {leaf.shape for leaf in jax.tree.leaves(carry)} == {(2, 32)}
    obs = {"agent_0": np.eye(3, dtype=np.float32)[1], "agent_1": np.array([0, 0, 1, 1], np.float32)}
    carry, actions = policy(carry, obs)
    assert {a: int(v) for a, v in actions.items()} == {"agent_0": 1, "agent_1": 2}  # each names its target


def test_per_agent_recurrent_networks_are_refused_clearly():
    from jaxrl.config import ConfigError, resolve

    with pytest.raises(ConfigError, match="network = 'gru' needs share_params = true"):
        resolve("ippo", ENV, {"network": "gru", "share_params": False})


@pytest.mark.slow
def test_a_multi_agent_cli_run_killed_with_sigkill_resumes_bit_identically(tmp_path):
    import subprocess
    import sys
    import time
    from pathlib import Path

    from jaxrl import checkpoint

    script = Path(sys.executable).parent / "jaxrl"
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "jaxrl"]
    settings = ["num_envs=16", "num_steps=32", "num_logs=40", "checkpoint_every=1", "eval_episodes=4"]
    command = [*cli, "train", "ippo", "--env", "MPE_simple_spread_v3", "--seeds", "2", "--total-timesteps", "20480",
               "--set", *settings, "--out", str(tmp_path), "--no-progress"]
    subprocess.run([*command, "--name", "reference"], check=True, capture_output=True)
    proc = subprocess.Popen([*command, "--name", "killed"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpts = tmp_path / "killed" / "checkpoints"
    deadline = time.monotonic() + 300
    while not checkpoint.list_steps(ckpts):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL and not (tmp_path / "killed" / "summary.json").exists()
    result = jaxrl.resume(tmp_path / "killed", progress=False)
    reference = (tmp_path / "reference" / "summary.json").read_text()
    import json

    assert result.summary["params_sha256"] == json.loads(reference)["params_sha256"]
    assert result.summary["resumed_from_step"] is not None
    assert (tmp_path / "killed" / "metrics.csv").read_text() == (tmp_path / "reference" / "metrics.csv").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ippo", "mappo"])
def test_multi_agent_ppo_clearly_beats_random_on_simple_spread(algo):
    """JaxMARL's IPPO settings, 1M steps, 2 seeds: a random policy's team return is -26.5 and
    standing still -24.3 (25-step episodes); IPPO and MAPPO reach about -20 here."""
    settings = dict(num_envs=16, num_steps=128, update_epochs=4, num_minibatches=4, learning_rate=2.5e-4,
                    hidden_sizes=(64, 64), activation="tanh", eval_episodes=64)
    result = jaxrl.train(algo, "MPE_simple_spread_v3", seeds=2, total_timesteps=1_000_000, config=settings,
                         out=None, progress=False, use_tuned=False)
    assert max(result.summary["final_eval_return"]) < 0 and min(result.summary["final_eval_return"]) > -22.5
