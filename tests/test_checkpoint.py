"""Checkpoints: every agent's full state round-trips bit for bit; the newest N are kept; incomplete or
corrupt steps are skipped with a warning; the non-finite guard never checkpoints bad state."""

import functools
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import jaxrl
from jaxrl import checkpoint
from jaxrl.agents import get_agent, list_agents
from jaxrl.config import ConfigError, resolve
from jaxrl.envs import EnvParams, EnvState, Environment, make, register, spaces
from jaxrl.population import build_agent, member_inputs
from jaxrl.reporting import env_nonfinite, nonfinite
from jaxrl.training import EnvNonFiniteError, NonFiniteError

# Config fields that size a replay buffer: shrunk so that an agent's initial state stays small.
_BUFFER_FIELDS = ("buffer_size", "buffer_capacity", "capacity", "replay_size")


@functools.cache
def _initial_state(algo: str, seeds: int = 2):
    """A seed-batched state of `algo` (CartPole, or Pendulum for continuous-only agents) with the
    structure, shapes and dtypes of its real initial state (from `jax.eval_shape`: nothing compiles)
    and random values everywhere, so a round trip cannot pass by restoring zeros."""
    spec = get_agent(algo)
    small = {f: 1024 for f in _BUFFER_FIELDS if f in spec.config_fields}
    for env_name in ("CartPole-v1", "Pendulum-v1", "MPE_simple_spread_v3"):
        try:
            resolved = resolve(algo, env_name, small, seeds=seeds, use_tuned=False)
        except ConfigError:
            resolved = resolve(algo, env_name, {}, seeds=seeds, use_tuned=False)
        env, params = make(env_name)
        try:
            fns = build_agent(resolved, env, params)
        except ValueError:  # e.g. a continuous-action agent on CartPole
            continue
        abstract = jax.eval_shape(jax.vmap(fns.init), *member_inputs(resolved))
        return _random_like(abstract), abstract
    raise AssertionError(f"{algo} builds on none of CartPole-v1, Pendulum-v1, MPE_simple_spread_v3")


