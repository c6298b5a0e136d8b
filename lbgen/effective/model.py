"""The effective, canonical, engine-neutral model of an existing config.

A config tree says how a config was *written*; this model says what the engine will *do*: per
frontend and per backend (nginx: per stream ``server {}`` and per ``upstream``), the value of
every modelled setting after inheritance and the engine's own defaults. Each engine package's
reader (``lbgen/<engine>/effective.py``) builds it. Durations are integers of microseconds, the
base :mod:`lbgen.units` uses too (``inter 1500us`` differs from ``inter 2ms``). Collections the
engine does not order (servers, binds, options) are compared without their order; comments and
layout are gone. Settings that cannot take effect are left out the same way on both sides.

Two configs that mean the same thing therefore give equal :class:`Config` objects. Every value
also remembers where it was set (``origins``, ignored by equality) so that a diff can point to
the line to change. Directives without a field are kept in ``extras`` -- they take part in
equality, because a config that adds an ``http-request`` rule does not mean the same thing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import field

from lbgen.confparse.tree import Node
from lbgen.diagnostics import Diagnostic
from lbgen.frozen import record
from lbgen.units import parse_int

# --- values ------------------------------------------------------------------------------------


@record
class Origin:
    """Where a value was set: ``file:line``. Engine defaults have no origin."""

    file: str | None
    line: int | None
    col: int | None = None

    def __str__(self) -> str:
        return f"{self.file or '<config>'}:{self.line or 0}"

    @classmethod
    def of(cls, node: Node) -> Origin:
        """The origin of a tree node."""
        return cls(node.file, node.line, node.col)


_US_PER_UNIT = {
    "us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000,
    "d": 86_400_000_000,
}  # fmt: skip
#: Largest first: a duration is shown in the largest unit that divides it exactly.
_FORMAT_UNITS = ("d", "h", "m", "s", "ms", "us")


def format_duration(us: int | None) -> str:
    """Microseconds as the shortest exact unit string (``90_000_000`` -> ``90s``, ``1500`` ->
    ``1500us``); ``0`` -> ``0ms``, ``None`` -> ``unset``. For messages, diffs and the importer."""
    if us is None:
        return "unset"
    if us == 0:
        return "0ms"
    for unit in _FORMAT_UNITS:
        size = _US_PER_UNIT[unit]
        if us % size == 0:
            return f"{us // size}{unit}"
    raise AssertionError("the smallest unit divides everything")  # pragma: no cover


def header_fields(header: Sequence[str]) -> dict[str, str]:
    """``key: value`` pairs of a config's leading comment lines (lbgen's provenance header);
    the first spelling of a key wins."""
    out: dict[str, str] = {}
    for line in header:
        key, sep, value = line.strip().partition(":")
        if sep and key and " " not in key.strip():
            out.setdefault(key.strip(), value.strip())
    return out


def normalize_address(text: str) -> str:
    """A listen/bind address in one spelling: ``6443``, ``:6443`` and ``*:6443`` are
    ``0.0.0.0:6443``; ``:::6443`` is ``[::]:6443``; IPv6 compressed and bracketed; names
    lower-cased. Anything else (``unix@``, ``fd@``, ranges) is returned as written."""
    text = text.strip()
    if text.isdigit():
        return f"0.0.0.0:{text}"
    host, port = split_host_port(text)
    if port is None:
        return text
    if host in ("", "*"):
        return f"0.0.0.0:{port}"
    return f"{_host(host)}:{port}"


def _host(host: str) -> str:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host.lower()
    return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed


def split_host_port(text: str) -> tuple[str, int | None]:
    """``"1.2.3.4:6443"`` -> ``("1.2.3.4", 6443)``; ``"[fd00::1]:6443"`` -> ``("fd00::1", 6443)``;
    HAProxy's unbracketed ``fd00::1:6443`` and ``:::6443`` take the last colon as the port."""
    if text.startswith("["):
        close = text.find("]")
        if close > 0:
            host, rest = text[1:close], text[close + 1 :]
            port = parse_int(rest[1:]) if rest.startswith(":") else None
            return host, port
    if ":" not in text:
        return text, None
    host, _, port_text = text.rpartition(":")
    port = parse_int(port_text)
    if port is None:
        return text, None
    return host, port


def canonical_host(host: str) -> str:
    """A server host in one spelling: IP addresses compressed, names lower-cased."""
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host.lower()


# --- the model ---------------------------------------------------------------------------------


