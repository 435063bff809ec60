"""DDPG: registered on its own, built by TD3 (`jaxrl.agents.td3`) with one critic, no target policy
smoothing and no policy delay."""

from jaxrl.agents.td3 import DDPG_SPEC as SPEC

__all__ = ["SPEC"]
