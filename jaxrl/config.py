"""Resolving a run's configuration: agent defaults < tuned `experiments/<algo>.toml` < user overrides.

Every key is routed by name to the agent's static `Config`, its traced `Hparams`, the host-loop
`RunSettings`, or (prefixed `env.`) the environment's params, and checked before anything is
compiled: an unknown key or a bad value raises one clear `ConfigError`.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
import numbers
import tomllib
import typing
from typing import Any

from jaxrl.agents import agents_with_memory, get_agent
from jaxrl.agents.base import MemoryOptions
from jaxrl.agents.validation import checked


class ConfigError(ValueError):
    """A user-facing configuration mistake (raised before compilation)."""


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """Host-loop settings (not part of the compiled program)."""

    eval_episodes: int = checked(32, ">= 1")  # episodes of the final (and periodic) evaluation
    eval_stochastic: bool = False  # evaluate the sampled policy (e.g. Craftax) instead of its mode
    num_logs: int = checked(20, ">= 1")  # logged points (compiled chunks) over the run
    eval_every: int = checked(1, ">= 0")  # evaluate every this many logged points (0: only at the end)
    eval_seed: int = checked(12345, "[0, 4294967296)")  # the fixed key of every evaluation (< 2**32)
    checkpoint_every: int = checked(5, ">= 0")  # checkpoint every this many logged points (0: only at the end)
    keep_checkpoints: int = checked(3, ">= 1")  # how many of the newest checkpoints to keep


@dataclasses.dataclass(frozen=True)
class ResolvedConfig:
    algo: str
    env: str
    seeds: tuple[int, ...]
    config: Any
    hparams: Any
    run: RunSettings
    env_kwargs: dict[str, Any]
    # A population with its own traced settings per member (a sweep group): one Hparams per entry
    # of `seeds` (seeds may then repeat). None: every member uses `hparams`.
    member_hparams: tuple[Any, ...] | None = None
    # Per-member values of env params fields (a member's *context*, e.g. {"low": [0.5], "high": [0.5]}
    # of a `ContextualEnv`), traced inputs of the population program, so members on different
    # contexts share one compiled program. None: every member uses the env's params as made.
    member_contexts: tuple[dict[str, Any], ...] | None = None

    @property
    def members(self) -> tuple[Any, ...]:
        """The Hparams of each member, in the order of `seeds`."""
        return self.member_hparams if self.member_hparams is not None else (self.hparams,) * len(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "algo": self.algo,
            "env": self.env,
            "env_kwargs": dict(self.env_kwargs),
            "seeds": list(self.seeds),
            "config": {k: _plain(v) for k, v in dataclasses.asdict(self.config).items()},
            "hparams": hparams_dict(self.hparams),
            "run": dataclasses.asdict(self.run),
        }
        if self.member_hparams is not None:
            out["member_hparams"] = [hparams_dict(h) for h in self.member_hparams]
        if self.member_contexts is not None:
            out["member_contexts"] = [{k: _plain(v) for k, v in c.items()} for c in self.member_contexts]
        return out


MEMORY_SETTINGS = tuple(f.name for f in dataclasses.fields(MemoryOptions))


def hparams_dict(hparams: Any) -> dict[str, Any]:
    """An Hparams dataclass as a dict of plain Python values."""
    return {f.name: _plain(getattr(hparams, f.name)) for f in dataclasses.fields(hparams)}


def tuned_defaults(algo: str, env: str) -> dict[str, Any]:
    """The `[env]` table of `experiments/<algo>.toml`, or `{}` when there is none."""
    try:
        text = importlib.resources.files("jaxrl.experiments").joinpath(f"{algo}.toml").read_text()
    except FileNotFoundError:
        return {}
    return dict(tomllib.loads(text).get(env, {}))


def env_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The `env.KEY=VALUE` entries of `settings` (values may be CLI strings) as `make`'s keyword
    arguments `{KEY: value}`; the other entries are left out."""
    return {key[4:]: _parse_literal(value) for key, value in settings.items() if key.startswith("env.")}


def resolve(
    algo: str,
    env: str,
    overrides: dict[str, Any] | None = None,
    seeds: int | typing.Sequence[int] = 1,
    total_timesteps: int | None = None,
    use_tuned: bool = True,
) -> ResolvedConfig:
    """Merge defaults, tuned settings and `overrides` (values may be CLI strings) and validate them."""
    spec = get_agent(algo)
    merged = dict(tuned_defaults(spec.name, env)) if use_tuned else {}
    merged.update(overrides or {})
    if total_timesteps is not None:
        merged["total_timesteps"] = total_timesteps

    buckets: dict[str, dict[str, Any]] = {"config": {}, "hparams": {}, "run": {}, "env": env_settings(merged)}
    targets = {"config": spec.config_cls, "hparams": spec.hparams_cls, "run": RunSettings}
    valid = [*spec.config_fields, *spec.hparam_fields, *(f.name for f in dataclasses.fields(RunSettings))]
    for key, value in merged.items():
        if key.startswith("env."):
            continue
        bucket = next((b for b, cls in targets.items() if key in _field_types(cls)), None)
        if bucket is None:
            close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            if key in MEMORY_SETTINGS:
                hint = (f" {spec.name} has no recurrent (memory) option; the agents with network=gru|lstm "
                        f"are {', '.join(agents_with_memory())}.")
            raise ConfigError(
                f"Unknown setting {key!r} for {spec.name}.{hint} Valid settings: {', '.join(sorted(valid))}, "
                "or env.FIELD for an environment parameter."
            )
        buckets[bucket][key] = _coerce(key, value, _field_types(targets[bucket])[key])

    try:
        config = spec.config_cls(**buckets["config"])
        hparams = spec.hparams_cls(**buckets["hparams"])
        run = RunSettings(**buckets["run"])
        for settings in (config, hparams, run):
            spec.validate(settings)
        if spec.prepare_hparams is not None:
            hparams = spec.prepare_hparams(config, hparams)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    name = algo if ":" in str(algo) else str(algo).lower()  # as get_agent finds it again (an import path as given)
    return ResolvedConfig(name, env, _seed_list(seeds), config, hparams, run, buckets["env"])


