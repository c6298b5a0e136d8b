"""Hypothesis strategies for specs over every field, extreme values included, and their renderings.

The values lean on the edges the engines care about: zero and huge durations (around HAProxy's
2147483647 ms and nginx's 2^63-1), 0/1/2^31-1/2^31 counts, many servers, IPv6 addresses spelt
several ways, IPv4-mapped binds, wildcard binds, DNS names (mapped to loopback for the engine by a
private /etc/hosts), pool names that collide in nginx or NGINX Plus, frontends named like HAProxy's
generated sections, all-backup pools. ``client_cert`` is left out: HAProxy loads the file at check
time, so a made-up path says nothing about lbgen.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from lbgen.diagnostics import Level, SpecError
from lbgen.rendering import Rendered

#: Every target and layout a spec is rendered for.
RENDERINGS = (
    ("haproxy", "full"),
    ("nginx", "full"),
    ("nginx", "stream"),
    ("nginx", "upstreams"),
    ("nginx-plus", "full"),
    ("nginx-plus", "stream"),
    ("nginx-plus", "upstreams"),
)
#: The engine that checks a target's rendering here (NGINX Plus has no free binary: not checked).
ENGINE = {"haproxy": "haproxy", "nginx": "nginx"}

_EDGE_MS = [0, 1, 999, 1000, 2**31 - 1, 2**31, 25 * 86_400_000, 2**63 - 1, 2**63]


def durations(wild: bool = True) -> st.SearchStrategy[str]:
    """Duration texts: everyday values; ``wild``: also zeros and the engines' limits."""
    everyday = st.sampled_from(["100ms", "500ms", "1s", "3s", "5s", "10s", "1m", "1h", "24d"])
    if not wild:
        return everyday
    zero = st.sampled_from(["0s", "0ms", "0us", "0d"])
    edge = st.sampled_from(_EDGE_MS).map(lambda ms: f"{ms}ms")
    days = st.sampled_from(["25d", "100d", "999999999999999999s", "1us", "1500us"])
    anything = st.builds(
        lambda n, unit: f"{n}{unit}",
        st.integers(0, 600),
        st.sampled_from(["us", "ms", "s", "m", "h", "d"]),
    )
    # one_of picks a branch uniformly: everyday values most of the time even in a wild spec.
    return st.one_of(*[everyday] * 4, anything, zero, edge, days)


def counts(low: int = 0, wild: bool = True) -> st.SearchStrategy[int]:
    """Small integers, and (``wild``) their 32- and 64-bit edges."""
    if not wild:
        return st.integers(low, 10_000)
    edges = [v for v in (0, 1, 2, 3, 10, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63) if v >= low]
    return st.one_of(st.sampled_from(edges), *[st.integers(low, 10_000)] * 5)


def ipv6_spellings(last: int) -> st.SearchStrategy[str]:
    """One IPv6 address, spelt compressed or in full."""
    return st.sampled_from([f"fd00::{last:x}", f"fd00:0:0:0:0:0:0:{last:x}", f"FD00::{last:X}"])


def server_addresses(index: int) -> st.SearchStrategy[str]:
    """IPv4, IPv6 or a DNS name, with a port."""
    port = st.sampled_from([443, 6443, 65535])
    v4 = st.builds(lambda p: f"10.0.{index // 250}.{index % 250 + 1}:{p}", port)
    v6 = st.builds(lambda a, p: f"[{a}]:{p}", ipv6_spellings(index + 1), port)
    dns = st.builds(lambda p: f"cp{index}.example.internal:{p}", port)
    return st.one_of(v4, v6, dns)


#: Listen hosts: loopback and wildcards, spelt several ways (nginx -t binds them).
BIND_HOSTS = [
    "127.0.0.1", "127.0.0.2", "[::1]", "[0:0::1]", "0.0.0.0", "", "[::]", "[0::0]",
    "[::ffff:127.0.0.1]", "localhost",
]  # fmt: skip
BIND_PORTS = [6443, 7443, 8404, 9443, 10443, 18080]