def _random_like(abstract):
    rng = np.random.default_rng(0)

    def leaf(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            keys = jax.random.split(jax.random.key(int(rng.integers(2**31))), int(np.prod(x.shape)))
            return keys.reshape(x.shape)
        if jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.asarray(rng.standard_normal(x.shape), x.dtype)
        if jnp.issubdtype(x.dtype, jnp.integer):
            return jnp.asarray(rng.integers(0, 100, x.shape), x.dtype)
        return jnp.asarray(rng.integers(0, 2, x.shape), x.dtype)

    return jax.tree.map(leaf, abstract)


def _assert_identical(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert x.dtype == y.dtype and x.shape == y.shape, (x.dtype, y.dtype, x.shape, y.shape)
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


def _save(directory, steps, state, keep=3):
    writer = checkpoint.CheckpointWriter(directory, keep)
    for step in steps:
        writer.save(step, state, {"chunks_done": step // 10})
    writer.close()


@pytest.mark.parametrize("algo", list_agents())
def test_every_agent_state_round_trips_bit_for_bit(algo, tmp_path):
    state, abstract = _initial_state(algo)
    _save(tmp_path, [2**40], state)  # steps are Python ints: 64-bit safe
    restored = checkpoint.restore(tmp_path, abstract)
    assert restored.step == 2**40 and restored.progress["chunks_done"] == 2**40 // 10
    _assert_identical(state, restored.state)
    keys = [x for x in jax.tree.leaves(restored.state) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)]
    assert keys, "the state should carry typed PRNG keys"
    jax.random.split(keys[0][0])  # restored keys are usable typed keys


def test_keeps_newest_and_skips_incomplete_or_corrupt_checkpoints(tmp_path):
    state, abstract = _initial_state("ppo")
    _save(tmp_path, [10, 20, 30], state, keep=2)
    assert checkpoint.list_steps(tmp_path) == [20, 30]

    # Writes killed half-way leave staging folders (orbax's own temporary one, or ours before the
    # final rename): never a step, reported and ignored.
    shutil.copytree(tmp_path / "30", tmp_path / ".staging-40")
    shutil.copytree(tmp_path / "30" / "state", tmp_path / ".staging-50.orbax-checkpoint-tmp-1700000000")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert checkpoint.restore(tmp_path, abstract).step == 30
    assert sum("incomplete checkpoint" in str(w.message) for w in caught) == 2
    checkpoint.set_aside_after(tmp_path, 30)  # what a resume does next: staging leftovers deleted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20", "30"]

    # A finalised step whose data was damaged afterwards: detected, skipped, previous one used.
    data = max((p for p in (tmp_path / "30" / "state").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw[: len(raw) * 3 // 4]))
    with pytest.warns(UserWarning, match=r"Skipping unusable checkpoint .*30.*changed since written"):
        restored = checkpoint.restore(tmp_path, abstract)
    assert restored.step == 20
    _assert_identical(state, restored.state)
    with pytest.raises(checkpoint.CheckpointError, match="unusable"):
        checkpoint.restore(tmp_path, abstract, step=30)

    # Nothing usable left: None (the caller decides), with a warning per skipped step.
    (tmp_path / "20" / "progress").rename(tmp_path / "20" / "progress.gone")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert checkpoint.restore(tmp_path, abstract) is None
    assert sum("Skipping unusable" in str(w.message) for w in caught) == 2


def _save_until_the_disk_fills(disk: str, out: str) -> None:
    """Run in a child process on the small file system `disk`: checkpoint 10 is saved, the disk is
    filled to half a checkpoint's room, checkpoint 20 fails, checkpoint 10 restores bit for bit from
    the full disk. Prints the error; copies the checkpoint folder to `out` (the mount ends with the child)."""
    state, abstract = _initial_state("ppo")
    folder = Path(disk) / "checkpoints"
    _save(folder, [10], state)
    room = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    stat = os.statvfs(disk)
    (Path(disk) / "filler").write_bytes(bytes(stat.f_bavail * stat.f_frsize - room // 2))
    with pytest.raises(checkpoint.CheckpointWriteError) as info:
        _save(folder, [20], state)
    restored = checkpoint.restore(folder, abstract)
    assert restored.step == 10
    _assert_identical(state, restored.state)
    print(info.value)
    shutil.copytree(folder, out)


def _in_private_tmpfs(disk: Path, size: str) -> list[str]:
    """The command prefix that runs a command with a `size` tmpfs at `disk`, in a mount namespace of
    its own (gone with the command); skips the test where this process may not mount one."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare command to mount a small file system in a private mount namespace")
    prefix = [unshare, "--mount", *([] if os.geteuid() == 0 else ["--map-root-user"]), "sh", "-c",
              f'mount -t tmpfs -o size={size} tmpfs "$0" && exec "$@"', str(disk)]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {probe.stderr.strip()}")
    return prefix


def test_a_really_full_disk_keeps_the_previous_checkpoint(tmp_path):
    """A tmpfs of 1 MiB filled during a save: tensorstore's own out-of-space error becomes the clear
    CheckpointWriteError, the partial write is removed and checkpoint 10 restores bit for bit (in
    the child, from the full disk; here, from its copy)."""
    disk, out = tmp_path / "disk", tmp_path / "after"
    disk.mkdir()
    script = "import sys, test_checkpoint; test_checkpoint._save_until_the_disk_fills(*sys.argv[1:])"
    path = [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    proc = subprocess.run([*_in_private_tmpfs(disk, "1m"), sys.executable, "-c", script, str(disk), str(out)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    message = proc.stdout.strip().splitlines()[-1]
    assert message.startswith(f"Could not write checkpoint 20 in '{disk / 'checkpoints'}': the disk is full (No "
                              "space left on device). The incomplete write was removed"), message
    assert f"the last good checkpoint is step 10, in '{disk / 'checkpoints' / '10'}'" in message
    assert sorted(os.listdir(out)) == ["10"]  # no staging folder of orbax or ours left taking space
    state, abstract = _initial_state("ppo")
    restored = checkpoint.restore(out, abstract)
    assert restored.step == 10
    _assert_identical(state, restored.state)


def test_checkpoint_of_another_state_is_refused(tmp_path):
    state, _ = _initial_state("ppo", seeds=2)
    _, abstract_three = _initial_state("ppo", seeds=3)
    _save(tmp_path, [5], state)
    with pytest.raises(checkpoint.CheckpointError, match=r"in the checkpoint but .* in this run's state"):
        checkpoint.restore(tmp_path, abstract_three, step=5)
    with pytest.raises(checkpoint.CheckpointError, match="available steps: 5"):
        checkpoint.restore(tmp_path, abstract_three, step=6)


@struct.dataclass
class _NaNState(EnvState):
    pass


@struct.dataclass
class _NaNParams(EnvParams):
    max_steps_in_episode: int = 1_000_000
    nan_after: int = 100


class NaNRewardAfter(Environment):
    """Episodes that never end; reward 1, then NaN once an env copy has taken `nan_after` steps."""

    @property
    def default_params(self):
        return _NaNParams()

    def reset_env(self, key, params):
        return jnp.zeros((1,), jnp.float32), _NaNState(time=jnp.int32(0))

    def step_env(self, key, state, action, params):
        state = state.replace(time=state.time + 1)
        reward = jnp.where(state.time > params.nan_after, jnp.nan, 1.0).astype(jnp.float32)
        return jnp.zeros((1,), jnp.float32), state, reward, jnp.asarray(False), {}

    def observation_space(self, params=None):
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(2)


def test_nonfinite_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    register("NaNRewardAfter-v0", NaNRewardAfter, overwrite=True)
    # 2 envs x 8 steps per update, 2 updates per logged point: each env copy takes 16 steps per point,
    # so step 101 of every copy (the first NaN reward) falls in point 7: env steps 208 -> 224.
    config = dict(num_envs=2, num_steps=8, update_epochs=1, num_minibatches=1, hidden_sizes=(8,), num_logs=8,
                  eval_episodes=1, checkpoint_every=2, keep_checkpoints=10)
    with pytest.raises(EnvNonFiniteError) as info:
        jaxrl.train("ppo", "NaNRewardAfter-v0", seeds=2, total_timesteps=256, config=config, out=tmp_path,
                    name="run", progress=False, use_tuned=False)
    assert isinstance(info.value, NonFiniteError)  # code catching NonFiniteError still catches it
    message = str(info.value)
    assert "step 224 (chunk 7 of 8)" in message
    # Step 101 of each copy is in update 13 (8 steps per copy per update): env steps 193-208.
    assert ("the environment NaNRewardAfter-v0 produced NaN/inf rewards at step 208 (in the update of "
            "environment steps 193-208; seeds 0, 1) while the agent's parameters were still finite") in message
    assert "not the agent" in message and "jaxrl check-env NaNRewardAfter-v0" in message
    assert "last good checkpoint (step 192)" in message and "learning_rate" not in message

    run = tmp_path / "run"
    assert checkpoint.list_steps(run / "checkpoints") == [64, 128, 192]  # nothing at or after the bad chunk
    assert not (run / "summary.json").exists()
    env, params = make("NaNRewardAfter-v0")
    resolved = resolve("ppo", "NaNRewardAfter-v0", config, seeds=2, use_tuned=False)
    abstract = jax.eval_shape(jax.vmap(build_agent(resolved, env, params).init), *member_inputs(resolved))
    good = checkpoint.restore(run / "checkpoints", abstract)
    assert good.step == 192
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(good.state) if jnp.issubdtype(x.dtype, jnp.floating))


def test_nonfinite_state_leaf_is_named():
    sums = {"policy_loss": np.array([0.1, 0.2]), "explained_variance": np.array([np.nan, 0.0])}
    finite = np.array([[True, True], [True, False]])
    problem = nonfinite(sums, finite, ["policy.params.kernel", "policy.obs_stats.var"], seeds=(3, 7))
    assert problem == "the state leaf policy.obs_stats.var (parameters or statistics) became NaN/inf for seed 7"
    sums["value_loss"] = np.array([np.inf, np.inf])
    assert nonfinite(sums, finite, ["a", "b"], seeds=(3, 7)) == "the loss metric value_loss became inf for seeds 3, 7"
    assert nonfinite({"policy_loss": np.zeros(2)}, np.ones((2, 2), bool), ["a", "b"], seeds=(3, 7)) is None


def test_env_nonfinite_blames_the_env_only_while_the_parameters_are_finite():
    # columns: parameters, observations, rewards (first bad update in the chunk, -1: never)
    first_bad = np.array([[-1, 2, -1], [1, 3, 3], [1, 2, 2]])
    problem = env_nonfinite(first_bad, (0, 1, 2), "MyEnv-v0", updates_before=10, steps_per_update=4)
    assert problem == ("the environment MyEnv-v0 produced NaN/inf observations at step 52 (in the update of "
                       "environment steps 49-52; seed 0) while the agent's parameters were still finite")
    # parameters bad first (seed 2 alone): the agent diverged, the env only followed
    assert env_nonfinite(first_bad[2:], (2,), "MyEnv-v0", 10, 4) is None
    assert env_nonfinite(np.full((2, 3), -1), (0, 1), "MyEnv-v0", 0, 4) is None
    rewards = env_nonfinite(np.array([[-1, -1, 0]]), (5,), "E", 0, 8)
    assert "produced NaN/inf rewards at step 8 (in the update of environment steps 1-8; seed 5)" in rewards
    # the rollout comes before learning: env and parameters bad in the same update is the env's doing
    both = env_nonfinite(np.array([[0, 0, 0]]), (5,), "E", 0, 8)
    assert "produced NaN/inf observations and rewards at step 8" in both
