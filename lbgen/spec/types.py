"""Spec value types shared by the spec's models (:mod:`.models`, :mod:`.vip`): the annotation
that runs a value's own check, the duration type and the helpers that word a refused value,
below both so neither imports the other's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, WithJsonSchema
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from lbgen.frozen import record
from lbgen.spec import grammar
from lbgen.spec.grammar import Grammar


def shown_value(value: str) -> str:
    """``repr`` of a rejected value, cut short: a 1 MB value makes no better error message."""
    return repr(value) if len(value) <= 80 else repr(value[:60]) + f"... ({len(value)} characters)"


def why_unusable(value: str) -> str:
    """``"; it holds a line break"``-style reason, or "" when every character is usable."""
    reason = grammar.unusable_character(value)
    return f"; {reason}" if reason else ""


@record
class Check:
    """A spec value's own validator, which words its errors as lbgen's diagnostics: pydantic's
    ``PlainValidator`` without its serializer. ``PlainValidator`` serialises every value through
    a Python lambda (24,000 calls in the provenance digest of a 1,000 x 10 spec); without one,
    pydantic-core serialises the str or int the check returned as it is, to the same JSON. Pair
    it with the value's JSON Schema (:func:`grammar_schema` or ``WithJsonSchema``)."""

    function: Callable[[Any], Any]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """The check as the whole validator of the value, no serializer of its own."""
        return core_schema.no_info_plain_validator_function(self.function)


def grammar_schema(rule: Grammar) -> WithJsonSchema:
    """The JSON Schema of a string field: its grammar's whole-string pattern."""
    return WithJsonSchema({"type": "string", "pattern": rule.pattern})


def _check_duration(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PydanticCustomError("type", 'a duration must be a string like "10s"')
    if isinstance(value, int | float):
        raise PydanticCustomError(
            "duration",
            '{value} has no unit: write e.g. "{value}s" or "{value}ms" '
            "(HAProxy reads bare numbers as ms, nginx as seconds)",
            {"value": value},
        )
    if not grammar.DURATION.matches(value):
        raise PydanticCustomError(
            "duration",
            "{value} is not a duration: 1-18 digits 0-9 and one unit of us ms s m h d, "
            'e.g. "500ms"{why}',
            {"value": shown_value(value), "why": why_unusable(value)},
        )
    return value


Duration = Annotated[
    str,
    Check(_check_duration),
    grammar_schema(grammar.DURATION),
]


__all__ = ["Check", "Duration", "grammar_schema", "shown_value", "why_unusable"]
