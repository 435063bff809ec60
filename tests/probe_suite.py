"""Test helper: every probe env as ONE environment, so an agent learns all of them in one program.

`ProbeSuite` switches on `params.probe` (an index into `NAMES`), so `jax.vmap` over that index trains
an agent on the five probes at once and costs one XLA compile instead of five. With
`continuous=True` the action space is `Box(-1, 1, (1,))` and an action `a` acts as the discrete
action `int(a > 0)`, which turns the probes into probes for continuous-action agents.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.agents import get_agent
from jaxrl.envs import spaces
from jaxrl.envs.probes import PROBES, ProbeEnvironment, ProbeParams
from jaxrl.envs.wrappers import EpisodeStatistics
from jaxrl.population.program import make_chunk

NAMES = sorted(PROBES)
INSTANCES = [PROBES[name]() for name in NAMES]
# The observations each probe can produce (its values are only constrained there).
PROBE_OBS = {
    "ProbeActionDependentReward-v0": [0.0],
    "ProbeConstantReward-v0": [0.0],
    "ProbeObsActionReward-v0": [-1.0, 1.0],
    "ProbeObsDependentReward-v0": [-1.0, 1.0],
    "ProbeTwoStep-v0": [0.0, 1.0],
}


@struct.dataclass
class SuiteParams(ProbeParams):
    probe: int = 0


class ProbeSuite(ProbeEnvironment):
    registered_name = "ProbeSuite"

    def __init__(self, continuous: bool = False):
        self.continuous = continuous

    @property
    def default_params(self) -> SuiteParams:
        return SuiteParams()

    def action_space(self, params: Any = None):
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32) if self.continuous else spaces.Discrete(2)

    def reset_env(self, key, params):
        return jax.lax.switch(params.probe, [p.reset_env for p in INSTANCES], key, params)

    def step_env(self, key, state, action, params):
        if self.continuous:
            action = (jnp.reshape(action, ())[()] > 0).astype(jnp.int32)
        branches = [lambda k, s, a, p, probe=probe: probe.step_env(k, s, a, p) for probe in INSTANCES]
        return jax.lax.switch(params.probe, branches, key, state, action, params)


_PROGRAMS: dict = {}


def train_on_probes(algo: str, config: Any, hparams: Any, num_updates: int, seed: int = 0,
                    continuous: bool = False):
    """Train `algo` on every probe (one vmapped, jitted program, cached per static setting).
    Returns the batched final states (leading axis = `NAMES`) and the summed metrics of the run."""
    cache_key = (algo, config, continuous)
    if cache_key not in _PROGRAMS:
        spec = get_agent(algo)
        env = EpisodeStatistics(ProbeSuite(continuous))

        def run(probe, key, hparams, num_updates):
            fns = spec.build(env, env.default_params.replace(probe=probe), config)
            state = fns.init(key, hparams)
            state, sums, _ = make_chunk(fns.update)(state, hparams, num_updates)
            return state, sums

        program = jax.jit(jax.vmap(run, in_axes=(0, 0, None, None)))
        args = (jnp.arange(len(NAMES)), jax.random.split(jax.random.key(0), len(NAMES)), hparams, jnp.int32(0))
        # These tiny networks run in seconds either way; skipping LLVM's optimisations on CPU
        # roughly halves the compile, which dominates these tests.
        options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
        _PROGRAMS[cache_key] = program.lower(*args).compile(options)
    keys = jax.random.split(jax.random.key(seed), len(NAMES))
    return _PROGRAMS[cache_key](jnp.arange(len(NAMES)), keys, hparams, jnp.int32(num_updates))


def probe_obs(name: str) -> np.ndarray:
    return np.asarray(PROBE_OBS[name], np.float32)[:, None]


def member(tree: Any, i: int) -> Any:
    return jax.tree.map(lambda x: x[i], tree)
