"""`jaxrl compare`: agents compared with the statistics that make a comparison hold.

Scores come from run or sweep directories (each member's final evaluation return, and its
evaluation curve) or from a plain CSV with columns `agent,env,seed,score`. Runs are grouped into
agents by algorithm and the settings in which they differ (or by explicit labels). The result holds,
per env and aggregated over envs (on normalised scores), the mean, median and IQM of the runs with
stratified bootstrap confidence intervals, the probability of improvement of every pair with its
interval, and optionally AdaStop's decisions (Mathieu et al. 2023) per env.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl import catalogue, rundir, stats
from jaxrl.config import check_seed

# (min, max) episode return of the built-in envs, for normalised aggregates over several envs: the
# worst return a policy gets in practice (a time-out, or a random policy's typical return) and the
# best possible one. Anything else needs --normalize ENV=MIN:MAX.
REFERENCE_SCORES = {
    "CartPole-v1": (0.0, 500.0),
    "Acrobot-v1": (-500.0, 0.0),
    "MountainCar-v0": (-200.0, 0.0),
    "MountainCarContinuous-v0": (-100.0, 100.0),
    "Pendulum-v1": (-1600.0, 0.0),
    # velocity-masked variants: the full envs' ranges
    "CartPole-v1-po": (0.0, 500.0),
    "Acrobot-v1-po": (-500.0, 0.0),
    "MountainCar-v0-po": (-200.0, 0.0),
    "Pendulum-v1-po": (-1600.0, 0.0),
    # POPGym-style memory tasks: every answer wrong (-1) to every answer right (1)
    **{f"{task}-{size}": (-1.0, 1.0) for task in ("RepeatPrevious", "RepeatFirst", "CountRecall")
       for size in ("easy", "medium", "hard")},
}
ESTIMATORS = {"mean": stats.mean, "median": stats.median, "iqm": stats.iqm}
ALL = "all"


@dataclasses.dataclass
class Scores:
    """Final scores `{agent: {env: [runs]}}` and, from run directories, evaluation curves
    `{agent: {env: [(steps [points], values [runs, points])]}}`."""

    final: dict[str, dict[str, np.ndarray]]
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = dataclasses.field(default_factory=dict)

    @property
    def agents(self) -> list[str]:
        return list(self.final)

    @property
    def envs(self) -> list[str]:
        return sorted({env for by_env in self.final.values() for env in by_env})


@dataclasses.dataclass
class Comparison:
    """Estimates `[(agent, env, metric, Interval)]`, improvements `[(x, y, env, Interval)]`, the
    normalisation used for the aggregate, AdaStop decisions per env and the scores themselves."""

    scores: Scores
    estimates: list[tuple[str, str, str, stats.Interval]]
    improvements: list[tuple[str, str, str, stats.Interval]]
    normalization: dict[str, tuple[float, float]]
    adastop: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)


def scores_from_runs(paths: Sequence[str | Path], labels: Mapping[str, Sequence[str]] | None = None) -> Scores:
    """The members of every finished run under `paths`, grouped into agents: by `labels` (agent ->
    run directories) when given, else by algorithm and the settings in which the runs differ."""
    if labels:
        members = {name: [m for d in dirs for run in catalogue.find_runs([d]) for m in catalogue.read_members(run)]
                   for name, dirs in labels.items()}
    else:
        everything = [m for run in catalogue.find_runs(paths) for m in catalogue.read_members(run)]
        members = _group_by_settings(everything)
    final = {agent: _by_env(ms, lambda m: m.score) for agent, ms in members.items()}
    curves = {agent: {env: _curve([m for m in ms if m.env == env]) for env in final[agent]}
              for agent, ms in members.items()}
    return _checked(Scores(final, curves), "these runs")


def scores_from_csv(path: str | Path) -> Scores:
    """Scores from a CSV with columns agent,env,seed,score (other columns are ignored)."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"Cannot read {str(path)!r}: {exc}.") from None
    missing = {"agent", "env", "seed", "score"} - set(rows[0] if rows else ())
    if not rows or missing:
        raise ValueError(f"{str(path)!r} needs a header with columns agent,env,seed,score and at least one row"
                         + (f"; missing: {', '.join(sorted(missing))}." if rows else "; it has no rows."))
    final: dict[str, dict[str, list[float]]] = {}
    for line, row in enumerate(rows, start=2):
        try:
            score = float(row["score"])
        except (TypeError, ValueError):
            raise ValueError(f"{str(path)!r} line {line}: score {row['score']!r} is not a number.") from None
        if not math.isfinite(score):
            raise ValueError(f"{str(path)!r} line {line}: score {row['score']!r} is not finite.")
        final.setdefault(row["agent"], {}).setdefault(row["env"], []).append(score)
    return _checked(Scores({a: {e: np.asarray(v) for e, v in by_env.items()} for a, by_env in final.items()}),
                    repr(str(path)))


