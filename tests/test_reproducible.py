"""Same command, same device layout: bit-identical results across fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_SCRIPT = Path(sys.executable).parent / "jaxrl"
RUN = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "jaxrl"]


def _train(out: Path, name: str, cache: str) -> dict:
    env = {**os.environ, "JAXRL_COMPILATION_CACHE": cache}
    proc = subprocess.run([*RUN, "train", "sac", "--env", "Pendulum-v1", "--seeds", "2", "--total-timesteps", "256",
                           "--set", "num_envs=2", "learning_starts=64", "buffer_size=256", "batch_size=16",
                           "hidden_sizes=16,16", "num_logs=2", "eval_episodes=2",
                           "--out", str(out), "--name", name, "--no-progress"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / name / "summary.json").read_text())


def test_two_fresh_processes_give_identical_params_and_returns(tmp_path):
    """The first process compiles (into an empty XLA cache); the second loads its programs from
    that cache: both give the same bits (params, eval returns, every logged metric)."""
    cache = str(tmp_path / "xla")
    first, second = _train(tmp_path, "a", cache), _train(tmp_path, "b", cache)
    assert first["num_devices"] == second["num_devices"]
    assert second["params_sha256"] == first["params_sha256"]
    assert second["final_eval_return"] == first["final_eval_return"]
    assert (tmp_path / "a" / "metrics.csv").read_text() == (tmp_path / "b" / "metrics.csv").read_text()
