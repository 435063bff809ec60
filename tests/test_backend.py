"""The backend corner: every tuning changes speed only (same values with it off), the switches
work, and the population program cache is keyed on what determines a program and bounded."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl import backend, population
from jaxrl.envs import register
from jaxrl.envs.cartpole import CartPole

SMALL = {"num_envs": 4, "num_steps": 32, "num_minibatches": 2, "update_epochs": 2, "num_logs": 1, "eval_episodes": 2}


def _final_params(algo: str, config: dict, seeds: int = 1) -> list[np.ndarray]:
    """The network parameters after a short run (the optimiser state's layout may differ by tuning)."""
    result = jaxrl.train(algo, "CartPole-v1", seeds=seeds, total_timesteps=384, config=config, out=None,
                         progress=False)
    params = result.state.policy.params if algo == "ppo" else result.state.params
    return [np.asarray(x) for x in jax.tree.leaves(params)]


@pytest.mark.parametrize("name", [n for n in backend.TUNINGS if n != "layer_norm"])
def test_each_tuning_keeps_ppo_values(name):
    tuned = _final_params("ppo", SMALL)
    with backend.tuning(**{name: False}):
        plain = _final_params("ppo", SMALL)
    for a, b in zip(tuned, plain):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def test_layer_norm_tuning_keeps_pqn_values():
    config = {**SMALL, "hidden_sizes": "16,16"}
    config.pop("update_epochs")
    tuned = _final_params("pqn", config)
    with backend.tuning(layer_norm=False):
        plain = _final_params("pqn", config)
    for a, b in zip(tuned, plain):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def test_switches_from_the_environment_and_errors():
    code = "import jaxrl.backend as b; print(','.join(b.active()))"
    run = lambda value: subprocess.run([sys.executable, "-c", code], env={"JAXRL_TUNING": value, "PATH": ""},
                                       capture_output=True, text=True)
    assert run("none").stdout.strip() == ""
    assert run("-threefry,-dense_dot").stdout.strip().split(",") == [
        n for n in backend.TUNINGS if n not in ("threefry", "dense_dot")]
    bad = run("-threfry")
    assert bad.returncode != 0 and "unknown tuning 'threfry'" in bad.stderr
    with pytest.raises(ValueError, match="Unknown tuning"):
        with backend.tuning(fast=True):
            pass


def test_program_cache_sees_a_reregistered_env_and_stays_bounded(monkeypatch):
    """A notebook user re-registers a name with another class: the next run must not reuse the program."""

    class Longer(CartPole):
        @property
        def default_params(self):
            return super().default_params.replace(max_steps_in_episode=7)

    register("CacheTestPole-v0", CartPole, overwrite=True)
    config = {**SMALL, "eval_episodes": 3}
    first = jaxrl.train("ppo", "CacheTestPole-v0", total_timesteps=128, config=config, out=None, progress=False)
    again = jaxrl.train("ppo", "CacheTestPole-v0", total_timesteps=128, config=config, out=None, progress=False)
    register("CacheTestPole-v0", Longer, overwrite=True)
    other = jaxrl.train("ppo", "CacheTestPole-v0", total_timesteps=128, config=config, out=None, progress=False)
    assert (first.summary["num_compiles"], again.summary["num_compiles"], other.summary["num_compiles"]) == (1, 0, 1)
    assert other.final_eval_return[0] <= 7  # episodes of the new class's length

    monkeypatch.setattr(population.compiled, "MAX_PROGRAMS", 2)
    for lr in (1e-3,):
        for num_envs in (2, 4, 8):
            jaxrl.train("ppo", "CartPole-v1", total_timesteps=256, config={**SMALL, "num_envs": num_envs,
                        "learning_rate": lr}, out=None, progress=False)
    assert len(population.compiled._PROGRAMS) <= 2


def test_static_key_compares_env_state_by_value():
    key = population.compiled._static_key
    assert key(CartPole()) == key(CartPole())
    assert key(jnp.ones(3)) == key(np.ones(3, np.float32))
    assert key(CartPole()) != key(jaxrl.make("Acrobot-v1")[0])


def test_static_key_tells_envs_apart_by_their_function_attributes():
    """Two envs that differ only in a function they hold (a reward, a reset) must not share a program."""

    class WithReward(CartPole):
        def __init__(self, reward):
            self.reward = reward

    key = population.compiled._static_key
    double, half = (lambda r: 2.0 * r), (lambda r: 0.5 * r)
    assert key(WithReward(double)) != key(WithReward(half))
    assert key(WithReward(double)) == key(WithReward(double))
