"""Optimistic auto-reset, for envs whose reset costs far more than a step.

The base class's auto-reset runs `reset_env` for every copy at every step and keeps it where the
episode ended (`vmap` cannot skip the copies that go on). For Craftax, whose reset generates a
world, that is ~30x the cost of a step. `optimistic_reset(reset_env, ratio)` is an `auto_reset`
that, when `vmap`ped over B copies, generates only R = ceil(B / ratio) fresh episodes per step
and hands them to the copies whose episode ended, in order of copy index: the k-th ending copy
starts fresh episode k mod R. As long as at most R copies end on the same step, every one starts
its own fresh episode, drawn as `reset_env` draws them; when more end together (e.g. every copy
truncated at the same time limit) some start identical episodes. This is Craftax's own
`OptimisticResetVecEnvWrapper` (Matthews et al. 2024), which picks the ending copies at random
instead of in order.

Exact (every copy its own `reset_env`) when not vmapped, when `ratio == 1`, and when the params
differ per copy (domain randomisation, `check_env`), since the fresh episodes would then need
each copy's own params. The batching rule is a `jax.custom_batching.custom_vmap`; an outer `vmap`
(population members) batches its body as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

ResetFn = Callable[[jax.Array, Any], tuple[Any, Any]]


def optimistic_reset(reset_env: ResetFn, ratio: int) -> Callable[[jax.Array, jax.Array, Any], tuple[Any, Any]]:
    """`auto_reset(done, key, params) -> (obs, state)` from `reset_env(key, params)`, generating one
    fresh episode per `ratio` copies when vmapped (see the module docstring). `done` is a bool
    scalar per copy; the result is used only where `done`."""
    if not isinstance(ratio, int) or ratio < 1:
        raise ValueError(f"reset_ratio must be a positive integer (copies per fresh episode), got {ratio!r}.")

    @custom_vmap
    def auto_reset(done: jax.Array, key: jax.Array, params: Any):
        del done
        return reset_env(key, params)

    @auto_reset.def_vmap
    def batched(axis_size: int, in_batched: tuple, done: jax.Array, key: jax.Array, params: Any):
        done_batched, key_batched, params_batched = in_batched
        num_fresh = -(-axis_size // ratio)
        if num_fresh == axis_size or not (done_batched and key_batched) or any(jax.tree.leaves(params_batched)):
            out = _reset_each(reset_env, axis_size, key, key_batched, params, params_batched)
        else:
            fresh = jax.vmap(reset_env, in_axes=(0, None))(key[:num_fresh], params)
            which = (jnp.cumsum(done) - 1) % num_fresh  # [B]: the k-th ending copy takes fresh episode k mod R
            out = jax.tree.map(lambda x: x[which], fresh)
        return out, jax.tree.map(lambda _: True, out)

    return auto_reset


def _reset_each(reset_env: ResetFn, axis_size: int, key, key_batched: bool, params, params_batched) -> Any:
    """The exact auto-reset: `reset_env` for every copy, each with its own key and params."""
    if not key_batched:
        key = jnp.broadcast_to(key, (axis_size, *key.shape))
    params_axes = jax.tree.map(lambda batched: 0 if batched else None, params_batched)
    return jax.vmap(reset_env, in_axes=(0, params_axes), axis_size=axis_size)(key, params)
