"""Sweeps: expansion, one program per static group, member parity with single runs, CLI, splitting."""

from __future__ import annotations

import csv
import json
import math
import shutil

import jax
import numpy as np
import pytest

import jaxrl
from jaxrl.population import sharding
from jaxrl.cli import main
from jaxrl.config import ConfigError
from jaxrl.sweeps import Range, expand, format_ranking, sweep

# Small PPO runs; num_steps=24 keeps these programs apart from other tests' cached ones.
BASE = {"num_envs": 4, "num_steps": 24, "num_minibatches": 2, "update_epochs": 2, "num_logs": 2,
        "eval_episodes": 16}
STEPS = 4 * 24 * 6


def test_expand_crosses_grid_random_samples_and_seeds():
    members = expand({"learning_rate": [1e-3, 3e-3], "num_envs": [4, 8]}, 3,
                     {"ent_coef": Range(1e-4, 1e-1, log=True)}, seeds=[5, 6])
    assert len(members) == 2 * 2 * 3 * 2
    assert [m.index for m in members] == list(range(len(members)))
    assert {m.seed for m in members} == {5, 6}
    assert len({m.config_id for m in members}) == 12
    ent = np.array([m.settings["ent_coef"] for m in members])
    assert ent.min() >= 1e-4 and ent.max() <= 1e-1
    # The same draws for every grid point, and reproducible from sample_seed.
    again = expand({"learning_rate": [1e-3, 3e-3], "num_envs": [4, 8]}, 3,
                   {"ent_coef": Range(1e-4, 1e-1, log=True)}, seeds=[5, 6])
    assert [m.settings for m in again] == [m.settings for m in members]


