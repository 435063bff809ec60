"""Layers flow down: every module imports only from its own layer or the layers below it, and
agents and envs never import the backend corner (docs/architecture.md)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Rank of each jaxrl module prefix: a module may import modules of equal or lower rank.
RANKS = [
    ("jaxrl.envs", 0), ("jaxrl.stats", 0), ("jaxrl.backend", 1), ("jaxrl.blocks", 2), ("jaxrl.agents", 3), ("jaxrl.config", 4),
    ("jaxrl.experiments", 4), ("jaxrl.population", 5), ("jaxrl.reporting", 6), ("jaxrl.training", 6),
    ("jaxrl.checkpoint", 6), ("jaxrl.rundir", 6), ("jaxrl.loggers", 6), ("jaxrl.interrupt", 6),
    ("jaxrl.compile_cache", 6), ("jaxrl.policy", 7), ("jaxrl.pbt", 7), ("jaxrl.sweeps", 7), ("jaxrl.plots", 7),
    ("jaxrl.catalogue", 7), ("jaxrl.compare", 7), ("jaxrl.contextual.cli", 8), ("jaxrl.contextual", 7), ("jaxrl.meta", 7),
    ("jaxrl.cli", 8), ("jaxrl.cli_meta", 8), ("jaxrl.cli_options", 8),
    ("jaxrl.__main__", 8), ("jaxrl", 8),
]
FOLDERS = {"envs": "jaxrl.envs", "agents": "jaxrl.agents", "jaxrl": "jaxrl"}


def _rank(module: str) -> int:
    return next(rank for prefix, rank in RANKS if module == prefix or module.startswith(prefix + "."))


def _modules():
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            yield name, path


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_every_module_imports_only_downwards():
    problems = []
    for name, path in _modules():
        for imported in _imports(path):
            if imported.split(".")[0] != "jaxrl" or imported == "jaxrl":
                continue
            if not any(imported == p or imported.startswith(p + ".") for p, _ in RANKS[:-1]):
                continue  # `from jaxrl import X` of a top-level name resolves through the names below
            if _rank(imported) > _rank(name):
                problems.append(f"{name} imports {imported}")
            if name.startswith(("jaxrl.agents", "jaxrl.envs")) and imported.startswith("jaxrl.backend"):
                problems.append(f"{name} imports the backend corner ({imported})")
    assert not problems, "\n".join(problems)
