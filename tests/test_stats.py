"""jaxrl.stats estimates, stratified bootstrap intervals and profiles on hand-checked samples."""

import numpy as np
import pytest
import scipy.stats

from jaxrl import stats

RUNS_BY_TASK = np.array([[1.0, 2.0, 9.0], [3.0, 4.0, 9.0]])  # per-task means 2, 3, 9


def test_point_estimates_by_hand():
    assert stats.mean(RUNS_BY_TASK) == pytest.approx(28 / 6)
    assert stats.median(RUNS_BY_TASK) == pytest.approx(3.0)
    # 1..8 flattened: trim 2 from each end, mean of 3, 4, 5, 6
    assert stats.iqm(np.arange(1.0, 9.0).reshape(4, 2)) == pytest.approx(4.5)
    # min(., 1): 0.5, 1, 1, 0 -> mean 0.625
    assert stats.optimality_gap(np.array([[0.5, 1.5], [1.0, 0.0]])) == pytest.approx(0.375)
    assert stats.optimality_gap(np.array([[0.5, 1.5]]), gamma=2.0) == pytest.approx(1.0)
    np.testing.assert_allclose(stats.normalize([[5.0, 20.0]], [0.0, 10.0], [10.0, 30.0]), [[0.5, 0.5]])


@pytest.mark.parametrize("shape", [(10, 57), (7, 3), (5, 1), (3, 2)])
def test_iqm_matches_scipy_trim_mean(shape):
    scores = np.random.default_rng(0).normal(size=shape)
    assert stats.iqm(scores) == pytest.approx(scipy.stats.trim_mean(scores, 0.25, axis=None))


def test_estimators_batch_over_leading_axes():
    batch = np.random.default_rng(1).normal(size=(4, 6, 5))
    for estimator in (stats.mean, stats.median, stats.iqm, stats.optimality_gap):
        np.testing.assert_allclose(estimator(batch), [estimator(s) for s in batch])


def test_resample_is_stratified_by_task():
    scores = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    indices = np.array([[[0, 2], [0, 1], [1, 1]]])  # one resample: task 0 runs 0,0,1; task 1 runs 2,1,1
    np.testing.assert_array_equal(stats.resample(scores, indices)[0], [[1.0, 30.0], [1.0, 20.0], [2.0, 20.0]])
    drawn = stats.resample(scores, stats.stratified_indices(np.random.default_rng(0), 3, 2, 50))
    assert set(drawn[..., 0].ravel()) <= {1.0, 2.0, 3.0} and set(drawn[..., 1].ravel()) <= {10.0, 20.0, 30.0}


def test_percentile_interval_is_the_quantiles_of_the_resampled_estimates():
    scores = np.random.default_rng(2).normal(size=(6, 4))
    interval = stats.bootstrap_interval(scores, stats.iqm, reps=500, seed=3)
    indices = stats.stratified_indices(np.random.default_rng(3), 6, 4, 500)
    boot = np.array([stats.iqm(scores[i, np.arange(4)]) for i in indices])  # one resample at a time
    np.testing.assert_allclose([interval.lower, interval.upper], np.quantile(boot, [0.025, 0.975]))
    assert interval.point == stats.iqm(scores)


def test_percentile_interval_by_hand():
    # One task, runs 0 and 1: a resample's mean is 0, 0.5 or 1 with probability 1/4, 1/2, 1/4.
    interval = stats.bootstrap_interval(np.array([[0.0], [1.0]]), stats.mean, reps=2000, seed=0)
    assert (interval.point, interval.lower, interval.upper) == (0.5, 0.0, 1.0)
    one_run = stats.bootstrap_interval(np.array([[0.3, 0.7]]), stats.mean, seed=0)
    assert one_run.lower == one_run.upper == pytest.approx(0.5)


def test_bca_matches_scipy_on_one_task():
    sample = np.random.default_rng(4).exponential(size=25)  # skewed: BCa differs from percentile
    ours = stats.bootstrap_interval(sample[:, None], stats.mean, reps=40_000, method="bca", seed=5)
    theirs = scipy.stats.bootstrap((sample,), np.mean, n_resamples=40_000, method="BCa",
                                   rng=np.random.default_rng(6)).confidence_interval
    width = theirs.high - theirs.low
    assert abs(ours.lower - theirs.low) < 0.03 * width and abs(ours.upper - theirs.high) < 0.03 * width
    percentile = stats.bootstrap_interval(sample[:, None], stats.mean, reps=40_000, seed=5)
    assert ours.lower > percentile.lower  # right skew moves the BCa interval up


