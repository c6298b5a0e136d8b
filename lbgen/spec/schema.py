"""The JSON Schema of spec version 1, with lbgen's built-in defaults shown as ``default``.

Every field's ``description`` is the docstring under it in :mod:`lbgen.spec.models`.
"""

from __future__ import annotations

from typing import Any

from lbgen.spec.load import SCHEMA_KEY
from lbgen.spec.models import Spec


def _builtin_defaults() -> dict[str, Any]:
    from lbgen.resolve import BUILTIN_DEFAULTS

    return BUILTIN_DEFAULTS.model_dump(mode="json", exclude_none=True)


def spec_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the spec; ``$defs.Defaults`` carries the built-ins."""
    schema = Spec.model_json_schema(by_alias=True, mode="validation")
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
