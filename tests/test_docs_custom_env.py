"""Runs the ```python blocks of docs/custom_env.md in order, so the guide's code stays correct.

A block whose first line is `# file: NAME.py` is written to NAME.py in a temporary directory on
sys.path (the guide's "save this as" module); the other blocks run in one shared namespace.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import jaxrl

DOC = Path(__file__).resolve().parents[1] / "docs" / "custom_env.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
FILE_MARKER = re.compile(r"#\s*file:\s*(\S+\.py)")


def python_blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def test_guide_has_the_promised_sections() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 5
    assert FILE_MARKER.match(blocks[0]), "the first block is the env module"
    code = "\n".join(blocks)
    for needle in ("jaxrl.register(", 'jaxrl.make("my_point_env:PointGoal"', "jaxrl.check_env(",
                   "sample_params(", "in_axes=(0, 0, 0, 0)"):
        assert needle in code


def test_guide_code_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    written: list[str] = []
    namespace: dict = {"__name__": "custom_env_guide"}
    try:
        for i, block in enumerate(python_blocks()):
            marker = FILE_MARKER.match(block)
            if marker:
                (tmp_path / marker.group(1)).write_text(block)
                written.append(marker.group(1)[: -len(".py")])
                continue
            exec(compile(block, f"{DOC.name}[block {i}]", "exec"), namespace)
    finally:
        for module in written:
            sys.modules.pop(module, None)
        jaxrl.envs.registry._REGISTRY.pop("PointGoal-v0", None)  # leave the registry as found
    out = capsys.readouterr().out
    assert "checks passed" in out  # the printed check_env report
