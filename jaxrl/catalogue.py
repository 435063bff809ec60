"""Finished runs read back from their directories: one record per member (seed), and the catalogue
of a folder of runs and sweeps (`jaxrl runs`).

Everything comes from the run directory alone: config.json (settings, versions, git commit),
summary.json (final evaluation per member, timings) and metrics.csv (curves).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl import rundir, stats


@dataclasses.dataclass(frozen=True)
class MemberResult:
    """One member (seed) of a finished run: its settings, final score and learning curve."""

    run_dir: Path
    algo: str
    env: str
    seed: int
    settings: dict[str, Any]  # static config, traced hparams and env.FIELD settings
    score: float  # final mean evaluation return
    curve: tuple[tuple[int, float], ...]  # (step, eval_return) at each logged evaluation


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories under `paths`: a run directory itself, a sweep's groups, or every run and
    sweep below a folder (sorted). ValueError when a path holds none."""
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise ValueError(f"{str(path)!r} does not exist.")
        runs = [path] if (path / "config.json").is_file() else sorted(
            p.parent for p in path.rglob("config.json") if not _inside_checkpoints(p))
        if not runs:
            raise ValueError(f"{str(path)!r} holds no jaxrl run directory (no config.json in it or below it).")
        found += [r for r in runs if r not in found]
    return found


def read_members(run_dir: str | Path) -> list[MemberResult]:
    """The members of a finished run (ValueError, naming what is missing, for an unfinished one)."""
    run_dir = Path(run_dir)
    config = rundir.read_config(run_dir)
    summary = read_summary(run_dir)
    if summary is None:
        raise ValueError(f"{str(run_dir)!r} has no summary.json: the run has not finished "
                         f"(`jaxrl train --resume {run_dir}` completes it).")
    rows = rundir.read_metrics(run_dir / "metrics.csv") if (run_dir / "metrics.csv").is_file() else []
    members = config.get("member_hparams") or [config["hparams"]] * len(config["seeds"])
    shared = {**config["config"], **{f"env.{k}": v for k, v in config.get("env_kwargs", {}).items()}}
    out = []
    for i, (seed, hparams) in enumerate(zip(config["seeds"], members)):
        mine = [r for r in rows if r.get("member", i) == i and r["seed"] == seed]
        curve = tuple((r["step"], r["eval_return"]) for r in mine if not math.isnan(r.get("eval_return", math.nan)))
        out.append(MemberResult(run_dir, config["algo"], config["env"], int(seed), {**shared, **hparams},
                                float(summary["final_eval_return"][i]), curve))
    return out


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """`run_dir/summary.json` (None when the run has not finished; ValueError when it is corrupt)."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
        if not isinstance(summary.get("final_eval_return"), list):
            raise ValueError("it has no final_eval_return list")
    except (ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise ValueError(f"{str(path)!r} is corrupt ({exc}); the run's final scores cannot be read from it "
                         "(its metrics.csv and checkpoints are untouched).") from None
    return summary


def catalogue(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """One row per run directory under `paths`: what ran, how it ended and how fast."""
    rows = []
    for run_dir in find_runs(paths):
        config = rundir.read_config(run_dir)
        summary = read_summary(run_dir) or {}
        iqm = _iqm_interval(summary.get("final_eval_return", []))
        versions = config.get("versions", {})
        rows.append({
            "run_dir": str(run_dir), "algo": config.get("algo"), "env": config.get("env"),
            "seeds": len(config.get("seeds", [])), "status": "finished" if summary else "unfinished",
            "iqm": iqm.point, "iqm_low": iqm.lower, "iqm_high": iqm.upper,
            "steps": summary.get("total_timesteps"), "steps_per_s": summary.get("steps_per_s"),
            "wall_s": summary.get("wall_s"), "date": _date(run_dir), "jaxrl": versions.get("jaxrl"),
            "jax": versions.get("jax"), "git_commit": (config.get("git_commit") or "")[:10] or None,
        })
    return rows


COLUMNS = (("run_dir", "<"), ("algo", "<"), ("env", "<"), ("seeds", ">"), ("final return IQM [95% CI]", ">"),
           ("steps/s", ">"), ("wall s", ">"), ("date", "<"), ("jaxrl", "<"), ("jax", "<"), ("commit", "<"))


def format_catalogue(rows: list[dict[str, Any]]) -> str:
    """The catalogue as an aligned text table."""
    cells = [[r["run_dir"], r["algo"], r["env"], str(r["seeds"]),
              "unfinished" if r["status"] != "finished" else
              f"{r['iqm']:.4g} [{r['iqm_low']:.4g}, {r['iqm_high']:.4g}]",
              f"{r['steps_per_s']:,.0f}" if r["steps_per_s"] else "-", f"{r['wall_s']:.1f}" if r["wall_s"] else "-",
              r["date"], r["jaxrl"] or "-", r["jax"] or "-", r["git_commit"] or "-"] for r in rows]
    widths = [max(len(name), *(len(str(c[i])) for c in cells)) for i, (name, _) in enumerate(COLUMNS)]
    line = lambda values: "  ".join(f"{str(v):{align}{w}}" for v, (_, align), w in zip(values, COLUMNS, widths))
    return "\n".join([line([name for name, _ in COLUMNS]), *map(line, cells)])


def write_csv(rows: list[dict[str, Any]], path: str | Path) -> None:
    """The catalogue rows as CSV (one column per field)."""
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _iqm_interval(scores: list[float]) -> stats.Interval:
    """IQM of a run's final returns over its seeds with a 95% bootstrap CI (NaN when unfinished)."""
    if not scores:
        return stats.Interval(math.nan, math.nan, math.nan)
    interval = stats.bootstrap_interval(np.asarray(scores, float)[:, None], stats.iqm, reps=2000)
    return stats.Interval(*(float(v) for v in interval))


def _date(run_dir: Path) -> str:
    import datetime

    stamp = (run_dir / "config.json").stat().st_mtime
    return datetime.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


def _inside_checkpoints(config_path: Path) -> bool:
    return "checkpoints" in config_path.parts
