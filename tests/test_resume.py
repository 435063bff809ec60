"""Resume: a run stopped at any point (SIGKILL, SIGINT/SIGTERM, a crash, a corrupt checkpoint) and
resumed ends bit-identical to the uninterrupted run: same params_sha256, same metrics.csv."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

import jaxrl
from jaxrl import checkpoint
from jaxrl.agents import list_agents
from jaxrl.interrupt import TrainingInterrupted

SEEDS = 2
TOTAL = 3072  # 24 updates of 8 envs x 16 steps: one update per logged point
SETTINGS = dict(num_envs=8, num_steps=16, update_epochs=2, num_minibatches=2, num_logs=24, eval_episodes=4,
                checkpoint_every=4, keep_checkpoints=2)
STEP = 128  # env steps per seed per logged point

_SCRIPT = Path(sys.executable).parent / "jaxrl"
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "jaxrl"]


def _train(out, name, loggers=(), **settings):
    # use_tuned=True (the default), like the CLI: tuned CartPole values fill what SETTINGS leaves out.
    return jaxrl.train("ppo", "CartPole-v1", seeds=SEEDS, total_timesteps=TOTAL, config={**SETTINGS, **settings},
                       out=out, name=name, progress=False, loggers=loggers)


def _cli_train(out, name, **settings):
    pairs = [f"{k}={v}" for k, v in {**SETTINGS, **settings}.items()]
    return [*CLI, "train", "ppo", "--env", "CartPole-v1", "--seeds", str(SEEDS), "--total-timesteps", str(TOTAL),
            "--set", *pairs, "--out", str(out), "--name", name, "--no-progress"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    result = _train(out, "run")
    return {"sha": result.summary["params_sha256"], "csv": (out / "run" / "metrics.csv").read_text(),
            "run": out / "run"}


def _assert_same_as(reference, run: Path, result=None):
    summary = json.loads((run / "summary.json").read_text())
    assert summary["params_sha256"] == reference["sha"]
    assert (run / "metrics.csv").read_text() == reference["csv"]  # no duplicated, no missing steps
    steps = [int(line.split(",")[0]) for line in reference["csv"].splitlines()[1:]]
    assert steps == [STEP * (i // SEEDS + 1) for i in range(24 * SEEDS)]
    if result is not None:
        assert result.summary["params_sha256"] == reference["sha"]


class _Trigger:
    """A logger that calls `action()` once the logged step reaches `step`."""

    def __init__(self, step, action):
        self.step, self.action = step, action

    def log(self, rows):
        if rows[0]["step"] == self.step:
            self.action()

    def close(self):
        pass


def test_sigint_in_process_saves_then_resume_is_identical(tmp_path, reference):
    assert threading.current_thread() is threading.main_thread()  # signal handlers need the main thread
    trigger = _Trigger(6 * STEP, lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt) as info:  # from Python: a KeyboardInterrupt after saving
        _train(tmp_path, "run", loggers=[trigger])
    assert isinstance(info.value, TrainingInterrupted) and info.value.signum == signal.SIGINT
    run = tmp_path / "run"
    assert f"jaxrl train --resume {run}" in str(info.value)
    assert checkpoint.list_steps(run / "checkpoints") == [4 * STEP, 6 * STEP]  # off-schedule save at the stop
    assert not (run / "summary.json").exists()
    result = jaxrl.resume(run, progress=False)
    assert result.summary["resumed_from_step"] == 6 * STEP
    _assert_same_as(reference, run, result)


def test_crash_with_half_written_row_resumes_without_duplicates(tmp_path, reference):
    def crash():
        raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        _train(tmp_path, "run", loggers=[_Trigger(11 * STEP, crash)])  # after the rows of point 11 were written
    run = tmp_path / "run"
    with open(run / "metrics.csv", "a") as f:
        f.write(f"{12 * STEP},0,21.5,21")  # a kill in the middle of a row
    assert checkpoint.list_steps(run / "checkpoints") == [4 * STEP, 8 * STEP]
    result = jaxrl.resume(run, progress=False)
    assert result.summary["resumed_from_step"] == 8 * STEP
    _assert_same_as(reference, run, result)


def test_corrupt_latest_checkpoint_is_skipped_with_a_warning(tmp_path, reference):
    run = tmp_path / "run"
    shutil.copytree(reference["run"], run)
    (run / "summary.json").unlink()
    final = run / "checkpoints" / str(24 * STEP)
    for data in (final / "state").rglob("*"):
        if data.is_file() and data.stat().st_size > 100:
            data.write_bytes(data.read_bytes()[:-7])
    with pytest.warns(UserWarning, match=rf"Skipping unusable checkpoint .*{24 * STEP}"):
        result = jaxrl.resume(run, progress=False)
    assert result.summary["resumed_from_step"] == 20 * STEP
    assert (run / "checkpoints" / f"{24 * STEP}.corrupt").is_dir()  # kept aside, not reused
    assert checkpoint.list_steps(run / "checkpoints") == [20 * STEP, 24 * STEP]
    _assert_same_as(reference, run, result)


def test_run_killed_before_any_checkpoint_restarts_from_the_beginning(tmp_path, reference):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(reference["run"] / "config.json", run / "config.json")
    with pytest.warns(UserWarning, match="No usable checkpoint"):
        result = jaxrl.resume(run, progress=False)
    assert result.summary["resumed_from_step"] is None
    _assert_same_as(reference, run, result)


def _wait_for(predicate, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"training exited early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for the training subprocess: {proc.communicate()}")
        time.sleep(0.005)


def test_sigkill_during_a_checkpoint_write_then_resume_is_identical(tmp_path, reference):
    run = tmp_path / "killed"
    proc = subprocess.Popen(_cli_train(tmp_path, "killed", checkpoint_every=1), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    ckpts = run / "checkpoints"
    _wait_for(lambda: checkpoint.list_steps(ckpts), proc)
    # Then kill in the middle of the next write if we catch one (else a moment later: any point will do).
    deadline = time.monotonic() + 1.0
    while not list(ckpts.glob(".staging-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.001)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "summary.json").exists()
    saved = checkpoint.list_steps(ckpts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an interrupted write, if caught, is reported and ignored
        result = jaxrl.resume(run, progress=False)
    assert result.summary["resumed_from_step"] == saved[-1]
    assert not list(ckpts.glob(".staging-*"))  # leftovers of the killed write are cleaned up
    _assert_same_as(reference, run, result)


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_cli_stops_cleanly_on_sigint_and_sigterm(signum, code, tmp_path, reference):
    run = tmp_path / "run"
    proc = subprocess.Popen(_cli_train(tmp_path, "run", checkpoint_every=0), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (run / "metrics.csv").exists(), proc)  # the loop is running
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert f"{signal.Signals(signum).name}: training stopped at step" in stderr
    assert f"Resume with: jaxrl train --resume {run}" in stderr and "Traceback" not in stderr
    steps = checkpoint.list_steps(run / "checkpoints")
    assert len(steps) == 1 and steps[0] < TOTAL  # checkpoint_every=0 saves only at the end, or at a stop
    assert not (run / "summary.json").exists()
    if signum == signal.SIGTERM:  # resume through the CLI once, in-process otherwise (faster)
        resumed = subprocess.run([*CLI, "train", "--resume", str(run), "--no-progress"], capture_output=True,
                                 text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr
        assert f"resumed from step {steps[0]:,}" in resumed.stdout
    else:
        assert jaxrl.resume(run, progress=False).summary["resumed_from_step"] == steps[0]
    _assert_same_as(reference, run)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.3, 0.6, 1.2, 2.5])
def test_sigkill_at_any_moment_then_resume_is_identical(delay, tmp_path, reference):
    run = tmp_path / "killed"
    proc = subprocess.Popen(_cli_train(tmp_path, "killed", checkpoint_every=1), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (run / "config.json").exists(), proc)
    time.sleep(delay)  # from right after startup (compiling) to late in the run
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = jaxrl.resume(run, progress=False)
    _assert_same_as(reference, run, result)


def _small_run(algo: str):
    """(env, settings, total_timesteps) of a short run of `algo`: 12 updates in 6 logged points."""
    from jaxrl.agents import get_agent
    from jaxrl.config import resolve
    from jaxrl.envs import make
    from jaxrl.population import build_agent

    fields = get_agent(algo).config_fields
    for env_name in ("CartPole-v1", "Pendulum-v1", "MPE_simple_spread_v3"):
        settings = {"num_logs": 6, "checkpoint_every": 2, "eval_episodes": 2}
        settings.update({k: v for k, v in {"buffer_size": 2048, "hidden_sizes": (32, 32)}.items() if k in fields})
        try:
            resolved = resolve(algo, env_name, settings)
            steps_per_update = build_agent(resolved, *make(env_name)).steps_per_update
        except ValueError:  # e.g. a continuous-action agent on CartPole
            continue
        if "learning_starts" in fields:
            settings["learning_starts"] = 2 * steps_per_update  # learning happens before the stop
        return env_name, settings, 12 * steps_per_update, 2 * steps_per_update
    raise AssertionError(f"{algo} builds on none of CartPole-v1, Pendulum-v1, MPE_simple_spread_v3")


def _assert_interrupted_run_resumes_identically(algo, tmp_path):
    env, settings, total, step_per_point = _small_run(algo)
    kwargs = dict(seeds=2, total_timesteps=total, config=settings, out=tmp_path, progress=False)
    reference = jaxrl.train(algo, env, name="reference", **kwargs)
    trigger = _Trigger(3 * step_per_point, lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(TrainingInterrupted):
        jaxrl.train(algo, env, name="stopped", loggers=[trigger], **kwargs)
    resumed = jaxrl.resume(tmp_path / "stopped", progress=False)
    assert resumed.summary["resumed_from_step"] == 3 * step_per_point
    assert resumed.summary["params_sha256"] == reference.summary["params_sha256"]
    assert (tmp_path / "stopped" / "metrics.csv").read_text() == (tmp_path / "reference" / "metrics.csv").read_text()


def test_dqn_stopped_and_resumed_equals_uninterrupted(tmp_path):
    assert threading.current_thread() is threading.main_thread()
    _assert_interrupted_run_resumes_identically("dqn", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("algo", [a for a in list_agents() if a not in ("ppo", "dqn")])
def test_every_agent_stopped_and_resumed_equals_uninterrupted(algo, tmp_path):
    _assert_interrupted_run_resumes_identically(algo, tmp_path)


INIT_REPEATEDLY = """
import sys, jax
from jaxrl import backend, population
from jaxrl.config import resolve
from jaxrl.envs import make
resolved = resolve("ppo", "CartPole-v1", {"num_envs": 8, "num_steps": 16}, seeds=2)
keys, hparams = population.member_inputs(resolved)
fns = population.build_agent(resolved, *make("CartPole-v1"))
init = jax.jit(backend.init_members(fns.init, 2)).lower(keys, hparams).compile({"xla_backend_optimization_level": 0})
for _ in range(int(sys.argv[1])):
    jax.block_until_ready(init(keys, hparams))
