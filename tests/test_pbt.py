"""Population-based training: the host-side exploit/explore step, the state copy, a whole PBT sweep."""

from __future__ import annotations

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.config import ConfigError
from jaxrl.pbt import PBT, exploit_and_explore
from jaxrl.sweeps import sweep
from jaxrl.population import copy_members

BASE = {"num_envs": 4, "num_steps": 20, "num_minibatches": 2, "update_epochs": 2, "num_logs": 4,
        "eval_episodes": 8}
STEPS = 4 * 20 * 8


def test_bottom_members_copy_top_members_and_perturb_swept_settings():
    hparams = [{"learning_rate": 1e-3 * (i + 1), "gamma": 0.99, "ent_coef": 0.01} for i in range(8)]
    scores = np.array([5.0, 1.0, 7.0, 0.0, 3.0, 6.0, 2.0, 4.0])
    sources, new = exploit_and_explore(scores, hparams, ["learning_rate", "gamma"], 0.25, 0.2,
                                       np.random.default_rng(0), valid=lambda v: v["gamma"] <= 1.0)
    assert [i for i in range(8) if sources[i] != i] == [1, 3]  # the two worst members
    for loser in (1, 3):
        winner = sources[loser]
        assert winner in (2, 5)  # the two best members
        ratio = new[loser]["learning_rate"] / hparams[winner]["learning_rate"]
        assert ratio == pytest.approx(0.8) or ratio == pytest.approx(1.2)
        assert new[loser]["gamma"] in (0.99 * 0.8, 0.99)  # x1.2 would exceed 1: kept
        assert new[loser]["ent_coef"] == 0.01  # not swept: copied unchanged
    assert all(new[i] == hparams[i] for i in range(8) if i not in (1, 3))


def test_copy_members_copies_state_and_gives_copies_a_new_rng_stream():
    state = {"w": jnp.arange(4.0)[:, None] * jnp.ones((4, 3)), "key": jax.vmap(jax.random.key)(jnp.arange(4))}
    copied = copy_members(state, [0, 3, 2, 3], step=100, size=4)
    np.testing.assert_array_equal(copied["w"][:, 0], [0.0, 3.0, 2.0, 3.0])
    data, original = np.asarray(jax.random.key_data(copied["key"])), np.asarray(jax.random.key_data(state["key"]))
    np.testing.assert_array_equal(data[[0, 2, 3]], original[[0, 2, 3]])  # kept members: unchanged
    assert not np.array_equal(data[1], original[3])  # the copy does not replay its source's randomness


@pytest.mark.parametrize("step", [1, 2, 3])
def test_a_copys_key_is_none_of_the_keys_its_source_draws_next(step):
    """fold_in(k, i) == split(k, n)[i]: the copy's stream must not be a subkey of the source's update."""
    state = {"key": jax.vmap(jax.random.key)(jnp.arange(2))}
    copied = np.asarray(jax.random.key_data(copy_members(state, [0, 0], step=step, size=2)["key"]))[1]
    source_subkeys = np.asarray(jax.random.key_data(jax.random.split(state["key"][0], 4)))
    assert not any(np.array_equal(copied, k) for k in source_subkeys)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(grid={"num_envs": [4, 8]}), "static groups"),
        (dict(grid={"num_epochs_typo": [1]}), "Unknown setting"),
        (dict(grid={"update_epochs": [1, 2]}), "static groups"),
        (dict(random=2, ranges={"learning_rate": "1e-4:1e-2"}, seeds=1), "needs at least 4 members"),
    ],
)
def test_bad_pbt_sweeps_fail_before_compiling(kwargs, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        sweep("ppo", "CartPole-v1", config=BASE, total_timesteps=STEPS, out=tmp_path, progress=False,
              pbt=PBT(), **kwargs)


def test_pbt_sweep_evolves_traced_settings_in_one_program(tmp_path):
    result = sweep("ppo", "CartPole-v1", random=4, ranges={"learning_rate": "1e-4:1e-2:log"}, seeds=2,
                   config=BASE, total_timesteps=STEPS, out=tmp_path, name="pbt", progress=False,
                   pbt=PBT(fraction=0.25, perturb=0.2))
    assert result.summary["num_groups"] == 1 and result.summary["num_compiles"] <= 1
    with open(tmp_path / "pbt" / "lineage.csv") as f:
        lineage = list(csv.DictReader(f))
    events = sorted({int(r["step"]) for r in lineage})
    assert len(events) == 3  # after every logged point but the last
    assert len(lineage) == 3 * 8
    copies = [r for r in lineage if r["member"] != r["parent"]]
    assert len(copies) == 3 * 2  # fraction 0.25 of 8 members, every event
    config = json.loads((tmp_path / "pbt" / "groups" / "group-00" / "config.json").read_text())
    initial = [m["learning_rate"] for m in config["member_hparams"]]  # as the run started
    final = [r["learning_rate"] for r in result.rows]
    copied = {int(r["member"]) for r in copies}
    assert any(final[m] != pytest.approx(initial[m]) for m in copied)
    assert all(final[m] == pytest.approx(initial[m]) for m in range(8) if m not in copied)
    # Every member is ranked on its own: its settings evolved.
    assert len(result.ranking) == 8 and all(r["seeds"] == 1 for r in result.ranking)