def test_log_range_is_log_uniform():
    rng = np.random.default_rng(0)
    draws = np.log10([Range(1e-4, 1e-0, log=True).sample(rng) for _ in range(4000)])
    assert np.histogram(draws, bins=4, range=(-4, 0))[0].min() > 850  # ~1000 per decade


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(grid={"learning_rate": []}), "non-empty list"),
        (dict(grid={"learning_rate": [1e-3]}, random=2, ranges={"learning_rate": "1e-4:1e-2"}), "both a grid key"),
        (dict(random=3), "need ranges"),
        (dict(random=1, ranges={"ent_coef": "0.1:0.01"}), "low < high"),
        (dict(random=1, ranges={"ent_coef": "0:1:exp"}), "LO:HI or LO:HI:log"),
        (dict(grid={"learning_rte": [1e-3]}), "Did you mean learning_rate"),
        (dict(grid={"learning_rate": [-1.0]}), "learning_rate"),
        (dict(grid={"learning_rate": [1e-3]}, max_members=0), "max_members"),
    ],
)
def test_bad_sweeps_fail_before_compiling(kwargs, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        sweep("ppo", "CartPole-v1", out=tmp_path, progress=False, config=BASE, total_timesteps=STEPS, **kwargs)
    assert not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweeps")
    # jaxrl.sweep (the function) stays reachable after `import jaxrl.sweeps` (the module) above.
    return jaxrl.sweep("ppo", "CartPole-v1", grid={"learning_rate": [1e-3, 3e-3], "num_envs": [4, 8]}, seeds=[0, 1],
                 config=BASE, total_timesteps=STEPS, out=out, name="grid", progress=False)


def test_one_compiled_program_per_static_group(grid_sweep):
    s = grid_sweep.summary
    assert (s["num_members"], s["num_configs"], s["num_groups"]) == (8, 4, 2)
    assert s["num_compiles"] == 2
    path = grid_sweep.sweep_dir
    for name in ("sweep.json", "sweep.csv", "summary.json", "sweep.png"):
        assert (path / name).is_file(), name
    assert sorted(p.name for p in (path / "groups").iterdir()) == ["group-00", "group-01"]
    with open(path / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8
    assert {(float(r["learning_rate"]), int(r["num_envs"]), int(r["seed"])) for r in rows} == {
        (lr, n, seed) for lr in (1e-3, 3e-3) for n in (4, 8) for seed in (0, 1)
    }
    for row in rows:
        assert math.isfinite(float(row["final_eval_return"])) and float(row["steps_per_s"]) > 0
    summary = json.loads((path / "summary.json").read_text())
    assert summary["num_compiles"] == 2 and len(summary["ranking"]) == 4
    means = [r["mean"] for r in summary["ranking"]]
    assert means == sorted(means, reverse=True)
    assert "rank" in format_ranking(grid_sweep.ranking).splitlines()[0]


def test_group_run_directory_records_each_members_settings(grid_sweep):
    group = grid_sweep.sweep_dir / "groups" / "group-00"
    config = json.loads((group / "config.json").read_text())
    assert [m["learning_rate"] for m in config["member_hparams"]] == [1e-3, 1e-3, 3e-3, 3e-3]
    assert config["seeds"] == [0, 1, 0, 1]
    with open(group / "metrics.csv") as f:
        header = next(csv.reader(f))
    assert header[:3] == ["step", "member", "seed"]
    # The policy of a sweep member loads like any run's (here member 2: lr 3e-3, seed 0).
    act = jaxrl.load_policy(group, seed_index=2)
    assert act(np.zeros(4, np.float32)).shape == ()


def test_sweep_member_equals_the_same_run_trained_alone(grid_sweep):
    run = next(r for r in grid_sweep.runs if r.config.config.num_envs == 8)
    alone = jaxrl.train("ppo", "CartPole-v1", seeds=[1], total_timesteps=STEPS, out=None, progress=False,
                        config={**BASE, "num_envs": 8, "learning_rate": 3e-3})
    member = 3  # learning_rate 3e-3, seed 1
    assert run.config.seeds[member] == 1 and run.config.members[member].learning_rate == 3e-3
    for x, y in zip(jax.tree.leaves(run.state.policy), jax.tree.leaves(alone.state.policy)):
        # Equal up to float rounding of batched kernels (as vmapped seeds are).
        # (GPU kernels round batched and unbatched sums differently: 3.3e-5 seen on an H100)
        tol = dict(rtol=2e-4, atol=2e-5) if jax.default_backend() == "cpu" else dict(rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(np.asarray(x)[member], np.asarray(y)[0], **tol)


def test_max_members_splits_a_group_into_equal_parts_one_compile(tmp_path):
    result = sweep("ppo", "CartPole-v1", grid={"learning_rate": [1e-3, 2e-3, 3e-3, 4e-3, 5e-3]}, seeds=1,
                   config={**BASE, "num_steps": 20}, total_timesteps=4 * 20 * 4, out=tmp_path, name="split",
                   max_members=2, progress=False)
    parts = sorted(p.name for p in (tmp_path / "split" / "groups").iterdir())
    assert parts == ["group-00-part-0", "group-00-part-1", "group-00-part-2"]
    assert result.summary["num_compiles"] == 1  # the last part (1 member) is padded to 2
    assert len(result.rows) == 5
    last = json.loads((tmp_path / "split" / "groups" / "group-00-part-2" / "summary.json").read_text())
    assert len(last["final_eval_return"]) == 1 and len(last["params_sha256"]) == 1


def test_population_larger_than_memory_is_split_automatically(tmp_path, monkeypatch):
    monkeypatch.setattr(sharding, "memory_budget", lambda: 1)  # nothing fits: one member per device
    devices = sharding.num_devices()
    with pytest.warns(UserWarning, match=f"training them {devices} at a time"):
        result = sweep("ppo", "CartPole-v1", grid={"learning_rate": [1e-3 * (i + 1) for i in range(2 * devices)]},
                       seeds=1, config={**BASE, "num_steps": 28}, total_timesteps=4 * 28 * 2, out=tmp_path,
                       name="mem", progress=False)
    assert sorted(p.name for p in (tmp_path / "mem" / "groups").iterdir()) == ["group-00-part-0", "group-00-part-1"]
    assert len(result.rows) == 2 * devices


def test_cli_sweep_prints_ranking_and_writes_sweep_directory(tmp_path, capsys):
    code = main(["sweep", "ppo", "--grid", "learning_rate=1e-3,3e-3", "--seeds", "2",
                 "--total-timesteps", str(STEPS), "--out", str(tmp_path), "--name", "cli", "--no-progress",
                 "--set", *[f"{k}={v}" for k, v in BASE.items()]])
    printed = capsys.readouterr().out
    assert code == 0
    assert "4 members (2 configurations x seeds) in 1 static group(s), 1 compile(s)" in printed \
        or "4 members (2 configurations x seeds) in 1 static group(s), 0 compile(s)" in printed
    assert "rank" in printed and str(tmp_path / "cli") in printed
    assert (tmp_path / "cli" / "sweep.csv").is_file()


def test_cli_sweep_bad_range_is_one_line(tmp_path, capsys):
    code = main(["sweep", "ppo", "--random", "2", "--range", "learning_rate=1e-4..1e-2", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("jaxrl: error: --range learning_rate") and "Traceback" not in err


def test_resumed_sweep_reproduces_the_uninterrupted_one(tmp_path):
    config = {**BASE, "num_steps": 12, "num_logs": 4, "checkpoint_every": 2}
    steps = 4 * 12 * 8
    first = sweep("ppo", "CartPole-v1", grid={"learning_rate": [1e-3, 3e-3], "num_envs": [4, 8]}, seeds=1,
                  config=config, total_timesteps=steps, out=tmp_path, name="s", progress=False)
    path = tmp_path / "s"
    # Interrupt: group-00 lost its final checkpoint and summary (it resumes from its mid-run
    # checkpoint); group-01 never started; the sweep's own outputs were never written.
    group = path / "groups" / "group-00"
    final = max(int(p.name) for p in (group / "checkpoints").iterdir())
    shutil.rmtree(group / "checkpoints" / str(final))
    (group / "summary.json").unlink()
    shutil.rmtree(path / "groups" / "group-01")
    for name in ("sweep.csv", "summary.json", "sweep.png"):
        (path / name).unlink()
    code = main(["sweep", "--resume", str(path), "--no-progress"])
    assert code == 0
    with open(path / "sweep.csv") as f:
        resumed = {r["member"]: r["params_sha256"] for r in csv.DictReader(f)}
    assert resumed == {str(r["member"]): r["params_sha256"] for r in first.rows}
    assert json.loads((group / "summary.json").read_text())["resumed_from_step"] == final // 2


def test_a_run_directory_in_use_cannot_be_resumed_twice(tmp_path):
    from jaxrl import rundir

    jaxrl.train("ppo", "CartPole-v1", total_timesteps=STEPS, config=BASE, out=tmp_path, name="r", progress=False)
    with rundir.exclusive(tmp_path / "r"), pytest.raises(rundir.RunInUseError, match="in use by another"):
        # flock is per open file description: a second open in this process conflicts like another process would.
        jaxrl.resume(tmp_path / "r", progress=False)


def test_sweep_killed_with_sigkill_then_resumed_equals_uninterrupted(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    config = {**BASE, "num_steps": 12, "num_logs": 8, "checkpoint_every": 2}
    grid = {"learning_rate": ["1e-3", "3e-3"], "num_envs": ["4", "8"]}
    steps = 8 * 12 * 8
    reference = sweep("ppo", "CartPole-v1", grid=grid, seeds=1, config=config, total_timesteps=steps,
                      out=tmp_path, name="reference", progress=False)
    cli = [sys.executable, "-m", "jaxrl"]
    args = ["sweep", "ppo", "--grid", *[f"{k}={','.join(v)}" for k, v in grid.items()], "--seeds", "1",
            "--total-timesteps", str(steps), "--set", *[f"{k}={v}" for k, v in config.items()],
            "--out", str(tmp_path), "--name", "killed", "--no-progress"]
    proc = subprocess.Popen([*cli, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checkpoints = tmp_path / "killed" / "groups" / "group-00" / "checkpoints"
    deadline = time.monotonic() + 300
    while not (checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir())):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "sweep.csv").exists()  # killed mid-sweep
    resumed = subprocess.run([*cli, "sweep", "--resume", str(tmp_path / "killed"), "--no-progress"],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    with open(tmp_path / "killed" / "sweep.csv") as f:
        rows = {r["member"]: r["params_sha256"] for r in csv.DictReader(f)}
    assert rows == {str(r["member"]): r["params_sha256"] for r in reference.rows}
    for group in ("group-00", "group-01"):  # no duplicated and no missing metrics rows
        killed = (tmp_path / "killed" / "groups" / group / "metrics.csv").read_text()
        assert killed == (tmp_path / "reference" / "groups" / group / "metrics.csv").read_text()
