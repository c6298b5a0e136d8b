"""Load a spec: bytes -> YAML (positions kept) -> pydantic models -> cross-field checks.

Every problem becomes a :class:`~lbgen.diagnostics.Diagnostic` pointing into the file; all of them
are collected and raised together as one :class:`~lbgen.diagnostics.SpecError`.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, merge_attrib
from ruamel.yaml.composer import Composer, ComposerError, MaxDepthExceededError
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.parser import Parser
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.scanner import Scanner

from lbgen.diagnostics import Diagnostic, Level, SpecError, did_you_mean, has_errors, sort_key
from lbgen.frozen import record
from lbgen.spec.grammar import unusable_character
from lbgen.spec.models import Spec
from lbgen.spec.source import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_VALUES,
    SCHEMA_KEY,
    SURROGATE,
    Path_,
    SpecSource,
    dotted,
)

#: pydantic's error types -> our diagnostic codes (custom errors already carry our code).
_PYDANTIC_CODES = {
    "extra_forbidden": "unknown-field",
    "missing": "missing-field",
    "literal_error": "value",
    "enum": "value",
    "greater_than_equal": "range",
    "less_than_equal": "range",
    "too_short": "empty",
    "too_long": "range",
}


#: Python types -> what a YAML author calls them, most specific first: a bool is an int, a
#: datetime a date, and ruamel's own classes (``ScalarFloat``, ``CommentedKeySeq``, an anchored
#: ``ScalarBoolean``) subclass these, so their names never reach a message.
_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    ((bool, ScalarBoolean), "a boolean"), (int, "an integer"), (float, "a number"),
    (str, "a string"), (datetime.datetime, "a timestamp"), (datetime.date, "a date"),
    (Mapping, "a mapping"), ((Sequence, set), "a list"), (type(None), "null"),
)  # fmt: skip


def kind_of(value: Any) -> str:
    """``"a string"``, ``"a list"``, ``"a date"``, ... for a loaded YAML value."""
    for types, kind in _KINDS:
        if isinstance(value, types):
            return kind
    return type(value).__name__


def read_source(source: str | Path | bytes, filename: str | None = None) -> tuple[bytes, str]:
    """Bytes and a display name for a path, ``-`` (stdin) or raw bytes.

    Files and stdin are read through :mod:`lbgen.inputs`: regular files only, at most the input
    size limit; anything else is one ``io`` or ``too-large`` error.
    """
    from lbgen.inputs import InputError, check_size, read_input, read_stdin

    name = filename or ("<spec>" if isinstance(source, bytes) else
                        "<stdin>" if str(source) == "-" else str(source))  # fmt: skip
    try:
        if isinstance(source, bytes):
            check_size(len(source))
            return source, name
        if str(source) == "-":
            return read_stdin(), name
        return read_input(source), name
    except InputError as exc:
        code = "too-large" if "input limit" in str(exc) else "io"
        raise SpecError([Diagnostic(Level.ERROR, code, f"cannot read: {exc}", file=name)]) from None
    except OSError as exc:
        raise SpecError([
            Diagnostic(Level.ERROR, "io", f"cannot read: {exc.strerror or exc}", file=name)
        ]) from None  # fmt: skip


def _decode(data: bytes, filename: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise SpecError([
            Diagnostic(Level.ERROR, "encoding",
                       f"not UTF-8 (byte 0x{data[exc.start]:02x})", filename, line, col)
        ]) from None  # fmt: skip
    if "\x00" in text:  # binary, or UTF-16/32 without a BOM (valid UTF-8, but not text)
        start = data.index(b"\x00")
        before = data[:start]
        line, col = before.count(b"\n") + 1, start - (before.rfind(b"\n") + 1) + 1
        message = "binary data (NUL byte): a spec is UTF-8 text"
        raise SpecError([Diagnostic(Level.ERROR, "encoding", message, filename, line, col)])
    return text


#: Tags a spec may carry: YAML's core schema. Anything else (``!!omap``, ``!!set``,
#: ``!!binary``, ``!!python/...``, ``!local``) is refused where it is written.
_CORE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")
) | {"!"}


class _SpecComposer(Composer):
    """ruamel's composer, refusing tags outside the core schema where they are written."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if not self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            tag = getattr(event, "tag", None)
            if tag is not None and str(tag) not in _CORE_TAGS:
                shown = str(tag).replace("tag:yaml.org,2002:", "!!")
                raise ComposerError(
                    None, None, f"tag {shown} is not allowed in a spec (plain YAML values only)",
                    event.start_mark,
                )  # fmt: skip
        return super().compose_node(parent, index)


