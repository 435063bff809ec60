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
    """The `AgentSpec` registered as `name` (case-insensitive)."""
    key = str(name).lower()
    if key not in _AGENTS:
        close = difflib.get_close_matches(key, list(_AGENTS), n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown algorithm {name!r}; available: {', '.join(sorted(_AGENTS))}.{hint} "
                         "Your own agent: jaxrl.agents.register_agent(name, spec).")
    entry = _AGENTS[key]
    return entry if isinstance(entry, AgentSpec) else importlib.import_module(entry).SPEC


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
