"""Idle timeouts are really applied: an idle kube watch is cut at 5 s and survives at 60 s."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from .clients import Watch
from .conftest import FAST_HEALTH, TIMEOUTS, Figures, LoadBalancer
from .fake_apiserver import FakeAPIServer, free_port
from .images import EngineBuild

pytestmark = pytest.mark.integration

IDLE_SECONDS = 10.0


def test_idle_watch_cut_at_short_timeouts_and_kept_at_long_ones(
    build: EngineBuild,
    apiservers: Callable[..., list[FakeAPIServer]],
    lb: Callable[[dict[str, Any]], LoadBalancer],
    client_context: ssl.SSLContext,
    figures: Figures,
) -> None:
    """Two frontends in one engine (so both cases share the 10 s wait): ``short`` with every
    idle timeout at 5 s, ``long`` at 60 s. A watch that stays idle is cut on ``short`` before
    10 s, and on ``long`` still delivers an event after 10 s of silence."""
    short_server, long_server = apiservers(2, watch_interval=3600)  # events only when poked
    short_port, long_port = free_port(), free_port()
    spec = {
        "version": 1,
        "name": "it-timeouts",
        "defaults": {"health": FAST_HEALTH, "timeouts": TIMEOUTS},
        "frontends": {
            "short": {"bind": [f"127.0.0.1:{short_port}"], "pool": "short",
                      "timeouts": {"client": "5s"}},
            "long": {"bind": [f"127.0.0.1:{long_port}"], "pool": "long",
                     "timeouts": {"client": "60s"}},
        },
        "pools": {
            "short": {"timeouts": {"server": "5s", "tunnel": "5s"},
                      "servers": {"a": short_server.address}},
            "long": {"timeouts": {"server": "60s", "tunnel": "60s"},
                     "servers": {"b": long_server.address}},
        },
    }  # fmt: skip
    lb(spec)

    short_watch = Watch(short_port, client_context)
    long_watch = Watch(long_port, client_context)
    opened = time.monotonic()
    cut_after: list[float] = []

    def wait_for_cut() -> None:
        # Reads until the engine closes the connection (None) or the 12 s read timeout hits.
        try:
            while short_watch.next_event(timeout=IDLE_SECONDS + 2) is not None:
                pass
            cut_after.append(time.monotonic() - opened)
        except TimeoutError:
            pass

    reader = threading.Thread(target=wait_for_cut, daemon=True)
    try:
        assert short_watch.status == 200 and long_watch.status == 200
        reader.start()
        time.sleep(IDLE_SECONDS)
        long_server.poke_watches()
        event = long_watch.next_event(timeout=5)
        reader.join(timeout=IDLE_SECONDS + 5)
    finally:
        short_watch.close()
        long_watch.close()
    figures.add(
        "idle watch",
        f"5s timeouts: cut after {cut_after[0]:.2f}s" if cut_after else "5s timeouts: not cut",
    )
    figures.add("idle watch", "60s timeouts: " + ("alive after 10s" if event else "cut"))
    assert cut_after, f"the idle watch survived {IDLE_SECONDS}s with 5s timeouts"
    assert 4.0 <= cut_after[0] < IDLE_SECONDS, f"cut after {cut_after[0]:.2f}s, expected ~5s"
    assert event is not None and b'"ADDED"' in event, "the 60s watch did not survive 10s idle"
