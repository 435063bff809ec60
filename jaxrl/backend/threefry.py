"""Faster CPU lowering of JAX's random-number hash (same bits), for jaxrl's own programs only.

Every `jax.random` call (split, bits, uniform, normal...) hashes counters with threefry2x32. On CPU,
JAX lowers that hash as a rolled loop of 5 iterations, whose body and fusions XLA's CPU backend
compiles as separate kernels at every call site. The unrolled lowering (the one JAX uses on GPU
and TPU) is straight-line code of cheap integer ops, and XLA's fusion then copies the whole hash
into every fusion that reads a draw: in a SAC training chunk, 26 such copies made up 72% of the
HLO (the actor's noise alone was recomputed in about ten backward-pass fusions).

This lowering is the unrolled hash followed by an integer division by a value XLA cannot fold
(1 at run time). XLA's cost model counts such a division as expensive and never duplicates it,
so each call site hashes once, into a buffer its consumers read.

Scope: `hashed_once()` is a context manager. The CPU rule that JAX looks up becomes a dispatcher
that uses this lowering only while the current thread is inside the context (jaxrl lowers its
programs there) and JAX's own rule otherwise, so a user's programs lower exactly as without jaxrl.
It changes no random value (tests/test_backend_threefry.py compares bits with a process that keeps
JAX's default). It relies on JAX internals, so any failure leaves JAX's default in place.
"""

from __future__ import annotations

import contextlib
import functools
import threading

import jax.numpy as jnp
import numpy as np

_THREAD = threading.local()


def _hash_once(key1, key2, x1, x2, *, hash_fn):
    """`hash_fn`'s unrolled threefry2x32, then `// 1` with a 1 XLA cannot constant-fold."""
    y = jnp.stack(hash_fn(key1, key2, x1, x2, use_rolled_loops=False))  # one division for both words
    one = ((key1 >> np.uint32(16)) >> np.uint32(16)) + np.uint32(1)  # key1 is uint32: always 1
    y = y // one
    return y[0], y[1]


@functools.cache
def _install() -> bool:
    """Register the dispatching CPU rule once. Returns whether JAX's internals allowed it."""
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32 as threefry

        prim = threefry.threefry2x32_p
        default = mlir._platform_specific_lowerings["cpu"].get(prim) or mlir._lowerings[prim]
        ours = mlir.lower_fun(
            functools.partial(_hash_once, hash_fn=threefry._threefry2x32_lowering), multiple_results=True
        )

        def dispatch(ctx, *args, **kwargs):
            rule = ours if getattr(_THREAD, "depth", 0) else default.rule
            return rule(ctx, *args, **kwargs)

        mlir.register_lowering(prim, dispatch, platform="cpu", inline=default.inline)
    except (ImportError, AttributeError, KeyError, TypeError):  # a JAX version that moved these internals
        return False
    return True


@contextlib.contextmanager
def hashed_once(enabled: bool = True):
    """Within this context (this thread only), CPU lowerings hash each random draw once per call site."""
    active = enabled and _install()
    _THREAD.depth = getattr(_THREAD, "depth", 0) + active
    try:
        yield active
    finally:
        _THREAD.depth -= active
