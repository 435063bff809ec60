"""Per-achievement success rates of a trained Craftax-Classic run: the sampled policy of each of its
first SEEDS members, 64 episodes each, and Crafter's score (the geometric mean of the 22 success
rates, in %).

`python -m benchmarks.craftax_achievements RUN_DIR SEEDS` (RUN_DIR of `jaxrl train ppo --env
craftax:Craftax-Classic-Symbolic-v1`, or a sweep's groups/group-NN).
"""

from __future__ import annotations

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl
from jaxrl.policy import load_policy

EPISODES = 64
PREFIX = "Achievements/"


def first_episodes(env, params, act, key: jax.Array) -> tuple[dict[str, jax.Array], jax.Array]:
    """Run `EPISODES` copies until each ends its first episode: Craftax's achievement flags at that
    end (`info["Achievements/NAME"]`, nonzero when unlocked) `{name: [EPISODES]}` and the returns."""
    key_reset, key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key_reset, EPISODES), params)
    one_state = jax.tree.map(lambda x: x[0], state)
    names = [k for k in jax.eval_shape(lambda s: env.step(key, s, 0, params)[5], one_state) if k.startswith(PREFIX)]

    def body(carry):
        obs, state, done, key, t, unlocked, ret = carry
        key, key_act, key_step = jax.random.split(key, 3)
        obs, state, reward, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(key_step, EPISODES), state, act(obs, key_act), params)
        ends = ~done & (terminated | truncated)
        unlocked = {k: jnp.where(ends, info[k], v) for k, v in unlocked.items()}
        return obs, state, done | ends, key, t + 1, unlocked, ret + jnp.where(done, 0.0, reward)

    carry = (obs, state, jnp.zeros(EPISODES, bool), key, 0, {k: jnp.zeros(EPISODES) for k in names},
             jnp.zeros(EPISODES))
    carry = jax.lax.while_loop(lambda c: ~jnp.all(c[2]) & (c[4] < 100_000), body, carry)
    return carry[5], carry[6]


def main(run_dir: str, seeds: int) -> None:
    env, params = jaxrl.make("craftax:Craftax-Classic-Symbolic-v1", reset_ratio=1)
    rates: dict[str, list[float]] = {}
    for i in range(seeds):
        act = load_policy(run_dir, seed_index=i, deterministic=False)
        unlocked, returns = jax.jit(lambda key, act=act: first_episodes(env, params, act, key))(jax.random.key(100 + i))
        print(f"seed {i}: return {float(returns.mean()):.2f}")
        for name, flags in unlocked.items():
            rates.setdefault(name[len(PREFIX):], []).append(100.0 * float(np.mean(np.asarray(flags) > 0)))
    mean = {name: float(np.mean(r)) for name, r in rates.items()}
    for name, rate in sorted(mean.items(), key=lambda kv: -kv[1]):
        print(f"{name:20s} {rate:6.1f}%")
    score = math.exp(np.mean([math.log(1 + r) for r in mean.values()])) - 1
    print(f"Crafter score (geometric mean of success rates): {score:.2f}%; "
          f"achievements unlocked at least once: {sum(r > 0 for r in mean.values())}/{len(mean)}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
