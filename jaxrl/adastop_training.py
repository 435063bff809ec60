"""`jaxrl compare --adastop --run NAME=ALGO@ENV[,KEY=VALUE...] ...`: AdaStop with training in the loop.

At each interim every agent still in an undecided pair trains its next `n` seeds (one vmapped
program per agent and interim, compiled once per static configuration), then AdaStop (Mathieu et
al. 2023; `jaxrl.stats.AdaStop`) tests the final evaluation returns. It stops when every pair is
decided or after `K` interims. `OUT/` holds a run directory per agent and interim under `runs/`,
`adastop.json` (the specs, every interim's scores and the decisions, rewritten after each interim)
and `commands.txt` (the command that reproduces the comparison, and each training command).
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxrl import compare, rundir, stats
from jaxrl.config import check_seed, resolve
from jaxrl.training import train


@dataclasses.dataclass(frozen=True)
class AgentSpec:
    """One agent of the comparison: an algorithm on an env with settings (as for `jaxrl train --set`)."""

    name: str
    algo: str
    env: str
    settings: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> AgentSpec:
        """`NAME=ALGO@ENV[,KEY=VALUE...]`, e.g. `fast=ppo@CartPole-v1,learning_rate=3e-3`."""
        name, sep, rest = text.partition("=")
        head, *pairs = rest.split(",")
        algo, at, env = head.partition("@")
        settings = dict(p.split("=", 1) for p in pairs if "=" in p)
        if not (sep and name.strip() and at and algo and env) or len(settings) != len(pairs):
            raise ValueError(f"--run {text!r} is not NAME=ALGO@ENV[,KEY=VALUE...] "
                             "(e.g. fast=ppo@CartPole-v1,learning_rate=3e-3).")
        return cls(name.strip(), algo.strip(), env.strip(), {k.strip(): v.strip() for k, v in settings.items()})

    def train_command(self, seeds: Sequence[int], out: Path, name: str, total_timesteps: int | None) -> str:
        sets = [f"{k}={v}" for k, v in self.settings.items()]
        steps = ["--total-timesteps", str(total_timesteps)] if total_timesteps else []
        seed_set = ["--set", *sets] if sets else []
        return shlex.join(["jaxrl", "train", self.algo, "--env", self.env, "--seeds", ",".join(map(str, seeds)),
                           *steps, *seed_set, "--out", str(out), "--name", name])


def run_adastop(specs: Sequence[AgentSpec], out: str | Path, n: int = 5, K: int = 5, alpha: float = 0.05,
                total_timesteps: int | None = None, seed: int = 0, progress: bool = True,
                command: str | None = None) -> tuple[stats.AdaStop, dict[str, list[float]]]:
    """Train and test interim by interim until AdaStop decides; returns the test and the scores."""
    names = [s.name for s in specs]
    if len(specs) < 2 or len(set(names)) != len(names):
        raise ValueError(f"--run needs at least 2 agents with distinct names, got {names}.")
    check_seed(seed)
    for spec in specs:  # every mistake in any spec before anything trains
        resolve(spec.algo, spec.env, spec.settings, total_timesteps=total_timesteps)
    out = Path(out)
    rundir.create_run_dir(out.parent, out.name)  # refuses an existing, non-empty directory
    test = stats.AdaStop(n=n, K=K, alpha=alpha, seed=seed)
    scores: dict[str, list[float]] = {name: [] for name in names}
    commands = [command or "", ""]
    for k in range(K):
        for spec in [s for s in specs if k == 0 or s.name in test.agents_to_continue]:
            seeds = list(range(k * n, (k + 1) * n))
            name = f"{spec.name}-interim-{k + 1}"
            commands.append(spec.train_command(seeds, out / "runs", name, total_timesteps))
            result = train(spec.algo, spec.env, seeds=seeds, total_timesteps=total_timesteps, config=spec.settings,
                           out=out / "runs", name=name, progress=progress)
            scores[spec.name] += result.final_eval_return
        test.partial_compare(scores)
        _write(out, specs, test, scores, n, K, alpha, commands)
        if test.is_finished:
            break
    return test, scores


def _write(out: Path, specs, test: stats.AdaStop, scores: Mapping[str, list[float]], n: int, K: int,
           alpha: float, commands: list[str]) -> None:
    record: dict[str, Any] = {
        "n": n, "K": K, "alpha": alpha, "interims_done": test.interim, "finished": test.is_finished,
        "agents": [dataclasses.asdict(s) for s in specs], "scores": scores,
        "decisions": [dataclasses.asdict(d) for d in test.decisions()],
    }
    rundir.write_json(out / "adastop.json", record)
    (out / "commands.txt").write_text("\n".join(commands) + "\n")


def compared(specs: Sequence[AgentSpec], out: Path, test: stats.AdaStop,
             scores: Mapping[str, list[float]]) -> tuple[compare.Scores, dict[str, dict[str, Any]]]:
    """The trained agents as `compare.Scores` (final scores and curves, from their run directories
    in `out/runs`) and AdaStop's result keyed by their env (or "agents" when they differ)."""
    labels = {s.name: sorted(str(p) for p in (out / "runs").glob(f"{s.name}-interim-*")) for s in specs}
    envs = {s.env for s in specs}
    label = envs.pop() if len(envs) == 1 else "agents"
    return compare.scores_from_runs([], labels), {label: compare.adastop_result(test, scores)}
