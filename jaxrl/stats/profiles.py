"""Performance profiles and sample-efficiency curves with stratified bootstrap bands (rliable)."""

from collections.abc import Mapping

import numpy as np

from jaxrl.stats.bootstrap import Estimator, Interval, Method, Seed, interval_estimates
from jaxrl.stats.estimates import iqm

__all__ = ["score_distribution", "performance_profiles", "sample_efficiency_curves"]


def score_distribution(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Fraction of all runs x tasks scores above each threshold: ``[..., runs, tasks]``, ``[T]`` -> ``[..., T]``."""
    return np.mean(np.asarray(scores)[..., None] > np.asarray(taus), axis=(-3, -2))


def performance_profiles(scores: Mapping[str, np.ndarray], taus: np.ndarray, reps: int = 2000,
                         confidence: float = 0.95, method: Method = "percentile",
                         seed: Seed = 0) -> dict[str, Interval]:
    """Run-score distribution of each agent's ``[runs, tasks]`` scores at ``taus`` ``[T]``.

    Returns per agent an ``Interval`` whose ``point``, ``lower`` and ``upper`` are ``[T]``.
    """
    taus = np.asarray(taus, float)
    return interval_estimates(scores, lambda s: score_distribution(s, taus), reps, confidence, method, seed)


def sample_efficiency_curves(scores: Mapping[str, np.ndarray], estimator: Estimator = iqm, reps: int = 2000,
                             confidence: float = 0.95, method: Method = "percentile",
                             seed: Seed = 0) -> dict[str, Interval]:
    """``estimator`` (IQM by default) at each training point, from scores ``[runs, tasks, points]``.

    A resample keeps each run whole across points. Returns per agent an ``Interval`` of
    ``[points]`` arrays. Memory: ``reps * runs * tasks * points`` floats per agent.
    """

    def per_point(resampled: np.ndarray) -> np.ndarray:
        return estimator(np.moveaxis(resampled, -1, -3))

    return interval_estimates(scores, per_point, reps, confidence, method, seed)
