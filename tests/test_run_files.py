"""Run directories that cannot be written or read: an unwritable or full disk, an existing run, a
corrupt config.json / metrics.csv / checkpoint, a run of an incompatible jaxrl. Each is one clear
paragraph (exit 2 for mistakes, 1 for a disk problem) and leaves the earlier results as they were."""

import json
import os
import shutil
from pathlib import Path

import pytest

import jaxrl
from jaxrl import cli, rundir

SETTINGS = dict(num_envs=4, num_steps=16, update_epochs=1, num_minibatches=1, hidden_sizes=(8,), num_logs=2,
                eval_episodes=2, checkpoint_every=1)
TINY = ["--total-timesteps", "128", "--set", *(f"{k}={v}".replace(" ", "") for k, v in SETTINGS.items()),
        "--no-progress"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished")
    jaxrl.train("ppo", "CartPole-v1", total_timesteps=128, config=SETTINGS, out=out, name="run", progress=False,
                use_tuned=False)
    return out / "run"


def _copy(finished, tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    return run


def _snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file() and p.name != ".lock"}


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("jaxrl: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_an_output_folder_that_is_a_file_is_refused_before_compiling(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    assert cli.main(["train", "ppo", "--out", str(tmp_path / "file"), "--name", "run", *TINY]) == 2
    err = _error(capsys)
    assert f"Cannot write the run directory '{tmp_path / 'file' / 'run'}'" in err
    assert "a part of the path is a file, not a folder" in err and "--out" in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write any folder")
def test_an_unwritable_output_folder_is_refused_before_compiling(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert cli.main(["train", "ppo", "--out", str(locked), "--name", "run", *TINY]) == 2
    finally:
        locked.chmod(0o700)
    assert "permission denied" in _error(capsys)


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ""])
def test_a_run_name_must_be_a_plain_folder_name(name, tmp_path, capsys):
    assert cli.main(["train", "ppo", "--out", str(tmp_path / "out"), "--name", name, *TINY]) == 2
    assert f"Run name {name!r} is not a plain folder name" in _error(capsys)
    assert not any(tmp_path.iterdir())


def test_overwrite_moves_the_old_run_aside_and_never_deletes_it(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    before = _snapshot(run)
    assert cli.main(["train", "ppo", "--out", str(tmp_path), "--name", "run", *TINY]) == 2
    assert "--overwrite" in _error(capsys) and _snapshot(run) == before
    assert cli.main(["train", "ppo", "--out", str(tmp_path), "--name", "run", "--overwrite", *TINY]) == 0
    (aside,) = tmp_path.glob("run.old-*")
    assert _snapshot(aside) == before  # the old run, byte for byte
    assert json.loads((run / "summary.json").read_text())["run_dir"] == str(run)
    assert cli.main(["train", "--resume", str(run), "--overwrite"]) == 2
    assert "drop --overwrite" in _error(capsys)


def test_a_full_disk_while_writing_config_json_names_the_problem(tmp_path, monkeypatch, capsys):
    def full(self, *args, **kwargs):
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", full)
    assert cli.main(["train", "ppo", "--out", str(tmp_path), "--name", "run", *TINY]) == 1
    err = _error(capsys)
    assert "the disk is full (No space left on device: " in err and "no checkpoint had been written yet" in err
    assert not (tmp_path / "run" / "config.json.tmp").exists()


def test_corrupt_config_json_is_reported_and_nothing_is_touched(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    (run / "config.json").write_text('{"algo": "ppo", "env": ')
    before = _snapshot(run)
    for command in (["train", "--resume", str(run)], ["eval", str(run)]):
        assert cli.main(command) == 2
        assert f"'{run / 'config.json'}' is corrupt (not valid JSON" in _error(capsys)
    (run / "config.json").write_text('["not", "a", "config"]')
    assert cli.main(["eval", str(run)]) == 2
    assert "is not a jaxrl run config" in _error(capsys)
    assert _snapshot(run) == {**before, "config.json": b'["not", "a", "config"]'}


def test_a_run_of_an_incompatible_jaxrl_is_refused(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    config = json.loads((run / "config.json").read_text())
    assert config["format"] == rundir.RUN_FORMAT
    (run / "config.json").write_text(json.dumps({**config, "format": 99, "versions": {"jaxrl": "9.0"}}))
    before = _snapshot(run)
    assert cli.main(["train", "--resume", str(run)]) == 2
    assert (f"'{run}' was written by jaxrl 9.0 in run-directory format 99; this jaxrl "
            f"({rundir.versions()['jaxrl']}) reads format 1 only") in _error(capsys)
    newer = {**config, "hparams": {**config["hparams"], "warp_factor": 9}, "versions": {"jaxrl": "9.0"}}
    (run / "config.json").write_text(json.dumps(newer))
    assert cli.main(["eval", str(run)]) == 2
    err = _error(capsys)
    assert "cannot read the saved config (written by jaxrl 9.0" in err and "Unknown setting 'warp_factor'" in err
    assert {k: v for k, v in _snapshot(run).items() if k != "config.json"} == {
        k: v for k, v in before.items() if k != "config.json"}


def test_corrupt_metrics_csv_stops_resume_and_plot_without_changes(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    (run / "summary.json").unlink()  # an unfinished run
    lines = (run / "metrics.csv").read_text().splitlines(keepends=True)
    lines[1] = "garbage," + lines[1]
    (run / "metrics.csv").write_text("".join(lines))
    before = _snapshot(run)
    assert cli.main(["train", "--resume", str(run)]) == 2
    assert f"'{run / 'metrics.csv'}' is corrupt at line 2" in _error(capsys)
    assert cli.main(["plot", str(run)]) == 2
    assert "is corrupt at line 2" in _error(capsys)
    assert _snapshot(run) == before  # no checkpoint set aside, no row dropped


def test_corrupt_checkpoint_is_named_by_eval(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    for step in (run / "checkpoints").iterdir():
        (step / "files.json").write_text("{")
    with pytest.warns(UserWarning, match="Skipping unusable checkpoint .* its file list files.json is missing"):
        assert cli.main(["eval", str(run)]) == 2
    err = _error(capsys)
    assert f"No usable checkpoint in '{run / 'checkpoints'}'" in err
    last = max(int(p.name) for p in (run / "checkpoints").iterdir())
    assert cli.main(["eval", str(run), "--step", str(last)]) == 2
    assert "is unusable: its file list files.json is missing or unreadable" in _error(capsys)