class _OddKey:
    """A mapping key that is not a string (``1``, ``true``, ``~``, ``1.5``, ``[a, b]``): every key
    of a spec is a name, so the walk refuses it, at its own line, as written in the file.

    Equal only to a key of the same YAML type and value (``~`` and ``null``; ``1`` and ``0x1``),
    as YAML 1.2 compares keys: Python's ``False == 0`` and ``1 == 1.0`` would otherwise make two
    different keys one, and ruamel report them as duplicates.
    """

    __slots__ = ("tag", "value", "written")

    def __init__(self, tag: str, value: Any, written: str) -> None:
        self.tag, self.value, self.written = tag, value, written

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _OddKey) and (self.tag, self.value) == (other.tag, other.value)

    def __hash__(self) -> int:
        return hash(self.tag)  # the value may be a list; equality decides within a tag


class _OddKeyNode(ScalarNode):
    """A key node whose key the constructor has already made an :class:`_OddKey`."""

    __slots__ = ("key",)

    def __init__(self, original: Any, key: _OddKey) -> None:
        super().__init__(original.tag, key.written, original.start_mark, original.end_mark)
        self.key = key


_NOT_KEYS = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})
"""Key tags that are syntax, not keys: ``<<`` (a merge) and ``=``."""
_STR = "tag:yaml.org,2002:str"


_PROPERTIES = re.compile(r"^(?:[&!]\S*\s+)+")


def _written(node: Any) -> str:
    """The text of ``node`` as the file spells it (``~``, ``0x1``, ``[a, b]``), cut short."""
    start, end = node.start_mark, node.end_mark
    buffer = getattr(start, "buffer", None)
    text = str(node.value) if buffer is None else str(buffer[start.pointer : end.pointer])
    # An anchored or tagged key's marks take in its ``&name`` or ``!tag`` too.
    text = _PROPERTIES.sub("", text.strip()) or str(node.value)
    return text if len(text) <= 40 else text[:37] + "..."


_UNBUILT = object()
"""A key node not constructed yet: equal to no key."""


class _DuplicateKey(MarkedYAMLError):
    """A key a mapping already holds; ``problem_mark`` is the second, ``context_mark`` the first."""


class _SpecConstructor(RoundTripConstructor):
    """ruamel's round-trip constructor with a bound on integer literals, keys that are not
    strings kept apart as YAML keeps them (:class:`_OddKey`), and duplicate keys reported with
    the line of the first one."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        """The object for ``node``; an :class:`_OddKeyNode`'s key as it is."""
        if isinstance(node, _OddKeyNode):
            return node.key
        return super().construct_object(node, deep=deep)

    # RoundTripConstructor's own signature, which already differs from its bases' (ruamel
    # silences the same error on it).
    def construct_mapping(self, node: Any, maptyp: Any, deep: bool = False) -> Any:  # type: ignore[override]
        """ruamel's, after replacing each key node that does not make a string."""
        for index, (key_node, value_node) in enumerate(node.value):
            if (
                key_node.tag in _NOT_KEYS
                or key_node.tag == _STR
                or isinstance(key_node, _OddKeyNode)
            ):
                continue  # syntax, a string (nearly every key: no lookup), or done already
            key = self.construct_object(key_node, deep=True)  # cached: ruamel's reuses it
            if not isinstance(key, str):
                odd = _OddKey(str(key_node.tag), key, _written(key_node))
                node.value[index] = (_OddKeyNode(key_node, odd), value_node)
        return super().construct_mapping(node, maptyp, deep=deep)

    def check_mapping_key(
        self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any
    ) -> bool:
        """True for a new key; a duplicate is an error naming the line of the first one.

        ruamel's own error marks the start of the mapping and prints the key with ``str()``
        (``None`` for ``~``); the key nodes tell where the first one is and how it is written.
        """
        if key not in mapping:
            return True
        first = next(
            (kn for kn, _ in node.value if kn is not key_node and self._key_of(kn) == key),
            key_node,
        )
        shown = key.written if isinstance(key, _OddKey) else str(key)
        message = f"duplicate key {shown!r} (first at line {first.start_mark.line + 1}"
        if isinstance(key, _OddKey) and _written(first) != key.written:
            message += f", as {_written(first)!r}"
        message += "): a second value would silently replace the first"
        raise _DuplicateKey(None, first.start_mark, message, key_node.start_mark)

    def _key_of(self, key_node: Any) -> Any:
        if isinstance(key_node, _OddKeyNode):
            return key_node.key
        return self.constructed_objects.get(key_node, _UNBUILT)

    def construct_yaml_int(self, node: Any) -> Any:
        """An int, unless the literal is absurdly long (Python refuses >4300 digits anyway)."""
        size = len(str(node.value))
        if size > MAX_INT_DIGITS:
            raise ConstructorError(
                None, None,
                f"an integer of {size} characters is too large (at most {MAX_INT_DIGITS})",
                node.start_mark,
            )  # fmt: skip
        return super().construct_yaml_int(node)


