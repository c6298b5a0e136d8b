"""``@record``: a frozen dataclass that is cheap to create, and to build instances of.

``@dataclass(frozen=True)`` compiles six functions per class (``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, ``__setattr__``, ``__delattr__``), each with its own ``exec``: on
CPython 3.11 about 5 M instructions per class, and a render creates some 40 such classes at
import. Its ``__init__`` also stores each field through ``object.__setattr__`` (its own
``__setattr__`` refuses), which made building a ``ResolvedServer`` of 11 fields about 8x the cost
of the same class unfrozen, and a spec of 10,000 servers builds several such objects per server.

:func:`record` lets :func:`dataclasses.dataclass` do the bookkeeping that compiles nothing
(fields, defaults as class attributes, ``__match_args__``: so ``dataclasses.fields``,
``replace``, ``asdict`` and ``is_dataclass`` work as before), compiles one ``__init__`` (storing
each field through a pre-bound ``object.__setattr__``; with ``fill_dict=True`` into the
instance's ``__dict__`` directly, for rows built once per server), and gives the class the
shared ``__repr__``,
``__setattr__`` and ``__delattr__`` below, driven by what it computed once per class
(:class:`_Shape`). ``__eq__`` and ``__hash__``, hot when a large spec is resolved and viewed, are
the dataclass's own code, compiled on first use (a render uses none). Results are the
dataclass's: same equality, same hash values, same repr text, same ``FrozenInstanceError``
messages.
"""

from __future__ import annotations

import _thread
import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")


class _Factory:
    """The default of a field with a default factory: "no value given"."""

    def __repr__(self) -> str:
        return "<factory>"  # what inspect.signature shows, as for the dataclass's own __init__


_FACTORY = _Factory()


def _tuple(obj: str, names: tuple[str, ...]) -> str:
    """Source of the dataclass's tuple of ``obj``'s attributes: ``(self.a,self.b,)``."""
    return "(" + "".join(f"{obj}.{name}," for name in names) + ")"


class _Shape:
    """What a record's shared methods need of its class, computed once at decoration."""

    __slots__ = ("cls", "compared", "compiled", "hashed", "names", "shown")

    def __init__(self, cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> None:
        self.cls = cls
        self.compared = tuple(f.name for f in fields if f.compare)
        self.hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
        self.shown = tuple(f.name for f in fields if f.repr)
        self.names = frozenset(f.name for f in fields)
        self.compiled: tuple[Callable[[Any, object], Any], Callable[[Any], int]] | None = None

    def compile(self) -> tuple[Callable[[Any, object], Any], Callable[[Any], int]]:
        """The dataclass's own ``__eq__`` and ``__hash__`` for this class, compiled (one exec
        for both) and set on it in place of the shared ones, which call this on first use.

        Compiling them at decoration would cost two exec per class (most classes never
        compare nor hash an instance in a run); the shared ones without compiling (attrgetter)
        doubled the cost of each call, and resolving and viewing a large spec make many.
        """
        if self.compiled is not None:  # for a caller that kept the shared function
            return self.compiled
        source = (
            "def __eq__(self, other):\n"
            "    if other.__class__ is self.__class__:\n"
            f"        return {_tuple('self', self.compared)} == {_tuple('other', self.compared)}\n"
            "    return NotImplemented\n"
            "def __hash__(self):\n"
            f"    return hash({_tuple('self', self.hashed)})\n"
        )
        namespace: dict[str, Any] = {}
        exec(source, namespace)
        eq, hash_ = namespace["__eq__"], namespace["__hash__"]
        for name, function, shared in (("__eq__", eq, _eq), ("__hash__", hash_, _hash)):
            function.__qualname__ = f"{self.cls.__qualname__}.{name}"
            function.__module__ = self.cls.__module__
            if self.cls.__dict__.get(name) is shared:  # not one the class body defined
                setattr(self.cls, name, function)
        self.compiled = eq, hash_
        return self.compiled


def _eq(self: Any, other: object) -> Any:
    return self.__record__.compile()[0](self, other)


def _hash(self: Any) -> int:
    return self.__record__.compile()[1](self)  # type: ignore[no-any-return]


_repr_running: set[tuple[int, int]] = set()


def _repr(self: Any) -> str:
    # The dataclass's repr guard: an object met again while being shown is "...".
    key = id(self), _thread.get_ident()
    if key in _repr_running:
        return "..."
    _repr_running.add(key)
    try:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record__.shown)
        return f"{self.__class__.__qualname__}({shown})"
    finally:
        _repr_running.discard(key)


def _setattr(self: Any, name: str, value: Any) -> None:
    shape = self.__record__
    if type(self) is shape.cls or name in shape.names:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
    super(shape.cls, self).__setattr__(name, value)


def _delattr(self: Any, name: str) -> None:
    shape = self.__record__
    if type(self) is shape.cls or name in shape.names:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
    super(shape.cls, self).__delattr__(name)


_eq.__name__ = _eq.__qualname__ = "__eq__"
_hash.__name__ = _hash.__qualname__ = "__hash__"
_repr.__name__ = _repr.__qualname__ = "__repr__"
_setattr.__name__ = _setattr.__qualname__ = "__setattr__"
_delattr.__name__ = _delattr.__qualname__ = "__delattr__"


