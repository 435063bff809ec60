"""What the host loop reports: metrics rows, progress-bar text, the summary's parameter hashes and
the messages of a run that stops early (NaN/inf, a signal)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxrl import checkpoint, rundir
from jaxrl.agents import EPISODE_METRICS
from jaxrl.config import ResolvedConfig
from jaxrl.population.program import WATCHED


def metric_rows(sums: dict[str, np.ndarray], num_updates: int, step: int, seeds, eval_returns,
                with_member: bool = False) -> list[dict]:
    """One metrics row per member (seed) from the summed chunk metrics (padding is ignored)."""
    rows = []
    for i, seed in enumerate(seeds):
        count = float(sums["episode_count"][i])
        row = {
            "step": step,
            **({"member": i} if with_member else {}),
            "seed": seed,
            "episode_return": float(sums["episode_return_sum"][i]) / count if count else math.nan,
            "episode_length": float(sums["episode_length_sum"][i]) / count if count else math.nan,
            "eval_return": float(eval_returns[i]) if eval_returns is not None else math.nan,
        }
        for name, value in sums.items():
            if name in EPISODE_METRICS:
                continue
            if name.startswith("episode_") and name.endswith("_sum"):  # another per-episode sum (an agent's return)
                row[name[:-4]] = float(value[i]) / count if count else math.nan
            else:
                row[name] = float(value[i]) / num_updates
        rows.append(row)
    return rows


def progress_bar(enabled: bool, total: int, description: str, initial: int = 0):
    """A tqdm bar (a widget in notebooks), or None."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit="step", unit_scale=True, dynamic_ncols=True)


def postfix(rows: list[dict], train_s: float, steps_all_seeds: int) -> dict[str, str]:
    """The progress bar's mean training and eval return and steps/s."""

    def mean_of(key):
        values = [r[key] for r in rows if not math.isnan(r[key])]
        return f"{np.mean(values):.1f}" if values else "-"

    return {"return": mean_of("episode_return"), "eval": mean_of("eval_return"),
            "sps": f"{steps_all_seeds / max(train_s, 1e-9):.3g}"}


def params_sha256(policy: Any, num_members: int) -> list[str]:
    """SHA-256 of each member's policy parameters: the bytes of every leaf, in tree order."""
    leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(jax.device_get(policy))]
    digests = []
    for i in range(num_members):
        h = hashlib.sha256()
        for leaf in leaves:
            h.update(np.ascontiguousarray(leaf[i]).tobytes())
        digests.append(h.hexdigest())
    return digests


def nonfinite(sums: dict[str, np.ndarray], finite: np.ndarray, leaf_names: list[str], seeds) -> str | None:
    """What went non-finite in this chunk (a loss metric first, then a state leaf), or None."""
    for name in sorted(sums):
        values = np.asarray(sums[name])[: len(seeds)]
        if "loss" in name and not np.isfinite(values).all():
            first = values[~np.isfinite(values)][0]
            return f"the loss metric {name} became {first} for {_seeds_of(~np.isfinite(values), seeds)}"
    finite = np.asarray(finite, bool)[: len(seeds)]
    for j, name in enumerate(leaf_names):
        if not finite[:, j].all():
            return (f"the state leaf {name} (parameters or statistics) became NaN/inf for "
                    f"{_seeds_of(~finite[:, j], seeds)}")
    return None


