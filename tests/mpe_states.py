"""Shared by tests/test_mpe.py and tests/test_jaxmarl_adapter.py: random MPE states, and their
conversion to and from JaxMARL's MPE `State`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs.mpe import MPEState, SimpleSpeakerListener, SpeakerListenerState

TOL = dict(rtol=1e-5, atol=1e-5)
NUM_STATES = 256
JAXMARL_EPISODE = 26  # JaxMARL tests its counter against max_steps = 25 before incrementing it


def to_jaxmarl(state: MPEState, jm_env):
    """Our state -> JaxMARL's MPE `State` (entities: agents then landmarks; landmarks at rest)."""
    from jaxmarl.environments.mpe.simple import State

    num_landmarks = state.landmark_pos.shape[-2]
    comm = jnp.zeros((jm_env.num_agents, jm_env.dim_c), jnp.float32)
    goal = None
    if isinstance(state, SpeakerListenerState):
        comm, goal = comm.at[0].set(state.message), state.goal
    return State(
        p_pos=jnp.concatenate([state.agent_pos, state.landmark_pos]),
        p_vel=jnp.concatenate([state.agent_vel, jnp.zeros((num_landmarks, 2), jnp.float32)]),
        c=comm, done=jnp.bool_(False), step=state.time, goal=goal,
    )


def from_jaxmarl(jm_state, env) -> MPEState:
    """JaxMARL's MPE `State` -> ours, for `env` (SimpleSpread or SimpleSpeakerListener); leading
    batch axes kept."""
    n = env.num_agents
    fields = dict(time=jm_state.step, agent_pos=jm_state.p_pos[..., :n, :], agent_vel=jm_state.p_vel[..., :n, :],
                  landmark_pos=jm_state.p_pos[..., n:, :])
    if isinstance(env, SimpleSpeakerListener):
        return SpeakerListenerState(**fields, goal=jm_state.goal, message=jm_state.c[..., 0, :])
    return MPEState(**fields)


def random_state(key: jax.Array, env, params) -> MPEState:
    """A reset state moved anywhere: agents spread over [-1, 1]^2 or (half the time) crowded into
    [-0.25, 0.25]^2 so that they overlap, random velocities, random step counts around the limit."""
    key_reset, key_pos, key_crowd, key_vel, key_time, key_msg = jax.random.split(key, 6)
    _, state = env.reset(key_reset, params)
    n = env.num_agents
    scale = jnp.where(jax.random.bernoulli(key_crowd), 0.25, 1.0)
    state = state.replace(
        agent_pos=jax.random.uniform(key_pos, (n, 2), jnp.float32, -1.0, 1.0) * scale,
        agent_vel=jax.random.normal(key_vel, (n, 2), jnp.float32),
        time=jax.random.randint(key_time, (), 0, JAXMARL_EPISODE + 4, jnp.int32),
    )
    if isinstance(state, SpeakerListenerState):
        state = state.replace(message=jax.random.uniform(key_msg, (3,), jnp.float32))
    return state


def assert_close(ours, theirs, what: str) -> None:
    """Leafwise allclose at `TOL`, naming the leaf that differs."""
    for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(ours)[0], jax.tree.leaves(theirs)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL, err_msg=f"{what}{jax.tree_util.keystr(path)}")
