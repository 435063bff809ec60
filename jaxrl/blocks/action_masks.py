"""Action masks of `Discrete` actions that travel in the observation.

An env whose actions are sometimes invalid gives dict observations with a bool `[n]` entry
`avail_actions` (`envs.multi.AVAIL_ACTIONS`, the convention of multi-agent team views too; True:
the action may be taken). Agents read it with `action_mask` wherever they act or bootstrap: PPO
gives masked actions zero probability, DQN/PQN never choose them, greedily or exploring, and
bootstrap from the best available action of the next observation.

Shapes: observations `[..., *]`, masks `[..., n]` bool, values or logits `[..., n]`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.envs.multi import AVAIL_ACTIONS

NO_ACTION = -1e9  # the logit / action value of a masked action (finite: no NaN in softmax or targets)


def action_mask(obs: Any) -> jax.Array | None:
    """The `[..., n]` bool mask an observation carries (None: every action is available)."""
    if isinstance(obs, dict) and AVAIL_ACTIONS in obs and not isinstance(obs[AVAIL_ACTIONS], dict):
        return jnp.asarray(obs[AVAIL_ACTIONS], bool)
    return None


def masked(values: jax.Array, mask: jax.Array | None) -> jax.Array:
    """`values [..., n]` with the unavailable actions at `NO_ACTION` (unchanged when `mask` is None)."""
    return values if mask is None else jnp.where(mask, values, NO_ACTION)


def masked_policy(dist: Any, obs: Any) -> Any:
    """`dist` with the actions `obs`'s mask rules out at zero probability (a distribution with
    `logits`, e.g. `Categorical`; any other, or no mask, as it is)."""
    mask = action_mask(obs)
    return dist if mask is None or not hasattr(dist, "logits") else dist.replace(logits=masked(dist.logits, mask))
