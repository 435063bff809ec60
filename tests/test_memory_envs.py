"""Memory envs: the POPGym-style card tasks (envs/memory.py) and the velocity-masked classic control
envs (envs/partially_observed.py, wrappers.MaskObservation).

check_env (jit, vmap, determinism, spaces, auto-reset) and the direct contract test run on every
registered name in tests/test_check_env.py and tests/test_env_contract.py; this file checks what is
specific to these envs: the scoring rule against an oracle that answers from the observation
history, the chance level of memoryless policies (Monte Carlo against the stated expectations), and
that a -po env observes exactly the full env's kept entries under the same keys and actions, episode
ends included (check_env skips its auto-reset comparison for wrappers; this covers it).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.envs import spaces
from jaxrl.envs.core import Environment, EnvParams
from jaxrl.envs.memory import CountRecall, RepeatFirst, RepeatPrevious
from jaxrl.envs.wrappers import MaskObservation

TASKS = ("RepeatPrevious", "RepeatFirst", "CountRecall")
LEVELS = ("easy", "medium", "hard")
MEMORY_NAMES = [f"{task}-{level}" for task in TASKS for level in LEVELS]
PO = {  # -po name -> (full env, indices kept)
    "CartPole-v1-po": ("CartPole-v1", (0, 2)),
    "Pendulum-v1-po": ("Pendulum-v1", (0, 1)),
    "MountainCar-v0-po": ("MountainCar-v0", (0,)),
    "Acrobot-v1-po": ("Acrobot-v1", (0, 1, 2, 3)),
}


def test_names_are_registered_and_named() -> None:
    """Registered, so the contract tests and check_env run on them; each env reports its name."""
    assert set(MEMORY_NAMES) | set(PO) <= set(jaxrl.envs.registered_names())
    for name in [*MEMORY_NAMES, *PO]:
        assert jaxrl.make(name)[0].name == name


# ------------------------------------------------------------------------------ rollouts
# Short rollouts, so compile time dominates: skip XLA's LLVM optimisations on CPU (as check_env does).
FAST_COMPILE = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None


def rollout(env, params, policy, carry, keys: jax.Array, num_steps: int) -> dict:
    """One episode per key of `keys` (`[N]`), vmapped, `num_steps` steps from reset. `carry`: the
    policy's state per episode (leading axis N); `policy(carry, obs, key) -> (carry, action)` for one
    copy. Returns `[N, num_steps]` arrays (obs `[N, num_steps, obs_dim]`: what each action saw)."""

    def episode(key, carry):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params)

        def body(c, k):
            obs, state, carry = c
            k_act, k_step = jax.random.split(k)
            carry, action = policy(carry, obs, k_act)
            next_obs, state, reward, terminated, truncated, _ = env.step(k_step, state, action, params)
            out = dict(obs=obs, action=action, reward=reward, terminated=terminated, truncated=truncated)
            return (next_obs, state, carry), out

        return jax.lax.scan(body, (obs, state, carry), jax.random.split(k_run, num_steps))[1]

    return jax.device_get(jax.jit(jax.vmap(episode), compiler_options=FAST_COMPILE)(keys, carry))


def oracle_target(env, history: jax.Array, t: jax.Array) -> jax.Array:
    """The correct answer at step t from the observations `history[:t + 1]` (`[episode_length, obs_dim]`)."""
    if isinstance(env, RepeatPrevious):
        return jnp.argmax(history[jnp.maximum(t - env.k, 0), : env.num_suits]).astype(jnp.int32)
    if isinstance(env, RepeatFirst):
        return jnp.argmax(history[0, : env.num_suits]).astype(jnp.int32)
    d = env.num_values
    seen = jnp.arange(history.shape[0]) <= t
    counts = jnp.sum(jnp.where(seen[:, None], history[:, :d], 0.0), axis=0).astype(jnp.int32)
    return jnp.minimum(counts[jnp.argmax(history[t, d:])], env.num_actions - 1)


def oracle(env, offsets) -> tuple:
    """A policy answering `target + offset` (mod num_actions) from the observation history it carries,
    and its initial carry, one episode per offset."""

    def policy(carry, obs, key):
        offset, t, history = carry
        history = history.at[t].set(obs)
        action = (oracle_target(env, history, t) + offset) % env.num_actions
        return (offset, t + 1, history), action

    n = len(offsets)
    carry = (jnp.asarray(offsets, jnp.int32), jnp.zeros(n, jnp.int32),
             jnp.zeros((n, env.episode_length, env.obs_dim), jnp.float32))
    return policy, carry


def scored_steps(env) -> np.ndarray:
    """bool `[episode_length]`: which steps' actions are scored."""
    first = env.k if isinstance(env, RepeatPrevious) else 1 if isinstance(env, RepeatFirst) else 0
    return np.arange(env.episode_length) >= first


