"""XLand-MiniGrid rulesets (envs/xland_adapter.py): a benchmark file built here from hand-made
rulesets reaches the env, each copy and episode draws its own ruleset and keeps it for
`trials_per_ruleset` trials, the contract holds (check_env), and a missing benchmark, an
unknown name, a failed download and a bad file each give one paragraph (the CLI exits 2).
Nothing here uses the network.
"""

from __future__ import annotations

import importlib.util
import urllib.error

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl

pytestmark = pytest.mark.skipif(importlib.util.find_spec("xminigrid") is None,
                                reason="xminigrid is not installed: pip install 'jaxrl[xminigrid]'")

NAME = "xminigrid:XLand-MiniGrid-R1-9x9"
SMALL = dict(height=5, width=5, max_steps=20)  # a 3x3 room: random actions reach goals and time limits


def tiny_benchmark() -> dict[str, np.ndarray]:
    """Two rulesets: 0 = pick up the red ball (no rules; a ball and a square), 1 = stand next to the
    blue square (a red ball next to it becomes a green star; a ball, a square and a star)."""
    from xminigrid.core.constants import TILES_REGISTRY, Colors, Tiles
    from xminigrid.core.goals import AgentHoldGoal, AgentNearGoal
    from xminigrid.core.rules import EmptyRule, TileNearRule

    def tile(kind, colour):
        return np.asarray(TILES_REGISTRY[kind, colour])

    ball, square = tile(Tiles.BALL, Colors.RED), tile(Tiles.SQUARE, Colors.BLUE)
    star, empty = tile(Tiles.STAR, Colors.GREEN), tile(Tiles.EMPTY, Colors.EMPTY)
    no_rule = np.asarray(EmptyRule().encode())
    near = np.asarray(TileNearRule(tile_a=ball, tile_b=square, prod_tile=star).encode())
    return {
        "goals": np.stack([np.asarray(AgentHoldGoal(tile=ball).encode()),
                           np.asarray(AgentNearGoal(tile=square).encode())]),
        "rules": np.stack([np.stack([no_rule, no_rule]), np.stack([near, no_rule])]),
        "init_tiles": np.stack([np.stack([ball, square, empty]), np.stack([ball, square, star])]),
        "num_rules": np.asarray([0, 1]),
    }


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory):
    from xminigrid.benchmarks import save_bz2_pickle

    path = tmp_path_factory.mktemp("xland") / "tiny.pkl"
    save_bz2_pickle(tiny_benchmark(), str(path))
    return str(path)


def test_rulesets_reach_the_env_and_differ_per_copy(bench_file):
    env, params = jaxrl.make(NAME, benchmark=bench_file, **SMALL)
    bench = tiny_benchmark()
    assert params.rulesets.num_rulesets() == 2 and env.observation_space(params).shape == (5, 5, 2)
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(jax.random.split(jax.random.key(0), 64), params)
    ids = np.asarray(state.ruleset_id)
    assert set(ids) == {0, 1}  # each copy draws its own
    inner = state.inner.state
    np.testing.assert_array_equal(inner.goal_encoding, bench["goals"][ids])
    np.testing.assert_array_equal(inner.rule_encoding, bench["rules"][ids])
    stars = (np.asarray(inner.grid)[..., 0] == 12).sum(axis=(1, 2))  # Tiles.STAR: only ruleset 1 places one
    np.testing.assert_array_equal(stars, ids)
    # The goal stays hidden: the observation is the agent's view only, as in xminigrid's meta-RL training.
    assert obs.shape == (64, 5, 5, 2) and obs.dtype == jnp.float32


def _rollout(env, params, num_envs=16, num_steps=150):
    """Random actions; per step the state before and after, and the flags."""
    def run(key):
        obs, state = env.reset(key, params)

        def step(state, key):
            key_act, key_step = jax.random.split(key)
            action = jax.random.randint(key_act, (), 0, 6)
            _, new, reward, terminated, truncated, _ = env.step(key_step, state, action, params)
            return new, (state.ruleset_id, state.trial, new.ruleset_id, new.trial, reward, terminated, truncated)

        return jax.lax.scan(step, state, jax.random.split(key, num_steps))[1]

    out = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(3), num_envs))
    return [np.asarray(x) for x in out]


@pytest.mark.parametrize("trials", [pytest.param(1, marks=pytest.mark.slow), 3])  # ~11 s each on 2 cores
def test_a_ruleset_is_kept_for_its_trials_and_redrawn_per_episode(bench_file, trials):
    env, params = jaxrl.make(NAME, benchmark=bench_file, trials_per_ruleset=trials, **SMALL)
    assert params.max_steps_in_episode == trials * 20
    id_before, trial_before, id_after, trial_after, reward, terminated, truncated = _rollout(env, params)
    done = terminated | truncated
    assert done.sum() > 20
    # Inside an episode the ruleset never changes and trials only count up, one at a time.
    assert np.all(id_after[~done] == id_before[~done])
    assert np.all((trial_after - trial_before)[~done] >= 0) and np.all((trial_after - trial_before)[~done] <= 1)
    # An episode ends with its K-th trial (or our time limit) and the next one starts at trial 0.
    assert np.all(trial_after[done] == 0)
    assert np.all(trial_before[terminated] == trials - 1)
    assert np.all(trial_before < trials)
    if trials > 1:
        assert np.any(trial_after > trial_before)  # trials ended without an episode end
        assert np.all(terminated[truncated])  # trial limits are the task's; ours, K * max_steps, comes only with the K-th trial's end
    else:
        assert truncated.any()  # xminigrid's limit is ours: a time limit
    # Episodes start with fresh draws: both rulesets come up across a copy's episodes.
    assert set(id_after[done]) == {0, 1}
    assert np.all(reward >= 0) and reward.max() > 0.5


