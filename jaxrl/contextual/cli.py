"""`jaxrl contextual matrix|select`: the command-line wiring of `jaxrl.contextual` (registered by
`jaxrl.cli`, which reports a `ConfigError` as one paragraph and exit status 2).

    jaxrl contextual matrix ALGO --env ENV --context FIELD=LO:HI:N [--context FIELD=LO:HI:N] [--seeds 4]
                            [--total-timesteps T] [--set KEY=VALUE ...] [--eval-episodes 16] [--budget K]
                            [--no-multitask] [--out DIR] [--name NAME]
    jaxrl contextual select MATRIX_DIR --strategy mbtl|greedy|random|all [--budget K] [--beta 1.0] [--json]
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Literal

import tyro

from jaxrl.agents import list_agents

AlgoName = Literal[tuple(list_agents())]  # type: ignore[valid-type]


@dataclasses.dataclass
class Matrix:
    """Train one policy per source context (x seeds, plus one multi-task policy per seed) as one program,
    evaluate each on every target context; writes OUT/NAME/ with matrix.csv, heatmap.png, and the
    strategies' report (strategies.csv/.json/.png: aggregate vs trained tasks, with 95% CIs)."""

    algo: tyro.conf.Positional[AlgoName]
    """Algorithm."""
    env: str = "CartPole-v1"
    """Environment (a registered name or package.module:Class)."""
    context: Annotated[list[str], tyro.conf.arg(metavar="FIELD=LO:HI:N")] = dataclasses.field(default_factory=list)
    """Varied params fields (1 or 2): N evenly spaced values from LO to HI, or FIELD=N for a built-in preset range."""
    seeds: int = 4
    """Seeds per context."""
    total_timesteps: int | None = None
    """Environment steps per member (default: the tuned config's)."""
    set: Annotated[list[str], tyro.conf.arg(metavar="KEY=VALUE")] = dataclasses.field(default_factory=list)
    """Agent settings shared by every member."""
    eval_episodes: int = 16
    """Deterministic episodes per (policy, target context)."""
    multitask: bool = True
    """Also train one policy per seed on the whole space (a fresh context every episode)."""
    budget: int | None = None
    """Trained tasks in the strategies' report (default: all contexts)."""
    out: str = "runs"
    """Parent folder of the matrix directory."""
    name: str | None = None
    """Matrix directory name (default: contextual-ALGO-ENV-TIMESTAMP)."""
    progress: bool = True
    """Show a progress bar."""


@dataclasses.dataclass
class Select:
    """Run task-selection strategies on a matrix directory (precomputed: every source was trained once);
    prints the sources each picks and the aggregate vs trained tasks with 95% CIs over seeds."""

    matrix_dir: tyro.conf.Positional[str]
    """Directory written by jaxrl contextual matrix."""
    strategy: Literal["mbtl", "greedy", "random", "all"] = "mbtl"
    """mbtl (Gaussian process + linear generalisation gap), greedy (oracle upper bound), random, or all."""
    budget: int | None = None
    """Number of tasks to train, k (default: all contexts)."""
    beta: float = 1.0
    """MBTL: weight of the GP's standard deviation in the acquisition (0: the posterior mean alone)."""
    json: bool = False
    """Print the report as JSON."""


@dataclasses.dataclass
class Contextual:
    """Contextual RL: generalisation matrices over env-param contexts and task selection (MBTL)."""

    command: tyro.conf.OmitArgPrefixes[
        Annotated[Matrix, tyro.conf.subcommand("matrix", prefix_name=False)]
        | Annotated[Select, tyro.conf.subcommand("select", prefix_name=False)]
    ]


def run(cmd: Contextual) -> int:
    if isinstance(cmd.command, Matrix):
        return _matrix(cmd.command)
    return _select(cmd.command)


def _matrix(cmd: Matrix) -> int:
    from jaxrl.cli import _pairs
    from jaxrl.config import resolve
    from jaxrl.contextual.matrix import train_matrix
    from jaxrl.contextual.report import check_budget, format_table, make_report, write_report
    from jaxrl.contextual.space import context_space

    settings = _pairs("--set", cmd.set)
    fixed = resolve(cmd.algo, cmd.env, settings).env_kwargs  # --set env.FIELD=V: fixed in every context
    space = context_space(cmd.env, cmd.context, fixed)
    check_budget(len(space.grid), cmd.budget)  # before training
    result = train_matrix(cmd.algo, space, seeds=cmd.seeds, config=settings,
                          total_timesteps=cmd.total_timesteps, eval_episodes=cmd.eval_episodes,
                          multitask=cmd.multitask, out=cmd.out, name=cmd.name, progress=cmd.progress)
    report = make_report(result, cmd.budget)
    s = result.summary
    write_report(report, result.path, f"{s['algo']} on {s['env']}: {', '.join(s['context'])}, {len(result.seeds)} seeds")
    print(format_table(report))
    print(f"{s['num_members']} members, num_compiles {s['num_compiles']}, compile {s['compile_s']:.1f} s, "
          f"train {s['train_s']:.1f} s, matrix eval {s['matrix_eval_s']:.1f} s; wrote {result.path}")
    return 0


def _select(cmd: Select) -> int:
    from jaxrl.contextual.matrix import load_matrix
    from jaxrl.contextual.report import format_table, make_report, strategy_orders

    result = load_matrix(cmd.matrix_dir)
    report = make_report(result, cmd.budget, cmd.beta)
    names = list(report["strategies"]) if cmd.strategy == "all" else [cmd.strategy]
    report["strategies"] = {k: v for k, v in report["strategies"].items() if k in names}
    labels = result.space.labels()
    report["orders"] = {name: {str(seed): [labels[i] for i in order] for seed, order in
                               zip(result.seeds, strategy_orders(result, name, cmd.budget, cmd.beta))}
                        for name in names if name != "random"}
    if cmd.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, per_seed in report["orders"].items():
        for seed, order in per_seed.items():
            print(f"{name} seed {seed}: {' | '.join(order)}")
    print(format_table(report))
    return 0