print("done")
"""


def test_multi_seed_init_program_never_deadlocks():
    # A vmapped orthogonal init (two batched LAPACK QRs at once) deadlocked XLA:CPU's 2-thread pool
    # within seconds of repeated runs; the host loop now initialises seeds one after another on CPU.
    proc = subprocess.run([sys.executable, "-c", INIT_REPEATEDLY, "2000"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "done" in proc.stdout, proc.stderr


def test_disk_full_during_a_checkpoint_keeps_the_previous_one_and_resume_continues(tmp_path, reference,
                                                                                   monkeypatch, capsys):
    from jaxrl import cli

    real_hashes, calls = checkpoint._file_hashes, []

    def full_disk_on_the_third_save(folder):
        calls.append(folder)
        if len(calls) == 3:  # orbax wrote the arrays; the disk fills before the checkpoint is committed
            raise OSError(28, "No space left on device", str(folder / checkpoint._FILES))
        return real_hashes(folder)

    monkeypatch.setattr(checkpoint, "_file_hashes", full_disk_on_the_third_save)
    run = tmp_path / "run"
    assert cli.main(_cli_train(tmp_path, "run")[len(CLI):]) == 1
    err = capsys.readouterr().err
    ckpts = run / "checkpoints"
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"Could not write checkpoint {12 * STEP} in '{ckpts}': the disk is full (No space left on device" in err
    assert f"the last good checkpoint is step {8 * STEP}, in '{ckpts / str(8 * STEP)}'" in err
    assert f"jaxrl train --resume {run}" in err
    assert checkpoint.list_steps(ckpts) == [4 * STEP, 8 * STEP]
    assert not list(ckpts.glob(".staging-*")) and not (run / "summary.json").exists()

    monkeypatch.setattr(checkpoint, "_file_hashes", real_hashes)  # space freed
    assert cli.main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert f"resumed from step {8 * STEP:,}" in capsys.readouterr().out
    _assert_same_as(reference, run)
