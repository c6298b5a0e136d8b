"""The JSON Schema of spec version 1, with lbgen's built-in defaults shown as ``default``.

Every field's ``description`` is the docstring under it in :mod:`lbgen.spec.models`, read from
that module's source (:mod:`lbgen.spec.docstrings`) when a schema is asked for (not at every
start of ``lbgen``).

A field's ``default`` is what lbgen uses when the spec leaves the field out, which is not
always the model's own default: the models default nearly every field to ``null`` ("unset"),
while an explicit ``null`` means "emit nothing". So the schema shows the built-in where there
is one (:func:`builtin_default`), and ``{}`` for a block (leaving a block out is writing it
empty, not writing every field of it as ``null``). A field that inherits (a pool's from
``defaults``, a server's from its pool, a frontend's timeouts from ``defaults``) has no one
such value: it has no ``default`` (an editor that inserts one would override ``defaults``),
and its description names what it inherits and the built-in at the end of the chain
(:func:`_show_inheritance`). ``tests/test_schema.py`` renders a spec without each field and
with its ``default``, and holds the two to the same config.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from lbgen.spec.docstrings import field_description
from lbgen.spec.fields import FIELDS, Kind, Scope
from lbgen.spec.models import FrontendTimeouts, Health, PoolTimeouts, ServerParams, Spec
from lbgen.spec.source import SCHEMA_KEY


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


#: The built-ins that are not in :data:`~lbgen.spec.layers.BUILTIN_DEFAULTS`, by the class that
#: declares the field: the resolver fills them in its code (:mod:`lbgen.resolve`: ``global.log``,
#: the stats page's ``uri`` and ``refresh``, ``log_format``, ``dontlognull``,
#: ``start_unresolved``) and the HAProxy view writes the others (:mod:`lbgen.haproxy.table`:
#: the two ``timeout client`` of lbgen's own frontends, a log line's facility; nginx keeps its
#: own defaults there, as those fields' descriptions say). The engine's cannot be imported here
#: (the core imports no engine); the resolver's could be, now that the docstrings the field
#: registry reads live in :mod:`lbgen.spec.docstrings`, not here (they were a cycle), but are
#: not yet. ``tests/test_schema.py`` renders a spec without each field and with
#: the value below and fails when the configs differ, so a change on either side cannot drift.
RESOLVED_BUILTINS: dict[tuple[str, str], Any] = {
    ("Global", "log"): "stdout",
    ("Stats", "uri"): "/stats",
    ("Stats", "refresh"): "10s",
    ("Stats", "timeout"): "30s",
    ("LbHealth", "timeout"): "5s",
    ("LogEntry", "facility"): "local0",
    ("Defaults", "log_format"): "tcplog",
    ("Defaults", "dontlognull"): True,
    ("PoolParams", "start_unresolved"): True,
}


@functools.cache
def _layered_builtins() -> dict[str, Any]:
    from lbgen.spec.layers import BUILTIN_DEFAULTS

    return BUILTIN_DEFAULTS.model_dump(mode="json")


def _is_block(model: type[BaseModel], name: str) -> bool:
    """Whether field ``name`` is a block whose default is its model with every field unset."""
    default = model.model_fields[name].default
    return isinstance(default, BaseModel)


_NONE = object()


def builtin_default(model: type[BaseModel], name: str) -> Any:
    """What lbgen uses for field ``name`` of ``model`` when a spec leaves it out, in the spec's
    own terms (``"10s"``, not microseconds); ``{}`` for a block.

    :data:`RESOLVED_BUILTINS`, then :data:`~lbgen.spec.layers.BUILTIN_DEFAULTS` for the fields a
    pool and a server inherit (on every level: ``defaults``, a pool, a server, their
    ``health`` and ``timeouts``), else the model's own default.
    """
    for klass in model.__mro__:
        value = RESOLVED_BUILTINS.get((klass.__name__, name), _NONE)
        if value is not _NONE:
            return value
    if _is_block(model, name):
        return {}
    layered = _layered_builtins()
    if issubclass(model, Health):
        return layered["health"][name]
    if issubclass(model, PoolTimeouts | FrontendTimeouts):
        return layered["timeouts"].get(name)
    if issubclass(model, ServerParams) and name in layered:
        return layered[name]
    return model.model_fields[name].get_default(call_default_factory=True)


def _models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every model reachable from ``root`` by the name pydantic gives its ``$defs`` entry."""
    found: dict[str, type[BaseModel]] = {}
    stack: list[Any] = [root]
    while stack:
        annotation = stack.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation.__name__ in found:
                continue
            found[annotation.__name__] = annotation
            stack += [info.annotation for info in annotation.model_fields.values()]
        else:
            stack += get_args(annotation)
    return found


