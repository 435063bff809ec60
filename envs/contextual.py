"""Contextual environments: any env whose chosen `EnvParams` fields (its *context*) are drawn per
episode from a box `[low, high]` that is itself a traced params leaf.

    env, params = jaxrl.make("CartPole-v1")
    cenv = ContextualEnv(env, ("length",))
    fixed = cenv.params_for(params, low=[0.8], high=[0.8])     # every episode: length 0.8
    spread = cenv.params_for(params, low=[0.25], high=[1.5])   # domain randomisation per episode

One wrapper serves both contextual regimes of `jaxrl.contextual`: a *fixed* context per env copy
(`low == high`: the draw returns `low`) and *domain randomisation* (`low < high`: a fresh context,
uniform in the box, at every reset and auto-reset). Because `low`/`high` are leaves of the params
pytree, a population whose members train on different contexts, or on a distribution, overrides
just those two leaves per member (`jaxrl.population` passes them as traced member inputs), so all
members share one compiled program and no algorithm contains contextual code.

The context is hidden from the agent (CARL's "hidden context"); the state keeps the episode's
context `[F]` so that every step of an episode uses the same dynamics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.envs.core import StepResult, select_tree
from jaxrl.envs.wrappers import Wrapper, WrapperState


@struct.dataclass
class ContextParams:
    """The wrapped env's params (`inner`) and the box of the context fields: `low`, `high` `[F]`."""

    inner: Any
    low: jax.Array
    high: jax.Array

    @property
    def max_steps_in_episode(self) -> Any:
        return self.inner.max_steps_in_episode



def _replace(self: ContextParams, **updates: Any) -> ContextParams:
    """New params; fields other than `inner`, `low`, `high` go to the inner params (so code that sets
    e.g. `max_steps_in_episode`, such as `check_env`, works through the wrapper)."""
    own = {k: v for k, v in updates.items() if k in ("inner", "low", "high")}
    rest = {k: v for k, v in updates.items() if k not in own}
    inner = own.pop("inner", self.inner)
    return dataclasses.replace(self, inner=inner.replace(**rest) if rest else inner, **own)


ContextParams.replace = _replace  # after @struct.dataclass, which sets its own `replace`


@struct.dataclass
class ContextState(WrapperState):
    """The inner state and the context `[F]` (float32) of the current episode."""

    context: jax.Array


class ContextualEnv(Wrapper):
    """`env` whose float params fields `fields` (the context, `F` of them) are drawn per episode
    uniformly from `[params.low, params.high]` (see the module docstring)."""

    def __init__(self, env: Any, fields: Sequence[str]):
        super().__init__(env)
        base = env.default_params
        names = {f.name: f for f in dataclasses.fields(base)}
        bad = [f for f in fields if f not in names or not names[f].metadata.get("pytree_node", True)]
        if not fields or bad:
            raise ValueError(f"ContextualEnv: {bad or 'no fields'} are not traced fields of "
                             f"{type(base).__name__} ({', '.join(sorted(names))}).")
        self.fields = tuple(fields)

    @property
    def default_params(self) -> ContextParams:
        inner = self.env.default_params
        values = self.values(inner)
        return ContextParams(inner, values, values)

    def values(self, inner: Any) -> jax.Array:
        """The context fields of the inner params as a float32 `[F]` array."""
        return jnp.asarray([getattr(inner, f) for f in self.fields], jnp.float32)

    def params_for(self, inner: Any, low: Any, high: Any) -> ContextParams:
        """Params drawing each context field in `[low[i], high[i]]` (equal bounds: a fixed context)."""
        return ContextParams(inner, jnp.asarray(low, jnp.float32), jnp.asarray(high, jnp.float32))

    def apply(self, inner: Any, context: jax.Array) -> Any:
        """The inner params with the context fields set from `context` `[F]`."""
        return inner.replace(**{f: context[i] for i, f in enumerate(self.fields)})

    def reset(self, key: jax.Array, params: ContextParams | None = None) -> tuple[Any, ContextState]:
        params = self._params(params)
        key_context, key_reset = jax.random.split(key)
        context = _draw(key_context, params)
        obs, env_state = self.env.reset(key_reset, self.apply(params.inner, context))
        return obs, ContextState(env_state=env_state, context=context)

    def step(self, key: jax.Array, state: ContextState, action: Any,
             params: ContextParams | None = None) -> StepResult:
        params = self._params(params)
        key_step, key_context, key_reset = jax.random.split(key, 3)
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key_step, state.env_state, action, self.apply(params.inner, state.context))
        # The inner env auto-reset with the old context; a finished episode restarts with a new one.
        context = _draw(key_context, params)
        obs_new, env_state_new = self.env.reset(key_reset, self.apply(params.inner, context))
        done = terminated | truncated
        obs, env_state = select_tree(done, (obs_new, env_state_new), (obs, env_state))
        context = jnp.where(done, context, state.context)
        return obs, ContextState(env_state=env_state, context=context), reward, terminated, truncated, info

    def observation_space(self, params: ContextParams) -> Any:
        return self.env.observation_space(params.inner)

    def action_space(self, params: ContextParams) -> Any:
        return self.env.action_space(params.inner)


def _draw(key: jax.Array, params: ContextParams) -> jax.Array:
    """A context uniform in `[low, high]` `[F]` (exactly `low` where `low == high`)."""
    u = jax.random.uniform(key, jnp.shape(params.low), jnp.float32)
    return jnp.where(params.low == params.high, params.low, params.low + u * (params.high - params.low))