# ------------------------------------------------------------------------------ scoring rule
@pytest.mark.parametrize("name", MEMORY_NAMES)
def test_oracle_scores_one_and_its_opposite_minus_one(name: str) -> None:
    env, params = jaxrl.make(name)
    length, scored, n = env.episode_length, scored_steps(env), 32
    policy, carry = oracle(env, [0] * n + [1] * n)  # right answers, then wrong ones
    traj = rollout(env, params, policy, carry, jax.random.split(jax.random.key(0), 2 * n), length)
    for rows, expected in ((slice(0, n), 1.0), (slice(n, 2 * n), -1.0)):
        reward = traj["reward"][rows]
        np.testing.assert_allclose(reward.sum(1), expected, atol=1e-4)
        np.testing.assert_allclose(reward[:, scored], expected / scored.sum(), rtol=1e-6)
        assert (reward[:, ~scored] == 0).all()
    # The episode terminates (and, with the default limit, truncates) after exactly episode_length steps.
    assert traj["terminated"][:, -1].all() and not traj["terminated"][:, :-1].any()
    assert traj["truncated"][:, -1].all() and not traj["truncated"][:, :-1].any()
    if isinstance(env, (RepeatPrevious, RepeatFirst)):  # the flag says which steps are scored
        np.testing.assert_array_equal(traj["obs"][:, :, -1], np.broadcast_to(scored, (2 * n, length)))


@pytest.mark.parametrize("name", [f"{task}-easy" for task in TASKS])
def test_same_key_same_episode_other_key_other_cards(name: str) -> None:
    env, params = jaxrl.make(name)
    keys = jnp.concatenate([jax.random.split(jax.random.key(3), 8)] * 2 + [jax.random.split(jax.random.key(4), 8)])
    policy, carry = oracle(env, [0] * 24)
    traj = rollout(env, params, policy, carry, keys, 40)  # 40 steps: episodes end and restart
    for x in jax.tree.leaves(traj):
        np.testing.assert_array_equal(x[:8], x[8:16])
    assert not np.array_equal(traj["obs"][:8], traj["obs"][16:])


# ------------------------------------------------------------------------------ memoryless policies
def always_zero_expectation(env) -> float:
    if isinstance(env, CountRecall):  # right when the query's value has not been dealt: (1 - p)^(t + 1)
        p = 1.0 / env.num_values
        return 2.0 * sum((1 - p) ** (t + 1) for t in range(env.episode_length)) / env.episode_length - 1.0
    return 2.0 / env.num_suits - 1.0


def memoryless_policies(env) -> dict:
    """Name -> (action(obs, key), expected return) for policies that see only the current observation."""
    n = env.num_actions
    policies = {
        "always 0": (lambda obs, k: jnp.int32(0), always_zero_expectation(env)),
        "uniform random": (lambda obs, k: jax.random.randint(k, (), 0, n, jnp.int32), 2.0 / n - 1.0),
    }
    if not isinstance(env, CountRecall):  # every memoryless policy gets chance, whatever it reads
        policies["the card shown"] = (lambda obs, k: jnp.argmax(obs[:n]).astype(jnp.int32), env.memoryless_return())
        policies["the next suit"] = (lambda obs, k: ((jnp.argmax(obs[:n]) + 1) % n).astype(jnp.int32),
                                     env.memoryless_return())
    return policies


@pytest.mark.parametrize("name", [*(f"{task}-easy" for task in TASKS), "RepeatPrevious-medium", "CountRecall-hard"])
def test_memoryless_policies_get_the_stated_expectation(name: str) -> None:
    env, params = jaxrl.make(name)
    policies, n = memoryless_policies(env), 4096
    branches = [act for act, _ in policies.values()]

    def policy(index, obs, key):  # the episode's policy, chosen by the index it carries
        return index, jax.lax.switch(index, branches, obs, key)

    index = jnp.repeat(jnp.arange(len(policies), dtype=jnp.int32), n)
    keys = jax.random.split(jax.random.key(10), len(index))
    returns = rollout(env, params, policy, index, keys, env.episode_length)["reward"].sum(1).reshape(-1, n)
    for (what, (_, expected)), r in zip(policies.items(), returns):
        assert abs(r.mean() - expected) < 4 * r.std() / np.sqrt(n), (what, r.mean(), expected)
        assert expected <= env.memoryless_return() + 1e-9


