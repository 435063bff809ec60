"""Context spaces: which `EnvParams` fields vary, over which grid (1-D or 2-D).

    space = context_space("CartPole-v1", ["length=0.1:2.0:16"])       # 16 pole half-lengths
    space = context_space("Pendulum-v1", ["m=8", "l=4"])              # preset ranges, 8 x 4 grid
    space.grid        # [N, F] the N contexts (first axis outermost), N = product of the axes' sizes
    space.env         # a `ContextualEnv` over the base env; space.params(low, high) its params

`FIELD=LO:HI:N` gives N evenly spaced values from LO to HI (N = 1: LO alone); `FIELD=N` uses the
CARL-style preset range of a built-in env (`PRESETS`). Every mistake (a field the env's params do not
have, with a did-you-mean; an empty range; a value the env rejects; a field that would change the
observation or action space) raises one `ConfigError` paragraph before anything compiles.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxrl.config import ConfigError
from jaxrl.envs import make
from jaxrl.envs.contextual import ContextParams, ContextualEnv
from jaxrl.envs.validation import validate

# CARL-style context sets of the built-in envs: field -> (low, high) around the default value.
PRESETS: dict[str, dict[str, tuple[float, float]]] = {
    "CartPole-v1": {"length": (0.1, 2.0), "masspole": (0.02, 1.0), "masscart": (0.25, 4.0), "gravity": (2.0, 20.0)},
    "Pendulum-v1": {"m": (0.5, 2.0), "l": (0.5, 2.0), "g": (5.0, 15.0)},
    "MountainCar-v0": {"force": (0.0006, 0.0014), "gravity": (0.0015, 0.0035)},
    "Acrobot-v1": {"link_length_1": (0.5, 1.5), "link_mass_1": (0.5, 1.5), "link_mass_2": (0.5, 1.5)},
}
MAX_AXES = 2


@dataclasses.dataclass(frozen=True)
class Axis:
    """One varied field: `num` evenly spaced values from `low` to `high`."""

    field: str
    low: float
    high: float
    num: int

    @property
    def values(self) -> np.ndarray:
        return np.linspace(self.low, self.high, self.num)

    def __str__(self) -> str:
        return f"{self.field}={self.low:g}:{self.high:g}:{self.num}"


@dataclasses.dataclass(frozen=True)
class ContextSpace:
    """The contexts of an env: the product grid of its axes."""

    env_name: str
    axes: tuple[Axis, ...]
    env_kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(a.field for a in self.axes)

    @property
    def grid(self) -> np.ndarray:
        """`[N, F]` float64: every context, the first axis outermost."""
        return np.asarray(list(itertools.product(*(a.values for a in self.axes))), np.float64).reshape(-1, len(self.axes))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.num for a in self.axes)

    @property
    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """`(low [F], high [F])`: the whole space (the multi-task training distribution)."""
        return np.array([a.low for a in self.axes]), np.array([a.high for a in self.axes])

    def unit_grid(self) -> np.ndarray:
        """The grid scaled to `[0, 1]` per axis `[N, F]` (distances between contexts use this)."""
        low, high = self.box
        return (self.grid - low) / np.where(high > low, high - low, 1.0)

    def labels(self) -> list[str]:
        return [", ".join(f"{f}={v:.4g}" for f, v in zip(self.fields, point)) for point in self.grid]

    @property
    def env(self) -> ContextualEnv:
        return ContextualEnv(make(self.env_name, **dict(self.env_kwargs))[0], self.fields)

    def params(self, low: Any, high: Any) -> ContextParams:
        """The contextual env's params drawing the context in `[low, high]` (`[F]` each)."""
        inner = make(self.env_name, **dict(self.env_kwargs))[1]
        return self.env.params_for(inner, low, high)

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env_name, "axes": [dataclasses.asdict(a) for a in self.axes],
                "env_kwargs": dict(self.env_kwargs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContextSpace:
        return cls(data["env"], tuple(Axis(**a) for a in data["axes"]), tuple(sorted(data.get("env_kwargs", {}).items())))


def context_space(env_name: str, specs: Sequence[str | Axis], env_kwargs: Mapping[str, Any] | None = None) -> ContextSpace:
    """The checked `ContextSpace` of `env_name` for `specs` (`"FIELD=LO:HI:N"`, `"FIELD=N"` or `Axis`)."""
    env_kwargs = dict(env_kwargs or {})
    try:
        env, params = make(env_name, **env_kwargs)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not specs:
        raise ConfigError(f"No context given: name at least one field of {env_name}'s params to vary, e.g. "
                          f"--context {_example(env_name, params)}.")
    if len(specs) > MAX_AXES:
        raise ConfigError(f"{len(specs)} context fields were given; context spaces are 1-D or 2-D (at most "
                          f"{MAX_AXES} fields), got {', '.join(map(str, specs))}.")
    axes = tuple(spec if isinstance(spec, Axis) else _parse(env_name, params, spec) for spec in specs)
    for axis in axes:
        _check_axis(env_name, params, axis)
    fields = [a.field for a in axes]
    if len(set(fields)) != len(fields):
        raise ConfigError(f"The context names {fields[0]!r} twice; give each field once.")
    space = ContextSpace(env_name, axes, tuple(sorted(env_kwargs.items())))
    _check_spaces(space, env, params)
    return space


def _parse(env_name: str, params: Any, spec: str) -> Axis:
    field, sep, rest = spec.partition("=")
    field = field.strip()
    if not sep or not field:
        raise ConfigError(f"--context {spec!r} is not FIELD=LO:HI:N (e.g. {_example(env_name, params)}) or FIELD=N "
                          "(a built-in preset range).")
    _check_field(env_name, params, field)
    parts = rest.split(":")
    try:
        if len(parts) == 1:
            preset = PRESETS.get(env_name, {}).get(field)
            if preset is None:
                known = ", ".join(f"{f}={lo:g}:{hi:g}" for f, (lo, hi) in PRESETS.get(env_name, {}).items())
                raise ConfigError(f"--context {spec!r}: {env_name} has no preset range for {field!r} "
                                  f"({'presets: ' + known if known else 'no presets'}); give FIELD=LO:HI:N.")
            return Axis(field, *preset, _count(spec, parts[0]))
        if len(parts) != 3:
            raise ValueError
        return Axis(field, float(parts[0]), float(parts[1]), _count(spec, parts[2]))
    except ConfigError:
        raise
    except ValueError:
        raise ConfigError(f"--context {spec!r} is not FIELD=LO:HI:N with numbers LO <= HI and a count N >= 1 "
                          f"(e.g. {_example(env_name, params)}).") from None


def _count(spec: str, text: str) -> int:
    try:
        num = int(text)
    except ValueError:
        raise ConfigError(f"--context {spec!r}: the number of contexts N must be an integer >= 1, got {text!r}.") from None
    if num < 1:
        raise ConfigError(f"--context {spec!r} is an empty range: N must be >= 1 contexts, got {num}.")
    return num


def _check_field(env_name: str, params: Any, field: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(params)}
    floats = sorted(n for n, f in fields.items() if isinstance(getattr(params, n), float)
                    and f.metadata.get("pytree_node", True))
    if field not in fields:
        close = difflib.get_close_matches(field, floats, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"{env_name}'s params have no field {field!r}.{hint} Fields that can vary as a "
                          f"context: {', '.join(floats)}.")
    if field not in floats:
        raise ConfigError(f"{env_name}'s params field {field!r} cannot vary as a context (contexts are float "
                          f"fields, traced per env copy); fields that can: {', '.join(floats)}.")


def _check_axis(env_name: str, params: Any, axis: Axis) -> None:
    _check_field(env_name, params, axis.field)
    if not (np.isfinite(axis.low) and np.isfinite(axis.high)) or axis.low > axis.high or axis.num < 1 \
            or (axis.num > 1 and axis.low == axis.high):
        raise ConfigError(f"--context {axis} is an empty range: it needs finite LO < HI and N >= 1 contexts "
                          f"(or LO == HI with N = 1), e.g. {axis.field}={axis.low:g}:{max(axis.high, axis.low + 1):g}:"
                          f"{max(axis.num, 2)}.")
    for value in (axis.low, axis.high):
        try:
            validate(params.replace(**{axis.field: float(value)}), env_name)
        except ValueError as exc:
            raise ConfigError(f"--context {axis} goes outside what {env_name} accepts: {exc} Choose LO and HI "
                              "inside the field's valid range.") from None


def _check_spaces(space: ContextSpace, env: Any, params: Any) -> None:
    """The varied fields must leave the observation and action spaces alone (one network for all)."""
    low, high = space.box
    corners = [params.replace(**dict(zip(space.fields, map(float, point)))) for point in (low, high)]
    for name in ("observation_space", "action_space"):
        reference = _describe(getattr(env, name)(params))
        for corner in corners:
            if _describe(getattr(env, name)(corner)) != reference:
                raise ConfigError(f"Varying {', '.join(space.fields)} of {space.env_name} changes its {name.replace('_', ' ')}"
                                  f" (one policy must act in every context); vary other fields.")


def _describe(space: Any) -> str:
    parts = [type(space).__name__, getattr(space, "shape", None), getattr(space, "n", None)]
    parts += [np.asarray(getattr(space, k)).tolist() for k in ("low", "high") if hasattr(space, k)]
    return repr(parts)


def _example(env_name: str, params: Any) -> str:
    preset = next(iter(PRESETS.get(env_name, {}).items()), None)
    if preset:
        return f"{preset[0]}={preset[1][0]:g}:{preset[1][1]:g}:16"
    field = next((f.name for f in dataclasses.fields(params) if isinstance(getattr(params, f.name), float)), "FIELD")
    return f"{field}=LO:HI:16"
