"""Environment registry: `make(name)` and `register(name, entry)`.

Accepted names:

* a registered name: the built-ins (`CartPole-v1`, ...) or anything passed to `register`;
* `gymnax:NAME` for every env in gymnax's registry, `brax:NAME` for brax envs, `jaxmarl:NAME` for
  JaxMARL's multi-agent envs, and the env suites `craftax:NAME`, `xminigrid:NAME`, `navix:NAME`,
  `jumanji:NAME` (`envs.suites`; each an optional extra, e.g. pip install 'jaxrl[craftax]');
* `package.module:Class` to import a user's class: a subclass of `jaxrl.Environment` or of
  `MultiAgentEnv`, or of gymnax's or JaxMARL's environment base class (wrapped automatically), or
  any callable returning an environment.

Multi-agent names (the `MPE_*` built-ins, `jaxmarl:NAME`) give a `MultiAgentEnv`
(`jaxrl.envs.multi`); `TeamView(env)` presents one in the single-agent contract.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
from typing import Any

from jaxrl.envs.core import Environment, EnvParams
from jaxrl.envs.multi import MultiAgentEnv
from jaxrl.envs.validation import validate

# Built-ins are lazy "module:attr" strings so that `import jaxrl` imports no env module.
_REGISTRY: dict[str, Any] = {
    "CartPole-v1": "jaxrl.envs.cartpole:CartPole",
    "Pendulum-v1": "jaxrl.envs.pendulum:Pendulum",
    "Acrobot-v1": "jaxrl.envs.acrobot:Acrobot",
    "MountainCar-v0": "jaxrl.envs.mountain_car:MountainCar",
    "MountainCarContinuous-v0": "jaxrl.envs.mountain_car:MountainCarContinuous",
    "ProbeConstantReward-v0": "jaxrl.envs.probes:ConstantReward",
    "ProbeObsDependentReward-v0": "jaxrl.envs.probes:ObsDependentReward",
    "ProbeTwoStep-v0": "jaxrl.envs.probes:TwoStepCredit",
    "ProbeActionDependentReward-v0": "jaxrl.envs.probes:ActionDependentReward",
    "ProbeObsActionReward-v0": "jaxrl.envs.probes:ObsActionReward",
    "ProbeImageObsReward-v0": "jaxrl.envs.structured_probes:ImageObsReward",
    "ProbeMaskedActions-v0": "jaxrl.envs.structured_probes:MaskedActions",
    # Memory: POPGym-style card tasks (constructor keywords override the preset's sizes) ...
    "RepeatPrevious-easy": "jaxrl.envs.memory:repeat_previous_easy",
    "RepeatPrevious-medium": "jaxrl.envs.memory:repeat_previous_medium",
    "RepeatPrevious-hard": "jaxrl.envs.memory:repeat_previous_hard",
    "RepeatFirst-easy": "jaxrl.envs.memory:repeat_first_easy",
    "RepeatFirst-medium": "jaxrl.envs.memory:repeat_first_medium",
    "RepeatFirst-hard": "jaxrl.envs.memory:repeat_first_hard",
    "CountRecall-easy": "jaxrl.envs.memory:count_recall_easy",
    "CountRecall-medium": "jaxrl.envs.memory:count_recall_medium",
    "CountRecall-hard": "jaxrl.envs.memory:count_recall_hard",
    # ... and classic control with the velocities masked out.
    "CartPole-v1-po": "jaxrl.envs.partially_observed:cartpole_po",
    "Pendulum-v1-po": "jaxrl.envs.partially_observed:pendulum_po",
    "MountainCar-v0-po": "jaxrl.envs.partially_observed:mountain_car_po",
    "Acrobot-v1-po": "jaxrl.envs.partially_observed:acrobot_po",
    # Multi-agent (MultiAgentEnv): particle envs with JaxMARL's dynamics.
    "MPE_simple_spread_v3": "jaxrl.envs.mpe:SimpleSpread",
    "MPE_simple_spread_v3-continuous": "jaxrl.envs.mpe:simple_spread_continuous",
    "MPE_simple_speaker_listener_v4": "jaxrl.envs.mpe:SimpleSpeakerListener",
    "MPE_simple_speaker_listener_v4-continuous": "jaxrl.envs.mpe:simple_speaker_listener_continuous",
}

# Prefix -> factory `(name, **kwargs) -> env` for adapted third-party registries.
_PREFIXES: dict[str, str] = {
    "gymnax": "jaxrl.envs.gymnax_adapter:make_gymnax_env",
    "brax": "jaxrl.envs.brax_adapter:make_brax_env",
    "jaxmarl": "jaxrl.envs.jaxmarl_adapter:make_jaxmarl_env",
    "craftax": "jaxrl.envs.craftax_adapter:make_craftax_env",
    "xminigrid": "jaxrl.envs.xminigrid_adapter:make_xminigrid_env",
    "navix": "jaxrl.envs.navix_adapter:make_navix_env",
    "jumanji": "jaxrl.envs.jumanji_adapter:make_jumanji_env",
}
_PREFIX_LISTERS: dict[str, str] = {
    "gymnax": "jaxrl.envs.gymnax_adapter:gymnax_env_names",
    "brax": "jaxrl.envs.brax_adapter:brax_env_names",
    "jaxmarl": "jaxrl.envs.jaxmarl_adapter:jaxmarl_env_names",
    "craftax": "jaxrl.envs.craftax_adapter:craftax_env_names",
    "xminigrid": "jaxrl.envs.xminigrid_adapter:xminigrid_env_names",
    "navix": "jaxrl.envs.navix_adapter:navix_env_names",
    "jumanji": "jaxrl.envs.jumanji_adapter:jumanji_env_names",
}


def register(name: str, entry: Any, *, overwrite: bool = False) -> None:
    """Register `entry` (an `Environment` subclass, a factory, or a `"module:attr"` string) as `name`."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"Environment names are non-empty strings, got {name!r}.")
    if name.split(":", 1)[0] in _PREFIXES:
        raise ValueError(f"The prefix of {name!r} is reserved for adapters ({', '.join(_PREFIXES)}).")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"Environment {name!r} is already registered; pass overwrite=True to replace it.")
    if not (isinstance(entry, str) or callable(entry)):
        raise TypeError(
            f"register({name!r}, ...) needs an Environment subclass, a factory function or a "
            f"'module:attr' string, got {entry!r}."
        )
    _REGISTRY[name] = entry


