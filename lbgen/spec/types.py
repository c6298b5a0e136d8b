"""Spec value types shared by the spec's models (:mod:`.models`, :mod:`.vip`): the duration
type and the helpers that word a refused value, below both so neither imports the other's."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from lbgen.spec import grammar
from lbgen.spec.grammar import Grammar


def shown_value(value: str) -> str:
    """``repr`` of a rejected value, cut short: a 1 MB value makes no better error message."""
    return repr(value) if len(value) <= 80 else repr(value[:60]) + f"... ({len(value)} characters)"


def why_unusable(value: str) -> str:
    """``"; it holds a line break"``-style reason, or "" when every character is usable."""
    reason = grammar.unusable_character(value)
    return f"; {reason}" if reason else ""


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
    PlainValidator(_check_duration, json_schema_input_type=str),
    grammar_schema(grammar.DURATION),
]


__all__ = ["Duration", "grammar_schema", "shown_value", "why_unusable"]
