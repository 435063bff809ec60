"""Observation encoders chosen by the observation space, and action masks (jaxrl.blocks.encoders,
jaxrl.blocks.action_masks): the choice rule, shapes, a CNN that learns, masks that are honoured."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.blocks.encoders import Encoder, choose_encoder
from jaxrl.blocks.exploration import epsilon_greedy
from jaxrl.config import ConfigError
from jaxrl.envs import check_env, spaces

IMAGE = spaces.Box(0, 255, (12, 12, 3), jnp.uint8)
VECTOR = spaces.Box(-1.0, 1.0, (5,))


def test_vectors_need_no_encoder_and_images_a_cnn():
    assert choose_encoder(VECTOR) is None
    assert choose_encoder(spaces.Box(0.0, 1.0, (4, 4))) is None  # matrices are flattened
    assert choose_encoder(IMAGE, encoder="flatten") is None
    spec = choose_encoder(IMAGE, cnn="minatar")
    (entry,) = spec.entries
    assert (entry.kind, entry.shape, entry.scale, spec.cnn) == ("image", (12, 12, 3), 255.0, "minatar")


def test_dict_entries_are_encoded_by_their_own_rule_in_key_order_and_the_mask_is_skipped():
    space = spaces.Dict({"pixels": IMAGE, "avail_actions": spaces.Box(0, 1, (3,), jnp.bool_),
                         "inventory": VECTOR, "room": spaces.Discrete(4)})
    spec = choose_encoder(space, cnn="minatar")
    assert [(e.key, e.kind) for e in spec.entries] == [("inventory", "vector"), ("pixels", "image"),
                                                       ("room", "onehot")]
    obs = {"pixels": jnp.zeros((2, 7, 12, 12, 3), jnp.uint8), "inventory": jnp.ones((2, 7, 5)),
           "room": jnp.zeros((2, 7), jnp.int32), "avail_actions": jnp.ones((2, 7, 3), bool)}
    params = jax.eval_shape(Encoder(spec).init, jax.random.key(0), obs)  # traced, not compiled
    features = jax.eval_shape(Encoder(spec).apply, params, obs)
    assert features.shape == (2, 7, 5 + 128 + 4)  # the CNN's 128 features between the vector and one-hot
    assert set(params["params"]) == {"cnn_pixels"}


@pytest.mark.parametrize("space, words", [
    (spaces.Box(0.0, 1.0, (2, 3, 4, 5)), "No observation encoder handles the observation"),
    (spaces.Box(0.0, 1.0, (10, 10, 4)), "cnn='nature' needs images of at least 36x36"),
    (spaces.Dict({"avail_actions": spaces.Box(0, 1, (3,), jnp.bool_)}), "no entry to encode"),
])
def test_spaces_no_encoder_handles_are_named(space, words):
    with pytest.raises(ValueError, match=words):
        choose_encoder(space, cnn="nature")


def test_dict_observation_probe_passes_check_env():
    check_env("ProbeMaskedActions-v0", num_envs=8, num_steps=8, check_x64=False)


def test_masked_epsilon_greedy_picks_only_available_actions():
    mask = jax.random.bernoulli(jax.random.key(0), 0.3, (4096, 6)).at[:, 2].set(True)
    q = jnp.broadcast_to(jnp.arange(6.0), (4096, 6))  # the greedy action 5 is often masked
    choose = jax.jit(epsilon_greedy)  # one compile: epsilon is traced
    for epsilon in (0.0, 0.5, 1.0):
        actions = choose(q, epsilon, jax.random.key(1), mask)
        assert bool(jnp.all(jnp.take_along_axis(mask, actions[:, None], axis=1)))
    explored = choose(q, 1.0, jax.random.key(2), mask)
    assert len(np.unique(np.asarray(explored))) == 6  # exploring reaches every action somewhere


def test_ppo_with_a_cnn_learns_from_images():
    result = jaxrl.train("ppo", "ProbeImageObsReward-v0", seeds=2, out=None, progress=False, config={
        "cnn": "minatar", "num_envs": 16, "num_steps": 8, "total_timesteps": 8192, "learning_rate": 3e-3,
        "hidden_sizes": [32]})
    np.testing.assert_allclose(result.final_eval_return, 1.0)  # the side of the lit block, every episode


NATURE = {"cnn": "nature", "env.size": 36, "num_envs": 16, "num_steps": 4, "learning_rate": 3e-3,
          "hidden_sizes": [32], "num_minibatches": 1, "num_logs": 1}


@pytest.mark.parametrize("algo, config", [
    ("ppo", {"total_timesteps": 256, "update_epochs": 2}),
    # PQN needs 64 updates: XLA's CPU convolution gradients inside the update loop make that ~15 s
    pytest.param("pqn", {"total_timesteps": 1024, "update_epochs": 1}, marks=pytest.mark.slow),
])
def test_nature_cnn_learns_from_36x36_images(algo, config):
    """The Nature CNN (8x8/4, 4x4/2, 3x3/1 convs) on its smallest image: the lit block's side, every episode."""
    result = jaxrl.train(algo, "ProbeImageObsReward-v0", seeds=1, out=None, progress=False,
                         config={**NATURE, **config})
    np.testing.assert_allclose(result.final_eval_return, 1.0)


def test_an_image_too_small_for_the_cnn_is_a_config_error_before_compiling():
    with pytest.raises(ConfigError, match=r"cnn='nature' needs images of at least 36x36, but the observation is 6x6"):
        jaxrl.train("ppo", "ProbeImageObsReward-v0", out=None, progress=False, config={"cnn": "nature"})
    env, _ = jaxrl.make("ProbeImageObsReward-v0", size=36)
    assert env.observation_space().shape == (36, 36, 1)
    with pytest.raises(ValueError, match="an even int >= 6"):
        jaxrl.make("ProbeImageObsReward-v0", size=7)


REPLAY = {"num_envs": 4, "total_timesteps": 256, "learning_starts": 32, "batch_size": 16, "gradient_steps": 1}


@pytest.mark.parametrize("algo, config", [
    ("ppo", {"num_envs": 16, "num_steps": 4, "total_timesteps": 512}),
    ("pqn", {"num_envs": 16, "num_steps": 4, "total_timesteps": 512}),
    pytest.param("dqn", REPLAY, marks=pytest.mark.slow),  # the masked epsilon-greedy of PQN, a replay buffer
    pytest.param("sac", REPLAY, marks=pytest.mark.slow),  # discrete SAC: masked actor and warm-up
])
def test_masked_actions_are_never_taken(algo, config):
    """An unavailable action costs -10: every episode, exploring from the first step, scores 1."""
    result = jaxrl.train(algo, "ProbeMaskedActions-v0", seeds=1, out=None, progress=False,
                         config={**config, "num_logs": 4})
    returns = [row["episode_return"] for row in result.metrics if row.get("episode_return") is not None]
    assert returns and np.allclose(returns, 1.0), returns
    np.testing.assert_allclose(result.final_eval_return, 1.0)
