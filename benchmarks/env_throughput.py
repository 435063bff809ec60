"""Environment throughput: N env copies stepped with random actions, in steps per second.

jaxrl and gymnax run in this process: `vmap` over N copies inside a jitted `lax.scan`. The scan
folds observations, rewards and both flags into its carry, so XLA cannot drop the env step as dead
code (jaxrl's CartPole reward is a constant). EnvPool runs in its own venv (see `venvs.py`) through
`peers/envpool_throughput.py`, N copies stepped by its C++ thread pool. Random actions are drawn
the same way for jaxrl and gymnax (inside the program); EnvPool cycles through pre-drawn arrays.
Besides wall-clock steps/s, jaxrl and gymnax also get steps per CPU-second of this process, a
jaxrl/gymnax ratio that other load on a shared machine disturbs much less.

`run_marl` (not part of `python -m benchmarks`; run `python -m benchmarks.env_throughput`) times
jaxrl's built-in `MPE_simple_spread_v3` against JaxMARL's own (`pip install 'jaxrl[marl]'`) the
same way: N copies, random discrete actions for every agent, one step of all agents per env step.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from typing import Any

import jax
import jax.numpy as jnp

from benchmarks.timing import alternate, median, ratio
from benchmarks.venvs import PeerProcess

ENVS = ("CartPole-v1", "Pendulum-v1", "Acrobot-v1")
NUM_ENVS = (1, 16, 256, 1024, 4096)


def sample_actions(key: jax.Array, space: Any, n: int) -> jax.Array:
    """n uniform random actions from a Discrete (`.n`) or Box (`.low`, `.high`, `.shape`) space."""
    if hasattr(space, "n"):
        return jax.random.randint(key, (n,), 0, space.n)
    low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), space.shape)
    high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), space.shape)
    return jax.random.uniform(key, (n, *space.shape), jnp.float32, low, high)


def make_program(env, params, space, num_envs: int, num_steps: int):
    """A jitted `run(key) -> (checksum, final_state)` that steps `num_envs` copies `num_steps` times."""

    def run(key):
        key, key_reset = jax.random.split(key)
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key_reset, num_envs), params)

        def body(carry, _):
            state, key, acc = carry
            key, key_act, key_step = jax.random.split(key, 3)
            actions = sample_actions(key_act, space, num_envs)
            obs, state, reward, terminated, truncated, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(key_step, num_envs), state, actions, params
            )
            acc = acc + jnp.sum(obs.astype(jnp.float32)) + jnp.sum(reward) + jnp.sum(terminated) + jnp.sum(truncated)
            return (state, key, acc), None

        (state, _, acc), _ = jax.lax.scan(body, (state, key, jnp.float32(0)), length=num_steps)
        return acc, state

    return jax.jit(run)


def make_env(impl: str, name: str):
    """(env, params, action_space) for impl "jaxrl" (jaxrl.make) or "gymnax" (the raw gymnax env)."""
    if impl == "jaxrl":
        import jaxrl

        env, params = jaxrl.make(name)
        return env, params, env.action_space(params)
    import gymnax

    env, params = gymnax.make(name)
    return env, params, env.action_space(params)


def steps_per_call(num_envs: int, budget: int) -> int:
    """Scan length: about `budget` env steps per call, between 100 and 10,000 iterations."""
    return max(100, min(10_000, budget // num_envs))


def timed_runner(fn, num_envs: int, num_steps: int, min_time: float):
    """A runner for `alternate` of the jitted `fn(key)`: compiles (timed) on its first call; then
    each call executes it repeatedly, with fresh keys, for at least `min_time` seconds, and reports
    steps/s (`num_envs * num_steps` env steps per execution)."""
    state = {"compiled": None, "compile_s": None, "calls": 0}

    def call():
        state["calls"] += 1
        return jax.block_until_ready(state["compiled"](jax.random.key(state["calls"])))

    def run() -> dict:
        if state["compiled"] is None:
            t0 = time.perf_counter()
            state["compiled"] = fn.lower(jax.random.key(0)).compile()
            state["compile_s"] = time.perf_counter() - t0
            call()  # first execution (allocations), untimed
        calls, t0, cpu0 = 0, time.perf_counter(), time.process_time()
        while calls == 0 or time.perf_counter() - t0 < min_time:
            call()
            calls += 1
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        steps = num_envs * num_steps * calls
        return {"steps_per_s": steps / elapsed, "steps_per_cpu_s": steps / cpu, "run_s": elapsed,
                "compile_s": state["compile_s"]}

    return run


def jax_runner(impl: str, name: str, num_envs: int, num_steps: int, min_time: float):
    """`timed_runner` of `make_program` for impl "jaxrl" or "gymnax"."""
    env, params, space = make_env(impl, name)
    return timed_runner(make_program(env, params, space, num_envs, num_steps), num_envs, num_steps, min_time)


MARL_ENV = "MPE_simple_spread_v3"
MARL_NUM_ENVS = (1, 64, 1024, 4096)


def make_marl_program(impl: str, num_envs: int, num_steps: int):
    """`run(key) -> (checksum, final_state)` stepping `num_envs` copies of `MARL_ENV` (impl "jaxrl":
    `jaxrl.make`, its auto-reset; "jaxmarl": `jaxmarl.make`, JaxMARL's) `num_steps` times, every
    agent acting at random. The checksum folds in observations, rewards and done flags."""
    if impl == "jaxrl":
        import jaxrl

        env, params = jaxrl.make(MARL_ENV)
        reset, step = functools.partial(env.reset, params=params), functools.partial(env.step, params=params)
        num_actions = env.action_spaces(params)[env.agents[0]].n
    else:
        import jaxmarl

        env = jaxmarl.make(MARL_ENV)
        reset, step, num_actions = env.reset, env.step, env.action_space(env.agents[0]).n

    def run(key):
        key, key_reset = jax.random.split(key)
        _, state = jax.vmap(reset)(jax.random.split(key_reset, num_envs))

        def body(carry, _):
            state, key, acc = carry
            key, key_step, *key_act = jax.random.split(key, 2 + len(env.agents))
            actions = {a: jax.random.randint(k, (num_envs,), 0, num_actions) for a, k in zip(env.agents, key_act)}
            # jaxrl: (obs, state, rewards, terminated, truncated, info); JaxMARL: (obs, state, rewards, dones, info)
            obs, state, *outputs, _ = jax.vmap(step)(jax.random.split(key_step, num_envs), state, actions)
            acc = acc + sum(jnp.sum(x.astype(jnp.float32)) for x in jax.tree.leaves((obs, outputs)))
            return (state, key, acc), None

        (state, _, acc), _ = jax.lax.scan(body, (state, key, jnp.float32(0)), length=num_steps)
        return acc, state

    return jax.jit(run)


def run_marl(num_envs: tuple[int, ...] = MARL_NUM_ENVS, reps: int = 3, budget: int = 200_000,
             min_time: float = 0.5, log=print) -> list[dict]:
    """One row per N: medians over `reps` alternating repetitions of steps/s and compile s for
    jaxrl's and JaxMARL's `MARL_ENV`, and their ratio."""
    rows = []
    for n in num_envs:
        num_steps = steps_per_call(n, budget)
        log(f"  env {MARL_ENV} N={n} (scan of {num_steps} steps, timed >= {min_time} s)")
        runners = {impl: timed_runner(make_marl_program(impl, n, num_steps), n, num_steps, min_time)
                   for impl in ("jaxrl", "jaxmarl")}
        res = alternate(runners, reps, log)
        sps = {k: median(res[k], "steps_per_s") for k in runners}
        rows.append({"env": MARL_ENV, "num_envs": n, "num_steps": num_steps, "reps": reps,
                     **{f"{k}_steps_per_s": v for k, v in sps.items()},
                     **{f"{k}_compile_s": median(res[k], "compile_s") for k in runners},
                     "jaxrl_vs_jaxmarl": ratio(sps["jaxrl"], sps["jaxmarl"])})
    return rows


def run(cells: list[tuple[str, int]], reps: int, budget: int, min_time: float, with_envpool: bool = True,
        log=print) -> list[dict]:
    """One row per (env name, N) cell: medians of steps/s for jaxrl, gymnax and (on CPU) EnvPool, and ratios."""
    rows = []
    threads = os.cpu_count() or 1
    on_cpu = jax.default_backend() == "cpu"
    with contextlib.ExitStack() as stack:
        envpool = stack.enter_context(PeerProcess("envpool", "envpool_throughput.py")) if with_envpool else None
        for name, num_envs in cells:
            num_steps = steps_per_call(num_envs, budget)
            log(f"  env {name} N={num_envs} (scan of {num_steps} steps, timed >= {min_time} s)")
            runners = {
                "jaxrl": jax_runner("jaxrl", name, num_envs, num_steps, min_time),
                "gymnax": jax_runner("gymnax", name, num_envs, num_steps, min_time),
            }
            if envpool is not None:
                runners["envpool"] = lambda: envpool.request(
                    env=name, num_envs=num_envs, num_threads=min(threads, num_envs), num_steps=num_steps,
                    min_time=min_time)
            res = alternate(runners, reps, log)
            sps = {k: median(res.get(k, []), "steps_per_s") for k in ("jaxrl", "gymnax", "envpool")}
            rows.append({
                "env": name, "num_envs": num_envs, "num_steps": num_steps, "reps": reps,
                **{f"{k}_steps_per_s": v for k, v in sps.items()},
                "jaxrl_compile_s": median(res["jaxrl"], "compile_s"),
                "gymnax_compile_s": median(res["gymnax"], "compile_s"),
                "jaxrl_vs_gymnax": ratio(sps["jaxrl"], sps["gymnax"]),
                "jaxrl_vs_envpool": ratio(sps["jaxrl"], sps["envpool"]),
                # Same-process CPU seconds: less sensitive to other load on a shared machine (CPU
                # backend only: on an accelerator the host mostly waits).
                "jaxrl_vs_gymnax_cpu": ratio(median(res["jaxrl"], "steps_per_cpu_s"),
                                             median(res["gymnax"], "steps_per_cpu_s")) if on_cpu else None,
                "raw": res,
            })
    return rows


if __name__ == "__main__":
    for row in run_marl():
        print(f"{row['env']} N={row['num_envs']:>5}: jaxrl {row['jaxrl_steps_per_s']:.3g} steps/s "
              f"(compile {row['jaxrl_compile_s']:.2f} s), jaxmarl {row['jaxmarl_steps_per_s']:.3g} steps/s "
              f"(compile {row['jaxmarl_compile_s']:.2f} s), ratio {row['jaxrl_vs_jaxmarl']:.2f}")
