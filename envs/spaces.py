"""Observation and action spaces: `Discrete`, `Box`, and the composite `Dict` and `Tuple`.

Spaces are plain Python objects (not pytrees): they describe shapes and bounds and are used at trace
time. `sample(key)` and `contains(x)` are pure JAX, so they can run under `jit`/`vmap`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class Space:
    """Base class. `shape` and `dtype` describe one element (no batch axis)."""

    shape: tuple[int, ...]
    dtype: Any

    def sample(self, key: jax.Array) -> Any:
        raise NotImplementedError

    def contains(self, x: Any) -> jax.Array:
        raise NotImplementedError


class Discrete(Space):
    """Integers `0 .. n-1` (int32 scalars)."""

    def __init__(self, n: int):
        if int(n) < 1:
            raise ValueError(f"Discrete space needs n >= 1, got n={n!r}.")
        self.n = int(n)
        self.shape = ()
        self.dtype = jnp.int32

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, (), 0, self.n, dtype=self.dtype)

    def contains(self, x: Any) -> jax.Array:
        x = jnp.asarray(x)
        return jnp.logical_and(jnp.all(x >= 0), jnp.all(x < self.n)) & (x.shape == ())

    def __repr__(self) -> str:
        return f"Discrete({self.n})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Discrete) and other.n == self.n

    def __hash__(self) -> int:
        return hash(("Discrete", self.n))


class Box(Space):
    """A box `[low, high]` of the given shape; `low`/`high` are scalars or arrays of that shape."""

    def __init__(self, low: Any, high: Any, shape: Sequence[int] | None = None, dtype: Any = jnp.float32):
        low_np, high_np = np.asarray(low), np.asarray(high)
        if shape is None:
            shape = np.broadcast_shapes(low_np.shape, high_np.shape)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype
        self.low = np.broadcast_to(low_np, self.shape).astype(dtype)
        self.high = np.broadcast_to(high_np, self.shape).astype(dtype)
        if np.any(self.low > self.high):
            raise ValueError(f"Box needs low <= high everywhere, got low={low!r}, high={high!r}.")

    @property
    def bounded(self) -> bool:
        """True when every coordinate has finite bounds on both sides."""
        return bool(np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high)))

    def sample(self, key: jax.Array) -> jax.Array:
        if jnp.issubdtype(self.dtype, jnp.integer):
            return jax.random.randint(key, self.shape, self.low, self.high.astype(np.int64) + 1, self.dtype)
        finite = np.isfinite(self.low) & np.isfinite(self.high)
        low = np.where(finite, self.low, -1.0)
        high = np.where(finite, self.high, 1.0)
        if finite.all():  # static: no normal draws for a bounded box
            return jax.random.uniform(key, self.shape, jnp.float32, low, high).astype(self.dtype)
        # Unbounded coordinates are sampled from a standard normal, as in Gymnasium. Two keys, not
        # `key` and fold_in(key, 1): the fold equals split(key)[1], whose bits `uniform(key)` draws.
        key_uniform, key_normal = jax.random.split(key)
        uniform = jax.random.uniform(key_uniform, self.shape, jnp.float32, low, high)
        normal = jax.random.normal(key_normal, self.shape, jnp.float32)
        return jnp.where(finite, uniform, normal).astype(self.dtype)

    def contains(self, x: Any) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        return jnp.all(x >= self.low) & jnp.all(x <= self.high)

    def __repr__(self) -> str:
        lo = self.low.min() if self.low.size else 0
        hi = self.high.max() if self.high.size else 0
        return f"Box({lo}, {hi}, {self.shape}, {np.dtype(self.dtype).name})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Box)
            and other.shape == self.shape
            and np.dtype(other.dtype) == np.dtype(self.dtype)
            and np.array_equal(other.low, self.low)
            and np.array_equal(other.high, self.high)
        )

    def __hash__(self) -> int:
        return hash(("Box", self.shape, np.dtype(self.dtype).name))


class Dict(Space):
    """A mapping of named subspaces; elements are dicts with the same keys."""

    def __init__(self, spaces: Mapping[str, Space]):
        self.spaces = dict(spaces)
        self.shape = ()
        self.dtype = None

    def sample(self, key: jax.Array) -> dict[str, Any]:
        keys = jax.random.split(key, max(len(self.spaces), 1))
        return {name: space.sample(k) for (name, space), k in zip(self.spaces.items(), keys)}

    def contains(self, x: Any) -> jax.Array:
        if not isinstance(x, Mapping) or set(x) != set(self.spaces):
            return jnp.asarray(False)
        return jnp.all(jnp.stack([jnp.asarray(s.contains(x[n])) for n, s in self.spaces.items()]))

    def __repr__(self) -> str:
        return f"Dict({self.spaces!r})"


class Tuple(Space):
    """A fixed-length sequence of subspaces; elements are tuples."""

    def __init__(self, spaces: Sequence[Space]):
        self.spaces = tuple(spaces)
        self.shape = ()
        self.dtype = None

    def sample(self, key: jax.Array) -> tuple[Any, ...]:
        keys = jax.random.split(key, max(len(self.spaces), 1))
        return tuple(space.sample(k) for space, k in zip(self.spaces, keys))

    def contains(self, x: Any) -> jax.Array:
        if not isinstance(x, (tuple, list)) or len(x) != len(self.spaces):
            return jnp.asarray(False)
        return jnp.all(jnp.stack([jnp.asarray(s.contains(v)) for s, v in zip(self.spaces, x)]))

    def __repr__(self) -> str:
        return f"Tuple({self.spaces!r})"


def flat_dim(space: Space) -> int:
    """Number of scalars in a flattened element (a `Discrete` counts as one integer)."""
    if isinstance(space, Discrete):
        return 1
    if isinstance(space, Box):
        return int(np.prod(space.shape))
    if isinstance(space, Dict):
        return sum(flat_dim(s) for s in space.spaces.values())
    if isinstance(space, Tuple):
        return sum(flat_dim(s) for s in space.spaces)
    raise TypeError(f"flat_dim does not know space {space!r}")
