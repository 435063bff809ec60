"""The `jaxrl ...` command lines in the README's and docs' ```bash blocks must stay valid: each is
parsed by the CLI's own parser, and a train/sweep line's settings and env are resolved and validated
as `jaxrl train` would before compiling (nothing trains here; the python blocks are executed by
tests/test_docs_code.py and the notebooks by nbmake)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from jaxrl import cli
from jaxrl.config import resolve

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```(?:bash|sh)\n(.*?)^```", re.DOTALL | re.MULTILINE)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def command_lines(page: Path) -> list[str]:
    """The lines of `page`'s bash blocks that run `jaxrl` (comments and prompts stripped)."""
    lines = []
    for block in BLOCK.findall(page.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            for part in line.split("&&"):
                part = part.split(" #")[0].split(" | ")[0].strip()
                if part.startswith("jaxrl "):
                    lines.append(part)
    return lines


CASES = [(page, line) for page in PAGES for line in command_lines(page)]


@pytest.mark.parametrize("page,line", CASES, ids=[f"{p.name}:{line[:60]}" for p, line in CASES])
def test_documented_command_is_valid(page: Path, line: str) -> None:
    argv = shlex.split(line)[1:]
    if argv and argv[0] == "check-env" or "--help" in argv:
        return  # check-env's argument is the reader's own module
    try:
        command = cli.parse(argv)
    except SystemExit as exc:
        pytest.fail(f"{page.name}: `{line}` does not parse (exit {exc.code})")
    if isinstance(command, (cli.Train, cli.Sweep)) and command.algo is not None and command.resume is None:
        settings = cli._pairs("--set", command.set)
        resolve(command.algo, command.env, settings, total_timesteps=command.total_timesteps)


def test_pages_have_commands() -> None:
    assert len(CASES) >= 20
