"""`python -m benchmarks.tuning [--reps N] [--algos ppo,dqn,sac,pqn]`: what each backend tuning buys.

Every tuning of `jaxrl.backend` (see its docstring) is switched off in turn (`JAXRL_TUNING=-NAME`)
and each algorithm trained once per variant and repetition, in a fresh process with the persistent
compilation cache off, variants alternating within a repetition. Reported: medians of the chunk
compile time (`compile_s`) and the training time (`train_s`) with the tuning off divided by all
tunings on, so a ratio above 1 is what the tuning gains. Writes benchmarks/tuning.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from jaxrl.backend import TUNINGS

RUNS = {  # one seed, tuned defaults, budgets of a few seconds on 2 CPU cores
    "ppo": ("CartPole-v1", 150_000),
    "dqn": ("CartPole-v1", 50_000),
    "sac": ("Pendulum-v1", 5_000),
    "pqn": ("CartPole-v1", 262_144),
}
CHILD = ("import json, sys, jaxrl; r = jaxrl.train(sys.argv[1], sys.argv[2], total_timesteps=int(sys.argv[3]), "
         "out=None, progress=False); print(json.dumps({k: r.summary[k] for k in ('compile_s', 'train_s')}))")


def measure(algo: str, variant: str) -> dict[str, float]:
    env, steps = RUNS[algo]
    environ = {**os.environ, "JAXRL_TUNING": variant, "JAXRL_COMPILATION_CACHE": ""}
    out = subprocess.run([sys.executable, "-c", CHILD, algo, env, str(steps)], env=environ, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--algos", default=",".join(RUNS))
    args = parser.parse_args()
    variants = ["all"] + [f"-{name}" for name in TUNINGS]
    results: dict[str, dict[str, list[dict]]] = {}
    for algo in args.algos.split(","):
        results[algo] = {v: [] for v in variants}
        for rep in range(args.reps):
            for variant in variants if rep % 2 == 0 else variants[::-1]:
                results[algo][variant].append(measure(algo, variant))
                print(algo, rep, variant, results[algo][variant][-1], flush=True)
    table = ["| tuning off | " + " | ".join(f"{a} compile | {a} run" for a in results) + " |",
             "|---|" + "---|---|" * len(results)]
    for variant in variants[1:]:
        cells = []
        for algo, runs in results.items():
            for key in ("compile_s", "train_s"):
                base = statistics.median(r[key] for r in runs["all"])
                cells.append(f"{statistics.median(r[key] for r in runs[variant]) / base:.2f}")
        table.append(f"| {variant[1:]} | " + " | ".join(cells) + " |")
    medians = {a: {v: {k: statistics.median(r[k] for r in rs) for k in ("compile_s", "train_s")}
                   for v, rs in runs.items()} for a, runs in results.items()}
    Path(__file__).with_name("tuning.json").write_text(json.dumps({"runs": RUNS, "reps": args.reps,
                                                                   "medians": medians, "all": results}, indent=1))
    print("\n".join(table))


if __name__ == "__main__":
    main()
