"""Multi-agent particle environments (MPE, Lowe et al. 2017) with JaxMARL's dynamics, observations
and rewards, in the `MultiAgentEnv` contract.

| registered name                  | agents                             | discrete actions             |
|----------------------------------|------------------------------------|------------------------------|
| `MPE_simple_spread_v3`           | `agent_0` .. `agent_{N-1}` (N = 3) | `Discrete(5)` each           |
| `MPE_simple_speaker_listener_v4` | `speaker_0`, `listener_0`          | `Discrete(3)`, `Discrete(5)` |

The `-continuous` names (`MPE_simple_spread_v3-continuous`, ...) are the same envs built with
`action_type="continuous"`: `Box(0, 1, (n,))` actions of the same `n`. `make(name, num_agents=...,
num_landmarks=...)` sizes simple_spread.

Physics (both envs): agents are discs in the plane. Each step, an agent's force is its movement
action times `accel`, plus (simple_spread) a soft contact force from every overlapping agent; then
`pos += vel * dt` with the old velocity, and `vel = vel * (1 - damping) + force / mass * dt`. No
speed limit, no noise, so the step key is unused. Movement actions: discrete 0..4 = none, -x (left),
+x (right), -y (down), +y (up); continuous `a` in [0, 1]^5 moves by `(a[2] - a[1], a[4] - a[3])`
(`a[0]` does nothing). Agents and landmarks start uniformly in [-1, 1]^2, at rest, drawn from the
key as JaxMARL draws them (the same key gives the same first observation).

There is no terminal state: `terminated` is always false and an episode is truncated after
`max_steps_in_episode` steps (25, PettingZoo MPE's `max_cycles`). JaxMARL compares its step
counter with `max_steps` = 25 before incrementing it, so its episodes last 26 steps: pass
`max_steps_in_episode=26` to reproduce JaxMARL's episodes (and returns) exactly.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import EnvParams, EnvState, episode_limit
from jaxrl.envs.multi import MultiAgentEnv
from jaxrl.envs.validation import checked

ACTION_TYPES = ("discrete", "continuous")
# Discrete movement actions 0..4 -> unit direction (none, -x, +x, -y, +y).
_MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], np.float32)
SPEAKER, LISTENER = "speaker_0", "listener_0"
NUM_COLOURS = 3  # simple_speaker_listener: landmarks, goal colours and the speaker's words


@struct.dataclass
class MPEState(EnvState):
    agent_pos: jax.Array  # float32 [N, 2]
    agent_vel: jax.Array  # float32 [N, 2]
    landmark_pos: jax.Array  # float32 [L, 2] (landmarks never move)


@struct.dataclass
class SpeakerListenerState(MPEState):
    goal: jax.Array  # int32 []: the landmark the listener must reach (only the speaker sees it)
    message: jax.Array  # float32 [3]: the speaker's last word (one-hot when discrete)


@struct.dataclass
class MPEParams(EnvParams):
    max_steps_in_episode: int = episode_limit(25)
    dt: float = checked(0.1, "(0, inf)")
    damping: float = checked(0.25, "[0, 1]")
    mass: float = checked(1.0, "(0, inf)")
    accel: float = checked(5.0, "[0, inf)")  # force of a full movement action


@struct.dataclass
class SpreadParams(MPEParams):
    agent_radius: float = checked(0.15, "(0, inf)")
    contact_force: float = checked(100.0, "[0, inf)")
    contact_margin: float = checked(1e-3, "(0, inf)")  # softness of the contact force
    local_ratio: float = checked(0.5, "[0, 1]")  # weight of the collision penalty vs the team's coverage


def movement(action: jax.Array, action_type: str) -> jax.Array:
    """A movement action (int32 [] or float32 [5]) -> its unit force direction, float32 [2]."""
    if action_type == "discrete":
        return jnp.asarray(_MOVES)[action]
    return jnp.stack([action[2] - action[1], action[4] - action[3]])


def integrate(state: MPEState, force: jax.Array, params: MPEParams) -> MPEState:
    """One physics step of every agent under `force` [N, 2] (the position moves with the old velocity)."""
    return state.replace(
        agent_pos=state.agent_pos + state.agent_vel * params.dt,
        agent_vel=state.agent_vel * (1 - params.damping) + force / params.mass * params.dt,
    )


def _agent_distances(pos: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Pairwise `delta[i, j] = pos[i] - pos[j]` [N, N, 2], their lengths `dist` [N, N], and the
    off-diagonal mask `other` [N, N]."""
    delta = pos[:, None, :] - pos[None, :, :]
    other = ~jnp.eye(pos.shape[0], dtype=bool)
    return delta, jnp.sqrt(jnp.sum(jnp.square(delta), axis=-1)), other