_SpecConstructor.add_constructor("tag:yaml.org,2002:int", _SpecConstructor.construct_yaml_int)


def _key_position(node: CommentedMap, key: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """0-based key and value positions of ``key``; a key that a merge (``<<: *base``) brought
    in is found in the mapping it was merged from, so errors point at its definition."""
    # ruamel keeps no positions (``lc.data`` None) for a mapping whose only key is a merge.
    if node.lc.data is not None and key in node.lc.data:
        return node.lc.key(key), node.lc.value(key)
    for merged in getattr(node, merge_attrib, []):
        if isinstance(merged, CommentedMap) and key in merged:
            return _key_position(merged, key)
    line, col = node.lc.line or 0, node.lc.col or 0
    return (line, col), (line, col)


_SURROGATE_MESSAGE = r"a lone surrogate (\ud800-\udfff) is not a character"


class _Walk:
    """One conversion of ruamel's nodes to plain data; counts values to bound alias expansion
    and collects the keys that are not strings (all of them, each where it is written)."""

    def __init__(self, source: SpecSource) -> None:
        self.source = source
        self.count = 0
        self.odd_keys: list[Diagnostic] = []

    def fail(self, code: str, path: Path_, message: str, *, key: bool = False) -> SpecError:
        """A SpecError at ``path``."""
        return SpecError([self.source.diagnostic(Level.ERROR, code, path, message, key=key)])

    def plain(self, node: Any, path: Path_) -> Any:
        """ruamel's round-trip nodes -> plain Python data, recording every position."""
        self.count += 1
        if self.count > MAX_VALUES:
            raise self.fail(
                "too-large", path,
                f"more than {MAX_VALUES} values once aliases are expanded (an alias bomb?)",
            )  # fmt: skip
        source = self.source
        if isinstance(node, CommentedMap):
            out: dict[Any, Any] = {}
            for key, value in node.items():
                if isinstance(key, _OddKey):
                    self.odd_key(node, key, path)
                    continue  # what is under a key that cannot be a name is not looked at
                child = (*path, str(key))
                (kline, kcol), (vline, vcol) = _key_position(node, key)
                source.keys[child] = (kline + 1, kcol + 1)
                source.values[child] = (vline + 1, vcol + 1)
                if isinstance(key, str) and SURROGATE.search(key):
                    raise self.fail("encoding", child, _SURROGATE_MESSAGE, key=True)
                out[key] = self.plain(value, child)
            return out
        if isinstance(node, CommentedSeq):
            items = []
            for index, value in enumerate(node):
                line, col = node.lc.item(index)
                source.values[(*path, index)] = (line + 1, col + 1)
                items.append(self.plain(value, (*path, index)))
            return items
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, ScalarBoolean):  # an anchored ``&x true``: an int subclass
            return bool(node)
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        if isinstance(node, str):
            if SURROGATE.search(node):
                raise self.fail("encoding", path, _SURROGATE_MESSAGE)
            return str(node)
        return node

    def odd_key(self, node: CommentedMap, key: _OddKey, path: Path_) -> None:
        """Record a key that is not a string, at its own position, spelt as it is written."""
        (line, col), _ = _key_position(node, key)
        self.odd_keys.append(
            Diagnostic(Level.ERROR, "type", f"a key must be a string (got {kind_of(key.value)})",
                       self.source.filename, line + 1, col + 1, path=dotted((*path, key.written)))
        )  # fmt: skip


