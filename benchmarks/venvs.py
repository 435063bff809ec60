"""Peer virtual environments: one per peer under benchmarks/.peers/<name>/, pinned, isolated.

Each peer's exact versions are in `peers/requirements/<name>.txt` (a `pip freeze` of a working
install). The venv is created on first use with the same Python as ours, and re-created when its
requirements file changes (a hash is kept in `.peers/<name>/requirements.sha256`). Peers never
import jaxrl and jaxrl never imports them: they are driven by `peers/*.py` scripts run with the
peer's own python, which print JSON on stdout.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

from benchmarks.timing import last_json, run_process

HERE = Path(__file__).resolve().parent
PEERS_DIR = HERE / ".peers"
SCRIPTS_DIR = HERE / "peers"

# Installed before the requirements file, so pip never picks a heavier build on its own (for SB3:
# the CPU build of torch, which this machine has as a local wheel, rather than the CUDA one).
FIRST = {"sb3": ["torch==2.13.0"]}


def requirements_file(name: str) -> Path:
    return SCRIPTS_DIR / "requirements" / f"{name}.txt"


def python(name: str) -> Path:
    return PEERS_DIR / name / "bin" / "python"


# `--peer-python PATH`: run every peer script with this interpreter instead of its venv (for a machine
# with no package index, e.g. a GPU machine whose own jax and the peers' packages are installed there).
OVERRIDE: Path | None = None


def ensure(name: str, log=print) -> Path:
    """Create (or re-create, if its pins changed) the venv of peer `name`; returns its python."""
    if OVERRIDE is not None:
        return OVERRIDE
    reqs = requirements_file(name)
    digest = hashlib.sha256(reqs.read_bytes() + json.dumps(FIRST.get(name, [])).encode()).hexdigest()
    root = PEERS_DIR / name
    stamp = root / "requirements.sha256"
    if stamp.exists() and stamp.read_text().strip() == digest and python(name).exists():
        return python(name)
    log(f"  creating peer venv {root} from {reqs.relative_to(HERE.parent)} (a few minutes, once)")
    shutil.rmtree(root, ignore_errors=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    pip = [str(python(name)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if FIRST.get(name):
        _check_call([*pip, *FIRST[name]], root / "install.log")
    _check_call([*pip, "-r", str(reqs)], root / "install.log")
    stamp.write_text(digest + "\n")
    return python(name)


def _check_call(cmd: list[str], log_file: Path) -> None:
    with open(log_file, "a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {result.returncode}); see {log_file}")


def run_script(name: str, script: str, args: list[str], timeout: float = 1800, env=None) -> dict:
    """Run `peers/<script>` with peer `name`'s python in a fresh process; returns its last JSON line
    plus `process_s` and `peak_rss_mib` (see timing.run_process)."""
    stdout, stats = run_process([str(ensure(name)), str(SCRIPTS_DIR / script), *args], env=env, timeout=timeout)
    return {**last_json(stdout), **stats}


class PeerProcess:
    """A long-lived peer script that answers one JSON request line with one JSON result line
    (so repeated measurements do not pay the peer's start-up each time)."""

    def __init__(self, name: str, script: str):
        self.cmd = [str(ensure(name)), str(SCRIPTS_DIR / script)]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> PeerProcess:
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        return self

    def request(self, **params) -> dict:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(params) + "\n")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{' '.join(self.cmd)} exited (code {self.proc.wait()}) on {params}")
        return json.loads(line)

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def installed_versions(name: str, packages: list[str]) -> dict[str, str]:
    """Versions of `packages` in peer `name`'s venv (from its requirements pins, or asked of the
    `--peer-python` interpreter)."""
    if OVERRIDE is not None:
        code = ("import json, importlib.metadata as m\n"
                "def v(p):\n try: return m.version(p)\n except Exception: return '?'\n"
                f"print(json.dumps({{p: v(p) for p in {packages!r}}}))")
        out = subprocess.run([str(OVERRIDE), "-c", code], capture_output=True, text=True, check=True).stdout
        return json.loads(out)
    pins = {}
    for line in requirements_file(name).read_text().splitlines():
        pkg, sep, ver = line.partition("==")
        if sep:
            pins[pkg.strip().lower().replace("_", "-")] = ver.strip()
    return {p: pins.get(p.lower().replace("_", "-"), "?") for p in packages}


if __name__ == "__main__":  # python -m benchmarks.venvs [NAME ...]: create the peer venvs now
    for peer in sys.argv[1:] or ["envpool", "rejax", "sb3", "purejaxrl"]:
        print(peer, ensure(peer))