def compare(scores: Scores, normalization: Mapping[str, tuple[float, float]] | None = None, reps: int = 2000,
            confidence: float = 0.95, seed: int = 0) -> Comparison:
    """Mean, median and IQM with stratified bootstrap CIs per env and aggregated over envs, and the
    probability of improvement of every ordered pair of agents."""
    check_seed(seed)
    envs = scores.envs
    norm = {env: tuple(map(float, (normalization or {}).get(env, REFERENCE_SCORES.get(env, (math.nan,) * 2))))
            for env in envs}
    groups = [(env, [env], None) for env in envs]
    notes = []
    if len(envs) > 1:
        unknown = [env for env in envs if math.isnan(norm[env][0])]
        if unknown:
            notes.append(f"No aggregate over envs: no (min, max) to normalise {', '.join(unknown)} "
                         "(give --normalize ENV=MIN:MAX).")
        else:
            groups.append((ALL, envs, norm))
    estimates, improvements = [], []
    for label, group_envs, group_norm in groups:
        matrices = _matrices(scores, group_envs, group_norm, notes)
        for metric, estimator in ESTIMATORS.items():
            for agent, interval in stats.interval_estimates(matrices, estimator, reps, confidence, seed=seed).items():
                estimates.append((agent, label, metric, interval))
        pairs = list(itertools.permutations(matrices, 2))
        for (x, y), interval in stats.improvement_intervals(matrices, pairs, reps, confidence, seed=seed).items():
            improvements.append((x, y, label, interval))
    return Comparison(scores, estimates, improvements, {e: norm[e] for e in envs if not math.isnan(norm[e][0])},
                      notes=notes)


def adastop_decisions(scores: Scores, n: int, K: int, alpha: float, seed: int = 0) -> dict[str, dict[str, Any]]:
    """AdaStop on each env's final scores, taking seeds in file order, n per agent per interim:
    `{env: {"decisions": [PairDecision], "finished": bool, "seeds_needed": {agent: SeedsNeeded}}}`."""
    check_seed(seed)
    out = {}
    for env in scores.envs:
        by_agent = {a: list(by_env[env]) for a, by_env in scores.final.items() if env in by_env}
        short = {a: len(v) for a, v in by_agent.items() if len(v) < n}
        if short:
            raise ValueError(f"AdaStop on {env} needs at least n={n} scores per agent for its first interim; "
                             + ", ".join(f"{a} has {c}" for a, c in short.items()) + ".")
        test = stats.AdaStop(n=n, K=K, alpha=alpha, seed=seed)
        test.compare_available(by_agent)
        out[env] = adastop_result(test, by_agent)
    return out


