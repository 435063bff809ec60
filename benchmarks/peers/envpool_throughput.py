"""EnvPool throughput server: one JSON request per stdin line, one JSON result per stdout line.

Run with the EnvPool venv's python. Request: {"env": "CartPole-v1", "num_envs": 1024,
"num_threads": 2, "num_steps": 100, "min_time": 1.0}: steps the pool in rounds of `num_steps` until
`min_time` seconds have passed. Result: {"steps_per_s": ..., "run_s": ..., "make_s": ...}.
The pool steps all `num_envs` copies per call (batch_size = num_envs, synchronous) on its C++
threads; random actions are drawn before timing and cycled, so drawing them costs nothing.
"""

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")  # gymnasium's float64 -> float32 Box notices

import envpool  # noqa: E402
import numpy as np  # noqa: E402


def measure(env: str, num_envs: int, num_threads: int, num_steps: int, min_time: float) -> dict:
    t0 = time.perf_counter()
    pool = envpool.make(env, env_type="gymnasium", num_envs=num_envs, batch_size=num_envs,
                        num_threads=num_threads, seed=0)
    make_s = time.perf_counter() - t0
    space = pool.action_space
    space.seed(0)
    actions = [np.stack([space.sample() for _ in range(num_envs)]) for _ in range(16)]
    pool.reset()
    for i in range(10):  # warm up
        pool.step(actions[i % 16])
    steps, t0 = 0, time.perf_counter()
    while steps == 0 or time.perf_counter() - t0 < min_time:
        for i in range(num_steps):
            pool.step(actions[i % 16])
        steps += num_steps
    run_s = time.perf_counter() - t0
    pool.close()
    return {"steps_per_s": num_envs * steps / run_s, "run_s": run_s, "make_s": make_s}


def main() -> None:
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(measure(**json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
