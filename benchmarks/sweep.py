"""A 64-member PPO sweep (16 configurations x 4 seeds) in one program vs rejax run by run; scaling.

* Sweep: `jaxrl.sweep` over learning_rate x ent_coef x clip_eps (4 x 2 x 2) x 4 seeds, PureJaxRL's
  CartPole settings, in a fresh process with a cold compile cache (the traced settings make it one
  static group: one compile). rejax runs the same 64 runs the way its users do: each configuration
  jitted once, its seeds one after another. Both are timed as whole processes, from outside.
* Scaling: population size (seeds of one configuration) vs environment steps per second of
  training (compile excluded), each size in a fresh process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os

import jax

from benchmarks.timing import alternate, median, ratio, run_child
from benchmarks.venvs import run_script

GRID = {"learning_rate": [1e-4, 2.5e-4, 5e-4, 1e-3], "ent_coef": [0.0, 0.01], "clip_eps": [0.1, 0.2]}
PUREJAXRL = dict(num_envs=4, num_steps=128, update_epochs=4, num_minibatches=4, anneal_lr=True, num_logs=1,
                 eval_every=0)


def configs() -> list[dict]:
    return [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]


def jaxrl_sweep_child(seeds: int, total_timesteps: int) -> dict:
    from jaxrl.sweeps import sweep

    result = sweep("ppo", "CartPole-v1", grid=GRID, seeds=seeds, config=PUREJAXRL, total_timesteps=total_timesteps,
                   out=None, progress=False)
    s = result.summary
    returns = [r["final_eval_return"] for r in result.rows]
    return {"compile_s": s["compile_s"], "train_s": s["train_s"], "num_compiles": s["num_compiles"],
            "members": s["num_members"], "final_eval_return_mean": sum(returns) / len(returns)}


def jaxrl_scaling_child(members: int, total_timesteps: int) -> dict:
    import jaxrl

    result = jaxrl.train("ppo", "CartPole-v1", seeds=members, total_timesteps=total_timesteps,
                         config={**PUREJAXRL, "learning_rate": 2.5e-4}, out=None, progress=False, use_tuned=False)
    s = result.summary
    return {"members": members, "steps_per_s": s["steps_per_s"], "train_s": s["train_s"], "compile_s": s["compile_s"]}


def _child(kind: str, value: int, total_timesteps: int, cpu_devices: int | None = None) -> dict:
    return run_child("benchmarks.sweep", ["--child", kind, "--value", str(value), "--total-timesteps", str(total_timesteps)],
                     env=None if cpu_devices is None else {"JAXRL_CPU_DEVICES": str(cpu_devices)})


def run_rejax(seeds: int, total_timesteps: int) -> dict:
    return run_script("rejax", "rejax_sweep.py", ["--configs", json.dumps(configs()), "--seeds", str(seeds),
                                                 "--total-timesteps", str(total_timesteps)], timeout=4 * 3600)


def run(total_timesteps: int, reps: int, sizes: tuple[int, ...], scaling_timesteps: int, log=print) -> dict:
    seeds = 4
    log(f"  sweep: {len(configs())} configurations x {seeds} seeds, {total_timesteps:,} steps each: "
        "jaxrl (one program) vs rejax (run by run)")
    res = alternate({"jaxrl": lambda: _child("sweep", seeds, total_timesteps),
                     "rejax": lambda: run_rejax(seeds, total_timesteps)}, reps, log)
    sweep = {"configs": len(configs()), "seeds": seeds, "total_timesteps": total_timesteps, "reps": reps, "raw": res}
    for side in ("jaxrl", "rejax"):
        for key in ("process_s", "compile_s", "final_eval_return_mean"):
            sweep[f"{side}_{key}"] = median(res[side], key)
    sweep["ratio"] = ratio(sweep["jaxrl_process_s"], sweep["rejax_process_s"])
    log(f"  scaling: population size vs training steps/s, {scaling_timesteps:,} steps per member")
    scaling = []
    for size in sizes:
        rows = alternate({"jaxrl": lambda size=size: _child("scaling", size, scaling_timesteps)}, reps, log)["jaxrl"]
        scaling.append({"members": size, "steps_per_s": median(rows, "steps_per_s"),
                        "compile_s": median(rows, "compile_s"), "raw": rows})
    cores = len(os.sched_getaffinity(0))
    devices = []
    counts = sorted({1, cores}) if jax.default_backend() == "cpu" else []  # (XLA's virtual CPU devices)
    if counts:
        log(f"  devices: 64 members on 1 CPU device vs {cores} (jaxrl's default: one per core)")
    for count in counts:
        rows = alternate({"jaxrl": lambda count=count: _child("scaling", 64, scaling_timesteps, count)}, reps,
                         log)["jaxrl"]
        devices.append({"cpu_devices": count, "members": 64, "steps_per_s": median(rows, "steps_per_s"),
                        "raw": rows})
    return {"sweep": sweep, "scaling": scaling, "scaling_timesteps": scaling_timesteps, "devices": devices}


if __name__ == "__main__":  # a jaxrl child process
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=("sweep", "scaling"), required=True)
    parser.add_argument("--value", type=int, required=True)
    parser.add_argument("--total-timesteps", type=int, required=True)
    args = parser.parse_args()
    child = jaxrl_sweep_child if args.child == "sweep" else jaxrl_scaling_child
    print(json.dumps(child(args.value, args.total_timesteps)))
