"""Runs the ```python blocks of the docs (other than custom_env.md, which has its own test) in
order, one namespace per page, so the pages' code stays correct."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PAGES = sorted(p for p in DOCS.glob("*.md") if p.name != "custom_env.md" and BLOCK.search(p.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_code_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": page.stem}
    for i, block in enumerate(BLOCK.findall(page.read_text())):
        # dont_inherit: run the page's code as written, not under this file's `from __future__` imports.
        exec(compile(block, f"{page.name}[block {i}]", "exec", dont_inherit=True), namespace)


def test_pages_with_code_are_covered() -> None:
    assert {"architecture.md", "statistics.md", "new_algorithm.md"} <= {p.name for p in PAGES}
