"""The learners' one optimiser path: global-norm gradient clipping, then an optax optimiser, with
the learning rate and the clip norm traced (a sweep over them compiles once).

Agents build the optimiser inside their traced `update` from traced values; its state's structure
does not depend on them, so `init` and `update` agree. The backend corner may run clip and
optimiser over the parameters concatenated into one vector (`jaxrl.backend.flat_optimizer`): the
same update up to float rounding in the gradient norm's sum.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxrl import backend
from jaxrl.blocks.exploration import linear_schedule

OPTIMIZERS = {"radam": optax.radam, "adam": optax.adam}


def make_optimizer(learning_rate: jax.Array | float, max_grad_norm: jax.Array | float, name: str = "adam",
                   **options) -> optax.GradientTransformation:
    """Clip the gradients' global norm to `max_grad_norm`, then optax's `name` (one of `OPTIMIZERS`)
    with `learning_rate` and `options` (e.g. `eps=1e-5`)."""
    optimizer = OPTIMIZERS[name](learning_rate, **options)
    return backend.flat_optimizer(optax.chain(optax.clip_by_global_norm(max_grad_norm), optimizer))


def learning_rate_at(learning_rate: jax.Array | float, update_step: jax.Array, num_updates: int,
                     anneal: bool) -> jax.Array:
    """The learning rate of update `update_step` (float32 scalar): constant, or with `anneal` decayed
    linearly from `learning_rate` at update 0 to 0 at `num_updates` (and 0 after)."""
    if not anneal:
        return learning_rate * jnp.ones((), jnp.float32)
    return linear_schedule(update_step, learning_rate, 0.0, num_updates)
