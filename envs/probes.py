"""Probe environments for debugging agents (after Andy Jones, "Debugging RL, Without the Agonizing Pain").

Each probe isolates one piece of an agent, so a failure points at that piece:

| registered name                 | class                   | isolates                               |
|---------------------------------|-------------------------|----------------------------------------|
| `ProbeConstantReward-v0`        | `ConstantReward`        | value learning, the loss scale         |
| `ProbeObsDependentReward-v0`    | `ObsDependentReward`    | the value network reading observations |
| `ProbeTwoStep-v0`               | `TwoStepCredit`         | discounting, bootstrapping, `done`     |
| `ProbeActionDependentReward-v0` | `ActionDependentReward` | the policy gradient / argmax           |
| `ProbeObsActionReward-v0`       | `ObsActionReward`       | policy conditioned on the observation  |

All probes: observations float32 of shape `(1,)` in `[-1, 1]`, actions `Discrete(2)`, episodes
end by `terminated=True` (one or two steps), so `max_steps_in_episode` is set far away (1000) and
never truncates. On the terminating step the observation is left unchanged (it is only ever seen as
`info["final_observation"]`, and a terminal observation is never bootstrapped from).

The optimal solution is exposed as data so learning tests can check an agent against it:
`env.q_values(obs, gamma)` (Q* per action, `[..., 2]`), `env.optimal_value(obs, gamma)` (V*,
`[...]`) and `env.optimal_action(obs)` (`[...]` int32; for probes whose reward ignores the action
every action is optimal and this returns 0). `PROBES` maps each registered name to its class.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment, EnvParams, EnvState, episode_limit


@struct.dataclass
class ProbeState(EnvState):
    """`time` (int32 scalar) and the current observation `obs` (float32 `[1]`)."""

    obs: jax.Array


@struct.dataclass
class ProbeParams(EnvParams):
    """Probes end by termination after one or two steps; the time limit never binds."""

    max_steps_in_episode: int = episode_limit(1000)


class ProbeEnvironment(Environment[ProbeState, ProbeParams]):
    """Shared plumbing: Box(-1, 1, (1,)) observations, Discrete(2) actions, optimal-solution helpers."""

    registered_name: str = ""

    @property
    def default_params(self) -> ProbeParams:
        return ProbeParams()

    def observation_space(self, params: ProbeParams | None = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    def action_space(self, params: ProbeParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(2)

    @property
    def name(self) -> str:
        return self.registered_name

    # ----------------------------------------------------------- the optimal solution, as data
    def q_values(self, obs: jax.Array, gamma: float | jax.Array = 0.99) -> jax.Array:
        """Q*(obs, a) for a = 0, 1. `obs`: `[..., 1]` -> `[..., 2]` float32."""
        raise NotImplementedError

    def optimal_value(self, obs: jax.Array, gamma: float | jax.Array = 0.99) -> jax.Array:
        """V*(obs) = max_a Q*(obs, a). `obs`: `[..., 1]` -> `[...]` float32."""
        return jnp.max(self.q_values(obs, gamma), axis=-1)

    def optimal_action(self, obs: jax.Array) -> jax.Array:
        """An optimal action (0 when every action is optimal). `obs`: `[..., 1]` -> `[...]` int32."""
        return jnp.argmax(self.q_values(obs, 0.99), axis=-1).astype(jnp.int32)

    @property
    def action_matters(self) -> bool:
        """Whether the reward depends on the action (False: any policy is optimal)."""
        return False


def _one_step(state: ProbeState, reward: jax.Array) -> tuple:
    """Terminating transition that keeps the observation."""
    state = state.replace(time=state.time + 1)
    return state.obs, state, jnp.asarray(reward, jnp.float32), jnp.asarray(True), {}


def _random_sign_obs(key: jax.Array) -> jax.Array:
    """+1 or -1 with equal probability, float32 `[1]`."""
    return jnp.where(jax.random.bernoulli(key, 0.5, (1,)), 1.0, -1.0).astype(jnp.float32)


def _broadcast_q(obs: jax.Array, q: jax.Array) -> jax.Array:
    return jnp.broadcast_to(q, jnp.shape(obs)[:-1] + (2,)).astype(jnp.float32)


class ConstantReward(ProbeEnvironment):
    """One step, observation 0, reward +1 whatever the action.

    Optimal: V*(0) = 1 for any gamma (the step is terminal: no bootstrap). A value network that does
    not learn 1 here has a broken value loss or optimiser.
    """

    registered_name = "ProbeConstantReward-v0"

    def reset_env(self, key: jax.Array, params: ProbeParams) -> tuple[jax.Array, ProbeState]:
        state = ProbeState(time=jnp.int32(0), obs=jnp.zeros((1,), jnp.float32))
        return state.obs, state

    def step_env(self, key: jax.Array, state: ProbeState, action: Any, params: ProbeParams):
        return _one_step(state, 1.0)

    def q_values(self, obs: jax.Array, gamma: float | jax.Array = 0.99) -> jax.Array:
        return _broadcast_q(obs, jnp.ones((2,)))


class ObsDependentReward(ProbeEnvironment):
    """One step, observation +1 or -1 at random, reward equal to the observation.

    Optimal: V*(obs) = obs (so V*(+1) = 1, V*(-1) = -1), any action. If ConstantReward works but this
    fails, the value network is not using its input (or backprop into it is broken).
    """

    registered_name = "ProbeObsDependentReward-v0"

    def reset_env(self, key: jax.Array, params: ProbeParams) -> tuple[jax.Array, ProbeState]:
        state = ProbeState(time=jnp.int32(0), obs=_random_sign_obs(key))
        return state.obs, state

    def step_env(self, key: jax.Array, state: ProbeState, action: Any, params: ProbeParams):
        return _one_step(state, state.obs[0])

    def q_values(self, obs: jax.Array, gamma: float | jax.Array = 0.99) -> jax.Array:
        obs = jnp.asarray(obs, jnp.float32)
        return jnp.broadcast_to(obs, obs.shape[:-1] + (2,)).astype(jnp.float32)


class TwoStepCredit(ProbeEnvironment):
    """Two steps: observation 0, then 1; reward 0 on the first step and +1 on the second (terminal).

    Optimal: V*(0) = gamma, V*(1) = 1, any action. Tests discounting and bootstrapping: V(0) must
    come from bootstrapping off V(1) through a non-terminal transition, and the terminal step must
    not bootstrap.
    """

    registered_name = "ProbeTwoStep-v0"

    def reset_env(self, key: jax.Array, params: ProbeParams) -> tuple[jax.Array, ProbeState]:
        state = ProbeState(time=jnp.int32(0), obs=jnp.zeros((1,), jnp.float32))
        return state.obs, state

    def step_env(self, key: jax.Array, state: ProbeState, action: Any, params: ProbeParams):
        time = state.time + 1
        terminated = time >= 2
        obs = jnp.ones((1,), jnp.float32)  # 1 after the first step; unchanged on the terminal one
        reward = jnp.where(terminated, 1.0, 0.0).astype(jnp.float32)
        state = state.replace(time=time, obs=obs)
        return obs, state, reward, terminated, {}

    def q_values(self, obs: jax.Array, gamma: float | jax.Array = 0.99) -> jax.Array:
        obs = jnp.asarray(obs, jnp.float32)
        v = jnp.where(obs[..., 0] > 0.5, 1.0, gamma)
        return jnp.broadcast_to(v[..., None], obs.shape[:-1] + (2,)).astype(jnp.float32)


class ActionDependentReward(ProbeEnvironment):
    """One step, observation 0; reward +1 for action 1 and -1 for action 0.

    Optimal: action 1, Q*(0, 0) = -1, Q*(0, 1) = 1, V*(0) = 1. Tests that the policy (or the argmax
    over Q) follows the advantage.
    """

    registered_name = "ProbeActionDependentReward-v0"

    def reset_env(self, key: jax.Array, params: ProbeParams) -> tuple[jax.Array, ProbeState]:
        state = ProbeState(time=jnp.int32(0), obs=jnp.zeros((1,), jnp.float32))
        return state.obs, state

    def step_env(self, key: jax.Array, state: ProbeState, action: Any, params: ProbeParams):
        return _one_step(state, jnp.where(action == 1, 1.0, -1.0))

    def q_values(self, obs: jax.Array, gamma: float | jax.Array = 0.99) -> jax.Array:
        return _broadcast_q(obs, jnp.array([-1.0, 1.0]))

    @property
    def action_matters(self) -> bool:
        return True


class ObsActionReward(ProbeEnvironment):
    """One step, observation +1 or -1 at random; reward +1 if the action matches the sign, else -1.

    "Matches": action 1 for observation +1, action 0 for observation -1. Optimal: that action,
    V*(obs) = 1, and the wrong action has Q* = -1. Tests a policy that must read its input.
    """

    registered_name = "ProbeObsActionReward-v0"

    def reset_env(self, key: jax.Array, params: ProbeParams) -> tuple[jax.Array, ProbeState]:
        state = ProbeState(time=jnp.int32(0), obs=_random_sign_obs(key))
        return state.obs, state

    def step_env(self, key: jax.Array, state: ProbeState, action: Any, params: ProbeParams):
        matches = (action == 1) == (state.obs[0] > 0)
        return _one_step(state, jnp.where(matches, 1.0, -1.0))

    def q_values(self, obs: jax.Array, gamma: float | jax.Array = 0.99) -> jax.Array:
        positive = jnp.asarray(obs, jnp.float32)[..., 0] > 0
        return jnp.stack([jnp.where(positive, -1.0, 1.0), jnp.where(positive, 1.0, -1.0)], -1).astype(
            jnp.float32
        )

    @property
    def action_matters(self) -> bool:
        return True


PROBES: dict[str, type[ProbeEnvironment]] = {
    cls.registered_name: cls
    for cls in (ConstantReward, ObsDependentReward, TwoStepCredit, ActionDependentReward, ObsActionReward)
}
"""Registered name -> probe class (the same names `jaxrl.make` accepts)."""