def from_dict(data: dict[str, Any]) -> ResolvedConfig:
    """Rebuild the `ResolvedConfig` that `to_dict` wrote (e.g. a run directory's config.json).

    Every setting is passed explicitly (no tuned defaults), so the result equals the original;
    settings added since the run was made take their defaults.
    """
    try:
        overrides = {
            **data["config"], **data["hparams"], **data.get("run", {}),
            **{f"env.{k}": v for k, v in data.get("env_kwargs", {}).items()},
        }
        algo, env, seeds = data["algo"], data["env"], data["seeds"]
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"Not a jaxrl config (missing {exc}).") from None
    members = data.get("member_hparams")
    contexts = data.get("member_contexts")
    contexts = None if contexts is None else tuple(dict(c) for c in contexts)
    try:
        if members is None:
            resolved = resolve(algo, env, overrides, seeds=seeds, use_tuned=False)
        else:
            resolved = with_members(resolve(algo, env, overrides, use_tuned=False), seeds,
                                    [{**data["hparams"], **m} for m in members])
        return dataclasses.replace(resolved, member_contexts=contexts)
    except ConfigError as exc:
        written = (data.get("versions") or {}).get("jaxrl") if isinstance(data.get("versions"), dict) else None
        raise ConfigError(f"This jaxrl cannot read the saved config (written by jaxrl {written or 'unknown'}, "
                          f"read by {_jaxrl_version()}): {exc}") from None


def _jaxrl_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jaxrl")
    except PackageNotFoundError:
        return "an uninstalled jaxrl"


def with_members(resolved: ResolvedConfig, seeds: typing.Sequence[int], members: typing.Sequence[dict]) -> ResolvedConfig:
    """`resolved` as a population: member i has seed `seeds[i]` and the traced settings `members[i]`
    (a dict of Hparams fields; values may be CLI strings). Raises ConfigError on a bad value."""
    spec = get_agent(resolved.algo)
    if len(seeds) != len(members) or not members:
        raise ConfigError(f"A population needs one seed per member, got {len(seeds)} seeds for {len(members)} members.")
    types = _field_types(spec.hparams_cls)
    built = []
    for member in members:
        unknown = sorted(set(member) - set(types))
        if unknown:
            raise ConfigError(f"{', '.join(unknown)} are not traced settings of {spec.name}; "
                              f"traced settings: {', '.join(sorted(types))}.")
        hparams = dataclasses.replace(resolved.hparams, **{k: _coerce(k, v, types[k]) for k, v in member.items()})
        try:
            spec.validate(hparams)
            if spec.prepare_hparams is not None:
                hparams = spec.prepare_hparams(resolved.config, hparams)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        built.append(hparams)
    return dataclasses.replace(resolved, seeds=tuple(int(s) for s in seeds), member_hparams=tuple(built))


def check_seed(seed: Any, name: str = "seed") -> int:
    """`seed` as an int; ConfigError naming `name` unless it is an int in [0, 2**32), the range of
    every seed jaxrl turns into a key or a host random generator."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ConfigError(f"{name} must be an int in [0, 2**32), got {seed!r}.")
    return int(seed)


def _seed_list(seeds: int | typing.Sequence[int]) -> tuple[int, ...]:
    if isinstance(seeds, bool):
        raise ConfigError(f"seeds must be a positive count or a list of ints, got {seeds!r}.")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"seeds must be >= 1 (the number of independent runs), got {seeds}.")
        return tuple(range(seeds))
    out = tuple(int(s) for s in seeds)
    if not out or len(set(out)) != len(out) or not all(0 <= s < 2**32 for s in out):
        raise ConfigError(f"seeds must be a non-empty list of distinct ints in [0, 2**32), got {list(seeds)!r}.")
    return out


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Convert `value` (possibly a CLI string) to the field's type, or raise ConfigError."""
    origin = typing.get_origin(annotation)
    try:
        if annotation is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("true", "1", "yes", "on"):
                    return True
                if lowered in ("false", "0", "no", "off"):
                    return False
                raise ValueError
            if isinstance(value, (bool, int)) and value in (0, 1):
                return bool(value)
            raise ValueError
        if annotation is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, str):
                value = float(value.replace("_", "")) if any(c in value for c in ".eE") else int(value.replace("_", ""))
            if float(value) != int(value):
                raise ValueError
            return int(value)
        if annotation is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if annotation is str:
            return str(value)
        if origin is tuple:  # layer sizes: positive ints
            items = [v for v in value.strip("()[] ").split(",") if v.strip()] if isinstance(value, str) else value
            sizes = tuple(int(v) for v in items)
            if not all(size >= 1 for size in sizes):
                raise ConfigError(f"Setting {key}={value!r} needs sizes >= 1, e.g. {key}=64,64 (or [] for none).")
            return sizes
    except ConfigError:
        raise
    except (TypeError, ValueError):
        pass
    else:
        return value
    name = getattr(annotation, "__name__", str(annotation))
    raise ConfigError(f"Setting {key}={value!r} is not a valid {name}.")


def _parse_literal(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            continue
    return {"true": True, "false": False}.get(value.lower(), value)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:  # a traced vector (lpo's drift_params)
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return value
