"""Stratified bootstrap confidence intervals (Agarwal et al. 2021, rliable's ``library.py``).

Runs are resampled with replacement independently within each task (stratified by task); the
estimate is computed on all resamples at once from one index array ``[reps, runs, tasks]``.
Results are deterministic given ``seed`` (an int or a ``numpy.random.Generator``); with several
agents one generator is consumed in the mapping's order.
"""

from collections.abc import Callable, Mapping, Sequence
from itertools import permutations
from typing import Literal, NamedTuple

import numpy as np
from scipy.special import ndtr, ndtri

from jaxrl.stats.estimates import probability_of_improvement

__all__ = ["Interval", "stratified_indices", "resample", "bootstrap_interval", "interval_estimates",
           "improvement_interval", "improvement_intervals"]

Estimator = Callable[[np.ndarray], np.ndarray]
"""Maps scores ``[..., runs, tasks, *rest]`` to estimates ``[..., *out]`` (see ``estimates``)."""
Method = Literal["percentile", "bca"]
Seed = int | np.random.Generator


class Interval(NamedTuple):
    """A point estimate and its confidence interval, each of the estimator's output shape."""

    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def stratified_indices(rng: np.random.Generator, num_runs: int, num_tasks: int, reps: int) -> np.ndarray:
    """Run indices ``[reps, num_runs, num_tasks]`` drawn with replacement, independently per task."""
    return rng.integers(num_runs, size=(reps, num_runs, num_tasks))


def resample(scores: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Scores ``[runs, tasks, *rest]`` gathered by run indices ``[reps, runs, tasks]``.

    Returns ``[reps, runs, tasks, *rest]``: resample ``r`` holds ``scores[indices[r, i, t], t]``.
    """
    return scores[indices, np.arange(scores.shape[1])]


def _leave_one_run_out(scores: np.ndarray) -> np.ndarray:
    """``[runs, tasks, *rest] -> [runs, runs - 1, tasks, *rest]``: row ``i`` lacks run ``i``."""
    num_runs = scores.shape[0]
    kept = np.nonzero(~np.eye(num_runs, dtype=bool))[1].reshape(num_runs, num_runs - 1)
    return scores[kept]


def _quantiles(samples: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per-element linear-interpolated quantiles (as ``np.quantile``): ``[reps, *out]``, ``[q, *out]`` -> ``[q, *out]``."""
    ordered = np.sort(samples, axis=0)
    position = np.clip(probs, 0.0, 1.0) * (len(ordered) - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, len(ordered) - 1)
    low, high = np.take_along_axis(ordered, below, 0), np.take_along_axis(ordered, above, 0)
    return low + (position - below) * (high - low)


def _bca_probs(point: np.ndarray, boot: np.ndarray, jackknife: np.ndarray, tails: np.ndarray) -> np.ndarray:
    """BCa-adjusted tail probabilities ``[2, *out]`` (Efron 1987, as ``scipy.stats.bootstrap``).

    The bias correction ``z0`` counts ties as half; the acceleration is the jackknife skewness.
    """
    below = (np.mean(boot < point, axis=0) + np.mean(boot <= point, axis=0)) / 2
    z0 = ndtri(below)
    spread = np.mean(jackknife, axis=0) - jackknife
    denominator = 6 * np.sum(spread**2, axis=0) ** 1.5
    accel = np.divide(np.sum(spread**3, axis=0), denominator, out=np.zeros_like(denominator), where=denominator > 0)
    z = ndtri(tails).reshape(-1, *[1] * np.ndim(point))
    return ndtr(z0 + (z0 + z) / (1 - accel * (z0 + z)))


def _interval(point, boot, jackknife: Callable[[], np.ndarray], confidence: float, method: Method) -> Interval:
    """Percentile or BCa interval of the bootstrap estimates ``boot`` ``[reps, *out]``."""
    tails = np.array([(1 - confidence) / 2, (1 + confidence) / 2])
    if method == "bca":
        probs = _bca_probs(point, boot, jackknife(), tails)
    elif method == "percentile":
        probs = np.broadcast_to(tails.reshape(-1, *[1] * np.ndim(point)), (2, *np.shape(point)))
    else:
        raise ValueError(f"method must be 'percentile' or 'bca', not {method!r}")
    lower, upper = _quantiles(boot, probs)
    return Interval(point, lower, upper)


def bootstrap_interval(scores: np.ndarray, estimator: Estimator, reps: int = 2000, confidence: float = 0.95,
                       method: Method = "percentile", seed: Seed = 0) -> Interval:
    """Stratified bootstrap interval of ``estimator(scores)`` for scores ``[runs, tasks, *rest]``.

    Memory: the resamples take ``reps * runs * tasks * prod(rest)`` floats.
    """
    scores = np.asarray(scores, float)
    rng = np.random.default_rng(seed)
    indices = stratified_indices(rng, scores.shape[0], scores.shape[1], reps)
    boot = estimator(resample(scores, indices))
    return _interval(estimator(scores), boot, lambda: estimator(_leave_one_run_out(scores)), confidence, method)


def interval_estimates(scores: Mapping[str, np.ndarray], estimator: Estimator, reps: int = 2000,
                       confidence: float = 0.95, method: Method = "percentile", seed: Seed = 0) -> dict[str, Interval]:
    """``bootstrap_interval`` for each agent's scores ``[runs, tasks, *rest]`` (runs may differ by agent)."""
    rng = np.random.default_rng(seed)
    return {agent: bootstrap_interval(s, estimator, reps, confidence, method, rng) for agent, s in scores.items()}


def improvement_interval(scores_x: np.ndarray, scores_y: np.ndarray, reps: int = 2000, confidence: float = 0.95,
                         method: Method = "percentile", seed: Seed = 0) -> Interval:
    """P(X > Y) with a stratified bootstrap interval; X's runs ``[n, tasks]`` and Y's ``[m, tasks]``
    are resampled independently within each task. BCa's jackknife leaves out one run of X or of Y."""
    x, y = np.asarray(scores_x, float), np.asarray(scores_y, float)
    rng = np.random.default_rng(seed)
    boot_x = resample(x, stratified_indices(rng, *x.shape, reps))
    boot_y = resample(y, stratified_indices(rng, *y.shape, reps))

    def jackknife() -> np.ndarray:
        return np.concatenate([probability_of_improvement(_leave_one_run_out(x), y),
                               probability_of_improvement(x, _leave_one_run_out(y))])

    point = probability_of_improvement(x, y)
    return _interval(point, probability_of_improvement(boot_x, boot_y), jackknife, confidence, method)


def improvement_intervals(scores: Mapping[str, np.ndarray], pairs: Sequence[tuple[str, str]] | None = None,
                          reps: int = 2000, confidence: float = 0.95, method: Method = "percentile",
                          seed: Seed = 0) -> dict[tuple[str, str], Interval]:
    """``improvement_interval`` for each ``(x, y)`` pair of agents (all ordered pairs by default)."""
    rng = np.random.default_rng(seed)
    pairs = list(permutations(scores, 2)) if pairs is None else pairs
    return {(a, b): improvement_interval(scores[a], scores[b], reps, confidence, method, rng) for a, b in pairs}
