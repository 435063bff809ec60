"""Small helpers shared by the benchmarks: alternating repetitions and medians."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# jaxrl children run with no persistent XLA cache, so every compile they time is cold.
COLD = {**os.environ, "JAXRL_COMPILATION_CACHE": ""}
ROOT = Path(__file__).resolve().parent.parent


def run_child(module: str, args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """`python -m MODULE ARGS` in a fresh process (cold cache, extra `env`); returns its last JSON
    line plus `process_s`, the whole process's wall time."""
    cmd = [sys.executable, "-m", module, *args]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env={**COLD, **(env or {})}, cwd=ROOT, check=False)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "process_s": time.perf_counter() - t0}


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


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def short(result: dict[str, Any]) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in result.items() if not isinstance(v, (list, dict)))
