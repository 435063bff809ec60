"""The generalisation matrix: train one policy per source context, evaluate each on every target.

    result = train_matrix("ppo", context_space("CartPole-v1", ["length=0.1:2.0:16"]), seeds=4)
    result.returns      # [seeds, N sources, N targets]: mean deterministic return of each policy on each target
    result.multitask    # [seeds, N targets]: one policy trained on the whole space (per-episode draws)

All N x seeds source members, plus one multi-task member per seed, are ONE population of the host
loop (`jaxrl.training.train_population`) over a `ContextualEnv`: each member's context is the box
`[low, high]` of its env params (`low == high` for a source, the whole space for multi-task),
passed as a traced member input (`ResolvedConfig.member_contexts`), so the population compiles
once (`num_compiles` in summary.json). The evaluation is a second program that maps every trained
policy over every target context (`make_evaluate` vmapped over target params).

A matrix directory holds `matrix.csv` (seed, source, target, return), `matrix.npz` (the arrays and
the grid), `context.json` (the space, algorithm and settings), `heatmap.png` (mean over seeds) and
`train/` (the population's run directory: config.json, metrics.csv, summary.json, checkpoints).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxrl import rundir
from jaxrl.config import ConfigError, check_seed, resolve, with_members
from jaxrl.contextual.space import ContextSpace


@dataclasses.dataclass
class MatrixResult:
    """A generalisation matrix and how it was made."""

    space: ContextSpace
    returns: np.ndarray  # [seeds, N sources, N targets]
    multitask: np.ndarray | None  # [seeds, N targets], or None when not trained
    seeds: list[int]
    summary: dict[str, Any]
    path: Path | None = None
    train: Any = None  # the population's TrainResult (None when loaded from disk)

    @property
    def independent(self) -> np.ndarray:
        """`[seeds]`: every target evaluated with the policy trained on it (all N tasks trained)."""
        return np.mean(np.diagonal(self.returns, axis1=1, axis2=2), axis=1)


def train_matrix(algo: str, space: ContextSpace, *, seeds: int | Sequence[int] = 4,
                 config: Mapping[str, Any] | None = None, total_timesteps: int | None = None,
                 eval_episodes: int = 16, multitask: bool = True, out: str | Path | None = "runs",
                 name: str | None = None, progress: bool = True) -> MatrixResult:
    """Train every source context (x seeds, and a multi-task member per seed) in one population and
    evaluate each policy on every target context over `eval_episodes` deterministic episodes.
    `config` holds agent settings (as `jaxrl.train`); the host loop only evaluates at the end unless
    `eval_every` is set. Returns a `MatrixResult` (written to `out/name` unless `out` is None)."""
    from jaxrl import training

    wall_start = time.perf_counter()
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [check_seed(s) for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ConfigError(f"seeds must be a positive count or a list of distinct ints, got {seeds!r}.")
    if eval_episodes < 1:
        raise ConfigError(f"eval_episodes must be >= 1 (episodes per target context), got {eval_episodes}.")
    resolved = resolve(algo, space.env_name, {"eval_every": 0, "eval_episodes": eval_episodes, **dict(config or {})}, total_timesteps=total_timesteps)
    if resolved.env_kwargs != dict(space.env_kwargs):
        raise ConfigError(f"Fixed env params of a contextual run belong to its context space "
                          f"(context_space(..., env_kwargs=)), got env.X settings {resolved.env_kwargs}.")
    boxes = _member_boxes(space, len(seed_list), multitask)
    members = with_members(resolved, [s for _, s in boxes], [{}] * len(boxes))
    members = dataclasses.replace(members, env_kwargs=dict(space.env_kwargs), member_contexts=tuple(
        {"low": low.tolist(), "high": high.tolist()} for (low, high), _ in boxes))
    env, params = space.env, space.params(*space.box)
    from jaxrl import population

    population.build_agent(members, env, params)  # e.g. an action space the agent cannot handle

    path = None if out is None else rundir.create_run_dir(out, name or rundir.default_run_name(
        f"contextual-{resolved.algo}", space.env_name))
    train_dir = None if path is None else rundir.create_run_dir(path, "train")
    run = training.train_population(members, env, params, train_dir, progress=progress)
    t0 = time.perf_counter()
    scores = evaluate_matrix(members, space, run.state, eval_episodes, resolved.run.eval_seed)
    n, num_seeds = len(space.grid), len(seed_list)
    returns = scores[: n * num_seeds].reshape(n, num_seeds, n).transpose(1, 0, 2)
    multi = scores[n * num_seeds:] if multitask else None
    summary = {
        "algo": resolved.algo, "env": space.env_name, "context": [str(a) for a in space.axes],
        "num_contexts": n, "seeds": seed_list, "num_members": len(boxes),
        "total_timesteps": getattr(resolved.config, "total_timesteps", None),
        "num_compiles": run.summary["num_compiles"], "compile_s": run.summary["compile_s"],
        "train_s": run.summary["train_s"], "matrix_eval_s": round(time.perf_counter() - t0, 3),
        "eval_episodes": eval_episodes, "wall_s": round(time.perf_counter() - wall_start, 3),
        "independent_mean": float(np.mean(np.diagonal(returns, axis1=1, axis2=2))),
        "multitask_mean": None if multi is None else float(np.mean(multi)),
    }
    result = MatrixResult(space, returns, multi, seed_list, summary, path, run)
    if path is not None:
        save_matrix(result, path, {k: v for k, v in members.to_dict().items() if k in ("config", "hparams")})
    return result


def _member_boxes(space: ContextSpace, num_seeds: int, multitask: bool) -> list[tuple[tuple[np.ndarray, np.ndarray], int]]:
    """`((low, high), seed index)` per member: every source context x seed, then multi-task x seed."""
    boxes = [((point, point), s) for point in space.grid for s in range(num_seeds)]
    if multitask:
        boxes += [(space.box, s) for s in range(num_seeds)]
    return [((np.asarray(lo, np.float32), np.asarray(hi, np.float32)), s) for (lo, hi), s in boxes]


def evaluate_matrix(resolved, space: ContextSpace, state: Any, episodes: int, eval_seed: int) -> np.ndarray:
    """`[members, N targets]`: each member's policy (from the population `state`) evaluated on every
    target context of `space` (mean undiscounted return of `episodes` deterministic episodes, the
    same episode keys for every policy and target)."""
    from jaxrl.population import build_agent, make_evaluate

    env, base = space.env, space.params(*space.box)
    fns = build_agent(resolved, env, base)
    targets = np.asarray(space.grid, np.float32)

    def on_target(policy, target, key):
        params = base.replace(low=target, high=target)
        return make_evaluate(env, params, fns.act, episodes, initial_memory=fns.initial_memory)(policy, key)["return"]

    def member(policy, key):
        return jax.vmap(on_target, in_axes=(None, 0, None))(policy, targets, key).mean(axis=-1)

    policies = fns.policy(state)
    program = jax.jit(jax.vmap(member, in_axes=(0, None)))
    return np.asarray(jax.device_get(program(policies, jax.random.key(eval_seed))), np.float64)


def save_matrix(result: MatrixResult, path: Path, settings: Mapping[str, Any] | None = None) -> None:
    """Write matrix.csv, matrix.npz, context.json and heatmap.png into `path`."""
    labels = result.space.labels()
    with open(path / "matrix.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seed", "source", "target", "return"])
        for i, seed in enumerate(result.seeds):
            for s, source in enumerate(labels):
                writer.writerows([seed, source, target, f"{result.returns[i, s, t]:.6g}"] for t, target in enumerate(labels))
            if result.multitask is not None:
                writer.writerows([seed, "multitask", target, f"{result.multitask[i, t]:.6g}"]
                                 for t, target in enumerate(labels))
    arrays = {"returns": result.returns, "grid": result.space.grid, "seeds": np.asarray(result.seeds)}
    if result.multitask is not None:
        arrays["multitask"] = result.multitask
    np.savez(path / "matrix.npz", **arrays)
    rundir.write_json(path / "context.json", {"space": result.space.to_dict(), "summary": result.summary,
                                              "settings": dict(settings or {}), "versions": rundir.versions()})
    plot_heatmap(result, path / "heatmap.png")


def load_matrix(path: str | Path) -> MatrixResult:
    """The `MatrixResult` of a matrix directory (ConfigError if it is not one)."""
    path = Path(path)
    try:
        meta = json.loads((path / "context.json").read_text())
        data = np.load(path / "matrix.npz")
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        raise ConfigError(f"{str(path)!r} is not a generalisation matrix directory (written by jaxrl contextual "
                          "matrix: context.json and matrix.npz).") from None
    multi = data["multitask"] if "multitask" in data.files else None
    return MatrixResult(ContextSpace.from_dict(meta["space"]), data["returns"], multi,
                        [int(s) for s in data["seeds"]], meta["summary"], path)


def plot_heatmap(result: MatrixResult, path: Path) -> None:
    """Source x target heatmap of the mean return over seeds (1-D spaces label every context)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mean = result.returns.mean(axis=0)
    n = mean.shape[0]
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(mean, origin="lower", cmap="viridis")
    fig.colorbar(image, ax=ax, label="return (mean over seeds)")
    if len(result.space.axes) == 1 and n <= 32:
        ticks = [f"{v:.3g}" for v in result.space.grid[:, 0]]
        ax.set_xticks(range(n), ticks, rotation=90, fontsize=7)
        ax.set_yticks(range(n), ticks, fontsize=7)
    field = ", ".join(result.space.fields)
    s = result.summary
    rundir.save_plot(fig, ax, path, f"target context ({field})", f"source context ({field})",
                     f"{s['algo']} on {s['env']}: generalisation ({len(result.seeds)} seeds)", title_size=10)
