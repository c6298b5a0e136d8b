"""One problem type for the whole tool: spec errors, translation warnings and lint findings.

Positions are 1-based and converted once, where a problem is created; output formats are pure
functions of a list of diagnostics, and the exit code follows the worst level.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from enum import IntEnum

from lbgen.frozen import record


class Level(IntEnum):
    """Severity, ordered so that ``max()`` gives the worst."""

    NOTE = 0
    WARNING = 1
    ERROR = 2

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Level:
        """``"warning"`` -> ``Level.WARNING``."""
        return cls[text.upper()]


@record
class Diagnostic:
    """One finding. ``path`` is the dotted spec path (``pools.cp.servers.m1.weight``) or ``""``.

    ``fields`` names the spec fields, relative to ``path``, that a finding about several of them
    is about (``timeouts.client_fin`` in a note on ``frontends.api`` that lists what was left
    out), so that readers such as ``lbgen explain`` need not parse the message.
    """

    level: Level
    code: str
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    path: str = ""
    fields: tuple[str, ...] = ()

    def with_level(self, level: Level) -> Diagnostic:
        """A copy at another level (``--strict`` turns warnings into errors)."""
        return replace(self, level=level)

    def location(self) -> str:
        """``file:line:col`` with whatever parts are known."""
        parts = [self.file or "<spec>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)


class SpecError(Exception):
    """A spec (or config) could not be used; carries every diagnostic found, not just the first."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        first = next((d for d in self.diagnostics if d.level is Level.ERROR), None)
        super().__init__(format_text([first]) if first else "invalid input")


class RenderError(SpecError):
    """The spec loads but cannot be rendered for the target (an error-level diagnostic, e.g.
    ``balance: first`` for nginx, or a warning under ``strict``); raised by :func:`lbgen.render`.

    ``diagnostics`` holds every diagnostic of the rendering (errors, warnings and notes);
    ``rendered`` the :class:`lbgen.rendering.Rendered` itself, whose text must not be used.
    """

    def __init__(self, diagnostics: Sequence[Diagnostic], rendered: object = None) -> None:
        super().__init__(diagnostics)
        self.rendered = rendered


def worst(diagnostics: Iterable[Diagnostic]) -> Level | None:
    """The highest level present, or ``None`` for an empty list."""
    levels = [d.level for d in diagnostics]
    return max(levels) if levels else None


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    """True when any diagnostic is an error."""
    return any(d.level is Level.ERROR for d in diagnostics)


def promote_warnings(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """``--strict``: every warning becomes an error; notes stay notes."""
    return [d.with_level(Level.ERROR) if d.level is Level.WARNING else d for d in diagnostics]


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelt ``word``, if one is close enough to be what was meant."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    """Stable output order: by file, then position, then code."""
    return (d.file or "", d.line or 0, d.col or 0, d.code)


def format_text(diagnostics: Iterable[Diagnostic]) -> str:
    """``FILE:LINE:COL: LEVEL [CODE] path: message``, one line each."""
    lines = []
    for d in diagnostics:
        where = f"{d.path}: " if d.path else ""
        message = d.message.replace("\n", " ")
        lines.append(f"{d.location()}: {d.level} [{d.code}] {where}{message}")
    return "\n".join(lines)


def format_json(diagnostics: Iterable[Diagnostic]) -> str:
    """A JSON list of objects with the dataclass fields; level as its name."""
    rows = []
    for d in diagnostics:
        row = asdict(d)
        row["level"] = str(d.level)
        if d.fields:
            row["fields"] = list(d.fields)
        else:
            del row["fields"]  # most diagnostics are about their path alone
        rows.append(row)
    return json.dumps(rows, indent=2)


def _github_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def format_github(diagnostics: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands: ``::error file=F,line=L,col=C,title=CODE::message``."""
    kinds = {Level.ERROR: "error", Level.WARNING: "warning", Level.NOTE: "notice"}
    lines = []
    for d in diagnostics:
        props = []
        if d.file:
            props.append(f"file={_github_escape(d.file, prop=True)}")
        if d.line is not None:
            props.append(f"line={d.line}")
        if d.col is not None:
            props.append(f"col={d.col}")
        props.append(f"title={_github_escape(d.code, prop=True)}")
        where = f"{d.path}: " if d.path else ""
        lines.append(f"::{kinds[d.level]} {','.join(props)}::{_github_escape(where + d.message)}")
    return "\n".join(lines)


FORMATTERS = {"text": format_text, "json": format_json, "github": format_github}
