"""The JSON Schema of spec version 1, with lbgen's built-in defaults shown as ``default``.

Every field's ``description`` is the docstring under it in :mod:`lbgen.spec.models`, read from
that module's source here, when a schema is asked for (not at every start of ``lbgen``).
"""

from __future__ import annotations

import ast
import functools
import inspect
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from lbgen.spec import models, vip
from lbgen.spec.models import Spec
from lbgen.spec.source import SCHEMA_KEY


@functools.cache
def field_docstrings() -> dict[str, dict[str, str]]:
    """``{class name: {field name: docstring}}`` of :mod:`lbgen.spec.models` (and its ``vip``
    section, :mod:`lbgen.spec.vip`): the string
    literal right under each annotated field, cleaned as pydantic's ``use_attribute_docstrings``
    cleans it."""
    found: dict[str, dict[str, str]] = {}
    nodes = [n for module in (models, vip) for n in ast.parse(inspect.getsource(module)).body]
    for node in nodes:
        if not isinstance(node, ast.ClassDef):
            continue
        docs = found.setdefault(node.name, {})
        for statement, following in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[statement.target.id] = inspect.cleandoc(following.value.value)
    return found


def field_description(model: type[BaseModel], name: str) -> str | None:
    """The docstring of field ``name`` where ``model`` or the nearest base class declares it."""
    for klass in model.__mro__:
        if name in inspect.get_annotations(klass):
            return field_docstrings().get(klass.__name__, {}).get(name)
    return None


class _DocstringSchema(GenerateJsonSchema):
    """Pydantic's JSON Schema, each model property described by its field's docstring."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        model = schema["cls"]
        properties = json_schema.get("properties", {})
        for name, info in model.model_fields.items():
            key = (info.alias or name) if self.by_alias else name
            description = field_description(model, name)
            if key in properties and description:  # the field's, over its type's
                properties[key]["description"] = description
        return json_schema


def _builtin_defaults() -> dict[str, Any]:
    from lbgen.spec.layers import BUILTIN_DEFAULTS

    return BUILTIN_DEFAULTS.model_dump(mode="json", exclude_none=True)


def spec_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the spec; ``$defs.Defaults`` carries the built-ins."""
    schema = Spec.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_DocstringSchema
    )
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lbgen spec, version 1"
    schema["properties"] = {
        SCHEMA_KEY: {
            "type": "string",
            "description": "This schema's URL or path, for editors; lbgen ignores it (it changes "
            "neither the rendered config nor its spec-sha256).",
        },
        **schema["properties"],
    }
    _close_name_maps(schema)
    _one_line_descriptions(schema)
    builtins = _builtin_defaults()
    defs = schema["$defs"]
    for name, value in builtins.items():
        if isinstance(value, dict):
            block = "Health" if name == "health" else "Timeouts"
            for field, inner in value.items():
                defs[block]["properties"][field]["default"] = inner
        else:
            defs["Defaults"]["properties"][name]["default"] = value
    return schema


def _one_line_descriptions(node: Any) -> None:
    # The descriptions are the models' field docstrings, wrapped for the source code.
    if isinstance(node, dict):
        if isinstance(node.get("description"), str):
            node["description"] = " ".join(node["description"].replace("``", "`").split())
        for value in node.values():
            _one_line_descriptions(value)
    elif isinstance(node, list):
        for value in node:
            _one_line_descriptions(value)


def _close_name_maps(node: Any) -> None:
    # pydantic describes dict[Name, X] with patternProperties only, which lets any other key
    # through; the loader rejects such names, so the schema must too.
    if isinstance(node, dict):
        if "patternProperties" in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_name_maps(value)
    elif isinstance(node, list):
        for value in node:
            _close_name_maps(value)
