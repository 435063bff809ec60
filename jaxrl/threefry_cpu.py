"""Faster CPU lowering of JAX's random-number hash (same bits).

Every `jax.random` call (split, bits, uniform, normal...) hashes counters with threefry2x32. On CPU,
JAX lowers that hash as a rolled loop of 5 iterations, whose body and fusions XLA's CPU backend
compiles as separate kernels at every call site. The unrolled lowering (the one JAX uses on GPU
and TPU) is straight-line code of cheap integer ops, and XLA's fusion then copies the whole hash
into every fusion that reads a draw: in a SAC training chunk, 26 such copies made up 72% of the
HLO (the actor's noise alone was recomputed in about ten backward-pass fusions).

This lowering is the unrolled hash followed by an integer division by a value XLA cannot fold
(1 at run time). XLA's cost model counts such a division as expensive and never duplicates it,
so each call site hashes once, into a buffer its consumers read. Measured side by side in one
process (200-update programs, CPU): the SAC program's compile time 4.6 -> 2.6 s and its update
-4..9%; DQN compile -16%, PQN -9%, PPO -6%, run times unchanged within noise.

`use_unrolled_threefry()` registers it for the CPU platform. It changes no random value
(tests/test_threefry_cpu.py compares bits with a process that keeps JAX's default), only how fast
programs compile and run. It relies on JAX internals, so any failure leaves JAX's default in place.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np


def _hash_once(key1, key2, x1, x2, *, hash_fn):
    """`hash_fn`'s unrolled threefry2x32, then `// 1` with a 1 XLA cannot constant-fold."""
    y = jnp.stack(hash_fn(key1, key2, x1, x2, use_rolled_loops=False))  # one division for both words
    one = ((key1 >> np.uint32(16)) >> np.uint32(16)) + np.uint32(1)  # key1 is uint32: always 1
    y = y // one
    return y[0], y[1]


@functools.cache
def use_unrolled_threefry() -> bool:
    """Lower threefry2x32 unrolled and computed once per call site on CPU. Returns whether registered."""
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32 as threefry

        rule = mlir.lower_fun(
            functools.partial(_hash_once, hash_fn=threefry._threefry2x32_lowering), multiple_results=True
        )
        mlir.register_lowering(threefry.threefry2x32_p, rule, platform="cpu")
    except (ImportError, AttributeError):  # a JAX version that moved these internals
        return False
    return True
