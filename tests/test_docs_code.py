"""Runs the ```python blocks of the docs (other than custom_env.md, which has its own test) in
order, one namespace per page, so the pages' code stays correct. A block whose first line is
`# file: NAME.py` is a file the reader saves: it is written to the page's folder, not executed
(the page's test runs it, e.g. tests/test_scale.py runs docs/scale.md's two-process script)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import jaxrl.agents

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PAGES = sorted(p for p in DOCS.glob("*.md") if p.name != "custom_env.md" and BLOCK.search(p.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_code_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # A page may register its own agent (new_algorithm.md): keep it out of the other tests' registry.
    monkeypatch.setattr(jaxrl.agents, "_AGENTS", dict(jaxrl.agents._AGENTS))
    namespace: dict = {"__name__": page.stem}
    for i, block in enumerate(BLOCK.findall(page.read_text())):
        if block.startswith("# file: "):
            (tmp_path / block.splitlines()[0].removeprefix("# file: ").strip()).write_text(block)
            continue
        # dont_inherit: run the page's code as written, not under this file's `from __future__` imports.
        exec(compile(block, f"{page.name}[block {i}]", "exec", dont_inherit=True), namespace)


def test_pages_with_code_are_covered() -> None:
    assert {"architecture.md", "statistics.md", "new_algorithm.md", "scale.md"} <= {p.name for p in PAGES}


def file_block(page: str, name: str) -> str:
    """The ```python block of docs/`page` that starts with `# file: name`."""
    for block in BLOCK.findall((DOCS / page).read_text()):
        if block.startswith(f"# file: {name}"):
            return block
    raise AssertionError(f"docs/{page} has no '# file: {name}' block")
