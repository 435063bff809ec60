"""One meta-training generation of lpo as ONE program vs its members trained one by one.

A generation is P candidate objectives x S seeds: `P * S` lpo training runs whose drift parameters
(a traced setting) differ per member. jaxrl trains them as one population program
(`training.train_population`, what `jaxrl meta-train` does); the baseline trains the same members one
after another with the same host loop (one member per call; its program compiles once and is reused,
since the drift parameters are traced). Both in this process, compile excluded (programs are warmed
up first), alternating repetitions; steps/s = environment steps of all members / training seconds.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchmarks.timing import alternate, median, ratio


def _members(population: int, seeds: int, total_timesteps: int, num_envs: int | None = None, generation: int = 0):
    import jax

    from jaxrl.blocks import drift
    from jaxrl.config import resolve, with_members

    settings = {"objective": "", "num_logs": 1, "eval_every": 0}
    if num_envs is not None:  # PureJaxRL's small batch: 4 envs x 128 steps
        settings.update(num_envs=num_envs, num_steps=128)
    resolved = resolve("lpo", "CartPole-v1", settings, total_timesteps=total_timesteps)
    cfg = resolved.config
    base = np.asarray(drift.initial_params(jax.random.key(0), cfg.temporal, cfg.drift_hidden))
    noise = 0.03 * np.random.default_rng(generation).standard_normal((population, base.size)).astype(np.float32)
    candidates = base + noise
    seed_list = list(range(seeds))
    return with_members(resolved, seed_list * population, [{"drift_params": c} for c in candidates for _ in seed_list])


def _one_program(pop, env, params) -> dict:
    from jaxrl import training

    t0 = time.perf_counter()
    result = training.train_population(pop, env, params, None, progress=False)
    s = result.summary
    steps = s["total_timesteps"] * len(pop.seeds)
    return {"train_s": s["train_s"], "wall_s": time.perf_counter() - t0, "steps_per_s": steps / s["train_s"],
            "num_compiles": s["num_compiles"], "final_eval_return_mean": s["final_eval_return_mean"]}


def _one_by_one(pop, env, params) -> dict:
    import dataclasses

    from jaxrl import training

    t0 = time.perf_counter()
    train_s, steps, compiles, returns = 0.0, 0, 0, []
    for i in range(len(pop.seeds)):
        member = dataclasses.replace(pop, seeds=pop.seeds[i:i + 1], member_hparams=pop.member_hparams[i:i + 1])
        s = training.train_population(member, env, params, None, progress=False).summary
        train_s, steps, compiles = train_s + s["train_s"], steps + s["total_timesteps"], compiles + s["num_compiles"]
        returns += s["final_eval_return"]
    return {"train_s": train_s, "wall_s": time.perf_counter() - t0, "steps_per_s": steps / train_s,
            "num_compiles": compiles, "final_eval_return_mean": float(np.mean(returns))}


def run(population: int, seeds: int, total_timesteps: int, reps: int, num_envs: int | None = None, log=print) -> dict:
    from jaxrl.envs import make

    pop = _members(population, seeds, total_timesteps, num_envs)
    env, params = make("CartPole-v1")
    log(f"  lpo generation: {population} candidates x {seeds} seeds, {total_timesteps:,} steps each, CartPole-v1, "
        f"{pop.config.num_envs} envs x {pop.config.num_steps} steps per update")
    t0 = time.perf_counter()
    first = _one_program(pop, env, params)
    warm = {"one_program_first_wall_s": time.perf_counter() - t0, "one_program_num_compiles": first["num_compiles"]}
    single = dataclasses_replace_first(pop)
    _one_by_one(single, env, params)  # compiles the one-member program
    res = alternate({"one_program": lambda: _one_program(pop, env, params),
                     "one_by_one": lambda: _one_by_one(pop, env, params)}, reps, log)
    row = {"population": population, "seeds": seeds, "members": population * seeds, "env": "CartPole-v1",
           "total_timesteps": total_timesteps, "num_envs": pop.config.num_envs, "num_steps": pop.config.num_steps,
           "reps": reps, "raw": res, **warm}
    for side in res:
        for key in ("steps_per_s", "train_s", "wall_s", "final_eval_return_mean"):
            row[f"{side}_{key}"] = median(res[side], key)
    row["speedup"] = ratio(row["one_program_steps_per_s"], row["one_by_one_steps_per_s"])
    row["wall_speedup"] = ratio(row["one_by_one_wall_s"], row["one_program_wall_s"])
    return row


def dataclasses_replace_first(pop):
    import dataclasses

    return dataclasses.replace(pop, seeds=pop.seeds[:1], member_hparams=pop.member_hparams[:1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--population", type=int, default=32)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--total-timesteps", type=int, default=16_384)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--num-envs", type=int, help="env copies per member, with 128 steps (default: tuned, 32 x 32)")
    args = parser.parse_args()
    out = run(args.population, args.seeds, args.total_timesteps, args.reps, args.num_envs)
    print(json.dumps({k: v for k, v in out.items() if k != "raw"}, indent=1))
