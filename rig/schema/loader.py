"""Load YAML files into pydantic v2 models and report every problem with its location.

Contract:

* ``load_model(path, Model)`` returns the validated model or raises :class:`LoadError` whose
  ``problems`` hold *every* problem found in the file, sorted by (line, col). Bad input never
  surfaces as a bare traceback. ``str(problem)`` is ``FILE:LINE:COL: field.path: message``
  (1-based; the ``field.path: `` part is omitted for whole-document problems) and FILE is the
  path exactly as the caller gave it.
* ``read_yaml`` reports unreadable files, YAML syntax errors, duplicate mapping keys (which
  PyYAML would silently accept), unconstructible values and a top level that is not a mapping.
* Validation errors point at the YAML value they concern; unknown fields (``extra_forbidden``)
  and bad dict keys point at the key. Loc elements absent from the data (union and
  discriminator tags) are dropped; a missing field points at its parent mapping.
* Validators can point at any place below the model they validate by raising
  ``located_error("stages.2.context", msg)`` or ``located_errors([(loc, msg), ...])``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]
Pos = tuple[int, int]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_NODES = 1_000_000  # guards against alias expansion bombs
_MESSAGES = {"extra_forbidden": "unknown field", "missing": "field required"}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}:"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where} {self.message}"


class LoadError(Exception):
    """Raised with every problem found in one file."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Located:
    """Plain data plus the (line, col) of each value node; key nodes kept separately."""

    data: object
    positions: dict[Loc, Pos]
    key_positions: dict[Loc, Pos] = field(default_factory=dict, repr=False)


def located_error(loc: str, message: str) -> PydanticCustomError:
    """Error for a validator to raise; ``loc`` is dotted, relative to the validated model."""
    return PydanticCustomError("located", "{message}", {"message": message, "loc": loc})


def located_errors(items: Iterable[tuple[str, str]]) -> PydanticCustomError:
    """Like :func:`located_error` but carries several (loc, message) problems at once."""
    pairs = [[loc, message] for loc, message in items]
    joined = "; ".join(message for _, message in pairs)
    return PydanticCustomError("located_many", "{message}", {"message": joined, "items": pairs})


def _pos(node: yaml.Node) -> Pos:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _dotted(path: Iterable[str | int]) -> str:
    return ".".join(str(part) for part in path)


class _TooLarge(Exception):
    pass


class _Builder:
    """Turns a composed node graph into plain data, recording node positions."""

    def __init__(self, file: str, loader: yaml.SafeLoader) -> None:
        self.file, self.loader = file, loader
        self.positions: dict[Loc, Pos] = {}
        self.key_positions: dict[Loc, Pos] = {}
        self.problems: list[Problem] = []
        self.active: set[int] = set()  # ids of nodes being built (recursive alias guard)
        self.budget = _MAX_NODES

    def problem(self, pos: Pos, message: str, path: Loc) -> None:
        self.problems.append(Problem(self.file, pos[0], pos[1], _dotted(path), message))

    def build(self, node: yaml.Node, path: Loc) -> object:
        self.budget -= 1
        if self.budget < 0:
            raise _TooLarge
        self.positions[path] = _pos(node)
        if id(node) in self.active:
            self.problem(_pos(node), "recursive alias", path)
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
                out: dict[object, object] = {}
                self.fill(node, path, out)
                return out
            if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self.construct(node, path)
        finally:
            self.active.discard(id(node))

    def construct(self, node: yaml.Node, path: Loc) -> object:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            pos = (mark.line + 1, mark.column + 1) if mark else _pos(node)
            self.problem(pos, f"invalid value: {exc.problem or exc}", path)
        except (ValueError, TypeError, yaml.YAMLError) as exc:
            self.problem(_pos(node), f"invalid value: {exc}", path)
        return None

    def fill(self, node: yaml.MappingNode, path: Loc, out: dict[object, object]) -> None:
        for key_node, value_node in node.value:  # YAML merge keys ("<<"): own keys win
            if key_node.tag != _MERGE_TAG:
                continue
            is_seq = isinstance(value_node, yaml.SequenceNode)
            sources = value_node.value if is_seq else [value_node]
            for src in reversed(sources):
                if not isinstance(src, yaml.MappingNode) or id(src) in self.active:
                    self.problem(_pos(src), "invalid merge: expected a mapping", path)
                    continue
                self.active.add(id(src))
                self.fill(src, path, out)
                self.active.discard(id(src))
        seen: set[object] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct(key_node, path) if isinstance(key_node, yaml.ScalarNode) else []
            try:
                hash(key)
            except TypeError:
                self.problem(_pos(key_node), "unsupported mapping key", path)
                continue
            seg: str | int = key if isinstance(key, str | int) else str(key)
            if key in seen:
                self.problem(_pos(key_node), f"duplicate key {key!r}", (*path, seg))
            seen.add(key)
            self.key_positions[(*path, seg)] = _pos(key_node)
            out[key] = self.build(value_node, (*path, seg))


