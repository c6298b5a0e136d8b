"""``Check``, the annotation that runs a spec value's own validator (lbgen.spec.types)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from lbgen.spec import grammar
from lbgen.spec.models import Spec
from lbgen.spec.types import Check, grammar_schema


def _even(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and value % 2 == 0:
        return value
    if isinstance(value, str) and grammar.NAME.matches(value):
        return value
    raise PydanticCustomError(
        "even", "{value} is neither an even number nor a name", {"value": value}
    )


class _Sample(BaseModel):
    value: Annotated[int | str, Check(_even), grammar_schema(grammar.NAME)]


@pytest.mark.parametrize("value", [4, "api-1", 0])
def test_a_checked_value_is_kept_and_serialised_as_it_is(value: int | str) -> None:
    sample = _Sample.model_validate({"value": value})
    assert sample.value == value
    assert json.loads(sample.model_dump_json()) == {"value": value}
    assert sample.model_dump() == {"value": value}


@pytest.mark.parametrize("value", [3, "-no", None, 2.0])
def test_a_refused_value_carries_the_checks_own_error(value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        _Sample.model_validate({"value": value})
    (error,) = caught.value.errors()
    assert error["type"] == "even"
    assert error["msg"] == f"{value} is neither an even number nor a name"


def test_the_json_schema_is_the_one_paired_with_the_check() -> None:
    schema = _Sample.model_json_schema()["properties"]["value"]
    assert schema["pattern"] == grammar.NAME.pattern
    assert schema["type"] == "string"


def _python_serializers(node: Any, path: tuple[str, ...] = ()) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        serialization = node.get("serialization")
        if isinstance(serialization, dict) and "function" in serialization:
            found.append("/".join(path) or "(top)")
        for key, value in node.items():
            found += _python_serializers(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _python_serializers(item, (*path, str(index)))
    return found


def test_the_spec_serialises_without_python_callbacks() -> None:
    """The provenance digest serialises the whole spec: with a Python serializer on a value type
    (pydantic's ``PlainValidator`` adds one), each value of that type calls back into Python,
    24,000 calls for a 1,000 x 10 spec. ``Check`` leaves the serialisation to pydantic-core."""
    Spec.model_rebuild()
    assert _python_serializers(Spec.__pydantic_core_schema__) == []
