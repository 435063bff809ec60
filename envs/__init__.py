"""The environment layer: the functional `Environment` contract, spaces, registry, built-in envs,
adapters (gymnax, brax, Gymnasium export), wrappers and `check_env`.

This layer imports nothing from the rest of jaxrl.
"""

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment, EnvParams, EnvState, select_tree
from jaxrl.envs.registry import list_envs, make, register, registered_names

__all__ = [
    "Environment",
    "EnvParams",
    "EnvState",
    "list_envs",
    "make",
    "register",
    "registered_names",
    "select_tree",
    "spaces",
]
