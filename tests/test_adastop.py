"""jaxrl.stats.AdaStop: family-wise error under the null, early decisions, the interim-by-interim API."""

import numpy as np
import pytest

from jaxrl.stats import AdaStop

ALPHA = 0.05


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion."""
    rate = successes / trials
    centre = (rate + z**2 / (2 * trials)) / (1 + z**2 / trials)
    half = z * np.sqrt(rate * (1 - rate) / trials + z**2 / (4 * trials**2)) / (1 + z**2 / trials)
    return centre - half, centre + half


def simulate(comparisons: int, shifts, n: int = 5, K: int = 5, seed: int = 0) -> tuple[int, list[AdaStop]]:
    """AdaStop on normal scores with the given mean shifts; returns the number of wrong decisions
    (any "larger"/"smaller" against the order of ``shifts``, or any decision between equal agents)."""
    rng, wrong, runs = np.random.default_rng(seed), 0, []
    for run in range(comparisons):
        scores = {f"agent{i}": rng.normal(size=n * K) + shift for i, shift in enumerate(shifts)}
        test = AdaStop(n=n, K=K, alpha=ALPHA, seed=run)
        test.compare_available(scores)
        wrong += any(_wrong(row, shifts) for row in test.decisions())
        runs.append(test)
    return wrong, runs


def _wrong(row, shifts) -> bool:
    a, b = shifts[int(row.agent1[5:])], shifts[int(row.agent2[5:])]
    return (row.decision == "larger" and a <= b) or (row.decision == "smaller" and a >= b)


def _assert_fwer_at_most_alpha(comparisons: int) -> None:
    wrong, _ = simulate(comparisons, shifts=[0.0, 0.0, 0.0])
    low, high = wilson_interval(wrong, comparisons)
    print(f"FWER {wrong}/{comparisons} = {wrong / comparisons:.4f}, 95% Wilson CI [{low:.4f}, {high:.4f}]")
    assert low <= ALPHA, f"FWER {wrong}/{comparisons} is significantly above {ALPHA}"


def test_family_wise_error_under_the_null_fast():
    _assert_fwer_at_most_alpha(150)


@pytest.mark.slow
def test_family_wise_error_under_the_null_1000():
    _assert_fwer_at_most_alpha(1000)


def test_clearly_different_agents_are_ordered_early():
    wrong, runs = simulate(50, shifts=[0.0, 2.0, 4.0])
    assert wrong == 0 and all(t.is_finished for t in runs)
    assert all(row.decision == "smaller" for t in runs for row in t.decisions())
    mean_interim = np.mean([max(row.interim for row in t.decisions()) + 1 for t in runs])
    print(f"mean number of interims to decide every pair: {mean_interim:.2f} of 5")
    assert mean_interim < 4


def test_interim_by_interim_api():
    rng = np.random.default_rng(0)
    scores = {"ppo": list(rng.normal(size=5)), "sac": list(rng.normal(size=5) + 10), "td3": list(rng.normal(size=5))}
    test = AdaStop(n=5, K=3)
    first = test.partial_compare(scores)
    assert first == {("ppo", "sac"): "smaller", ("ppo", "td3"): "continue", ("sac", "td3"): "larger"}
    assert test.interim == 1 and not test.is_finished and test.agents_to_continue == ["ppo", "td3"]
    assert test.seeds_needed() == {"ppo": (5, 10), "td3": (5, 10)}
    with pytest.raises(ValueError, match="missing"):
        test.partial_compare(scores)
    for _ in range(2):  # only the undecided agents get new seeds
        for agent in test.agents_to_continue:
            scores[agent] += list(rng.normal(size=5))
        test.partial_compare(scores)
    assert test.is_finished and test.agents_to_continue == [] and test.seeds_needed() == {}
    rows = {(r.agent1, r.agent2): (r.decision, r.interim) for r in test.decisions()}
    assert rows == {("ppo", "sac"): ("smaller", 0), ("ppo", "td3"): ("equal", 2), ("sac", "td3"): ("larger", 0)}
    with pytest.raises(RuntimeError, match="finished"):
        test.partial_compare(scores)


def test_fewer_interims_of_data_than_K():
    rng = np.random.default_rng(1)
    scores = {"a": rng.normal(size=12), "b": rng.normal(size=12), "c": rng.normal(size=7)}
    test = AdaStop(n=5, K=5)
    test.compare_available(scores)  # c has data for one interim only
    assert test.interim == 1 and test.agents_to_continue == ["a", "b", "c"]
    assert test.seeds_needed(scores) == {"a": (0, 13), "b": (0, 13), "c": (3, 18)}


def test_same_seed_same_decisions():
    rng = np.random.default_rng(2)
    scores = {f"a{i}": rng.normal(size=25) + 0.6 * i for i in range(3)}
    runs = [AdaStop(seed=3), AdaStop(seed=3)]
    assert runs[0].compare_available(scores) == runs[1].compare_available(scores)
    assert runs[0].decisions() == runs[1].decisions()


def test_agrees_with_the_adastop_package_on_two_agents():
    adastop = pytest.importorskip("adastop")
    rng = np.random.default_rng(3)
    scores = {"a": rng.normal(size=25), "b": rng.normal(size=25) + 1.5}
    theirs = adastop.MultipleAgentsComparator(n=5, K=5, B=10_000, alpha=ALPHA, seed=0)
    for k in range(5):
        theirs.partial_compare({a: s[: (k + 1) * 5] for a, s in scores.items()}, verbose=False)
        if theirs.is_finished:
            break
    ours = AdaStop(n=5, K=5, alpha=ALPHA, seed=0)
    ours.compare_available(scores)
    assert ours.decisions()[0].decision == theirs.decisions["[0 1]"] == "smaller"
    # The package compares |T| to a boundary from the signed maximum (twice the level), so it may
    # decide earlier; it never decides later.
    print(f"interims to decide: ours {ours.interim}, adastop {theirs.k}")
    assert ours.interim >= theirs.k
