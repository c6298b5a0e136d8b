"""The one tree both config parsers produce, and the way broken input becomes diagnostics.

A :class:`Node` is a directive (``keyword`` + ``args``) with optional ``children`` (an HAProxy
section's lines, an nginx block's statements, the statements of an nginx ``include``). Full-line
comments are nodes whose keyword is ``#``; a comment that follows a directive on the same line is
kept in that directive's ``comment``. Blank lines are the only thing a parser drops.

Positions (``file``, ``line``, ``col``) and the verbatim source line (``raw``) are carried but do
not take part in equality: two trees are equal when they say the same thing in the same order,
wherever it was written. That is what the parser round-trip test relies on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import field
from pathlib import Path
from typing import NoReturn

from lbgen.diagnostics import Diagnostic, Level, SpecError
from lbgen.frozen import record

COMMENT = "#"
"""Keyword of a full-line comment node; its text is in ``comment``."""

INCLUDE = "include"
"""Keyword of an nginx ``include``; the included files' statements are its children."""


@record
class Node:
    """One directive of a config file, with its block or section contents as ``children``."""

    keyword: str
    args: tuple[str, ...] = ()
    children: tuple[Node, ...] = ()
    comment: str | None = None
    file: str | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)
    col: int | None = field(default=None, compare=False)
    raw: str | None = field(default=None, compare=False, repr=False)

    @property
    def is_comment(self) -> bool:
        """True for a full-line comment node."""
        return self.keyword == COMMENT

    def directives(self) -> Iterator[Node]:
        """Children that are not comments, nginx includes expanded in place."""
        return iter_directives(self.children)

    def find(self, keyword: str) -> list[Node]:
        """Direct (include-expanded) children with this keyword, in file order."""
        return [n for n in self.directives() if n.keyword == keyword]

    def first(self, keyword: str) -> Node | None:
        """The first child with this keyword, or None."""
        found = self.find(keyword)
        return found[0] if found else None

    def last(self, keyword: str) -> Node | None:
        """The last child with this keyword (most engines let the last one win), or None."""
        found = self.find(keyword)
        return found[-1] if found else None

    def location(self) -> str:
        """``file:line`` for messages."""
        return f"{self.file or '<config>'}:{self.line or 0}"

    def words(self) -> tuple[str, ...]:
        """Keyword and args as one tuple."""
        return (self.keyword, *self.args)


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` (keeps long keyword tables readable)."""
    return frozenset(text.split())


def iter_directives(nodes: Sequence[Node]) -> Iterator[Node]:
    """Walk ``nodes`` skipping comments; an ``include`` node yields the included statements."""
    for node in nodes:
        if node.is_comment:
            continue
        if node.keyword == INCLUDE and node.children:
            yield from iter_directives(node.children)
        else:
            yield node


def walk(nodes: Sequence[Node]) -> Iterator[Node]:
    """Every node of the tree, depth first, comments included."""
    for node in nodes:
        yield node
        yield from walk(node.children)


@record
class ConfigTree:
    """A parsed config file: its engine, its main file name and its top-level nodes."""

    engine: str
    file: str = field(compare=False)
    nodes: tuple[Node, ...] = ()
    files: tuple[str, ...] = field(default=(), compare=False)
    """Every file read, the main file first (nginx includes)."""

    def directives(self) -> Iterator[Node]:
        """Top-level nodes that are not comments, includes expanded."""
        return iter_directives(self.nodes)

    def walk(self) -> Iterator[Node]:
        """Every node, depth first."""
        return walk(self.nodes)

    def leading_comments(self) -> list[str]:
        """The comment lines at the very top of the main file (where provenance headers live)."""
        out: list[str] = []
        for node in self.nodes:
            if not node.is_comment:
                break
            out.append(node.comment or "")
        return out


class ParseError(Exception):
    """One problem that stops a config from being read; becomes an error :class:`Diagnostic`."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
        code: str = "CONF002",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.code = code

    def to_diagnostic(self) -> Diagnostic:
        """The error as a diagnostic with its position."""
        return Diagnostic(
            Level.ERROR, self.code, self.message, file=self.file, line=self.line, col=self.col
        )


def fail(errors: Sequence[ParseError]) -> NoReturn:
    """Raise parse errors as one :class:`SpecError` carrying a diagnostic for each."""
    raise SpecError([e.to_diagnostic() for e in errors])


def raise_errors(errors: Sequence[ParseError]) -> None:
    """Raise every collected parse error at once as a :class:`SpecError` (no-op when empty)."""
    if errors:
        fail(errors)


# Parse-error codes, shared by both parsers so that the CLI and tests can rely on them.
CODE_UNREADABLE = "CONF001"
"""The file cannot be read: missing, a directory, binary data, not UTF-8."""
CODE_SYNTAX = "CONF002"
"""Syntax: unbalanced braces, unterminated quote, unknown section, bad argument count."""
CODE_INCLUDE = "CONF003"
"""An nginx include names a file that does not exist (or includes itself)."""
CODE_ENGINE = "CONF004"
"""The engine (haproxy or nginx) cannot be told from the text."""


def decode_config(data: bytes, filename: str) -> str:
    """Bytes of a config file as text; binary data and invalid UTF-8 are a :class:`ParseError`.

    Engines read bytes, but a NUL byte or broken UTF-8 in a load-balancer config is always a
    mistake (a binary copied over the file, a wrong encoding), and lbgen never guesses.
    """
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ParseError(
            "binary data (NUL byte): this is not a text config",
            file=filename,
            line=line,
            code=CODE_UNREADABLE,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ParseError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x})",
            file=filename,
            line=line,
            col=col,
            code=CODE_UNREADABLE,
        ) from None
    return text.removeprefix("\ufeff")


def read_config(path: str | Path) -> str:
    """Read a config file as text, every failure a :class:`ParseError` (never an OSError)."""
    from lbgen.inputs import InputError, read_input

    name = str(path)
    try:
        data = read_input(path)  # regular files only, at most the input size limit
    except (OSError, InputError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ParseError(f"cannot read config: {reason}", file=name, code=CODE_UNREADABLE) from None
    return decode_config(data, name)
