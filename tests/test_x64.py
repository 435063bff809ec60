"""Under `JAX_ENABLE_X64=1` every agent trains, its state keeps the dtypes it has without x64
(float32 params and statistics, int32 counters) and its evaluation returns are finite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from jaxrl.agents import list_agents

CASES = {"ppo": "Pendulum-v1", "lpo": "CartPole-v1", "dqn": "CartPole-v1", "pqn": "CartPole-v1", "sac": "CartPole-v1",
         "td3": "Pendulum-v1", "ddpg": "Pendulum-v1",
         "ippo": "MPE_simple_spread_v3", "mappo": "MPE_simple_spread_v3", "pqn_vdn": "MPE_simple_spread_v3"}

CHILD = """
    import json, sys, jax, numpy as np, jaxrl
    sys.path.insert(0, {tests!r})
    from test_key_reuse import tiny
    assert jax.config.jax_enable_x64
    out = {{}}
    for algo, env in {cases!r}.items():
        config = {{k: v for k, v in tiny(algo).items() if k != "total_timesteps"}}
        result = jaxrl.train(algo, env, seeds=2, total_timesteps=64, out=None, progress=False,
                             config={{**config, "num_logs": 2, "eval_episodes": 2}})
        leaves = jax.tree_util.tree_flatten_with_path(result.state)[0]
        wide = [p for p, x in leaves if x.dtype in (np.float64, np.int64, np.uint64)]
        out[algo] = {{"wide": [jax.tree_util.keystr(p) for p in wide],
                     "finite": bool(np.isfinite(result.summary["final_eval_return"]).all())}}
    print("RESULT" + json.dumps(out))
"""


def test_the_cases_cover_every_agent():
    assert set(CASES) == set(list_agents())


@pytest.mark.parametrize("part", [0, 1])
def test_every_agent_trains_under_x64_with_32_bit_state(part: int):
    """Half of the agents per child process, so that the two halves can run in parallel."""
    cases = {algo: env for i, (algo, env) in enumerate(sorted(CASES.items())) if i % 2 == part}
    code = textwrap.dedent(CHILD.format(tests=os.path.dirname(__file__), cases=cases))
    env = {**os.environ, "JAX_ENABLE_X64": "1", "JAXRL_CPU_DEVICES": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    results = json.loads(done.stdout.split("RESULT")[-1])
    for algo, result in results.items():
        assert result["wide"] == [], f"{algo}: 64-bit state leaves {result['wide']}"
        assert result["finite"], algo
