"""Agents: each algorithm is an `AgentSpec` (static Config, traced Hparams, pure functions)."""

from __future__ import annotations

import difflib
import importlib

from jaxrl.agents.base import EPISODE_METRICS, AgentFns, AgentSpec

# Lazy so that importing one agent does not import the others.
_AGENTS = {
    "ppo": "jaxrl.agents.ppo",
    "lpo": "jaxrl.agents.lpo",
    "dqn": "jaxrl.agents.dqn",
    "pqn": "jaxrl.agents.pqn",
    "sac": "jaxrl.agents.sac",
    "td3": "jaxrl.agents.td3",
    "ddpg": "jaxrl.agents.ddpg",
    "ippo": "jaxrl.agents.ippo",
    "mappo": "jaxrl.agents.mappo",
    "pqn_vdn": "jaxrl.agents.pqn_vdn",
}


def get_agent(name: str) -> AgentSpec:
    """The `AgentSpec` registered as `name` (case-insensitive), or the one at the import path
    `package.module:ATTR` (an `AgentSpec` named ATTR in a module on sys.path), the way the CLI, a
    run's config.json and `--resume` name an agent that is not built in."""
    if ":" in str(name):
        return _import_spec(str(name))
    key = str(name).lower()
    if key not in _AGENTS:
        close = difflib.get_close_matches(key, list(_AGENTS), n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown algorithm {name!r}; available: {', '.join(sorted(_AGENTS))}.{hint} "
                         "Your own agent: 'package.module:SPEC' (an AgentSpec in a module on sys.path), "
                         "or jaxrl.agents.register_agent(name, spec) from Python.")
    entry = _AGENTS[key]
    return entry if isinstance(entry, AgentSpec) else importlib.import_module(entry).SPEC


def _import_spec(path: str) -> AgentSpec:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"Cannot import module {module_name!r} for the agent {path!r} ({exc}); the "
                         "'package.module:SPEC' form needs the module on sys.path (the jaxrl command adds "
                         "the current directory).") from None
    spec = getattr(module, attr, None)
    if not isinstance(spec, AgentSpec):
        found = "no attribute of that name" if spec is None else f"an object of type {type(spec).__name__}"
        specs = [n for n, v in vars(module).items() if isinstance(v, AgentSpec)]
        hint = f" Its AgentSpecs: {', '.join(specs)}." if specs else ""
        raise ValueError(f"{path!r} names {found} in {module_name}, not a jaxrl.agents.AgentSpec.{hint}")
    return spec


def register_agent(name: str, spec: AgentSpec, *, overwrite: bool = False) -> None:
    """Make `spec` trainable as `name` by `jaxrl.train`, `jaxrl.sweep`, `compare --adastop --run`
    and evaluation (an agent built from `jaxrl.blocks`, see docs/new_algorithm.md).

    Registration lives in this process: a script or notebook that resumes or evaluates a run of its
    own agent registers it again first. Re-registering a name needs `overwrite=True`; the compiled
    programs of the old spec are not reused.
    """
    key = str(name).lower()
    if not isinstance(spec, AgentSpec):
        raise TypeError(f"register_agent({name!r}, ...) needs an AgentSpec, got {type(spec).__name__}.")
    if not key.isidentifier():
        raise ValueError(f"Agent name {name!r} must be an identifier (letters, digits, underscores), e.g. 'a2c'.")
    if key in _AGENTS and not overwrite:
        raise ValueError(f"An agent named {key!r} is already registered; pass overwrite=True to replace it.")
    _AGENTS[key] = spec


def list_agents() -> list[str]:
    """The registered algorithm names, sorted (built-in and `register_agent`ed)."""
    return sorted(_AGENTS)


def agents_with_memory() -> list[str]:
    """The agents whose Config offers a recurrent policy (`network="gru"`/`"lstm"`)."""
    return [name for name in sorted(_AGENTS) if get_agent(name).recurrent]


__all__ = ["EPISODE_METRICS", "AgentFns", "AgentSpec", "agents_with_memory", "get_agent", "list_agents", "register_agent"]