@record
class Timeouts:
    """Timeouts in milliseconds; None when neither the config nor the engine sets one.

    HAProxy fills the fields of its ``timeout`` keywords; nginx fills ``connect``
    (``proxy_connect_timeout``) and ``idle`` (``proxy_timeout``, its one idle timeout).
    """

    connect: int | None = None
    client: int | None = None
    server: int | None = None
    tunnel: int | None = None
    client_fin: int | None = None
    server_fin: int | None = None
    queue: int | None = None
    check: int | None = None
    idle: int | None = None


FRONTEND_TIMEOUTS = ("client", "client_fin")
"""HAProxy timeouts that belong to the frontend side of a proxy; the others to the backend."""


@record
class Health:
    """The active health check a backend runs (``check`` is what actually runs).

    ``check``: ``none`` (no server checks), ``tcp`` (connect), ``tls`` (TLS handshake),
    ``http``, ``https``, ``ssl-hello`` (HAProxy ``option ssl-hello-chk``), or another HAProxy
    check's name (``mysql``, ``pgsql``, ``redis``, ``smtp``, ``ldap``, ``spop``, ``external``).
    ``expect`` holds the status codes that count as healthy, when the config's expectation is a
    plain list of codes; any other expectation is in ``expect_raw``. For an HTTP check without an
    expectation HAProxy accepts 2xx and 3xx (``expect`` stays None).
    """

    check: str = "none"
    method: str | None = None
    path: str | None = None
    version: str | None = None
    expect: tuple[int, ...] | None = None
    expect_raw: str | None = None
    expect_body: str | None = None
    """A string the answer must contain (HAProxy ``http-check expect string``, NGINX Plus
    ``expect ~`` of a plain string)."""
    sni: str | None = None
    client_cert: str | None = None
    port: int | None = None
    rules: tuple[str, ...] = ()
    """http-check/tcp-check rules not captured by the fields above, in order."""


