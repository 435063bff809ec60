"""The pure functions that the host loop compiles: a chunk of updates, and policy evaluation.

Both are written for ONE member of a population; the host `vmap`s them over seeds x hyperparameters
and `jit`s the result, so a population is one program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.envs import Environment
from jaxrl.envs.multi import single_agent_view


def make_chunk(update: Callable[[Any, Any], tuple[Any, dict[str, jax.Array]]]):
    """`chunk(state, hparams, num_updates) -> (state, metric_sums, first_bad)`.

    Runs `num_updates` updates (a traced int32 scalar, so every chunk length shares one compiled
    program) and returns the SUM of each scalar metric over them: the host divides by the number of
    updates (or by `episode_count` for episode sums). Nothing per-step leaves the device.
    `first_bad` (int32 `[len(WATCHED)]`) is, for each of `WATCHED`, the first update of the chunk
    after which it held a NaN/inf (-1: none), so the host can tell an environment that produced
    NaN from an agent that diverged.
    """

    # Jitted so that the trace which gives the metrics' shapes is the one the loop body reuses
    # (jit caches it): `update` is traced once, not twice.
    update_once = jax.jit(update)

    def chunk(state: Any, hparams: Any, num_updates: jax.Array):
        _, metric_shapes = jax.eval_shape(update_once, state, hparams)
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, jnp.float32), metric_shapes)
        none_bad = jnp.full((len(WATCHED),), -1, jnp.int32)

        def body(i, carry):
            state, sums, first_bad = carry
            state, metrics = update_once(state, hparams)
            first_bad = jnp.where((first_bad < 0) & ~watched_finite(state), i, first_bad)
            return state, jax.tree.map(lambda a, m: a + m.astype(jnp.float32), sums, metrics), first_bad

        return jax.lax.fori_loop(0, num_updates, body, (state, zeros, none_bad))

    return chunk


WATCHED = ("parameters", "observations", "rewards")
"""What the chunk watches after every update: the agent's network parameters (leaves named
`*params*`), the environment's observations and state (`state.env`, the rollout's carry) and its
rewards (the `episode_return` accumulator of `EpisodeStatistics` in `state.env`)."""


def watched_finite(state: Any) -> jax.Array:
    """`[len(WATCHED)]` bools: is each watched part of one member's `state` free of NaN/inf.

    Cheap: a few small reductions per update (parameters and one rollout step's env state, never a
    replay buffer). A part the state does not have counts as finite.
    """
    groups: dict[str, list[jax.Array]] = {name: [] for name in WATCHED}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            continue
        name = jax.tree_util.keystr(path)
        if name.startswith(".env."):
            groups["rewards" if "episode_return" in name else "observations"].append(leaf)
        elif "params" in name:
            groups["parameters"].append(leaf)
    return jnp.stack([jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else jnp.bool_(True)
                      for leaves in groups.values()])


def with_finite_flags(chunk):
    """`chunk` that also returns `[num_float_leaves]` bools (is each float leaf of the new state
    finite) beside the chunk's `first_bad`: `(state, sums, (flags, first_bad))`."""

    def checked(state, hparams, num_updates):
        state, sums, first_bad = chunk(state, hparams, num_updates)
        flags = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.inexact)]
        return state, sums, (jnp.stack(flags) if flags else jnp.ones((0,), bool), first_bad)

    return checked


EVAL_FIELDS = ("return", "discounted_return", "length", "success")


def eval_discount(hparams: Any) -> Any:
    """A member's discount for the evaluation's discounted return: its `gamma` (1 for agents without one).
    `hparams` may be a `WithContext` bundle (its agent settings are then `hparams.hparams`)."""
    agent = getattr(hparams, "hparams", hparams)
    return getattr(agent, "gamma", 1.0)


def make_evaluate(
    env: Environment,
    env_params: Any,
    act: Callable[..., Any],
    num_episodes: int,
    deterministic: bool = True,
    max_steps: int = 100_000,
    initial_memory: Callable[[int], Any] | None = None,
):
    """`evaluate(policy, key, gamma=1.0) -> {name: [num_episodes]}` for each name of `EVAL_FIELDS`.

    Runs `num_episodes` env copies until each finishes its first episode: the undiscounted return
    (in the env's own reward units), the return discounted by `gamma`, the length, and success
    (1.0/0.0 from `info["success"]` at the episode's last step where the env reports it, else NaN).
    The same `key` gives the same episodes, so evaluations of successive policies, and of different
    agents on the same env, are comparable. `max_steps` only guards against envs that never end.
    An agent with memory passes its `initial_memory` (and its `act` takes and returns the memory).
    """
    env = single_agent_view(env)  # a multi-agent env: the team's return, every agent acting
    if initial_memory is None:
        step_policy = lambda policy, memory, obs, key: (memory, act(policy, obs, key, deterministic))
    else:
        step_policy = lambda policy, memory, obs, key: act(policy, memory, obs, key, deterministic)

    def evaluate(policy: Any, key: jax.Array, gamma: jax.Array | float = 1.0):
        key_reset, key_run = jax.random.split(key)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(key_reset, num_episodes), env_params
        )
        zeros = jnp.zeros(num_episodes, jnp.float32)
        totals = {name: zeros for name in EVAL_FIELDS}
        totals["success"] = jnp.full(num_episodes, jnp.nan, jnp.float32)
        memory = None if initial_memory is None else initial_memory(num_episodes)
        init = (obs, state, jnp.zeros(num_episodes, bool), totals, key_run, jnp.int32(0), memory)

        def cond(carry):
            done, t = carry[2], carry[5]
            return jnp.logical_and(~jnp.all(done), t < max_steps)

        def body(carry):
            obs, state, done, totals, key, t, memory = carry
            keys = jax.random.split(key, num_episodes + 2)  # next, act, one per env copy
            memory, action = step_policy(policy, memory, obs, keys[1])
            obs, state, reward, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                keys[2:], state, action, env_params
            )
            running = ~done
            ends = running & (terminated | truncated)
            totals = {
                "return": totals["return"] + jnp.where(running, reward, 0.0),
                "discounted_return": totals["discounted_return"] + jnp.where(running, gamma**t * reward, 0.0),
                "length": totals["length"] + running.astype(jnp.float32),
                "success": (jnp.where(ends, jnp.asarray(info["success"], jnp.float32), totals["success"])
                            if "success" in info else totals["success"]),
            }
            return obs, state, done | terminated | truncated, totals, keys[0], t + 1, memory

        return jax.lax.while_loop(cond, body, init)[3]

    return evaluate
