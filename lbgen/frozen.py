"""A faster ``__init__`` for the frozen dataclasses built once per server of a large spec.

A frozen dataclass's generated ``__init__`` stores each field through ``object.__setattr__``
(its own ``__setattr__`` refuses): on CPython 3.11 that made building a ``ResolvedServer`` of 11
fields about 8x the cost of the same class unfrozen, and resolving and viewing a spec of 10,000
servers builds several such objects per server. :func:`fast_init` gives a frozen dataclass an
``__init__`` with the same signature (order, defaults, default factories, keyword-only fields)
that fills the instance's ``__dict__`` directly; the class stays frozen (assignment still
raises) and its equality, hash and repr are the dataclass's own.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


class _Factory:
    """The default of a field with a default factory: "no value given"."""

    def __repr__(self) -> str:
        return "<factory>"  # what inspect.signature shows, as for the dataclass's own __init__


_FACTORY = _Factory()


def fast_init(cls: type[T]) -> type[T]:
    """Replace frozen dataclass ``cls``'s ``__init__`` by one that fills ``__dict__`` directly.

    Only for classes without ``__slots__``, ``__post_init__`` or ``InitVar`` fields (refused).
    """
    klass: Any = cls  # a dataclass, checked below (typing has no name for "any dataclass")
    params = getattr(klass, "__dataclass_params__", None)
    if params is None or not params.frozen or hasattr(klass, "__post_init__"):
        raise TypeError(f"fast_init is for frozen dataclasses without __post_init__: {klass}")
    if len(dataclasses.fields(klass)) != len(klass.__dataclass_fields__):
        raise TypeError(f"fast_init does not handle InitVar or ClassVar fields: {klass}")
    if "__slots__" in klass.__dict__:
        raise TypeError(f"fast_init needs an instance __dict__: {klass}")
    if {"__self__", "__dict__"} & set(klass.__dataclass_fields__):
        raise TypeError(f"fast_init needs the names __self__ and __dict__ for itself: {klass}")
    namespace: dict[str, Any] = {"_FACTORY": _FACTORY}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in dataclasses.fields(klass):
        if not f.init:
            raise TypeError(f"fast_init does not handle init=False fields: {klass}.{f.name}")
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            param = f"{f.name}=_default_{f.name}"
            body.append(f"    __dict__[{f.name!r}] = {f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            param = f"{f.name}=_FACTORY"
            body.append(
                f"    __dict__[{f.name!r}] = "
                f"_factory_{f.name}() if {f.name} is _FACTORY else {f.name}"
            )
        else:
            param = f.name
            body.append(f"    __dict__[{f.name!r}] = {f.name}")
        (keyword if f.kw_only else positional).append(param)
    signature = ", ".join(["__self__", *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({signature}):\n    __dict__ = __self__.__dict__\n" + "\n".join(
        body or ["    pass"]
    )
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{klass.__qualname__}.__init__"
    init.__module__ = klass.__module__
    init.__doc__ = klass.__init__.__doc__
    init.__annotations__ = dict(klass.__init__.__annotations__)  # inspect shows the same
    klass.__init__ = init
    return cls


__all__ = ["fast_init"]
