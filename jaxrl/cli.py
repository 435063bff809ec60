"""The `jaxrl` command line.

    jaxrl train ALGO --env ENV [--seeds N] [--total-timesteps T] [--set KEY=VALUE ...] [--out DIR] [--name NAME]
    jaxrl envs [--no-adapters]
    jaxrl check-env ENV
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Annotated, Literal

import tyro

from jaxrl.agents import list_agents

AlgoName = Literal[tuple(list_agents())]  # type: ignore[valid-type]


@dataclasses.dataclass
class Train:
    """Train an agent; writes OUT/NAME/ with config.json, metrics.csv, summary.json and curve.png."""

    algo: tyro.conf.Positional[AlgoName]
    """Algorithm."""
    env: str = "CartPole-v1"
    """Environment: a registered name, gymnax:NAME, brax:NAME or package.module:Class."""
    seeds: int = 1
    """Number of independent runs (seeds 0..N-1), vmapped in one compiled program."""
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


@dataclasses.dataclass
class Envs:
    """List environment names accepted by --env."""

    adapters: bool = True
    """Include gymnax: and brax: names (brax only when installed)."""


@dataclasses.dataclass
class CheckEnv:
    """Run jaxrl's conformance checks on an environment (e.g. my_pkg.my_module:MyEnv)."""

    env: tyro.conf.Positional[str]
    """Environment name or package.module:Class."""


def main(argv: list[str] | None = None) -> int:
    # `--env package.module:Class` imports from the current directory, as `python -m` would.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    command = tyro.extras.subcommand_cli_from_dict(
        {"train": Train, "envs": Envs, "check-env": CheckEnv},
        prog="jaxrl",
        description="jaxrl: JAX-native reinforcement learning. Whole training runs compile to one program.",
        args=argv,
    )
    try:
        if isinstance(command, Train):
            return _train(command)
        if isinstance(command, Envs):
            from jaxrl.envs import list_envs

            print("\n".join(list_envs(include_adapters=command.adapters)))
            return 0
        if isinstance(command, CheckEnv):
            return _check_env(command)
    except (ValueError, TypeError, FileExistsError) as exc:
        # User mistakes (bad names, values, paths) are reported in one paragraph, no traceback.
        print(f"jaxrl: error: {exc}", file=sys.stderr)
        return 2
    raise AssertionError(f"unhandled command {command!r}")


def _train(cmd: Train) -> int:
    from jaxrl.training import train

    overrides = {}
    for item in cmd.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE pairs, got {item!r}.")
        overrides[key.strip()] = value.strip()
    result = train(
        cmd.algo,
        cmd.env,
        seeds=cmd.seeds,
        total_timesteps=cmd.total_timesteps,
        config=overrides,
        out=cmd.out,
        name=cmd.name,
        progress=cmd.progress,
    )
    s = result.summary
    per_seed = ", ".join(f"{r:.1f}" for r in s["final_eval_return"])
    print(
        f"{s['algo']} on {s['env']}: final eval return {s['final_eval_return_mean']:.1f} "
        f"+- {s['final_eval_return_std']:.1f} over {len(s['seeds'])} seed(s) [{per_seed}] "
        f"({s['eval_episodes']} deterministic episodes each)\n"
        f"{s['total_timesteps']:,} steps/seed in {s['train_s']:.1f}s train + {s['compile_s']:.1f}s compile "
        f"({s['steps_per_s']:,.0f} steps/s); run directory: {s['run_dir']}"
    )
    return 0


def _check_env(cmd: CheckEnv) -> int:
    from jaxrl.envs import EnvCheckError, check_env, make

    env, params = make(cmd.env)
    try:
        report = check_env(env, params)
    except EnvCheckError as exc:
        print(f"jaxrl: check-env failed: {exc}", file=sys.stderr)
        return 1
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
