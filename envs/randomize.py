"""Per-copy environment parameters: domain randomisation and contextual RL.

Everything that may vary between env copies lives in `EnvParams`, a pytree, so a batch of copies
with different dynamics is just a params pytree whose leaves have a leading axis `[N, ...]`, and
`jax.vmap` over it:

    env, params = jaxrl.make("CartPole-v1")
    batched = sample_params(key, params, 256, masspole=(0.05, 0.5), length=(0.25, 1.0))
    obs, states = jax.vmap(env.reset)(jax.random.split(key_reset, 256), batched)
    step = jax.vmap(env.step, in_axes=(0, 0, 0, 0))  # keys, states, actions, params
    obs, states, reward, terminated, truncated, info = step(keys, states, actions, batched)

Each copy keeps its parameters across auto-resets (they are an input of `step`, not state).
To resample per episode, draw fresh params every step and keep them only where an episode
ended: `params = select_params(terminated | truncated, sample_params(key, base, N, ...), params)`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp


def batch_params(params: Any, num_copies: int) -> Any:
    """Repeat every leaf of `params` along a new leading axis: leaves `[...]` -> `[num_copies, ...]`.

    Python numbers become int32/float32 arrays (whatever the x64 setting), as `jit` treats them.
    """

    def repeat(leaf: Any) -> jax.Array:
        x = jnp.asarray(leaf, dtype=_leaf_dtype(leaf))
        return jnp.broadcast_to(x, (num_copies, *x.shape))

    return jax.tree.map(repeat, params)


def sample_params(
    key: jax.Array, base_params: Any, num_copies: int, **ranges: tuple[Any, Any]
) -> Any:
    """Batched params for `num_copies` env copies, with fields drawn uniformly from `field=(low, high)`.

    `base_params`: a params dataclass (e.g. `env.default_params`). Fields not in `ranges` are
    repeated unchanged (`batch_params`). A float field is drawn from `U[low, high)`; an integer
    field (e.g. `max_steps_in_episode`) from the integers `low..high` inclusive. `low`/`high` may be
    arrays shaped like the field. Returns params with every leaf shaped `[num_copies, ...]`, for
    `jax.vmap(..., in_axes=0)` (see the module docstring).
    """
    fields = {f.name: f for f in dataclasses.fields(base_params)}
    unknown = sorted(set(ranges) - set(fields))
    if unknown:
        raise ValueError(
            f"sample_params: {type(base_params).__name__} has no field(s) {unknown}; fields are {sorted(fields)}."
        )
    static = sorted(n for n in ranges if not fields[n].metadata.get("pytree_node", True))
    if static:
        raise ValueError(f"sample_params: field(s) {static} are static (pytree_node=False) and cannot vary per copy.")
    batched = batch_params(base_params, num_copies)
    keys = jax.random.split(key, max(len(ranges), 1))
    sampled = {}
    for k, name in zip(keys, sorted(ranges)):
        low, high = ranges[name]
        base = getattr(base_params, name)
        dtype = _leaf_dtype(base)
        shape = (num_copies, *jnp.shape(base))
        if jnp.issubdtype(dtype, jnp.integer):
            sampled[name] = jax.random.randint(k, shape, jnp.asarray(low), jnp.asarray(high) + 1, dtype)
        else:
            sampled[name] = jax.random.uniform(k, shape, jnp.float32, jnp.asarray(low), jnp.asarray(high))
    return batched.replace(**sampled)


def select_params(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Per-copy choice between two batched params: `pred` `[N]` bool, leaves `[N, ...]` -> `[N, ...]`."""

    def select(t: jax.Array, f: jax.Array) -> jax.Array:
        return jnp.where(jnp.reshape(pred, pred.shape + (1,) * (jnp.ndim(t) - pred.ndim)), t, f)

    return jax.tree.map(select, on_true, on_false)


def _leaf_dtype(leaf: Any) -> Any:
    """int32 for integers, bool for bools, float32 for other numbers; arrays keep their dtype."""
    if isinstance(leaf, bool):
        return jnp.bool_
    if isinstance(leaf, int):
        return jnp.int32
    if isinstance(leaf, float):
        return jnp.float32
    return jnp.asarray(leaf).dtype
