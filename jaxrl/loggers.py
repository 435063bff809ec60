"""Metric logging backends behind one small interface.

A logger has `log(rows)` and `close()`. `rows` are the host loop's metrics rows of one logged point,
one dict per seed with "step" (environment steps per seed, a Python int: 64-bit safe), "seed" and
float metrics (NaN = not measured at this point). `metrics.csv` is always written when the run has
a directory; "tensorboard" and "wandb" are optional extras; any object with `log` and `close` can
be passed to `train(loggers=[...])` too.

On resume, a logger is created with `resume_step`: the step of the restored checkpoint. Rows after
it that a killed process had already logged are dropped (CSV: truncated by the host loop; TensorBoard:
purged) so every step appears exactly once and steps stay monotonic.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from jaxrl import rundir

BACKENDS = ("tensorboard", "wandb")
_PACKAGES = {"tensorboard": "tensorboardX", "wandb": "wandb"}


class Logger(Protocol):
    def log(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


def check_backends(loggers: Sequence[Any]) -> list[str]:
    """Validate logger names (before anything is compiled); returns the names among `loggers`."""
    names = []
    for item in loggers:
        if not isinstance(item, str):
            if not (callable(getattr(item, "log", None)) and callable(getattr(item, "close", None))):
                raise TypeError(f"A logger needs log(rows) and close() methods, got {item!r}.")
            continue
        name = item.strip().lower()
        if name == "csv":
            continue  # always on
        if name not in BACKENDS:
            raise ValueError(f"Unknown logger {item!r}; available: csv (always on), {', '.join(BACKENDS)}.")
        if importlib.util.find_spec(_PACKAGES[name]) is None:
            raise ValueError(
                f"The {name} logger needs the {_PACKAGES[name]} package: pip install 'jaxrl[{name}]'."
            )
        names.append(name)
    return list(dict.fromkeys(names))


def make_loggers(
    loggers: Sequence[Any], run_path: Path | None, config: dict[str, Any], resume_step: int | None = None
) -> list[Logger]:
    """The CSV logger (when there is a run directory) plus the requested backends and objects."""
    names = check_backends(loggers)
    out: list[Logger] = []
    if run_path is not None:
        out.append(CSVLogger(run_path / "metrics.csv"))
    elif names:
        raise ValueError(f"Logging to {', '.join(names)} needs a run directory (out=None was given).")
    for name in names:
        out.append(TensorBoardLogger(run_path, resume_step) if name == "tensorboard"
                   else WandbLogger(run_path, config, resume_step))
    out.extend(item for item in loggers if not isinstance(item, str))
    return out


class CSVLogger:
    """`metrics.csv`: leading columns, then metrics alphabetically; an existing header is kept."""

    def __init__(self, path: Path):
        self.path = path
        self._writer: rundir.MetricsWriter | None = None

    def log(self, rows: Sequence[dict[str, Any]]) -> None:
        if self._writer is None:
            names = rows[0].keys()
            if self.path.exists() and self.path.stat().st_size:
                with open(self.path, newline="") as f:
                    names = next(csv.reader(f), None) or names
            self._writer = rundir.MetricsWriter(self.path, names)
        self._writer.write(rows)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class TensorBoardLogger:
    """Event files under `RUN_DIR/tensorboard/seed_N/` (one run per seed, so seeds overlay)."""

    def __init__(self, run_path: Path, resume_step: int | None = None):
        from tensorboardX import SummaryWriter

        self._make = lambda seed: SummaryWriter(
            str(run_path / "tensorboard" / f"seed_{seed}"),
            purge_step=None if resume_step is None else resume_step + 1,
            flush_secs=30,
        )
        self._writers: dict[int, Any] = {}

    def log(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            writer = self._writers.get(row["seed"]) or self._writers.setdefault(row["seed"], self._make(row["seed"]))
            for name, value in _metrics(row):
                writer.add_scalar(name, value, global_step=int(row["step"]))
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


class WandbLogger:
    """One Weights & Biases run; metrics as `seed_N/NAME`. Offline unless WANDB_MODE says otherwise.

    The run id is kept in `RUN_DIR/wandb_id` so a resumed training continues the same W&B run.
    """

    def __init__(self, run_path: Path, config: dict[str, Any], resume_step: int | None = None):
        import wandb

        id_file = run_path / "wandb_id"
        # Our own id (wandb.util.generate_id is gone in wandb 0.31): 12 lowercase hex characters.
        run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:12]
        id_file.write_text(run_id + "\n")
        self._run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "jaxrl"),
            name=run_path.name,
            id=run_id,
            resume="allow",
            dir=str(run_path),
            config=config,
            mode=os.environ.get("WANDB_MODE", "offline"),
            reinit="create_new",
        )
        self._min_step = -1 if resume_step is None else resume_step

    def log(self, rows: Sequence[dict[str, Any]]) -> None:
        step = int(rows[0]["step"])
        if step <= self._min_step:
            return
        self._run.log({f"seed_{row['seed']}/{name}": value for row in rows for name, value in _metrics(row)},
                      step=step)

    def close(self) -> None:
        self._run.finish()


def _metrics(row: dict[str, Any]):
    for name, value in row.items():
        if name not in ("step", "seed") and isinstance(value, (int, float)) and not math.isnan(value):
            yield name, float(value)
