"""The spec models' field docstrings: the string literal under each annotated field of
:mod:`lbgen.spec.models` (and :mod:`lbgen.spec.vip`), read from their source when asked for.

They describe each field in the JSON Schema (:mod:`lbgen.spec.schema`) and in the field registry
(:attr:`lbgen.spec.fields.Field.doc`); a module of their own, so that the registry and the
schema, which reads the registry, import each other in one direction only.
"""

from __future__ import annotations

import ast
import functools
import inspect

from pydantic import BaseModel

from lbgen.spec import models, vip


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