def registered_names() -> list[str]:
    """Names registered in this process (built-ins and `register` calls)."""
    return sorted(_REGISTRY)


def list_envs(include_adapters: bool = True) -> list[str]:
    """Every name `make` accepts without an import path: registered names, then the adapters' ones.

    Adapter lists are skipped silently when the third-party package is not installed.
    """
    names = registered_names()
    if include_adapters:
        for prefix, lister in _PREFIX_LISTERS.items():
            try:
                names += [f"{prefix}:{n}" for n in _load(lister)()]
            except ImportError:
                continue
    return names


def make(name: str, **overrides: Any) -> tuple[Environment | MultiAgentEnv, EnvParams]:
    """Build an environment (an `Environment`, or a `MultiAgentEnv` for multi-agent names) and its
    default parameters.

    Keyword arguments that name a field of the env's params replace it in the returned params
    (e.g. `make("CartPole-v1", max_steps_in_episode=200)`), checked against the rules the fields
    declare (ValueError naming the field); the others go to the constructor. Returns `(env, params)`.
    """
    if not isinstance(name, str):
        raise TypeError(f"make() takes an environment name string, got {type(name).__name__} {name!r}.")
    prefix, _, rest = name.partition(":")
    if name in _REGISTRY:
        entry = _REGISTRY[name]
        if isinstance(entry, str):
            entry = _load(entry)
        return _instantiate(name, entry, overrides)
    if rest and prefix in _PREFIXES:
        factory = _load(_PREFIXES[prefix])
        return _instantiate(name, functools.partial(factory, rest), overrides)
    if rest:
        return _instantiate(name, _import_path(name), overrides)
    raise ValueError(_unknown_name_message(name))


