"""The functional multi-agent environment contract, and its team view for the training loop.

A `MultiAgentEnv` is stateless like `Environment` (all state in `state`, per-copy constants in
`params`), with a fixed, ordered tuple of agent names `agents`. Observations, actions, rewards and
flags are dicts keyed by agent name (JaxMARL's and PettingZoo's parallel API):

    obs, state = env.reset(key, params)
    obs, state, rewards, terminated, truncated, info = env.step(key, state, actions, params)

* `rewards[a]` float32 scalar, `terminated[a]` / `truncated[a]` bool scalars: an agent's MDP
  ended / the time limit (`params.max_steps_in_episode`) was reached (truncation is the same for
  every agent; both true: `terminated` wins, no bootstrap).
* The episode ends when every agent is terminated or at the time limit; then `step` auto-resets
  and `info["final_observation"]` holds every agent's last observation (on other steps it equals
  `obs`); an env with action masks adds `info["final_avail_actions"]`, one with a global state
  `info["final_global_state"]`, those of that state.
* Optional: `avail_actions(state, params) -> {agent: bool [n]}` (action masks of `Discrete`
  spaces; default all available) and `global_state(state, params) -> float32 [d]` (the input of a
  centralised critic; default None: critics read the agents' flattened observations concatenated,
  `global_state_of`).

Subclasses implement `reset_env`, `step_env` (which increments `state.time`), the per-agent
`observation_spaces` / `action_spaces`, and `agents`.

`TeamView(env)` presents a multi-agent env in the single-agent `Environment` contract, so the
training loop, `EpisodeStatistics` and evaluation treat it as one env: observations and actions
stay dicts, the reward is the team reward (the mean of the agents' rewards; JaxMARL's reported
return), `terminated` means every agent terminated, and `info` carries the per-agent
`agent_rewards`, `agent_terminated` and `agent_truncated` dicts for multi-agent learners. When the
env defines `avail_actions`, the team view's observations (and final observations) also hold them
under `"avail_actions"` (`{agent: bool [n]}`), so a policy masks its actions wherever it acts; when
it defines `global_state`, under `"global_state"` (float32 `[d]`, for centralised critics).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.envs import spaces
from jaxrl.envs.core import EnvParams, EnvState, Environment, select_tree

MultiStepResult = tuple[dict, Any, dict, dict, dict, dict]
AVAIL_ACTIONS = "avail_actions"  # the team view's observation entry for action masks (not an agent)
GLOBAL_STATE = "global_state"  # the team view's observation entry for the env's global state


class MultiAgentEnv:
    """Base class of functional multi-agent environments (see the module docstring)."""

    @property
    def agents(self) -> tuple[str, ...]:
        raise NotImplementedError(f"{type(self).__name__} must define agents")

    @property
    def num_agents(self) -> int:
        return len(self.agents)

    @property
    def default_params(self) -> Any:
        return EnvParams()

    def reset(self, key: jax.Array, params: Any = None) -> tuple[dict, Any]:
        """Start an episode. Returns `(obs dict, state)`."""
        return self.reset_env(key, self.default_params if params is None else params)

    def step(self, key: jax.Array, state: Any, actions: dict, params: Any = None) -> MultiStepResult:
        """One transition of every agent with auto-reset (see the module docstring)."""
        params = self.default_params if params is None else params
        missing = set(self.agents) - set(actions)
        if missing:
            raise ValueError(f"{self.name}: actions has no entry for agent(s) {sorted(missing)}; "
                             f"it needs one per agent of {list(self.agents)}.")
        key_step, key_reset = jax.random.split(key)
        obs_step, state_step, rewards, terminated, info = self.step_env(key_step, state, actions, params)
        terminated = {a: jnp.asarray(terminated[a], jnp.bool_) for a in self.agents}
        limit = jnp.asarray(self.is_truncated(state_step, params), jnp.bool_)
        done = jnp.all(jnp.stack([terminated[a] for a in self.agents])) | limit
        obs_reset, state_reset = self.reset_env(key_reset, params)
        state = select_tree(done, state_reset, state_step)
        obs = select_tree(done, obs_reset, obs_step)
        rewards = {a: jnp.asarray(rewards[a], jnp.float32) for a in self.agents}
        info = {**info, "final_observation": obs_step}
        if type(self).avail_actions is not MultiAgentEnv.avail_actions:  # the final state's masks too
            info["final_avail_actions"] = self.avail_actions(state_step, params)
        final_global = self.global_state(state_step, params)
        if final_global is not None:
            info["final_global_state"] = final_global
        return obs, state, rewards, terminated, {a: limit for a in self.agents}, info

    def reset_env(self, key: jax.Array, params: Any) -> tuple[dict, Any]:
        """Environment-specific reset: `(obs dict, state)` with `state.time == 0`."""
        raise NotImplementedError(f"{type(self).__name__} must implement reset_env")

    def step_env(self, key: jax.Array, state: Any, actions: dict, params: Any) -> tuple[dict, Any, dict, dict, dict]:
        """Environment-specific transition, no auto-reset: `(obs, state, rewards, terminated, info)`,
        the first, third and fourth dicts keyed by agent; must increment `state.time`."""
        raise NotImplementedError(f"{type(self).__name__} must implement step_env")

    def is_truncated(self, state: Any, params: Any) -> jax.Array:
        return state.time >= params.max_steps_in_episode

    def observation_spaces(self, params: Any) -> dict[str, spaces.Space]:
        raise NotImplementedError(f"{type(self).__name__} must implement observation_spaces")

    def action_spaces(self, params: Any) -> dict[str, spaces.Space]:
        raise NotImplementedError(f"{type(self).__name__} must implement action_spaces")

    def avail_actions(self, state: Any, params: Any) -> dict[str, jax.Array]:
        """Bool masks `[n]` of the `Discrete` actions each agent may take now (default: all)."""
        return {a: jnp.ones(space.n, jnp.bool_) for a, space in self.action_spaces(params).items()
                if isinstance(space, spaces.Discrete)}

    def global_state(self, state: Any, params: Any) -> jax.Array | None:
        """The input of a centralised critic, float32 `[d]`; None (the default): the env has none,
        and centralised critics read the agents' observations concatenated (`global_state_of`)."""
        return None

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def unwrapped(self) -> MultiAgentEnv:
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(agents={list(self.agents)})"


