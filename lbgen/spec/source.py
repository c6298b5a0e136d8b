"""Where a spec came from, and the bounds on reading it: what every stage of loading shares.

:class:`SpecSource` maps each key and value of a spec to its line and column, and turns a problem
at a spec path into a :class:`~lbgen.diagnostics.Diagnostic`; :func:`dotted` spells a path as the
diagnostics show it. The YAML loader (:mod:`lbgen.spec.load`), its JSON fast path
(:mod:`lbgen.spec.fastload`), the cross-field checks (:mod:`lbgen.spec.checks`) and the resolver
all use them, so they live below all of those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import field

from lbgen.diagnostics import Diagnostic, Level, SpecError
from lbgen.frozen import record

Path_ = tuple[str | int, ...]


@record
class SpecSource:
    """Where a spec came from and where each of its keys and values sits (1-based).

    ``recover``, when given, finds the positions on first use: a spec parsed without them (the
    JSON fast path) pays for them only when a diagnostic needs one.
    """

    filename: str
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    recover: Callable[[], SpecSource] | None = field(default=None, compare=False, repr=False)

    def _recover(self) -> None:
        recover = self.recover
        object.__setattr__(self, "recover", None)  # once, even if it fails
        if recover is None:
            return
        try:
            found = recover()
        except SpecError:  # cannot happen for text the fast path accepted; stay at 1:1
            return
        self.keys.update(found.keys)
        self.values.update(found.values)

    def written(self, path: Path_) -> bool:
        """True when the file spells out a value at exactly ``path``."""
        if self.recover is not None:
            self._recover()
        return tuple(path) in self.values

    def position(self, path: Path_, *, key: bool = False) -> tuple[int | None, int | None]:
        """Line and column of ``path``; the nearest existing ancestor when it is not in the file."""
        if self.recover is not None:
            self._recover()
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


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]+", re.ASCII)


def dotted(path: Iterable[str | int]) -> str:
    """``("pools", "cp", "servers", "m1")`` -> ``pools.cp.servers.m1`` (list items as ``[0]``).

    A key that is not a plain name (it is being rejected) is shown quoted and escaped,
    ``servers["a b\\n"]``, so that a newline in it cannot split or forge a diagnostic line. A
    boolean is a key as YAML spells it (``true``), not the list index a bool is to Python.
    """
    out = ""
    for part in path:
        if isinstance(part, bool):
            part = "true" if part else "false"
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):
            out += f"[{json.dumps(part)}]"
        else:
            out += ("." if out else "") + part
    return out


MAX_DEPTH = 64
"""Deepest nesting of mappings and lists a spec may have (a real one has about six levels)."""

MAX_VALUES = 200_000
"""Most values (keys, scalars, collections) a spec may hold once aliases are expanded."""

MAX_INT_DIGITS = 64
"""Longest integer literal: no spec value comes near it, a 5,000-digit one is an attack."""

SURROGATE = re.compile("[\ud800-\udfff]")
"""A lone surrogate: not a character (it cannot be encoded), refused in keys and values."""


SCHEMA_KEY = "$schema"
"""A top-level key for editors (the JSON Schema's URL or path); lbgen ignores its value."""
