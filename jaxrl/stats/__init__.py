"""Statistics for comparing agents: rliable's aggregate estimates with stratified bootstrap
intervals, performance profiles, and AdaStop's sequential test. A leaf: imports nothing from jaxrl.

Scores are NumPy arrays ``[num_runs, num_tasks]`` (``[num_runs, num_tasks, num_points]`` for
sample-efficiency curves), one per agent in a ``{agent: scores}`` mapping.
"""

from jaxrl.stats.adastop import AdaStop, PairDecision
from jaxrl.stats.bootstrap import (Interval, bootstrap_interval, improvement_interval, improvement_intervals,
                                   interval_estimates, resample, stratified_indices)
from jaxrl.stats.estimates import iqm, mean, median, normalize, optimality_gap, probability_of_improvement
from jaxrl.stats.profiles import performance_profiles, sample_efficiency_curves, score_distribution

__all__ = ["AdaStop", "PairDecision", "Interval", "bootstrap_interval", "improvement_interval",
           "improvement_intervals", "interval_estimates", "resample", "stratified_indices", "iqm", "mean",
           "median", "normalize", "optimality_gap", "probability_of_improvement", "performance_profiles",
           "sample_efficiency_curves", "score_distribution"]
