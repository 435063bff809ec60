"""A dense-layer matmul whose weight gradient runs on XLA:CPU's fast matmul path (same values).

The weight gradient of `y = x @ w` is `x^T @ dy`: a dot that contracts the batch axis, which is the
major axis of both operands. XLA:CPU hands dots to its fast YNNPACK kernels only when the left
operand contracts its minor axis, so it runs this one on a slower generic kernel. In PPO's
minibatch step (batch 128, 64x64 layers) those weight-gradient dots were the slowest ops, about 40%
of the op time in a profile; SAC's batched critics showed the same.

`matmul` computes the same function with a JVP rule whose weight term reads `x^T` from an explicit,
materialised transpose (kept from being folded back into the dot by an optimisation barrier), so its
transpose in reverse mode is a plain dot. Only the CPU lowering does this (`lax.platform_dependent`);
GPU and TPU get the usual dot. Forward mode, reverse mode and higher orders all work; values agree
with `x @ w` up to float rounding (tests/test_dense_cpu.py).
"""

from __future__ import annotations

import jax
from jax.custom_derivatives import SymbolicZero


def _materialised_transpose(x2: jax.Array) -> jax.Array:
    """`x2.T` for `x2 [N, d]`: an actual `[d, N]` array on CPU, a (foldable) transpose elsewhere."""
    return jax.lax.platform_dependent(
        x2, cpu=lambda a: jax.lax.optimization_barrier(a.T), default=lambda a: a.T
    )


@jax.custom_jvp
def matmul(x: jax.Array, w: jax.Array) -> jax.Array:
    """`x [..., d] @ w [d, k] -> [..., k]`."""
    return x @ w


def _matmul_jvp(primals, tangents):
    x, w = primals
    dx, dw = tangents
    y = x @ w
    terms = []
    if not isinstance(dx, SymbolicZero):
        terms.append(dx @ w)
    if not isinstance(dw, SymbolicZero):
        xt = _materialised_transpose(x.reshape(-1, x.shape[-1]))  # [d, N]
        terms.append((xt.T @ dw).reshape(y.shape))
    return y, sum(terms[1:], terms[0])


matmul.defjvp(_matmul_jvp, symbolic_zeros=True)


def dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None, **kwargs):
    """`lax.dot_general` for flax's `nn.Dense(dot_general=...)`: `matmul` for the dense pattern
    (last axis of `lhs` with the first of a 2-D `rhs`, no batch axes), `lax.dot_general` otherwise."""
    (contract_lhs, contract_rhs), (batch_lhs, batch_rhs) = dimension_numbers
    dense = (
        rhs.ndim == 2 and tuple(contract_lhs) == (lhs.ndim - 1,) and tuple(contract_rhs) == (0,)
        and not batch_lhs and not batch_rhs and precision is None and preferred_element_type is None
    )
    if dense:
        return matmul(lhs, rhs)
    return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                               preferred_element_type=preferred_element_type, **kwargs)
