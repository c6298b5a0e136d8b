"""record: each class shape behaves as the same class under ``@dataclass(frozen=True)``."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

import lbgen
from lbgen.frozen import record
from lbgen.resolve import ResolvedServer
from lbgen.units import parse_host_port

Decorator = Callable[[type], type]
FROZEN: Decorator = dataclass(frozen=True)
#: Both ways record's __init__ stores the fields.
RECORDS: dict[str, Decorator] = {"setattr": record, "fill_dict": record(fill_dict=True)}


def empty(deco: Decorator) -> type:
    @deco
    class Empty:
        pass

    return Empty


def one(deco: Decorator) -> type:
    @deco
    class One:
        a: int

    return One


def many(deco: Decorator) -> type:
    @deco
    class Many:
        """Fields of every kind lbgen uses."""

        d: int  # named like the generated code's own locals once were
        self_: str
        tags: dict[str, int] = field(default_factory=dict, compare=False)
        n: int = 3
        secret: str = field(default="s", repr=False)
        hashed_only: int = field(default=0, compare=True, hash=False)
        flag: bool = field(default=False, kw_only=True)

    return Many


def kw_marker(deco: Decorator) -> type:
    @deco
    class KwMarker:
        a: int
        _: KW_ONLY
        b: int
        c: str = "c"

    return KwMarker


def not_in_init(deco: Decorator) -> type:
    @deco
    class NotInInit:
        a: int
        made: list[int] = field(default_factory=list, init=False, hash=False)
        fixed: int = field(default=7, init=False)

    return NotInInit


def post_init(deco: Decorator) -> type:
    @deco
    class PostInit:
        a: int
        double: int = field(init=False, compare=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "double", 2 * self.a)

    return PostInit


def subclass(deco: Decorator) -> type:
    @deco
    class Base:
        a: int
        b: str = "b"

    @deco
    class Sub(Base):
        c: int = 0
        b: str = "sub"  # redefined: keeps its place, takes the new default

    return Sub


def own_methods(deco: Decorator) -> type:
    @deco
    class Own:
        a: int

        def __repr__(self) -> str:
            return "own"

        def __eq__(self, other: object) -> bool:  # __hash__ still comes from the fields
            return isinstance(other, Own)

    return Own


#: (shape, positional and keyword arguments of a few instances, which include equal ones)
SHAPES: list[tuple[Callable[[Decorator], type], list[tuple[tuple[Any, ...], dict[str, Any]]]]] = [
    (empty, [((), {}), ((), {})]),
    (one, [((1,), {}), ((1,), {}), ((2,), {}), ((float("nan"),), {})]),
    (
        many,
        [
            ((1, "a"), {}),
            ((1, "a", {"x": 1}), {}),  # tags are not compared: equal to the first
            ((1, "a", {}, 4, "t", 5), {"flag": True}),
            ((1, "a", {}, 4, "u", 6), {"flag": True}),  # differs from the one above in hash only
            ((1,), {"self_": "'quoted'", "n": 9}),
        ],
    ),
    (kw_marker, [((1,), {"b": 2}), ((1,), {"b": 2, "c": "x"}), ((1,), {"b": 2, "c": "c"})]),
    (not_in_init, [((1,), {}), ((1,), {}), ((2,), {})]),
    (post_init, [((1,), {}), ((1,), {}), ((3,), {})]),
    (subclass, [((1,), {}), ((1, "x", 2), {}), ((1,), {"c": 0, "b": "sub"})]),
    (own_methods, [((1,), {}), ((2,), {})]),
]


def field_facts(cls: type) -> list[tuple[Any, ...]]:
    return [
        (f.name, f.type, f.default, f.default_factory, f.init, f.repr, f.compare, f.hash, f.kw_only)
        for f in dataclasses.fields(cls)
    ]


@pytest.mark.parametrize("store", RECORDS)
@pytest.mark.parametrize(("shape", "calls"), SHAPES, ids=[s.__name__ for s, _ in SHAPES])
def test_record_behaves_as_frozen_dataclass(
    shape: Callable[[Decorator], type],
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
    store: str,
) -> None:
    plain, rec = shape(FROZEN), shape(RECORDS[store])
    assert str(inspect.signature(rec)) == str(inspect.signature(plain))
    assert str(inspect.signature(rec.__init__)) == str(inspect.signature(plain.__init__))
    assert field_facts(rec) == field_facts(plain)
    assert rec.__match_args__ == plain.__match_args__  # type: ignore[attr-defined]
    assert rec.__doc__ == plain.__doc__
    assert rec.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert dataclasses.is_dataclass(rec)
    made = [(plain(*args, **kwargs), rec(*args, **kwargs)) for args, kwargs in calls]
    for p, r in made:
        assert repr(r) == repr(p)  # both classes have the same __qualname__
        assert dataclasses.asdict(r) == dataclasses.asdict(p)
        assert hash(r) == hash(p)  # the same value, not only the same for equal objects
        assert (r == p) is False  # different classes: NotImplemented both ways, then identity
        for q, s in made:
            assert (r == s) is (p == q)
            assert (r != s) is (p != q)
        first = dataclasses.fields(r)[0].name if dataclasses.fields(r) else "a"
        for obj in (p, r):
            with pytest.raises(dataclasses.FrozenInstanceError) as set_error:
                setattr(obj, first, 1)
            with pytest.raises(dataclasses.FrozenInstanceError) as del_error:
                delattr(obj, "other")
            assert str(set_error.value) == f"cannot assign to field {first!r}"
            assert str(del_error.value) == "cannot delete field 'other'"
        changes = {f.name: getattr(p, f.name) for f in dataclasses.fields(p) if f.init}
        assert dataclasses.asdict(dataclasses.replace(r, **changes)) == dataclasses.asdict(
            dataclasses.replace(p, **changes)
        )


def test_repr_of_a_nested_class_and_of_a_cycle() -> None:
    Many = many(record)
    plain = many(FROZEN)
    assert repr(Many(1, "a")).startswith("many.<locals>.Many(d=1, self_='a', tags={}, n=3, ")
    loop_r: dict[str, Any] = {}
    loop_p: dict[str, Any] = {}
    r, p = Many(1, "a", loop_r), plain(1, "a", loop_p)
    loop_r["me"], loop_p["me"] = r, p
    assert repr(r).split("(", 1)[1] == repr(p).split("(", 1)[1]  # the cycle shows as "..."


@pytest.mark.parametrize("store", RECORDS)
def test_factories_run_per_instance_and_arguments_are_checked(store: str) -> None:
    Many = many(RECORDS[store])
    assert Many(1, "a").tags is not Many(1, "a").tags
    NotInInit = not_in_init(RECORDS[store])
    assert NotInInit(1).made is not NotInInit(1).made and NotInInit(1).fixed == 7
    assert "fixed" not in NotInInit(1).__dict__  # the default stays a class attribute
    assert post_init(RECORDS[store])(4).double == 8
    with pytest.raises(TypeError):
        Many(1)  # a missing argument
    with pytest.raises(TypeError):
        Many(1, "a", {}, 2, "s", 0, True)  # flag is keyword-only
    with pytest.raises(TypeError):
        Many(1, "a", nope=2)


def test_eq_and_hash_become_the_dataclass_code_on_first_use() -> None:
    """Shared at decoration (nothing compiled), the class's own compiled code after the first
    call (as fast per call as the dataclass's); a reference kept to the shared one still works."""
    Many, Plain = many(record), many(FROZEN)
    shared_eq, shared_hash = Many.__eq__, Many.__hash__
    assert Many.__eq__ is one(record).__eq__  # one function for every record so far
    a, b, c = Many(1, "a"), Many(1, "a", {"x": 1}), Many(2, "a")
    assert a == b and a != c and hash(a) == hash(b) == hash(Plain(1, "a"))
    assert Many.__eq__ is not shared_eq and Many.__hash__ is not shared_hash
    assert Many.__eq__.__qualname__ == Plain.__eq__.__qualname__
    assert shared_eq(a, b) is True and shared_eq(a, c) is False and shared_hash(a) == hash(a)
    assert shared_eq(a, 1) is NotImplemented


def test_plain_subclass_may_add_attributes_but_not_assign_fields() -> None:
    One = one(record)
    Plain = one(FROZEN)

    class SubR(One):  # type: ignore[valid-type,misc]
        pass

    class SubP(Plain):  # type: ignore[valid-type,misc]
        pass

    r, p = SubR(1), SubP(1)
    r.extra = p.extra = 2
    assert r.extra == 2
    for obj in (r, p):
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.a = 3
    assert repr(r).endswith("<locals>.SubR(a=1)") and repr(p).endswith("<locals>.SubP(a=1)")


@given(
    st.integers(),
    st.text(max_size=5),
    st.integers(),
    st.integers(),
    st.integers(),
    st.integers(),
    st.booleans(),
)
def test_equality_and_hash_follow_the_dataclass(
    d: int, s: str, d2: int, n: int, n2: int, h: int, flag: bool
) -> None:
    plain, rec = many(FROZEN), many(record)
    a = ((d, s, {}, n, "x", h), {"flag": flag})
    b = ((d2, s, {"k": 1}, n2, "y", h + 1), {"flag": flag})
    pa, pb = plain(*a[0], **a[1]), plain(*b[0], **b[1])
    ra, rb = rec(*a[0], **a[1]), rec(*b[0], **b[1])
    assert (ra == rb) is (pa == pb)
    assert (hash(ra), hash(rb)) == (hash(pa), hash(pb))
    assert repr(ra).split("(", 1)[1] == repr(pa).split("(", 1)[1]


def test_refuses_what_it_does_not_handle() -> None:
    @dataclass
    class Mutable:
        a: int

    with pytest.raises(TypeError, match="non-frozen"):

        @record
        class FromMutable(Mutable):
            b: int = 0

    with pytest.raises(TypeError, match="__dict__"):

        @record
        class Slotted:
            __slots__ = ("a",)
            a: int

    with pytest.raises(TypeError, match="InitVar"):

        @record
        class WithInitVar:
            a: int
            seed: InitVar[int]

    with pytest.raises(TypeError, match="ClassVar"):

        @record
        class WithClassVar:
            a: int
            registry: ClassVar[dict[str, int]] = {}

    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):

        @record
        class Order:
            a: int = 0
            b: int

    with pytest.raises(TypeError, match="__setattr__"):

        @record
        class OwnSetattr:
            a: int

            def __setattr__(self, name: str, value: Any) -> None:
                pass


def test_resolved_server_keeps_its_defaults() -> None:
    address = parse_host_port("10.0.0.1:6443", allow_empty_host=False)
    path = ("pools", "p", "servers", "s")
    server = ResolvedServer("s", address, None, None, None, None, False, False, path)
    assert server.sources == {} and server.extra.haproxy is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        server.name = "t"  # type: ignore[misc]


def test_every_frozen_dataclass_of_lbgen_is_a_record() -> None:
    """A plain ``@dataclass(frozen=True)`` costs ~5 M instructions to create (issue 12)."""
    frozen: list[str] = []
    for module in pkgutil.walk_packages(lbgen.__path__, "lbgen."):
        if module.name.endswith("__main__"):
            continue
        for value in vars(importlib.import_module(module.name)).values():
            if (
                isinstance(value, type)
                and value.__module__ == module.name
                and dataclasses.is_dataclass(value)
                and value.__dataclass_params__.frozen  # type: ignore[attr-defined]
            ):
                frozen.append(value.__qualname__)
                assert "__record__" in value.__dict__, f"{module.name}.{value.__qualname__}"
    assert len(frozen) >= 80  # the walk did find lbgen's classes