def _plain(node: Any, path: Path_, source: SpecSource) -> Any:
    """ruamel's round-trip nodes -> plain Python data, recording every position on the way;
    SpecError when a key is not a string."""
    walk = _Walk(source)
    data = walk.plain(node, path)
    if walk.odd_keys:
        raise SpecError(sorted(walk.odd_keys, key=sort_key))
    return data


def parse_yaml(text: str, filename: str) -> tuple[Any, SpecSource]:
    """YAML (or JSON) text -> plain data and the positions of its keys and values.

    libyaml's composer when it is installed and the text has nothing it might read differently
    (:mod:`lbgen.spec.fastload`), else :func:`parse_positional`: the same data and positions,
    and every error as :func:`parse_positional` words it.
    """
    from lbgen.spec.fastload import compose_yaml

    json_file = filename.lower().endswith(".json")
    if json_file and (not_json := _json_syntax_error(text, filename)) is not None:
        # The YAML parser would take a trailing comma or a comment; a .json file is JSON.
        raise SpecError([not_json])
    source = SpecSource(filename)
    document = compose_yaml(text, source)
    if document is not None:
        return document, source
    try:
        return parse_positional(text, filename)
    except SpecError as exc:
        if not json_file:
            raise
        raise SpecError(_as_json(exc.diagnostics)) from None


#: Python's json messages -> plainer ones, where its own wording is cryptic.
_JSON_REASONS = {
    "Extra data": "more text after the end of the top-level object",
    "Expecting value": "expected a value",
    "Unterminated string starting at": "a string that is never closed",
    "Invalid control character at": "a control character in a string (write it as an escape)",
}


def _as_json(found: list[Diagnostic]) -> list[Diagnostic]:
    """The loader's errors of a ``.json`` file that is JSON (past a bound of the loader) with
    ``json-syntax`` for ``yaml-syntax``: that code would tell the author to look for YAML."""
    return [replace(d, code="json-syntax") if d.code == "yaml-syntax" else d for d in found]


def _json_syntax_error(text: str, filename: str) -> Diagnostic | None:
    """Where and why ``text`` is not JSON, as Python's json parser says it; None when it is.

    The YAML parser reads JSON too, so it would word a JSON mistake as a YAML one (a comment is
    "mapping values are not allowed here") or take it (a trailing comma).
    """
    try:
        # Only whether and where the text is JSON: no number is converted (a 5,000-digit one
        # would be refused by int() itself) and no limit is the loader's.
        json.loads(text, parse_int=len, parse_float=len, parse_constant=len)
    except json.JSONDecodeError as exc:
        reason = _JSON_REASONS.get(exc.msg, exc.msg[:1].lower() + exc.msg[1:])
        line, col = exc.lineno, exc.colno
        before = text[: exc.pos].rstrip(" \t\r\n")
        if text[exc.pos : exc.pos + 2] in ("//", "/*") or text[exc.pos : exc.pos + 1] == "#":
            reason += " (JSON has no comments)"
        elif before.endswith(",") and text[exc.pos : exc.pos + 1] in ("}", "]"):
            reason = f"a comma before the closing '{text[exc.pos]}' (JSON allows no trailing comma)"
            comma = len(before) - 1
            line = text.count("\n", 0, comma) + 1
            col = comma - (text.rfind("\n", 0, comma) + 1) + 1
        return Diagnostic(Level.ERROR, "json-syntax", f"not valid JSON: {reason}", filename,
                          line, col)  # fmt: skip
    except (ValueError, RecursionError):
        pass  # nested past Python's recursion limit: the loader's own error says so
    return None


