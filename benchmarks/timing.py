"""Small helpers shared by the benchmarks: alternating repetitions and medians."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any


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
