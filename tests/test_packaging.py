"""`envs/`, `agents/`, `experiments/` import as `jaxrl.*` from the repo root and after a real install."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = (
    "import jaxrl, jaxrl.envs, jaxrl.agents, jaxrl.experiments; "
    "from jaxrl.config import tuned_defaults; "
    "env, params = jaxrl.make('CartPole-v1'); "
    "assert tuned_defaults('ppo', 'CartPole-v1'), 'experiments/ppo.toml not found'; "
    "print(jaxrl.envs.__file__)"
)


def _python(code, cwd, env=None):
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


def test_imports_from_repository_root():
    proc = _python(PROBE, ROOT)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_non_editable_install_imports_from_unrelated_directory(tmp_path):
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stderr
    assert (target / "jaxrl" / "envs" / "cartpole.py").exists()
    assert (target / "jaxrl" / "experiments" / "ppo.toml").exists()
    assert (target / "jaxrl" / "experiments" / "objectives" / "lpo_cartpole.npz").exists()  # lpo's default
    assert (target / "jaxrl" / "meta" / "evolve.py").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = _python(PROBE, elsewhere, env)
    assert proc.returncode == 0, proc.stderr
    assert str(target) in proc.stdout  # the installed copy, not the checkout
