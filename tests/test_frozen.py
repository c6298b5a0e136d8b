"""fast_init: a frozen dataclass with the faster __init__ behaves as the dataclass's own."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import pytest

from lbgen.frozen import fast_init
from lbgen.resolve import ResolvedServer
from lbgen.units import parse_host_port


def _classes() -> tuple[type, type]:
    def body() -> type:
        @dataclass(frozen=True)
        class C:
            d: int  # a field named like the generated code's own locals once was
            self_: str
            tags: dict[str, int] = field(default_factory=dict, compare=False)
            n: int = 3
            flag: bool = field(default=False, kw_only=True)

        return C

    return body(), fast_init(body())


def test_same_signature_values_equality_and_frozenness() -> None:
    plain, fast = _classes()
    assert str(inspect.signature(fast)) == str(inspect.signature(plain))
    for args, kwargs in (((1, "a"), {}), ((1, "a", {"x": 1}, 4), {"flag": True})):
        a, b = plain(*args, **kwargs), fast(*args, **kwargs)
        assert dataclasses.asdict(a) == dataclasses.asdict(b)
        assert repr(a).split("(", 1)[1] == repr(b).split("(", 1)[1]
        assert hash(a) == hash(b)
        with pytest.raises(dataclasses.FrozenInstanceError):
            b.n = 5  # type: ignore[misc]
    assert fast(1, "a").tags is not fast(1, "a").tags  # the factory runs per instance
    with pytest.raises(TypeError):
        fast(1)  # a missing argument is refused as before
    with pytest.raises(TypeError):
        fast(1, "a", 2, 3, 4)  # flag is keyword-only


def test_refuses_what_it_cannot_copy() -> None:
    @dataclass
    class Mutable:
        a: int

    @dataclass(frozen=True)
    class Post:
        a: int

        def __post_init__(self) -> None:
            pass

    for cls in (Mutable, Post):
        with pytest.raises(TypeError):
            fast_init(cls)


def test_resolved_server_keeps_its_defaults() -> None:
    address = parse_host_port("10.0.0.1:6443", allow_empty_host=False)
    path = ("pools", "p", "servers", "s")
    server = ResolvedServer("s", address, None, None, None, None, False, False, path)
    assert server.sources == {} and server.extra.haproxy is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        server.name = "t"  # type: ignore[misc]
