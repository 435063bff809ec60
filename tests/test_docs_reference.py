"""docs/cli.md and docs/api.md are generated from the code (docs/reference.py): they must match it,
and every public function and class of the documented modules must have a docstring."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_reference_pages_match_the_code() -> None:
    # A fresh process: agents registered by other tests (docs/new_algorithm.md) must not leak in.
    done = subprocess.run([sys.executable, str(DOCS / "reference.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_public_api_has_docstrings() -> None:
    sys.path.insert(0, str(DOCS))
    try:
        import reference
    finally:
        sys.path.remove(str(DOCS))
    assert reference.undocumented() == []
