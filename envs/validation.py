"""Rules declared on dataclass fields and the one `validate` that checks them (agent settings and
env params alike; the env layer holds it because it imports nothing from the rest of jaxrl).

A field declares what values it accepts with `checked(default, rule)`:

    gamma: float = checked(0.99, "[0, 1]")
    num_envs: int = checked(4, ">= 1")
    loss: str = checked("huber", ("huber", "mse"))
    masscart: float = checked(1.0, "(0, inf)")

A rule is a bound (`"> 0"`, `">= 1"`), an interval (`"[0, 1]"`, `"(0, 1]"`, `"[0, 1)"`, `"(0, inf)"`:
open at an infinite end, so inf and NaN fail) or a tuple of the allowed values. A value may be an
array (one entry per population member or env copy): every entry must pass; a value that cannot be
compared (a string for a number) fails. `validate(settings, "PPO")` raises
`ValueError("PPO: gamma must be in [0, 1], got 1.5.")`.
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


def validate(settings: Any, owner: str) -> None:
    """Raise `ValueError` naming the first field of the dataclass `settings` that breaks its rule."""
    for field in dataclasses.fields(settings):
        rule, value = field.metadata.get("rule"), getattr(settings, field.name)
        if rule is not None and not _satisfies(value, rule):
            raise ValueError(f"{owner}: {field.name} must be {_describe(rule)}, got {value!r}.")


def _satisfies(value: Any, rule: str | tuple) -> bool:
    if isinstance(rule, tuple):
        return value in rule
    try:
        if rule[0] in _LOWER:
            low, high = (float(x) for x in rule[1:-1].split(","))
            return bool(np.all(_LOWER[rule[0]](value, low) & _UPPER[rule[-1]](value, high)))
        op, bound = rule.split()
        return bool(np.all(_BOUNDS[op](value, float(bound))))
    except TypeError:  # not a number
        return False


def _describe(rule: str | tuple) -> str:
    if isinstance(rule, tuple):
        return "one of " + ", ".join(map(repr, rule))
    return f"in {rule}" if rule[0] in _LOWER else rule
