"""The dense matmul with the CPU-friendly weight gradient computes what `x @ w` computes, in every
mode of differentiation, and puts the weight-gradient dot on the plain (minor-axis) contraction."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.backend.dense import dot_general, matmul
from jaxrl.blocks.networks import MLP


def _inputs(shape_x=(5, 7, 3), shape_w=(3, 4)):
    kx, kw = jax.random.split(jax.random.key(0))
    return jax.random.normal(kx, shape_x), jax.random.normal(kw, shape_w)


def _loss(f):
    return lambda x, w: jnp.sum(jnp.tanh(f(x, w)) ** 2)


@pytest.mark.parametrize("shape_x", [(6, 3), (5, 7, 3), (3,)])
def test_values_and_gradients_match_the_plain_matmul(shape_x):
    x, w = _inputs(shape_x)
    np.testing.assert_allclose(matmul(x, w), x @ w, rtol=1e-6, atol=1e-6)
    ours = jax.grad(_loss(matmul), argnums=(0, 1))(x, w)
    ref = jax.grad(_loss(jnp.matmul), argnums=(0, 1))(x, w)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_forward_mode_and_second_order_match():
    x, w = _inputs()
    tangents = jax.random.normal(jax.random.key(1), x.shape), jax.random.normal(jax.random.key(2), w.shape)
    _, ours = jax.jvp(matmul, (x, w), tangents)
    _, ref = jax.jvp(jnp.matmul, (x, w), tangents)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    hess = jax.hessian(_loss(matmul), argnums=1)(x, w)
    hess_ref = jax.hessian(_loss(jnp.matmul), argnums=1)(x, w)
    np.testing.assert_allclose(hess, hess_ref, rtol=1e-4, atol=1e-4)


def test_vmapped_gradients_match():
    x, w = _inputs((4, 6, 3), (3, 4))
    ws = jnp.stack([w, 2 * w, -w, w + 1])
    grad = jax.vmap(jax.grad(_loss(matmul), argnums=1))(x, ws)
    ref = jax.vmap(jax.grad(_loss(jnp.matmul), argnums=1))(x, ws)
    np.testing.assert_allclose(grad, ref, rtol=1e-5, atol=1e-6)


def test_other_contractions_fall_back_to_lax():
    a, b = jax.random.normal(jax.random.key(0), (2, 3, 4)), jax.random.normal(jax.random.key(1), (2, 4, 5))
    dims = (((2,), (1,)), ((0,), (0,)))
    np.testing.assert_allclose(dot_general(a, b, dims), jax.lax.dot_general(a, b, dims), rtol=1e-6)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="checks the CPU lowering")
def test_weight_gradient_dots_contract_the_minor_axis_on_cpu():
    """Every dot in an MLP's gradient contracts the left operand's last axis (the layout XLA:CPU's
    fast kernels take); the plain matmul's weight gradients contract axis 0."""
    net = MLP(hidden_sizes=(64, 64))
    x = jnp.ones((128, 4))
    params = net.init(jax.random.key(0), x)
    hlo = jax.jit(jax.grad(lambda p: net.apply(p, x).sum())).lower(params).compile().as_text()
    lhs_dims = re.findall(r"dot\([^)]*\), lhs_(?:batch_dims=\{[0-9,]*\}, lhs_)?contracting_dims=\{(\d+)\}", hlo)
    assert lhs_dims, hlo
    assert all(d == "1" for d in lhs_dims), lhs_dims


@pytest.mark.parametrize("platform, barrier", [("cpu", True), ("cuda", False), ("tpu", False)])
def test_only_the_cpu_lowering_materialises_the_transpose(platform, barrier):
    """Exported for each platform (no device needed): GPU and TPU keep the plain, foldable dot."""
    x, w = _inputs((6, 3))
    grad = jax.jit(jax.grad(_loss(matmul), argnums=1))
    module = jax.export.export(grad, platforms=[platform])(x, w).mlir_module()
    assert ("optimization_barrier" in module) == barrier
