"""Spreading a population of runs over this process's devices.

A population (seeds x hyperparameters) is one vmapped program; with several local devices its
member axis is split over a 1-D `Mesh` with `NamedSharding`, so each device runs its share of the
members and no member's computation crosses devices. The population is padded (by repeating its
last member) to a multiple of the device count; padded members are never reported or saved.
A single run (one member) whose `num_envs` divides evenly instead splits its env batch over the
devices, with the rest of its state replicated (XLA adds the cross-device reductions).

Several hosts (`jax.distributed.initialize()`) each run their own slice of a sweep on their own
local devices (see `jaxrl.sweeps`), so no array ever spans processes.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MEMBER_AXIS = "members"
ENV_AXIS = "envs"
SPLIT_ENVS_ON_CPU = False  # tests set it, to exercise env splitting on virtual CPU devices


def num_devices() -> int:
    return jax.local_device_count()


def padded_size(num_members: int) -> int:
    """The population size actually computed: `num_members` rounded up to a multiple of the devices
    (a single run is not padded: it runs on one device, or splits its env batch)."""
    if num_members == 1:
        return 1
    devices = num_devices()
    return -(-num_members // devices) * devices


def memory_budget() -> int | None:
    """Bytes a program may use on each local device: 90% of an accelerator's free memory, or on
    CPU 80% of the host's available memory shared by the (virtual) devices. None when unknown."""
    device = jax.local_devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(0.9 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0)))
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
        return int(0.8 * info["MemAvailable"] / num_devices())
    except (OSError, KeyError, ValueError, IndexError):
        return None


def member_sharding(size: int) -> NamedSharding | None:
    """Sharding of arrays whose leading axis holds `size` members (a multiple of the devices, see
    `padded_size`); None on one device or for a single member."""
    if num_devices() == 1 or size == 1:
        return None
    mesh = Mesh(np.asarray(jax.local_devices()), (MEMBER_AXIS,))
    return NamedSharding(mesh, PartitionSpec(MEMBER_AXIS))


def replicated() -> NamedSharding | None:
    """Sharding of arrays every device needs whole (None on one device)."""
    if num_devices() == 1:
        return None
    return NamedSharding(Mesh(np.asarray(jax.local_devices()), (MEMBER_AXIS,)), PartitionSpec())


def place(tree: Any) -> Any:
    """Put a member-batched pytree on the devices, split along the member axis."""
    sharding = member_sharding(jax.tree.leaves(tree)[0].shape[0])
    return tree if sharding is None else jax.device_put(tree, sharding)


def with_sharding(shapes: Any, sharding: Any) -> Any:
    """ShapeDtypeStructs carrying `sharding` (one for all, or a matching tree; for AOT lowering)."""
    if sharding is None:
        return shapes
    if isinstance(sharding, NamedSharding):
        return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)
    return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes, sharding)


def divides_envs(num_envs: int | None) -> bool:
    """Whether a single run's env batch is split evenly over several local accelerators. Not on
    CPU: there the cross-device reductions of every minibatch cost more than they save (PPO,
    CartPole, 2 cores: 77k vs 113k steps/s), so one run uses one CPU device."""
    return (num_devices() > 1 and (jax.default_backend() != "cpu" or SPLIT_ENVS_ON_CPU) and bool(num_envs)
            and num_envs % num_devices() == 0)



def env_axis_sharding(state_shape: Any, num_envs: int) -> Any:
    """For ONE run on several devices: a sharding per leaf of the (member-batched) agent state that
    splits the env batch (axis 1 of the leaves under `state.env`: observations, env states, episode
    statistics) over the devices and replicates everything else (parameters, optimiser, buffers)."""
    mesh = Mesh(np.asarray(jax.local_devices()), (ENV_AXIS,))
    split, whole = NamedSharding(mesh, PartitionSpec(None, ENV_AXIS)), NamedSharding(mesh, PartitionSpec())

    def choose(path, leaf):
        in_env = bool(path) and getattr(path[0], "name", None) == "env"
        return split if in_env and leaf.ndim >= 2 and leaf.shape[1] == num_envs else whole

    return jax.tree_util.tree_map_with_path(choose, state_shape)


def pad_members(tree: Any, size: int) -> Any:
    """Extend the leading (member) axis of every leaf to `size` by repeating the last member."""

    def pad(x):
        extra = size - x.shape[0]
        return x if extra == 0 else jnp.concatenate([x, jnp.repeat(x[-1:], extra, axis=0)])

    return jax.tree.map(pad, tree)


def first_members(tree: Any, count: int) -> Any:
    """The first `count` members of every leaf (drops padding)."""
    return jax.tree.map(lambda x: x if x.shape[0] == count else x[:count], tree)
