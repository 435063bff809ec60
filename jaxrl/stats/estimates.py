"""Point estimates of aggregate performance over runs and tasks (Agarwal et al. 2021, rliable).

Every estimator takes scores of shape ``[..., num_runs, num_tasks]`` and returns ``[...]``: the
leading axes are batch axes, so one call evaluates all bootstrap resamples at once.
"""

import numpy as np

__all__ = ["normalize", "mean", "median", "iqm", "optimality_gap", "probability_of_improvement"]


def normalize(scores: np.ndarray, task_min: np.ndarray, task_max: np.ndarray) -> np.ndarray:
    """Per-task normalised scores ``(scores - task_min) / (task_max - task_min)``.

    ``scores`` is ``[..., num_runs, num_tasks]``; ``task_min`` and ``task_max`` are ``[num_tasks]``
    (e.g. random and human scores, so 0 is random and 1 is human level).
    """
    task_min, task_max = np.asarray(task_min, float), np.asarray(task_max, float)
    return (np.asarray(scores, float) - task_min) / (task_max - task_min)


def mean(scores: np.ndarray) -> np.ndarray:
    """Mean over tasks of the per-task mean over runs: ``[..., runs, tasks] -> [...]``."""
    return np.mean(scores, axis=(-2, -1))


def median(scores: np.ndarray) -> np.ndarray:
    """Median over tasks of the per-task mean over runs: ``[..., runs, tasks] -> [...]``."""
    return np.median(np.mean(scores, axis=-2), axis=-1)


def iqm(scores: np.ndarray) -> np.ndarray:
    """Interquartile mean of all runs x tasks scores: ``[..., runs, tasks] -> [...]``.

    The mean of the middle 50% of the flattened scores, trimming ``int(0.25 * runs * tasks)`` from
    each end: the same value as ``scipy.stats.trim_mean(scores, 0.25, axis=None)``.
    """
    flat = np.asarray(scores).reshape(*np.shape(scores)[:-2], -1)
    cut = int(0.25 * flat.shape[-1])
    middle = np.sort(flat, axis=-1)[..., cut : flat.shape[-1] - cut]
    return np.mean(middle, axis=-1)


def optimality_gap(scores: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """How far normalised scores fall short of ``gamma``: ``gamma - mean(min(scores, gamma))``.

    ``[..., runs, tasks] -> [...]``; scores above ``gamma`` count as ``gamma``.
    """
    return gamma - np.mean(np.minimum(scores, gamma), axis=(-2, -1))


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> np.ndarray:
    """P(X > Y) averaged over tasks: the Mann-Whitney U statistic over ``n * m`` pairs per task.

    ``scores_x`` is ``[..., n, tasks]`` and ``scores_y`` is ``[..., m, tasks]`` (the runs may
    differ in number); returns ``[...]``. A tie counts 1/2, so identical samples give 0.5.
    """
    x, y = np.asarray(scores_x)[..., :, None, :], np.asarray(scores_y)[..., None, :, :]
    per_task = np.mean(x > y, axis=(-3, -2)) + 0.5 * np.mean(x == y, axis=(-3, -2))
    return np.mean(per_task, axis=-1)
