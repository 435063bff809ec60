"""Contextual RL: the contextual env, per-member contexts in one program, the generalisation matrix,
task-selection strategies (MBTL's GP and gap) and the CLI's checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.cli import main
from jaxrl.contextual.matrix import MatrixResult, load_matrix, save_matrix, train_matrix
from jaxrl.contextual.report import make_report, strategy_curves
from jaxrl.contextual.space import context_space
from jaxrl.contextual.strategies import aggregate_curve, gap_slope, gp_posterior, greedy_order, mbtl_order
from jaxrl.envs import make
from jaxrl.envs.contextual import ContextualEnv


def test_fixed_context_steps_like_the_env_with_those_params() -> None:
    env, params = make("CartPole-v1")
    cenv = ContextualEnv(env, ("length", "masspole"))
    cparams = cenv.params_for(params, low=[1.5, 0.3], high=[1.5, 0.3])
    obs, state = cenv.reset(jax.random.key(0), cparams)
    np.testing.assert_allclose(state.context, [1.5, 0.3])
    plain = params.replace(length=1.5, masspole=0.3)
    step, cstep = jax.jit(env.step), jax.jit(cenv.step)
    for t in range(5):
        expected = step(jax.random.key(t), state.env_state, 1, plain)
        obs, state, reward, terminated, truncated, _ = cstep(jax.random.key(t), state, 1, cparams)
        np.testing.assert_allclose(obs, expected[0], rtol=1e-6)
        assert float(reward) == float(expected[2]) and not bool(terminated | truncated)


def test_randomised_context_is_drawn_per_episode_and_kept_within_it() -> None:
    env, params = make("CartPole-v1")
    cenv = ContextualEnv(env, ("length",))
    cparams = cenv.params_for(params.replace(max_steps_in_episode=5), low=[0.2], high=[2.0])
    step = jax.jit(cenv.step)
    _, state = cenv.reset(jax.random.key(1), cparams)
    contexts, key = [], jax.random.key(2)
    for _ in range(40):
        key, sub = jax.random.split(key)
        previous = state.context
        _, state, _, terminated, truncated, _ = step(sub, state, 0, cparams)
        if not bool(terminated | truncated):
            np.testing.assert_array_equal(state.context, previous)  # same dynamics within an episode
        contexts.append(float(state.context[0]))
    distinct = np.unique(contexts)
    assert len(distinct) >= 8 and distinct.min() >= 0.2 and distinct.max() <= 2.0


def test_contextual_env_passes_check_env() -> None:
    from jaxrl.envs import check_env

    env, params = make("CartPole-v1")
    cenv = ContextualEnv(env, ("length",))
    report = check_env(cenv, cenv.params_for(params, [0.2], [2.0]), num_steps=16, num_envs=8, check_x64=False)
    assert {"jit", "vmap", "determinism", "truncation", "final_observation"} <= set(report.passed), report  # raises on a failure


@pytest.fixture(scope="module")
def tiny_matrix() -> MatrixResult:
    space = context_space("CartPole-v1", ["length=0.2:1.5:2"])
    return train_matrix("ppo", space, seeds=2, total_timesteps=2048, eval_episodes=4, out=None, progress=False,
                        config={"num_envs": 8, "num_steps": 16, "num_logs": 1})


def test_matrix_trains_every_context_in_one_program(tiny_matrix) -> None:
    m = tiny_matrix
    assert m.summary["num_compiles"] == 1 and m.summary["num_members"] == 2 * 2 + 2
    assert m.returns.shape == (2, 2, 2) and m.multitask.shape == (2, 2)
    assert np.all(m.returns >= 1) and np.all(m.returns <= 500)
    # Round trip: the matrix's diagonal is each source member's own final evaluation (same episodes).
    own = np.asarray(m.train.summary["final_eval_return"][:4]).reshape(2, 2).T  # [seeds, sources]
    np.testing.assert_allclose(np.diagonal(m.returns, axis1=1, axis2=2), own, rtol=1e-6)


def test_matrix_directory_round_trip_and_select_cli(tiny_matrix, tmp_path, capsys) -> None:
    save_matrix(tiny_matrix, tmp_path)
    loaded = load_matrix(tmp_path)
    np.testing.assert_array_equal(loaded.returns, tiny_matrix.returns)
    assert loaded.space == tiny_matrix.space
    assert main(["contextual", "select", str(tmp_path), "--strategy", "all", "--budget", "2"]) == 0
    out = capsys.readouterr().out
    assert "mbtl seed 0: length=" in out and "independent (2 trained)" in out


def _ideal(n: int = 16, slope: float = 1.0, peak: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic matrix: set point 1 - (x - peak)^2, gap linear in |x - x'|."""
    x = np.linspace(0, 1, n)
    return (1 - (x - peak) ** 2)[:, None] - slope * np.abs(x[:, None] - x[None, :]), x[:, None]


def test_greedy_is_the_oracle_and_curves_never_fall() -> None:
    matrix, points = _ideal()
    order = greedy_order(matrix, 16)
    curve = aggregate_curve(matrix, order)
    assert curve[0] == max(aggregate_curve(matrix, [s])[0] for s in range(16))
    assert np.all(np.diff(curve) >= -1e-12) and curve[-1] == pytest.approx(np.max(matrix, axis=0).mean())


def test_mbtl_starts_in_the_centre_and_nears_the_oracle() -> None:
    matrix, points = _ideal()
    order = mbtl_order(matrix, points, 4)
    assert order[0] in (7, 8) and len(set(order.tolist())) == 4
    oracle = aggregate_curve(matrix, greedy_order(matrix, 4))
    rng = np.random.default_rng(0)
    random = np.mean([aggregate_curve(matrix, rng.permutation(16)[:4]) for _ in range(200)], axis=0)
    mbtl = aggregate_curve(matrix, order)
    assert mbtl[-1] >= random[-1] and mbtl[-1] >= oracle[-1] - 0.02


