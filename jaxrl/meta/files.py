"""The files of a meta-training directory: the ES state (atomic, the previous one kept), the fitness
curve and the plot of a learned drift function.

`es_state.npz` holds every leaf of the evolution strategy's state and the fitness history; it is
written to a temporary file and renamed over the old one after the old one was renamed to
`es_state.prev.npz`, so a kill at any moment leaves at least one whole state on disk.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

ES_STATE = "es_state.npz"
ES_STATE_PREV = "es_state.prev.npz"
FITNESS_COLUMNS = ("generation", "fitness_mean", "fitness_max", "fitness_min", "best_so_far", "es_mean_return",
                   "train_s")


def save_es_state(run_dir: Path, es_state: Any, history: dict[str, np.ndarray]) -> None:
    """Write the ES state's leaves and the per-generation `history` arrays (atomic; keeps the previous)."""
    arrays = {f"leaf_{i:03d}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(es_state))}
    arrays.update({f"history_{k}": np.asarray(v) for k, v in history.items()})
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".es_state.", suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        current = run_dir / ES_STATE
        if current.exists():
            os.replace(current, run_dir / ES_STATE_PREV)
        os.replace(tmp, current)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_es_state(run_dir: Path, like: Any) -> tuple[Any, dict[str, np.ndarray]] | None:
    """The newest readable ES state shaped like `like` and its history, or None when there is none."""
    for name in (ES_STATE, ES_STATE_PREV):
        try:
            with np.load(run_dir / name) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError):
            continue
        leaves, treedef = jax.tree.flatten(like)
        stored = [arrays.get(f"leaf_{i:03d}") for i in range(len(leaves))]
        if any(s is None or s.shape != np.shape(leaf) for s, leaf in zip(stored, leaves)):
            raise ValueError(f"{run_dir / name} holds an ES state of another shape than this meta-training's "
                             "(other population, objective or ES settings); start a new run directory.")
        state = jax.tree.unflatten(treedef, [np.asarray(s, np.asarray(leaf).dtype) for s, leaf in zip(stored, leaves)])
        history = {k[len("history_"):]: v for k, v in arrays.items() if k.startswith("history_")}
        return state, history
    return None


def write_fitness_csv(path: Path, history: dict[str, np.ndarray]) -> None:
    """One row per generation (rewritten whole from the history, so a resumed run's file is exact)."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(FITNESS_COLUMNS)
        for row in zip(*(history[c] for c in FITNESS_COLUMNS)):
            writer.writerow([int(row[0]), *(f"{float(v):.6g}" for v in row[1:])])


def plot_fitness(path: Path, history: dict[str, np.ndarray], title: str) -> None:
    from jaxrl.rundir import new_figure

    fig, ax = new_figure(figsize=(6, 4))
    g = history["generation"]
    ax.fill_between(g, history["fitness_min"], history["fitness_max"], alpha=0.2, label="candidates (min-max)")
    ax.plot(g, history["fitness_mean"], label="candidates (mean)")
    ax.plot(g, history["es_mean_return"], label="ES mean objective")
    ax.set_xlabel("generation")
    ax.set_ylabel("final eval return (mean over seeds and envs)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_drift(path: str | Path, params: np.ndarray, temporal: bool, hidden: int, clip_eps: float = 0.2,
               title: str = "learned drift") -> Path:
    """The drift over ratio (x) for positive and negative advantages, as in the LPO paper's figures
    (beside PPO's); for a temporal objective at the start, middle and end of a run of 100 updates."""
    import jax.numpy as jnp

    from jaxrl.blocks import drift
    from jaxrl.rundir import new_figure

    ratio = jnp.linspace(0.5, 1.5, 201)
    progress = [0, 50, 99] if temporal else [None]
    fig, axes = new_figure(1, 2, figsize=(9, 3.6))
    for ax, adv in zip(axes, (1.0, -1.0)):
        advantage = jnp.full_like(ratio, adv)
        ppo = drift.learned_drift(jnp.zeros_like(jnp.asarray(params)), ratio, advantage, clip_eps, hidden,
                                  drift.time_features(0, 100) if temporal else None)
        ax.plot(ratio, ppo, "k--", lw=1, label="PPO-clip")
        for n in progress:
            time = None if n is None else drift.time_features(n, 100)
            d = drift.learned_drift(jnp.asarray(params), ratio, advantage, clip_eps, hidden, time)
            ax.plot(ratio, d, label="learned" if n is None else f"learned, n/N = {n / 100:.1f}")
        ax.set_xlabel("ratio r = pi / pi_old")
        ax.set_ylabel("drift")
        ax.set_title(f"A = {adv:+.0f}")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)
