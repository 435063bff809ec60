"""Sweeps: populations of runs (hyperparameters x seeds), one compiled program per static group.

`sweep("ppo", env="CartPole-v1", grid={"learning_rate": [1e-3, 3e-4], "num_envs": [8, 16]}, seeds=4)`
expands the Cartesian product of `grid` (and/or `random` samples of `ranges`) times the seeds into
members, groups them by their static (shape-changing) settings, and trains each group as ONE vmapped
program whose traced hyperparameters differ per member. The sweep directory holds

* `sweep.json`: what was asked (algo, env, grid, ranges, seeds, base settings, strategy);
* `groups/group-NN/`: a normal run directory per static group (metrics.csv has a `member` column);
* `sweep.csv`: one row per member: every setting, seed, final eval return, steps/s;
* `summary.json`: counts, `num_compiles` (one per static group), timings and the ranking;
* `sweep.png`: learning curves (mean over seeds) of the best configurations;
* `lineage.csv` with population-based training (see `jaxrl.pbt`; each compiled part of the
  population, and each process's slice, evolves on its own).

A group too large for device memory is split into equal parts automatically (the compiled
program's memory analysis decides), or by `max_members`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl import rundir
from jaxrl.config import ConfigError, ResolvedConfig, check_seed, hparams_dict, resolve, with_members
from jaxrl.envs import make


@dataclasses.dataclass(frozen=True)
class Range:
    """A random-search range: uniform in [low, high], or log-uniform with `log=True`."""

    low: float
    high: float
    log: bool = False

    @classmethod
    def parse(cls, key: str, text: str) -> Range:
        """`"LO:HI"` or `"LO:HI:log"` (as given to `--range KEY=LO:HI[:log]`)."""
        parts = text.split(":")
        try:
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
                raise ValueError
            low, high = float(parts[0]), float(parts[1])
        except ValueError:
            raise ConfigError(f"--range {key}={text!r} is not LO:HI or LO:HI:log (e.g. 1e-4:1e-2:log).") from None
        return cls(low, high, len(parts) == 3).checked(key)

    def checked(self, key: str) -> Range:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ConfigError(f"Range for {key} must have low < high (and low > 0 when log), got {self}.")
        return self

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))


@dataclasses.dataclass
class Member:
    """One run of a sweep: a configuration (the swept settings) and a seed."""

    index: int
    config_id: int
    settings: dict[str, Any]
    seed: int
    resolved: ResolvedConfig | None = None


@dataclasses.dataclass
class SweepResult:
    """What `sweep` returns: one row per member, the ranking of configurations and the summary."""

    rows: list[dict[str, Any]]
    ranking: list[dict[str, Any]]
    summary: dict[str, Any]
    sweep_dir: Path | None
    runs: list[Any]  # the TrainResult of every group (part)

    @property
    def best(self) -> dict[str, Any]:
        return self.ranking[0]

    def __repr__(self) -> str:
        s = self.summary
        return (f"SweepResult({s['algo']} on {s['env']}: {s['num_members']} members, {s['num_groups']} groups, "
                f"best {self.best['settings']} -> {self.best['mean']:.2f}, sweep_dir={str(self.sweep_dir)!r})")


def expand(grid: Mapping[str, Sequence[Any]] | None, random: int, ranges: Mapping[str, Range] | None,
           seeds: int | Sequence[int], sample_seed: int = 0) -> list[Member]:
    """Members = (grid product x `random` samples of `ranges`) x seeds, configurations outermost."""
    grid = dict(grid or {})
    ranges = dict(ranges or {})
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ConfigError(f"grid[{key!r}] must be a non-empty list of values, got {values!r}.")
    both = sorted(set(grid) & set(ranges))
    if both:
        raise ConfigError(f"{', '.join(both)} cannot be both a grid key and a random range.")
    if random < 0:
        raise ConfigError(f"random (the number of random configurations) must be >= 0, got {random}.")
    if (random == 0) != (not ranges):
        raise ConfigError(f"random={random} samples need ranges (and ranges need random >= 1); got ranges for "
                          f"{sorted(ranges) or 'nothing'}.")
    points = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    if random:
        rng = np.random.default_rng(check_seed(sample_seed, "sample_seed"))
        samples = [{k: r.sample(rng) for k, r in ranges.items()} for _ in range(random)]
        points = [{**p, **s} for p in points for s in samples]
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ConfigError(f"seeds must be a positive count or a list of distinct ints, got {seeds!r}.")
    return [Member(i * len(seed_list) + j, i, point, seed)
            for i, point in enumerate(points) for j, seed in enumerate(seed_list)]


def group_members(algo: str, env: str, members: list[Member], base: Mapping[str, Any],
                  total_timesteps: int | None) -> tuple[list[ResolvedConfig], list[list[Member]]]:
    """Resolve every member and merge those with equal static settings into one population each.

    Returns the populations and, for each, its members in population order (first-seen order of
    the groups). Raises ConfigError (before anything compiles) on any bad setting or value.
    """
    groups: dict[tuple, list[Member]] = {}
    for member in members:
        member.resolved = resolve(algo, env, {**base, **member.settings}, seeds=[member.seed],
                                  total_timesteps=total_timesteps)
        r = member.resolved
        groups.setdefault((r.config, r.run, tuple(sorted(r.env_kwargs.items()))), []).append(member)
    populations = [with_members(group[0].resolved, [m.seed for m in group],
                                [hparams_dict(m.resolved.hparams) for m in group]) for group in groups.values()]
    return populations, list(groups.values())


def sweep(
    algo: str = "ppo",
    env: str = "CartPole-v1",
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    random: int = 0,
    ranges: Mapping[str, Range | tuple | str] | None = None,
    seeds: int | Sequence[int] = 1,
    config: Mapping[str, Any] | None = None,
    total_timesteps: int | None = None,
    out: str | Path | None = "runs",
    name: str | None = None,
    max_members: int | None = None,
    sample_seed: int = 0,
    pbt: Any = None,
    progress: bool = True,
    top: int = 5,
    resume: str | Path | None = None,
) -> SweepResult:
    """Train every (configuration, seed) member; one compiled program per static group.

    `grid` maps setting names to lists of values (CLI strings are fine); `random` draws that many
    configurations from `ranges` (`Range`, `(low, high[, "log"])` or `"LO:HI[:log]"`), crossed with
    the grid. `config` holds settings shared by every member. `max_members` caps the members per
    compiled program (default: as many as fit in device memory). `pbt` (a `jaxrl.pbt.PBT`) turns on
    population-based training over the traced swept settings. With several processes
    (`jax.distributed.initialize()`), each runs every process_count-th member. `resume=SWEEP_DIR`
    continues a stopped sweep with the settings in its sweep.json (see `resume_sweep`). Returns a
    `SweepResult`.
    """
    import jax

    from jaxrl import population, training

    wall_start = time.perf_counter()
    ranges = {k: _as_range(k, v) for k, v in (ranges or {}).items()}
    members = expand(grid, random, ranges, seeds, sample_seed)
    groups, members_by_group = group_members(algo, env, members, dict(config or {}), total_timesteps)
    if max_members is not None and max_members < 1:
        raise ConfigError(f"max_members must be >= 1 (members per compiled program), got {max_members}.")
    if pbt is not None:
        pbt.check(groups, swept=[*(grid or {}), *ranges])
    env_name = groups[0].env
    env_obj, env_params = make(env_name, **groups[0].env_kwargs)
    for group in groups:  # e.g. an action space the agent cannot handle, before anything is written
        population.build_agent(group, env_obj, env_params)

    process, num_processes = jax.process_index(), jax.process_count()
    sweep_path = None
    if resume is not None:
        sweep_path = Path(resume)
    elif out is not None:
        sweep_path = _sweep_dir(out, name or rundir.default_run_name(f"sweep-{groups[0].algo}", env_name),
                                process)
        if process == 0:
            rundir.write_json(sweep_path / "sweep.json", {
                "algo": groups[0].algo, "env": env_name, "grid": {k: list(v) for k, v in (grid or {}).items()},
                "random": random, "ranges": {k: dataclasses.asdict(r) for k, r in ranges.items()},
                "sample_seed": sample_seed, "seeds": seeds if isinstance(seeds, int) else list(seeds),
                "config": dict(config or {}), "total_timesteps": total_timesteps, "max_members": max_members,
                "pbt": None if pbt is None else dataclasses.asdict(pbt), "num_processes": num_processes,
                "versions": rundir.versions(), "git_commit": rundir.git_commit(),
            })

    runs, parts_members, num_compiles, compile_s = [], [], 0, 0.0
    member_rows: list[dict[str, Any]] = []
    for g, group in enumerate(groups):
        mine = list(range(process, len(group.seeds), num_processes))
        if not mine:
            continue
        suffix = f"-process-{process}" if num_processes > 1 else ""
        started = _started_parts(sweep_path, g, suffix) if resume is not None else None
        if started:  # resuming: keep the split the sweep started with
            cap = len(json.loads((started / "config.json").read_text())["seeds"])
        elif max_members:
            cap = max_members
        else:
            mine_only = _subset(group, mine)
            cap, compiled, seconds = population.capacity(mine_only, env_obj, env_params, population.layout(mine_only))
            num_compiles, compile_s = num_compiles + compiled, compile_s + seconds
        parts = [mine[i : i + cap] for i in range(0, len(mine), cap)]
        for p, indices in enumerate(parts):
            part = _subset(group, indices)
            label = f"group-{g:02d}" + (f"-part-{p}" if len(parts) > 1 else "") + suffix
            part_members = [members_by_group[g][i] for i in indices]
            hook = None if pbt is None else pbt.make_hook(part, sweep_path, [*(grid or {}), *ranges],
                                                          [m.index for m in part_members])
            existing = None if resume is None else sweep_path / "groups" / label
            if existing is not None and (existing / "summary.json").exists():
                result = training.load_finished(existing)
            elif existing is not None and (existing / "config.json").exists():
                result = training.resume_population(existing, progress=progress, between_chunks=hook,
                                                    min_size=len(parts[0]))
            else:
                run_dir = None if sweep_path is None else rundir.create_run_dir(sweep_path / "groups", label)
                result = training.train_population(part, env_obj, env_params, run_dir, progress=progress,
                                                   min_size=len(parts[0]), between_chunks=hook)
            runs.append(result)
            parts_members.append(part_members)
            num_compiles += result.summary["num_compiles"]
            compile_s += result.summary["compile_s"]
            member_rows += [_member_row(m, part, i, result, label, evolved=pbt is not None)
                            for i, m in enumerate(part_members)]

    if num_processes > 1:
        member_rows, num_compiles, compile_s = _gather_processes(sweep_path, member_rows, num_compiles, compile_s)
    member_rows.sort(key=lambda r: r["member"])
    ranking = rank(member_rows, list(members[0].settings))
    summary = {
        "algo": groups[0].algo, "env": env_name, "num_members": len(members),
        "num_configs": len({m.config_id for m in members}), "num_groups": len(groups),
        "num_compiles": num_compiles, "compile_s": round(compile_s, 4),
        "train_s": round(sum(r.summary["train_s"] for r in runs), 4),
        "wall_s": round(time.perf_counter() - wall_start, 4), "num_processes": num_processes,
        "best": ranking[0], "ranking": ranking, "sweep_dir": str(sweep_path) if sweep_path else None,
    }
    if sweep_path is not None and process == 0:
        _write_csv(sweep_path / "sweep.csv", member_rows)
        rundir.write_json(sweep_path / "summary.json", summary)
        plot_best(runs, parts_members, ranking[:top], sweep_path / "sweep.png",
                  f"{summary['algo']} on {env_name}: best {min(top, len(ranking))} configurations")
    return SweepResult(member_rows, ranking, summary, sweep_path, runs)


def resume_sweep(sweep_dir: str | Path, *, progress: bool = True) -> SweepResult:
    """Continue the sweep in `sweep_dir` with the settings in its sweep.json: finished groups are
    read back, interrupted ones resume from their last checkpoint (as `jaxrl.resume`), and groups
    that never started are trained; then sweep.csv, summary.json and sweep.png are (re)written."""
    path = Path(sweep_dir)
    try:
        spec = json.loads((path / "sweep.json").read_text())
    except FileNotFoundError:
        raise ConfigError(f"{str(path)!r} is not a jaxrl sweep directory (no sweep.json in it).") from None
    from jaxrl.pbt import PBT

    return sweep(spec["algo"], spec["env"], grid=spec["grid"], random=spec["random"],
                 ranges={k: Range(**v) for k, v in spec["ranges"].items()}, seeds=spec["seeds"],
                 config=spec["config"], total_timesteps=spec["total_timesteps"], max_members=spec["max_members"],
                 sample_seed=spec["sample_seed"], pbt=PBT(**spec["pbt"]) if spec["pbt"] else None,
                 progress=progress, resume=path)


def rank(rows: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """Configurations by mean final eval return over their seeds (best first), with the spread."""
    by_config: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_config.setdefault(row["config_id"], []).append(row)
    ranking = []
    for config_id, group in by_config.items():
        returns = np.asarray([r["final_eval_return"] for r in group], float)
        ranking.append({
            "config_id": config_id, "settings": {k: group[0][k] for k in keys},
            "mean": float(returns.mean()), "std": float(returns.std()),
            "min": float(returns.min()), "max": float(returns.max()), "seeds": len(group),
        })
    ranking.sort(key=lambda r: (-r["mean"], r["config_id"]))
    for position, entry in enumerate(ranking, 1):
        entry["rank"] = position
    return ranking


def format_ranking(ranking: list[dict[str, Any]], limit: int = 20) -> str:
    """The ranking as a plain-text table."""
    keys = list(ranking[0]["settings"]) if ranking else []
    header = ["rank", *keys, "mean", "std", "min", "max", "seeds"]
    lines = [[str(r["rank"]), *(_short(r["settings"][k]) for k in keys), f"{r['mean']:.2f}", f"{r['std']:.2f}",
              f"{r['min']:.2f}", f"{r['max']:.2f}", str(r["seeds"])] for r in ranking[:limit]]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)] if lines else []
    text = [" ".join(h.rjust(w) for h, w in zip(header, widths))]
    text += [" ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines]
    if len(ranking) > limit:
        text.append(f"... {len(ranking) - limit} more configurations in sweep.csv")
    return "\n".join(text)


def plot_best(runs, parts_members: list[list[Member]], best: list[dict[str, Any]], path: Path, title: str) -> None:
    """Mean eval return over seeds vs steps for each configuration in `best` (`runs[i]` trained the
    members `parts_members[i]`)."""
    curves: dict[int, dict[int, list[float]]] = {}
    for run, part in zip(runs, parts_members):
        for row in run.metrics:
            if not math.isnan(row["eval_return"]):
                member = part[row["member"]]
                curves.setdefault(member.config_id, {}).setdefault(row["step"], []).append(row["eval_return"])
    fig, ax = rundir.new_figure(figsize=(7, 4.5))
    for entry in best:
        points = sorted(curves.get(entry["config_id"], {}).items())
        if points:
            label = ", ".join(f"{k}={_short(v)}" for k, v in entry["settings"].items()) or "default"
            ax.plot([s for s, _ in points], [np.mean(v) for _, v in points], lw=1.6,
                    label=f"#{entry['rank']} {label}")
    rundir.save_plot(fig, ax, path, "environment steps (per member)", "eval return (mean over seeds)", title,
                     title_size=10)


def _as_range(key: str, value: Any) -> Range:
    if isinstance(value, Range):
        return value.checked(key)
    if isinstance(value, str):
        return Range.parse(key, value)
    if isinstance(value, (tuple, list)) and len(value) in (2, 3):
        if len(value) == 3 and value[2] != "log":
            raise ConfigError(f"ranges[{key!r}] must be (low, high) or (low, high, 'log'), got {value!r}.")
        return Range(float(value[0]), float(value[1]), len(value) == 3).checked(key)
    raise ConfigError(f"ranges[{key!r}] must be (low, high), (low, high, 'log') or 'LO:HI[:log]', got {value!r}.")


def _started_parts(sweep_path: Path, group: int, suffix: str) -> Path | None:
    """The first run directory of group `group` (whole or part 0) a resumed sweep finds, if any."""
    for label in (f"group-{group:02d}{suffix}", f"group-{group:02d}-part-0{suffix}"):
        if (sweep_path / "groups" / label / "config.json").exists():
            return sweep_path / "groups" / label
    return None


def _sweep_dir(out: str | Path, name: str, process: int) -> Path:
    path = Path(out) / name
    if process == 0:
        return rundir.create_run_dir(out, name)
    path.mkdir(parents=True, exist_ok=True)  # process 0 owns the check that it is new
    return path


def _subset(group: ResolvedConfig, indices: list[int]) -> ResolvedConfig:
    return dataclasses.replace(group, seeds=tuple(group.seeds[i] for i in indices),
                               member_hparams=tuple(group.members[i] for i in indices))


def _member_row(member: Member, part: ResolvedConfig, i: int, result, label: str, evolved: bool) -> dict[str, Any]:
    """The member's sweep.csv row. With PBT (`evolved`) its settings are the final evolved ones and
    it is its own configuration in the ranking."""
    final = result.summary["member_hparams"][i] if evolved else hparams_dict(part.members[i])
    settings = {**dataclasses.asdict(part.config), **final}
    row = {"member": member.index, "config_id": member.index if evolved else member.config_id,
           **{k: settings.get(k, v) for k, v in member.settings.items()}}
    row.update(seed=member.seed, final_eval_return=result.summary["final_eval_return"][i],
               params_sha256=result.summary["params_sha256"][i],
               steps_per_s=result.summary["steps_per_s"] / len(part.seeds), group=label)
    row.update({k: _plain(v) for k, v in settings.items() if k not in row})
    return row


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv

    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns and not k.startswith("_")]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.7g}" if isinstance(v, float) else v) for k, v in row.items()})


def _gather_processes(sweep_path: Path | None, rows: list[dict[str, Any]], num_compiles: int, compile_s: float,
                      timeout_s: float = 24 * 3600.0):
    """Multi-process sweeps: every process writes its members' rows to the (shared) sweep directory;
    process 0 waits for all of them and returns the union, the others return their own rows."""

    import jax

    process, count = jax.process_index(), jax.process_count()
    if sweep_path is None:
        return rows, num_compiles, compile_s
    rundir.write_json(sweep_path / f"members-process-{process}.json",
                      {"rows": rows, "num_compiles": num_compiles, "compile_s": compile_s})
    if process != 0:
        return rows, num_compiles, compile_s
    paths = [sweep_path / f"members-process-{p}.json" for p in range(count)]
    deadline = time.monotonic() + timeout_s
    while not all(p.exists() for p in paths):
        if time.monotonic() > deadline:
            missing = [p.name for p in paths if not p.exists()]
            raise TimeoutError(f"Sweep processes did not report within {timeout_s:.0f} s: {', '.join(missing)} missing.")
        time.sleep(0.5)
    parts = [json.loads(p.read_text()) for p in paths]
    return ([r for part in parts for r in part["rows"]], sum(p["num_compiles"] for p in parts),
            sum(p["compile_s"] for p in parts))