def env_nonfinite(first_bad: np.ndarray, seeds, env: str, updates_before: int, steps_per_update: int) -> str | None:
    """The environment's share of a NaN/inf in this chunk, or None.

    `first_bad` is the chunk's `[members, len(WATCHED)]` first update (-1: none) after which the
    agent's parameters, the env's observations and its rewards held a NaN/inf (see
    `jaxrl.population.program.WATCHED`). The environment is to blame where its observations or
    rewards went bad in an update that started from finite parameters (acting on finite
    parameters cannot make a correct environment produce NaN).
    """
    first_bad = np.asarray(first_bad)[: len(seeds)]
    params = first_bad[:, WATCHED.index("parameters")]
    culprits = {}
    for what in ("observations", "rewards"):
        at = first_bad[:, WATCHED.index(what)]
        guilty = (at >= 0) & ((params < 0) | (params >= at))
        if guilty.any():
            culprits[what] = (int(at[guilty].min()), guilty)
    if not culprits:
        return None
    update = min(at for at, _ in culprits.values())
    kinds = [what for what, (at, _) in culprits.items() if at == update]
    guilty = np.logical_or.reduce([culprits[what][1] for what in kinds])
    first, last = (updates_before + update) * steps_per_update + 1, (updates_before + update + 1) * steps_per_update
    return (f"the environment {env} produced NaN/inf {' and '.join(kinds)} at step {last:,} (in the update of "
            f"environment steps {first:,}-{last:,}; {_seeds_of(guilty, seeds)}) while the agent's parameters "
            "were still finite")


def nonfinite_message(problem: str, step: int, index: int, num_chunks: int, resolved: ResolvedConfig,
                      run_path: Path | None, last_saved: int | None) -> str:
    """The agent diverged: where, what is kept, and which settings usually cure it."""
    lr = getattr(resolved.hparams, "learning_rate", None)
    return (
        f"Training stopped at step {step:,} (chunk {index + 1} of {num_chunks}): {problem}. "
        f"{_kept(run_path, last_saved)} Divergence usually means too large a learning rate"
        + (f" (learning_rate={lr:g})" if isinstance(lr, (int, float)) else "")
        + " or badly scaled rewards/observations: start a new run with a smaller learning_rate, "
        "reward_scale or max_grad_norm, or normalize_obs=true."
    )


def env_nonfinite_message(problem: str, step: int, index: int, num_chunks: int, resolved: ResolvedConfig,
                          run_path: Path | None, last_saved: int | None) -> str:
    """The environment produced NaN/inf: where, what is kept, and how to find the bug."""
    return (
        f"Training stopped at step {step:,} (chunk {index + 1} of {num_chunks}): {problem}. "
        f"{_kept(run_path, last_saved)} This is a bug in the environment, not the agent: run "
        f"`jaxrl check-env {resolved.env}` to find which method returns the non-finite values "
        "(e.g. a division by zero, or a physics state that grows without bound)."
    )


def storage_message(exc: OSError, run_path: Path) -> str:
    """A file of the run directory could not be written: the disk problem, and what is kept."""
    steps = checkpoint.list_steps(run_path / "checkpoints")
    kept = (f"the last good checkpoint is step {steps[-1]:,}, in {run_path / 'checkpoints' / str(steps[-1])}"
            if steps else "no checkpoint had been written yet")
    return (
        f"Could not write the run directory {str(run_path)!r}: {rundir.storage_problem(exc)}. Training stopped; "
        f"{kept}. Free some space (or fix the permissions), then continue with: jaxrl train --resume {run_path}"
    )


def _kept(run_path: Path | None, last_saved: int | None) -> str:
    if run_path is None:
        return "Nothing was saved (out=None)."
    if last_saved is None:
        return "No checkpoint had been saved yet, and none was written of the bad state."
    return (f"The bad state was not saved; the last good checkpoint (step {last_saved:,}) is kept in "
            f"{run_path / 'checkpoints'} (`jaxrl eval {run_path} --step {last_saved}` evaluates it).")


def _seeds_of(bad: np.ndarray, seeds) -> str:
    hit = [str(seeds[i]) for i in np.flatnonzero(bad)]
    return f"seed {hit[0]}" if len(hit) == 1 else f"seeds {', '.join(hit)}"


def interrupt_message(signal_name: str, step: int, index: int, num_chunks: int, run_path: Path | None) -> str:
    if run_path is None:
        return f"{signal_name}: training stopped at step {step:,} (chunk {index + 1} of {num_chunks}); " \
               "nothing was saved (out=None)."
    return (
        f"{signal_name}: training stopped at step {step:,} (chunk {index + 1} of {num_chunks}) with a checkpoint "
        f"saved in {run_path / 'checkpoints'}. Resume with: jaxrl train --resume {run_path} "
        f"(Python: jaxrl.resume({str(run_path)!r}))."
    )
