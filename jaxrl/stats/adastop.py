"""AdaStop (Mathieu et al. 2023): a sequential permutation test that compares L agents and stops
training seeds early, with the family-wise error (any wrong "larger"/"smaller") kept at ``alpha``.

The procedure follows the ``adastop`` package (``MultipleAgentsComparator``, beta = 0: no early
accept). At interim ``k`` (0-based, ``K`` in all) each agent has ``(k + 1) * n`` scores:

* Statistic of pair ``(a, b)``: the sum over interims of the block mean difference,
  ``T = (k + 1) * (mean(a) - mean(b))``; a pair is decided on ``|T|`` (two-sided).
* Permutation distribution: each interim's block of scores of the agents still compared is
  pooled and dealt back to them, ``n`` each, by every deal when the number of permutations so far
  times the deals stays below ``B``, else by ``B`` random deals at interim 0 (the first one the
  observed deal) and one random deal per surviving permutation later.
* Alpha spending: the level spent by the end of interim ``k`` is at most ``alpha * (k + 1) / K``.
  The boundary is the smallest permutation value ``b`` of ``max |T|`` over undecided pairs with
  ``spent + P(max |T| > b) <= alpha * (k + 1) / K``; the level added is that ``P`` and the
  permutations crossing ``b`` are dropped from later interims (probabilities keep the original
  number of permutations as denominator).
* Step-down: while the largest undecided ``|T|`` exceeds the boundary, that pair is decided
  ("larger" if ``T > 0`` else "smaller") and the boundary is recomputed over the pairs left.
* At the last interim the undecided pairs are "equal".

Differences from the package (0.1.3), each measured to break the level (tests/test_adastop.py):
the package splits each pair's two agents separately (the same combination index for every pair),
which is no permutation of the data once three agents share scores; its FWER at K = 1, L = 3,
n = 5 is 0.07 here, so the deals here permute all compared agents jointly (the same as the
package for two agents). The boundary is taken from ``max |T|`` (the package takes the signed
maximum but compares ``|T|`` to it: twice the level, 0.10 for two agents at K = 1). Tail
probabilities count tied permutation values exactly. When random deals start at interim 0 the
denominator stays ``B`` (the package then divides by 1 and never rejects after interim 0).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from functools import cache
from math import factorial
from typing import Literal, NamedTuple

import numpy as np

__all__ = ["AdaStop", "PairDecision", "SeedsNeeded"]

Decision = Literal["larger", "smaller", "equal", "continue"]


@dataclass(frozen=True)
class PairDecision:
    """One row of ``AdaStop.decisions()``: ``decision`` says how ``agent1`` compares to ``agent2``.

    ``interim`` is the 0-based interim the pair was decided at (None while "continue"); the means
    are over the scores used so far.
    """

    agent1: str
    agent2: str
    decision: Decision
    interim: int | None
    mean1: float
    mean2: float


class SeedsNeeded(NamedTuple):
    """Seeds an undecided agent still needs: for the next interim, and at most until the end."""

    next_interim: int
    at_most: int


def _assignment_count(groups: int, n: int) -> int:
    """Ways to deal ``groups * n`` scores into ``groups`` labelled groups of ``n``."""
    return factorial(groups * n) // factorial(n) ** groups


@cache
def _all_assignments(groups: int, n: int) -> np.ndarray:
    """Every such deal as group labels ``[count, groups * n]``; row 0 keeps each score in its group."""
    if groups == 1:
        return np.zeros((1, n), int)
    positions, rows = np.arange(groups * n), []
    for first in combinations(positions, n):
        rest = np.setdiff1d(positions, first)
        for labels in _all_assignments(groups - 1, n):
            row = np.zeros(groups * n, int)
            row[rest] = labels + 1
            rows.append(row)
    return np.array(rows)


def _random_assignments(rng: np.random.Generator, rows: int, groups: int, n: int) -> np.ndarray:
    """Uniform random deals ``[rows, groups * n]`` of group labels; row 0 is the observed one."""
    labels = rng.random((rows, groups * n)).argsort(axis=-1) // n
    labels[0] = np.arange(groups * n) // n
    return labels


def _group_sums(labels: np.ndarray, pooled: np.ndarray, groups: int) -> np.ndarray:
    """Sum of the pooled scores dealt to each group: ``[R, groups * n]``, ``[groups * n]`` -> ``[R, groups]``."""
    return np.stack([(labels == g) @ pooled for g in range(groups)], axis=1)


def _boundary(values: np.ndarray, budget: float, normalization: int) -> tuple[float, float]:
    """Smallest ``b`` among ``values`` with ``P(value > b) <= budget``, and that probability.

    Probabilities are counts over ``normalization``; ``(inf, 0)`` when no value qualifies.
    """
    ordered = np.sort(values)
    tail = (len(ordered) - np.searchsorted(ordered, ordered, side="right")) / normalization
    admissible = np.nonzero(tail <= budget + 1e-12)[0]
    if len(admissible) == 0:
        return np.inf, 0.0
    return float(ordered[admissible[0]]), float(tail[admissible[0]])


class AdaStop:
    """Sequential comparison of all pairs of agents (see the module docstring for the procedure).

    Feed it interim after interim: ``partial_compare({agent: scores so far})`` with ``(k + 1) * n``
    scores per undecided agent at interim ``k``; agents in ``agents_to_continue`` need ``n`` more
    seeds for the next one. ``compare_available`` runs as many interims as the scores allow.
    """

    def __init__(self, n: int = 5, K: int = 5, alpha: float = 0.05, B: int = 10_000, seed: int | None = 0):
        self.n, self.K, self.alpha, self.B = n, K, alpha, B
        self.interim = 0  # number of interims done
        self._rng = np.random.default_rng(seed)
        self._agents: list[str] = []
        self._pairs: list[tuple[int, int]] = []
        self._decision: list[Decision] = []
        self._decided_at: list[int | None] = []
        self._means = np.zeros(0)
        self._tracked = np.zeros(0, int)  # pairs still undecided: the columns of _perm_stats
        self._perm_stats = np.zeros((1, 0))  # [permutations, tracked] cumulative statistics
        self._normalization = 1  # number of permutations the tail probabilities divide by
        self._exact = True  # every permutation enumerated so far
        self._level_spent = 0.0

    @property
    def is_finished(self) -> bool:
        """True once every pair is decided (at the latest after ``K`` interims)."""
        return bool(self._agents) and "continue" not in self._decision

    @property
    def agents_to_continue(self) -> list[str]:
        """Agents in at least one undecided pair, in input order."""
        involved = {agent for p in self._tracked for agent in self._pairs[p]}
        return [a for i, a in enumerate(self._agents) if i in involved] if self._agents else []

    def seeds_needed(self, scores: Mapping[str, Sequence[float]] | None = None) -> dict[str, SeedsNeeded]:
        """For each agent to continue: seeds to add before the next interim (given the ``scores``
        it already has, or none beyond the last interim), and at most until interim ``K``."""
        total_next, total_max = (self.interim + 1) * self.n, self.K * self.n
        have = {a: self.interim * self.n if scores is None else len(scores[a]) for a in self.agents_to_continue}
        return {a: SeedsNeeded(max(total_next - h, 0), max(total_max - h, 0)) for a, h in have.items()}

    def decisions(self) -> list[PairDecision]:
        """One row per pair ``(agent1, agent2)`` of agents in input order."""
        return [PairDecision(self._agents[i], self._agents[j], d, at, float(self._means[i]), float(self._means[j]))
                for (i, j), d, at in zip(self._pairs, self._decision, self._decided_at)]

    def compare_available(self, scores: Mapping[str, Sequence[float]]) -> dict[tuple[str, str], Decision]:
        """Run ``partial_compare`` for every interim the scores cover; see ``seeds_needed`` after."""
        self._start(scores)
        while not self.is_finished and all(len(scores[a]) >= (self.interim + 1) * self.n
                                           for a in self.agents_to_continue):
            self.partial_compare(scores)
        return self._decision_dict()

    def partial_compare(self, scores: Mapping[str, Sequence[float]]) -> dict[tuple[str, str], Decision]:
        """Test interim ``self.interim`` on the first ``(k + 1) * n`` scores of each agent.

        Returns ``{(agent1, agent2): decision}`` for every pair.
        """
        if self.is_finished:
            raise RuntimeError("AdaStop is finished: every pair is decided")
        self._start(scores)
        k, used = self.interim, (self.interim + 1) * self.n
        data = self._interim_data(scores, used)
        self._means = np.array([np.mean(z) if len(z) else m for z, m in zip(data, self._means)])
        self._extend_permutations(k, data)
        observed = np.array([(np.sum(data[i]) - np.sum(data[j])) / self.n for i, j in self._tracked_pairs()])
        undecided = self._step_down(k, observed)
        if k == self.K - 1:
            self._decide(np.nonzero(undecided)[0], "equal", k)
            undecided[:] = False
        self._tracked = self._tracked[undecided]
        self._perm_stats = self._perm_stats[:, undecided]
        self.interim += 1
        return self._decision_dict()

    def _start(self, scores: Mapping[str, Sequence[float]]) -> None:
        if self._agents:
            if set(scores) != set(self._agents):
                raise ValueError(f"agents changed: expected {sorted(self._agents)}, got {sorted(scores)}")
            return
        self._agents = list(scores)
        self._pairs = list(combinations(range(len(self._agents)), 2))
        self._decision = ["continue"] * len(self._pairs)
        self._decided_at = [None] * len(self._pairs)
        self._tracked = np.arange(len(self._pairs))
        self._means = np.full(len(self._agents), np.nan)
        self._perm_stats = np.zeros((1, len(self._pairs)))

    def _interim_data(self, scores: Mapping[str, Sequence[float]], used: int) -> list[np.ndarray]:
        """The first ``used`` scores of each agent (empty for agents that are done)."""
        continuing = set(self.agents_to_continue)
        short = {a: used - len(scores[a]) for a in continuing if len(scores[a]) < used}
        if short:
            raise ValueError(f"interim {self.interim} needs {used} scores per agent; missing: {short}")
        return [np.asarray(scores[a], float)[:used] if a in continuing else np.zeros(0) for a in self._agents]

    def _tracked_pairs(self) -> list[tuple[int, int]]:
        return [self._pairs[p] for p in self._tracked]

    def _extend_permutations(self, k: int, data: list[np.ndarray]) -> None:
        """Add interim ``k``'s block to every surviving permutation (see the module docstring)."""
        n, continuing = self.n, [self._agents.index(a) for a in self.agents_to_continue]
        pooled = np.concatenate([data[a][k * n:] for a in continuing])
        count = _assignment_count(len(continuing), n)
        if self._exact and self.B > self._normalization * count:
            labels, self._normalization = _all_assignments(len(continuing), n), self._normalization * count
        else:
            rows = self.B if k == 0 else len(self._perm_stats)
            labels = _random_assignments(self._rng, rows, len(continuing), n)
            self._normalization = self.B if k == 0 else self._normalization
            self._exact = False
        sums = _group_sums(labels, pooled, len(continuing))
        column = {agent: c for c, agent in enumerate(continuing)}
        block = np.stack([sums[:, column[i]] - sums[:, column[j]] for i, j in self._tracked_pairs()], axis=1) / n
        if self._exact:
            self._perm_stats = (self._perm_stats[:, None, :] + block[None]).reshape(-1, block.shape[1])
        else:
            self._perm_stats = self._perm_stats + block

    def _step_down(self, k: int, observed: np.ndarray) -> np.ndarray:
        """Decide pairs at interim ``k`` and drop permutations beyond the boundary; returns the
        undecided mask over tracked pairs."""
        undecided = np.ones(len(observed), bool)
        budget = self.alpha * (k + 1) / self.K - self._level_spent
        boundary, level = np.inf, 0.0
        while undecided.any():
            boundary, level = _boundary(np.abs(self._perm_stats[:, undecided]).max(axis=1), budget,
                                        self._normalization)
            largest = np.argmax(np.where(undecided, np.abs(observed), -np.inf))
            if abs(observed[largest]) <= boundary:
                break
            self._decide([largest], "larger" if observed[largest] > 0 else "smaller", k)
            undecided[largest] = False
        self._level_spent += level
        if undecided.any():
            survives = np.abs(self._perm_stats[:, undecided]).max(axis=1) <= boundary
            self._perm_stats = self._perm_stats[survives]
        return undecided

    def _decide(self, tracked_indices, decision: Decision, k: int) -> None:
        for index in tracked_indices:
            self._decision[self._tracked[index]] = decision
            self._decided_at[self._tracked[index]] = k

    def _decision_dict(self) -> dict[tuple[str, str], Decision]:
        return {(self._agents[i], self._agents[j]): d for (i, j), d in zip(self._pairs, self._decision)}
