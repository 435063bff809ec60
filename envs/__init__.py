"""The environment layer: the functional `Environment` contract, spaces, registry, built-in envs,
adapters (gymnax, brax, Gymnasium export), wrappers and `check_env`.

This layer imports nothing from the rest of jaxrl.
"""

from jaxrl.envs import randomize, spaces, wrappers
from jaxrl.envs.check import EnvCheckError, EnvCheckReport, check_env
from jaxrl.envs.core import Environment, EnvParams, EnvState, select_tree
from jaxrl.envs.registry import list_envs, make, register, registered_names

__all__ = [
    "EnvCheckError",
    "EnvCheckReport",
    "Environment",
    "EnvParams",
    "EnvState",
    "check_env",
    "list_envs",
    "make",
    "randomize",
    "register",
    "registered_names",
    "select_tree",
    "spaces",
    "wrappers",
]

# Gymnasium export is optional for JAX users: imported on first use.
_LAZY = {
    "to_gymnasium_env": "jaxrl.envs.gymnasium_export",
    "to_gymnasium_vector_env": "jaxrl.envs.gymnasium_export",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jaxrl.envs' has no attribute {name!r}")
