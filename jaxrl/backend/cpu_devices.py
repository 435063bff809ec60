"""One virtual XLA:CPU device per core, so that a population's program uses every core.

XLA:CPU runs a program on one device, so a vmapped population uses about one core. `import jaxrl`
calls `split_cpu_devices()`, which (unless `XLA_FLAGS` already sets the device count, or JAX's
backends are already initialised) adds `--xla_force_host_platform_device_count=N` with one device
per available core; populations are then sharded over the cores (64 PPO members on 2 cores: 1.7x
and 2.4x the steps/s in two measurements). It is process-wide by nature (XLA reads the flag when
its CPU backend starts), so it is documented in docs/architecture.md with its opt-out:
`JAXRL_CPU_DEVICES=1` (or N devices).
"""

from __future__ import annotations

import os
import sys


def split_cpu_devices() -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return
    try:
        count = int(os.environ.get("JAXRL_CPU_DEVICES") or len(os.sched_getaffinity(0)))
    except (ValueError, AttributeError):
        return
    if count <= 1 or ("jax" in sys.modules and _backends_initialized()):
        return
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


def _backends_initialized() -> bool:
    try:
        from jax._src import xla_bridge

        return xla_bridge.backends_are_initialized()
    except (ImportError, AttributeError):
        return True
