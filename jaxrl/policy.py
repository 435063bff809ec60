"""Policies out of a run directory: `load_policy` for use in other code, `evaluate_run` for `jaxrl eval`.

Both read only `RUN_DIR` (config.json and checkpoints/): the agent is rebuilt from the saved
config, the state restored from the final (newest usable) or a given checkpoint step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import checkpoint, rundir
from jaxrl.config import ConfigError, ResolvedConfig, check_seed
from jaxrl.config import from_dict as config_from_dict
from jaxrl.envs import make, spaces
from jaxrl.envs.multi import single_agent_view
from jaxrl.population import build_agent, eval_discount, make_evaluate, member_inputs


@dataclasses.dataclass
class RunPolicy:
    """The restored, seed-batched policy of a run and what acting with it needs."""

    config: ResolvedConfig
    step: int  # environment steps per seed at the checkpoint
    policy: Any  # pytree with a leading [num_seeds] axis
    act: Any  # the agent's act(policy, obs [B, ...], key, deterministic); with memory, see below
    env: Any
    env_params: Any
    initial_memory: Any = None  # an agent with memory: initial_memory(B); act takes and returns it


def restore_policy(run_dir: str | Path, step: int | None = None) -> RunPolicy:
    """Rebuild the agent of `run_dir` and restore its policy at `step` (default: the newest usable)."""
    run_path = Path(run_dir)
    resolved = config_from_dict(rundir.read_config(run_path))
    if resolved.member_contexts is not None:  # its env (a ContextualEnv) is not in config.json
        raise ConfigError(f"{str(run_path)!r} is the population of a generalisation matrix (jaxrl contextual "
                          "matrix); its policies are evaluated in its matrix.csv, not by restoring them.")
    env, env_params = make(resolved.env, **resolved.env_kwargs)
    env = single_agent_view(env)  # a multi-agent env acts and is evaluated as its team
    fns = build_agent(resolved, env, env_params)
    keys, hparams = member_inputs(resolved)
    abstract = jax.eval_shape(jax.vmap(fns.init), keys, hparams)
    restored = checkpoint.restore(run_path / "checkpoints", abstract, step=step)
    if restored is None:
        raise checkpoint.CheckpointError(f"No usable checkpoint in {str(run_path / 'checkpoints')!r}.")
    return RunPolicy(resolved, restored.step, fns.policy(restored.state), fns.act, env, env_params,
                     fns.initial_memory)


def load_policy(run_dir: str | Path, seed_index: int = 0, *, step: int | None = None, deterministic: bool = True):
    """A jittable `act(obs, key=None) -> action` of seed `seed_index` of the run in `run_dir`.

    `obs` is one observation or a batch `[B, *obs_shape]` (the action has the matching batch).
    Deterministic (the distribution's mode) by default; with `deterministic=False` pass a key.
    `step` picks a checkpoint (default: the final one). The returned function also carries
    `.params` (the policy pytree), `.step`, `.observation_space` and `.action_space`.

    A policy with memory (trained with `network="gru"`/`"lstm"`) is stepped as
    `carry, action = act(carry, obs, key=None)`, starting each episode from
    `act.initial_carry()` (one observation) or `act.initial_carry(B)` (a batch); `.recurrent` is
    True for it.
    """
    run = restore_policy(run_dir, step)
    num_seeds = len(run.config.seeds)
    if not -num_seeds <= seed_index < num_seeds:
        raise IndexError(f"seed_index {seed_index} out of range: the run has {num_seeds} seed(s) {run.config.seeds}.")
    params = jax.tree.map(lambda x: x[seed_index], run.policy)
    obs_space = run.env.observation_space(run.env_params)
    agent_act = run.act
    one = lambda tree: jax.tree.map(lambda x: x[None], tree)
    first = lambda tree: jax.tree.map(lambda x: x[0], tree)

    def key_or_default(key: jax.Array | None) -> jax.Array:
        if key is None:
            if not deterministic:
                raise ValueError("A stochastic policy (deterministic=False) needs a key: act(obs, key).")
            key = jax.random.key(0)
        return key

    def act(obs: Any, key: jax.Array | None = None) -> Any:
        obs = jax.tree.map(jnp.asarray, obs)
        single = _is_single(obs, obs_space)
        action = agent_act(params, one(obs) if single else obs, key_or_default(key), deterministic)
        return first(action) if single else action

    def act_with_memory(carry: Any, obs: Any, key: jax.Array | None = None):
        obs = jax.tree.map(jnp.asarray, obs)
        single = _is_single(obs, obs_space)
        if single:
            obs, carry = one(obs), one(carry)
        carry, action = agent_act(params, carry, obs, key_or_default(key), deterministic)
        return (first(carry), first(action)) if single else (carry, action)

    def initial_carry(batch: int | None = None) -> Any:
        carry = run.initial_memory(1 if batch is None else batch)
        return jax.tree.map(lambda c: c[0], carry) if batch is None else carry

    recurrent = run.initial_memory is not None
    policy = act_with_memory if recurrent else act
    policy.params = params
    policy.step = run.step
    policy.observation_space = obs_space
    policy.action_space = run.env.action_space(run.env_params)
    policy.recurrent = recurrent
    if recurrent:
        policy.initial_carry = initial_carry
    return policy


def _is_single(obs: Any, space: spaces.Space) -> bool:
    """Whether `obs` is one observation of `space` (not a batch): its first array has the space's rank."""
    while isinstance(space, spaces.Dict):
        name = next(k for k in space.spaces if k in obs)
        obs, space = obs[name], space.spaces[name]
    return obs.ndim == len(space.shape)


def evaluate_run(
    run_dir: str | Path,
    episodes: int | None = None,
    env: str | None = None,
    step: int | None = None,
    deterministic: bool | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Returns of `episodes` episodes per seed with the policy at `step` (default: final checkpoint).

    `env` evaluates on another environment with the same observation and action spaces. Returns
    a dict with "returns", "discounted_returns" (by each seed's gamma), "lengths" and "success"
    (NaN where the env reports none), each `[num_seeds, episodes]`, and "seeds", "step", "env",
    "episodes", "deterministic". The same `seed` gives the same episodes, so two runs are judged on
    the same ones. `deterministic` (the distribution's mode, or sampled actions) defaults to the
    run's own evaluation (`eval_stochastic`).
    """
    if seed is not None:
        check_seed(seed)
    run = restore_policy(run_dir, step)
    if deterministic is None:
        deterministic = not run.config.run.eval_stochastic
    episodes = run.config.run.eval_episodes if episodes is None else int(episodes)
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}.")
    eval_env, eval_params = (run.env, run.env_params) if env is None else make(env)
    eval_env = single_agent_view(eval_env)
    if env is not None:
        _check_compatible(run.env, run.env_params, eval_env, eval_params, run.config.env, env)
    evaluate = make_evaluate(eval_env, eval_params, run.act, episodes, deterministic=deterministic,
                             initial_memory=run.initial_memory)
    key = jax.random.key(run.config.run.eval_seed if seed is None else seed)
    gamma = jnp.asarray([eval_discount(h) for h in run.config.members], jnp.float32)
    results = jax.device_get(jax.jit(jax.vmap(evaluate, in_axes=(0, None, 0)))(run.policy, key, gamma))
    return {
        "returns": np.asarray(results["return"]),
        "discounted_returns": np.asarray(results["discounted_return"]),
        "lengths": np.asarray(results["length"]),
        "success": np.asarray(results["success"]),
        "seeds": list(run.config.seeds),
        "step": run.step,
        "env": env or run.config.env,
        "episodes": episodes,
        "deterministic": deterministic,
        "algo": run.config.algo,
    }


def _check_compatible(env, params, other, other_params, name: str, other_name: str) -> None:
    a_obs, b_obs = env.observation_space(params), other.observation_space(other_params)
    a_act, b_act = env.action_space(params), other.action_space(other_params)
    if not (_same_shape(a_obs, b_obs) and _same_shape(a_act, b_act)):
        raise ValueError(
            f"--env {other_name} does not fit the policy trained on {name}: observations {b_obs!r} vs "
            f"{a_obs!r}, actions {b_act!r} vs {a_act!r}."
        )


def _same_shape(a: spaces.Space, b: spaces.Space) -> bool:
    """Same kind and shapes (and action counts), entry by entry for `Dict` spaces (multi-agent)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, spaces.Dict):
        return a.spaces.keys() == b.spaces.keys() and all(_same_shape(a.spaces[k], b.spaces[k]) for k in a.spaces)
    if isinstance(a, spaces.Discrete):
        return int(a.n) == int(b.n)
    return tuple(a.shape) == tuple(b.shape)
