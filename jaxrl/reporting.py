"""What the host loop reports: metrics rows, progress-bar text, the summary's parameter hashes and
the messages of a run that stops early (NaN/inf, a signal)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxrl.agents import EPISODE_METRICS
from jaxrl.config import ResolvedConfig


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
            if name not in EPISODE_METRICS:
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

    def seeds_of(bad: np.ndarray) -> str:
        hit = [str(seeds[i]) for i in np.flatnonzero(bad)]
        return f"seed {hit[0]}" if len(hit) == 1 else f"seeds {', '.join(hit)}"

    for name in sorted(sums):
        values = np.asarray(sums[name])
        if "loss" in name and not np.isfinite(values).all():
            first = values[~np.isfinite(values)][0]
            return f"the loss metric {name} became {first} for {seeds_of(~np.isfinite(values))}"
    finite = np.asarray(finite, bool)
    for j, name in enumerate(leaf_names):
        if not finite[:, j].all():
            return f"the state leaf {name} (parameters or statistics) became NaN/inf for {seeds_of(~finite[:, j])}"
    return None


def nonfinite_message(problem: str, step: int, index: int, num_chunks: int, resolved: ResolvedConfig,
                      run_path: Path | None, last_saved: int | None) -> str:
    lr = getattr(resolved.hparams, "learning_rate", None)
    if run_path is None:
        kept = "Nothing was saved (out=None)."
    elif last_saved is None:
        kept = "No checkpoint had been saved yet, and none was written of the bad state."
    else:
        kept = (f"The bad state was not saved; the last good checkpoint (step {last_saved:,}) is kept in "
                f"{run_path / 'checkpoints'} (`jaxrl eval {run_path} --step {last_saved}` evaluates it).")
    return (
        f"Training stopped at step {step:,} (chunk {index + 1} of {num_chunks}): {problem}. {kept} "
        "Divergence usually means too large a learning rate"
        + (f" (learning_rate={lr:g})" if isinstance(lr, (int, float)) else "")
        + " or badly scaled rewards/observations: start a new run with a smaller learning_rate, "
        "reward_scale or max_grad_norm, or normalize_obs=true."
    )


def interrupt_message(signal_name: str, step: int, index: int, num_chunks: int, run_path: Path | None) -> str:
    if run_path is None:
        return f"{signal_name}: training stopped at step {step:,} (chunk {index + 1} of {num_chunks}); " \
               "nothing was saved (out=None)."
    return (
        f"{signal_name}: training stopped at step {step:,} (chunk {index + 1} of {num_chunks}) with a checkpoint "
        f"saved in {run_path / 'checkpoints'}. Resume with: jaxrl train --resume {run_path} "
        f"(Python: jaxrl.resume({str(run_path)!r}))."
    )
