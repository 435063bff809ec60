"""Declared setting rules: every rule of every agent rejects values outside it, with a message that
names the setting, and the defaults pass."""

import dataclasses

import numpy as np
import pytest

from jaxrl.agents import get_agent, list_agents
from jaxrl.agents.validation import validate
from jaxrl.config import RunSettings

# rule -> (values at its edges that pass, values that fail)
EDGES = {
    "> 0": ([1e-9], [0.0, -1.0]),
    ">= 0": ([0], [-1]),
    ">= 1": ([1], [0, -3]),
    "[0, 1]": ([0.0, 1.0], [-0.1, 1.5]),
    "(0, 1]": ([1.0], [0.0, 1.1]),
    "[0, 1)": ([0.0], [1.0, -0.1]),
    "[0, 4294967296)": ([0, 2**32 - 1], [-1, 2**32]),  # seeds
}


def _ruled_fields():
    for algo in list_agents():
        spec = get_agent(algo)
        for cls in (spec.config_cls, spec.hparams_cls, RunSettings):
            for field in dataclasses.fields(cls):
                if "rule" in field.metadata:
                    yield pytest.param(spec, cls, field.name, field.metadata["rule"], id=f"{algo}-{field.name}")


@pytest.mark.parametrize("algo", list_agents())
def test_defaults_are_valid(algo):
    spec = get_agent(algo)
    for settings in (spec.config_cls(), spec.hparams_cls(), RunSettings()):
        spec.validate(settings)


@pytest.mark.parametrize("spec, cls, name, rule", list(_ruled_fields()))
def test_every_rule_rejects_values_outside_it(spec, cls, name, rule):
    good, bad = (rule, ("nope",)) if isinstance(rule, tuple) else EDGES[rule]
    algo = spec.name.upper()
    for value in good:
        validate(cls(**{name: value}), algo)
    for value in bad:
        with pytest.raises(ValueError, match=rf"^{algo}: {name} must be .*, got {value!r}\.$"):
            validate(cls(**{name: value}), algo)


def test_messages_state_the_valid_values():
    spec = get_agent("ppo")
    cases = {
        "gamma": (1.5, "PPO: gamma must be in [0, 1], got 1.5."),
        "learning_rate": (0.0, "PPO: learning_rate must be > 0, got 0.0."),
    }
    for name, (value, message) in cases.items():
        with pytest.raises(ValueError) as info:
            spec.validate(spec.hparams_cls(**{name: value}))
        assert str(info.value) == message
    with pytest.raises(ValueError) as info:
        spec.validate(spec.config_cls(action_squash="none"))
    assert str(info.value) == "PPO: action_squash must be one of 'clip', 'tanh', got 'none'."


def test_population_values_must_all_pass():
    spec = get_agent("dqn")
    spec.validate(spec.hparams_cls(gamma=np.array([0.9, 1.0])))
    with pytest.raises(ValueError, match="DQN: gamma must be in"):
        spec.validate(spec.hparams_cls(gamma=np.array([0.9, 1.2])))


@pytest.mark.parametrize("algo", list_agents())
def test_cross_field_checks_run_for_configs(algo):
    spec = get_agent(algo)
    with pytest.raises(ValueError, match=rf"^{algo.upper()}: total_timesteps = 1 is smaller than one"):
        spec.validate(spec.config_cls(total_timesteps=1))
