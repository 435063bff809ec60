"""A rejax PPO sweep the way its users run one: each configuration jitted once, its seeds one after another.

Run with the rejax venv's python:  rejax_sweep.py --configs JSON --seeds 4 --total-timesteps 500000
`--configs` is a JSON list of {learning_rate, ent_coef, clip_eps} dicts; the other settings are
PureJaxRL's CartPole ones. Prints one JSON line: total wall time of all runs (compiles included),
the compile and run times, and every run's final evaluation return.
"""

import argparse
import json
import time

import jax

from rejax_ppo import make_ppo


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", required=True)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    args = parser.parse_args()
    configs = json.loads(args.configs)

    t_start = time.perf_counter()
    compile_s = run_s = 0.0
    returns = []
    for config in configs:
        algo = make_ppo(args.total_timesteps, **config)
        train = jax.jit(algo.train)
        keys = jax.random.split(jax.random.key(0), args.seeds)
        t0 = time.perf_counter()
        compiled = train.lower(keys[0]).compile()
        compile_s += time.perf_counter() - t0
        for key in keys:
            t0 = time.perf_counter()
            _, (_, evaluation) = jax.block_until_ready(compiled(key))
            run_s += time.perf_counter() - t0
            returns.append(float(evaluation[-1].mean()))
    print(json.dumps({"total_s": time.perf_counter() - t_start, "compile_s": compile_s, "run_s": run_s,
                      "runs": len(returns), "final_eval_return_mean": sum(returns) / len(returns)}))


if __name__ == "__main__":
    main()
