"""The CLI writes a complete run directory and reports user mistakes in one line, before compiling."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

# The installed console script (what users run), else the module.
_SCRIPT = Path(sys.executable).parent / "jaxrl"
RUN = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "jaxrl"]


def _jaxrl(*args, cwd=None):
    return subprocess.run([*RUN, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_train_writes_complete_run_directory(tmp_path):
    proc = _jaxrl(
        "train", "ppo", "--env", "CartPole-v1", "--seeds", "2", "--total-timesteps", "2048",
        "--set", "num_envs=8", "num_steps=16", "--set", "num_logs=4", "eval_episodes=16",  # repeated --set: all kept
        "--out", str(tmp_path), "--name", "run", "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    assert "final eval return" in proc.stdout
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {"config.json", "metrics.csv", "summary.json", "curve.png"}

    config = json.loads((run / "config.json").read_text())
    assert config["config"]["num_envs"] == 8 and config["seeds"] == [0, 1]
    assert config["run"]["num_logs"] == 4 and config["run"]["eval_episodes"] == 16
    assert config["versions"]["jax"] and "git_commit" in config

    summary = json.loads((run / "summary.json").read_text())
    for key in ("algo", "env", "seeds", "total_timesteps", "final_eval_return", "final_eval_return_mean",
                "compile_s", "train_s", "wall_s", "steps_per_s", "num_compiles", "params_sha256"):
        assert key in summary, key
    assert len(summary["final_eval_return"]) == 2 and len(summary["params_sha256"]) == 2
    assert summary["total_timesteps"] == 2048 and summary["num_compiles"] == 1

    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    columns = set(rows[0])
    assert columns >= {"step", "seed", "episode_return", "episode_length", "eval_return", "policy_loss",
                       "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance",
                       "learning_rate", "grad_norm", "value_mean"}
    assert len(rows) == 4 * 2  # one row per logged point per seed
    steps = sorted({int(r["step"]) for r in rows})
    assert steps == [512, 1024, 1536, 2048]
    assert (run / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_existing_run_directory_is_never_overwritten(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text("{}")
    proc = _jaxrl("train", "ppo", "--out", str(tmp_path), "--name", "run", "--no-progress")
    assert proc.returncode == 2
    assert "already exists" in proc.stderr
    assert (tmp_path / "run" / "summary.json").read_text() == "{}"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--env", "CartPol-v1"], "Closest registered names: CartPole-v1"),
        (["--set", "num_env=3"], "Did you mean num_envs"),
        (["--set", "gamma=1.5"], "gamma must be in [0, 1]"),
        (["--set", "num_envs=abc"], "num_envs='abc' is not a valid int"),
        (["--set", "num_minibatches=5"], "divisible by num_minibatches"),
        (["--seeds", "0"], "seeds must be >= 1"),
    ],
)
def test_user_mistakes_get_one_paragraph_errors(args, message, tmp_path):
    proc = _jaxrl("train", "ppo", *args, "--out", str(tmp_path), "--no-progress")
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing written for a rejected config


def test_envs_lists_builtins_and_adapters():
    proc = _jaxrl("envs")
    assert proc.returncode == 0
    names = proc.stdout.split()
    assert {"CartPole-v1", "Pendulum-v1", "gymnax:Breakout-MinAtar"} <= set(names)


def test_help_lists_commands():
    proc = _jaxrl("--help")
    assert proc.returncode == 0
    for command in ("train", "envs", "check-env"):
        assert command in proc.stdout


CHECKED_MODULE = '''
import jax.numpy as jnp
from jaxrl.envs.cartpole import CartPole


class GoodEnv(CartPole):
    pass


class ForgetsTime(CartPole):
    def step_env(self, key, state, action, params):
        obs, new_state, reward, terminated, info = super().step_env(key, state, action, params)
        return obs, new_state.replace(time=state.time), reward, terminated, info
'''


def test_check_env_by_import_path(tmp_path):
    (tmp_path / "user_envs.py").write_text(CHECKED_MODULE)
    ok = _jaxrl("check-env", "user_envs:GoodEnv", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "checks passed" in ok.stdout and "ok    auto_reset" in ok.stdout
    bad = _jaxrl("check-env", "user_envs:ForgetsTime", cwd=tmp_path)
    assert bad.returncode == 1
    assert "check-env failed" in bad.stderr and "state.time" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "ppo", "--seeds", "-1,2"], "seeds must be a non-empty list of distinct ints in [0, 2**32), got [-1, 2]"),
        (["train", "ppo", "--set", "hidden_sizes=[64,-1]"], "hidden_sizes='[64,-1]' needs sizes >= 1"),
        (["train", "dqn", "--env", "Pendulum-v1"], "DQN needs a Discrete action space, got Box("),
        (["train", "ppo", "--name", "../elsewhere"], "Run name '../elsewhere' is not a plain folder name"),
        (["sweep", "ppo", "--random", "-1"], "random (the number of random configurations) must be >= 0, got -1"),
        (["sweep", "dqn", "--env", "Pendulum-v1"], "DQN needs a Discrete action space, got Box("),
        (["check-env", "jaxrl.envs.spaces:Box"], "Cannot construct the environment 'jaxrl.envs.spaces:Box' without "
                                                 "arguments (missing a required argument: 'low')"),
        (["plot", "RUN", "--out", "MISSING/x.png"], "the folder 'MISSING' does not exist"),
        (["runs", "RUN", "--csv", "MISSING/x.csv"], "the folder 'MISSING' does not exist"),
        (["compare", "RUN", "RUN", "--out", "FILE"], "--out 'FILE' is a file; give a folder"),
        (["eval", "RUN", "--seed", "-1"], "seed must be an int in [0, 2**32), got -1."),
        (["eval", "RUN", "--seed", str(2**32)], f"seed must be an int in [0, 2**32), got {2**32}."),
        (["train", "ppo", "--set", "eval_seed=-1"], "PPO: eval_seed must be in [0, 4294967296), got -1."),
        (["sweep", "ppo", "--random", "2", "--range", "learning_rate=1e-4:1e-3", "--sample-seed", "-1"],
         "sample_seed must be an int in [0, 2**32), got -1."),
        (["compare", "RUN", "RUN", "--seed", "-1"], "seed must be an int in [0, 2**32), got -1."),
        (["compare", "--adastop", "--run", "a=ppo@CartPole-v1", "b=ppo@CartPole-v1", "--seed", "-1", "--out", "RUN"],
         "seed must be an int in [0, 2**32), got -1."),
        (["train", "ppo", "--set", "env.masscart=-1"], "CartPole-v1: masscart must be in (0, inf), got -1."),
        (["plot"], "plot needs at least one run directory (RUN_DIR ...)."),
        (["runs", "RUN", "--csv", "RUN"], "RUN/runs.csv)."),
    ],
)
def test_careless_commands_fail_before_compiling_in_one_paragraph(args, message, tmp_path, capsys):
    from jaxrl import cli

    (tmp_path / "RUN").mkdir()
    (tmp_path / "FILE").write_text("")
    for name in ("RUN", "MISSING", "FILE"):  # placeholders for paths under tmp_path
        args = [str(tmp_path / a) if a.split("/")[0] == name else a for a in args]
        message = message.replace(f"'{name}'", repr(str(tmp_path / name)))
    out = tmp_path / "out"
    extra = ["--out", str(out), "--no-progress"] if args[0] in ("train", "sweep") and "--out" not in args else []
    assert cli.main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxrl: error: ") and err.count("\n") == 1
    assert message in err
    assert not out.exists()  # nothing written, nothing compiled
    assert not any((tmp_path / "RUN").iterdir())  # nor trained into the folder given


def test_bad_seeds_get_the_same_message_from_the_python_api():
    from jaxrl import compare, pbt, sweeps
    from jaxrl.config import ConfigError, check_seed, resolve

    for seed in (-1, 2**32, 1.5, True):
        with pytest.raises(ConfigError, match=rf"^seed must be an int in \[0, 2\*\*32\), got {seed!r}\.$"):
            check_seed(seed)
    assert check_seed(2**32 - 1) == 2**32 - 1
    with pytest.raises(ConfigError, match=r"^seed must be an int in \[0, 2\*\*32\), got -1\.$"):
        compare.compare(compare.Scores({}), seed=-1)
    with pytest.raises(ConfigError, match=r"^sample_seed must be an int in \[0, 2\*\*32\), got -1\.$"):
        sweeps.expand({}, 2, {"learning_rate": sweeps.Range(1e-4, 1e-3)}, 1, sample_seed=-1)
    with pytest.raises(ConfigError, match=r"^PBT seed must be an int in \[0, 2\*\*32\), got -1\.$"):
        pbt.PBT(seed=-1).check([], swept=[])
    with pytest.raises(ConfigError, match=r"^PPO: eval_seed must be in \[0, 4294967296\), got -1\.$"):
        resolve("ppo", "CartPole-v1", {"eval_seed": -1})
    from jaxrl.policy import evaluate_run

    with pytest.raises(ConfigError, match=r"^seed must be an int in \[0, 2\*\*32\), got -1\.$"):
        evaluate_run("no-such-run", seed=-1)  # refused before the run directory is read
