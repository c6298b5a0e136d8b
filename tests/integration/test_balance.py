"""Balancing behaviours, observed from real TLS clients: round robin, weights, source, leastconn."""

from __future__ import annotations

import ssl
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from .clients import Watch, request, tally
from .conftest import Figures, LoadBalancer, make_spec
from .fake_apiserver import FakeAPIServer
from .images import EngineBuild

pytestmark = pytest.mark.integration

Servers = Callable[..., list[FakeAPIServer]]
Start = Callable[[dict[str, Any]], LoadBalancer]


def test_round_robin_spreads_evenly(
    build: EngineBuild, apiservers: Servers, lb: Start, client_context: ssl.SSLContext,
    figures: Figures,
) -> None:  # fmt: skip
    """300 new connections over 3 servers: each gets 100 ± 15."""
    a, b, c = apiservers(3)
    servers = {s.name: s.address for s in (a, b, c)}
    balancer = lb(make_spec("it-rr", servers, pool={"balance": "roundrobin"}))
    result = tally(balancer.port, client_context, 300)
    figures.add("round robin 300", result.describe())
    assert result.failures == 0, result.describe()
    for name in servers:
        assert 85 <= result.servers[name] <= 115, result.describe()


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        pytest.param(("10%", "90%"), (0.10, 0.90), id="percent"),
        pytest.param((30, 90), (0.25, 0.75), id="integer"),
    ],
)
def test_weights_give_their_share(
    build: EngineBuild, apiservers: Servers, lb: Start, client_context: ssl.SSLContext,
    figures: Figures, weights: tuple[Any, Any], expected: tuple[float, float],
) -> None:  # fmt: skip
    """Weighted servers get their share of 1000 new connections within ±5 points."""
    a, b = apiservers(2)
    servers = {
        "a": {"address": a.address, "weight": weights[0]},
        "b": {"address": b.address, "weight": weights[1]},
    }
    balancer = lb(make_spec("it-weights", servers, pool={"balance": "roundrobin"}))
    result = tally(balancer.port, client_context, 1000)
    figures.add(f"weights {weights[0]}/{weights[1]}", result.describe())
    assert result.failures == 0, result.describe()
    assert abs(result.share("a") - expected[0]) <= 0.05, result.describe()
    assert abs(result.share("b") - expected[1]) <= 0.05, result.describe()


def test_source_balance_is_sticky_per_client_address(
    build: EngineBuild, apiservers: Servers, lb: Start, client_context: ssl.SSLContext,
    figures: Figures,
) -> None:  # fmt: skip
    """``balance: source``: every connection from one client address reaches the same server."""
    servers = {s.name: s.address for s in apiservers(3)}
    balancer = lb(make_spec("it-source", servers, pool={"balance": "source"}))
    mapping: dict[str, Counter[str]] = {}
    # Distinct client addresses, all on the loopback network: the destination stays 127.0.0.1.
    for last in range(1, 9):
        source = f"127.0.0.{last}"
        mapping[source] = tally(balancer.port, client_context, 15, source=source).servers
    figures.add(
        "source -> server",
        ", ".join(f"{src}->{'/'.join(sorted(seen))}" for src, seen in mapping.items()),
    )
    for source, seen in mapping.items():
        assert sum(seen.values()) == 15, f"{source}: {seen}"
        assert len(seen) == 1, f"{source} reached several servers: {dict(seen)}"


def _leastconn_round(port: int, context: ssl.SSLContext) -> tuple[str, str, Counter[str]]:
    """Get two watches onto one server, none on the other; where do 20 new connections go?"""
    watches: list[Watch] = []
    try:
        for _ in range(10):
            watches.append(Watch(port, context))
            held = Counter(w.server for w in watches)
            if max(held.values()) >= 2:
                break
        busy, count = held.most_common(1)[0]
        assert count >= 2, f"could not get two watches onto one server: {held}"
        for watch in [w for w in watches if w.server != busy]:
            watch.close()
        time.sleep(0.5)  # let the engine see the closed connections
        idle = "b" if busy == "a" else "a"
        reached = Counter(request("127.0.0.1", port, context).server for _ in range(20))
    finally:
        for watch in watches:
            watch.close()
    return busy, idle, reached


def test_leastconn_prefers_the_server_with_fewer_open_connections(
    build: EngineBuild, apiservers: Servers, lb: Start, client_context: ssl.SSLContext,
    figures: Figures,
) -> None:  # fmt: skip
    """``balance: leastconn``: with 2 open watches on one server and 0 on the other, new
    connections go to the idle one (round robin would send half of them to the busy one).
    Three rounds, because an engine that counts connections per worker process gets some
    rounds right by chance."""
    a, b = apiservers(2, watch_interval=3600)
    spec = make_spec("it-leastconn", {"a": a.address, "b": b.address},
                     pool={"balance": "leastconn"})  # fmt: skip
    balancer = lb(spec)
    rounds = []
    for _ in range(3):
        rounds.append(_leastconn_round(balancer.port, client_context))
        time.sleep(0.5)  # the closed watches of this round must not count in the next
    figures.add(
        "leastconn (2 watches open on one server; 20 new connections)",
        "; ".join(f"busy {busy}: {dict(reached)}" for busy, _, reached in rounds),
    )
    for busy, idle, reached in rounds:
        assert reached == Counter({idle: 20}), f"{busy} busy, new ones went to {dict(reached)}"