def binds(ports: list[int]) -> st.SearchStrategy[str]:
    """A listen address on one of ``ports``."""
    return st.builds(lambda h, p: f"{h}:{p}", st.sampled_from(BIND_HOSTS), st.sampled_from(ports))


def _optional(
    draw: st.DrawFn, strategy: st.SearchStrategy[Any], key: str, out: dict[str, Any]
) -> None:
    if draw(st.booleans()):
        out[key] = draw(strategy)


def health(draw: st.DrawFn, wild: bool) -> dict[str, Any]:
    """A ``health`` block with any subset of its fields."""
    out: dict[str, Any] = {}
    kinds = ["none", "tcp", "tls", "ssl-hello", "http", "https"]
    _optional(draw, st.sampled_from(kinds), "check", out)
    _optional(draw, st.sampled_from(["/readyz", "/livez", "/", "/healthz?verbose"]), "path", out)
    _optional(draw, st.lists(st.integers(100, 599), min_size=1, max_size=3), "expect", out)
    for name in ("interval", "fast_interval", "down_interval", "timeout"):
        _optional(draw, durations(wild), name, out)
    for name in ("rise", "fall"):
        _optional(draw, counts(1, wild), name, out)
    _optional(draw, st.sampled_from(["kubernetes", "api.example.internal"]), "sni", out)
    return out


def server_params(draw: st.DrawFn, out: dict[str, Any], wild: bool) -> None:
    """slowstart, maxconn, maxqueue, weight."""
    _optional(draw, durations(wild), "slowstart", out)
    _optional(draw, counts(0, wild), "maxconn", out)
    _optional(draw, counts(0, wild), "maxqueue", out)
    _optional(draw, st.sampled_from([0, 1, 100, 256]), "weight", out)


def pool_params(draw: st.DrawFn, out: dict[str, Any], wild: bool) -> None:
    """The fields a pool shares with ``defaults``."""
    server_params(draw, out, wild)
    _optional(
        draw,
        st.sampled_from(["roundrobin", "static-rr", "leastconn", "first", "source", "random"]),
        "balance",
        out,
    )
    if draw(st.booleans()):
        out["health"] = health(draw, wild)
    _optional(draw, counts(0, wild), "retries", out)
    _optional(draw, st.booleans(), "redispatch", out)


def timeouts(draw: st.DrawFn, names: tuple[str, ...], wild: bool) -> dict[str, Any]:
    """A timeouts block; ``None`` (explicit null) is possible too."""
    out: dict[str, Any] = {}
    for name in names:
        _optional(draw, st.one_of(durations(wild), st.none()), name, out)
    return out