def parse_positional(text: str, filename: str) -> tuple[Any, SpecSource]:
    """YAML (or JSON) text -> plain data and positions through ruamel's round-trip parser.

    Bounded: nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_VALUES` values after
    alias expansion, integers longer than :data:`MAX_INT_DIGITS` and tags outside YAML's core
    schema are errors at their position. Merge keys (``<<: *base``) work; a merged value's
    position is where the anchored mapping defines it.
    """
    source = SpecSource(filename)
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    yaml.max_depth = MAX_DEPTH
    # The round-trip constructor (positions on every mapping and sequence) without the
    # round-trip scanner and parser, which gather comments a spec's data never holds: a quarter
    # of the time a hand-sized spec took to parse.
    yaml.Scanner = Scanner
    yaml.Parser = Parser
    yaml.Composer = _SpecComposer
    yaml.Constructor = _SpecConstructor
    try:
        document = yaml.load(text)
    except MaxDepthExceededError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        message = f"nested deeper than {MAX_DEPTH} levels"
        diagnostic = Diagnostic(Level.ERROR, "too-deep", message, filename, line, col)
        raise SpecError([diagnostic]) from None
    except _DuplicateKey as exc:
        mark = exc.problem_mark
        raise SpecError([
            Diagnostic(Level.ERROR, "duplicate-key", str(exc.problem), filename,
                       mark.line + 1, mark.column + 1)
        ]) from None  # fmt: skip
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        code = "yaml-syntax"
        message = str(exc.problem or exc.context or "invalid YAML").strip()
        trailing = _AFTER_THE_DOCUMENT.fullmatch(message)
        if trailing:
            message = _after_the_document(trailing.group(1))
        elif exc.context and exc.problem:
            context = str(exc.context).strip()
            if exc.context_mark and exc.problem_mark and exc.context_mark.line != mark.line:
                context += f" that starts at line {exc.context_mark.line + 1}"
            message = f"{message} ({context})"
        raise SpecError([Diagnostic(Level.ERROR, code, message, filename, line, col)]) from None
    except YAMLError as exc:
        diagnostic = Diagnostic(Level.ERROR, "yaml-syntax", str(exc), filename, 1, 1)
        raise SpecError([diagnostic]) from None
    source.values[()] = _document_start(document, text)
    return _plain(document, (), source), source


#: ruamel's message for more after the document's end, with its token as a one-tuple's repr:
#: ``expected '<document start>', but found ('{',)``.
_AFTER_THE_DOCUMENT = re.compile(r"expected '<document start>', but found \('(.*)',\)")

#: ruamel's token names -> what a spec's author wrote.
_TOKEN_WORDS = {
    "<scalar>": "a value", "<block mapping start>": "a key",
    "<block sequence start>": "a list item", "<anchor>": "an anchor (&)",
    "<alias>": "an alias (*)", "<tag>": "a tag (!)",
}  # fmt: skip


def _after_the_document(token: str) -> str:
    """The message for ``token`` found where the document should have ended."""
    if token == "<stream end>":  # a directive line, then nothing
        return "a directive (%) after the end of the document, with no document after it"
    found = _TOKEN_WORDS.get(token, repr(token))
    return f"found {found} after the end of the document (a spec is one YAML document)"


def _document_start(document: Any, text: str) -> tuple[int, int]:
    """Where the document's content starts (after leading comments), 1-based."""
    lc = getattr(document, "lc", None)
    if lc is not None and lc.line is not None:
        return lc.line + 1, lc.col + 1
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "---", "%")):
            return number, len(line) - len(line.lstrip()) + 1
    return 1, 1


