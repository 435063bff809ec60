"""How a population's member axis is compiled on this backend (used by `jaxrl.population` only).

`over_members` maps a one-member function over the member axis; `init_members` and
`init_on_one_device` work around an XLA:CPU deadlock in population init; `init_compile_options`
compiles the (tiny, run-once) init program without LLVM's optimisations on CPU.
"""

from __future__ import annotations

from typing import Any

import jax

from jaxrl.backend import enabled


def over_members(fn, num_members: int, in_axes: tuple[int | None, ...]):
    """`fn` mapped over the leading member axis of the arguments whose `in_axes` entry is 0.

    One member (tuning `unbatched_single`): `fn` itself, that axis taken off the inputs and put
    back on the outputs. Same result as `jax.vmap`, but vmap turns every matmul into a batched one
    with a batch of 1, which XLA's CPU backend runs about 2x slower (a PQN minibatch step: 228 vs
    104 us).
    """
    if num_members > 1 or not enabled("unbatched_single"):
        return jax.vmap(fn, in_axes=in_axes)

    def single(*args):
        args = [a if axis is None else jax.tree.map(lambda x: x[0], a) for a, axis in zip(args, in_axes)]
        return jax.tree.map(lambda x: x[None], fn(*args))

    return single


def init_members(init, num_members: int):
    """`init(keys [N], hparams [N]) -> state [N]` for every member: vmapped, except on CPU with
    several members, where they are initialised one after another (`lax.map`). XLA:CPU can
    deadlock when two batched LAPACK calls (the QR of orthogonal initialisers) run at once on its
    intra-op pool (seen on 2 cores: a vmapped PPO init executed repeatedly hangs within seconds);
    unbatched they run inline."""
    if num_members == 1 or jax.default_backend() != "cpu":
        return over_members(init, num_members, in_axes=(0, 0))
    return lambda keys, hparams: jax.lax.map(lambda member: init(*member), (keys, hparams))


def init_on_one_device(state_sharding: Any) -> bool:
    """Whether a population's init must run on one device and be split over the devices after:
    on several CPU devices each device's part of a sharded init would run at the same time, and
    two batched LAPACK calls on XLA:CPU's shared intra-op pool wait on each other forever (seen:
    SAC, 2 members on 2 CPU devices)."""
    return state_sharding is not None and jax.default_backend() == "cpu"


def init_compile_options() -> dict[str, Any] | None:
    """XLA compile options of the init program: on CPU (tuning `init_opt0`) without LLVM's
    optimisations, which halves the compile of a program that runs once and is tiny."""
    if jax.default_backend() == "cpu" and enabled("init_opt0"):
        return {"xla_backend_optimization_level": 0}
    return None
