"""LPO: PPO whose clipped objective is replaced by a learned drift function (Lu et al. 2022,
"Discovered Policy Optimisation"), and with `temporal=True` the temporally aware TA-LPO (Jackson et
al. 2024), whose drift also sees the training progress and the remaining budget.

Everything but the policy objective is PPO's (`agents.ppo`: rollout, GAE, minibatches, value loss,
entropy bonus, optimiser). The drift network's parameters are a TRACED setting, `drift_params`
(a flat vector, see `jaxrl.blocks.drift`), so a population whose members carry different objectives
compiles once: that is what `jaxrl meta-train lpo` evolves. `objective` names the file they are
read from: a path to an `.npz` written by `jaxrl meta-train lpo`, the name of one shipped with jaxrl
(`lpo_cartpole`), or "none" (or "") for zero parameters, whose objective is exactly PPO's clipped one.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from pathlib import Path
from typing import Any

import numpy as np
from flax import struct

from jaxrl.agents import ppo
from jaxrl.agents.base import AgentFns, AgentSpec
from jaxrl.agents.validation import check_minibatches, checked
from jaxrl.blocks import drift
from jaxrl.envs import Environment

SHIPPED_OBJECTIVES = ("lpo_cartpole",)
NO_OBJECTIVE = ("", "none")  # zero drift parameters: PPO's clipped objective


@dataclasses.dataclass(frozen=True)
class LPOConfig(ppo.PPOConfig):
    """PPO's static settings, and the drift network's: its features (`temporal`) and width."""

    objective: str = "lpo_cartpole"
    temporal: bool = False
    drift_hidden: int = checked(32, ">= 1")

    @property
    def num_drift_params(self) -> int:
        return drift.num_params(self.temporal, self.drift_hidden)


@struct.dataclass
class LPOHparams(ppo.PPOHparams):
    """PPO's traced settings and the drift network's flat parameters `[num_drift_params]` (filled
    from `objective` when not given; `clip_eps` sets the PPO drift the learned one adds to)."""

    drift_params: Any = None


def build(env: Environment, env_params: Any, config: LPOConfig) -> AgentFns:
    SPEC.validate(config)

    def surrogate(log_prob, old_log_prob, advantage, hparams: LPOHparams, update_step):
        time = drift.time_features(update_step, config.num_updates) if config.temporal else None
        return drift.drift_surrogate_loss(log_prob, old_log_prob, advantage, hparams.drift_params,
                                          hparams.clip_eps, config.drift_hidden, time)

    return ppo.build(env, env_params, config, surrogate=surrogate)


def objective_path(name: str) -> Path:
    """The file of a shipped objective (`lpo_cartpole`) or of a path."""
    if name in SHIPPED_OBJECTIVES:
        return Path(str(importlib.resources.files("jaxrl.experiments").joinpath("objectives", f"{name}.npz")))
    return Path(name).expanduser()


def prepare_hparams(config: LPOConfig, hparams: LPOHparams) -> LPOHparams:
    """Fill `drift_params` from the objective file (unless given) and check that they fit the
    drift network of `config`; ValueError in one paragraph otherwise."""
    params = hparams.drift_params
    if params is None and config.objective not in NO_OBJECTIVE:
        loaded = drift.load_objective(objective_path(config.objective))
        if (loaded["temporal"], loaded["hidden"]) != (config.temporal, config.drift_hidden):
            raise ValueError(_mismatch(config, loaded))
        params = loaded["params"]
    elif params is None:
        params = np.zeros(config.num_drift_params, np.float32)
    try:
        params = np.asarray(params, np.float32)
    except (TypeError, ValueError):
        params = np.zeros(0, np.float32) if isinstance(params, str) else np.asarray([np.nan])
    if params.shape != (config.num_drift_params,) or not np.all(np.isfinite(params)):
        raise ValueError(
            f"LPO: drift_params must be {config.num_drift_params} finite floats (a drift network of "
            f"{drift.num_features(config.temporal)} inputs{' with the temporal features' if config.temporal else ''} "
            f"and drift_hidden = {config.drift_hidden} units), got shape {params.shape}. Set objective=PATH "
            "to read them from a file written by `jaxrl meta-train lpo` instead."
        )
    return hparams.replace(drift_params=params)


def _mismatch(config: LPOConfig, loaded: dict[str, Any]) -> str:
    def kind(temporal, hidden):
        return f"{'temporal (TA-LPO, progress and budget features)' if temporal else 'LPO (no temporal features)'} " \
               f"with {hidden} hidden units"

    fix = ("set temporal=true" if loaded["temporal"] else "set temporal=false") \
        if loaded["temporal"] != config.temporal else f"set drift_hidden={loaded['hidden']}"
    return (f"LPO: objective {config.objective!r} holds a drift network of kind {kind(loaded['temporal'], loaded['hidden'])}, "
            f"but this run asks for {kind(config.temporal, config.drift_hidden)}; {fix} to use it, "
            "or pick an objective made for these settings.")


def check_config(config: LPOConfig, algo: str) -> None:
    check_minibatches(config, algo)
    if config.recurrent:
        raise ValueError(f"{algo}: network must be 'mlp' (the learned objective has no recurrent variant "
                         f"yet), got {config.network!r}.")


SPEC = AgentSpec(
    name="lpo",
    config_cls=LPOConfig,
    hparams_cls=LPOHparams,
    build=build,
    config_checks=check_config,
    description="PPO with a learned (meta-trained) drift objective: LPO, and TA-LPO with temporal=true",
    prepare_hparams=prepare_hparams,
)
