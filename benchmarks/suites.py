"""Env-suite adapters against the suites' own vmapped step, and PPO with a CNN on MinAtar.

`python -m benchmarks --only suites` (or `python -m benchmarks.suites`). For every installed suite,
N copies are stepped with random actions inside one jitted `lax.scan`, once through jaxrl's adapter
(`jaxrl.make("suite:NAME")`: our time limit, auto-reset, final observation, float32 observations)
and once through the suite's own API with its own auto-reset (xminigrid's `GymAutoResetWrapper`,
Navix's `step`, Jumanji's `AutoResetWrapper`, Craftax's auto-reset env). Both sides fold every
observation leaf, reward and flag into the carry (no dead code), alternate repetitions and report
medians: the ratio adapter/own is the adapter's overhead (1.0: none).

PPO with a CNN on MinAtar, against PureJaxRL: `benchmarks/minatar.py` (`--only minatar`).
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import jax
import jax.numpy as jnp

from benchmarks.env_throughput import timed_runner
from benchmarks.timing import alternate, median, ratio

SUITES = {  # prefix: (env name, module)
    "xminigrid": ("MiniGrid-Empty-8x8", "xminigrid"),
    "navix": ("Navix-Empty-8x8-v0", "navix"),
    "jumanji": ("Snake-v1", "jumanji"),
    "craftax": ("Craftax-Classic-Symbolic-v1", "craftax"),
}


def _checksum(tree: Any) -> jax.Array:
    return sum(jnp.sum(jnp.asarray(x, jnp.float32)) for x in jax.tree.leaves(tree))


def _scan_program(reset, step, num_actions: int, num_envs: int, num_steps: int):
    """`run(key)`: `reset(key) -> carry`, then `num_steps` of `step(key, carry, action) -> (carry,
    outputs)` over `num_envs` copies (vmapped), folding the outputs into a checksum."""

    def run(key):
        key, key_reset = jax.random.split(key)
        carry = jax.vmap(reset)(jax.random.split(key_reset, num_envs))

        def body(loop, _):
            carry, key, acc = loop
            key, key_act, key_step = jax.random.split(key, 3)
            actions = jax.random.randint(key_act, (num_envs,), 0, num_actions)
            carry, out = jax.vmap(step)(jax.random.split(key_step, num_envs), carry, actions)
            return (carry, key, acc + _checksum(out)), None

        (carry, _, acc), _ = jax.lax.scan(body, (carry, key, jnp.float32(0)), length=num_steps)
        return acc, carry

    return jax.jit(run)


def adapter_program(name: str, num_envs: int, num_steps: int, **make_kwargs):
    import jaxrl

    env, params = jaxrl.make(name, **make_kwargs)

    def step(key, state, action):
        obs, state, reward, terminated, truncated, _ = env.step(key, state, action, params)
        return state, (obs, reward, terminated, truncated)

    return _scan_program(lambda key: env.reset(key, params)[1], step, env.action_space(params).n, num_envs, num_steps)


def own_program(prefix: str, env_name: str, num_envs: int, num_steps: int):
    """The suite's own reset/step (with its own auto-reset) in the same scan."""
    if prefix == "xminigrid":
        import xminigrid
        from xminigrid.wrappers import GymAutoResetWrapper

        env, params = xminigrid.make(env_name)
        env = GymAutoResetWrapper(env)
        step = lambda key, ts, a: (lambda t: (t, (t.observation, t.reward, t.step_type, t.discount)))(env.step(params, ts, a))
        return _scan_program(lambda key: env.reset(params, key), step, env.num_actions(params), num_envs, num_steps)
    if prefix == "navix":
        import navix

        env = navix.make(env_name)
        step = lambda key, ts, a: (lambda t: (t, (t.observation, t.reward, t.step_type)))(env.step(ts, a))
        return _scan_program(env.reset, step, int(env.action_space.maximum) + 1, num_envs, num_steps)
    if prefix == "jumanji":
        import jumanji
        from jumanji.wrappers import AutoResetWrapper

        env = AutoResetWrapper(jumanji.make(env_name))

        def step(key, state, a):
            state, ts = env.step(state, a)
            return state, (ts.observation, ts.reward, ts.step_type, ts.discount)

        return _scan_program(lambda key: env.reset(key)[0], step, int(env.action_spec.num_values), num_envs, num_steps)
    from craftax.craftax_env import make_craftax_env_from_name

    env = make_craftax_env_from_name(env_name, auto_reset=True)
    params = env.default_params

    def step(key, state, a):
        obs, state, reward, done, _ = env.step(key, state, a, params)
        return state, (obs, reward, done)

    return _scan_program(lambda key: env.reset(key, params)[1], step, env.num_actions, num_envs, num_steps)


