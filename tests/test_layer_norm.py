"""`jaxrl.backend.layer_norm.LayerNorm` computes what `flax.linen.LayerNorm()` computes, with the same
parameters, in every mode of differentiation, and its backward pass compiles to fewer ops."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.backend.layer_norm import LayerNorm
from jaxrl.blocks.networks import MLP

FLAX, OURS = nn.LayerNorm(), LayerNorm()


def _inputs(shape):
    """Rows with offsets far from zero (the fast variance's hard case), one constant row (variance 0),
    and non-trivial scale and bias."""
    x = 3.0 * jax.random.normal(jax.random.key(0), shape) + 10.0
    x = x.at[..., 0, :].set(2.5) if len(shape) > 1 else x
    params = FLAX.init(jax.random.key(1), x)
    params = jax.tree.map(lambda p: p + jax.random.normal(jax.random.key(2), p.shape), params)
    weights = jax.random.normal(jax.random.key(3), shape)
    return x, params, weights


def _loss(module, weights):
    return lambda params, x: jnp.sum(jnp.tanh(module.apply(params, x)) * weights)


def test_parameters_are_flaxs():
    x = jnp.ones((4, 8))
    ours, ref = OURS.init(jax.random.key(0), x), FLAX.init(jax.random.key(0), x)
    assert jax.tree.structure(ours) == jax.tree.structure(ref)
    jax.tree.map(np.testing.assert_array_equal, ours, ref)
    # An MLP's LayerNorm keeps flax's name, so parameter trees (and checkpoints) are unchanged.
    assert set(MLP((8, 8), layer_norm=True).init(jax.random.key(0), x)["params"]) == {
        "Dense_0", "LayerNorm_0", "Dense_1", "LayerNorm_1"}


@pytest.mark.parametrize("shape", [(16,), (6, 16), (5, 7, 16)])
def test_values_and_gradients_match_flax(shape):
    x, params, weights = _inputs(shape)
    np.testing.assert_allclose(OURS.apply(params, x), FLAX.apply(params, x), rtol=1e-5, atol=1e-5)
    ours = jax.grad(_loss(OURS, weights), argnums=(0, 1))(params, x)
    ref = jax.grad(_loss(FLAX, weights), argnums=(0, 1))(params, x)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), ours, ref)


def test_forward_mode_and_second_order_match_flax():
    x, params, weights = _inputs((6, 16))
    tangents = jax.tree.map(lambda p: jax.random.normal(jax.random.key(4), p.shape), params)
    _, ours = jax.jvp(lambda p: OURS.apply(p, x), (params,), (tangents,))
    _, ref = jax.jvp(lambda p: FLAX.apply(p, x), (params,), (tangents,))
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)
    row = x[1]
    hess = jax.hessian(lambda r: _loss(OURS, weights[1])(params, r))(row)
    hess_ref = jax.hessian(lambda r: _loss(FLAX, weights[1])(params, r))(row)
    np.testing.assert_allclose(hess, hess_ref, rtol=1e-3, atol=1e-4)


def test_vmapped_over_stacked_parameters_matches_flax():
    """As in `Critics`: one program over stacked parameters of several networks."""
    x, _, weights = _inputs((6, 16))
    stacked = jax.vmap(lambda k: jax.tree.map(lambda p: p + jax.random.normal(k, p.shape), FLAX.init(k, x)))(
        jax.random.split(jax.random.key(5), 3))
    ours = jax.vmap(jax.grad(_loss(OURS, weights)), in_axes=(0, None))(stacked, x)
    ref = jax.vmap(jax.grad(_loss(FLAX, weights)), in_axes=(0, None))(stacked, x)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), ours, ref)


def _compiled_ops(module, shape=(128, 64)):
    x, params, weights = _inputs(shape)
    text = jax.jit(jax.grad(_loss(module, weights), argnums=(0, 1))).lower(params, x).compile().as_text()
    entry = text[text.index("ENTRY"):]
    return sum(1 for line in entry.splitlines() if " = " in line and "parameter(" not in line
               and "get-tuple-element" not in line and "tuple(" not in line)


def test_backward_pass_compiles_to_fewer_ops_than_flaxs():
    assert _compiled_ops(OURS) < _compiled_ops(FLAX)
