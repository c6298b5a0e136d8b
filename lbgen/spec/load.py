"""Load a spec: bytes -> YAML (positions kept) -> pydantic models -> cross-field checks.

Every problem becomes a :class:`~lbgen.diagnostics.Diagnostic` pointing into the file; all of them
are collected and raised together as one :class:`~lbgen.diagnostics.SpecError`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from lbgen.diagnostics import Diagnostic, Level, SpecError, has_errors, sort_key
from lbgen.spec.models import Spec

Path_ = tuple[str | int, ...]

#: pydantic's error types -> our diagnostic codes (custom errors already carry our code).
_PYDANTIC_CODES = {
    "extra_forbidden": "unknown-field",
    "missing": "missing-field",
    "literal_error": "value",
    "enum": "value",
    "greater_than_equal": "range",
    "less_than_equal": "range",
    "too_short": "empty",
}


@dataclass(frozen=True)
class SpecSource:
    """Where a spec came from and where each of its keys and values sits (1-based)."""

    filename: str
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path_, *, key: bool = False) -> tuple[int | None, int | None]:
        """Line and column of ``path``; the nearest existing ancestor when it is not in the file."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def diagnostic(
        self, level: Level, code: str, path: Path_, message: str, *, key: bool = False
    ) -> Diagnostic:
        """A diagnostic located at ``path`` in this source."""
        line, col = self.position(path, key=key)
        return Diagnostic(
            level=level, code=code, message=message, file=self.filename, line=line, col=col,
            path=dotted(path),
        )  # fmt: skip


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


def dotted(path: Iterable[str | int]) -> str:
    """``("pools", "cp", "servers", "m1")`` -> ``pools.cp.servers.m1`` (list items as ``[0]``).

    A key that is not a plain name (it is being rejected) is shown quoted and escaped,
    ``servers["a b\\n"]``, so that a newline in it cannot split or forge a diagnostic line.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.match(part):
            out += f"[{json.dumps(part)}]"
        else:
            out += ("." if out else "") + part
    return out


#: Python type names -> what a YAML author calls them.
_KINDS = {
    "str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
    "list": "a list", "dict": "a mapping", "NoneType": "null",
}  # fmt: skip


def kind_of(value: Any) -> str:
    """``"a string"``, ``"a list"``, ... for a loaded YAML value."""
    name = type(value).__name__
    return _KINDS.get(name, name)


def read_source(source: str | Path | bytes, filename: str | None = None) -> tuple[bytes, str]:
    """Bytes and a display name for a path, ``-`` (stdin) or raw bytes."""
    if isinstance(source, bytes):
        return source, filename or "<spec>"
    if str(source) == "-":
        return sys.stdin.buffer.read(), filename or "<stdin>"
    path = Path(source)
    try:
        return path.read_bytes(), filename or str(source)
    except OSError as exc:
        raise SpecError([
            Diagnostic(Level.ERROR, "io", f"cannot read: {exc.strerror}", file=str(source))
        ]) from None  # fmt: skip


def _decode(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise SpecError([
            Diagnostic(Level.ERROR, "encoding",
                       f"not UTF-8 (byte 0x{data[exc.start]:02x})", filename, line, col)
        ]) from None  # fmt: skip


def _plain(node: Any, path: Path_, source: SpecSource) -> Any:
    """ruamel's round-trip nodes -> plain Python data, recording every position on the way."""
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            child = (*path, str(key))
            kline, kcol = node.lc.key(key)
            source.keys[child] = (kline + 1, kcol + 1)
            vline, vcol = node.lc.value(key)
            source.values[child] = (vline + 1, vcol + 1)
            out[key] = _plain(value, child, source)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, col = node.lc.item(index)
            source.values[(*path, index)] = (line + 1, col + 1)
            items.append(_plain(value, (*path, index), source))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def parse_yaml(text: str, filename: str) -> tuple[Any, SpecSource]:
    """YAML (or JSON) text -> plain data and the positions of its keys and values."""
    source = SpecSource(filename)
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        document = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        code = "duplicate-key" if "duplicate key" in str(exc.problem) else "yaml-syntax"
        message = str(exc.problem or exc.context or "invalid YAML").strip()
        if code == "duplicate-key":
            key = re.search(r'duplicate key "(.*?)"', message)
            first = _first_key_line(text, exc.context_mark, key.group(1) if key else None)
            message = (
                f"duplicate key {key.group(1) if key else ''!r}"
                + (f" (first at line {first})" if first else "")
                + ": a second value would silently replace the first"
            )
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