def _instantiate(name: str, entry: Any, overrides: dict[str, Any]) -> tuple[Environment | MultiAgentEnv, EnvParams]:
    from jaxrl.envs.gymnax_adapter import is_gymnax_env, wrap_gymnax
    from jaxrl.envs.jaxmarl_adapter import is_jaxmarl_env, wrap_jaxmarl

    def build(**ctor_kwargs: Any) -> Environment | MultiAgentEnv:
        if callable(entry) and not ctor_kwargs:
            _check_no_arguments_needed(name, entry)
        env = entry(**ctor_kwargs) if callable(entry) else entry
        if is_gymnax_env(env):
            env = wrap_gymnax(env)
        if is_jaxmarl_env(env):
            env = wrap_jaxmarl(env)
        if not isinstance(env, (Environment, MultiAgentEnv)):
            raise TypeError(
                f"{name!r} produced {type(env).__name__}, which is not a jaxrl.Environment, a MultiAgentEnv, "
                "or a gymnax or JaxMARL environment. Subclass jaxrl.Environment (reset_env/step_env) or "
                "jaxrl.envs.multi.MultiAgentEnv."
            )
        return env

    # Keywords naming a field of the env's params replace it; the others go to the constructor
    # (the default build tells which fields exist; it is rebuilt only if constructor keywords remain).
    env = build()
    fields = set(env.default_params.__dataclass_fields__)
    param_overrides = {k: v for k, v in overrides.items() if k in fields}
    ctor_kwargs = {k: v for k, v in overrides.items() if k not in fields}
    if ctor_kwargs:
        if not _accepts(entry, ctor_kwargs):
            raise ValueError(
                f"make({name!r}): unknown option(s) {sorted(ctor_kwargs)}; valid parameter names are "
                f"{sorted(fields)}{_ctor_hint(entry)}."
            )
        env = build(**ctor_kwargs)
    params = env.default_params
    if param_overrides:
        params = params.replace(**param_overrides)
        validate(params, name)
    return env, params


def _accepts(entry: Any, kwargs: dict[str, Any]) -> bool:
    try:
        parameters = inspect.signature(entry).parameters.values()
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return True
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return set(kwargs) <= names


def _ctor_hint(entry: Any) -> str:
    try:
        names = [p for p in inspect.signature(entry).parameters if p not in ("self", "args", "kwargs")]
    except (TypeError, ValueError):
        return ""
    return f"; constructor options are {names}" if names else ""


def _check_no_arguments_needed(name: str, entry: Any) -> None:
    """Raise ValueError when `entry()` cannot be called (a constructor argument without a default)."""
    try:
        inspect.signature(entry).bind()
    except TypeError as exc:
        raise ValueError(
            f"Cannot construct the environment {name!r} without arguments ({exc}); --env needs an Environment "
            f"class whose constructor arguments have defaults (set them with --set env.NAME=VALUE){_ctor_hint(entry)}."
        ) from None
    except ValueError:  # no signature to inspect (a builtin): let the call itself decide
        return


def _import_path(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        prefix_hint = _prefix_hint(module_name)  # a misspelt adapter prefix: enough said (list_envs imports every suite)
        raise ValueError(
            f"Cannot import module {module_name!r} for environment {path!r} ({exc}). {prefix_hint}The "
            "'package.module:Class' form needs the module on sys.path; otherwise use a registered "
            f"name. {'' if prefix_hint else _close_matches_hint(path)}"
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        public = sorted(n for n in vars(module) if not n.startswith("_"))
        raise ValueError(
            f"Module {module_name!r} has no attribute {attr!r} (environment {path!r}); it defines {public[:20]}."
        ) from None


def _prefix_hint(prefix: str) -> str:
    """'Did you mean' for a misspelt adapter prefix (empty when `prefix` is close to none)."""
    close = difflib.get_close_matches(prefix, list(_PREFIXES), n=1, cutoff=0.6)
    return f"There is no adapter prefix '{prefix}:'; did you mean '{close[0]}:'? " if close else ""


def _load(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _close_matches_hint(name: str) -> str:
    matches = difflib.get_close_matches(name, list_envs(), n=5, cutoff=0.5)
    return f"Closest registered names: {', '.join(matches)}." if matches else ""


def _unknown_name_message(name: str) -> str:
    hint = _close_matches_hint(name) or f"Registered names: {', '.join(registered_names())}."
    return (
        f"Unknown environment {name!r}. {hint} Use {', '.join(repr(p + ':NAME') for p in _PREFIXES)} for adapted envs, "
        "'package.module:Class' for your own class, or jaxrl.register(name, cls) first."
    )
