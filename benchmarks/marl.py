"""Multi-agent: MPE simple_spread env throughput against JaxMARL's, and IPPO / MAPPO training speed
at JaxMARL's published IPPO settings (`baselines/IPPO/config/ippo_ff_mpe.yaml`: 16 envs x 128 steps,
4 epochs of 4 minibatches, lr 2.5e-4 annealed, 64x64 tanh).

Training runs are fresh processes with a cold compile cache (`python -m benchmarks.marl --algo A`),
alternating. JaxMARL's IPPO is a script outside its pip package, so no peer training run is made:
the training rows are jaxrl's own figures.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json

from benchmarks.env_throughput import run_marl
from benchmarks.timing import alternate, median, run_child, train_timings

ENV = "MPE_simple_spread_v3"
JAXMARL_IPPO = dict(num_envs=16, num_steps=128, update_epochs=4, num_minibatches=4, learning_rate=2.5e-4,
                    anneal_lr=True, hidden_sizes=(64, 64), activation="tanh", num_logs=1, eval_every=0)


def child(algo: str, total_timesteps: int) -> dict:
    """In this (fresh) process: one jaxrl.train call; returns the timings from its summary."""
    import jaxrl

    result = jaxrl.train(algo, ENV, total_timesteps=total_timesteps, config=JAXMARL_IPPO, out=None, progress=False,
                         use_tuned=False)
    return train_timings(result.summary)


def run(num_envs: tuple[int, ...], total_timesteps: int, reps: int, log=print) -> dict:
    """{"env": throughput rows (jaxrl vs JaxMARL), "training": a row per algorithm}."""
    env_rows = run_marl(num_envs, reps, log=log)
    log(f"  IPPO / MAPPO on {ENV}, {total_timesteps:,} steps, JaxMARL's IPPO settings")
    runners = {algo: (lambda algo=algo: run_child("benchmarks.marl", ["--algo", algo, "--total-timesteps",
                                                                     str(total_timesteps)]))
               for algo in ("ippo", "mappo")}
    res = alternate(runners, reps, log)
    training = [{"algo": algo, "reps": reps, "total_timesteps": total_timesteps, "raw": rows,
                 **{key: median(rows, key) for key in ("compile_s", "steps_per_s", "final_eval_return_mean",
                                                       "peak_rss_mib")}}
                for algo, rows in res.items()]
    settings = {k: v for k, v in JAXMARL_IPPO.items() if k not in ("num_logs", "eval_every")}
    return {"env": env_rows, "training": training, "settings": settings,
            "jaxmarl_version": importlib.metadata.version("jaxmarl")}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--algo", choices=("ippo", "mappo"), required=True)
    parser.add_argument("--total-timesteps", type=int, default=1_000_000)
    args = parser.parse_args()
    print(json.dumps(child(args.algo, args.total_timesteps)))
