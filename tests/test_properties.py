"""Property-based checks of the settings every agent declares (`agents/validation.py` rules).

Values are drawn from and around each field's rule, valid and invalid: `jaxrl.config.resolve`
either accepts a config, which then trains (traced settings: two updates of one compiled program;
static settings, marked slow: a fresh tiny program each), or raises `ConfigError` naming a setting it
was given. Derandomized, so CI sees the same examples every run.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxrl
from jaxrl.agents import get_agent, list_agents
from jaxrl.config import ConfigError, resolve
from jaxrl.population import build_agent
from test_key_reuse import tiny
from test_x64 import CASES

FAST = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(FAST, max_examples=40)
# Static sizes that keep a trained example tiny.
SMALL_INTS = {"num_envs": 3, "num_steps": 4, "update_epochs": 2, "num_minibatches": 4, "gradient_steps": 2,
              "batch_size": 8, "buffer_size": 64, "learning_starts": 16, "n_step": 3, "num_critics": 3,
              "policy_delay": 3, "target_update_every": 3}


def _around(rule, integer: bool, small: int | None = None) -> st.SearchStrategy:
    """Values inside `rule` and just outside it (a bound, an interval or a tuple of choices)."""
    if isinstance(rule, tuple):
        return st.sampled_from([*rule, "not-a-choice"])
    if rule[0] in "[(":
        low, high = (float(x) for x in rule[1:-1].split(","))
        return st.one_of(st.floats(low, high), st.sampled_from([low, high, low - 0.5, high + 0.5]))
    op, bound = rule.split()
    bound = float(bound)
    if integer:
        top = small if small is not None else int(bound) + 1000
        return st.integers(int(bound) - 3, top)
    return st.one_of(st.floats(bound, bound + 10.0), st.sampled_from([bound, bound - 1e-3, -1.0]))


def _drawn(cls, only_small: bool) -> st.SearchStrategy:
    """A dict of some of `cls`'s checked fields, each with a value from `_around` its rule."""
    fields = {}
    for f in dataclasses.fields(cls):
        rule = f.metadata.get("rule")
        if rule is None or (only_small and f.type in ("int", int) and f.name not in SMALL_INTS):
            continue
        integer = f.type in ("int", int)
        fields[f.name] = _around(rule, integer, SMALL_INTS.get(f.name) if only_small else None)
    return st.fixed_dictionaries({}, optional=fields)


def _names_a_setting(message: str, drawn: dict) -> bool:
    return any(name in message for name in drawn)


@functools.cache
def _compiled(algo: str):
    """The tiny agent's resolved config and jitted init/update (traced settings vary per example)."""
    env_name = CASES[algo]
    resolved = resolve(algo, env_name, tiny(algo))
    env, env_params = jaxrl.make(env_name)
    fns = build_agent(resolved, env, env_params)
    return resolved, jax.jit(fns.init), jax.jit(fns.update)


def _check(algo: str, drawn: dict, train) -> None:
    try:
        resolved = resolve(algo, CASES[algo], {**tiny(algo), **drawn})
    except ConfigError as exc:
        assert _names_a_setting(str(exc), drawn), f"{exc} names none of {sorted(drawn)}"
        return
    train(resolved)


def _train_traced(algo: str):
    _, init, update = _compiled(algo)

    def train(resolved):
        state = init(jax.random.key(0), resolved.hparams)
        for _ in range(2):
            state, _ = update(state, resolved.hparams)
        jax.block_until_ready(state)

    return train


def _train_static(algo: str, resolved) -> None:
    env, env_params = jaxrl.make(resolved.env)
    fns = build_agent(resolved, env, env_params)
    state = jax.jit(fns.init)(jax.random.key(0), resolved.hparams)
    update = jax.jit(fns.update)
    for _ in range(2):
        state, _ = update(state, resolved.hparams)
    jax.block_until_ready(state)


@pytest.mark.parametrize("algo", list_agents())
def test_traced_settings_train_or_are_rejected_by_name(algo):
    train = _train_traced(algo)

    @FAST
    @given(drawn=_drawn(get_agent(algo).hparams_cls, only_small=False))
    def check(drawn):
        _check(algo, drawn, train)

    check()


@pytest.mark.parametrize("algo", list_agents())
def test_static_settings_are_accepted_or_rejected_by_name(algo):
    """Static settings over their whole range (resolving only: nothing compiles)."""

    @settings(FAST, max_examples=40)
    @given(drawn=_drawn(get_agent(algo).config_cls, only_small=False))
    def check(drawn):
        _check(algo, drawn, lambda resolved: None)

    check()


@pytest.mark.slow
@pytest.mark.parametrize("algo", list_agents())
def test_small_static_settings_train_or_are_rejected_by_name(algo):
    """Each accepted example compiles its own tiny program (seconds each)."""

    @SLOW
    @given(drawn=_drawn(get_agent(algo).config_cls, only_small=True))
    def check(drawn):
        _check(algo, drawn, lambda resolved: _train_static(algo, resolved))

    check()