def _init(
    cls: type, fields: tuple[dataclasses.Field[Any], ...], fill_dict: bool
) -> Callable[..., None]:
    """The record's ``__init__``, compiled once: the dataclass's signature (order, defaults,
    default factories, keyword-only fields), then ``__post_init__`` if the class has one.

    It stores the fields through ``object.__setattr__`` as the dataclass's does (bound once, not
    looked up per field), or with ``fill_dict`` into ``__dict__`` directly: about half the cost
    of building an instance, but the instance then has a dict of its own (some 64 bytes more)
    instead of CPython's shared-key values, and reading a field costs some 20 ns more. Worth it
    only for objects built many times and read little: rendering a 1,000 x 10 spec, it saves
    1.3% of haproxy's instructions for haproxy's view rows; for resolve's rows, which the nginx
    view reads more, it saved haproxy 1.2% but cost nginx 2.1%.
    """
    namespace: dict[str, Any] = {"_FACTORY": _FACTORY, "_setattr_": object.__setattr__}
    # The dataclass's name for the instance, which inspect.signature shows.
    self_name = "__dataclass_self__" if any(f.name == "self" for f in fields) else "self"
    taken = {self_name, "__dict__", "_FACTORY", "_setattr_"}
    store = "    __dict__[{!r}] = {}" if fill_dict else f"    _setattr_({self_name}, {{!r}}, {{}})"
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    defaulted = ""
    for f in fields:
        if f.name in taken or f.name.startswith(("_default_", "_factory_")):
            raise TypeError(f"record needs the name {f.name!r} for itself: {cls.__qualname__}")
        factory = f"_factory_{f.name}"
        if not f.init:
            # As the dataclass's __init__: a factory runs, a plain default stays a class attribute.
            if f.default_factory is not dataclasses.MISSING:
                namespace[factory] = f.default_factory
                body.append(store.format(f.name, f"{factory}()"))
            continue
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            param = f"{f.name}=_default_{f.name}"
        elif f.default_factory is not dataclasses.MISSING:
            namespace[factory] = f.default_factory
            param = f"{f.name}=_FACTORY"
        else:
            param = f.name
            if not f.kw_only and defaulted:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
        if not f.kw_only and param != f.name:
            defaulted = f.name
        if f.default_factory is not dataclasses.MISSING:
            body.append(store.format(f.name, f"{factory}() if {f.name} is _FACTORY else {f.name}"))
        else:
            body.append(store.format(f.name, f.name))
        (keyword if f.kw_only else positional).append(param)
    if hasattr(cls, "__post_init__"):
        body.append(f"    {self_name}.__post_init__()")
    signature = ", ".join([self_name, *positional, *(["*", *keyword] if keyword else [])])
    prelude = [f"    __dict__ = {self_name}.__dict__"] if fill_dict and body else []
    source = f"def __init__({signature}):\n" + "\n".join(prelude + body or ["    pass"])
    exec(source, namespace)
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    # What inspect.signature and typing.get_type_hints see on the dataclass's own __init__.
    init.__annotations__ = {f.name: f.type for f in fields if f.init} | {"return": None}
    return init


def _set_new(cls: type, name: str, value: Any) -> None:
    """Set ``cls.name`` unless the class body defined it, as the dataclass does."""
    if name not in cls.__dict__:
        setattr(cls, name, value)


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, fill_dict: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: type[T] | None = None, /, *, fill_dict: bool = False) -> Any:
    """Make ``cls`` a frozen dataclass, as ``@dataclass(frozen=True)`` would, at a fraction of
    the cost of creating the class (see the module's doc). ``@record(fill_dict=True)``: an
    ``__init__`` that fills the instance's ``__dict__`` directly (see :func:`_init`), for the
    rows built once per server of a large spec and read little.

    Refused (``TypeError``): ``__slots__`` in the class body, ``InitVar`` or ``ClassVar``
    pseudo-fields, and a base that is a mutable dataclass (as the dataclass refuses it).
    """
    if cls is None:
        return lambda klass: _record(klass, fill_dict)
    return _record(cls, fill_dict)


def _record(cls: type[T], fill_dict: bool) -> type[T]:
    klass: Any = cls  # typing has no name for "any dataclass"
    if "__slots__" in klass.__dict__:
        raise TypeError(f"record needs an instance __dict__: {klass.__qualname__}")
    documented = bool(klass.__doc__)
    class_hash = klass.__dict__.get("__hash__", dataclasses.MISSING)
    explicit_hash = not (
        class_hash is dataclasses.MISSING or (class_hash is None and "__eq__" in klass.__dict__)
    )
    bases = [getattr(b, "__dataclass_params__", None) for b in klass.__mro__[1:]]
    frozen_base = any(p is not None and p.frozen for p in bases)
    if any(p is not None and not p.frozen for p in bases):
        raise TypeError("cannot inherit frozen dataclass from a non-frozen one")
    # Non-frozen, without init, repr or eq, the dataclass compiles nothing. Under a frozen base
    # it must be frozen too, which compiles __setattr__ and __delattr__ (replaced below).
    dataclasses.dataclass(init=False, repr=False, eq=False, frozen=frozen_base)(klass)
    fields = dataclasses.fields(klass)
    if len(fields) != len(klass.__dataclass_fields__):
        raise TypeError(f"record does not handle InitVar or ClassVar fields: {klass.__qualname__}")
    klass.__record__ = _Shape(klass, fields)
    if "__init__" not in klass.__dict__:
        klass.__init__ = _init(klass, fields, fill_dict)
    _set_new(klass, "__repr__", _repr)
    _set_new(klass, "__eq__", _eq)
    for name, method in (("__setattr__", _setattr), ("__delattr__", _delattr)):
        if name in klass.__dict__ and not frozen_base:
            raise TypeError(f"Cannot overwrite attribute {name} in class {klass.__name__}")
        setattr(klass, name, method)
    if not explicit_hash:
        klass.__hash__ = _hash
    params = klass.__dataclass_params__  # what dataclass(frozen=True) would have recorded
    params.init = params.repr = params.eq = params.frozen = True
    if not documented:
        klass.__doc__ = klass.__name__ + str(inspect.signature(klass)).replace(" -> None", "")
    return cls


__all__ = ["record"]