def _show_builtins(schema: dict[str, Any]) -> None:
    """Every optional property's ``default`` set to :func:`builtin_default`."""
    for name, model in _models(Spec).items():
        node = schema if model is Spec else schema["$defs"].get(name)
        if node is None:
            continue
        properties = node.get("properties", {})
        for field_name, info in model.model_fields.items():
            prop = properties.get(info.alias or field_name)
            if prop is not None and "default" in prop:  # a required field has none
                prop["default"] = builtin_default(model, field_name)


def spec_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the spec; every optional field's ``default`` is what
    lbgen uses when the spec leaves the field out."""
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
    _show_builtins(schema)
    _show_inheritance(schema)
    return schema


#: The ``$defs`` entry of the block each scope's fields are set in (a pool's ``health`` block
#: gets its own, :func:`_show_inheritance`).
_SCOPE_DEFS = {"pool": "Pool", "server": "Server", "frontend": "Frontend"}


def _property(schema: dict[str, Any], model: str, path: str) -> dict[str, Any]:
    """The property of ``$defs[model]`` at the dotted ``path`` (``health.interval``)."""
    defs = schema["$defs"]
    node = defs[model]
    *blocks, name = path.split(".")
    for block in blocks:
        node = defs[node["properties"][block]["$ref"].rsplit("/", 1)[-1]]
    found: dict[str, Any] = node["properties"][name]
    return found


def _built_in_text(value: Any) -> str:
    if value is None:
        return "no built-in"
    return "built in: " + (value if isinstance(value, str) else json.dumps(value))


def _show_inheritance(schema: dict[str, Any]) -> None:
    """No ``default`` for a field that inherits, which :mod:`lbgen.spec.fields` tells by its
    scopes (every scope after the first inherits from the one before it; verbatim ``extra``
    directives belong to their block): its description ends with what it inherits and the
    built-in at the end of the chain, ``defaults``' own ``default``. The pool's ``health``
    block becomes a ``PoolHealth`` of its own: ``defaults.health`` keeps its defaults."""
    defs = schema["$defs"]
    pool_health = copy.deepcopy(defs["Health"])
    pool_health["title"] = "PoolHealth"
    defs["PoolHealth"] = pool_health
    defs["Pool"]["properties"]["health"]["$ref"] = "#/$defs/PoolHealth"
    schema["$defs"] = dict(sorted(defs.items()))
    for field in FIELDS:
        if field.kind is Kind.EXTRA or len(field.scopes) < 2:
            continue
        assert field.scopes[0] is Scope.DEFAULTS, field
        built_in = _built_in_text(_property(schema, "Defaults", field.path)["default"])
        for parent, scope in itertools.pairwise(field.scopes):
            prop = _property(schema, _SCOPE_DEFS[scope], field.path)
            prop.pop("default", None)
            source = f"defaults.{field.path}"
            if parent is not Scope.DEFAULTS:  # a server's: its pool's, then defaults'
                source = f"its {parent}'s {field.path}, then {source}"
            prop["description"] = f"{prop['description']} Left out: inherits {source}; {built_in}."


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
