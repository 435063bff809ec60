"""The strategies' report: aggregated generalised performance vs number of trained tasks, with
95% bootstrap intervals over seeds (`jaxrl.stats`), as one table and one plot (the MBTL paper's
figure type), and each strategy's sample efficiency against independent training.

`strategy_curves(result)` runs every strategy on each seed's matrix; `make_report(result)` adds
the intervals and the reference values:

* independent: every target uses the policy trained on it (all N tasks trained);
* multi-task: one policy trained on the whole space with per-episode context draws (one task's
  training budget);
* sample efficiency of a strategy: N / k*, where k* is the fewest trained tasks whose mean (over
  seeds) aggregate reaches the independent mean; None when it never does within the budget.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl import rundir, stats
from jaxrl.config import ConfigError
from jaxrl.contextual.matrix import MatrixResult
from jaxrl.contextual.strategies import STRATEGIES, aggregate_curve, greedy_order, mbtl_order, random_order


def check_budget(n: int, budget: int | None) -> int:
    """`budget` (default: all `n` contexts), or ConfigError unless 1 <= budget <= n."""
    if budget is None:
        return n
    if not 1 <= budget <= n:
        raise ConfigError(f"--budget must be between 1 and the number of contexts ({n}), got {budget}.")
    return budget


def strategy_orders(result: MatrixResult, strategy: str, budget: int | None = None, beta: float = 1.0,
                    seed: int = 0) -> list[np.ndarray]:
    """Per seed, the sources `strategy` trains (indices into the grid), `budget` of them."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"Unknown strategy {strategy!r}; strategies: {', '.join(STRATEGIES)} (independent and "
                          "multi-task are reference values in every report).")
    budget = check_budget(result.returns.shape[1], budget)
    rng = np.random.default_rng(seed)
    points = result.space.unit_grid()
    orders = []
    for matrix in result.returns:
        if strategy == "greedy":
            orders.append(greedy_order(matrix, budget))
        elif strategy == "random":
            orders.append(random_order(len(matrix), budget, rng))
        else:
            orders.append(mbtl_order(matrix, points, budget, beta))
    return orders


def strategy_curves(result: MatrixResult, budget: int | None = None, beta: float = 1.0,
                    random_orders: int = 100, seed: int = 0) -> dict[str, np.ndarray]:
    """`{strategy: [seeds, budget]}`: the aggregate after k = 1..budget trained tasks (random: the
    mean over `random_orders` orders per seed)."""
    budget = check_budget(result.returns.shape[1], budget)
    curves = {}
    for name in STRATEGIES:
        if name == "random":
            per_draw = [strategy_orders(result, name, budget, seed=seed + i) for i in range(random_orders)]
            curves[name] = np.mean([[aggregate_curve(m, o) for m, o in zip(result.returns, orders)]
                                    for orders in per_draw], axis=0)
        else:
            orders = strategy_orders(result, name, budget, beta, seed)
            curves[name] = np.stack([aggregate_curve(m, o) for m, o in zip(result.returns, orders)])
    return curves


