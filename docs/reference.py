"""Write docs/cli.md and docs/api.md from the code, so the references cannot drift from it.

    python docs/reference.py            # rewrite both pages
    python docs/reference.py --check    # exit 1 if a page differs from what the code gives (CI's test)

docs/cli.md comes from the CLI's option dataclasses (`jaxrl.cli.COMMANDS`: each field's flag, type,
default and docstring, which are also what `--help` prints); docs/api.md from the public names of
the modules in `API_MODULES` (`__all__`, else the names a module defines without a leading `_`),
with their signatures and docstrings.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import sys
import textwrap
import types
import typing
from pathlib import Path

DOCS = Path(__file__).resolve().parent

# (module, what a reader finds there), in reading order: layers from the top down.
API_MODULES = [
    ("jaxrl", "Training, resuming, sweeps and policies: the entry points"),
    ("jaxrl.pbt", "Population-based training"),
    ("jaxrl.meta", "Meta-learning: evolving learned objectives (LPO, TA-LPO)"),
    ("jaxrl.compare", "Comparisons of agents from run directories or a scores CSV"),
    ("jaxrl.stats", "Statistics: aggregate estimates, bootstrap intervals, AdaStop"),
    ("jaxrl.catalogue", "The catalogue of run directories"),
    ("jaxrl.contextual", "Contextual RL: context spaces, generalisation matrices, task selection (MBTL)"),
    ("jaxrl.agents", "Agents: the registry and the AgentSpec interface"),
    ("jaxrl.agents.base", "The agent interface"),
    ("jaxrl.blocks.rollout", "Building blocks: collecting experience"),
    ("jaxrl.blocks.returns", "Building blocks: returns and advantages"),
    ("jaxrl.blocks.losses", "Building blocks: losses"),
    ("jaxrl.blocks.drift", "Building blocks: learned drift functions and objective files (LPO)"),
    ("jaxrl.blocks.networks", "Building blocks: networks"),
    ("jaxrl.blocks.encoders", "Building blocks: observation encoders (MLP input, CNNs, dict observations)"),
    ("jaxrl.blocks.action_masks", "Building blocks: action masks"),
    ("jaxrl.blocks.distributions", "Building blocks: action distributions"),
    ("jaxrl.blocks.minibatch", "Building blocks: minibatch epochs"),
    ("jaxrl.blocks.optim", "Building blocks: the optimiser factory and schedules"),
    ("jaxrl.blocks.exploration", "Building blocks: exploration"),
    ("jaxrl.blocks.replay", "Building blocks: replay buffers"),
    ("jaxrl.blocks.recurrent", "Building blocks: recurrent cells and carries"),
    ("jaxrl.envs", "Environments: the contract, registry and checks"),
    ("jaxrl.envs.spaces", "Spaces"),
    ("jaxrl.envs.wrappers", "Wrappers"),
    ("jaxrl.envs.randomize", "Per-copy environment parameters"),
    ("jaxrl.envs.multi", "Multi-agent environments"),
    ("jaxrl.envs.contextual", "Contexts drawn per episode or fixed per env copy"),
    ("jaxrl.envs.probes", "Probe environments"),
]


def _attribute_docs(cls: type) -> dict[str, str]:
    """`{field: docstring}` from the string literals that follow a class's annotated fields."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for field, after in zip(body, body[1:]):
        if (isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[field.target.id] = " ".join(after.value.value.split())
    return docs


def _type_name(annotation) -> str:
    """`Annotated[list[str], ...]` -> "list[str]", `Literal["a", "b"] | None` -> "{a,b} | None"; a
    string option with a metavar (`tyro.conf.arg(metavar=...)`) shows the metavar."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        metavar = next((m.metavar for m in annotation.__metadata__ if getattr(m, "metavar", None)), None)
        members = typing.get_args(args[0]) if typing.get_origin(args[0]) in (typing.Union, types.UnionType) else (args[0],)
        if metavar and str in members:
            return metavar + (" | None" if type(None) in members else "")
        return _type_name(args[0])
    if origin is typing.Literal:
        return "{" + ",".join(map(str, args)) + "}"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        return repr(field.default)
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = field.default_factory()  # type: ignore[misc]
        return " ".join(value) if value else "(none)"
    return "(required)"


def _subcommands(cls: type) -> dict[str, type] | None:
    """`{name: options}` of a command whose only field is a union of tyro subcommands, else None."""
    fields = dataclasses.fields(cls)
    if len(fields) != 1:
        return None
    hint = typing.get_type_hints(cls, include_extras=True)[fields[0].name]
    while typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    subs = {}
    for option in typing.get_args(hint):
        inner, *marks = typing.get_args(option) if typing.get_origin(option) is typing.Annotated else (option,)
        names = [m.name for m in marks if getattr(m, "name", None)]
        if not (dataclasses.is_dataclass(inner) and names):
            return None
        subs[names[0]] = inner
    return subs or None


def _commands(commands: dict[str, type], prefix: str = ""):
    """`(name, options dataclass)` of every command, nested subcommands as `"contextual matrix"`."""
    for name, cls in commands.items():
        subs = _subcommands(cls)
        if subs:
            yield from _commands(subs, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cls


def cli_markdown() -> str:
    """docs/cli.md: every subcommand of `jaxrl` with its options."""
    from jaxrl import cli

    lines = ["# Command-line reference", "",
             "Generated by `python docs/reference.py` from the option dataclasses in `jaxrl/cli_options.py`",
             "(the same text `jaxrl COMMAND --help` prints); a test fails when this page and the code differ.",
             "", cli.DESCRIPTION, ""]
    for name, cls in _commands(cli.COMMANDS):
        hints = typing.get_type_hints(cls, include_extras=True)
        docs = _attribute_docs(cls)
        lines += [f"## `jaxrl {name}`", "", inspect.cleandoc(cls.__doc__ or ""), "",
                  "| option | type | default | meaning |", "|---|---|---|---|"]
        for field in dataclasses.fields(cls):
            positional = "Positional" in str(hints[field.name])
            flag = field.name.upper() if positional else "--" + field.name.replace("_", "-")
            kind = _type_name(hints[field.name]).replace("|", "\\|")
            default = _default(field).replace("|", "\\|")
            lines.append(f"| `{flag}` | `{kind}` | `{default}` | {docs.get(field.name, '')} |")
        lines.append("")
    return "\n".join(lines)


def public_names(module) -> list[str]:
    """A module's public names: `__all__`, else what it defines without a leading underscore."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items() if not n.startswith("_")
                 and getattr(v, "__module__", None) == module.__name__ and (inspect.isclass(v) or inspect.isfunction(v))]
    return sorted(names)


