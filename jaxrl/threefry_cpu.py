"""Faster-compiling CPU lowering of JAX's random-number hash (same bits).

Every `jax.random` call hashes counters with threefry2x32. On CPU, JAX lowers that hash as a rolled
loop of 5 iterations; XLA's CPU backend compiles the loop body and each of its fusions as separate
kernels at every call site. In a PPO training chunk (PureJaxRL CartPole settings) those kernels
were about 40% of the LLVM compile time. The unrolled lowering, the one JAX itself uses on GPU and
TPU, computes the same function as one elementwise fusion per call site, which cut the chunk's
kernel compile time from 2.6 to 1.6 CPU-seconds; run time was unchanged within noise.

`use_unrolled_threefry()` registers that lowering for the CPU platform. It changes no random value
(tests/test_threefry_cpu.py compares bits with a process that keeps JAX's default), only how fast
programs compile. It relies on JAX internals, so any failure leaves JAX's default in place.
"""

from __future__ import annotations

import functools


@functools.cache
def use_unrolled_threefry() -> bool:
    """Lower threefry2x32 unrolled on CPU. Returns whether the lowering is registered."""
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32 as threefry

        mlir.register_lowering(threefry.threefry2x32_p, threefry._threefry2x32_lowering_rule, platform="cpu")
    except (ImportError, AttributeError):  # a JAX version that moved these internals
        return False
    return True