def test_gap_slope_and_gp_recover_what_generated_the_data() -> None:
    matrix, points = _ideal(slope=0.7)
    dist = np.abs(points - points.T)
    assert gap_slope(matrix[[3, 12]], np.array([3, 12]), dist) == pytest.approx(0.7, rel=1e-6)
    x = np.linspace(0, 1, 6)[:, None]
    y = np.sin(3 * x[:, 0])
    mean, std = gp_posterior(x, y, x)
    np.testing.assert_allclose(mean, y, atol=0.05)
    far_mean, far_std = gp_posterior(x, y, np.array([[3.0]]))
    assert far_std[0] > 5 * std.max()


def test_report_has_every_strategy_with_intervals() -> None:
    matrix, _ = _ideal(n=6)
    space = context_space("CartPole-v1", ["length=0.2:1.2:6"])
    noisy = matrix[None] + np.random.default_rng(0).normal(0, 0.01, (3, 6, 6))
    result = MatrixResult(space, noisy, noisy.mean(axis=1), [0, 1, 2], {})
    report = make_report(result, budget=4, random_orders=20)
    assert set(report["strategies"]) == {"greedy", "random", "mbtl"} and report["budget"] == 4
    for s in report["strategies"].values():
        assert np.all(np.asarray(s["lower"]) <= np.asarray(s["mean"]) + 1e-9)
        assert np.all(np.asarray(s["mean"]) <= np.asarray(s["upper"]) + 1e-9)
    assert strategy_curves(result, 4, random_orders=5)["greedy"].shape == (3, 4)


@pytest.mark.parametrize("context, message", [
    ("lenght=0.1:2:16", "no field 'lenght'. Did you mean length?"),
    ("length=2:1:16", "is an empty range"),
    ("length=1:2:0", "is an empty range"),
    ("length=-1:1:16", "goes outside what CartPole-v1 accepts: CartPole-v1: length must be in (0, inf)"),
    ("max_steps_in_episode=1:2:3", "cannot vary as a context"),
])
def test_bad_contexts_exit_2_with_one_paragraph(context, message, capsys) -> None:
    assert main(["contextual", "matrix", "ppo", "--env", "CartPole-v1", "--context", context]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_context_that_changes_a_space_is_refused() -> None:
    from jaxrl.config import ConfigError

    with pytest.raises(ConfigError, match="changes its action space"):
        context_space("Pendulum-v1", ["max_torque=1:3:4"])
    space = context_space("Pendulum-v1", ["m=4", "l=3"])  # presets, 2-D
    assert space.grid.shape == (12, 2) and space.unit_grid().min() == 0 and space.unit_grid().max() == 1


def test_contexts_are_traced_member_inputs() -> None:
    """Members of one population on different contexts: one program, each member's own dynamics."""
    from jaxrl.config import resolve, with_members
    from jaxrl.population import WithContext, member_inputs

    resolved = with_members(resolve("ppo", "CartPole-v1"), [0, 0], [{}, {}])
    import dataclasses

    resolved = dataclasses.replace(resolved, member_contexts=({"low": [0.5], "high": [0.5]},
                                                              {"low": [1.0], "high": [1.0]}))
    _, hparams = member_inputs(resolved)
    assert isinstance(hparams, WithContext)
    np.testing.assert_array_equal(hparams.context["low"], jnp.asarray([[0.5], [1.0]], jnp.float32))


@pytest.mark.slow
@pytest.mark.parametrize("algo, env, contexts, config", [
    ("dqn", "CartPole-v1", ["length=0.2:1.5:2"], {"learning_starts": 256}),
    ("pqn", "CartPole-v1", ["length=0.2:1.5:2"], {}),
    ("sac", "Pendulum-v1", ["m=0.5:2.0:2"], {"learning_starts": 256}),
    ("td3", "Pendulum-v1", ["l=0.5:2.0:2"], {"learning_starts": 256}),
    ("ppo", "Acrobot-v1", ["link_mass_1=0.5:1.5:2", "link_length_1=0.5:1.5:2"], {"num_steps": 32}),  # 2-D: 4 contexts
])
def test_every_algorithm_trains_contexts_in_one_program(algo, env, contexts, config) -> None:
    m = train_matrix(algo, context_space(env, contexts), seeds=2, total_timesteps=1024, eval_episodes=2,
                     out=None, progress=False, config={"num_logs": 1, **config})
    n = 2 ** len(contexts)
    assert m.summary["num_compiles"] == 1 and m.returns.shape == (2, n, n) and np.all(np.isfinite(m.returns))
    own = np.asarray(m.train.summary["final_eval_return"][: 2 * n]).reshape(n, 2).T
    np.testing.assert_allclose(np.diagonal(m.returns, axis1=1, axis2=2), own, rtol=1e-5)


@pytest.mark.slow
def test_ppo_learns_every_pole_length_and_mbtl_beats_random() -> None:
    m = train_matrix("ppo", context_space("CartPole-v1", ["length=0.1:2.0:6"]), seeds=2, out=None, progress=False)
    assert np.mean(np.diagonal(m.returns, axis1=1, axis2=2)) >= 450  # tuned PPO solves (nearly) every context
    report = make_report(m, random_orders=50)
    mbtl, random = report["strategies"]["mbtl"]["mean"], report["strategies"]["random"]["mean"]
    assert mbtl[1] >= random[1] and report["strategies"]["greedy"]["mean"][-1] == pytest.approx(mbtl[-1])