@pytest.mark.parametrize("name", [f"CountRecall-{level}" for level in LEVELS])
def test_count_recall_best_memoryless_return(name: str) -> None:
    """The best answer per match / mismatch, estimated from oracle episodes, matches
    `memoryless_return()`, and playing those answers gets it. (The count beyond the current card is
    Binomial(t, p) whatever the observation, so no other memoryless policy does better.)"""
    env, params = jaxrl.make(name)
    length, d = env.episode_length, env.num_values
    n = max(512, 32768 // length)
    policy, carry = oracle(env, [0] * n)
    traj = rollout(env, params, policy, carry, jax.random.split(jax.random.key(1), n), length)
    match = (traj["obs"][..., :d].argmax(-1) == traj["obs"][..., d:].argmax(-1)).astype(int)
    hits = np.zeros((2, env.num_actions))  # [mismatch / match, answer]
    np.add.at(hits, (match.ravel(), traj["action"].ravel()), 1.0)  # the oracle's answers are the targets
    estimate = 2.0 * hits.max(1).sum() / (n * length) - 1.0
    assert abs(estimate - env.memoryless_return()) < 0.02, (estimate, env.memoryless_return())

    best = jnp.asarray(hits.argmax(1), jnp.int32)

    def play(carry, obs, key):
        return carry, best[(jnp.argmax(obs[:d]) == jnp.argmax(obs[d:])).astype(jnp.int32)]

    n = 4096
    returns = rollout(env, params, play, jnp.zeros(n), jax.random.split(jax.random.key(2), n), length)["reward"].sum(1)
    assert abs(returns.mean() - env.memoryless_return()) < 4 * returns.std() / np.sqrt(n) + 1e-3


def test_stated_memoryless_returns() -> None:
    """The figures in the docstrings."""
    for level, value in zip(LEVELS, (-0.505, -0.822, -0.741)):
        assert round(CountRecall(**CountRecall.PRESETS[level]).memoryless_return(), 3) == value
    for cls in (RepeatPrevious, RepeatFirst):
        assert all(cls(**preset).memoryless_return() == -0.5 for preset in cls.PRESETS.values())


# ------------------------------------------------------------------------------ sizes and names
def test_sizes_from_make_and_validation() -> None:
    env, params = jaxrl.make("RepeatPrevious-easy", k=3, episode_length=51)  # POPGym's Easy
    assert (env.k, env.episode_length, params.max_steps_in_episode) == (3, 51, 51)
    assert env.name == "RepeatPrevious(num_suits=4, k=3, episode_length=51)"
    env, params = jaxrl.make("CountRecall-hard", max_steps_in_episode=10)  # a param, not a size
    assert env.name == "CountRecall-hard" and params.max_steps_in_episode == 10
    assert env.observation_space(params).shape == (26,) and env.action_space(params) == spaces.Discrete(16)
    for bad in (dict(k=0), dict(k=16), dict(num_suits=1)):
        with pytest.raises(ValueError, match="RepeatPrevious needs"):
            jaxrl.make("RepeatPrevious-easy", **bad)
    with pytest.raises(ValueError, match="episode_length >= 2"):
        RepeatFirst(episode_length=1)
    with pytest.raises(ValueError, match="num_actions >= 2"):
        CountRecall(num_actions=1)


# ------------------------------------------------------------------------------ velocity-masked envs
@pytest.mark.parametrize("name", PO)
def test_po_observes_the_full_envs_kept_entries(name: str) -> None:
    full_name, keep = PO[name]
    env, params = jaxrl.make(name, max_steps_in_episode=7)  # short episodes: several ends per copy
    full, full_params = jaxrl.make(full_name, max_steps_in_episode=7)
    space, full_space = env.observation_space(params), full.observation_space(full_params)
    assert space == spaces.Box(full_space.low[list(keep)], full_space.high[list(keep)], (len(keep),), jnp.float32)
    assert env.action_space(params) == full.action_space(full_params)

    def run(env, params, keys):
        act = env.action_space(params)

        def program(keys):
            obs, state = jax.vmap(env.reset, (0, None))(keys[0], params)

            def body(state, k):
                action = jax.vmap(act.sample)(k[0])
                obs, state, reward, terminated, truncated, info = jax.vmap(env.step, (0, 0, 0, None))(
                    k[1], state, action, params)
                return state, (obs, info["final_observation"], reward, terminated, truncated, state)

            return obs, jax.lax.scan(body, state, keys[1])[1]

        return jax.device_get(jax.jit(program, compiler_options=FAST_COMPILE)(keys))

    keys = (jax.random.split(jax.random.key(5), 8), jax.random.split(jax.random.key(6), (20, 2, 8)))
    obs0, (obs, final, *rest) = run(env, params, keys)
    full_obs0, (f_obs, f_final, *f_rest) = run(full, full_params, keys)
    assert obs0.shape == (8, len(keep)) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs0, full_obs0[..., keep])
    np.testing.assert_array_equal(obs, f_obs[..., keep])
    np.testing.assert_array_equal(final, f_final[..., keep])  # final_observation masked too
    for a, b in zip(jax.tree.leaves(rest), jax.tree.leaves(f_rest)):  # rewards, flags, states: unchanged
        np.testing.assert_array_equal(a, b)
    done = rest[1] | rest[2]
    assert done.sum() >= 16 and not np.array_equal(final[done], obs[done])  # ends were crossed


def test_mask_observation_rejects_bad_indices() -> None:
    env, _ = jaxrl.make("CartPole-v1")
    for keep in ((), (4,), (-1,), (0, 0)):
        with pytest.raises(ValueError, match="distinct indices in"):
            MaskObservation(env, keep)

    class DiscreteObs(Environment):
        default_params = EnvParams()

        def observation_space(self, params):
            return spaces.Discrete(3)

    with pytest.raises(TypeError, match="1-D Box"):
        MaskObservation(DiscreteObs(), (0,))