def adastop_result(test: stats.AdaStop, scores: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """`{"decisions", "finished", "seeds_needed"}` of a test that has seen `scores` (agent -> scores)."""
    return {"decisions": test.decisions(), "finished": test.is_finished,
            "seeds_needed": {} if test.is_finished else test.seeds_needed(scores)}


def _group_by_settings(members: list[catalogue.MemberResult]) -> dict[str, list[catalogue.MemberResult]]:
    """Agents = algorithm + the settings in which that algorithm's runs differ (the env aside)."""
    groups: dict[str, list[catalogue.MemberResult]] = {}
    for algo in dict.fromkeys(m.algo for m in members):
        mine = [m for m in members if m.algo == algo]
        keys = sorted({k for m in mine for k in m.settings})
        differ = [k for k in keys if len({repr(m.settings.get(k)) for m in mine}) > 1 and k != "total_timesteps"]
        for m in mine:
            label = " ".join([algo, *(f"{k}={_short(m.settings.get(k))}" for k in differ)])
            groups.setdefault(label, []).append(m)
    return groups


def _by_env(members, value) -> dict[str, np.ndarray]:
    out: dict[str, list[float]] = {}
    for m in members:
        out.setdefault(m.env, []).append(value(m))
    return {env: np.asarray(v, float) for env, v in out.items()}


def _curve(members: list[catalogue.MemberResult]) -> tuple[np.ndarray, np.ndarray]:
    """Steps `[points]` logged by every member, and the members' eval returns there `[runs, points]`."""
    steps = sorted(set.intersection(*(set(s for s, _ in m.curve) for m in members))) if members else []
    return np.asarray(steps), np.asarray([[dict(m.curve)[s] for s in steps] for m in members], float)


def _matrices(scores: Scores, envs: list[str], norm, notes: list[str]) -> dict[str, np.ndarray]:
    """`{agent: [runs, tasks]}` over `envs` (agents with all of them; runs cut to the fewest per env)."""
    out = {}
    for agent, by_env in scores.final.items():
        if not all(env in by_env for env in envs):
            continue
        runs = min(len(by_env[env]) for env in envs)
        if any(len(by_env[env]) != runs for env in envs):
            notes.append(f"{agent}: {runs} runs per env used in the aggregate (the fewest of its envs).")
        matrix = np.stack([by_env[env][:runs] for env in envs], axis=1)
        if norm is not None:
            matrix = stats.normalize(matrix, [norm[e][0] for e in envs], [norm[e][1] for e in envs])
        out[agent] = matrix
    return out


def _checked(scores: Scores, where: str) -> Scores:
    few = [f"{agent} on {env} ({len(v)} run)" for agent, by_env in scores.final.items() for env, v in by_env.items()
           if len(v) < 2]
    if few:
        raise ValueError(f"Comparing needs at least 2 runs (seeds) per agent and env for a confidence interval, "
                         f"but in {where}: {', '.join(few)}. Train more seeds (--seeds N).")
    if len(scores.final) < 2:
        raise ValueError(f"Comparing needs at least 2 agents, but {where} hold one ({', '.join(scores.final)}); "
                         "give runs that differ in their settings, or --label NAME=DIR,...")
    return scores


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def to_json(result: Comparison) -> dict[str, Any]:
    """The comparison as plain data: every estimate and improvement with its interval, AdaStop's decisions."""

    def interval(i: stats.Interval) -> dict[str, float]:
        return {"estimate": float(i.point), "lower": float(i.lower), "upper": float(i.upper)}

    return {
        "agents": result.scores.agents, "envs": result.scores.envs,
        "runs": {a: {e: len(v) for e, v in by_env.items()} for a, by_env in result.scores.final.items()},
        "normalization": result.normalization,
        "estimates": [{"agent": a, "env": e, "metric": m, **interval(i)} for a, e, m, i in result.estimates],
        "probability_of_improvement": [{"x": x, "y": y, "env": e, **interval(i)} for x, y, e, i in result.improvements],
        "adastop": {env: {"finished": r["finished"],
                          "decisions": [dataclasses.asdict(d) for d in r["decisions"]],
                          "seeds_needed": {a: s._asdict() for a, s in r["seeds_needed"].items()}}
                    for env, r in result.adastop.items()},
        "notes": result.notes,
    }


def format_table(result: Comparison) -> str:
    """The estimates per env (and aggregated), the probabilities of improvement and AdaStop's decisions."""
    lines = []
    envs = [*result.scores.envs, *([ALL] if any(e == ALL for _, e, _, _ in result.estimates) else [])]
    width = max(len(a) for a in result.scores.agents) + 2
    for env in envs:
        title = f"{env} (normalised scores)" if env == ALL else env
        lines += ["", f"{title}:", f"{'agent':<{width}}{'runs':>5}" + "".join(f"{m:>26}" for m in ESTIMATORS)]
        for agent in result.scores.agents:
            cells = {m: i for a, e, m, i in result.estimates if a == agent and e == env}
            if cells:
                runs = len(result.scores.final[agent].get(env, [])) if env != ALL else ""
                lines.append(f"{agent:<{width}}{runs:>5}" + "".join(
                    f"{_fmt(cells[m].point):>10} [{_fmt(cells[m].lower)}, {_fmt(cells[m].upper)}]".rjust(26)
                    for m in ESTIMATORS))
    lines += ["", "P(X > Y), probability of improvement with its CI:"]
    for x, y, env, i in result.improvements:
        if x < y:
            lines.append(f"  {env:<14} {x} > {y}: {i.point:.3f} [{i.lower:.3f}, {i.upper:.3f}]")
    for env, r in result.adastop.items():
        lines += ["", f"AdaStop on {env}:"]
        for d in r["decisions"]:
            when = f"at interim {d.interim + 1}" if d.interim is not None else "undecided"
            lines.append(f"  {d.agent1} vs {d.agent2}: {d.decision} ({when}; means {d.mean1:.4g} vs {d.mean2:.4g})")
        for agent, need in r["seeds_needed"].items():
            lines.append(f"  {agent}: {need.next_interim} more seed(s) for the next interim, "
                         f"at most {need.at_most} in all")
    return "\n".join(lines + [f"note: {n}" for n in dict.fromkeys(result.notes)]).lstrip("\n")


def plot(result: Comparison, path: Path, reps: int = 2000, seed: int = 0) -> Path:
    """compare.png: sample-efficiency curves (IQM, CI bands; from run directories), the performance
    profile and the interval estimates, on the aggregate when there is one, else the first env."""
    label = ALL if any(e == ALL for _, e, _, _ in result.estimates) else result.scores.envs[0]
    envs = result.scores.envs if label == ALL else [label]
    norm = result.normalization if label == ALL else None
    matrices = _matrices(result.scores, envs, norm, [])
    fig, axes = rundir.new_figure(1, 3, figsize=(16, 4.5), layout="constrained")
    _plot_curves(axes[0], result.scores, envs, norm, reps, seed)
    lows, highs = [m.min() for m in matrices.values()], [m.max() for m in matrices.values()]
    taus = np.linspace(min(lows), max(highs), 60)
    for agent, profile in stats.performance_profiles(matrices, taus, reps, seed=seed).items():
        (line,) = axes[1].plot(taus, profile.point, label=agent)
        axes[1].fill_between(taus, profile.lower, profile.upper, color=line.get_color(), alpha=0.2, lw=0)
    axes[1].set(xlabel="score" + (" (normalised)" if norm else ""), ylabel="fraction of runs with score > tau",
                title=f"performance profile: {label}")
    cells = [(a, i) for a, e, m, i in result.estimates if e == label and m == "iqm"]
    ys = np.arange(len(cells))
    axes[2].errorbar([i.point for _, i in cells], ys, fmt="o",
                     xerr=[[i.point - i.lower for _, i in cells], [i.upper - i.point for _, i in cells]])
    axes[2].set(yticks=ys, yticklabels=[a for a, _ in cells], xlabel="IQM (95% CI)", title=f"interval estimates: {label}")
    for ax in axes:
        ax.grid(alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=7)
    fig.savefig(path, dpi=100)
    return path


def _plot_curves(ax, scores: Scores, envs: list[str], norm, reps: int, seed: int) -> None:
    """IQM of eval return vs steps with CI bands, for agents whose runs logged the same steps."""
    curves = {}
    for agent, by_env in scores.curves.items():
        parts = [by_env.get(env) for env in envs]
        if any(p is None or not len(p[0]) for p in parts) or len({tuple(p[0]) for p in parts}) != 1:
            continue
        runs = min(p[1].shape[0] for p in parts)
        values = np.stack([p[1][:runs] for p in parts], axis=1)  # [runs, envs, points]
        if norm is not None:
            lo = np.asarray([norm[e][0] for e in envs])[None, :, None]
            hi = np.asarray([norm[e][1] for e in envs])[None, :, None]
            values = (values - lo) / (hi - lo)
        curves[agent] = (parts[0][0], values)
    intervals = stats.sample_efficiency_curves({a: v for a, (_, v) in curves.items()}, reps=reps, seed=seed)
    for agent, interval in intervals.items():
        steps = curves[agent][0]
        (line,) = ax.plot(steps, interval.point, label=agent)
        ax.fill_between(steps, interval.lower, interval.upper, color=line.get_color(), alpha=0.2, lw=0)
    rundir.steps_axis(ax)
    ax.set(xlabel="environment steps (per run)", ylabel="IQM eval return" + (" (normalised)" if norm else ""),
           title="sample efficiency" if intervals else "sample efficiency (no common curves)")


def _fmt(value: float) -> str:
    return f"{value:.4g}"
