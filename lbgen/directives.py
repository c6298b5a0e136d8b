"""Two-way directive tables: one row per mapping between a spec field and an engine directive.

Each engine package declares its table once (``lbgen/haproxy/table.py``,
``lbgen/nginx/table.py``); the view that feeds the templates, the reader that builds the
effective model of an existing config, the importer, the names ``diff`` shows and the
lossy-translation warnings all read the same row, so the two directions cannot drift apart.

A row says, for one engine:
- which spec field it carries (a key of :data:`lbgen.spec.fields.FIELDS`), or none for a
  directive the engine has that no spec field sets (``init-addr``);
- the directive's name as users see it and the contexts it may be written in (crossplane's
  contexts for nginx; ``global``/``defaults``/``backend``/``default-server``/``server`` for
  HAProxy);
- its codec: how a value is written as directive text and read back (``parse(render(v)) == v``
  over the values the row accepts, a property the tests check);
- the engine's own default, in lbgen's units, when the directive is absent;
- or, when the engine cannot express the field at all, the reason, which becomes the warning a
  rendering emits when the field is set.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import field
from typing import Any, Protocol

from lbgen.frozen import record


class Refused(ValueError):
    """A codec's refusal of a value it reads, with the engine's own reason (``has to be > 0``)
    where it is more than the codec's usual ``problem`` (``not an integer``)."""

    def __init__(self, text: str, problem: str) -> None:
        super().__init__(f"{text!r}: {problem}")
        self.problem = problem


class Codec(Protocol):
    """Writes a field's value as directive text and reads it back."""

    def render(self, value: Any) -> str:
        """The directive's argument text for ``value`` (lbgen's units: durations in µs)."""
        ...

    def parse(self, text: str) -> Any:
        """The value the engine reads from ``text``; raises ``ValueError`` on text it refuses."""
        ...


@record
class Directive:
    """One row of an engine's directive table."""

    name: str
    """The engine's keyword (``inter``, ``fail_timeout``, ``timeout client``)."""
    contexts: tuple[str, ...]
    """Where the engine accepts it (``server``, ``default-server``; ``upstream``, ``stream``)."""
    field: str | None = None
    """The spec field it carries (``health.interval``), or None for an engine-only directive."""
    inputs: tuple[str, ...] = ()
    """Further spec fields the written value is computed from (nginx ``fail_timeout`` from
    ``health.interval`` and ``health.fall``): the codec then renders and parses a tuple of the
    values of ``(field, *inputs)``."""
    codec: Codec | None = None
    """How its value is written and read back; None for a flag (present or absent)."""
    default: Any = None
    """The engine's own value when the directive is absent, in lbgen's units."""
    effective: str | None = None
    """The attribute of the effective model (:mod:`lbgen.effective.model`) it fills."""
    unsupported: str | None = None
    """Why the engine cannot express ``field``; the text of the warning a rendering emits."""
    code: str | None = None
    """The diagnostic code of that warning (``nginx-oss-no-slowstart``)."""

    @property
    def expressible(self) -> bool:
        """False for a row that only records that the engine cannot express its field."""
        return self.unsupported is None


@record
class DirectiveTable:
    """An engine's rows, with the lookups both directions need."""

    engine: str
    rows: tuple[Directive, ...]
    _by_field: Mapping[str, tuple[Directive, ...]] = field(init=False, repr=False, compare=False)
    _by_name: Mapping[str, tuple[Directive, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_field: dict[str, list[Directive]] = {}
        by_name: dict[str, list[Directive]] = {}
        for row in self.rows:
            if row.field is not None:
                by_field.setdefault(row.field, []).append(row)
            by_name.setdefault(row.name, []).append(row)
        object.__setattr__(self, "_by_field", {k: tuple(v) for k, v in by_field.items()})
        object.__setattr__(self, "_by_name", {k: tuple(v) for k, v in by_name.items()})

    def __iter__(self) -> Iterator[Directive]:
        return iter(self.rows)

    def for_field(self, name: str) -> tuple[Directive, ...]:
        """The rows that carry spec field ``name`` (empty when none does)."""
        return self._by_field.get(name, ())

    def named(self, name: str, context: str | None = None) -> Directive | None:
        """The row for directive ``name`` (in ``context`` when given), or None."""
        for row in self._by_name.get(name, ()):
            if context is None or context in row.contexts:
                return row
        return None

    def fields(self) -> frozenset[str]:
        """Every spec field the table has a row for, expressible or not."""
        return frozenset(self._by_field)

    def unsupported(self) -> tuple[Directive, ...]:
        """The rows recording a field the engine cannot express."""
        return tuple(row for row in self.rows if not row.expressible)

    def display_name(self, effective: str) -> str | None:
        """The directive name a diff shows for effective-model attribute ``effective``."""
        for row in self.rows:
            if row.effective == effective:
                return row.name
        return None


def table(engine: str, rows: Iterable[Directive]) -> DirectiveTable:
    """Build an engine's table, refusing two rows with the same name in the same context."""
    seen: set[tuple[str, str]] = set()
    kept = tuple(rows)
    for row in kept:
        for context in row.contexts:
            key = (row.name, context)
            if key in seen:
                raise ValueError(f"{engine}: two rows for {row.name!r} in {context!r}")
            seen.add(key)
    return DirectiveTable(engine, kept)


__all__ = ["Codec", "Directive", "DirectiveTable", "table"]
