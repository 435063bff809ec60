"""Meta-learning at the sweeps layer: evolve learned objectives over whole training runs, each
generation one population program (see `jaxrl.meta.evolve`)."""

from jaxrl.meta.evolve import MetaResult, MetaSettings, meta_train

__all__ = ["MetaResult", "MetaSettings", "meta_train"]
