"""The CPU lowering of threefry2x32 draws exactly JAX's default random bits, hashing each draw once,
and only inside jaxrl's lowering scope: a user's own programs lower as without jaxrl."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxrl
from jaxrl.backend.threefry import hashed_once

pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu", reason="a CPU lowering (other backends unroll)")

DRAWS = """
import jax, json
import numpy as np

def draws(key):
    return {
        "bits": jax.random.bits(key, (257,)),
        "split": jax.random.key_data(jax.random.split(key, 5)),
        "uniform": jax.random.uniform(jax.random.fold_in(key, 3), (64,)),
        "vmapped": jax.vmap(lambda k: jax.random.normal(k, (3,)))(jax.random.split(key, 4)),
    }
"""


def _rolled(fn, *args) -> bool:
    """Whether a fresh jit of `fn` lowers threefry as JAX's rolled CPU loop."""
    return "while" in jax.jit(fn).lower(*args).as_text()


def test_scoped_lowering_draws_the_same_bits_as_jax_default():
    default = subprocess.run(
        [sys.executable, "-c", DRAWS + "print(json.dumps({k: np.asarray(v).tolist() "
                                      "for k, v in jax.jit(draws)(jax.random.key(2024)).items()}))"],
        capture_output=True, text=True, check=True, env={"JAX_PLATFORMS": "cpu", "PATH": ""},
    )
    namespace: dict = {}
    exec(DRAWS, namespace)
    with hashed_once() as active:
        assert active
        assert not _rolled(lambda k: jax.random.bits(k, (8,)), jax.random.key(0))
        ours = jax.jit(namespace["draws"])(jax.random.key(2024))
    for name, values in json.loads(default.stdout).items():
        np.testing.assert_array_equal(np.asarray(ours[name]), values, err_msg=name)


def test_a_users_programs_keep_jax_default_lowering_after_training():
    jaxrl.train("ppo", "CartPole-v1", total_timesteps=2048, config={"num_envs": 4, "num_steps": 64},
                out=None, progress=False)
    assert _rolled(lambda k: jax.random.bits(k, (8,)), jax.random.key(1))
    with hashed_once(enabled=False) as active:
        assert not active and _rolled(lambda k: jax.random.normal(k, (3,)), jax.random.key(2))


def test_each_draw_is_hashed_once_however_many_fusions_read_it():
    """XLA copies cheap producers into every consumer fusion; the lowering keeps the hash out of them."""

    def many_readers(key, w):
        noise = jax.random.normal(key, (64, 8))
        hidden = jax.numpy.tanh(noise @ w)  # dots separate the readers of `noise` into different fusions
        return jax.numpy.sum(jax.numpy.tanh((hidden * noise) @ w) * noise)

    with hashed_once():
        lowered = jax.jit(jax.grad(many_readers, argnums=1)).lower(jax.random.key(0), np.ones((8, 8), np.float32))
    hlo = lowered.compile().as_text()
    # The hash is 20 rounds of add / rotate / xor: count the computations holding one.
    hashes = [c for c in hlo.split("\n\n") if c.count(" xor(") >= 20]
    assert len(hashes) == 1, f"{len(hashes)} computations hold a threefry hash"  # JAX's unrolled lowering: 5
