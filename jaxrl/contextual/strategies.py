"""Task-selection strategies over a generalisation matrix: which k source contexts to train.

Every strategy reads one seed's matrix `J` `[N sources, N targets]` (returns of the policy trained
on source s, evaluated zero-shot on target t) and returns the order in which it trains sources.
The *aggregate generalised performance* of a set S of trained sources is the mean over targets of
the best trained policy for that target: `V(S) = mean_t max_{s in S} J[s, t]` (`aggregate_curve`).

* `greedy_order`: the oracle upper bound; each step adds the source that raises V(S) the most,
  reading the full matrix (a strategy cannot know it before training).
* `random_order`: sources in a uniformly random order.
* `mbtl_order`: Model-Based Transfer Learning (Cho et al., NeurIPS 2024; their `MBTL/utils.py`).
  Only the rows of sources already trained are read. The performance set point J(x) = J[x, x] is
  modelled by a Gaussian process over the contexts scaled to [0, 1] per axis: a squared-exponential
  (RBF) kernel `exp(-d^2 / 2 l^2)` on standardised returns, noise variance 0.01, the length scale l
  chosen among 24 log-spaced values in [0.03, 3] by the log marginal likelihood. The generalisation
  gap is linear in the L1 distance d(x, x') of the scaled contexts, with the slope fitted by least
  squares (through the origin) to the observed gaps `J[s, s] - J[s, t]` of the trained sources (>= 0;
  one slope pooled over them, where the authors' `linear_estimated` fits one per trained source and
  uses the nearest one's).
  The next source maximises the expected marginal gain of V (their `new_ucb` acquisition):
  `a(x) = mean_t max(mu(x) + beta * sigma(x) - slope * d(x, t) - V(t), 0)` with V(t) the best
  observed return on t so far; the first source is the centre of the space, as in the paper. Ties
  (all gains zero) go to the untrained source farthest from the trained ones.

These run on a *precomputed* matrix (every source trained once, `jaxrl.contextual.matrix`), as the
paper's analysis does: a strategy's cost is the number k of sources it trains, and its curve is
V(first k of its order). Training only the chosen sources gives the same numbers, since each
source's training does not depend on the others.
"""

from __future__ import annotations

import numpy as np

STRATEGIES = ("greedy", "random", "mbtl")


def aggregate_curve(matrix: np.ndarray, order: np.ndarray) -> np.ndarray:
    """`[len(order)]`: V(first k sources of `order`) for k = 1.. (`matrix` `[N, N]`)."""
    best = np.maximum.accumulate(matrix[np.asarray(order)], axis=0)  # [k, N targets]
    return best.mean(axis=1)


def greedy_order(matrix: np.ndarray, budget: int) -> np.ndarray:
    """The oracle: each step the source with the largest gain of V, from the full matrix."""
    n = matrix.shape[0]
    chosen: list[int] = []
    best = np.full(n, -np.inf)
    for _ in range(budget):
        gains = np.maximum(matrix, best).mean(axis=1)
        gains[chosen] = -np.inf
        pick = int(np.argmax(gains))
        chosen.append(pick)
        best = np.maximum(best, matrix[pick])
    return np.asarray(chosen)


def random_order(num: int, budget: int, rng: np.random.Generator) -> np.ndarray:
    """The first `budget` of a random permutation of the `num` sources: int `[budget]`."""
    return rng.permutation(num)[:budget]


def mbtl_order(matrix: np.ndarray, points: np.ndarray, budget: int, beta: float = 1.0) -> np.ndarray:
    """MBTL's sources (see the module docstring); `points` `[N, F]` the contexts scaled to [0, 1]."""
    n = matrix.shape[0]
    dist = np.abs(points[:, None, :] - points[None, :, :]).sum(-1)  # [N, N] L1
    chosen = [int(np.argmin(np.abs(points - 0.5).sum(-1)))]
    while len(chosen) < min(budget, n):
        observed = matrix[chosen]  # [k, N] rows of the trained sources
        best = observed.max(axis=0)
        mean, std = gp_posterior(points[chosen], matrix[chosen, chosen], points)
        slope = gap_slope(observed, np.asarray(chosen), dist)
        optimistic = mean + beta * std
        gains = np.maximum(optimistic[:, None] - slope * dist - best[None, :], 0.0).mean(axis=1)
        gains[chosen] = -np.inf
        if gains.max() <= 0.0:  # nothing to gain by the model's account: cover the space
            gains = dist[:, chosen].min(axis=1)
            gains[chosen] = -np.inf
        chosen.append(int(np.argmax(gains)))
    return np.asarray(chosen)


def gap_slope(observed: np.ndarray, sources: np.ndarray, dist: np.ndarray) -> float:
    """Least-squares slope (through 0, >= 0) of the gaps `J[s, s] - J[s, t]` against `d(s, t)`."""
    gaps = observed[np.arange(len(sources)), sources][:, None] - observed  # [k, N]
    d = dist[sources]
    denom = float(np.sum(d * d))
    return max(float(np.sum(d * gaps)) / denom, 0.0) if denom > 0 else 0.0


NOISE = 1e-2
LENGTH_SCALES = np.geomspace(0.03, 3.0, 24)


def gp_posterior(x: np.ndarray, y: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GP posterior mean and standard deviation `[Q]` at `query` `[Q, F]` from observations
    `x` `[k, F]`, `y` `[k]` (RBF kernel on standardised y; length scale by marginal likelihood)."""
    centre, scale = float(np.mean(y)), float(np.std(y)) or 1.0
    z = (np.asarray(y, float) - centre) / scale
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    fits = [_fit(sq, z, length) for length in LENGTH_SCALES]
    length, (chol, alpha, _) = max(zip(LENGTH_SCALES, fits), key=lambda pair: pair[1][2])
    cross = np.exp(-((query[:, None, :] - x[None, :, :]) ** 2).sum(-1) / (2 * length**2))  # [Q, k]
    mean = cross @ alpha
    v = np.linalg.solve(chol, cross.T)
    var = np.clip(1.0 - np.sum(v * v, axis=0), 1e-12, None)
    return centre + scale * mean, scale * np.sqrt(var)


def _fit(sq: np.ndarray, z: np.ndarray, length: float) -> tuple[np.ndarray, np.ndarray, float]:
    """`(cholesky, K^-1 z, log marginal likelihood)` of the RBF kernel with this length scale."""
    kernel = np.exp(-sq / (2 * length**2)) + NOISE * np.eye(len(z))
    chol = np.linalg.cholesky(kernel)
    alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, z))
    log_ml = -0.5 * z @ alpha - np.sum(np.log(np.diag(chol))) - 0.5 * len(z) * np.log(2 * np.pi)
    return chol, alpha, float(log_ml)
