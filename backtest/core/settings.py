"""Every setting of a run config, read from its definition, so the reference cannot drift from the code.

Each key's description is the comment written beside its field in backtest/core/config.py (the full-line
comments just above the field, then the trailing ``# comment``); its type and default come from the
dataclass, its choices from a ``Literal`` type or the table of names it must be one of, and its range from
the validators' own messages where they state one. ``wfbt settings`` prints the table and
``wfbt settings --markdown`` writes docs/settings.md (a test compares the two).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import tokenize
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from backtest.core import config as config_module
from backtest.core import scope
from backtest.core.config import SOURCES, UNIVERSE_BOOKS, NetworkSection, RunConfig


@dataclass(frozen=True)
class Setting:
    """One key of a run config: ``section.key``, its type, default, choices, range and description."""

    key: str
    type: str
    default: str
    choices: tuple[str, ...]
    range: str
    description: str
    kinds: tuple[str, ...] = ("single", "universe")  # the run kinds that apply it (backtest.core.scope)

    @property
    def section(self) -> str:
        return self.key.partition(".")[0]

    @property
    def runs(self) -> str:
        """The kinds that apply the key, in a word: both, single or universe."""
        return "both" if len(self.kinds) == 2 else self.kinds[0]


def _registry_models() -> list[str]:
    from forecasters.registry import forecasters

    return list(forecasters())


def _rules() -> list[str]:
    from strategies.signals import RULES

    return list(RULES)


def _features() -> list[str]:
    from strategies.features import FEATURES, PRICE_COLUMNS

    return [*PRICE_COLUMNS, *(f.pattern for f in FEATURES.values())]  # the derived ones as patterns: ret_<n>


# Keys whose values are names from a table rather than a Literal: the table they are checked against.
NAMED: dict[str, Callable[[], list[str]]] = {
    "data.source": lambda: list(SOURCES),
    "forecast.models": _registry_models,
    "forecast.features": _features,
    "strategies.rules": _rules,
    "universe.books": lambda: list(UNIVERSE_BOOKS),
}


def _comments(source: str) -> dict[int, tuple[str, bool]]:
    """Line number -> (comment text, whether the comment is the whole line)."""
    out: dict[int, tuple[str, bool]] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            whole = not tok.line[: tok.start[1]].strip()
            out[tok.start[0]] = (tok.string.lstrip("#").strip(), whole)
    return out


# A phrase cannot end on these words: a comment that does is continued on the next comment line.
_OPEN_ENDS = frozenset("a an the of to for in on at by with and or but than as from into per its their is are "
                       "be which that when where while whose".split())


def unfinished(text: str) -> bool:
    """Whether a comment stops mid-phrase: on a word like "of", a comma or colon, or with a bracket open."""
    words = text.rstrip().split()
    if not words:
        return False
    last = words[-1]
    opened = sum(text.count(o) - text.count(c) for o, c in ("()", "[]", "{}"))
    return last.lower() in _OPEN_ENDS or last[-1] in ",:;(-=" or opened > 0


def _joined(above: list[str], trailing: list[str]) -> str:
    """The comment lines above a field and its trailing ones as one text; two finished parts are parted by "; "
    (no run-on "held until it is closed all_in = 1")."""
    first, second = " ".join(above).strip(), " ".join(trailing).strip()
    if not first or not second:
        return first or second
    return f"{first} {second}" if unfinished(first) or first[-1] in ".;:" else f"{first}; {second}"


def _trailing(node: ast.AnnAssign, comments: dict[int, tuple[str, bool]]) -> tuple[list[str], int]:
    """A field's trailing comments (a field may span lines) and the full-line comments that finish one left
    mid-phrase (``# ... the rest of a run of`` then ``# 505 stocks takes ~1.2 GB``); and the last line used."""
    line = node.end_lineno or node.lineno
    parts = [comments[n][0] for n in range(node.lineno, line + 1) if n in comments and not comments[n][1]]
    while parts and unfinished(" ".join(parts)) and line + 1 in comments and comments[line + 1][1]:
        line += 1
        parts.append(comments[line][0])
    return parts, line


def _above(node: ast.AnnAssign, comments: dict[int, tuple[str, bool]], floor: int) -> list[str]:
    """The full-line comments right above a field, below ``floor`` (the last line the field above used)."""
    above, line = [], node.lineno - 1
    while line > floor and line in comments and comments[line][1]:
        above.insert(0, comments[line][0])
        line -= 1
    return above


def class_comments(source: str, class_name: str) -> dict[str, str]:
    """Field name -> its description, for one dataclass defined in ``source``: the comments above it, then its
    trailing comment with the lines that finish it."""
    comments = _comments(source)
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            out, floor = {}, node.lineno
            for n in node.body:
                if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
                    trailing, last = _trailing(n, comments)
                    out[n.target.id] = _joined(_above(n, comments, floor), trailing)
                    floor = last
            return out
    return {}


def _class_comments(cls: type) -> dict[str, str]:
    """Field name -> its comment, for one section dataclass of config.py."""
    return class_comments(inspect.getsource(config_module), cls.__name__)


def _ranges() -> dict[str, str]:
    """``section.key`` -> the range a validator states: a (key, value, ok, "expected") row, or a "positive" key."""
    out: dict[str, str] = {}
    tree = ast.parse(inspect.getsource(config_module))
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple) and len(node.elts) == 4 and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in (node.elts[0], node.elts[3])):
            out[node.elts[0].value] = node.elts[3].value  # type: ignore[union-attr]
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "positive" for t in node.targets):
            for k in getattr(node.value, "keys", []):
                if isinstance(k, ast.Constant):
                    out.setdefault(k.value, "positive")
    return out


