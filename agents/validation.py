"""Checking settings: rules declared on the fields, one `validate`, and the shared cross-field checks.

A dataclass field declares what values it accepts with `checked(default, rule)`:

    gamma: float = checked(0.99, "[0, 1]")
    num_envs: int = checked(4, ">= 1")
    loss: str = checked("huber", ("huber", "mse"))

A rule is a bound (`"> 0"`, `">= 1"`), an interval (`"[0, 1]"`, `"(0, 1]"`, `"[0, 1)"`) or a tuple
of the allowed values. A value may be an array (one entry per population member): every entry must
pass. `validate(settings, "PPO")` raises `ValueError("PPO: gamma must be in [0, 1], got 1.5.")`.
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any

import numpy as np

_BOUNDS = {">": operator.gt, ">=": operator.ge}
_LOWER = {"[": operator.ge, "(": operator.gt}
_UPPER = {"]": operator.le, ")": operator.lt}


def checked(default: Any, rule: str | tuple) -> Any:
    """A dataclass field defaulting to `default` whose values must satisfy `rule`."""
    return dataclasses.field(default=default, metadata={"rule": rule})


def validate(settings: Any, algo: str) -> None:
    """Raise `ValueError` naming the first field of the dataclass `settings` that breaks its rule."""
    for field in dataclasses.fields(settings):
        rule, value = field.metadata.get("rule"), getattr(settings, field.name)
        if rule is not None and not _satisfies(value, rule):
            raise ValueError(f"{algo}: {field.name} must be {_describe(rule)}, got {value!r}.")


def check_minibatches(config: Any, algo: str) -> None:
    """Cross-field checks of an on-policy Config: the batch splits into minibatches and fits the run
    (with memory: the rollout into sequences, and those into minibatches)."""
    if getattr(config, "recurrent", False):
        _check_sequences(config, algo)
    elif config.batch_size % config.num_minibatches:
        raise ValueError(
            f"{algo}: num_envs * num_steps = {config.batch_size} must be divisible by num_minibatches "
            f"= {config.num_minibatches}; pick num_minibatches from the divisors of {config.batch_size}."
        )
    if config.total_timesteps < config.batch_size:
        raise ValueError(
            f"{algo}: total_timesteps = {config.total_timesteps} is smaller than one batch "
            f"(num_envs * num_steps = {config.batch_size}); raise it or shrink the batch."
        )


def _check_sequences(config: Any, algo: str) -> None:
    if config.num_steps % config.sequence_length:
        raise ValueError(
            f"{algo}: seq_len = {config.seq_len} does not divide num_steps = {config.num_steps}: the rollout "
            f"is cut into training sequences of seq_len steps; pick seq_len from the divisors of "
            f"{config.num_steps} (or 0 for the whole rollout)."
        )
    if config.num_sequences % config.num_minibatches:
        raise ValueError(
            f"{algo}: with network = {config.network!r}, minibatches are made of whole sequences: "
            f"num_envs * (num_steps // seq_len) = {config.num_sequences} sequences must be divisible by "
            f"num_minibatches = {config.num_minibatches}; pick num_minibatches from the divisors of "
            f"{config.num_sequences}, or a shorter seq_len."
        )


def check_replay_sizes(config: Any, algo: str) -> None:
    """Cross-field checks of a replay Config: the buffer holds one update, the run is one update long."""
    if config.buffer_size // config.num_envs < config.num_steps:
        raise ValueError(
            f"{algo}: buffer_size = {config.buffer_size} keeps {config.buffer_size // config.num_envs} steps per env "
            f"copy (buffer_size // num_envs, num_envs = {config.num_envs}), fewer than one update's num_steps = "
            f"{config.num_steps}; raise buffer_size or lower num_envs or num_steps."
        )
    if config.total_timesteps < config.steps_per_update:
        raise ValueError(
            f"{algo}: total_timesteps = {config.total_timesteps} is smaller than one update "
            f"(num_envs * num_steps = {config.steps_per_update})."
        )


def _satisfies(value: Any, rule: str | tuple) -> bool:
    if isinstance(rule, tuple):
        return value in rule
    if rule[0] in _LOWER:
        low, high = (float(x) for x in rule[1:-1].split(","))
        return bool(np.all(_LOWER[rule[0]](value, low) & _UPPER[rule[-1]](value, high)))
    op, bound = rule.split()
    return bool(np.all(_BOUNDS[op](value, float(bound))))


def _describe(rule: str | tuple) -> str:
    if isinstance(rule, tuple):
        return "one of " + ", ".join(map(repr, rule))
    return f"in {rule}" if rule[0] in _LOWER else rule