def contact_forces(pos: jax.Array, params: SpreadParams) -> jax.Array:
    """MPE's soft contact force on each agent from all others, float32 [N, 2]: along the line of
    centres, `contact_force * softplus(-(dist - 2 radius) / margin) * margin`."""
    delta, dist, other = _agent_distances(pos)
    k = params.contact_margin
    penetration = jnp.logaddexp(0.0, -(dist - 2 * params.agent_radius) / k) * k
    force = params.contact_force * delta / jnp.where(other, dist, 1.0)[..., None] * penetration[..., None]
    return jnp.sum(jnp.where(other[..., None], force, 0.0), axis=1)


def _check_action_type(action_type: str) -> str:
    if action_type not in ACTION_TYPES:
        raise ValueError(f"action_type must be one of {ACTION_TYPES}, got {action_type!r}.")
    return action_type


def _registered_name(base: str, action_type: str) -> str:
    return base if action_type == "discrete" else f"{base}-continuous"


def _movement_space(action_type: str) -> spaces.Space:
    return spaces.Discrete(5) if action_type == "discrete" else spaces.Box(0.0, 1.0, (5,))


def _uniform_positions(key: jax.Array, num: int) -> jax.Array:
    return jax.random.uniform(key, (num, 2), jnp.float32, -1.0, 1.0)


class SimpleSpread(MultiAgentEnv):
    """Cooperative navigation: N agents spread out to cover L landmarks without colliding.

    Observation of agent i, float32 `[4 + 2L + 4(N-1)]` (18 for N = L = 3): own velocity (2), own
    position (2), every landmark relative to it (2L), every other agent relative to it in agent
    order (2(N-1)), and the others' communication, always zero (2(N-1): MPE's agents here are
    silent). Reward of agent i: `local_ratio * -(agents it overlaps) + (1 - local_ratio) * -(sum
    over landmarks of the distance to the nearest agent)`, on the state after the step.
    """

    def __init__(self, num_agents: int = 3, num_landmarks: int = 3, action_type: str = "discrete"):
        if int(num_agents) < 1 or int(num_landmarks) < 1:
            raise ValueError(f"SimpleSpread needs num_agents, num_landmarks >= 1, got {num_agents}, {num_landmarks}.")
        self.num_landmarks = int(num_landmarks)
        self.action_type = _check_action_type(action_type)
        self._agents = tuple(f"agent_{i}" for i in range(int(num_agents)))
        # others[i]: the indices of every agent but i, in order.
        self._others = np.array([[j for j in range(num_agents) if j != i] for i in range(num_agents)], np.int32)

    @property
    def agents(self) -> tuple[str, ...]:
        return self._agents

    @property
    def default_params(self) -> SpreadParams:
        return SpreadParams()

    @property
    def obs_size(self) -> int:
        return 4 + 2 * self.num_landmarks + 4 * (self.num_agents - 1)

    def reset_env(self, key: jax.Array, params: SpreadParams) -> tuple[dict, MPEState]:
        key_agents, key_landmarks = jax.random.split(key)
        state = MPEState(
            time=jnp.int32(0),
            agent_pos=_uniform_positions(key_agents, self.num_agents),
            agent_vel=jnp.zeros((self.num_agents, 2), jnp.float32),
            landmark_pos=_uniform_positions(key_landmarks, self.num_landmarks),
        )
        return self.observations(state), state

    def step_env(self, key: jax.Array, state: MPEState, actions: dict, params: SpreadParams):
        moves = jnp.stack([movement(actions[a], self.action_type) for a in self.agents])
        force = moves * params.accel + contact_forces(state.agent_pos, params)
        state = integrate(state, force, params).replace(time=state.time + 1)
        terminated = {a: jnp.bool_(False) for a in self.agents}
        return self.observations(state), state, self.rewards(state, params), terminated, {}

    def observations(self, state: MPEState) -> dict[str, jax.Array]:
        """Every agent's observation (layout in the class docstring), float32 `[obs_size]` each."""
        pos, n = state.agent_pos, self.num_agents
        landmarks = state.landmark_pos[None, :, :] - pos[:, None, :]  # [N, L, 2]
        others = pos[self._others] - pos[:, None, :]  # [N, N-1, 2]
        obs = jnp.concatenate([
            state.agent_vel, pos, landmarks.reshape(n, -1), others.reshape(n, -1),
            jnp.zeros((n, 2 * (n - 1)), jnp.float32),
        ], axis=1)
        return {a: obs[i] for i, a in enumerate(self.agents)}

    def rewards(self, state: MPEState, params: SpreadParams) -> dict[str, jax.Array]:
        _, dist, other = _agent_distances(state.agent_pos)
        collisions = jnp.sum((dist < 2 * params.agent_radius) & other, axis=1)  # [N]
        to_landmarks = jnp.linalg.norm(state.agent_pos[:, None, :] - state.landmark_pos[None, :, :], axis=-1)
        coverage = -jnp.sum(jnp.min(to_landmarks, axis=0))
        reward = -collisions * params.local_ratio + coverage * (1 - params.local_ratio)
        return {a: reward[i] for i, a in enumerate(self.agents)}

    def observation_spaces(self, params: SpreadParams) -> dict[str, spaces.Space]:
        return {a: spaces.Box(-np.inf, np.inf, (self.obs_size,)) for a in self.agents}

    def action_spaces(self, params: SpreadParams) -> dict[str, spaces.Space]:
        return {a: _movement_space(self.action_type) for a in self.agents}

    @property
    def name(self) -> str:
        """The registered name for the default sizes, else the constructor call."""
        if (self.num_agents, self.num_landmarks) != (3, 3):
            return repr(self)
        return _registered_name("MPE_simple_spread_v3", self.action_type)

    def __repr__(self) -> str:
        return f"SimpleSpread(num_agents={self.num_agents}, num_landmarks={self.num_landmarks}, " \
               f"action_type={self.action_type!r})"


