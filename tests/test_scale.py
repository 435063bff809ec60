"""Several devices (XLA's virtual CPU devices) and several processes (jax.distributed on localhost)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import jaxrl
from jaxrl.policy import evaluate_run
from test_docs_code import file_block

# The children run on XLA's virtual CPU devices and their results are compared with this process's,
# so the default backend must be the CPU too (on a one-GPU machine there is no second device).
pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA's virtual CPU devices")

SETTINGS = {"num_envs": 4, "num_steps": 16, "num_minibatches": 2, "update_epochs": 2, "num_logs": 2,
            "eval_episodes": 8}
STEPS = 4 * 16 * 2


def _python(code: str, env_extra: dict[str, str], cwd) -> subprocess.Popen:
    env = {**os.environ, **env_extra, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _run_script(cwd, *argv: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, *argv], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen, timeout: float = 600) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-3000:]
    return out


def test_four_devices_give_the_results_of_one(tmp_path):
    """3 seeds on 4 virtual devices (padded to 4, one member per device) equal the same seeds run
    one by one on one device, and the checkpoint (saved without padding) restores on one device."""
    code = f"""
        import json, jax, jaxrl
        assert jax.local_device_count() == 4
        r = jaxrl.train("ppo", "CartPole-v1", seeds=[0, 1, 2], total_timesteps={STEPS}, config={SETTINGS!r},
                        out={str(tmp_path)!r}, name="four", progress=False)
        print("RESULT" + json.dumps(r.summary))
    """
    out = _finish(_python(code, {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}, tmp_path))
    summary = json.loads(out.split("RESULT")[-1])
    assert summary["num_devices"] == 4 and summary["seeds"] == [0, 1, 2]
    restored = jaxrl.policy.restore_policy(tmp_path / "four")
    for i, seed in enumerate([0, 1, 2]):
        alone = jaxrl.train("ppo", "CartPole-v1", seeds=[seed], total_timesteps=STEPS, config=SETTINGS, out=None,
                            progress=False)
        for x, y in zip(jax.tree.leaves(restored.policy), jax.tree.leaves(alone.state.policy)):
            np.testing.assert_allclose(np.asarray(x)[i], np.asarray(y)[0], rtol=1e-5, atol=1e-6)
    assert len(evaluate_run(tmp_path / "four", episodes=4)["seeds"]) == 3


def test_two_processes_split_a_sweep_and_merge_its_table(tmp_path):
    """docs/scale.md's two-process script, as written (a free port instead of 12355)."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    script = file_block("scale.md", "sweep_two_processes.py").replace("localhost:12355", f"localhost:{port}")
    (tmp_path / "sweep_two_processes.py").write_text(script)
    procs = [_run_script(tmp_path, "sweep_two_processes.py", str(p)) for p in (0, 1)]
    outs = [_finish(p) for p in procs]
    assert "process 0: 4 rows" in outs[0] and "process 1: 2 rows" in outs[1]  # 0 merges; 1 reports its own
    sweep_dir = tmp_path / "runs" / "two-processes"
    with open(sweep_dir / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["member"]) for r in rows] == [0, 1, 2, 3]
    assert {r["group"] for r in rows} == {"group-00-process-0", "group-00-process-1"}
    assert json.loads((sweep_dir / "summary.json").read_text())["num_processes"] == 2
    for process in (0, 1):  # each process's run directory (checkpoints included) is usable alone
        result = evaluate_run(sweep_dir / "groups" / f"group-00-process-{process}", episodes=2)
        assert len(result["seeds"]) == 2


def test_one_run_on_four_devices_splits_its_env_batch(tmp_path):
    """A single seed on 4 devices shards its 8 envs 2 per device (parameters replicated) and learns
    what it learns on one device, up to float rounding of the cross-device reductions."""
    code = f"""
        import json, jax, numpy as np, jaxrl
        import jaxrl.population.sharding
        jaxrl.population.sharding.SPLIT_ENVS_ON_CPU = True  # the default on accelerators
        r = jaxrl.train("ppo", "CartPole-v1", seeds=[3], total_timesteps={STEPS * 2},
                        config={{**{SETTINGS!r}, "num_envs": 8}}, out={str(tmp_path)!r}, name="one", progress=False)
        obs = r.state.env.obs
        assert len(obs.sharding.device_set) == 4 and obs.addressable_shards[0].data.shape == (1, 2, 4), obs.sharding
        assert r.state.policy.params is not None
        print("RESULT" + json.dumps(r.summary))
    """
    out = _finish(_python(code, {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}, tmp_path))
    summary = json.loads(out.split("RESULT")[-1])
    assert summary["num_devices"] == 4
    restored = jaxrl.policy.restore_policy(tmp_path / "one")
    alone = jaxrl.train("ppo", "CartPole-v1", seeds=[3], total_timesteps=STEPS * 2,
                        config={**SETTINGS, "num_envs": 8}, out=None, progress=False)
    for x, y in zip(jax.tree.leaves(restored.policy), jax.tree.leaves(alone.state.policy)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-5)


def test_population_init_on_several_cpu_devices_does_not_deadlock(tmp_path):
    """Regression: a sharded init ran each device's part at once, and two batched LAPACK QRs (SAC's
    vmapped critics' orthogonal initialisers) waited on each other in XLA:CPU's shared intra-op
    pool forever; 200 inits of 2 members on 2 devices hung within seconds. Init now runs on one
    device and its state is then split over the devices."""
    code = """
        import jax, jaxrl
        from jaxrl import population
        from jaxrl.config import resolve
        resolved = resolve("sac", "Pendulum-v1", {"buffer_size": 1000}, seeds=[0, 1])
        env, params = jaxrl.make("Pendulum-v1")
        layout = population.layout(resolved)
        keys, hparams = population.placed_inputs(resolved, layout)
        program, _ = population.get_program(resolved, env, params, layout, keys, hparams, jax.random.key(0))
        for _ in range(200):
            state = jax.block_until_ready(program.init(keys, hparams))
        assert all(len(x.sharding.device_set) == 2 for x in jax.tree.leaves(state))
        print("OK")
    """
    process = _python(code, {"XLA_FLAGS": "--xla_force_host_platform_device_count=2",
                             "JAXRL_COMPILATION_CACHE": ""}, tmp_path)
    try:
        out = _finish(process, timeout=150)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("population init on 2 CPU devices did not finish in 150 s (deadlock)") from None
    assert out.strip().endswith("OK"), out[-2000:]
