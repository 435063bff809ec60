"""Relative links in the README and docs/ point at files that exist, and `#anchors` at headings
that exist (GitHub's slugs), so the pages cannot rot when files or sections move."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.MULTILINE)}


def links(page: Path) -> list[str]:
    return [t for t in LINK.findall(FENCE.sub("", page.read_text())) if not re.match(r"[a-z]+:", t)]


CASES = [(page, target) for page in PAGES for target in links(page)]


@pytest.mark.parametrize("page,target", CASES, ids=[f"{p.name}->{t}" for p, t in CASES])
def test_link_resolves(page: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    file = (page.parent / path).resolve() if path else page
    assert file.exists(), f"{page.name}: link to missing {path}"
    if anchor and file.suffix == ".md":
        assert anchor in anchors(file), f"{page.name}: no heading #{anchor} in {file.name}"


def test_pages_link_to_each_other() -> None:
    assert len(CASES) >= 30
