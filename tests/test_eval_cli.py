"""`jaxrl eval` and `jaxrl.load_policy` reload a policy from the run directory alone; logging backends."""

import struct
import subprocess
import sys
import types
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxrl
from jaxrl import checkpoint, cli, loggers, rundir
from jaxrl.policy import evaluate_run

SETTINGS = dict(num_envs=8, num_steps=16, update_epochs=2, num_minibatches=2, num_logs=24, eval_episodes=4,
                checkpoint_every=4, keep_checkpoints=2)  # as in test_resume: the same compiled program

_SCRIPT = Path(sys.executable).parent / "jaxrl"
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "jaxrl"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    result = jaxrl.train("ppo", "CartPole-v1", seeds=2, total_timesteps=3072, config=SETTINGS, out=out,
                         name="run", progress=False, loggers=["tensorboard"])
    return out / "run", result


def _seed_rows(stdout: str) -> dict[str, list[float]]:
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0] in ("0", "1", "all"):
            rows[parts[0]] = [float(x) for x in parts[1:5]]
    return rows


def test_eval_command_prints_the_return_distribution_per_seed(run):
    path, result = run
    proc = subprocess.run([*CLI, "eval", str(path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "ppo on CartPole-v1: policy at step 3,072, 4 deterministic episodes per seed" in proc.stdout
    assert "mean" in proc.stdout and "std" in proc.stdout and "min" in proc.stdout and "max" in proc.stdout
    rows = _seed_rows(proc.stdout)
    # Same policy, key and episode count as the run's final evaluation: the same returns.
    assert [rows["0"][0], rows["1"][0]] == pytest.approx(result.summary["final_eval_return"], abs=0.006)
    for mean, std, low, high in rows.values():
        assert low <= mean <= high and std >= 0


def test_eval_options_and_mistakes(run, capsys):
    path, _ = run
    first = checkpoint.list_steps(path / "checkpoints")[0]
    assert cli.main(["eval", str(path), "--episodes", "3", "--step", str(first), "--stochastic"]) == 0
    out = capsys.readouterr().out
    assert f"policy at step {first:,}, 3 stochastic episodes per seed" in out and set(_seed_rows(out)) == {"0", "1", "all"}

    assert cli.main(["eval", str(path), "--step", "7"]) == 2
    assert f"No checkpoint for step 7 in '{path / 'checkpoints'}'; available steps:" in capsys.readouterr().err
    assert cli.main(["eval", str(path), "--env", "Pendulum-v1"]) == 2
    assert "--env Pendulum-v1 does not fit the policy trained on CartPole-v1" in capsys.readouterr().err
    assert cli.main(["eval", str(path.parent / "nope")]) == 2
    assert "is not a jaxrl run directory" in capsys.readouterr().err


def test_a_run_evaluated_stochastically_is_reevaluated_so(tmp_path):
    """eval_stochastic=true: the run's evaluations sample actions, and `evaluate_run` / `jaxrl eval`
    repeat them by default (same key, same returns); deterministic=True still takes the mode."""
    result = jaxrl.train("ppo", "CartPole-v1", seeds=2, total_timesteps=1024, out=tmp_path, name="s", progress=False,
                         config={**SETTINGS, "num_logs": 2, "eval_episodes": 16, "eval_stochastic": True})
    assert result.summary["eval_stochastic"] is True
    again = evaluate_run(tmp_path / "s")
    assert again["deterministic"] is False
    np.testing.assert_allclose(again["returns"].mean(axis=1), result.summary["final_eval_return"], rtol=1e-6)
    mode = evaluate_run(tmp_path / "s", deterministic=True)["returns"]
    assert not np.array_equal(mode, again["returns"])


def test_load_policy_is_a_jittable_act_function(run):
    path, result = run
    act = jaxrl.load_policy(path, seed_index=1)
    expected = jax.tree.map(lambda x: np.asarray(x)[1], result.state.policy)
    for a, b in zip(jax.tree.leaves(act.params), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(np.asarray(a), b)
    assert act.step == 3072 and act.action_space.n == 2

    obs = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    batch = act(obs)
    assert batch.shape == (16,) and set(np.unique(np.asarray(batch))) <= {0, 1}
    np.testing.assert_array_equal(np.asarray(jax.jit(act)(obs)), np.asarray(batch))  # jittable, deterministic
    assert act(obs[0]).shape == () and int(act(obs[0])) == int(batch[0])  # one observation, no batch axis
    sampled = jaxrl.load_policy(path, deterministic=False)
    with pytest.raises(ValueError, match="needs a key"):
        sampled(obs)
    assert jax.jit(sampled)(obs, jax.random.key(1)).shape == (16,)
    with pytest.raises(IndexError, match="out of range"):
        jaxrl.load_policy(path, seed_index=2)


def _tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Scalars of the TFRecord event files in `folder` (framing: len u64, crc u32, data, crc u32)."""
    from tensorboardX.proto import event_pb2

    scalars: dict[str, list[tuple[int, float]]] = {}
    for file in sorted(folder.glob("events.out.tfevents.*")):
        data = file.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_tensorboard_logger_writes_every_logged_point(run):
    path, _ = run
    rows = [r for r in rundir.read_metrics(path / "metrics.csv") if r["seed"] == 0]
    scalars = _tensorboard_scalars(path / "tensorboard" / "seed_0")
    assert [s for s, _ in scalars["policy_loss"]] == [r["step"] for r in rows]
    np.testing.assert_allclose([v for _, v in scalars["eval_return"]], [r["eval_return"] for r in rows], rtol=1e-6)
    assert (path / "tensorboard" / "seed_1").is_dir()
    assert rundir.read_config(path)["loggers"] == ["tensorboard"]  # a resume logs there too


def test_unknown_or_missing_logger_fails_before_anything_is_written(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="Unknown logger 'tensorbord'"):
        jaxrl.train("ppo", loggers=["tensorbord"], out=tmp_path, progress=False)
    monkeypatch.setattr(loggers.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"needs the tensorboardX package: pip install 'jaxrl\[tensorboard\]'"):
        jaxrl.train("ppo", loggers=["tensorboard"], out=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


def test_wandb_logger_runs_offline_and_continues_the_same_run_on_resume(tmp_path, monkeypatch):
    """Against a recording stand-in for the wandb module (the real one is an optional extra)."""
    calls = []

    class Run:
        def log(self, data, step):
            calls.append(("log", step, data))

        def finish(self):
            calls.append(("finish",))

    fake = types.SimpleNamespace(init=lambda **kw: calls.append(("init", kw)) or Run())
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    rows = [{"step": 2**40, "seed": 0, "episode_return": 1.5, "eval_return": float("nan")}]
    logger = loggers.WandbLogger(tmp_path, {"algo": "ppo"})
    logger.log(rows)
    logger.close()
    init = calls[0][1]
    run_id = (tmp_path / "wandb_id").read_text().strip()
    assert init["mode"] == "offline" and init["id"] == run_id and init["config"] == {"algo": "ppo"}
    assert calls[1] == ("log", 2**40, {"seed_0/episode_return": 1.5})  # NaN (not measured) is left out

    calls.clear()
    resumed = loggers.WandbLogger(tmp_path, {"algo": "ppo"}, resume_step=2**40)
    resumed.log(rows)  # already logged before the resume point: skipped
    resumed.log([{**rows[0], "step": 2**40 + 1}])
    assert calls[0][1]["id"] == run_id and calls[0][1]["resume"] == "allow"
    assert [c[1] for c in calls if c[0] == "log"] == [2**40 + 1]


def test_real_wandb_offline_run_records_the_metrics(tmp_path, monkeypatch):
    """With the optional wandb extra installed: a real offline run directory with our metrics."""
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.chdir(tmp_path)
    result = jaxrl.train("ppo", "CartPole-v1", total_timesteps=2048, config={"num_envs": 8, "num_steps": 16, "num_logs": 2},
                         out=tmp_path, name="run", progress=False, loggers=["wandb"])
    runs = list((tmp_path / "run").rglob("run-*.wandb"))
    assert len(runs) == 1, list((tmp_path / "run").rglob("*"))
    data = runs[0].read_bytes()
    assert b"seed_0/episode_return" in data and result.summary["total_timesteps"] == 2048
