"""XLA's persistent compilation cache, on by default.

`JAXRL_COMPILATION_CACHE` sets the folder (default `~/.cache/jaxrl/xla`); an empty value turns the
cache off. A re-run of the same configuration then loads its programs instead of compiling them.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

ENV_VAR = "JAXRL_COMPILATION_CACHE"
DEFAULT_DIR = Path("~/.cache/jaxrl/xla").expanduser()


def cache_dir() -> Path | None:
    """The configured cache folder, or None when disabled."""
    value = os.environ.get(ENV_VAR)
    if value is None:
        return DEFAULT_DIR
    return Path(value).expanduser() if value.strip() else None


def enable_compilation_cache() -> Path | None:
    """Point JAX at the cache folder (idempotent). Returns the folder, or None when disabled."""
    path = cache_dir()
    if path is None:
        return None
    if jax.config.jax_compilation_cache_dir != str(path):
        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        # Cache every program: which ones cross a time threshold would depend on machine load.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
