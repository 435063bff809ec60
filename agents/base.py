"""The agent interface shared by every algorithm.

An agent is described by an `AgentSpec`: a static `Config` (frozen dataclass: shapes, loop lengths,
network sizes), a traced `Hparams` pytree (learning rate, gamma, ...; a sweep over them compiles
once) and `build(env, env_params, config) -> AgentFns`, a bundle of pure functions:

* `init(key, hparams) -> state`: everything needed to resume (params, optimiser, env carry, RNG,
  normaliser statistics, update counter);
* `update(state, hparams) -> (state, metrics)`: one iteration (collect experience, learn);
  `metrics` is a flat dict of float32 scalars (see `EPISODE_METRICS`);
* `policy(state) -> policy_params`: the part of the state `act` needs (exportable);
* `act(policy_params, obs [B, ...], key, deterministic) -> env actions [B, ...]`; an agent with
  memory (a recurrent policy) sets `initial_memory(B)` and acts with
  `act(policy_params, memory, obs, key, deterministic) -> (memory, env actions)`.

Observations and actions are pytrees with a leading batch axis `[B, ...]` (an array for the
built-in single-agent envs; a dict keyed by agent name, or image + vector parts, pass through the
same signatures), and whatever an agent carries between steps (a recurrent state, normaliser
statistics) lives in its state pytree, which the host loop never looks inside.

`AgentSpec.validate` checks a Config or Hparams before anything compiles: the rules declared on
its fields (`agents.validation.checked`) and, for a Config, the agent's `config_checks`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from jaxrl.agents import validation
from jaxrl.blocks.encoders import CNN_TORSOS, ENCODERS, EncoderSpec, choose_encoder, encoder_input

# Sums over the finished episodes of an update; the host divides by `episode_count`. Any other
# metric named `episode_<x>_sum` (e.g. a multi-agent learner's `episode_return_agent_0_sum`) is
# such a sum too and is reported as `episode_<x>`; the rest are averaged over updates.
EPISODE_METRICS = ("episode_return_sum", "episode_length_sum", "episode_count")


class InitFn(Protocol):
    """`init(key, hparams) -> state` (see the module docstring)."""

    def __call__(self, key: jax.Array, hparams: Any) -> Any:
        """The initial agent state of one member (everything needed to resume)."""


class UpdateFn(Protocol):
    """`update(state, hparams) -> (state, metrics)` (see the module docstring)."""

    def __call__(self, state: Any, hparams: Any) -> tuple[Any, dict[str, jax.Array]]:
        """One iteration (collect experience, learn): the new state and float32 scalar metrics."""


class PolicyFn(Protocol):
    """`policy(state) -> policy_params` (see the module docstring)."""

    def __call__(self, state: Any) -> Any:
        """The part of the state that acting needs (exportable policy parameters)."""


class ActFn(Protocol):
    """`act(policy, obs, key, deterministic) -> actions` (see the module docstring)."""

    def __call__(self, policy: Any, obs: Any, key: jax.Array, deterministic: bool = False) -> Any:
        """Env actions `[B, ...]` for observations `[B, ...]` (the distribution's mode when deterministic)."""


class RecurrentActFn(Protocol):
    """`act(policy, memory, obs, key, deterministic) -> (memory, actions)` (see the module docstring)."""

    def __call__(self, policy: Any, memory: Any, obs: Any, key: jax.Array,
                 deterministic: bool = False) -> tuple[Any, Any]:
        """`(memory, env actions [B, ...])` for observations `[B, ...]`, starting from `memory`
        (`initial_memory(B)` at the start of an episode; the act of an agent with memory)."""


class AgentFns(NamedTuple):
    """An algorithm's pure functions for one env (see the module docstring)."""

    init: InitFn
    update: UpdateFn
    policy: PolicyFn
    act: ActFn | RecurrentActFn
    steps_per_update: int
    initial_memory: Callable[[int], Any] | None = None  # set for agents with memory (see RecurrentActFn)


@dataclasses.dataclass(frozen=True)
class AgentSpec:
    """An algorithm: its static `config_cls`, traced `hparams_cls`, `build(env, env_params, config)
    -> AgentFns`, the `config_checks` that span fields, and what it trains on (see the module docstring)."""

    name: str
    config_cls: type
    hparams_cls: type
    build: Callable[[Any, Any, Any], AgentFns]
    config_checks: Callable[[Any, str], None]  # (config, "PPO"): the checks that span fields
    description: str = ""
    multi_agent: bool = False  # trains on multi-agent envs (`envs.multi`), and only on those
    recurrent: bool = False  # offers network="gru"/"lstm" (its Config has `MemoryOptions`)
    # (config, hparams) -> hparams: traced settings that come from static ones (lpo reads its drift
    # parameters from the `objective` file) and checks of them; raises ValueError. None: as given.
    prepare_hparams: Callable[[Any, Any], Any] | None = None

    @property
    def config_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.config_cls))

    @property
    def hparam_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.hparams_cls))

    def validate(self, settings: Any) -> None:
        """Raise `ValueError` if `settings` (this agent's Config or Hparams, or any dataclass with
        `checked` fields) breaks a rule of its fields or, for a Config, `config_checks`."""
        validation.validate(settings, self.name.upper())
        if isinstance(settings, self.config_cls):
            self.config_checks(settings, self.name.upper())


