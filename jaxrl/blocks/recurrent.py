"""Memory for agents: a flax GRU or LSTM cell scanned over time, and the sequence bookkeeping of
training recurrent agents on their own rollouts.

Shapes: time-major inputs `[T, B, d]`; `first [T, B]` bool marks an observation that opens an
episode (the carry is zeroed before that observation is read, so a reset touches its env copy
only); the carry is `[B, H]` (GRU) or a pair `([B, H], [B, H])` (LSTM's cell and hidden state).

Training (PPO, PQN) uses R2D2's "stored state": the rollout keeps the carry each step started
from, the rollout is cut into sequences of `seq_len` steps (the whole rollout by default), and each
sequence is re-run from the carry stored at its first step. No burn-in: the stored carries are
exact for the first epoch (the parameters that made them) and slightly stale in later epochs.
"""

from __future__ import annotations

from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

CELLS = {"gru": nn.GRUCell, "lstm": nn.OptimizedLSTMCell}


def initial_carry(cell: str, size: int, batch: int) -> Any:
    """The zero carry of `batch` copies: `[batch, size]`, or a pair of them for an LSTM."""
    zeros = jnp.zeros((batch, size), jnp.float32)
    return (zeros, zeros) if cell == "lstm" else zeros


def reset_where(carry: Any, first: jax.Array) -> Any:
    """Zero the carry of the copies where `first [B]` is true."""
    return jax.tree.map(lambda c: jnp.where(first[:, None], jnp.zeros_like(c), c), carry)


class RecurrentTorso(nn.Module):
    """`(carry, x [T, B, d], first [T, B]) -> (carry, y [T, B, size])`: the cell scanned over T."""

    cell: str
    size: int

    @nn.compact
    def __call__(self, carry: Any, x: jax.Array, first: jax.Array) -> tuple[Any, jax.Array]:
        chex.assert_equal_shape_prefix((x, first), 2)

        def step(cell, carry, inputs):
            x_t, first_t = inputs
            return cell(reset_where(carry, first_t), x_t)

        scan = nn.scan(step, variable_broadcast="params", split_rngs={"params": False})
        return scan(CELLS[self.cell](self.size, name="cell"), carry, (x, first))


def first_flags(first: jax.Array, terminated: jax.Array, truncated: jax.Array) -> jax.Array:
    """`[T, B]` flags of the observations that open an episode, from the rollout's first step's
    `first [B]` and its `terminated`/`truncated [T, B]` (an episode opens after either)."""
    chex.assert_equal_shape((terminated, truncated))
    done = terminated | truncated
    return jnp.concatenate([first[None], done[:-1]], axis=0)


def carries_after(carries_before: Any, final: Any) -> Any:
    """The carry after each step's observation was read, `[T, B, ...]`, from the carries each step
    started from `[T, B, ...]` and the rollout's final carry `[B, ...]` (neither reset yet)."""
    return jax.tree.map(lambda c, f: jnp.concatenate([c[1:], f[None]], axis=0), carries_before, final)


def bootstrap_inputs(memory_after: Any, next_obs: jax.Array) -> tuple[Any, jax.Array, jax.Array]:
    """Network inputs that read every `next_obs [T, B, ...]` (a pytree) with the memory after its step
    (`[T, B, ...]`, no reset: a final observation belongs to the finished episode) as one step of
    `T * B` copies: `(memory [T*B, ...], obs [1, T*B, ...], first [1, T*B])`; reshape the
    output `[1, T*B, ...]` back to `[T, B, ...]`."""
    flat = lambda x: x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])
    obs = jax.tree.map(lambda x: flat(x)[None], next_obs)
    return jax.tree.map(flat, memory_after), obs, jnp.zeros(jax.tree.leaves(obs)[0].shape[:2], bool)


def to_sequences(batch: Any, carries_before: Any, seq_len: int) -> tuple[Any, Any]:
    """Cut a time-major rollout into sequences for minibatching.

    `batch`: pytree of `[T, B, ...]`; `carries_before`: the carry each step started from,
    `[T, B, ...]`. Returns the batch as `[N, seq_len, ...]` and each sequence's starting carry
    `[N, ...]`, with `N = (T // seq_len) * B` (sequence-major, so minibatches split axis 0).
    """
    num_steps = jax.tree.leaves(batch)[0].shape[0]
    chunks = num_steps // seq_len

    def cut(x):  # [T, B, ...] -> [chunks, seq_len, B, ...] -> [chunks, B, seq_len, ...] -> [N, seq_len, ...]
        x = x.reshape(chunks, seq_len, *x.shape[1:]).swapaxes(1, 2)
        return x.reshape(-1, *x.shape[2:])

    def starts(c):  # [T, B, ...] -> [chunks, B, ...] -> [N, ...]
        return c[::seq_len].reshape(-1, *c.shape[2:])

    return jax.tree.map(cut, batch), jax.tree.map(starts, carries_before)


def time_major(x: jax.Array) -> jax.Array:
    """`[N, L, ...] -> [L, N, ...]` (a minibatch of sequences, as the torso scans it)."""
    return x.swapaxes(0, 1)
