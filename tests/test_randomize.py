"""Per-copy params: sample_params ranges and dtypes, batch_params, select_params."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl.envs.cartpole import CartPoleParams
from jaxrl.envs.core import EnvParams
from jaxrl.envs.randomize import batch_params, sample_params, select_params


def test_sample_params_ranges_and_dtypes() -> None:
    params = CartPoleParams()
    batched = sample_params(jax.random.key(0), params, 500, masspole=(0.05, 0.5), max_steps_in_episode=(10, 12))
    assert batched.masspole.shape == (500,) and batched.masspole.dtype == jnp.float32
    assert (batched.masspole >= 0.05).all() and (batched.masspole < 0.5).all()
    assert float(batched.masspole.std()) > 0.05  # actually spread, not constant
    assert batched.max_steps_in_episode.dtype == jnp.int32
    assert set(np.unique(batched.max_steps_in_episode)) == {10, 11, 12}  # integers: high inclusive
    np.testing.assert_array_equal(batched.gravity, np.full(500, params.gravity, np.float32))
    again = sample_params(jax.random.key(0), params, 500, masspole=(0.05, 0.5), max_steps_in_episode=(10, 12))
    np.testing.assert_array_equal(again.masspole, batched.masspole)  # a function of the key


def test_batch_params_dtypes_independent_of_x64() -> None:
    params = CartPoleParams()
    with jax.enable_x64(True):
        batched = batch_params(params, 3)
    assert batched.gravity.dtype == jnp.float32 and batched.max_steps_in_episode.dtype == jnp.int32
    assert batched.gravity.shape == (3,)


def test_sample_params_rejects_unknown_and_static_fields() -> None:
    params = CartPoleParams()
    with pytest.raises(ValueError, match="has no field"):
        sample_params(jax.random.key(0), params, 4, gravty=(9.0, 10.0))

    @struct.dataclass
    class WithStatic(EnvParams):
        size: int = struct.field(pytree_node=False, default=3)

    with pytest.raises(ValueError, match="static"):
        sample_params(jax.random.key(0), WithStatic(), 4, size=(1, 5))


def test_select_params_per_copy() -> None:
    params = CartPoleParams()
    old = batch_params(params, 4)
    new = sample_params(jax.random.key(1), params, 4, length=(1.0, 2.0))
    done = jnp.array([True, False, True, False])
    merged = select_params(done, new, old)
    np.testing.assert_array_equal(merged.length, np.where(done, new.length, old.length))