def global_state_of(obs: dict, agents: tuple[str, ...]) -> jax.Array:
    """The agents' observations, flattened and concatenated in agent order: float32 `[..., d]`
    (leading batch axes kept; each observation `[..., *shape]` with the same leading axes)."""
    parts = [obs[a] for a in agents]
    lead = min(p.ndim for p in parts)  # the unbatched observations have at least one axis
    lead = lead - 1
    return jnp.concatenate([p.reshape(*p.shape[:lead], -1).astype(jnp.float32) for p in parts], axis=-1)


class TeamView(Environment):
    """A `MultiAgentEnv` in the single-agent contract (see the module docstring). `.multi` is the
    multi-agent env; its state and params pass through unchanged."""

    def __init__(self, multi: MultiAgentEnv):
        self.multi = multi

    @property
    def default_params(self) -> Any:
        return self.multi.default_params

    @property
    def has_action_masks(self) -> bool:
        """Whether the env defines `avail_actions` (then observations carry `AVAIL_ACTIONS`)."""
        return type(self.multi).avail_actions is not MultiAgentEnv.avail_actions

    def _observe(self, obs: dict, state: Any, params: Any) -> dict:
        extra = {}
        if self.has_action_masks:
            extra[AVAIL_ACTIONS] = self.multi.avail_actions(state, params)
        global_state = self.multi.global_state(state, params)
        if global_state is not None:
            extra[GLOBAL_STATE] = global_state
        return {**obs, **extra}

    def reset(self, key: jax.Array, params: Any = None) -> tuple[dict, Any]:
        params = self.multi.default_params if params is None else params
        obs, state = self.multi.reset(key, params)
        return self._observe(obs, state, params), state

    def step(self, key: jax.Array, state: Any, action: dict, params: Any = None):
        params = self.multi.default_params if params is None else params
        obs, state, rewards, terminated, truncated, info = self.multi.step(key, state, action, params)
        obs = self._observe(obs, state, params)
        final = {AVAIL_ACTIONS: info.pop("final_avail_actions", None),
                 GLOBAL_STATE: info.pop("final_global_state", None)}
        final = {k: v for k, v in final.items() if v is not None}
        if final:
            info = {**info, "final_observation": {**info["final_observation"], **final}}
        agents = self.multi.agents
        team_reward = jnp.mean(jnp.stack([rewards[a] for a in agents]))
        all_terminated = jnp.all(jnp.stack([terminated[a] for a in agents]))
        info = {**info, "agent_rewards": rewards, "agent_terminated": terminated, "agent_truncated": truncated}
        return obs, state, team_reward, all_terminated, truncated[agents[0]], info

    def observation_space(self, params: Any) -> spaces.Dict:
        obs_spaces = dict(self.multi.observation_spaces(params))
        if self.has_action_masks:
            obs_spaces[AVAIL_ACTIONS] = spaces.Dict({
                a: spaces.Box(0, 1, (space.n,), jnp.bool_) for a, space in self.multi.action_spaces(params).items()
                if isinstance(space, spaces.Discrete)})
        global_state = jax.eval_shape(lambda k: self.multi.global_state(self.multi.reset(k, params)[1], params),
                                      jax.random.key(0))
        if global_state is not None:
            obs_spaces[GLOBAL_STATE] = spaces.Box(-jnp.inf, jnp.inf, global_state.shape, jnp.float32)
        return spaces.Dict(obs_spaces)

    def action_space(self, params: Any) -> spaces.Dict:
        return spaces.Dict(self.multi.action_spaces(params))

    def is_truncated(self, state: Any, params: Any) -> jax.Array:
        return self.multi.is_truncated(state, params)

    @property
    def name(self) -> str:
        return self.multi.name

    @property
    def unwrapped(self) -> Environment:
        return self

    def __repr__(self) -> str:
        return f"TeamView({self.multi!r})"


def single_agent_view(env: Any) -> Any:
    """`TeamView(env)` for a `MultiAgentEnv`, any other env as it is: what the training loop steps."""
    return TeamView(env) if isinstance(env, MultiAgentEnv) else env


def is_multi_agent(env: Any) -> bool:
    """Whether `env` (or the env inside a `TeamView` or wrappers) is a `MultiAgentEnv`."""
    while True:
        if isinstance(env, (MultiAgentEnv, TeamView)):
            return True
        inner = getattr(env, "__dict__", {}).get("env")
        if inner is None:
            return False
        env = inner


__all__ = ["EnvParams", "EnvState", "AVAIL_ACTIONS", "GLOBAL_STATE", "MultiAgentEnv", "TeamView", "global_state_of", "is_multi_agent",
           "single_agent_view"]