def run_adapters(num_envs: int = 256, num_steps: int = 100, reps: int = 3, min_time: float = 1.0,
                 log=print) -> list[dict]:
    rows = []
    for prefix, (env_name, module) in SUITES.items():
        if importlib.util.find_spec(module) is None:
            log(f"  {prefix}: not installed (pip install 'jaxrl[{prefix}]'), skipped")
            continue
        name = f"{prefix}:{env_name}"
        log(f"  {name}, N={num_envs}")
        exact = {"reset_ratio": 1} if prefix == "craftax" else {}  # like for like: a fresh world per copy
        runners = {"adapter": timed_runner(adapter_program(name, num_envs, num_steps, **exact), num_envs, num_steps, min_time),
                   "own": timed_runner(own_program(prefix, env_name, num_envs, num_steps), num_envs, num_steps, min_time)}
        res = alternate(runners, reps, log=lambda m: log("  " + m))
        row = {"env": name, "num_envs": num_envs,
               **{f"{side}_{k}": median(res[side], k) for side in runners for k in ("steps_per_s", "steps_per_cpu_s", "compile_s")}}
        row["ratio"] = ratio(row["adapter_steps_per_s"], row["own_steps_per_s"])
        row["ratio_cpu"] = ratio(row["adapter_steps_per_cpu_s"], row["own_steps_per_cpu_s"])
        rows.append(row)
    return rows


def run_optimistic_reset(num_envs: int = 256, num_steps: int = 10, reps: int = 3, min_time: float = 1.0,
                         log=print) -> dict | None:
    """Craftax's step with the optimistic auto-reset (one world per 16 copies, the adapter's default)
    against a fresh world per copy (`reset_ratio=1`) and Craftax's own auto-reset env."""
    if importlib.util.find_spec("craftax") is None:
        log("  craftax: not installed (pip install 'jaxrl[craftax]'), skipped")
        return None
    env_name = SUITES["craftax"][0]
    name = f"craftax:{env_name}"
    log(f"  {name} auto-reset, N={num_envs}")
    runners = {side: timed_runner(adapter_program(name, num_envs, num_steps, reset_ratio=r), num_envs, num_steps, min_time)
               for side, r in (("optimistic", 16), ("exact", 1))}
    runners["own"] = timed_runner(own_program("craftax", env_name, num_envs, num_steps), num_envs, num_steps, min_time)
    res = alternate(runners, reps, log=lambda m: log("  " + m))
    out = {"env": name, "num_envs": num_envs, **{f"{side}_steps_per_s": median(res[side], "steps_per_s") for side in runners}}
    out["optimistic_over_exact"] = ratio(out["optimistic_steps_per_s"], out["exact_steps_per_s"])
    out["optimistic_over_own"] = ratio(out["optimistic_steps_per_s"], out["own_steps_per_s"])
    return out


def run(reps: int = 3, quick: bool = True, log=print) -> dict:
    t0 = time.perf_counter()
    adapters = run_adapters(reps=reps, min_time=0.5 if quick else 1.0, log=log)
    optimistic = run_optimistic_reset(reps=reps, min_time=0.5 if quick else 1.0, log=log)
    return {"adapters": adapters, "optimistic_reset": optimistic, "wall_s": time.perf_counter() - t0}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=1))