@record
class Server:
    """One server after ``default-server`` and engine defaults; fields an engine lacks are None.

    HAProxy fills ``inter .. fall`` (None when the server is not checked: they mean nothing
    then); nginx fills ``max_fails`` and ``fail_timeout``.
    """

    name: str
    address: str
    port: int | None
    weight: int | None = None
    backup: bool = False
    disabled: bool = False
    maxconn: int | None = None
    maxqueue: int | None = None
    slowstart: int | None = None
    check: bool = False
    check_ssl: bool = False
    ssl: bool = False
    verify: str | None = None
    ca_file: str | None = None
    sni: str | None = None
    check_sni: str | None = None
    crt: str | None = None
    inter: int | None = None
    fastinter: int | None = None
    downinter: int | None = None
    rise: int | None = None
    fall: int | None = None
    check_port: int | None = None
    check_addr: str | None = None
    max_fails: int | None = None
    fail_timeout: int | None = None
    send_proxy: str | None = None
    init_addr: str | None = None
    resolvers: str | None = None
    extras: tuple[str, ...] = ()
    """Parameters without a field, as ``name`` or ``name value``, sorted."""
    origins: Mapping[str, Origin] = field(default_factory=dict, compare=False, repr=False)
    origin: Origin | None = field(default=None, compare=False, repr=False)

    @property
    def endpoint(self) -> str:
        """``host:port`` with IPv6 bracketed."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return host if self.port is None else f"{host}:{self.port}"


@record
class Bind:
    """A listening address and its options (``ssl``, ``accept-proxy``, nginx ``reuseport``)."""

    address: str
    options: tuple[str, ...] = ()


@record
class Frontend:
    """Where clients connect. nginx: one stream ``server {}``, named by its listen addresses.

    nginx keeps connect/idle timeouts and the retry policy on the ``server {}``: they are here
    (``timeouts``, ``next_upstream``, ``next_upstream_tries``), not on the upstream.
    """

    name: str
    binds: tuple[Bind, ...] = ()
    backend: str | None = None
    mode: str = "tcp"
    timeouts: Timeouts = Timeouts()
    maxconn: int | None = None
    proxy_protocol: bool | None = None
    next_upstream: bool | None = None
    next_upstream_tries: int | None = None
    ready_path: str | None = None
    """The liveness endpoint's readiness path (HAProxy: the ``http-request return`` rules
    ``global.health.ready_path`` writes), None when it has none."""
    ready_pools: tuple[str, ...] = ()
    """The backends whose having no usable server makes ``ready_path`` answer 503."""
    extras: tuple[str, ...] = ()
    origins: Mapping[str, Origin] = field(default_factory=dict, compare=False, repr=False)
    origin: Origin | None = field(default=None, compare=False, repr=False)
    ignored: tuple[str, ...] = field(default=(), compare=False)
    """Lines and options the config gives this proxy that the engine ignores here (HTTP-only
    settings in a tcp proxy, log options without a log target), spelled like ``extras``: no
    part of what it does, kept for lint."""
    role: str | None = field(default=None, compare=False)
    """What the frontend is for when it is not a proxy to a pool: ``stats`` (the load
    balancer's stats page), ``health`` (its liveness endpoint). A diff matches these by role,
    not by name (:func:`lbgen.effective.differ.pair_roles`)."""


@record
class Backend:
    """A pool of servers: HAProxy ``backend``/``listen``, nginx ``upstream``."""

    name: str
    mode: str = "tcp"
    balance: str | None = None
    balance_args: tuple[str, ...] = ()
    health: Health = Health()
    retries: int | None = None
    redispatch: bool | None = None
    timeouts: Timeouts = Timeouts()
    servers: Mapping[str, Server] = field(default_factory=dict)
    extras: tuple[str, ...] = ()
    server_order: tuple[str, ...] = ()
    """The servers whose order the engine acts on, in the config's order; empty where it acts
    on none (round robin, least connections). Each engine's reader decides: HAProxy's
    ``first`` and hashing algorithms number the servers by position, and without ``option
    allbackups`` the first usable backup takes all traffic; nginx's ``hash`` without
    ``consistent`` picks a server by its index."""
    check_options: tuple[tuple[str, Origin], ...] = field(default=(), compare=False, repr=False)
    ignored: tuple[str, ...] = field(default=(), compare=False)
    """As :attr:`Frontend.ignored`."""
    """Every ``option *-chk`` met in the inheritance chain, in order (the last one wins)."""
    zone: str | None = field(default=None, compare=False)
    """nginx ``zone`` (name and size): shared memory for the workers' run-time state, not part of
    the configuration the workers run, so not compared (the classic block has none, lbgen may
    write one)."""
    origins: Mapping[str, Origin] = field(default_factory=dict, compare=False, repr=False)
    origin: Origin | None = field(default=None, compare=False, repr=False)


@record
class Section:
    """Directives the model has no field for outside frontends and backends: the unmodelled
    process directives (``global``; nginx's main context is ``main``) and whole sections the
    model does not read (``resolvers docker``, nginx ``http``). ``extras`` are the directives as
    words joined by one space (nginx blocks on one line), sorted: compared as a multiset."""

    name: str
    extras: tuple[str, ...] = ()
    origins: Mapping[str, Origin] = field(default_factory=dict, compare=False, repr=False)
    origin: Origin | None = field(default=None, compare=False, repr=False)


@record
class Config:
    """The effective model of one config file."""

    engine: str
    frontends: Mapping[str, Frontend] = field(default_factory=dict)
    backends: Mapping[str, Backend] = field(default_factory=dict)
    globals: Mapping[str, str] = field(default_factory=dict)
    """Process settings that change behaviour (``maxconn``, ``ssl-server-verify``), as text."""
    global_origins: Mapping[str, Origin] = field(default_factory=dict, compare=False, repr=False)
    """Where each of ``globals`` is set (absent: the engine's default)."""
    sections: Mapping[str, Section] = field(default_factory=dict)
    """Unmodelled directives of the process and of sections the model does not read, by
    section (``global``, ``resolvers docker``): what the spec's ``extra`` lists write."""
    file: str = field(default="", compare=False)
    header: tuple[str, ...] = field(default=(), compare=False)
    """Leading comment lines of the main file (provenance headers)."""
    diagnostics: tuple[Diagnostic, ...] = field(default=(), compare=False)
    """What the model could not make sense of (unknown defaults in ``from``, bad durations)."""

    def header_fields(self) -> dict[str, str]:
        """``key: value`` pairs of the leading comments, e.g. lbgen's provenance header
        (``spec``, ``spec-sha256``), so that a diff can spot a file rendered from another spec
        before comparing anything else."""
        return header_fields(self.header)


__all__ = [
    "FRONTEND_TIMEOUTS",
    "Backend",
    "Bind",
    "Config",
    "Frontend",
    "Health",
    "Origin",
    "Section",
    "Server",
    "Timeouts",
    "canonical_host",
    "format_duration",
    "header_fields",
    "normalize_address",
    "parse_int",
    "split_host_port",
]
