"""Contextual RL: context spaces over env params, generalisation matrices trained as one program,
and task selection (greedy oracle, random, Model-Based Transfer Learning). See docs/contextual.md.

    from jaxrl.contextual import context_space, train_matrix, make_report, format_table

    space = context_space("CartPole-v1", ["length=0.1:2.0:16"])
    result = train_matrix("ppo", space, seeds=4)        # result.returns [seeds, N sources, N targets]
    print(format_table(make_report(result, budget=4)))
"""

from jaxrl.contextual.matrix import MatrixResult, load_matrix, train_matrix
from jaxrl.contextual.report import format_table, make_report, strategy_curves, strategy_orders
from jaxrl.contextual.space import PRESETS, Axis, ContextSpace, context_space
from jaxrl.contextual.strategies import STRATEGIES, aggregate_curve, greedy_order, mbtl_order, random_order

__all__ = ["Axis", "ContextSpace", "MatrixResult", "PRESETS", "STRATEGIES", "aggregate_curve", "context_space",
           "format_table", "greedy_order", "load_matrix", "make_report", "mbtl_order", "random_order",
           "strategy_curves", "strategy_orders", "train_matrix"]
