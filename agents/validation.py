"""Checking settings: the rules declared on the fields (`checked`, `validate`: the one mechanism, in
`jaxrl.envs.validation`, shared with env params) and the agents' shared cross-field checks.

    gamma: float = checked(0.99, "[0, 1]")
    num_envs: int = checked(4, ">= 1")

`validate(settings, "PPO")` raises `ValueError("PPO: gamma must be in [0, 1], got 1.5.")`.
"""

from __future__ import annotations

from typing import Any

from jaxrl.envs.validation import checked, validate

__all__ = ["check_minibatches", "check_replay_sizes", "checked", "validate"]


def check_minibatches(config: Any, algo: str) -> None:
    """Cross-field checks of an on-policy Config: the batch splits into minibatches and fits the run
    (with memory: the rollout into sequences, and those into minibatches)."""
    if getattr(config, "recurrent", False):
        _check_sequences(config, algo)
    elif config.batch_size % config.num_minibatches:
        raise ValueError(
            f"{algo}: num_envs * num_steps = {config.batch_size} must be divisible by num_minibatches "
            f"= {config.num_minibatches}; pick num_minibatches from the divisors of {config.batch_size}."
        )
    if config.total_timesteps < config.batch_size:
        raise ValueError(
            f"{algo}: total_timesteps = {config.total_timesteps} is smaller than one batch "
            f"(num_envs * num_steps = {config.batch_size}); raise it or shrink the batch."
        )


def _check_sequences(config: Any, algo: str) -> None:
    if config.num_steps % config.sequence_length:
        raise ValueError(
            f"{algo}: seq_len = {config.seq_len} does not divide num_steps = {config.num_steps}: the rollout "
            f"is cut into training sequences of seq_len steps; pick seq_len from the divisors of "
            f"{config.num_steps} (or 0 for the whole rollout)."
        )
    if config.num_sequences % config.num_minibatches:
        raise ValueError(
            f"{algo}: with network = {config.network!r}, minibatches are made of whole sequences: "
            f"num_envs * (num_steps // seq_len) = {config.num_sequences} sequences must be divisible by "
            f"num_minibatches = {config.num_minibatches}; pick num_minibatches from the divisors of "
            f"{config.num_sequences}, or a shorter seq_len."
        )


def check_replay_sizes(config: Any, algo: str) -> None:
    """Cross-field checks of a replay Config: the buffer holds one update, the run is one update long."""
    if config.buffer_size // config.num_envs < config.num_steps:
        raise ValueError(
            f"{algo}: buffer_size = {config.buffer_size} keeps {config.buffer_size // config.num_envs} steps per env "
            f"copy (buffer_size // num_envs, num_envs = {config.num_envs}), fewer than one update's num_steps = "
            f"{config.num_steps}; raise buffer_size or lower num_envs or num_steps."
        )
    if config.total_timesteps < config.steps_per_update:
        raise ValueError(
            f"{algo}: total_timesteps = {config.total_timesteps} is smaller than one update "
            f"(num_envs * num_steps = {config.steps_per_update})."
        )
