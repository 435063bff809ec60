"""A replay buffer that lives inside the compiled training state (uniform or prioritised).

Layout: one ring of `rows = capacity // num_envs` time steps per env copy, every leaf stored
`[rows, num_envs, ...]`, so a rollout's time-major `[T, num_envs, ...]` batch is written as `T` rows
and each env's steps stay in order. A stored transition carries its own successor: `next_obs` is the
TRUE next observation (`info["final_observation"]` at episode ends, not the auto-reset one), with
`terminated` and `truncated` kept apart. So a sampled transition never straddles an auto-reset, and
a sampled sequence of `sequence_length` consecutive steps (for n-step returns) can be cut at its
first episode end by the return function (`jaxrl.blocks.returns.n_step_returns`) without losing the
bootstrap observation. Sequences are drawn only from rows already written and never run across the
write head (the newest `sequence_length - 1` rows are not sequence starts).

Everything is pure and shape-static: `init/add/sample/update_priorities` work under `jit`, `vmap`
(a population of seeds each with its own buffer) and inside `lax.scan`.

Why our own and not flashbax: flashbax's flat buffer derives `next_obs` from the next stored step,
which after an auto-reset is the first observation of the next episode (the transition straddles
the reset and truncation bootstraps from the wrong state); its item buffer stores independent
items and so cannot give n-step sequences; its trajectory buffer could, but then we would carry a
dependency (and its pinned chex/jax ranges) for ~150 lines whose semantics we must test anyway.
Prioritised sampling here is an O(N) cumulative sum + binary search per batch (no sum-tree): simple,
exact, and cheap at the buffer sizes that fit one device's memory.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.blocks.rollout import Transition

STORED_FIELDS = ("obs", "action", "reward", "terminated", "truncated", "next_obs")


@struct.dataclass
class ReplayState:
    """`data`: pytree of `[rows, num_envs, ...]`; `pos`: next row to write; `size`: rows filled.

    `priorities` (`[rows, num_envs]` float32, raw, before the exponent alpha) and `max_priority` are
    None for a uniform buffer.
    """

    data: Any
    pos: jax.Array
    size: jax.Array
    priorities: jax.Array | None = None
    max_priority: jax.Array | None = None


@struct.dataclass
class ReplaySample:
    """`experience`: pytree of `[sequence_length, batch_size, ...]` (time-major); `rows`, `envs`:
    `[batch_size]` int32 location of each sequence's first step; `weights`: `[batch_size]` importance
    weights (ones for uniform sampling)."""

    experience: Any
    rows: jax.Array
    envs: jax.Array
    weights: jax.Array


def transition_item(traj: Transition) -> dict[str, jax.Array]:
    """What a buffer stores from a rollout: the fields of `STORED_FIELDS`, each `[T, B, ...]`."""
    return {name: getattr(traj, name) for name in STORED_FIELDS}


@dataclasses.dataclass(frozen=True)
class ReplayBuffer:
    """Static description of a buffer; its methods are pure functions of a `ReplayState`.

    `capacity`: transitions in all (rounded down to a multiple of `num_envs`); `batch_size`:
    sequences per `sample`; `sequence_length`: consecutive steps per sequence (1 for one-step TD).
    """

    capacity: int
    num_envs: int
    batch_size: int
    sequence_length: int = 1
    prioritized: bool = False

    def __post_init__(self):
        if self.num_envs < 1 or self.batch_size < 1 or self.sequence_length < 1:
            raise ValueError(
                f"ReplayBuffer: num_envs, batch_size and sequence_length must be >= 1, got {self.num_envs}, "
                f"{self.batch_size}, {self.sequence_length}."
            )
        if self.rows < self.sequence_length:
            raise ValueError(
                f"ReplayBuffer: capacity {self.capacity} holds {self.rows} steps per env copy "
                f"(capacity // num_envs), fewer than sequence_length = {self.sequence_length}."
            )

    @property
    def rows(self) -> int:
        return self.capacity // self.num_envs

    def init(self, example: Any) -> ReplayState:
        """An empty buffer for items shaped like `example` (one transition of ONE env copy)."""
        data = jax.tree.map(
            lambda x: jnp.zeros((self.rows, self.num_envs, *jnp.shape(x)), jnp.asarray(x).dtype), example
        )
        priorities = max_priority = None
        if self.prioritized:
            priorities = jnp.zeros((self.rows, self.num_envs), jnp.float32)
            max_priority = jnp.float32(1.0)
        return ReplayState(data, jnp.int32(0), jnp.int32(0), priorities, max_priority)

    def add(self, state: ReplayState, batch: Any) -> ReplayState:
        """Append a time-major batch (leaves `[T, num_envs, ...]`), overwriting the oldest rows."""
        steps = jax.tree.leaves(batch)[0].shape[0]
        if steps > self.rows:
            raise ValueError(f"ReplayBuffer.add: {steps} steps do not fit in {self.rows} rows per env copy.")
        index = (state.pos + jnp.arange(steps)) % self.rows
        data = jax.tree.map(lambda buf, x: buf.at[index].set(x.astype(buf.dtype)), state.data, batch)
        priorities = state.priorities
        if self.prioritized:
            priorities = priorities.at[index].set(state.max_priority)
        return state.replace(
            data=data,
            pos=(state.pos + steps) % self.rows,
            size=jnp.minimum(state.size + steps, self.rows),
            priorities=priorities,
        )

    def can_sample(self, state: ReplayState) -> jax.Array:
        """Whether at least one full sequence is stored (bool scalar)."""
        return state.size >= self.sequence_length

    def fill(self, state: ReplayState) -> jax.Array:
        """Fraction of the capacity in use (float32 scalar in [0, 1])."""
        return state.size.astype(jnp.float32) / self.rows

    def sample(
        self, state: ReplayState, key: jax.Array, alpha: jax.Array | float = 0.6, beta: jax.Array | float = 0.4
    ) -> ReplaySample:
        """`batch_size` sequences, uniformly or (prioritised) with probability `p^alpha / sum p^alpha`
        and importance weights `(N * P)^-beta / max` (alpha, beta unused when uniform).

        Only call when `can_sample(state)`; otherwise the result is garbage (but finite).
        """
        n, rows = self.sequence_length, self.rows
        oldest = (state.pos - state.size) % rows
        num_starts = jnp.maximum(state.size - n + 1, 1)
        if not self.prioritized:
            # One draw of 32-bit integers for (start, env) pairs: every random-number site costs
            # compile time, and the modulo bias (count / 2^32) is negligible at any buffer size.
            count = (num_starts * self.num_envs).astype(jnp.uint32)
            flat = (jax.random.bits(key, (self.batch_size,), jnp.uint32) % count).astype(jnp.int32)
            start = (oldest + flat // self.num_envs) % rows
            envs = flat % self.num_envs
            weights = jnp.ones((self.batch_size,), jnp.float32)
        else:
            start, envs, weights = self._sample_prioritized(state, key, oldest, num_starts, alpha, beta)
        steps = (start[None, :] + jnp.arange(n)[:, None]) % rows  # [n, batch]
        experience = jax.tree.map(lambda buf: buf[steps, envs[None, :]], state.data)
        return ReplaySample(experience, start.astype(jnp.int32), envs.astype(jnp.int32), weights)

    def _sample_prioritized(self, state, key, oldest, num_starts, alpha, beta):
        rows_offset = (jnp.arange(self.rows) - oldest) % self.rows
        valid = (rows_offset < num_starts) & (state.size >= self.sequence_length)
        p = jnp.where(valid[:, None], state.priorities, 0.0) ** alpha  # [rows, num_envs]
        p = jnp.where(valid[:, None], p, 0.0).reshape(-1)
        cumsum = jnp.cumsum(p)
        total = jnp.maximum(cumsum[-1], 1e-12)
        # Stratified: one uniform draw in each of batch_size equal slices of the total mass.
        u = (jnp.arange(self.batch_size) + jax.random.uniform(key, (self.batch_size,))) / self.batch_size
        flat = jnp.searchsorted(cumsum, u * total, side="right")
        flat = jnp.clip(flat, 0, p.shape[0] - 1)
        prob = p[flat] / total
        count = num_starts.astype(jnp.float32) * self.num_envs
        weights = (count * jnp.maximum(prob, 1e-12)) ** (-beta)
        weights = weights / jnp.max(weights)
        return flat // self.num_envs, flat % self.num_envs, weights.astype(jnp.float32)

    def update_priorities(
        self, state: ReplayState, rows: jax.Array, envs: jax.Array, priorities: jax.Array
    ) -> ReplayState:
        """Set the priorities of sampled sequences (e.g. `|td error| + eps`); no-op when uniform."""
        if not self.prioritized:
            return state
        priorities = priorities.astype(jnp.float32)
        return state.replace(
            priorities=state.priorities.at[rows, envs].set(priorities),
            max_priority=jnp.maximum(state.max_priority, jnp.max(priorities)),
        )
