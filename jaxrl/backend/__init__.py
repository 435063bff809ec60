"""The backend corner: every hardware-specific workaround in jaxrl, behind a few named entry points.

Algorithms (`jaxrl.agents`) and environments (`jaxrl.envs`) never import this package: the building
blocks and the population program call these entry points, and each one is either a pure speed
tuning (same values, measured by `python -m benchmarks.tuning`, switchable) or a fix for a backend
bug (not switchable).

| tuning | what it does | gain measured when it landed |
|---|---|---|
| `dense_dot` | `dense_dot_general`: dense weight gradients on XLA:CPU's fast dot path | PPO run -6%, SAC run -5..9% |
| `layer_norm` | `LayerNorm`: closed-form JVP rule | PQN update -5..9% |
| `flat_optimizer` | `flat_optimizer`: clip + optimiser over one flat vector | compile -15..28% |
| `threefry` | `random_lowering`: each random draw hashed once per call site (CPU) | SAC compile 4.6 -> 2.6 s |
| `unbatched_single` | `over_members`: one member without `vmap` (CPU batched dots of 1 are 2x slower) | PQN step 228 -> 104 us |
| `init_opt0` | `init_compile_options`: init compiled without LLVM optimisations (CPU) | init compile halved |

Fixes (always on): `init_members` / `init_on_one_device` initialise a population's members one at a
time on one device on XLA:CPU, where two batched LAPACK QRs on its shared pool deadlock.

`JAXRL_TUNING` switches tunings off for a process (`none`, or names with a minus:
`-threefry,-dense_dot`); `tuning(threefry=False)` does so in a `with` block. Both change only speed.
The process-wide effects jaxrl has are listed in docs/architecture.md (`split_cpu_devices`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

TUNINGS = ("dense_dot", "layer_norm", "flat_optimizer", "threefry", "unbatched_single", "init_opt0")


def _from_environment() -> dict[str, bool]:
    text = os.environ.get("JAXRL_TUNING", "").strip()
    switches = dict.fromkeys(TUNINGS, text != "none")
    for item in filter(None, (part.strip() for part in text.split(","))):
        if item in ("none", "all"):
            continue
        name = item.lstrip("+-")
        if name not in switches:
            raise ValueError(
                f"JAXRL_TUNING names an unknown tuning {name!r}; known: {', '.join(TUNINGS)} "
                "(e.g. JAXRL_TUNING=-threefry,-dense_dot, or none)."
            )
        switches[name] = not item.startswith("-")
    return switches


_SWITCHES = _from_environment()


def enabled(name: str) -> bool:
    """Whether the tuning `name` (one of `TUNINGS`) is on."""
    return _SWITCHES[name]


def active() -> tuple[str, ...]:
    """The tunings that are on (part of every compiled program's cache key)."""
    return tuple(name for name in TUNINGS if _SWITCHES[name])


@contextlib.contextmanager
def tuning(**switches: bool) -> Iterator[None]:
    """Switch tunings on or off inside a `with` block, e.g. `tuning(threefry=False)`."""
    unknown = sorted(set(switches) - set(TUNINGS))
    if unknown:
        raise ValueError(f"Unknown tuning {', '.join(unknown)}; known: {', '.join(TUNINGS)}.")
    saved = dict(_SWITCHES)
    _SWITCHES.update({k: bool(v) for k, v in switches.items()})
    try:
        yield
    finally:
        _SWITCHES.clear()
        _SWITCHES.update(saved)


def dense_dot_general():
    """The `dot_general` for flax's `nn.Dense`: the CPU-tuned matmul, or `lax.dot_general`."""
    import jax

    from jaxrl.backend.dense import dot_general

    return dot_general if enabled("dense_dot") else jax.lax.dot_general


def LayerNorm():  # noqa: N802 - returns a module, named like one
    """A LayerNorm module over the last axis (epsilon 1e-6, flax's parameter names)."""
    import flax.linen as nn

    from jaxrl.backend.layer_norm import LayerNorm as Tuned

    return Tuned() if enabled("layer_norm") else nn.LayerNorm(epsilon=1e-6)


def flat_optimizer(optimizer):
    """`optimizer` over the parameters concatenated into one vector (`optax.flatten`), or as is."""
    import optax

    return optax.flatten(optimizer) if enabled("flat_optimizer") else optimizer


def random_lowering():
    """Context in which jaxrl lowers its programs: on CPU, each random draw is hashed once."""
    from jaxrl.backend.threefry import hashed_once

    return hashed_once(enabled("threefry"))


from jaxrl.backend.members import (  # noqa: E402
    init_compile_options,
    init_members,
    init_on_one_device,
    over_members,
)

__all__ = [
    "TUNINGS", "LayerNorm", "active", "dense_dot_general", "enabled", "flat_optimizer", "init_compile_options",
    "init_members", "init_on_one_device", "over_members", "random_lowering", "tuning",
]
