"""A population's members as program inputs: the layout, per-member keys and traced settings, and
copying members' states (population-based training).

A population is `num_members` runs of one static configuration. It is computed as `size` members
(`num_members` padded by repeating the last one, so that it splits evenly over the devices; padded
members are never reported or saved), or, for a single run whose env batch divides over several
devices, as one member whose env batch is split (`split_envs`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.config import ResolvedConfig
from jaxrl.population import sharding


@dataclasses.dataclass(frozen=True)
class Layout:
    """How many members are reported (`num_members`) and computed (`size`), and whether a single
    run splits its env batch over the devices."""

    num_members: int
    size: int
    split_envs: bool


@struct.dataclass
class WithContext:
    """A member's traced inputs when the population has per-member contexts
    (`ResolvedConfig.member_contexts`): the agent's Hparams and the env params fields it overrides,
    `{field: value}` (leaves gain the leading member axis `[size, ...]` as program inputs)."""

    hparams: Any
    context: dict[str, Any]


def layout(resolved: ResolvedConfig, min_size: int = 1) -> Layout:
    """The layout of `resolved`'s members; `min_size` pads the population to at least that many
    (equal-sized parts of a sweep then share one compiled program)."""
    num_members = len(resolved.seeds)
    wanted = max(num_members, min_size)
    split_envs = wanted == 1 and sharding.divides_envs(getattr(resolved.config, "num_envs", None))
    return Layout(num_members, 1 if split_envs else sharding.padded_size(wanted), split_envs)


def member_inputs(resolved: ResolvedConfig, size: int | None = None) -> tuple[jax.Array, Any]:
    """The per-member init keys `[size]` and traced settings (pytree of `[size]` arrays), on the host.

    `size` (default: the number of members) pads the population by repeating its last member (a
    smaller `size` takes the first members, e.g. to compile for part of a population).
    """
    size = size or len(resolved.seeds)
    keys = jax.vmap(jax.random.key)(jnp.asarray(_resized(resolved.seeds, size), jnp.uint32))
    return keys, _with_contexts(resolved, _stack(_resized(resolved.members, size)), size)


def placed_inputs(resolved: ResolvedConfig, lay: Layout,
                  member_hparams: Sequence[dict[str, Any]] | None = None) -> tuple[jax.Array, Any]:
    """`member_inputs` of the layout's size on the devices: split over the member axis, or whole on
    every device when a single run splits its env batch. `member_hparams` (one dict of traced
    settings per member, as PBT keeps them) replaces the configured ones."""
    keys, hparams = member_inputs(resolved, lay.size)
    if member_hparams is not None:
        hparams = _stack(_resized([dataclasses.replace(resolved.hparams, **v) for v in member_hparams], lay.size))
        hparams = _with_contexts(resolved, hparams, lay.size)
    tree = (keys, hparams)
    return jax.device_put(tree, sharding.replicated()) if lay.split_envs else sharding.place(tree)


def copy_members(state: Any, sources: Sequence[int], step: int, size: int) -> Any:
    """Member i continues from member `sources[i]`'s full state (params, optimiser, env, statistics).

    A member that copied another gets a new RNG stream (its key folded with a copy tag and `step`),
    so the copy does not replay its source's experience; members that keep their own state are
    unchanged.
    """
    sources = list(sources) + list(range(len(sources), size))  # padding members keep their own
    index = jnp.asarray(sources, jnp.int32)
    copied = index != jnp.arange(size)
    return _copy_program(size)(state, index, copied, jnp.int32(step))


# fold_in(k, i) equals split(k, n)[i] (partitionable threefry), so folding the step straight into the
# source's key could give a subkey the source itself draws (steps 1-3: its update splits its key in
# 3 or 4). Folding in this tag first puts every copy's stream where no split of the key reaches.
_COPY_STREAM = 0x5EED_C0DE


@functools.cache
def _copy_program(size: int):
    def copy(state, index, copied, step):
        def take(x):
            x = x[index]
            if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) or x.ndim != 1:
                return x
            fresh = jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, _COPY_STREAM), step))(x)
            data = jnp.where(copied[:, None], jax.random.key_data(fresh), jax.random.key_data(x))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))

        return jax.tree.map(take, state)

    members = sharding.member_sharding(size)
    return jax.jit(copy, **({} if members is None else {"out_shardings": members}))


def _with_contexts(resolved: ResolvedConfig, hparams: Any, size: int) -> Any:
    """`hparams` `[size]`, bundled with the members' contexts when the population has them."""
    if resolved.member_contexts is None:
        return hparams
    contexts = [{k: np.asarray(v) for k, v in c.items()} for c in resolved.member_contexts]
    return WithContext(hparams, _stack(_resized(contexts, size)))


def _stack(members: Sequence[Any]) -> Any:
    """Hparams dataclasses (or context dicts) of Python scalars or arrays -> one pytree of
    `[len(members), ...]` arrays."""

    def column(*values):
        value = np.asarray(values)
        dtype = np.float32 if value.dtype.kind == "f" else (np.int32 if value.dtype.kind in "iu" else value.dtype)
        return jnp.asarray(value, dtype)

    return jax.tree.map(column, *members)


def _resized(items: Sequence[Any], size: int) -> list[Any]:
    """The first `size` items, the last one repeated when there are fewer."""
    items = list(items)[:size]
    return items + items[-1:] * (size - len(items))