def _model_path(loc: tuple[str | int, ...]) -> tuple[Path_, bool]:
    """pydantic's error location -> a spec path, and whether it points at a mapping key."""
    path: list[str | int] = []
    is_key = False
    for part in loc:
        if part == "[key]":
            is_key = True
            continue
        if isinstance(part, str) and part.startswith("("):
            continue  # a union's tag (lbgen.spec.models.LogTargets), not a spec key
        if part == "global_":
            part = "global"
        path.append(part)
    return tuple(path), is_key


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` -> ``X``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _field_names(model: type[BaseModel]) -> dict[str, Any]:
    """The keys a spec block accepts (aliases as written in YAML) and their annotations."""
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def annotation_at(path: Path_, root: type[BaseModel] | None = None) -> Any:
    """The (unwrapped) type the model ``root`` (the spec's by default) expects at ``path``;
    None when there is none."""
    annotation: Any = root or Spec
    for part in path:
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = _field_names(annotation).get(str(part))
        elif origin is dict:
            annotation = get_args(annotation)[1]
        elif origin is list:
            annotation = get_args(annotation)[0]
        else:
            return None
        if annotation is None:
            return None
    return _unwrap(annotation)


def allowed_fields(path: Path_, root: type[BaseModel] | None = None) -> list[str]:
    """The field names of the block at ``path`` of ``root`` (the spec's by default; empty when
    it is not a block)."""
    model = annotation_at(path, root)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(_field_names(model))
    return []


def _unknown_field_message(path: Path_, root: type[BaseModel] | None) -> str:
    allowed = allowed_fields(path[:-1], root)
    word = str(path[-1])
    guess = did_you_mean(word, allowed)
    if guess is not None:
        return f"unknown field {word!r}; did you mean {guess!r}?"
    if allowed:
        return f"unknown field {word!r} (fields here: {', '.join(allowed)})"
    return f"unknown field {word!r}"


def _literal_message(path: Path_, value: Any, fallback: str, root: type[BaseModel] | None) -> str:
    expected = annotation_at(path, root)
    if get_origin(expected) is not Literal:
        return fallback
    choices = [str(c) for c in get_args(expected)]
    if len(choices) == 1:
        return f"must be {choices[0]} (got {value!r})"
    text = f"must be one of {', '.join(choices)} (got {value!r})"
    guess = did_you_mean(str(value), choices) if isinstance(value, str) else None
    return f"{text}; did you mean {guess!r}?" if guess else text


def _typo_for_missing(errors: list[ErrorDetails], root: type[BaseModel] | None) -> set[Path_]:
    """Missing required fields that an unknown key beside them misspells.

    ``{adress: ...}`` is one mistake, not two: the unknown key's "did you mean" says it all,
    so the "required field 'address' is missing" error is dropped.
    """
    unknown: dict[Path_, list[str]] = {}
    for err in errors:
        if err["type"] == "extra_forbidden":
            path, _ = _model_path(err["loc"])
            unknown.setdefault(path[:-1], []).append(str(path[-1]))
    covered: set[Path_] = set()
    for err in errors:
        if err["type"] != "missing":
            continue
        path, _ = _model_path(err["loc"])
        word = str(path[-1])
        for typo in unknown.get(path[:-1], []):
            if did_you_mean(typo, allowed_fields(path[:-1], root)) == word:
                covered.add(path)
    return covered


def validation_diagnostics(
    error: ValidationError, source: SpecSource, root: type[BaseModel] | None = None
) -> list[Diagnostic]:
    """One diagnostic per mistake, at the position of the offending key or value; ``root`` is
    the model validated (the spec's by default; the manifest's for ``render-all``), whose
    fields the "did you mean" hints offer.

    A misspelt required key gives pydantic two errors (unknown key, missing field); the
    "did you mean" on the unknown key stands for both.
    """
    errors = error.errors(include_url=False)
    covered = _typo_for_missing(errors, root)
    out = []
    for err in errors:
        path, is_key = _model_path(err["loc"])
        kind = err["type"]
        code = _PYDANTIC_CODES.get(kind, kind if "_" not in kind else "type")
        message = err["msg"].replace("Input should be", "must be")
        if kind == "missing" and path in covered:
            continue
        if kind == "extra_forbidden":
            message = _unknown_field_message(path, root)
            is_key = True
        elif kind in ("literal_error", "enum"):
            message = _literal_message(path, err.get("input"), message, root)
        elif kind == "missing":
            message = f"required field {path[-1]!r} is missing"
            path = path[:-1]
        elif kind == "too_short":
            message = "must not be empty"
        elif kind == "too_long":
            context = err.get("ctx", {})
            message = (
                f"must hold at most {context.get('max_length')} items "
                f"(got {context.get('actual_length')})"
            )
        elif kind in ("model_type", "dict_type"):
            wants = "a mapping"
            if len(path) == 4 and path[0] == "pools" and path[2] == "servers":
                wants = '"host:port" or a mapping with an address'
            message = f"must be {wants} (got {kind_of(err.get('input'))})"
        elif kind == "list_type":
            message = f"must be a list (got {kind_of(err.get('input'))})"
        elif code == "type":
            given = err.get("input")
            # A fullwidth digit (U+FF16) makes a string: say which character is no digit.
            why = unusable_character(given) if isinstance(given, str) else None
            message = f"{message} (got {kind_of(given)}{f'; {why}' if why else ''})"
        out.append(source.diagnostic(Level.ERROR, code, path, message, key=is_key))
    return sorted(out, key=sort_key)


def _drop_schema_key(document: dict[Any, Any], source: SpecSource) -> None:
    """Remove ``$schema`` before validation: it is not part of the spec, so it changes neither
    the rendered text nor the provenance hash."""
    if SCHEMA_KEY not in document:
        return
    value = document.pop(SCHEMA_KEY)
    if not isinstance(value, str):
        raise SpecError([
            source.diagnostic(Level.ERROR, "type", (SCHEMA_KEY,),
                              f"must be a string: the schema's URL or path (got {kind_of(value)})")
        ])  # fmt: skip


@record
class LoadedSpec:
    """A valid spec with where it came from and the warnings found while loading it."""

    spec: Spec
    source: SpecSource
    diagnostics: list[Diagnostic]


def load(source: str | Path | bytes, *, filename: str | None = None) -> LoadedSpec:
    """Load and check a spec; raise SpecError with every problem found."""
    from lbgen.gcpause import paused_gc

    data, name = read_source(source, filename)
    with paused_gc():  # a large spec's models are many small objects, few cycles
        return _load(data, name)


def _load(data: bytes, name: str) -> LoadedSpec:
    from lbgen.spec.checks import cross_checks

    text = _decode(data, name)
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        raise SpecError([Diagnostic(Level.ERROR, "empty", "the spec is empty", name, 1, 1)])
    from lbgen.spec.fastload import parse_json

    document: Any = parse_json(text)
    if document is not None:
        positions = SpecSource(name, recover=lambda: parse_yaml(text, name)[1])
    else:
        document, positions = parse_yaml(text, name)
    if not isinstance(document, dict):
        kind = kind_of(document)
        line, col = positions.values[()]
        raise SpecError([
            Diagnostic(Level.ERROR, "not-mapping",
                       f"the top level must be a mapping (version, frontends, pools), not {kind}",
                       name, line, col)
        ])  # fmt: skip
    _drop_schema_key(document, positions)
    try:
        spec = Spec.model_validate(document)
    except ValidationError as exc:
        from lbgen.spec.checks import (
            global_binds_from_document,
            reference_checks,
            refs_from_document,
        )

        found = validation_diagnostics(exc, positions)
        # Report a missing pool or a bind clash too, not only the first kind of problem.
        seen = {(d.line, d.col, d.code) for d in found}
        global_binds = global_binds_from_document(document)
        found += [
            d for d in reference_checks(*refs_from_document(document), positions, global_binds)
            if (d.line, d.col, d.code) not in seen
        ]  # fmt: skip
        raise SpecError(sorted(found, key=sort_key)) from None
    diagnostics = sorted(cross_checks(spec, positions), key=sort_key)
    if has_errors(diagnostics):
        raise SpecError(diagnostics)
    return LoadedSpec(spec=spec, source=positions, diagnostics=diagnostics)


def load_spec(source: str | Path | bytes, *, filename: str | None = None) -> Spec:
    """Load a spec and return the model; positions and warnings ride along for the renderers."""
    loaded = load(source, filename=filename)
    return attach(loaded)


def attach(loaded: LoadedSpec) -> Spec:
    """Attach the source positions and load warnings to the spec object."""
    spec = loaded.spec
    spec._loaded = loaded
    return spec


def loaded_of(spec: Spec) -> LoadedSpec:
    """The LoadedSpec behind a spec (one built in code gets an empty source)."""
    loaded = spec._loaded
    if isinstance(loaded, LoadedSpec):
        return loaded
    from lbgen.spec.checks import cross_checks

    source = SpecSource("<spec>")
    return LoadedSpec(spec=spec, source=source, diagnostics=cross_checks(spec, source))
