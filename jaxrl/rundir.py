"""The run directory: the contract between training and every later tool.

`OUT/NAME/` holds `config.json` (resolved config, logging backends, library versions, git commit),
`metrics.csv` (one row per logged point per seed), `summary.json`, `curve.png` and `checkpoints/`
(see `jaxrl.checkpoint`); `tensorboard/` when that logger is on.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import errno
import json
import math
import os
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# The first columns of metrics.csv, in this order; agent diagnostics follow alphabetically.
LEADING_COLUMNS = ("step", "seed", "episode_return", "episode_length", "eval_return")


class RunDirError(ValueError):
    """A run directory that cannot be created, read or continued (a user-facing mistake)."""


class StorageError(OSError):
    """Writing a run's files failed (disk full, permissions...); the message says what is kept."""


def create_run_dir(out: str | os.PathLike, name: str, overwrite: bool = False) -> Path:
    """Create `out/name`; never reuse a directory that already holds a run.

    With `overwrite`, an existing non-empty `out/name` is renamed to `name.old-TIMESTAMP` (kept,
    never deleted) and a fresh one is made. Raises `FileExistsError` without `overwrite`, and
    `RunDirError` for a bad name or an output folder that cannot be written.
    """
    if not name or name in (".", "..") or Path(name).name != name or "/" in name or "\\" in name:
        raise RunDirError(
            f"Run name {name!r} is not a plain folder name; give a name without '/' or '..' (e.g. "
            "ppo-cartpole), and choose the parent folder with --out."
        )
    path = Path(out) / name
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"Run directory {str(path)!r} already exists and is not empty; choose another --name or "
                "--out, continue it with --resume, or pass --overwrite (overwrite=True) to move it aside "
                "to NAME.old-TIMESTAMP (jaxrl never deletes earlier results)."
            )
        _move_aside(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunDirError(
            f"Cannot write the run directory {str(path)!r}: {storage_problem(exc)}. Choose an output "
            "folder you can write with --out (Python: out=)."
        ) from None
    return path


def _move_aside(path: Path) -> Path:
    """Rename `path` to `path.old-TIMESTAMP` (a counter is added if that exists too)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.old-{stamp}")
    count = 1
    while target.exists():
        count += 1
        target = path.with_name(f"{path.name}.old-{stamp}-{count}")
    path.rename(target)
    return target


def storage_problem(exc: OSError) -> str:
    """A short reason for a failed file operation that names the disk problem, e.g.
    "the disk is full (No space left on device: '/runs/x/metrics.csv')"."""
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the file system is read-only",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.ENOENT: "a part of the path does not exist",
    }
    detail = exc.strerror or type(exc).__name__
    if exc.filename:
        detail += f": {str(exc.filename)!r}"
    reason = reasons.get(exc.errno)
    return f"{reason} ({detail})" if reason else detail


class RunInUseError(RuntimeError):
    """Another process is training (or resuming) the same run directory."""


@contextlib.contextmanager
def exclusive(path: Path | None):
    """Hold `path/.lock` (an OS file lock, released even if the process is killed) while training,
    so two processes never write the same run directory; raises RunInUseError when it is taken."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        fcntl = None
    if path is None or fcntl is None:
        yield
        return
    with open(path / ".lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RunInUseError(
                f"Run directory {str(path)!r} is in use by another jaxrl process (training or resuming it); "
                "wait for it to finish or stop it (Ctrl-C saves a checkpoint) before resuming."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def default_run_name(algo: str, env: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = lambda name: name.replace(":", "_").replace("/", "_")
    return f"{safe(algo)}-{safe(env)}-{stamp}"


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for package in ("jaxrl", "jax", "jaxlib", "flax", "optax", "gymnax", "numpy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def git_commit() -> str | None:
    """The commit of the jaxrl source tree when it is a git checkout (None otherwise)."""
    here = Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk keeps the old file and no half-written one
        raise


class MetricsWriter:
    """Appends rows to `metrics.csv`; the header is fixed by the first call."""

    def __init__(self, path: Path, metric_names: Iterable[str]):
        self.path = path
        names = set(metric_names)
        member = ["member"] if "member" in names else []  # the member index in a sweep group
        self.columns = ["step", *member, *LEADING_COLUMNS[1:]] + sorted(names - set(LEADING_COLUMNS) - {"member"})
        new = not path.exists()
        self._file = open(path, "a", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns)
        if new:
            self._writer.writeheader()

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self._writer.writerow({k: _csv_value(row.get(k)) for k in self.columns})
        self._file.flush()

    def close(self) -> None:
        self._file.close()


RUN_FORMAT = 1
"""The format of config.json and the files beside it; a run directory of a newer format is refused."""


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The run directory's config.json; raises `RunDirError` naming the problem when it is absent,
    not valid JSON, not a jaxrl config, or written by a jaxrl whose run-directory format this one
    cannot read (config.json without "format" is format 1, from before the field was written)."""
    path = Path(run_dir) / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunDirError(f"{str(run_dir)!r} is not a jaxrl run directory (no config.json in it).") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{str(path)!r} is corrupt (not valid JSON: {exc}); the run cannot be read or "
                          "resumed from it.") from None
    except OSError as exc:
        raise RunDirError(f"Cannot read {str(path)!r}: {storage_problem(exc)}.") from None
    if not isinstance(data, dict) or not {"algo", "env", "config", "hparams", "seeds"} <= set(data):
        raise RunDirError(f"{str(path)!r} is not a jaxrl run config (it lacks algo, env, config, hparams or "
                          "seeds); was it written by jaxrl train?")
    written = data.get("format", 1)
    if written != RUN_FORMAT:
        by = (data.get("versions") or {}).get("jaxrl") if isinstance(data.get("versions"), dict) else None
        raise RunDirError(
            f"{str(run_dir)!r} was written by jaxrl {by or '(unknown version)'} in run-directory format "
            f"{written!r}; this jaxrl ({versions()['jaxrl']}) reads format {RUN_FORMAT} only. Use the jaxrl "
            "version that wrote it (its config.json records the versions)."
        )
    return data


def truncate_metrics(path: Path, num_rows: int) -> list[dict[str, Any]]:
    """Keep the header and the first `num_rows` complete rows of metrics.csv (atomically); return them.

    A resumed run calls this with the row count saved in its checkpoint, dropping the rows (and any
    half-written line) that a killed process logged after that checkpoint. A file with fewer rows,
    or corrupt ones, raises `RunDirError` and is left as it was.
    """
    if not path.exists():
        if num_rows:
            raise RunDirError(f"{str(path)!r} is missing; the checkpoint expects {num_rows} rows in it.")
        return []
    lines = path.read_bytes().splitlines(keepends=True)
    complete = [line for line in lines[1 : 1 + num_rows] if line.endswith(b"\n")]
    if not lines or len(complete) < num_rows:
        raise RunDirError(
            f"{str(path)!r} has {len(complete)} complete rows but the checkpoint expects {num_rows}; "
            "it was changed after the run wrote it."
        )
    tmp = path.with_suffix(".csv.tmp")
    tmp.write_bytes(b"".join(lines[:1] + complete))
    try:
        rows = read_metrics(tmp)
    except RunDirError as exc:
        tmp.unlink()
        raise RunDirError(str(exc).replace(str(tmp), str(path))) from None
    os.replace(tmp, path)
    return rows


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """metrics.csv as a list of dicts with floats (empty cells become NaN); raises `RunDirError`
    naming the line of a corrupt file."""
    rows = []
    with open(Path(path), newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            try:
                if None in row or None in row.values():
                    raise ValueError(f"{len(reader.fieldnames or [])} columns expected")
                rows.append({k: _metric_value(k, v) for k, v in row.items()})
            except ValueError as exc:
                raise RunDirError(f"{str(path)!r} is corrupt at line {reader.line_num} ({exc}); "
                                  "it was changed after the run wrote it.") from None
    return rows


def _metric_value(column: str, text: str) -> float | int:
    if column in ("step", "member", "seed"):
        return int(text)
    return float(text) if text != "" else math.nan


def plot_curve(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Return vs steps, one thin line per seed plus the mean; eval return when logged, else training."""
    metric = "eval_return" if any(not math.isnan(r["eval_return"]) for r in rows) else "episode_return"
    seeds = sorted({r["seed"] for r in rows})
    fig, ax = new_figure(figsize=(6, 4))
    curves = []
    for seed in seeds:
        pts = [(r["step"], r[metric]) for r in rows if r["seed"] == seed and not math.isnan(r[metric])]
        if pts:
            steps, values = zip(*pts)
            ax.plot(steps, values, lw=0.8, alpha=0.4, label=f"seed {seed}" if len(seeds) <= 8 else None)
            curves.append(dict(pts))
    common = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    if len(curves) > 1 and common:
        ax.plot(common, [np.mean([c[s] for c in curves]) for s in common], lw=2.2, color="black", label="mean")
    save_plot(fig, ax, path, "environment steps (per seed)", metric.replace("_", " "), title)


def new_figure(nrows: int = 1, ncols: int = 1, **kwargs):
    """`(fig, axes)` like `plt.subplots`, but a figure pyplot does not know: the files jaxrl writes
    neither switch the user's matplotlib backend nor show up among a notebook's figures."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", None), layout=kwargs.pop("layout", None))
    return fig, fig.subplots(nrows, ncols, **kwargs)


def steps_axis(ax) -> None:
    """Environment steps on the x axis as 20k, 1.5M (long plain numbers overlap)."""
    from matplotlib.ticker import EngFormatter

    ax.xaxis.set_major_formatter(EngFormatter(sep=""))


def save_plot(fig, ax, path: Path, xlabel: str, ylabel: str, title: str, title_size: float | None = None) -> None:
    """Label, grid and (when there are labelled lines) a legend, then write `path`."""
    ax.set_xlabel(xlabel)
    if "steps" in xlabel:
        steps_axis(ax)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=title_size)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, float):
        return f"{value:.7g}"
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
