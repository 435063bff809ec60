"""Property-based checks of the classic envs' params, as `make(name, **overrides)` takes them.

Overrides are drawn near each field's default (x 0.5..2, the physical scales the envs are built
for) and outside the rule the field declares (zero, negative, NaN, inf, past int32): `make` either
accepts them, and then every copy resets and steps under jit + vmap with finite observations and
the contract's dtypes, or raises a ValueError naming a field it was given. Derandomized, so CI sees
the same examples every run.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxrl
from jaxrl.envs.validation import validate

CLASSIC = ["CartPole-v1", "Pendulum-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Acrobot-v1"]  # envs/registry.py
FAST = settings(max_examples=16, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
NUM_ENVS, NUM_STEPS = 8, 16


def _near(default) -> st.SearchStrategy:
    """Values the env is built for: x 0.5..2 of the default (0..1 for a zero default, any limit up to 1000)."""
    if isinstance(default, int):  # max_steps_in_episode
        return st.integers(1, 1000)
    return st.floats(0.0, 1.0) if default == 0 else st.floats(0.5, 2.0).map(lambda f: default * f)


def _nonsense(default) -> st.SearchStrategy:
    """Values at and past the edges of the rules: zero, a negative, NaN, +-inf, past int32."""
    if isinstance(default, int):
        return st.sampled_from([0, -1, 2**31, 2**40])
    return st.sampled_from([0.0, -abs(default) - 1.0, math.nan, math.inf, -math.inf])


def _overrides(name: str) -> st.SearchStrategy:
    """Some of the env's params fields: every one near its default, or each near it or nonsense."""
    params = jaxrl.make(name)[1]
    defaults = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    near = {k: _near(d) for k, d in defaults.items()}
    mixed = {k: st.one_of(_near(d), _nonsense(d)) for k, d in defaults.items()}
    return st.one_of(st.fixed_dictionaries({}, optional=near), st.fixed_dictionaries({}, optional=mixed))


@functools.cache
def _rollout(name: str):
    """Jitted `(params, actions [T, N, ...]) -> (reset obs, step outputs)` of N vmapped copies
    (params are traced: one compile per env). Actions come in: the action space depends on params."""
    env, _ = jaxrl.make(name)
    reset_keys = jax.random.split(jax.random.key(0), NUM_ENVS)
    step_keys = jax.random.split(jax.random.key(1), (NUM_STEPS, NUM_ENVS))
    reset, step = jax.vmap(env.reset, in_axes=(0, None)), jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def rollout(params, actions):
        obs, state = reset(reset_keys, params)

        def body(state, xs):
            keys, action = xs
            obs, state, reward, terminated, truncated, info = step(keys, state, action, params)
            return state, (obs, info["final_observation"], reward, terminated, truncated)

        return obs, jax.lax.scan(body, state, (step_keys, actions))[1]

    return env, jax.jit(rollout)


def _check_accepted(name: str, params) -> None:
    env, rollout = _rollout(name)
    obs_space = env.observation_space(params)
    act_keys = jax.random.split(jax.random.key(2), (NUM_STEPS, NUM_ENVS))
    actions = jax.vmap(jax.vmap(env.action_space(params).sample))(act_keys)
    obs0, (obs, final_obs, reward, terminated, truncated) = jax.device_get(rollout(params, actions))
    for what, x in (("reset obs", obs0), ("obs", obs), ("final_observation", final_obs)):
        assert x.dtype == np.dtype(obs_space.dtype) and x.shape[-1:] == obs_space.shape, (what, x.dtype, x.shape)
        assert np.isfinite(x).all(), f"{name} {params}: non-finite {what}"
    assert reward.dtype == np.float32 and np.isfinite(reward).all(), (name, params)
    assert terminated.dtype == truncated.dtype == np.bool_


@pytest.mark.parametrize("name", CLASSIC)
def test_params_are_accepted_and_run_or_rejected_by_name(name):
    @FAST
    @given(drawn=_overrides(name))
    def check(drawn):
        try:
            _, params = jaxrl.make(name, **drawn)
        except ValueError as exc:
            assert any(str(exc).startswith(f"{name}: {field} must be ") for field in drawn), exc
            return
        _check_accepted(name, params)

    check()


@pytest.mark.parametrize("name", [*CLASSIC, "ProbeTwoStep-v0"])
def test_default_params_pass_their_rules(name):
    validate(jaxrl.make(name)[1], name)


@pytest.mark.parametrize("name, field, value, valid", [
    ("CartPole-v1", "max_steps_in_episode", -5, "in [1, 2147483647]"),
    ("CartPole-v1", "max_steps_in_episode", 2**31, "in [1, 2147483647]"),
    ("CartPole-v1", "gravity", -9.8, "in [0, inf)"),
    ("CartPole-v1", "masspole", 0.0, "in (0, inf)"),
    ("CartPole-v1", "length", math.nan, "in (0, inf)"),
    ("Pendulum-v1", "m", -1.0, "in (0, inf)"),
    ("Pendulum-v1", "dt", math.inf, "in (0, inf)"),
    ("Acrobot-v1", "link_mass_2", -1.0, "in (0, inf)"),
    ("MountainCar-v0", "max_position", -0.5, "in [-0.4, inf)"),  # the track would exclude the reset range
    ("MountainCarContinuous-v0", "min_action", 0.5, "in (-inf, 0]"),  # an empty action range with max 0.4
    ("ProbeTwoStep-v0", "max_steps_in_episode", 0, "in [1, 2147483647]"),
    ("CartPole-v1", "gravity", "heavy", "in [0, inf)"),  # e.g. --set env.gravity=heavy
])
def test_nonsense_params_are_rejected_naming_the_field(name, field, value, valid):
    with pytest.raises(ValueError) as info:
        jaxrl.make(name, **{field: value})
    assert str(info.value) == f"{name}: {field} must be {valid}, got {value!r}."