def _type_name(tp: Any) -> str:
    """A TOML-minded name of a field's type: string, integer, number, true/false, list of ..., table."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return f"{_type_name(_unwrapped(tp))} or unset"
    if origin is Literal:
        return "string"
    if origin is list:
        return f"list of {_type_name(get_args(tp)[0])}s"
    if origin is dict:
        return "table of strings"
    return {str: "string", int: "integer", float: "number", bool: "true/false"}.get(tp, str(tp))


def toml_literal(value: Any) -> str:
    """A default as it is written in a config file (None: not set)."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _unwrapped(tp: Any) -> Any:
    """``X | None`` -> X; any other type as it is."""
    if get_origin(tp) in (typing.Union, types.UnionType):
        return [a for a in get_args(tp) if a is not type(None)][0]
    return tp


def _choices(key: str, tp: Any) -> tuple[str, ...]:
    tp = _unwrapped(tp)
    if get_origin(tp) is Literal:
        return tuple(map(str, get_args(tp)))
    return tuple(NAMED[key]()) if key in NAMED else ()


def settings() -> list[Setting]:
    """Every key of every section, in the order the config defines them, with its built-in default."""
    built_in, ranges, out = RunConfig(), _ranges(), []
    for section in dataclasses.fields(RunConfig):
        # [networks.NAME] is a table of tables: its keys are those of one NetworkSection, under any NAME
        table, prefix = ((NetworkSection(), "networks.NAME") if section.name == "networks"
                         else (getattr(built_in, section.name), section.name))
        cls = type(table)
        hints, notes = typing.get_type_hints(cls), _class_comments(cls)
        for f in dataclasses.fields(cls):
            key = f"{prefix}.{f.name}"
            out.append(Setting(key, _type_name(hints[f.name]), toml_literal(getattr(table, f.name)),
                               _choices(key, hints[f.name]), ranges.get(key, ""), notes.get(f.name, ""),
                               scope.kinds(key)))
    return out


def sections() -> list[str]:
    return [f.name for f in dataclasses.fields(RunConfig)]
