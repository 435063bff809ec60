"""The CPU lowering of threefry2x32 draws exactly JAX's default random bits, hashing each draw once."""

import inspect
import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxrl.backend.threefry import hashed_once


def _draws() -> dict:
    key = jax.random.key(2024)
    draws = {
        "bits": jax.random.bits(key, (257,)),
        "split": jax.random.key_data(jax.random.split(key, 5)),
        "uniform": jax.random.uniform(jax.random.fold_in(key, 3), (64,)),
        "vmapped": jax.vmap(lambda k: jax.random.normal(k, (3,)))(jax.random.split(key, 4)),
    }
    return {name: np.asarray(value).tolist() for name, value in draws.items()}


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="a CPU lowering (other backends unroll already)")
def test_unrolled_lowering_draws_the_same_bits_as_jax_default():
    script = f"import jax, json\nimport numpy as np\n{inspect.getsource(_draws)}\nprint(json.dumps(_draws()))"
    default = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                             env={"JAX_PLATFORMS": "cpu", "PATH": ""})
    assert use_unrolled_threefry()
    lowered = jax.jit(lambda k: jax.random.bits(k, (8,))).lower(jax.random.key(0)).as_text()
    assert "while" not in lowered  # JAX's default CPU lowering is a rolled loop
    ours, expected = _draws(), json.loads(default.stdout)
    assert jax.default_backend() == "cpu"
    for name, values in expected.items():
        np.testing.assert_array_equal(ours[name], values, err_msg=name)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="a CPU lowering")
def test_each_draw_is_hashed_once_however_many_fusions_read_it():
    """XLA copies cheap producers into every consumer fusion; the lowering keeps the hash out of them."""
    assert use_unrolled_threefry()

    def many_readers(key, w):
        noise = jax.random.normal(key, (64, 8))
        hidden = jax.numpy.tanh(noise @ w)  # dots separate the readers of `noise` into different fusions
        return jax.numpy.sum(jax.numpy.tanh((hidden * noise) @ w) * noise)

    compiled = jax.jit(jax.grad(many_readers, argnums=1)).lower(jax.random.key(0), np.ones((8, 8), np.float32))
    hlo = compiled.compile().as_text()
    # The hash is 20 rounds of add / rotate / xor: count the computations holding one.
    hashes = [c for c in hlo.split("\n\n") if c.count(" xor(") >= 20]
    assert len(hashes) == 1, f"{len(hashes)} computations hold a threefry hash"  # JAX's unrolled lowering: 5
