"""Adapter for Jumanji (Bonnet et al. 2024), combinatorial problems: `make("jumanji:Knapsack-v1")`.

Every name of `jumanji.registered_environments()` whose action spec is a `DiscreteArray` or a
`MultiDiscreteArray` (the latter flattened into one `Discrete` of the product size, row-major:
Minesweeper's (row, column) becomes `row * 10 + column`). Observations are dicts of Jumanji's
observation fields, float32, except `action_mask`, which becomes the bool `[n]` entry
`avail_actions` (`envs.multi.AVAIL_ACTIONS`, flattened like the actions), so PPO, DQN and PQN never
pick an invalid action (`jaxrl.blocks.action_masks`). The encoder rule of `jaxrl.blocks.encoders`
reads the other fields (vectors and matrices flattened, `[H, W, C]` grids through a CNN).

Time limit: Jumanji ends episodes itself (LAST step type), with discount 0 (terminated) or, at an
env's own `time_limit`, discount 1 (reported here as `truncated`). The adapter adds its explicit
limit, `params.max_steps_in_episode` (default: the env's `time_limit` where it has one, else
1,000,000; lower it to cut long episodes). Install: pip install 'jaxrl[jumanji]'.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs import spaces
from jaxrl.envs.multi import AVAIL_ACTIONS
from jaxrl.envs.suites import SuiteAdapter, SuiteParams, import_suite, strong_types, unknown_env

_NO_LIMIT = 1_000_000


class JumanjiAdapter(SuiteAdapter):
    prefix = "jumanji"

    def __init__(self, env: Any, env_name: str):
        super().__init__(env, env_name)
        spec = env.action_spec
        self._action_shape = tuple(int(n) for n in np.atleast_1d(np.asarray(spec.num_values)))
        self._multi = np.ndim(spec.num_values) > 0

    @property
    def default_params(self) -> SuiteParams:
        return SuiteParams(max_steps_in_episode=int(getattr(self._env, "time_limit", _NO_LIMIT)), inner=None)

    def suite_reset(self, key: jax.Array, params: SuiteParams):
        state, timestep = self._env.reset(key)
        return self._obs(timestep.observation), strong_types(state)

    def suite_step(self, key: jax.Array, inner: Any, action: Any, params: SuiteParams):
        del key  # Jumanji draws from the key in its state
        if self._multi:
            action = jnp.stack(jnp.unravel_index(action, self._action_shape)).astype(jnp.int32)
        state, timestep = self._env.step(inner, action)
        state = jax.tree.map(lambda new, old: jnp.asarray(new, old.dtype), state, inner)  # reset's dtypes
        last = timestep.step_type == 2  # StepType.LAST
        return (self._obs(timestep.observation), state, timestep.reward, last & (timestep.discount == 0.0),
                last & (timestep.discount > 0.0), {})

    def _obs(self, observation: Any) -> dict[str, jax.Array]:
        fields = observation._asdict() if hasattr(observation, "_asdict") else dict(vars(observation))
        out = {}
        for name, value in fields.items():
            if name == "action_mask":
                out[AVAIL_ACTIONS] = jnp.asarray(value, bool).reshape(-1)
            else:
                out[name] = jnp.asarray(value, jnp.float32)
        return out

    def observation_space(self, params: SuiteParams) -> spaces.Dict:
        spec = self._env.observation_spec
        fields = {name: getattr(spec, name) for name in _field_names(spec)}
        out = {}
        for name, field in fields.items():
            shape = tuple(int(s) for s in field.shape)
            if name == "action_mask":
                out[AVAIL_ACTIONS] = spaces.Box(0, 1, (int(np.prod(shape)),), jnp.bool_)
                continue
            if hasattr(field, "num_values") and np.ndim(field.num_values) == 0:
                low, high = 0.0, float(field.num_values) - 1
            else:
                low = np.asarray(getattr(field, "minimum", -np.inf), np.float64)
                high = np.asarray(getattr(field, "maximum", np.inf), np.float64)
            out[name] = spaces.Box(low, high, shape, jnp.float32)
        return spaces.Dict(out)

    def action_space(self, params: SuiteParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(int(np.prod(self._action_shape)))


def _field_names(spec: Any) -> list[str]:
    """The observation fields of a Jumanji `Spec` (in the order of its observation NamedTuple)."""
    example = spec.generate_value()
    return list(example._asdict() if hasattr(example, "_asdict") else vars(example))


def make_jumanji_env(name: str, **kwargs: Any) -> JumanjiAdapter:
    """Jumanji's env `name` (keyword arguments go to `jumanji.make`)."""
    jumanji = import_suite("jumanji", "jumanji")
    if name not in jumanji.registered_environments():
        raise unknown_env("jumanji", name, list(jumanji.registered_environments()))
    env = jumanji.make(name, **kwargs)
    spec_type = type(env.action_spec).__name__
    if spec_type not in ("DiscreteArray", "MultiDiscreteArray"):
        raise ValueError(
            f"jumanji:{name} has a {spec_type} action spec; the adapter takes DiscreteArray and "
            "MultiDiscreteArray actions (one Discrete space for PPO, DQN and PQN)."
        )
    return JumanjiAdapter(env, name)


def jumanji_env_names() -> list[str]:
    return sorted(import_suite("jumanji", "jumanji").registered_environments())
