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
        raise ValueError(f"Unknown algorithm {name!r}; available: {', '.join(sorted(_AGENTS))}.{hint}")
    return importlib.import_module(_AGENTS[key]).SPEC


def list_agents() -> list[str]:
    return sorted(_AGENTS)


def agents_with_memory() -> list[str]:
    """The agents whose Config offers a recurrent policy (`network="gru"`/`"lstm"`)."""
    return [name for name in sorted(_AGENTS) if get_agent(name).recurrent]


__all__ = ["EPISODE_METRICS", "AgentFns", "AgentSpec", "agents_with_memory", "get_agent", "list_agents"]