def _first_key_line(text: str, mapping_mark: Any, key: str | None) -> int | None:
    """The line of the first ``key`` in the mapping that starts at ``mapping_mark``.

    ruamel's duplicate-key error marks the start of the mapping, not the first occurrence of
    the key; composing the nodes (no construction, so no duplicate check) finds the key itself.
    """
    if mapping_mark is None or key is None:
        return None
    from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

    try:
        root = YAML(typ="rt", pure=True).compose(text)
    except YAMLError:
        return None
    stack: list[Node] = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, MappingNode):
            start = (node.start_mark.line, node.start_mark.column)
            if start == (mapping_mark.line, mapping_mark.column):
                for key_node, _ in node.value:
                    if str(key_node.value) == key:
                        return int(key_node.start_mark.line) + 1
            stack += [n for pair in node.value for n in pair]
        elif isinstance(node, SequenceNode):
            stack += node.value
    return int(mapping_mark.line) + 1


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
        if part == "global_":
            part = "global"
        path.append(part)
    return tuple(path), is_key


def validation_diagnostics(error: ValidationError, source: SpecSource) -> list[Diagnostic]:
    """One diagnostic per pydantic error, at the position of the offending key or value."""
    out = []
    for err in error.errors(include_url=False):
        path, is_key = _model_path(err["loc"])
        kind = err["type"]
        code = _PYDANTIC_CODES.get(kind, kind if "_" not in kind else "type")
        message = err["msg"].replace("Input should be", "must be")
        if kind == "extra_forbidden":
            message = f"unknown field {path[-1]!r}"
            is_key = True
        elif kind == "missing":
            message = f"required field {path[-1]!r} is missing"
            path = path[:-1]
        elif kind == "too_short":
            message = "must not be empty"
        elif kind in ("model_type", "dict_type"):
            wants = "a mapping"
            if len(path) == 4 and path[0] == "pools" and path[2] == "servers":
                wants = '"host:port" or a mapping with an address'
            message = f"must be {wants} (got {kind_of(err.get('input'))})"
        elif kind == "list_type":
            message = f"must be a list (got {kind_of(err.get('input'))})"
        elif code == "type":
            message = f"{message} (got {kind_of(err.get('input'))})"
        out.append(source.diagnostic(Level.ERROR, code, path, message, key=is_key))
    return sorted(out, key=sort_key)


@dataclass(frozen=True)
class LoadedSpec:
    """A valid spec with where it came from and the warnings found while loading it."""

    spec: Spec
    source: SpecSource
    diagnostics: list[Diagnostic]


def load(source: str | Path | bytes, *, filename: str | None = None) -> LoadedSpec:
    """Load and check a spec; raise SpecError with every problem found."""
    from lbgen.spec.checks import cross_checks

    data, name = read_source(source, filename)
    text = _decode(data, name)
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        raise SpecError([Diagnostic(Level.ERROR, "empty", "the spec is empty", name, 1, 1)])
    document, positions = parse_yaml(text, name)
    if not isinstance(document, dict):
        kind = kind_of(document)
        line, col = positions.values[()]
        raise SpecError([
            Diagnostic(Level.ERROR, "not-mapping",
                       f"the top level must be a mapping (version, frontends, pools), not {kind}",
                       name, line, col)
        ])  # fmt: skip
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
