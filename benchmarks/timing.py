"""Small helpers shared by the benchmarks: child processes, alternating repetitions and medians."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# jaxrl children run with no persistent XLA cache, so every compile they time is cold.
COLD = {**os.environ, "JAXRL_COMPILATION_CACHE": ""}
ROOT = Path(__file__).resolve().parent.parent


def run_process(cmd: list[str], env: dict[str, str] | None = None, cwd=None,
                timeout: float | None = None) -> tuple[str, dict[str, float]]:
    """Run `cmd` to the end; returns its stdout and {"process_s": wall time, "peak_rss_mib": its peak
    resident memory}. The child is reaped with `os.wait4`, whose `ru_maxrss` (KiB on Linux) is that
    child's own peak; stdout and stderr go to temporary files, so no pipe needs draining meanwhile.
    Raises RuntimeError (with stderr's tail) on a non-zero exit, subprocess.TimeoutExpired after
    `timeout` seconds (the child is killed)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, cwd=cwd)
        # os.kill, not proc.kill: Popen's kill polls first, which could reap the child before wait4 does.
        # Until wait4 reaps it, the child's pid cannot be reused, so the kill cannot hit another process.
        timer = threading.Timer(timeout, os.kill, (proc.pid, signal.SIGKILL)) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: do not leave the child running
            proc.kill()
            proc.wait()
            raise
        finally:
            if timer:
                timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        stats = {"process_s": time.perf_counter() - t0, "peak_rss_mib": usage.ru_maxrss / 1024}
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if timeout and proc.returncode == -signal.SIGKILL and stats["process_s"] >= timeout:  # the timer's kill
        raise subprocess.TimeoutExpired(cmd, timeout, stdout, stderr)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    return stdout, stats


def last_json(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def run_child(module: str, args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """`python -m MODULE ARGS` in a fresh process (cold cache, extra `env`); returns its last JSON
    line plus `process_s` (the whole process's wall time) and `peak_rss_mib`."""
    stdout, stats = run_process([sys.executable, "-m", module, *args], env={**COLD, **(env or {})}, cwd=ROOT)
    return {**last_json(stdout), **stats}


def train_timings(summary: dict[str, Any]) -> dict[str, Any]:
    """The timings and return a benchmark reports from a jaxrl run's summary ("run" includes the
    final evaluation, as the peers' does)."""
    s = summary
    return {"compile_s": s["compile_s"], "run_s": s["train_s"] + s["eval_s"], "train_s": s["train_s"],
            "steps_per_s": s["steps_per_s"], "final_eval_return_mean": s["final_eval_return_mean"],
            "num_compiles": s["num_compiles"], "wall_s": s["wall_s"]}


def alternate(runners: dict[str, Callable[[], dict[str, Any]]], reps: int, log=print) -> dict[str, list[dict]]:
    """Run every runner once per repetition, in turn (order reversed on odd repetitions, so neither
    side always runs first on a noisy machine). Returns the list of result dicts per runner."""
    results: dict[str, list[dict]] = {name: [] for name in runners}
    names = list(runners)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            result = runners[name]()
            results[name].append(result)
            log(f"    rep {rep + 1}/{reps} {name}: {short(result)}")
    return results


def median(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


COMPARED = ("compile_s", "run_s", "steps_per_s", "final_eval_return_mean", "peak_rss_mib")


def vs_rejax(res: dict[str, list[dict]]) -> dict[str, float | None]:
    """Medians of jaxrl's and rejax's repetitions (`jaxrl_compile_s`, ...) and their compile and run ratios."""
    row = {f"{side}_{key}": median(res[side], key) for side in ("jaxrl", "rejax") for key in COMPARED}
    row["compile_ratio"] = ratio(row["jaxrl_compile_s"], row["rejax_compile_s"])
    row["run_ratio"] = ratio(row["jaxrl_run_s"], row["rejax_run_s"])
    return row


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def short(result: dict[str, Any]) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in result.items() if not isinstance(v, (list, dict)))
