"""`jaxrl plot`: learning curves redrawn from run directories' metrics.csv alone.

Each run is one line: the mean over its seeds (members) of a metric column at each logged step,
with the range over seeds shaded; a single-seed run is its one curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxrl import rundir


def read_run_metrics(run_dir: str | Path) -> list[dict]:
    """The rows of `run_dir/metrics.csv` (ValueError with a clear message when there are none)."""
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        raise ValueError(f"{str(run_dir)!r} has no metrics.csv: give a run directory written by jaxrl train "
                         "(or a sweep's groups/group-NN directory).")
    rows = rundir.read_metrics(path)
    if not rows:
        raise ValueError(f"{str(path)!r} has no rows yet (the run has not finished its first chunk).")
    return rows


def curve(rows: list[dict], metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`(steps, mean, low, high)` `[points]` of `metric` over the seeds at each logged step (NaN skipped)."""
    by_step: dict[int, list[float]] = {}
    for row in rows:
        value = row.get(metric, math.nan)
        if not math.isnan(value):
            by_step.setdefault(row["step"], []).append(value)
    steps = np.asarray(sorted(by_step), np.int64)
    values = [np.asarray(by_step[s]) for s in steps]
    return (steps, np.asarray([v.mean() for v in values]), np.asarray([v.min() for v in values]),
            np.asarray([v.max() for v in values]))


def plot_runs(run_dirs: Sequence[str | Path], metric: str = "eval_return", out: str | Path | None = None,
              labels: Sequence[str] | None = None) -> Path:
    """Draw `metric` vs environment steps for every run into `out` (default: RUN/METRIC.png for one run,
    ./METRIC.png for several). Returns the path written."""
    if not run_dirs:
        raise ValueError("plot needs at least one run directory (RUN_DIR ...).")
    runs = [read_run_metrics(d) for d in run_dirs]
    columns = sorted(set.union(*(set(rows[0]) for rows in runs)) - {"step", "seed", "member"})
    if metric not in columns:
        raise ValueError(f"No metric column {metric!r} in these runs' metrics.csv; columns: {', '.join(columns)}.")
    labels = list(labels) if labels else [Path(d).name for d in run_dirs]
    fig, ax = rundir.new_figure(figsize=(6.5, 4))
    for rows, label in zip(runs, labels):
        steps, mean, low, high = curve(rows, metric)
        if len(steps):
            (line,) = ax.plot(steps, mean, lw=1.8, label=label)
            ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2, lw=0)
    path = Path(out) if out is not None else (Path(run_dirs[0]) if len(runs) == 1 else Path(".")) / f"{metric}.png"
    rundir.save_plot(fig, ax, path, "environment steps (per seed)", metric.replace("_", " "),
                     "mean over seeds (shaded: min to max)")
    return path