POOL_TIMEOUTS = ("connect", "server", "tunnel", "server_fin", "queue")
FRONTEND_TIMEOUTS = ("client", "client_fin")
POOL_NAMES = ["cp", "CP", "a-b", "a_b", "a.b", "lbgen-stats", "lbgen-health", "api"]
FRONTEND_NAMES = ["api", "api2", "lbgen-stats", "lbgen-health", "Api"]


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    """A spec document (most of them valid; the loader decides).

    Half the specs are "wild": their durations and counts reach the engines' limits. The other
    half keep everyday values, so that they reach the engines with names, binds and layouts.
    """
    wild = draw(st.booleans())
    # Half the specs share a few ports between listeners (clashes), half give each its own.
    unique_ports = iter(range(20000, 20100))
    clashy = draw(st.booleans())

    def bind() -> str:
        return draw(binds(BIND_PORTS if clashy else [next(unique_ports)]))

    pool_names = draw(st.lists(st.sampled_from(POOL_NAMES), min_size=1, max_size=3, unique=True))
    pools: dict[str, Any] = {}
    for pool_name in pool_names:
        many = draw(st.sampled_from([1, 1, 2, 3, 5, 70, 150]))
        servers: dict[str, Any] = {}
        for index in range(many):
            address = draw(server_addresses(index))
            if many > 5 or not draw(st.booleans()):
                servers[f"m{index}"] = address
                continue
            server: dict[str, Any] = {"address": address}
            server_params(draw, server, wild)
            _optional(draw, st.booleans(), "backup", server)
            _optional(draw, st.booleans(), "disabled", server)
            servers[f"m{index}"] = server
        pool: dict[str, Any] = {"servers": servers}
        pool_params(draw, pool, wild)
        if draw(st.booleans()):
            pool["timeouts"] = timeouts(draw, POOL_TIMEOUTS, wild)
        pools[pool_name] = pool
    frontend_names = draw(
        st.lists(st.sampled_from(FRONTEND_NAMES), min_size=1, max_size=3, unique=True)
    )
    frontends: dict[str, Any] = {}
    for name in frontend_names:
        frontend: dict[str, Any] = {
            "bind": [bind() for _ in range(draw(st.integers(1, 2)))],
            "pool": draw(st.sampled_from(pool_names)),
        }
        if draw(st.booleans()):
            frontend["timeouts"] = timeouts(draw, FRONTEND_TIMEOUTS, wild)
        frontends[name] = frontend
    document: dict[str, Any] = {"version": 1, "frontends": frontends, "pools": pools}
    _optional(draw, st.sampled_from(["prod", "a.b-c_1"]), "name", document)
    if draw(st.booleans()):
        defaults: dict[str, Any] = {}
        pool_params(draw, defaults, wild)
        if draw(st.booleans()):
            defaults["timeouts"] = timeouts(draw, POOL_TIMEOUTS + FRONTEND_TIMEOUTS, wild)
        document["defaults"] = defaults
    if draw(st.booleans()):
        g: dict[str, Any] = {}
        _optional(draw, counts(0, wild), "maxconn", g)
        log = ["stdout", "none", "syslog", "udp://127.0.0.1:514", "udp://[::1]:514"]
        _optional(draw, st.sampled_from(log), "log", g)
        if draw(st.booleans()):
            g["stats"] = {"bind": bind(), "prometheus": draw(st.booleans())}
        if draw(st.booleans()):
            g["health"] = {"bind": bind()}
            _optional(draw, st.sampled_from(["/healthz", "/livez"]), "path", g["health"])
        document["global"] = g
    return document


@dataclass
class Tally:
    """Counts per rendering (``haproxy full``, ...): what lbgen and the engine said."""

    specs: int = 0
    invalid: int = 0
    per: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, key: str, what: str) -> None:
        """Count one outcome for one rendering."""
        self.per.setdefault(key, Counter())[what] += 1

    def lines(self) -> list[str]:
        """One line per rendering: generated / refused by lbgen / accepted / rejected by engine."""
        out = [f"specs generated: {self.specs}, rejected by validation: {self.invalid}"]
        for key, c in sorted(self.per.items()):
            out.append(
                f"{key}: rendered {c['rendered']} / refused by lbgen {c['refused']} / "
                f"accepted by engine {c['accepted']} / rejected by engine {c['rejected']}"
                + (f" / not checked {c['unchecked']}" if c["unchecked"] else "")
                + (f" / warned and refused by -dW {c['warned']}" if c["warned"] else "")
            )
        return out


def load_document(document: dict[str, Any]) -> Any:
    """The Spec of ``document`` (JSON is YAML), or None when validation rejects it."""
    import lbgen

    try:
        return lbgen.load_spec(json.dumps(document, indent=1).encode(), filename="gen.json")
    except SpecError:
        return None


def render_all(spec: Any) -> list[tuple[str, str, Rendered]]:
    """Every target and layout of a loaded spec."""
    import lbgen

    return [
        (t, layout, lbgen.render(spec, t, layout=layout, allow_errors=True))
        for t, layout in RENDERINGS
    ]


def refused(rendered: Rendered) -> bool:
    """lbgen says the engine cannot run this (an error diagnostic)."""
    return any(d.level is Level.ERROR for d in rendered.diagnostics)


def warned(rendered: Rendered) -> bool:
    """lbgen warned about the translation (``haproxy -c -dW`` may then refuse it)."""
    return any(d.level is Level.WARNING for d in rendered.diagnostics)
