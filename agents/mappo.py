"""MAPPO: multi-agent PPO with a centralised critic (Yu et al. 2022), built as `agents.ippo` with the
critic reading every agent's observation (`ippo.build(..., centralised=True)`); same settings."""

from __future__ import annotations

import functools

from jaxrl.agents import ippo
from jaxrl.agents.base import AgentSpec

SPEC = AgentSpec(
    name="mappo",
    config_cls=ippo.IPPOConfig,
    hparams_cls=ippo.PPOHparams,
    build=functools.partial(ippo.build, centralised=True),
    config_checks=ippo.check_config,
    description="Multi-agent PPO with a centralised critic on all agents' observations",
    multi_agent=True,
    recurrent=True,
)