def test_rulesets_can_be_passed_as_a_benchmark_object():
    from xminigrid.benchmarks import Benchmark

    bench = Benchmark(**{k: jnp.asarray(v) for k, v in tiny_benchmark().items()})
    env, params = jaxrl.make(NAME, rulesets=bench, **SMALL)
    obs, state = env.reset(jax.random.key(1), params)
    assert int(state.ruleset_id) in (0, 1)


def test_an_xland_env_without_rulesets_is_refused_on_first_use():
    env, params = jaxrl.make(NAME)
    for use in (lambda: env.observation_space(params), lambda: env.reset(jax.random.key(0), params)):
        with pytest.raises(ValueError, match=r"has no rulesets.*benchmark=NAME_OR_PATH.*trivial-21k"):
            use()


def test_unknown_benchmark_names_the_registered_ones(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown XLand benchmark 'trivial-1m'.*Did you mean 'trivial-21k'"):
        jaxrl.make(NAME, benchmark="trivial-1m")
    with pytest.raises(ValueError, match="there is no such file"):
        jaxrl.make(NAME, benchmark=str(tmp_path / "missing.pkl"))


def test_a_failed_download_says_where_to_put_the_file(tmp_path, monkeypatch):
    from xminigrid import benchmarks

    def offline(repo_id, filename):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(benchmarks, "DATA_PATH", str(tmp_path))
    monkeypatch.setattr(benchmarks, "_download_from_hf", offline)
    with pytest.raises(ValueError) as info:
        jaxrl.make(NAME, benchmark="small-1m")
    message = str(info.value)
    assert "Could not download" in message and str(tmp_path / "small_1m_v3") in message
    assert "load_benchmark_from_path" in message and "XLAND_MINIGRID_DATA" in message
    # A file that is there but is no benchmark (e.g. a partial download) is named, with the fix.
    (tmp_path / "small_1m_v3").write_bytes(b"not bz2")
    with pytest.raises(ValueError, match=r"small_1m_v3 is not a usable XLand benchmark file.*Delete it"):
        jaxrl.make(NAME, benchmark="small-1m")


def test_bad_files_and_options_are_refused(tmp_path, bench_file):
    from xminigrid.benchmarks import save_bz2_pickle

    save_bz2_pickle({"goals": np.zeros((0, 5), np.uint8), "rules": np.zeros((0, 1, 7), np.uint8),
                     "init_tiles": np.zeros((0, 1, 2), np.uint8), "num_rules": np.zeros(0)}, str(tmp_path / "empty"))
    with pytest.raises(ValueError, match=r"not a usable XLand benchmark file.*N >= 1"):
        jaxrl.make(NAME, benchmark=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="trials_per_ruleset must be an integer >= 1"):
        jaxrl.make(NAME, benchmark=bench_file, trials_per_ruleset=0)
    with pytest.raises(ValueError, match="apply to the XLand-\\* envs only"):
        jaxrl.make("xminigrid:MiniGrid-Empty-6x6", benchmark=bench_file)


def test_cli_reports_benchmark_mistakes_in_one_paragraph(capsys, tmp_path):
    from jaxrl.cli import main

    out = str(tmp_path / "runs")
    assert main(["train", "ppo", "--env", NAME, "--out", out, "--set", "env.benchmark=trivial-1m"]) == 2
    assert main(["train", "ppo", "--env", NAME, "--out", out]) == 2
    err = capsys.readouterr().err
    assert "Unknown XLand benchmark 'trivial-1m'" in err and "has no rulesets" in err
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


def test_check_env_from_the_cli_with_a_benchmark(bench_file, capsys):
    from jaxrl.cli import main

    small = [f"env.{k}={v}" for k, v in SMALL.items()]
    assert main(["check-env", NAME, "--set", f"env.benchmark={bench_file}", "env.trials_per_ruleset=3", *small]) == 0
    assert "13 checks passed" in capsys.readouterr().out
    assert main(["check-env", NAME, "--set", f"benchmark={bench_file}"]) == 2  # env settings only


@pytest.mark.slow
@pytest.mark.parametrize("trials", [1, 3])
def test_xland_contract(bench_file, trials):
    env, params = jaxrl.make(NAME, benchmark=bench_file, trials_per_ruleset=trials, **SMALL)
    jaxrl.envs.check_env(env, params, num_envs=8, num_steps=300, check_x64=True)


@pytest.mark.slow
def test_ppo_learns_xland_rulesets(bench_file):
    """End to end as `jaxrl train ppo --env NAME --set env.benchmark=FILE ...` (~45 s on 2 cores): the
    deterministic return goes from ~0.18 (first evaluation) to 0.7, 0.7, 0.8 on seeds 0-2 at 131k steps."""
    small = {f"env.{k}": v for k, v in SMALL.items() if k != "max_steps"}
    result = jaxrl.train("ppo", NAME, seeds=2, out=None, progress=False,
                         config={"env.benchmark": bench_file, "env.max_steps": 50, **small, "cnn": "minatar",
                                 "activation": "relu", "num_envs": 32, "num_steps": 32, "update_epochs": 2,
                                 "num_minibatches": 4, "learning_rate": 1e-3, "total_timesteps": 131072,
                                 "num_logs": 2})
    assert result.config.env_kwargs["benchmark"] == bench_file
    assert np.asarray(result.final_eval_return).min() >= 0.5, result.final_eval_return