@dataclasses.dataclass(frozen=True)
class MemoryOptions:
    """The recurrent-policy settings of agents that offer memory (a Config base class).

    `network`: "mlp" (no memory) or a recurrent cell, "gru" or "lstm", of `rnn_size` units;
    `seq_len`: the length of the sequences training re-runs the rollout in (0: the whole rollout;
    it must divide `num_steps`). See `jaxrl.blocks.recurrent` for how sequences are trained.
    """

    network: str = validation.checked("mlp", ("mlp", "gru", "lstm"))
    rnn_size: int = validation.checked(128, ">= 1")
    seq_len: int = validation.checked(0, ">= 0")

    @property
    def recurrent(self) -> bool:
        return self.network != "mlp"

    @property
    def sequence_length(self) -> int:
        return self.seq_len or self.num_steps

    @property
    def num_sequences(self) -> int:
        """Sequences per update: `num_envs * num_steps // sequence_length`."""
        return self.num_envs * (self.num_steps // self.sequence_length)


@dataclasses.dataclass(frozen=True)
class EncoderOptions:
    """How the networks read observations (a Config base class; `jaxrl.blocks.encoders`).

    `encoder`: "auto" (by the observation space: vectors straight into the MLP, images [H, W, C]
    through a CNN, each entry of a dict/tuple observation by its own rule, concatenated) or
    "flatten" (every observation flattened into the MLP); `cnn`: the image torso, "nature",
    "impala" or "minatar" (`blocks.encoders.CNN_TORSOS`).
    """

    encoder: str = validation.checked("auto", ENCODERS)
    cnn: str = validation.checked("impala", tuple(CNN_TORSOS))


def episode_metrics(episode: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Sums of returns/lengths of the episodes that finished in a `[T, B]` batch, and their count.

    `episode` holds the EpisodeStatistics wrapper's info keys; without them the sums are zero.
    """
    if "episode_done" not in episode:
        return {k: jnp.float32(0.0) for k in EPISODE_METRICS}
    done = episode["episode_done"]
    return {
        "episode_return_sum": jnp.sum(jnp.where(done, episode["episode_return"], 0.0)),
        "episode_length_sum": jnp.sum(jnp.where(done, episode["episode_length"], 0).astype(jnp.float32)),
        "episode_count": jnp.sum(done.astype(jnp.float32)),
    }


def flatten_obs(obs: jax.Array, obs_ndim: int) -> jax.Array:
    """`[..., *obs_shape] -> [..., prod(obs_shape)]` float32, where `obs_ndim = len(obs_shape)`."""
    lead = obs.shape[: obs.ndim - obs_ndim]
    return obs.reshape(*lead, -1).astype(jnp.float32)


def network_input(obs_space: Any, config: Any, algo: str) -> tuple[EncoderSpec | None, Callable, Callable]:
    """`(encoder, prepare, dummy)` for a network reading observations of `obs_space` under
    `config`'s `EncoderOptions`: the encoder spec (None: flat vectors straight into the MLP),
    `prepare(obs [..., *shape]) -> network input` and `dummy()`, a batch-1 input for `init`.
    ValueError (naming `algo`) for a space no encoder handles or normalize_obs with an encoder."""
    encoder = choose_encoder(obs_space, getattr(config, "encoder", "auto"), getattr(config, "cnn", "impala"))
    if encoder is not None and getattr(config, "normalize_obs", False):
        raise ValueError(
            f"{algo}: normalize_obs=True normalises flat vector observations, but {obs_space!r} goes "
            "through an encoder (images, dict observations); drop normalize_obs or set encoder='flatten'."
        )
    prepare, dummy = encoder_input(obs_space, encoder)
    return encoder, prepare, dummy
