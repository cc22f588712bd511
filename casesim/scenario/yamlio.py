"""Strict YAML input for scenario files, with a line for every value.

Scenario files are read with a restricted loader: duplicate keys, non-string keys
and tags beyond the YAML core schema are errors, and only ``true``/``false`` are
booleans (``no``, ``on``, ``y`` stay strings). Sexagesimal numbers (``1:30``) and
timestamps stay strings too, and ``1e-3`` is a float (YAML 1.2). A file may
``extends:`` other files, and ``--set key.path=value`` overrides apply last.

Every problem is reported as ``file:LINE: field.path: message`` (see ``Problem``)
so that the CLI can print ``ScenarioError.problems`` one per line.

Only regular files of at most 1 MiB are read (:func:`read_input`): a device, a named pipe or an
oversized file is an input error, not a hang or a memory blow-up.
"""

from __future__ import annotations

import copy
import os
import re
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pydantic
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

PathKey = tuple[str | int, ...]
Origin = tuple[str, int | None]

SET_FILE = "--set"
_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + name for name in ("str", "int", "float", "bool", "null")}
_MAX_NODES = 200_000  # guards against alias bombs ("billion laughs")


@dataclass(frozen=True)
class Problem:
    """One user-facing error, located in a file (or on the command line)."""

    file: str
    line: int | None
    path: str
    message: str

    def format(self) -> str:
        """Render as ``file:line: path: message`` (line and path omitted when unknown)."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ScenarioError(Exception):
    """Raised with every problem found; ``str()`` gives one formatted problem per line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(self.problems)  # args stay picklable (e.g. across worker processes)

    def __str__(self) -> str:
        return "\n".join(problem.format() for problem in self.problems)


class LineMap:
    """Where each value came from: maps path tuples (str keys / int indices) to (file, line)."""

    def __init__(self, top_file: str = "", entries: dict[PathKey, Origin] | None = None) -> None:
        self.top_file = top_file
        self._entries: dict[PathKey, Origin] = dict(entries or {})

    def set(self, path: tuple, file: str, line: int | None) -> None:
        """Record that the value at ``path`` was written at ``file:line``."""
        self._entries[tuple(path)] = (file, line)

    def get(self, path: tuple) -> Origin | None:
        """Return the exact entry for ``path``, or None."""
        return self._entries.get(tuple(path))

    def __contains__(self, path: object) -> bool:
        return isinstance(path, tuple) and path in self._entries

    def paths(self) -> list[PathKey]:
        """All recorded paths, in recording order."""
        return list(self._entries)

    def locate(self, path: tuple) -> Origin:
        """Return the entry of the longest recorded prefix of ``path`` (root: top file, line 1)."""
        path = tuple(path)
        for size in range(len(path), -1, -1):
            hit = self._entries.get(path[:size])
            if hit is not None:
                return hit
        return (self.top_file, 1)

    def drop(self, prefix: tuple) -> None:
        """Forget ``prefix`` and everything below it (its value was replaced)."""
        prefix = tuple(prefix)
        size = len(prefix)
        for path in [p for p in self._entries if p[:size] == prefix]:
            del self._entries[path]

    def merged(self, other: LineMap, replaced: Iterable[tuple] = ()) -> LineMap:
        """Return a copy overlaid by ``other``; entries at or under ``replaced`` paths are dropped first."""
        cut = {tuple(p) for p in replaced}
        kept = {
            path: origin
            for path, origin in self._entries.items()
            if not cut or not any(path[:size] in cut for size in range(len(path) + 1))
        }
        kept.update(other._entries)
        return LineMap(other.top_file or self.top_file, kept)


# --------------------------------------------------------------------------- loader

