"""The unrolled CPU lowering of threefry2x32 draws exactly JAX's default random bits."""

import inspect
import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxrl.threefry_cpu import use_unrolled_threefry


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