def _interval(per_seed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds and its 95% stratified bootstrap interval, for `[seeds, ...]` scores."""
    scores = np.asarray(per_seed, float).reshape(per_seed.shape[0], 1, -1)
    interval = stats.bootstrap_interval(scores, lambda s: stats.mean(np.moveaxis(s, -1, -3)), reps=2000)
    return interval.point, interval.lower, interval.upper


def make_report(result: MatrixResult, budget: int | None = None, beta: float = 1.0,
                random_orders: int = 100) -> dict[str, Any]:
    """Curves with intervals, the reference values and each strategy's sample efficiency (JSON-able)."""
    curves = strategy_curves(result, budget, beta, random_orders)
    n = result.returns.shape[1]
    independent = _interval(result.independent[:, None])
    references = {"independent": [float(x[0]) for x in independent]}
    if result.multitask is not None:
        references["multitask"] = [float(x[0]) for x in _interval(result.multitask.mean(axis=1)[:, None])]
    target = references["independent"][0]
    out: dict[str, Any] = {"num_contexts": n, "budget": next(iter(curves.values())).shape[1], "beta": beta,
                           "seeds": result.seeds, "references": references, "strategies": {}}
    for name, per_seed in curves.items():
        mean, lower, upper = _interval(per_seed)
        k_star = _first_reaching(mean, target)
        per_seed_k = [_first_reaching(curve, float(own)) for curve, own in zip(per_seed, result.independent)]
        out["strategies"][name] = {
            "mean": mean.tolist(), "lower": lower.tolist(), "upper": upper.tolist(),
            "tasks_to_independent": k_star, "sample_efficiency": None if k_star is None else n / k_star,
            "tasks_to_independent_per_seed": per_seed_k,
        }
    return out


def _first_reaching(curve: np.ndarray, target: float) -> int | None:
    """The fewest trained tasks k whose aggregate reaches `target` (None: not within the curve)."""
    reached = np.nonzero(np.asarray(curve) >= target - 1e-9)[0]
    return int(reached[0]) + 1 if len(reached) else None


def format_table(report: dict[str, Any]) -> str:
    """The report as a text table: one row per k, one column per strategy (mean [95% CI])."""
    names = list(report["strategies"])
    lines = ["k   " + "".join(f"{name:>26}" for name in names)]
    for k in range(report["budget"]):
        cells = [f"{s['mean'][k]:9.2f} [{s['lower'][k]:7.2f},{s['upper'][k]:7.2f}]"
                 for s in report["strategies"].values()]
        lines.append(f"{k + 1:<4}" + "".join(f"{c:>26}" for c in cells))
    for name, (mean, lower, upper) in report["references"].items():
        cost = report["num_contexts"] if name == "independent" else 1
        lines.append(f"{name} ({cost} trained): {mean:.2f} [{lower:.2f}, {upper:.2f}]")
    for name, s in report["strategies"].items():
        k = s["tasks_to_independent"]
        per_seed = ", ".join("-" if x is None else str(x) for x in s["tasks_to_independent_per_seed"])
        lines.append(f"{name}: reaches independent's mean with {k} tasks (sample efficiency {s['sample_efficiency']:.1f}x;"
                     f" per seed vs its own independent: {per_seed})" if k else
                     f"{name}: does not reach independent's mean within {report['budget']} tasks (per seed: {per_seed})")
    return "\n".join(lines)


def write_report(report: dict[str, Any], path: Path, title: str) -> None:
    """strategies.csv, strategies.json and strategies.png in `path`."""
    with open(path / "strategies.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["strategy", "k", "mean", "ci_low", "ci_high"])
        for name, s in report["strategies"].items():
            writer.writerows([name, k + 1, f"{s['mean'][k]:.6g}", f"{s['lower'][k]:.6g}", f"{s['upper'][k]:.6g}"]
                             for k in range(report["budget"]))
    rundir.write_json(path / "strategies.json", report)
    plot_report(report, path / "strategies.png", title)


def plot_report(report: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ks = np.arange(1, report["budget"] + 1)
    for name, s in report["strategies"].items():
        (line,) = ax.plot(ks, s["mean"], marker="o", ms=3, lw=1.6, label=name)
        ax.fill_between(ks, s["lower"], s["upper"], color=line.get_color(), alpha=0.2)
    for (name, (mean, lower, upper)), style in zip(report["references"].items(), ("--", ":")):
        ax.axhline(mean, ls=style, color="black", lw=1.2, label=f"{name} ({report['num_contexts'] if name == 'independent' else 1} trained)")
        ax.axhspan(lower, upper, color="gray", alpha=0.12)
    rundir.save_plot(fig, ax, path, "trained tasks k", "aggregate generalised return (mean over targets)", title,
                     title_size=10)