def test_interval_estimates_are_seeded_and_take_agents_with_different_runs():
    rng = np.random.default_rng(7)
    scores = {"a": rng.normal(size=(10, 5)), "b": rng.normal(size=(3, 5)) + 1}
    first = stats.interval_estimates(scores, stats.iqm, reps=300, seed=11)
    assert first == stats.interval_estimates(scores, stats.iqm, reps=300, seed=11)
    assert first != stats.interval_estimates(scores, stats.iqm, reps=300, seed=12)
    assert all(r.lower <= r.point <= r.upper for r in first.values())


def test_probability_of_improvement_by_hand():
    low, high = np.zeros((3, 2)), np.ones((4, 2))
    assert stats.probability_of_improvement(high, low) == 1.0
    assert stats.probability_of_improvement(low, high) == 0.0
    assert stats.probability_of_improvement(high, high) == 0.5
    # task 0: X = 1, 2 vs Y = 2, 0 -> pairs 0, 1, 1/2 (tie), 1 = 2.5 / 4; task 1: X above Y -> 1
    x, y = np.array([[1.0, 5.0], [2.0, 6.0]]), np.array([[2.0, 0.0], [0.0, 1.0]])
    assert stats.probability_of_improvement(x, y) == pytest.approx((0.625 + 1.0) / 2)
    u = scipy.stats.mannwhitneyu(x[:, 0], y[:, 0], alternative="greater").statistic
    assert u / 4 == pytest.approx(0.625)


def test_improvement_interval():
    rng = np.random.default_rng(8)
    clear = stats.improvement_interval(rng.normal(size=(5, 3)) + 10, rng.normal(size=(6, 3)), reps=200)
    assert clear == (1.0, 1.0, 1.0)
    x, y = rng.normal(size=(10, 4)) + 0.5, rng.normal(size=(8, 4))
    interval = stats.improvement_interval(x, y, reps=500, seed=1)
    assert interval.lower < interval.point < interval.upper and interval.point > 0.5
    bca = stats.improvement_interval(x, y, reps=500, method="bca", seed=1)
    assert bca.point == interval.point and bca.lower < bca.upper
    pairs = stats.improvement_intervals({"x": x, "y": y}, reps=500, seed=1)
    assert set(pairs) == {("x", "y"), ("y", "x")}
    assert pairs["x", "y"].point + pairs["y", "x"].point == pytest.approx(1.0)


def test_performance_profile_by_hand():
    scores = np.array([[0.1, 0.5], [0.9, 1.5]])
    taus = np.array([0.0, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(stats.score_distribution(scores, taus), [1.0, 0.5, 0.25, 0.0])
    profile = stats.performance_profiles({"a": scores}, taus, reps=400)["a"]
    np.testing.assert_allclose(profile.point, [1.0, 0.5, 0.25, 0.0])
    assert profile.lower.shape == profile.upper.shape == (4,)
    assert np.all(profile.lower <= profile.point) and np.all(profile.point <= profile.upper)
    assert profile.lower[0] == profile.upper[0] == 1.0 and profile.lower[-1] == profile.upper[-1] == 0.0


def test_sample_efficiency_curves_keep_runs_whole():
    rng = np.random.default_rng(9)
    scores = rng.normal(size=(6, 4, 3)) + np.arange(3)  # [runs, tasks, points]
    curve = stats.sample_efficiency_curves({"a": scores}, reps=300)["a"]
    np.testing.assert_allclose(curve.point, [stats.iqm(scores[..., p]) for p in range(3)])
    assert curve.lower.shape == (3,) and np.all(np.diff(curve.point) > 0)
    same_runs = np.repeat(scores[..., :1], 3, axis=-1)  # identical points -> identical bands
    band = stats.sample_efficiency_curves({"a": same_runs}, reps=300)["a"]
    assert np.all(band.lower == band.lower[0]) and np.all(band.upper == band.upper[0])


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="percentile"):
        stats.bootstrap_interval(np.ones((2, 2)), stats.mean, method="basic")
