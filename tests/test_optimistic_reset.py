"""Optimistic auto-reset (envs.optimistic_reset): which fresh episode each ending copy starts, exactness
where it must be exact (one copy, ratio 1, per-copy params), nested vmaps, and Craftax's adapter."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.envs.cartpole import CartPole
from jaxrl.envs.optimistic_reset import optimistic_reset

B = 16


class OptimisticCartPole(CartPole):
    """CartPole whose auto-reset generates one fresh episode per `ratio` copies."""

    def __init__(self, ratio: int):
        self._auto_reset = optimistic_reset(self.reset_env, ratio)

    def auto_reset(self, done, key, params):
        return self._auto_reset(done, key, params)


def batched_auto_reset(env, done, keys, params):
    return jax.jit(jax.vmap(env.auto_reset, in_axes=(0, 0, None)))(done, keys, params)


def fresh_obs(keys, params):
    return jax.vmap(CartPole().reset_env, in_axes=(0, None))(keys, params)[0]


def test_ending_copies_take_fresh_episodes_in_turn():
    env = OptimisticCartPole(ratio=4)  # 16 copies -> 4 fresh episodes per step
    params = env.default_params
    keys = jax.random.split(jax.random.PRNGKey(0), B)
    fresh = fresh_obs(keys[:4], params)
    done = np.zeros(B, bool)
    done[[2, 5, 11]] = True  # fewer ending copies than fresh episodes: each its own
    obs, _ = batched_auto_reset(env, jnp.asarray(done), keys, params)
    np.testing.assert_array_equal(obs[np.array([2, 5, 11])], fresh[:3])
    assert len({tuple(np.asarray(o)) for o in obs[np.array([2, 5, 11])]}) == 3
    done[:] = False
    done[[0, 3, 4, 7, 8, 9]] = True  # more than 4 end together: the 5th and 6th share with the 1st and 2nd
    obs, _ = batched_auto_reset(env, jnp.asarray(done), keys, params)
    np.testing.assert_array_equal(obs[np.array([0, 3, 4, 7, 8, 9])], fresh[jnp.array([0, 1, 2, 3, 0, 1])])


def test_exact_for_one_copy_ratio_one_and_per_copy_params():
    params = CartPole().default_params
    keys = jax.random.split(jax.random.PRNGKey(1), B)
    done = jnp.arange(B) % 3 == 0
    exact = fresh_obs(keys, params)
    np.testing.assert_array_equal(batched_auto_reset(OptimisticCartPole(1), done, keys, params)[0], exact)
    one, _ = OptimisticCartPole(4).auto_reset(done[0], keys[0], params)
    np.testing.assert_array_equal(one, exact[0])
    # Per-copy params (domain randomisation): each copy's own reset with its own params.
    per_copy = jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (B,)), params)
    obs, _ = jax.vmap(OptimisticCartPole(4).auto_reset)(done, keys, per_copy)
    np.testing.assert_array_equal(obs, exact)


def test_steps_match_the_base_class_except_where_fresh_episodes_are_shared():
    """A 200-step rollout of 16 copies: with ratio 1 bit-identical to CartPole's own step; with ratio 4
    identical until the first episode ends, and every episode after starts from a CartPole reset."""
    params = CartPole().default_params

    def run(env):
        def body(carry, key):
            state, _ = carry
            keys = jax.random.split(key, B)
            action = jax.vmap(lambda k: jax.random.bernoulli(k).astype(jnp.int32))(keys)
            obs, state, reward, terminated, truncated, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                keys, state, action, params)
            return (state, obs), (obs, terminated | truncated)

        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(2), B), params)
        obs0 = jnp.zeros((B, 4))
        return jax.jit(lambda: jax.lax.scan(body, (state, obs0), jax.random.split(jax.random.PRNGKey(3), 200))[1])()

    base_obs, base_done = run(CartPole())
    exact_obs, _ = run(OptimisticCartPole(1))
    np.testing.assert_array_equal(exact_obs, base_obs)
    assert int(base_done.sum()) > 50
    shared_obs, shared_done = run(OptimisticCartPole(4))
    first_end = int(np.argmax(np.asarray(base_done).any(axis=1)))
    np.testing.assert_array_equal(shared_obs[: first_end + 1][~base_done[: first_end + 1]],
                                  base_obs[: first_end + 1][~base_done[: first_end + 1]])
    # Which fresh episode an ending copy takes differs from the base class, so trajectories diverge
    # after the first end; every start is a CartPole reset (each state entry in [-0.05, 0.05]).
    after = np.asarray(shared_obs)[np.asarray(shared_done)]
    assert after.shape[0] > 50 and np.all(np.abs(after) <= 0.05)


def test_members_of_a_population_reset_independently():
    """An outer vmap (population members) around the copies' vmap: member m equals the same run alone."""
    env = OptimisticCartPole(ratio=4)
    params = env.default_params
    keys = jax.random.split(jax.random.PRNGKey(4), (3, B))
    done = jax.random.bernoulli(jax.random.PRNGKey(5), 0.3, (3, B))
    inner = jax.vmap(env.auto_reset, in_axes=(0, 0, None))
    both, _ = jax.jit(jax.vmap(inner, in_axes=(0, 0, None)))(done, keys, params)
    for m in range(3):
        alone, _ = batched_auto_reset(env, done[m], keys[m], params)
        np.testing.assert_array_equal(both[m][done[m]], alone[done[m]])


def test_bad_ratio_is_one_clear_error():
    with pytest.raises(ValueError, match="reset_ratio must be a positive integer"):
        optimistic_reset(CartPole().reset_env, 0)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("craftax") is None, reason="craftax is not installed: pip install 'jaxrl[craftax]'")
def test_craftax_generates_one_world_per_ratio_copies():
    env, params = jaxrl.make("craftax:Craftax-Classic-Symbolic-v1", reset_ratio=8)
    assert env.reset_ratio == 8
    keys = jax.random.split(jax.random.PRNGKey(0), B)
    done = jnp.zeros(B, bool).at[jnp.array([1, 6, 9])].set(True)
    obs, state = jax.jit(jax.vmap(env.auto_reset, in_axes=(0, 0, None)))(done, keys, params)
    fresh, _ = jax.jit(jax.vmap(env.reset_env, in_axes=(0, None)))(keys[:2], params)
    np.testing.assert_array_equal(obs[jnp.array([1, 6, 9])], fresh[jnp.array([0, 1, 0])])
    assert int(state.time.max()) == 0
    with pytest.raises(ValueError, match="reset_ratio"):
        jaxrl.make("craftax:Craftax-Classic-Symbolic-v1", reset_ratio=-1)
