"""A CNN's gradient inside a `lax.scan` against the same gradient alone: XLA:CPU's loop penalty.

`python -m benchmarks.conv_loop [--torso nature] [--size 36] [--channels 1] [--batch 64] [--reps 5]`: one gradient
of `sum(CNN(images))` with respect to the CNN's parameters (`jaxrl.blocks.encoders.CNN`), timed
(1) alone, (2) per iteration of a 16-step `lax.scan` that applies it 16 times (what PPO's minibatch
loop does), and (3) the same scan unrolled. Programs are compiled and run once before timing;
medians of `reps`. On XLA:CPU (2) is several times (1) and (3): jax-ml/jax#12868, open since 2022.
This is why PPO with a CNN is slow on CPU here and in PureJaxRL alike (benchmarks/minatar.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp

from jaxrl.blocks.encoders import CNN

STEPS = 16


def programs(torso: str, size: int, channels: int, batch: int):
    model = CNN(torso)
    images = jnp.ones((batch, size, size, channels), jnp.float32)
    params = model.init(jax.random.key(0), images)
    grad = jax.grad(lambda p: jnp.sum(model.apply(p, images)))

    def loop(p, unroll):
        def body(p, _):
            return jax.tree.map(lambda w, g: w - 1e-6 * g, p, grad(p)), None
        return jax.lax.scan(body, p, None, length=STEPS, unroll=unroll)[0]

    return params, {"alone": (jax.jit(grad), 1), "scan": (jax.jit(lambda p: loop(p, 1)), STEPS),
                    "scan_unrolled": (jax.jit(lambda p: loop(p, STEPS)), STEPS)}


def run(torso: str = "nature", size: int = 36, channels: int = 1, batch: int = 64, reps: int = 5) -> dict:
    """Milliseconds per gradient for each program (medians of `reps`), and scan / alone."""
    params, progs = programs(torso, size, channels, batch)
    times: dict[str, list[float]] = {name: [] for name in progs}
    for name, (fn, _) in progs.items():
        jax.block_until_ready(fn(params))  # compile and warm up
    for _ in range(reps):
        for name, (fn, grads) in progs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(params))
            times[name].append((time.perf_counter() - t0) * 1000 / grads)
    ms = {name: statistics.median(v) for name, v in times.items()}
    return {"torso": torso, "image": [size, size, channels], "batch": batch, "reps": reps, "ms_per_gradient": ms,
            "scan_over_alone": ms["scan"] / ms["alone"], "unrolled_over_alone": ms["scan_unrolled"] / ms["alone"]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--torso", default="nature")
    parser.add_argument("--size", type=int, default=36)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(args.torso, args.size, args.channels, args.batch, args.reps)))
