"""The options of the `jaxrl` subcommands, one dataclass each: tyro builds the parser from them and
`docs/reference.py` writes docs/cli.md from their fields and docstrings (the command line itself
is `jaxrl.cli`)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import tyro

from jaxrl.agents import list_agents

# A built-in agent's name, or the import path of an AgentSpec (checked when the settings are resolved).
AlgoName = Annotated[str | None, tyro.conf.arg(metavar="{" + ",".join(list_agents()) + "}|package.module:SPEC")]


@dataclasses.dataclass
class Train:
    """Train an agent; writes OUT/NAME/ with config.json, metrics.csv, checkpoints/, summary.json and curve.png.

    Ctrl-C (SIGINT) or SIGTERM stops after the current chunk with a checkpoint saved (exit 130 / 143);
    `jaxrl train --resume RUN_DIR` then continues the run to its configured end.
    """

    algo: tyro.conf.Positional[AlgoName] = None
    """Algorithm (not with --resume)."""
    env: str = "CartPole-v1"
    """Environment: a registered name, gymnax:NAME, brax:NAME, jaxmarl:NAME or package.module:Class."""
    seeds: str = "1"
    """Number of independent runs N (seeds 0..N-1), or the seeds themselves (3,4,5), vmapped in one program."""
    total_timesteps: int | None = None
    """Environment steps per seed (default: the tuned config's)."""
    set: Annotated[list[str], tyro.conf.arg(metavar="KEY=VALUE")] = dataclasses.field(default_factory=list)
    """Settings by name, e.g. --set num_envs=64 learning_rate=1e-3 env.max_steps_in_episode=200."""
    out: str = "runs"
    """Parent folder of the run directory."""
    name: str | None = None
    """Run directory name (default: ALGO-ENV-TIMESTAMP)."""
    progress: bool = True
    """Show a progress bar."""
    resume: str | None = None
    """Continue the run in this run directory from its last good checkpoint (its config.json decides the rest)."""
    overwrite: bool = False
    """If OUT/NAME already holds a run, move it aside to NAME.old-TIMESTAMP (never deleted) and start afresh."""
    log: Annotated[list[str], tyro.conf.arg(metavar="BACKEND")] = dataclasses.field(default_factory=list)
    """Extra logging backends besides metrics.csv: tensorboard, wandb (offline unless WANDB_MODE=online)."""


@dataclasses.dataclass
class Sweep:
    """Train every (configuration, seed) of a grid and/or random search: one compiled program per static group.

    Writes OUT/NAME/ with sweep.csv (one row per member), summary.json (ranking, num_compiles),
    sweep.png (best learning curves) and groups/group-NN/ run directories; prints the ranking.
    """

    algo: tyro.conf.Positional[AlgoName] = None
    """Algorithm (not with --resume)."""
    env: str = "CartPole-v1"
    """Environment (as for train)."""
    grid: Annotated[list[str], tyro.conf.arg(metavar="KEY=V1,V2")] = dataclasses.field(default_factory=list)
    """Grid axes, e.g. --grid learning_rate=1e-3,3e-4 num_envs=8,16 (a tuple value in brackets: hidden_sizes=[64,64],[32])."""
    random: int = 0
    """Number of random configurations drawn from --range (crossed with the grid)."""
    range: Annotated[list[str], tyro.conf.arg(metavar="KEY=LO:HI[:log]")] = dataclasses.field(default_factory=list)
    """Random-search ranges, e.g. --range learning_rate=1e-4:1e-2:log ent_coef=0:0.02."""
    seeds: int = 1
    """Seeds per configuration."""
    total_timesteps: int | None = None
    """Environment steps per member (default: the tuned config's)."""
    set: Annotated[list[str], tyro.conf.arg(metavar="KEY=VALUE")] = dataclasses.field(default_factory=list)
    """Settings shared by every member."""
    out: str = "runs"
    """Parent folder of the sweep directory."""
    name: str | None = None
    """Sweep directory name (default: sweep-ALGO-ENV-TIMESTAMP)."""
    max_members: int | None = None
    """Members per compiled program (default: as many as fit in device memory)."""
    sample_seed: int = 0
    """Seed of the random search's draws."""
    pbt: bool = False
    """Population-based training over the swept traced settings (one static group)."""
    pbt_fraction: float = 0.25
    """PBT: the bottom (and top) fraction of the population that is replaced (and copied)."""
    pbt_perturb: float = 0.2
    """PBT: explore by multiplying each swept setting by 1 - p or 1 + p."""
    pbt_every: int = 1
    """PBT: exploit/explore every this many logged points."""
    progress: bool = True
    """Show a progress bar per group."""
    resume: str | None = None
    """Continue the sweep in this sweep directory (its sweep.json decides the rest)."""


@dataclasses.dataclass
class Eval:
    """Evaluate a trained run's final (or --step) policy; prints the return distribution per seed."""

    run_dir: tyro.conf.Positional[str]
    """Run directory written by jaxrl train."""
    episodes: int | None = None
    """Episodes per seed (default: the run's eval_episodes)."""
    env: str | None = None
    """Evaluate on this environment instead (same observation and action spaces)."""
    step: int | None = None
    """Checkpoint step (environment steps per seed; default: the final checkpoint)."""
    stochastic: bool = False
    """Sample actions instead of taking the most likely one (a run trained with eval_stochastic=true
    is always evaluated so)."""
    seed: int | None = None
    """Evaluation key (default: the run's eval_seed)."""


@dataclasses.dataclass
class Compare:
    """Compare agents with IQM, mean and median (stratified bootstrap CIs), probability of improvement
    and, with --adastop, AdaStop's decisions; writes compare.png (sample-efficiency curves, performance
    profile, interval estimates) into --out and prints where.

    Agents are the runs' algorithm + the settings in which the runs differ, or --label NAME=DIR,...
    """

    paths: tyro.conf.Positional[list[str]] = dataclasses.field(default_factory=list)
    """Run directories, sweep directories or folders holding them (not with --scores)."""
    scores: str | None = None
    """A CSV with columns agent,env,seed,score instead of run directories (results of any framework)."""
    label: Annotated[list[str], tyro.conf.arg(metavar="NAME=DIR,DIR")] = dataclasses.field(default_factory=list)
    """Name the agents yourself: each NAME gets the runs under its directories."""
    normalize: Annotated[list[str], tyro.conf.arg(metavar="ENV=MIN:MAX")] = dataclasses.field(default_factory=list)
    """Score range per env for the aggregate over envs (built-in envs have one)."""
    out: str = "."
    """Folder for compare.png."""
    json: bool = False
    """Print the results as JSON instead of tables."""
    adastop: bool = False
    """Apply AdaStop to each env's final scores (seeds in order, n per agent per interim)."""
    run: Annotated[list[str], tyro.conf.arg(metavar="NAME=ALGO@ENV[,KEY=VALUE]")] = dataclasses.field(
        default_factory=list)
    """With --adastop: train the agents, n seeds per undecided agent per interim, until AdaStop decides
    (e.g. --run fast=ppo@CartPole-v1,learning_rate=3e-3 slow=ppo@CartPole-v1); results in OUT/adastop-TIME/."""
    total_timesteps: int | None = None
    """With --run: environment steps per seed (default: each agent's tuned config)."""
    progress: bool = True
    """With --run: show a progress bar per training."""
    n: int = 5
    """AdaStop: seeds per agent per interim."""
    K: int = 5
    """AdaStop: maximum number of interims."""
    alpha: float = 0.05
    """AdaStop: family-wise error rate."""
    reps: int = 2000
    """Bootstrap resamples."""
    confidence: float = 0.95
    """Confidence level of the intervals."""
    seed: int = 0
    """Seed of the bootstrap and AdaStop's permutations."""


@dataclasses.dataclass
class Runs:
    """A catalogue of run and sweep directories: what ran, final return (IQM with 95% CI over seeds),
    steps/s, wall time, date, versions and git commit."""

    paths: tyro.conf.Positional[list[str]] = dataclasses.field(default_factory=lambda: ["runs"])
    """Folders to look in (run directories below them are listed)."""
    sort: str = "date"
    """Column to sort by: date, algo, env, iqm, steps_per_s, wall_s, run_dir."""
    csv: str | None = None
    """Also write the catalogue to this CSV file."""


@dataclasses.dataclass
class Plot:
    """Redraw learning curves from run directories' metrics.csv (mean over seeds, min-max shaded)."""

    run_dirs: tyro.conf.Positional[list[str]]
    """Run directories (a sweep's groups/group-NN directories are run directories too)."""
    metric: str = "eval_return"
    """Any column of metrics.csv, e.g. episode_return, policy_loss, entropy."""
    out: str | None = None
    """Image to write (default: RUN_DIR/METRIC.png for one run, ./METRIC.png for several)."""


@dataclasses.dataclass
class Envs:
    """List environment names accepted by --env."""

    adapters: bool = True
    """Include gymnax:, brax: and jaxmarl: names (brax and jaxmarl only when installed)."""


@dataclasses.dataclass
class CheckEnv:
    """Run jaxrl's conformance checks on an environment (e.g. my_pkg.my_module:MyEnv)."""

    env: tyro.conf.Positional[str]
    """Environment name or package.module:Class."""
    set: Annotated[list[str], tyro.conf.arg(metavar="env.KEY=VALUE")] = dataclasses.field(default_factory=list)
    """Environment settings as for train, e.g. --set env.benchmark=trivial-21k env.max_steps_in_episode=50."""