_BOOL_RE = re.compile(r"^(?:true|false)$", re.IGNORECASE)
_INT_RE = re.compile(
    r"""^(?:[-+]?0b[0-1_]+|[-+]?0o[0-7_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""",
    re.X,
)
_RESOLVERS: list[tuple[str, re.Pattern[str], list[str]]] = [
    (_CORE + "bool", _BOOL_RE, list("tTfF")),
    (_CORE + "float", _FLOAT_RE, list("-+0123456789.")),
    (_CORE + "int", _INT_RE, list("-+0123456789")),
    (_CORE + "merge", re.compile(r"^<<$"), ["<"]),
    (_CORE + "null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
]


class StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2-style scalars; used only to compose nodes and build scalars."""

    yaml_implicit_resolvers: ClassVar[dict] = {}  # our own table, filled below
    bool_values: ClassVar[dict[str, bool]] = {"true": True, "false": False}  # `!!bool yes` is an error

    def get_single_data(self) -> Any:
        """Build the document with all strict checks (so ``yaml.load(text, StrictLoader)`` is strict too)."""
        node = self.get_single_node()
        if node is None:
            return None
        builder = _Builder(self, self.name)
        data = builder.build(node, ())
        if builder.problems:
            raise ScenarioError(builder.problems)
        return data


for _tag, _regexp, _first in _RESOLVERS:
    StrictLoader.add_implicit_resolver(_tag, _regexp, _first)


def _dotted(path: Iterable[Any]) -> str:
    return ".".join(str(part) for part in path)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


class _Builder:
    """Turns a composed node tree into plain Python data, recording lines and problems."""

    def __init__(self, loader: StrictLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.lines = LineMap(file, {(): (file, 1)})
        self.problems: list[Problem] = []
        self.count = 0
        self.active: set[int] = set()

    def problem(self, node: Node, path: PathKey, message: str) -> None:
        self.problems.append(Problem(self.file, node.start_mark.line + 1, _dotted(path), message))

    def build(self, node: Node, path: PathKey) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise ScenarioError([Problem(self.file, None, "", "document too large (alias expansion)")])
        if id(node) in self.active:
            self.problem(node, path, "recursive alias")
            return None
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        expected = _CORE + ("seq" if isinstance(node, SequenceNode) else "map")
        if node.tag != expected:
            self.problem(node, path, f"tags are not allowed: {_short_tag(node.tag)}")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                items = []
                for index, item in enumerate(node.value):
                    self.lines.set((*path, index), self.file, item.start_mark.line + 1)
                    items.append(self.build(item, (*path, index)))
                return items
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: ScalarNode, path: PathKey) -> Any:
        if node.tag not in _SCALAR_TAGS:
            self.problem(node, path, f"tags are not allowed: {_short_tag(node.tag)}")
            return None
        try:
            return self.loader.construct_object(node)
        except (yaml.YAMLError, ValueError, KeyError):
            self.problem(node, path, f"cannot read {node.value!r} as {_short_tag(node.tag)}")
            return None

    def key(self, node: Node, path: PathKey) -> str | None:
        if node.tag == _CORE + "merge":
            self.problem(node, path, "merge keys ('<<') are not supported; use extends")
        elif node.tag not in _SCALAR_TAGS | {_CORE + "seq", _CORE + "map"}:
            self.problem(node, path, f"tags are not allowed: {_short_tag(node.tag)}")
        elif not isinstance(node, ScalarNode) or node.tag != _CORE + "str":
            shown = node.value if isinstance(node, ScalarNode) else "a collection"
            self.problem(node, path, f"keys must be strings (got {shown})")
        else:
            return node.value
        return None

    def mapping(self, node: MappingNode, path: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self.key(key_node, path)
            if key is None:
                continue
            line = key_node.start_mark.line + 1
            if key in first_line:
                msg = f"duplicate key '{key}' (first defined on line {first_line[key]})"
                self.problem(key_node, (*path, key), msg)
                continue
            first_line[key] = line
            self.lines.set((*path, key), self.file, line)
            result[key] = self.build(value_node, (*path, key))
        return result


_EMPTY = object()


def _parse(text: str, file: str) -> tuple[Any, LineMap]:
    """Parse one YAML document strictly; returns ``_EMPTY`` for a document with no content."""
    loader: StrictLoader | None = None
    try:
        loader = StrictLoader(text)
        node = loader.get_single_node()
        if node is None:
            return _EMPTY, LineMap(file, {(): (file, 1)})
        builder = _Builder(loader, file)
        data = builder.build(node, ())
        if builder.problems:
            raise ScenarioError(builder.problems)
        return data, builder.lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        text = f"{exc.problem} ({exc.context})" if exc.problem and exc.context else exc.problem or exc.context
        message = " ".join(str(text or "syntax error").split())
        problem = Problem(file, mark.line + 1 if mark else None, "", f"invalid YAML: {message}")
        raise ScenarioError([problem]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ScenarioError([Problem(file, line, "", f"invalid YAML: {exc.reason} (#x{char:04x})")]) from None
    except RecursionError:
        raise ScenarioError([Problem(file, None, "", "invalid YAML: nesting too deep")]) from None
    finally:
        if loader is not None:
            loader.dispose()


class _ReadError(Exception):
    """A file could not be read; the argument is the reason."""


_READ_REASONS: list[tuple[type[Exception], str]] = [
    (FileNotFoundError, "file not found"),
    (IsADirectoryError, "is a directory, not a file"),
    (PermissionError, "permission denied"),
    (UnicodeDecodeError, "not UTF-8 text"),
]

#: The largest input file read (scenario, experiment, ``extends`` base): 1 MiB. The shipped national
#: scenario is about 20 KB; the limit keeps a wrong path (a log, a data dump) from being read whole.
MAX_INPUT_BYTES = 1024 * 1024
_NOT_REGULAR = [(stat.S_ISDIR, "is a directory, not a file"), (stat.S_ISFIFO, "a named pipe"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISSOCK, "a socket")]


def not_regular(mode: int) -> str | None:
    """Why a file of ``st_mode`` ``mode`` is not read (a directory, a named pipe, a device), or None if it
    is a regular file."""
    if stat.S_ISREG(mode):
        return None
    what = next((text for test, text in _NOT_REGULAR if test(mode)), "a special file")
    return what if what.startswith("is a") else f"not a regular file ({what})"


def read_input(path: str | Path) -> bytes:
    """The bytes of an input file, read only if it is a regular file of at most ``MAX_INPUT_BYTES``.

    The file is opened without blocking (a named pipe with no writer would otherwise wait forever) and
    checked with ``fstat`` on the open descriptor, so what is checked is what is read; a device such as
    ``/dev/zero`` is refused before any byte is read, and at most one byte beyond the limit is ever read.

    Raises:
        _ReadError: with the reason (missing, a directory or other non-regular file, too large, ...).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        reason = next((text for kind, text in _READ_REASONS if isinstance(exc, kind)), None)
        raise _ReadError(reason or exc.strerror or str(exc)) from None
    try:
        problem = not_regular(os.fstat(fd).st_mode)
        if problem is not None:
            raise _ReadError(problem)
        chunks, size = [], 0
        while size <= MAX_INPUT_BYTES:
            chunk = os.read(fd, MAX_INPUT_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_INPUT_BYTES:
            raise _ReadError(f"larger than {MAX_INPUT_BYTES // 1024 // 1024} MiB, the limit for an input file "
                             "(a scenario or experiment is a few kilobytes)")
        return b"".join(chunks)
    except OSError as exc:
        raise _ReadError(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def read_input_file(path: str | Path) -> bytes:
    """:func:`read_input`, with a refusal raised as ``ScenarioError`` (``file: problem``)."""
    try:
        return read_input(path)
    except _ReadError as exc:
        raise ScenarioError([Problem(str(path), None, "", str(exc))]) from None


def _read(path: Path) -> str:
    try:
        return read_input(path).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _ReadError("not UTF-8 text") from None


def _load(path: Path, display: str) -> tuple[dict, LineMap]:
    data, lines = _parse(_read(path), display)
    if data is _EMPTY:
        raise ScenarioError([Problem(display, 1, "", "file is empty")])
    if not isinstance(data, dict):
        kind = "list" if isinstance(data, list) else type(data).__name__
        message = f"top level must be a mapping of settings, not a {kind}"
        raise ScenarioError([Problem(display, 1, "", message)])
    return data, lines


def load_yaml(path: str | Path) -> tuple[Any, LineMap]:
    """Load one scenario file strictly (no ``extends`` processing).

    Returns:
        The top-level mapping and the line of every key and list item.

    Raises:
        ScenarioError: unreadable file, bad YAML, or a rule of the strict loader broken.
    """
    try:
        return _load(Path(path), str(path))
    except _ReadError as exc:
        raise ScenarioError([Problem(str(path), None, "", str(exc))]) from None


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value as YAML with the strict rules (``no`` stays a string; empty is null).

    Raises:
        ScenarioError: with ``--set`` as the file and no line.
    """
    try:
        data, _ = _parse(text, SET_FILE)
    except ScenarioError as exc:
        raise ScenarioError([Problem(SET_FILE, None, p.path, p.message) for p in exc.problems]) from None
    return None if data is _EMPTY else data


# --------------------------------------------------------------------------- extends and overrides


def _deep_merge(base: dict, base_lines: LineMap, over: dict, over_lines: LineMap) -> tuple[dict, LineMap]:
    """Merge ``over`` into ``base`` (dicts recursively, everything else replaced).

    A mapping that names a different policy (its ``name`` differs from the base's) replaces
    the base mapping whole: the old policy's parameters do not leak into the new one. An
    explicitly empty mapping (``{}``) replaces too: it is how a file empties an inherited one.
    """
    replaced: list[PathKey] = []

    def walk(dst: dict, src: dict, prefix: PathKey) -> None:
        for key, value in src.items():
            old = dst.get(key)
            if (isinstance(value, dict) and isinstance(old, dict) and value
                    and ("name" not in value or value.get("name") == old.get("name"))):
                walk(dst[key], value, (*prefix, key))
            else:
                dst[key] = value
                replaced.append((*prefix, key))

    walk(base, over, ())
    return base, base_lines.merged(over_lines, replaced)


def _extends_refs(data: dict, lines: LineMap, display: str) -> list[tuple[str, int | None]]:
    value = data.pop("extends", None)
    line = lines.locate(("extends",))[1]
    refs = [] if value is None else [value] if isinstance(value, str) else value
    if not isinstance(refs, list) or not all(isinstance(ref, str) and ref.strip() for ref in refs):
        message = "must be a file name or a list of file names"
        raise ScenarioError([Problem(display, line, "extends", message)])
    found = [(ref, lines.locate(("extends", i))[1]) for i, ref in enumerate(refs)]
    lines.drop(("extends",))
    return found


def _resolve_file(path: Path, display: str, chain: list[tuple[str, str]]) -> tuple[dict, LineMap]:
    data, lines = _load(path, display)
    refs = _extends_refs(data, lines, display)
    if not refs:
        return data, lines
    chain = [*chain, (os.path.realpath(path), display)]
    merged, merged_lines = {}, LineMap(display)
    problems: list[Problem] = []
    for ref, line in refs:
        base_path = path.parent / ref
        base_display = os.path.normpath(os.path.join(os.path.dirname(display), ref))
        ids = [ident for ident, _ in chain]
        if os.path.realpath(base_path) in ids:
            start = ids.index(os.path.realpath(base_path))
            names = " -> ".join([name for _, name in chain[start:]] + [base_display])
            problems.append(Problem(display, line, "extends", f"extends cycle: {names}"))
            continue
        try:
            base, base_lines = _resolve_file(base_path, base_display, chain)
        except _ReadError as exc:
            problems.append(Problem(display, line, "extends", f"cannot read '{ref}': {exc}"))
            continue
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        merged, merged_lines = _deep_merge(merged, merged_lines, base, base_lines)
    if problems:
        raise ScenarioError(problems)
    return _deep_merge(merged, merged_lines, data, lines)


def _mark(lines: LineMap, path: PathKey, value: Any, origin: Origin) -> None:
    lines.set(path, *origin)
    if isinstance(value, dict):
        for key, item in value.items():
            _mark(lines, (*path, key), item, origin)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _mark(lines, (*path, index), item, origin)


def _apply_override(data: dict, lines: LineMap, text: str, defaults: dict | None = None) -> None:
    """Apply one ``dotted.key=value`` override in place, recording ``--set TEXT`` as the origin.

    Where the path leaves what the files wrote, the missing part is copied from ``defaults``
    (the schema's defaults) first, so ``--set`` changes one default value instead of replacing
    a whole defaulted section with a single key.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep:
        raise ScenarioError([Problem(SET_FILE, None, "", f"expected KEY=VALUE, got {text!r}")])
    if not key:
        raise ScenarioError([Problem(SET_FILE, None, "", f"empty key in {text!r}")])
    if all(key.split(".")):
        try:
            value = parse_value(raw)
        except ScenarioError as exc:
            raise ScenarioError([Problem(SET_FILE, None, key, f"cannot parse value {raw.strip()!r}: "
                                         f"{exc.problems[0].message}")]) from None
    else:
        value = None
    set_path(data, lines, key, value, (f"{SET_FILE} {text}", None), defaults, where=(SET_FILE, None))


def set_path(data: dict, lines: LineMap, key: str, value: Any, origin: Origin, defaults: dict | None = None,
             *, where: Origin = (SET_FILE, None), by_name: bool = False) -> PathKey:
    """Set the value at the dotted ``key`` of ``data`` in place (what ``--set`` and a scenario's ``changes``
    do), recording ``origin`` as where it was written; returns the path set (list items as indices).

    Where the path leaves what was written, the missing part is copied from ``defaults`` first. With
    ``by_name``, a list item may also be named by its ``name`` field (``staff.probation.count``).

    Raises:
        ScenarioError: a problem located at ``where`` (file, line), naming ``key``.
    """
    def fail(message: str) -> ScenarioError:
        return ScenarioError([Problem(where[0], where[1], key, message)])

    segments = key.split(".")
    if not all(segments):
        raise fail("empty segment in key")
    node: Any = data
    dnode: Any = defaults
    path: PathKey = ()
    for position, segment in enumerate(segments):
        step: str | int = segment
        if isinstance(node, list):
            names = [item.get("name") for item in node if isinstance(item, dict)] if by_name else []
            if by_name and not (segment.isascii() and segment.isdigit()) and segment in names:
                step = names.index(segment)
            elif not (segment.isascii() and segment.isdigit()):
                hint = f"use a number or a name ({', '.join(map(str, names))})" if by_name else "use a number"
                raise fail(f"'{_dotted(path)}' is a list: {hint}, not '{segment}'")
            else:
                step = int(segment)
            if step >= len(node):
                raise fail(f"list index {step} out of range ('{_dotted(path)}' has {len(node)} items)")
        elif not isinstance(node, dict):
            kind = {bool: "boolean", int: "number", float: "number", str: "string"}.get(type(node), "value")
            raise fail(f"'{_dotted(path)}' is a {kind}, not a mapping or list")
        path = (*path, step)
        dnode = _child(dnode, step)
        if position == len(segments) - 1:
            node[step] = copy.deepcopy(value)
            lines.drop(path)
            _mark(lines, path, value, origin)
        else:
            child = node[step] if isinstance(node, list) else node.get(step)
            if child is None and isinstance(dnode, (dict, list)):  # not written: start from the default
                child = node[step] = copy.deepcopy(dnode)
                lines.drop(path)
                lines.set(path, *origin)
            elif child is None:  # missing or null: create the intermediate mapping
                child = node[step] = {}
                lines.drop(path)
                lines.set(path, *origin)
            node = child
    return path


def _child(node: Any, step: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(step)
    if isinstance(node, list) and isinstance(step, int) and step < len(node):
        return node[step]
    return None


def resolve(path: str | Path, overrides: Sequence[str] = (), defaults: dict | None = None) -> tuple[dict, LineMap]:
    """Load a scenario, apply its ``extends`` chain, then the ``--set`` overrides.

    Returns:
        The merged mapping (without ``extends``) and where each value was written.

    Raises:
        ScenarioError: with every problem found.
    """
    try:
        data, lines = _resolve_file(Path(path), str(path), [])
    except _ReadError as exc:
        raise ScenarioError([Problem(str(path), None, "", str(exc))]) from None
    problems: list[Problem] = []
    for text in overrides:
        try:
            _apply_override(data, lines, text, defaults)
        except ScenarioError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ScenarioError(problems)
    return data, lines


# --------------------------------------------------------------------------- validation errors

_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9_]*[a-z][A-Za-z0-9_]*")  # union members named by model class
_TYPE_NAMES = {"int", "float", "str", "bool", "none", "list", "dict", "tuple", "set", "bytes"}
_NO_INPUT = {"missing", "extra_forbidden", "unknown_field"}


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float))


def _internal(element: str | int) -> bool:
    """Whether a loc element looks like pydantic bookkeeping (union member, validator, ``[key]``)."""
    return isinstance(element, str) and (
        any(ch in element for ch in "[](),") or element in _TYPE_NAMES or bool(_CLASS_NAME.fullmatch(element))
    )


def _clean_loc(error: Any, lines: LineMap) -> PathKey:
    """Map a pydantic ``loc`` onto data keys, dropping union tags and validator names."""
    loc, kind, given = error["loc"], error["type"], error.get("input")
    kept: list[str | int] = []
    for index, element in enumerate(loc):
        last = index + 1 == len(loc)
        if (*kept, element) in lines and (  # a union tag that is also a key of the section (e.g. 'rules')
                (not last and (*kept, element, loc[index + 1]) not in lines and (*kept, loc[index + 1]) in lines)
                or (kind == "unknown_field" and last and isinstance(given, dict) and given.get("name") == element)
                or (kind == "missing" and index + 2 == len(loc) and isinstance(given, dict)
                    and given.get("name") == element)):
            continue
        if (*kept, element) not in lines:
            if index + 1 < len(loc):
                after = (*kept, loc[index + 1]) in lines
                # a missing field's container is in the data; a tag names a value in it
                tag = kind == "missing" and index + 2 == len(loc) and isinstance(given, dict)
                if after or _internal(element) or (tag and element in map(str, given.values())):
                    continue
            elif kind != "missing" and _internal(element):
                continue
            elif kind == "unknown_field" and isinstance(given, dict) and element in map(str, given.values()):
                continue  # the tag of a discriminated union member (e.g. a policy's name), not a key
        kept.append(element)
    return tuple(kept)


def problems_from_validation(
    exc: pydantic.ValidationError,
    lines: LineMap,
    valid_fields: Callable[[PathKey], list[str] | None] | None = None,
    *,
    show_input: bool = False,
) -> list[Problem]:
    """Turn a pydantic error into located problems, sorted by (file, line).

    Args:
        exc: The validation error.
        lines: Where each value of the validated data was written.
        valid_fields: Optional; given the data path of a mapping, the field names it allows
            (used to explain ``extra_forbidden`` errors).
        show_input: Append ``(got VALUE)`` for short scalar inputs.
    """
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        kind = error["type"]
        path = _clean_loc(error, lines)
        ctx = error.get("ctx") or {}
        message = str(error["msg"])
        if kind == "unknown_field" and "field" in ctx:
            path = (*path, str(ctx["field"]))
        elif kind == "union_tag_invalid" and isinstance(error.get("input"), dict):
            discriminator = str(ctx.get("discriminator", "")).strip("'\"")
            if discriminator in error["input"]:
                path = (*path, discriminator)  # point at the line of the unknown name itself
        elif kind == "union_tag_not_found":
            discriminator = str(ctx.get("discriminator", "")).strip("'\"")
            message = f"missing '{discriminator}': say which policy this section uses (casesim schema lists them)"
        elif kind == "extra_forbidden" and path:
            message = f"unknown field '{path[-1]}'"
            valid = valid_fields(path[:-1]) if valid_fields else None
            if valid:
                message += f"; valid fields: {', '.join(valid)}"
        given = error.get("input")
        if show_input and kind not in _NO_INPUT and _is_scalar(given) and len(repr(given)) <= 40:
            message += f" (got {given!r})"  # large inputs are never rendered
        file, line = lines.locate(path)
        problems.append(Problem(file, line, _dotted(path), " ".join(message.split())))
    return sorted(problems, key=lambda p: (p.file, p.line or 0))


# --------------------------------------------------------------------------- output


class _Dumper(yaml.SafeDumper):
    """SafeDumper that also quotes strings our loader (YAML 1.2-style) would read as non-strings."""


for _tag, _regexp, _first in _RESOLVERS:
    _Dumper.add_implicit_resolver(_tag, _regexp, _first)
_Dumper.add_representer(tuple, yaml.SafeDumper.represent_list)


def dump_yaml(data: Any) -> str:
    """Dump plain data as block-style YAML, keeping key order (e.g. for ``scenario.resolved.yaml``)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