class SimpleSpeakerListener(MultiAgentEnv):
    """Cooperative communication: a speaker that cannot move sees which of three landmarks is the
    goal and says a word; a listener that cannot see the goal hears it and moves there.

    The speaker's action is its word (discrete: one of 3, sent one-hot; continuous: any `[0, 1]^3`
    vector, sent as is), heard by the listener after the step; the listener's is a movement action.
    Observations, float32: speaker `[3]`, the goal's colour (0.65 at the goal landmark, 0.15 at the
    others); listener `[11]`, its velocity (2), the landmarks relative to it (6), the word (3). Both
    agents get `-(squared distance from the listener to the goal landmark)`, after the step.
    """

    agents = (SPEAKER, LISTENER)

    def __init__(self, action_type: str = "discrete"):
        self.action_type = _check_action_type(action_type)

    @property
    def default_params(self) -> MPEParams:
        return MPEParams()

    def reset_env(self, key: jax.Array, params: MPEParams) -> tuple[dict, SpeakerListenerState]:
        key_agents, key_landmarks, key_goal = jax.random.split(key, 3)
        state = SpeakerListenerState(
            time=jnp.int32(0),
            agent_pos=_uniform_positions(key_agents, 2),
            agent_vel=jnp.zeros((2, 2), jnp.float32),
            landmark_pos=_uniform_positions(key_landmarks, NUM_COLOURS),
            goal=jax.random.randint(key_goal, (), 0, NUM_COLOURS, jnp.int32),
            message=jnp.zeros(NUM_COLOURS, jnp.float32),
        )
        return self.observations(state), state

    def step_env(self, key: jax.Array, state: SpeakerListenerState, actions: dict, params: MPEParams):
        word = actions[SPEAKER]
        message = jax.nn.one_hot(word, NUM_COLOURS) if self.action_type == "discrete" else word
        force = jnp.stack([jnp.zeros(2, jnp.float32), movement(actions[LISTENER], self.action_type) * params.accel])
        state = integrate(state, force, params).replace(time=state.time + 1, message=jnp.asarray(message, jnp.float32))
        reward = -jnp.sum(jnp.square(state.agent_pos[1] - state.landmark_pos[state.goal]))
        terminated = {a: jnp.bool_(False) for a in self.agents}
        return self.observations(state), state, {a: reward for a in self.agents}, terminated, {}

    def observations(self, state: SpeakerListenerState) -> dict[str, jax.Array]:
        """`{speaker: float32 [3], listener: float32 [11]}` (layout in the class docstring)."""
        colour = jnp.full(NUM_COLOURS, 0.15, jnp.float32).at[state.goal].set(0.65)
        landmarks = (state.landmark_pos - state.agent_pos[1]).reshape(-1)
        return {SPEAKER: colour, LISTENER: jnp.concatenate([state.agent_vel[1], landmarks, state.message])}

    def observation_spaces(self, params: MPEParams) -> dict[str, spaces.Space]:
        return {SPEAKER: spaces.Box(-np.inf, np.inf, (NUM_COLOURS,)),
                LISTENER: spaces.Box(-np.inf, np.inf, (2 + 2 * NUM_COLOURS + NUM_COLOURS,))}

    def action_spaces(self, params: MPEParams) -> dict[str, spaces.Space]:
        if self.action_type == "discrete":
            return {SPEAKER: spaces.Discrete(NUM_COLOURS), LISTENER: spaces.Discrete(5)}
        return {SPEAKER: spaces.Box(0.0, 1.0, (NUM_COLOURS,)), LISTENER: spaces.Box(0.0, 1.0, (5,))}

    @property
    def name(self) -> str:
        return _registered_name("MPE_simple_speaker_listener_v4", self.action_type)

    def __repr__(self) -> str:
        return f"SimpleSpeakerListener(action_type={self.action_type!r})"


simple_spread_continuous = functools.partial(SimpleSpread, action_type="continuous")
simple_speaker_listener_continuous = functools.partial(SimpleSpeakerListener, action_type="continuous")
