"""Replay buffer: wrap-around, sequences that never cross the write head, episode boundaries through
auto-resets, prioritised sampling and vmapped (population) use."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs import make
from jaxrl.blocks.replay import ReplayBuffer, transition_item
from jaxrl.blocks.returns import n_step_returns
from jaxrl.blocks.rollout import reset_envs, rollout


def _ids(first_step, steps, num_envs):
    """A `[steps, num_envs]` batch whose item encodes (time, env) as time * 100 + env."""
    t = np.arange(first_step, first_step + steps)[:, None]
    return {"id": jnp.asarray(t * 100 + np.arange(num_envs)[None, :], jnp.int32)}


def test_wrap_around_overwrites_the_oldest_rows():
    buf = ReplayBuffer(capacity=8, num_envs=2, batch_size=512)  # 4 rows per env copy
    state = buf.init({"id": jnp.int32(0)})
    assert float(buf.fill(state)) == 0.0 and not bool(buf.can_sample(state))
    state = buf.add(state, _ids(0, 3, 2))
    assert int(state.size) == 3 and int(state.pos) == 3 and float(buf.fill(state)) == 0.75
    state = buf.add(state, _ids(3, 3, 2))  # steps 3, 4, 5: rows 3, 0, 1
    assert int(state.size) == 4 and int(state.pos) == 2
    np.testing.assert_array_equal(np.asarray(state.data["id"])[:, 0], [400, 500, 200, 300])
    sample = buf.sample(state, jax.random.key(0))
    ids = np.asarray(sample.experience["id"])
    assert ids.shape == (1, 512)
    assert set(ids.ravel().tolist()) == {t * 100 + e for t in range(2, 6) for e in range(2)}
    np.testing.assert_array_equal(np.asarray(sample.weights), 1.0)
    with pytest.raises(ValueError, match="do not fit"):
        buf.add(state, _ids(0, 5, 2))


def test_uniform_sampling_covers_every_stored_item_equally():
    buf = ReplayBuffer(capacity=30, num_envs=3, batch_size=60_000)  # 10 rows per env copy
    state = buf.add(buf.init({"id": jnp.int32(0)}), _ids(0, 7, 3))  # 7 of 10 rows filled
    ids = np.asarray(buf.sample(state, jax.random.key(1)).experience["id"]).ravel()
    values, counts = np.unique(ids, return_counts=True)
    assert set(values.tolist()) == {t * 100 + e for t in range(7) for e in range(3)}
    expected = ids.size / 21
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected)), counts


def test_sequences_are_consecutive_and_never_cross_the_write_head():
    buf = ReplayBuffer(capacity=10, num_envs=2, batch_size=1000, sequence_length=3)  # 5 rows
    state = buf.init({"id": jnp.int32(0)})
    state = buf.add(state, _ids(0, 2, 2))
    assert not bool(buf.can_sample(state))
    for start in range(2, 12, 3):
        state = buf.add(state, _ids(start, 3, 2))
    newest = 13  # steps 0..13 written, 5 rows kept
    seq = np.asarray(buf.sample(state, jax.random.key(1)).experience["id"])  # [3, 1000]
    assert seq.shape == (3, 1000)
    np.testing.assert_array_equal(np.diff(seq, axis=0), 100)  # same env, consecutive steps
    starts = seq[0] // 100
    # Oldest stored step is newest - 4; the last start whose sequence is stored is newest - 2.
    assert set(starts.tolist()) == set(range(newest - 4, newest - 1))


def test_stored_transitions_never_straddle_an_auto_reset():
    # ProbeTwoStep: obs 0 -> 1 (reward 0), then 1 -> terminal (reward 1), auto-reset to 0. A buffer
    # that took next_obs from the next stored step would produce (obs 1 -> next 0) pairs.
    env, params = make("ProbeTwoStep-v0")
    num_envs, steps, gamma = 3, 9, 0.9
    buf = ReplayBuffer(capacity=num_envs * 16, num_envs=num_envs, batch_size=256, sequence_length=3)

    @jax.jit
    def collect_and_sample(key):
        key_reset, key_run, key_sample = jax.random.split(key, 3)
        carry = reset_envs(env, params, key_reset, num_envs)
        policy = lambda obs, key: (jnp.zeros(obs.shape[0], jnp.int32), {})
        _, traj = rollout(env, params, policy, carry, key_run, steps)
        item = transition_item(traj)
        state = buf.add(buf.init(jax.tree.map(lambda x: x[0, 0], item)), item)
        return buf.sample(state, key_sample).experience

    seq = collect_and_sample(jax.random.key(0))
    obs, next_obs = np.asarray(seq["obs"])[..., 0], np.asarray(seq["next_obs"])[..., 0]
    np.testing.assert_array_equal(next_obs, 1.0)
    np.testing.assert_array_equal(np.asarray(seq["terminated"]), obs == 1.0)
    assert not np.asarray(seq["truncated"]).any()
    # n-step returns from the sampled sequences stop at the episode end: V*(0) = gamma, V*(1) = 1.
    returns, discounts, last = n_step_returns(seq["reward"], seq["terminated"], seq["truncated"], gamma)
    expected = np.where(obs[0] == 0.0, gamma, 1.0)
    np.testing.assert_allclose(np.asarray(returns), expected, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(discounts), 0.0)
    np.testing.assert_array_equal(np.asarray(last), np.where(obs[0] == 0.0, 1, 0))


def test_truncation_is_stored_apart_from_termination():
    env, params = make("CartPole-v1")
    params = params.replace(max_steps_in_episode=4)
    buf = ReplayBuffer(capacity=64, num_envs=2, batch_size=8)

    @jax.jit
    def collect(key):
        key_reset, key_run = jax.random.split(key)
        carry = reset_envs(env, params, key_reset, 2)
        policy = lambda obs, key: (jnp.zeros(obs.shape[0], jnp.int32), {})  # always push left
        _, traj = rollout(env, params, policy, carry, key_run, 12)
        item = transition_item(traj)
        return buf.add(buf.init(jax.tree.map(lambda x: x[0, 0], item)), item)

    state = collect(jax.random.key(0))
    truncated = np.asarray(state.data["truncated"])[:12]
    terminated = np.asarray(state.data["terminated"])[:12]
    assert truncated.any() and not (truncated & terminated).any()
    # At a truncation the stored successor is the final observation, not the reset one.
    stored_next = np.asarray(state.data["next_obs"])[:12]
    following_obs = np.asarray(state.data["obs"])[1:13]
    ends = np.argwhere(truncated[:-1])
    assert len(ends)
    for t, e in ends:
        assert not np.allclose(stored_next[t, e], following_obs[t, e])
    inside = ~(truncated | terminated)[:-1]
    # Inside an episode the successor is exactly the next observation (see test_final_observation_exact).
    np.testing.assert_array_equal(stored_next[:-1][inside], following_obs[:11][inside])


def test_prioritised_sampling_follows_priorities_and_weights():
    buf = ReplayBuffer(capacity=8, num_envs=2, batch_size=4000, prioritized=True)  # 4 rows
    state = buf.init({"id": jnp.int32(0)})
    state = buf.add(state, _ids(0, 3, 2))  # 6 items, all at max priority 1
    np.testing.assert_array_equal(np.asarray(state.priorities)[:3], 1.0)
    np.testing.assert_array_equal(np.asarray(state.priorities)[3], 0.0)  # not written: never sampled
    rows, envs = jnp.array([0, 1, 2]), jnp.array([1, 1, 1])
    state = buf.update_priorities(state, rows, envs, jnp.array([4.0, 0.0, 2.0]))
    assert float(state.max_priority) == 4.0
    alpha, beta = 0.5, 0.4
    sample = buf.sample(state, jax.random.key(0), alpha=alpha, beta=beta)
    ids = np.asarray(sample.experience["id"])[0]
    p = {0: 1.0, 100: 1.0, 200: 1.0, 1: 4.0, 101: 0.0, 201: 2.0}
    p = {k: v**alpha for k, v in p.items()}
    total = sum(p.values())
    counts = {k: np.mean(ids == k) for k in p}
    for k in p:
        assert counts[k] == pytest.approx(p[k] / total, abs=0.03), (k, counts)
    # Importance weights: (N P)^-beta normalised by the batch maximum.
    raw = {k: (6 * p[k] / total) ** -beta for k in p if p[k] > 0}
    expected = np.array([raw[k] for k in ids]) / max(raw[k] for k in set(ids.tolist()))
    np.testing.assert_allclose(np.asarray(sample.weights), expected, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(sample.rows) * 100 + np.asarray(sample.envs), ids)


def test_vmapped_buffers_equal_buffers_run_one_by_one():
    buf = ReplayBuffer(capacity=12, num_envs=2, batch_size=7, sequence_length=2)

    def run(key, offset):
        state = buf.init({"id": jnp.int32(0), "x": jnp.zeros(3)})

        def add(state, start):
            batch = _ids(0, 4, 2)
            batch = {"id": batch["id"] + start * 100 + offset, "x": jnp.ones((4, 2, 3)) * offset}
            return buf.add(state, batch), None

        state, _ = jax.lax.scan(add, state, jnp.arange(0, 12, 4))
        return state, buf.sample(state, key)

    keys = jax.random.split(jax.random.key(3), 3)
    offsets = jnp.array([0, 10_000, 20_000])
    states, samples = jax.jit(jax.vmap(run))(keys, offsets)
    assert states.data["id"].shape == (3, 6, 2)
    for i in range(3):
        state, sample = jax.jit(run)(keys[i], offsets[i])
        for a, b in zip(jax.tree.leaves((states, samples)), jax.tree.leaves((state, sample))):
            np.testing.assert_array_equal(np.asarray(a)[i], np.asarray(b))
    ids = np.asarray(samples.experience["id"])
    assert (ids[1] >= 10_000).all() and (ids[1] < 20_000).all()  # each member samples its own data