def _signature(obj) -> str:
    try:
        text = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def _entry(qualname: str, obj) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    if inspect.isclass(obj):
        out = [f"### class `{qualname}`", "", doc, ""]
        for name, member in sorted(vars(obj).items()):
            if not name.startswith("_") and name != "replace" and inspect.isfunction(member) and member.__doc__:
                out += [f"- `{name}{_signature(member)}`: {inspect.getdoc(member)}"]
        return out + [""]
    if callable(obj):
        return [f"### `{qualname}{_signature(obj)}`", "", doc, ""]
    if inspect.ismodule(obj):
        return [f"### module `{obj.__name__}`", "", (doc.split("\n\n")[0] if doc else ""), ""]
    return []


def api_markdown() -> str:
    """docs/api.md: the public names of `API_MODULES` with signatures and docstrings."""
    lines = ["# Python API reference", "",
             "Generated by `python docs/reference.py` from the docstrings; a test fails when this page and",
             "the code differ, and when a public function or class has no docstring.", ""]
    for module_name, title in API_MODULES:
        module = importlib.import_module(module_name)
        lines += [f"## `{module_name}`: {title}", "", (inspect.getdoc(module) or "").split("\n\n")[0], ""]
        for name in public_names(module):
            lines += _entry(f"{module_name}.{name}", getattr(module, name))
    return "\n".join(line.rstrip() for line in lines)


def undocumented() -> list[str]:
    """Public functions and classes of `API_MODULES` without a docstring of their own (a dataclass's
    generated `Name(field, ...)` does not count)."""
    missing = []
    for module_name, _ in API_MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module):
            obj = getattr(module, name)
            doc = (obj.__doc__ or "").strip()
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and (not doc or doc.startswith(f"{name}(")):
                missing.append(f"{module_name}.{name}")
    return missing


PAGES = {"cli.md": cli_markdown, "api.md": api_markdown}


def main(argv: list[str]) -> int:
    stale = []
    for page, make in PAGES.items():
        text = make() + "\n"
        path = DOCS / page
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(page)
        else:
            path.write_text(text)
    if stale:
        print(f"{', '.join(stale)} differ from the code; run: python docs/reference.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