def _syntax_problem(file: str, exc: yaml.YAMLError) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            reason = exc.problem or exc.context or str(exc)
            if exc.context and reason.startswith("but "):  # "expected X, but found Y"
                reason = f"{exc.context}, {reason}"
            return Problem(file, mark.line + 1, mark.column + 1, "", f"YAML syntax error: {reason}")
    return Problem(file, 1, 1, "", f"YAML syntax error: {exc}")


def read_yaml(path: Path) -> Located:
    """Parse one YAML document (a mapping at the top level); raise LoadError on any problem."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LoadError([Problem(file, 1, 1, "", f"cannot read file: {reason}")]) from None
    try:
        loader = yaml.SafeLoader(text)  # checks every character first
    except yaml.reader.ReaderError as exc:  # a control character: say where it is
        before = text[: exc.position]
        line, col = before.count("\n") + 1, len(before) - before.rfind("\n")
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        reason = f"character U+{code:04X} is not allowed in YAML (a control character)"
        raise LoadError([Problem(file, line, col, "", reason)]) from None
    builder = _Builder(file, loader)
    try:
        root = loader.get_single_node()
        data = None if root is None else builder.build(root, ())
    except yaml.YAMLError as exc:
        raise LoadError([_syntax_problem(file, exc)]) from None
    except (_TooLarge, RecursionError):
        raise LoadError([Problem(file, 1, 1, "", "document too large or too deep")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        line, col = builder.positions.get((), (1, 1))
        raise LoadError([Problem(file, line, col, "", "expected a mapping at the top level")])
    if builder.problems:
        raise LoadError(sorted(builder.problems, key=lambda p: (p.line, p.col)))
    return Located(data, builder.positions, builder.key_positions)


def _variants(part: str | int) -> tuple[str | int, ...]:
    if isinstance(part, int):
        return part, str(part)
    return (part, int(part)) if part.isascii() and part.isdigit() else (part,)


def _match(located: Located, loc: Iterable[str | int]) -> tuple[Loc, bool]:
    """Longest data path along ``loc`` (skipping absent elements); whether the last matched."""
    current: Loc = ()
    last = True
    for part in loc:
        last = False
        for candidate in _variants(part):
            if (*current, candidate) in located.positions:
                current, last = (*current, candidate), True
                break
    return current, last


def locate(located: Located, loc: tuple[str | int, ...], *, key: bool = False) -> Pos:
    """Most precise known (line, col) for a (pydantic) loc; with ``key``, the key's position."""
    path, last = _match(located, loc)
    if path and ((key and last) or loc[-1:] == ("[key]",)) and path in located.key_positions:
        return located.key_positions[path]
    return located.positions.get(path, (1, 1))


def _split(dotted: str) -> Loc:
    return tuple(int(s) if s.isascii() and s.isdigit() else s for s in dotted.split(".") if s)


def problems_from_validation(file: str, located: Located, err: ValidationError) -> list[Problem]:
    """One Problem per pydantic error (``located``/``located_many`` expanded), sorted."""
    problems: list[Problem] = []

    def add(loc: Loc, path: Loc, message: str, key: bool = False) -> None:
        line, col = locate(located, loc, key=key)
        problems.append(Problem(file, line, col, _dotted(path), message))

    for error in err.errors(include_url=False):
        loc, kind, ctx = tuple(error["loc"]), error["type"], error.get("ctx") or {}
        base, last = _match(located, loc)
        if kind in ("located", "located_many"):
            items = [(ctx["loc"], ctx["message"])] if kind == "located" else ctx["items"]
            for sub, message in items:
                full = (*base, *_split(str(sub)))
                add(full, full, str(message))
            continue
        path = (*base, loc[-1]) if kind == "missing" and loc and not last else base
        message = _MESSAGES.get(kind, error["msg"]).removeprefix("Value error, ")
        add(loc, path, message, key=kind == "extra_forbidden")
    return sorted(problems, key=lambda p: (p.line, p.col))


def load_model(path: Path, model: type[M], *, context: dict[str, object] | None = None) -> M:
    """Read ``path`` and validate it as ``model``; raise LoadError listing every problem."""
    located = read_yaml(path)
    try:
        return model.model_validate(located.data, context=context)
    except ValidationError as err:
        raise LoadError(problems_from_validation(str(path), located, err)) from None
