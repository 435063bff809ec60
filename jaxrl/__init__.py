"""jaxrl: JAX-native reinforcement learning where a whole training run is one compiled program.

Quick use::

    import jaxrl
    env, params = jaxrl.make("CartPole-v1")
    result = jaxrl.train("ppo", env="CartPole-v1", seeds=4)
"""

from __future__ import annotations

import os as _os

# In a source checkout the subpackages `envs/`, `agents/` and `experiments/` sit beside `jaxrl/`
# (the design card's layout); an installed wheel puts them inside `jaxrl/`. Extending `__path__`
# lets `import jaxrl.envs` work from the repository root without an install.
_here = _os.path.dirname(_os.path.abspath(__file__))
_root = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "envs")) and _os.path.isfile(
    _os.path.join(_root, "envs", "__init__.py")
):
    __path__.append(_root)  # type: ignore[name-defined]

__version__ = "0.1.0"


from jaxrl.backend.cpu_devices import split_cpu_devices as _split_cpu_devices  # noqa: E402

_split_cpu_devices()  # process-wide by nature; see docs/architecture.md ("What jaxrl changes in your process")

from jaxrl.envs import (  # noqa: E402
    Environment,
    EnvParams,
    EnvState,
    check_env,
    list_envs,
    make,
    register,
    spaces,
)

_LAZY = {
    "train": ("jaxrl.training", "train"),
    "TrainResult": ("jaxrl.training", "TrainResult"),
    "resume": ("jaxrl.training", "resume"),
    "load_policy": ("jaxrl.policy", "load_policy"),
    "sweep": ("jaxrl.sweeps", "sweep"),
    "PBT": ("jaxrl.pbt", "PBT"),
}


def __getattr__(name: str):
    # Training pulls in agents and host-side tooling; import it on first use so `import jaxrl`
    # for the env layer stays light.
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'jaxrl' has no attribute {name!r}")


__all__ = [
    "Environment",
    "EnvParams",
    "EnvState",
    "check_env",
    "list_envs",
    "make",
    "register",
    "spaces",
    *_LAZY,
]
