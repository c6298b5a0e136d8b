"""nginx (OSS 1.18 and newer) and NGINX Plus views of a resolved spec.

nginx OSS has no active health checks, so the translation is lossy, and says so: every field that
cannot be expressed becomes a diagnostic at the spec location that set it (a warning; ``--strict``
makes it an error). Built-in defaults that get dropped are summed up in one note per pool.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from lbgen import extra as extras
from lbgen.directives import Directive, DirectiveTable
from lbgen.frozen import record
from lbgen.names import LOG_FORMAT
from lbgen.nginx.table import (
    CHECK_DETAILS,
    CHECK_PARAMS,
    HASHING_BALANCES,
    PLUS_TABLE,
    TABLE,
    WEIGHTED_RANDOM,
    FailTimeout,
)
from lbgen.resolve import (
    Bind,
    Resolved,
    ResolvedFrontend,
    ResolvedLog,
    ResolvedPool,
    ResolvedServer,
)
from lbgen.spec.source import Path_
from lbgen.units import HostPort, format_nginx_duration
from lbgen.view import Findings, Verbatim, View, warn_log_host_name

# crossplane's contexts of the blocks extras go in (lbgen.nginx.syntax.Context).
_MAIN: tuple[str, ...] = ()
_STREAM = ("stream",)
_UPSTREAM = ("stream", "upstream")
_SERVER = ("stream", "server")
_HTTP_SERVER = ("http", "server")

_UNSUPPORTED = "nginx-unsupported"

#: nginx parses numbers and times into a signed 64-bit integer (NGX_MAX_INT_T_VALUE); a bigger
#: one is "invalid" and nginx refuses to start.
NGX_MAX_INT = 2**63 - 1
#: Shared memory zone of an upstream, measured with nginx 1.22: 8 pages (32 KiB) of slab overhead,
#: then about 0.8 KiB per IPv4/IPv6 peer and 1 KiB per peer of a 250-character DNS name. lbgen
#: gives each IP server 2 KiB and each DNS server 8 KiB (a name may resolve to several peers),
#: and never less than the 64 KiB it always used: a fixed 64k ran out at about 60 servers.
ZONE_BASE_KIB = 32
ZONE_MIN_KIB = 64
ZONE_KIB_PER_IP_SERVER = 2
ZONE_KIB_PER_DNS_SERVER = 8
_LOG_FORMAT = (
    "'$remote_addr [$time_local] $protocol $status $bytes_sent $bytes_received "
    '$session_time "$upstream_addr"\''
)


@record
class NginxUpstream:
    """One ``upstream`` block."""

    name: str
    method: str | None
    zone: str | None
    servers: list[str]
    extra: list[str] = field(default_factory=list)
    """Whole statements (``fullconn 1;``), after the servers."""


@record
class NginxMatch:
    """An NGINX Plus ``match`` block for an http health check."""

    name: str
    send: str
    expect: str | None  # None: no expectation, any answer counts (the engine's default)


@record
class NginxServer:
    """One stream ``server`` block: listeners and proxy settings."""

    name: str
    listens: list[str]
    upstream: str
    directives: list[str]  # without the ";": the template ends each one
    extra: list[str] = field(default_factory=list)
    """Whole statements, ``;`` or block included, after the modelled directives."""


@record
class NginxHealthListener:
    """The load balancer's own liveness endpoint: a stream ``return`` listener (any path), or,
    with ``global.health.extra.nginx``, an ``http {}`` server answering on ``path`` beside the
    extras (``http``)."""

    listens: list[str]
    response: str
    http: bool = False
    path: str = "/healthz"
    extra: list[str] = field(default_factory=list)
    ready_path: str | None = None
    """``global.health.ready_path`` of the http server: answered like ``path``."""


def nginx_address(address: HostPort) -> str:
    """``[fd00::1]:6443`` stays bracketed; ``:6443`` becomes ``6443`` (every IPv4 address)."""
    return str(address) if address.host else str(address.port)


def _listen(bind: Bind, ipv4_ports: Mapping[int, bool]) -> str:
    """A ``listen`` address with its stack: nginx makes ``[::]:port`` IPv6-only by default, so a
    dual-stack bind says ``ipv6only=off`` -- unless the spec says v6only, or an IPv4 address
    listens on the same port (nginx does not set SO_REUSEPORT: the two sockets would collide,
    and nginx would not start)."""
    text = nginx_address(bind.address)
    if bind.address.family != "ipv6" or not bind.address.is_wildcard:
        return text
    if bind.v6only or bind.address.port in ipv4_ports:
        return text
    return f"{text} ipv6only=off"


def _ipv4_ports(resolved: Resolved) -> dict[int, bool]:
    """The ports some IPv4 address listens on, each with whether the IPv4 wildcard does."""
    binds = [b for fe in resolved.frontends for b in fe.binds] + list(resolved.global_.health_binds)
    ports: dict[int, bool] = {}
    for bind in binds:
        if bind.address.family != "ipv6":
            port = bind.address.port
            ports[port] = ports.get(port, False) or bind.address.is_wildcard
    return ports


def _warn_single_stack(
    frontend: ResolvedFrontend, ipv4_ports: Mapping[int, bool], findings: Findings
) -> None:
    """A dual-stack ``[::]:port`` that :func:`_listen` makes IPv6-only because one IPv4 address
    (not the wildcard) takes the port: IPv4 clients reach only that address there."""
    for index, bind in enumerate(frontend.binds):
        port = bind.address.port
        if (
            bind.address.family == "ipv6" and bind.address.is_wildcard and not bind.v6only
            and ipv4_ports.get(port) is False
        ):  # fmt: skip
            findings.warning(
                "nginx-single-stack", (*frontend.path, "bind", index),
                f"nginx cannot listen on [::]:{port} for IPv4 too while an IPv4 address listens "
                f"on port {port} (the sockets would collide): it is IPv6-only here, and IPv4 "
                f"clients reach only the IPv4 addresses listed (add ':{port}' to this frontend "
                "for the others)",
            )  # fmt: skip


def _ms(us: int | None) -> str | None:
    return None if us is None else format_nginx_duration(us)


def _render(directives: DirectiveTable, name: str, context: str, value: Any) -> str:
    """The text of ``value`` for the row ``name`` in ``context``: how the table writes it."""
    row = directives.named(name, context)
    assert row is not None and row.codec is not None, f"no {name} row with a codec in {context}"
    return row.codec.render(value)


def _param(directives: DirectiveTable, name: str, context: str, value: Any) -> str:
    """A ``name=value`` parameter (of an upstream ``server`` line or of ``health_check``)."""
    return f"{name}={_render(directives, name, context, value)}"


def _lost_rows(directives: DirectiveTable, prefix: str) -> list[Directive]:
    """The rows of fields the engine cannot express whose field starts with ``prefix``."""
    return [row for row in directives.unsupported() if (row.field or "").startswith(prefix)]


def zone_size_kib(pool: ResolvedPool) -> int:
    """The upstream's shared memory zone in KiB, sized from its servers (see ZONE_BASE_KIB)."""
    need = ZONE_BASE_KIB + sum(
        ZONE_KIB_PER_DNS_SERVER if server.is_dns else ZONE_KIB_PER_IP_SERVER
        for server in pool.servers
    )
    return max(ZONE_MIN_KIB, need)


def match_names(pools: list[ResolvedPool]) -> dict[str, str]:
    """A unique NGINX Plus ``match`` block name for each pool, by pool name.

    ``-`` and ``.`` become ``_``, so pools ``a-b``, ``a_b`` and ``a.b`` would all be ``lbgen_a_b``:
    later pools get a numeric suffix (compared case-insensitively, to be safe).
    """
    taken: set[str] = set()
    out = {}
    for pool in pools:
        base = f"lbgen_{pool.name}".replace("-", "_").replace(".", "_")
        name, number = base, 1
        while name.lower() in taken:
            number += 1
            name = f"{base}_{number}"
        taken.add(name.lower())
        out[pool.name] = name
    return out


class _PoolTranslation:
    """Translates one pool; collects what nginx cannot say into ``findings``."""

    def __init__(
        self, pool: ResolvedPool, findings: Findings, *, plus: bool, match_name: str = ""
    ) -> None:
        self.pool = pool
        self.findings = findings
        self.plus = plus
        self.match_name = match_name or f"lbgen_{pool.name}"
        self.engine = "NGINX Plus" if plus else "nginx"
        self.table = PLUS_TABLE if plus else TABLE
        self.fail_timeout = FailTimeout()
        self.dropped: list[tuple[str, str]] = []  # (field, as shown) for flush_dropped

    def lossy(
        self, source: Path_ | None, name: str, message: str, *, shown: str | None = None
    ) -> None:
        """A value nginx cannot express: warn where the user set it, else note it once.
        ``name`` is the field; ``shown`` how the note names it (default: the field)."""
        if source is not None:
            suffix = "" if "instead" in message else "; left out"
            self.findings.warning("nginx-unsupported", source, message + suffix)
        else:
            self.dropped.append((name, shown or name))

    def lost(self, source: Path_ | None, row: Directive) -> None:
        """A field of ``row`` (one nginx cannot express) is set: its warning where the user set
        it, else named once in the pool's note of dropped built-in defaults."""
        assert row.field is not None and row.unsupported is not None and row.code is not None
        if source is not None:
            self.findings.warning(row.code, source, row.unsupported)
        else:
            self.dropped.append((row.field, row.field))

    # -- balance --------------------------------------------------------------------------------

    def method(self) -> str | None:
        pool = self.pool
        where = pool.sources.get("balance", pool.path)
        if pool.balance == "first":
            self.findings.error(
                "nginx-balance-first", where,
                "nginx has no 'first' balance (fill one server before the next); "
                "choose another balance for nginx",
            )  # fmt: skip
            return None
        if pool.balance == "static-rr":
            self.findings.warning(
                "nginx-static-rr", where,
                "nginx has no static round robin; its weighted round robin is used instead",
            )  # fmt: skip
        if pool.balance not in HASHING_BALANCES and all(server.backup for server in pool.servers):
            self.findings.error(
                "nginx-all-backup", (*pool.path, "servers"),
                "every server of this pool is a backup: nginx refuses to start with no primary "
                "server in an upstream ('no servers in upstream'); make one server non-backup",
            )  # fmt: skip
        balance = pool.balance or "roundrobin"
        codec = next(row.codec for row in self.table.for_field("balance") if row.codec)
        method = codec.render(balance) or None
        # A null weight is nginx's own, 1; weight 0 is written `down` and takes no part.
        weights = {1 if s.weight is None else s.weight for s in pool.servers if not s.backup}
        if balance == "random" and len(weights - {0}) > 1:
            method = " ".join(WEIGHTED_RANDOM)
        if pool.balance in HASHING_BALANCES:
            for server in pool.servers:
                if server.backup:
                    self.findings.error(
                        "nginx-backup-hash", (*server.path, "backup"),
                        f"nginx rejects 'backup' servers with balance {pool.balance} "
                        f"({method})",
                    )  # fmt: skip
        return method

    # -- health ---------------------------------------------------------------------------------

    def passive_check(self) -> list[str]:
        """``max_fails``/``fail_timeout`` from ``fall`` and ``interval * fall``."""
        health = self.pool.health
        if health.check == "none":
            return ["max_fails=0"]
        params = []
        if health.fall is not None:
            params.append(_param(self.table, "max_fails", "upstream server", health.fall))
            if health.interval is not None:
                window = (health.interval, health.fall)
                params.append(_param(self.table, "fail_timeout", "upstream server", window))
        return params

    def health_report(self) -> None:
        """What the engine does instead of the spec's active health check."""
        health = self.pool.health
        src = health.sources
        if self.plus:
            if health.check in ("https", "tls", "ssl-hello"):
                self.lossy(
                    src.get("check"),
                    "health.check",
                    f"NGINX Plus stream checks speak TLS only when traffic is re-encrypted; "
                    f"a TCP connect check is used instead of {health.check}",
                    shown=f"health.check {health.check}",
                )
            self.lost_health()
            if health.check not in ("http",):
                for field in CHECK_DETAILS:
                    name = field.removeprefix("health.")
                    if getattr(health, name) is not None and name in src:
                        self.lossy(
                            src[name],
                            f"health.{name}",
                            f"health.{name} is only used by an http check in NGINX Plus",
                        )
            return
        if health.check in ("http", "https", "tls", "ssl-hello"):
            self.lossy(
                src.get("check"), "health.check",
                f"nginx OSS has no active health checks: passive checking (a server is skipped "
                f"after max_fails failed connections within fail_timeout) is used instead of "
                f"the {health.check} check",
                shown=f"health.check {health.check}",
            )  # fmt: skip
        self.lost_health()

    def lost_health(self) -> None:
        """The health fields this engine cannot express, from its table. A field that only
        qualifies the check (``path``, ``sni``…) is named only where the spec writes it: the
        check's own warning covers its built-in default. nginx OSS with no check (``max_fails=0``)
        loses nothing; NGINX Plus names the intervals it cannot express even then (as it always
        has: changing that would change its golden outputs, which this refactoring must not)."""
        health = self.pool.health
        if health.check == "none" and not self.plus:
            return
        for row in _lost_rows(self.table, "health."):
            name = (row.field or "").removeprefix("health.")
            source = health.sources.get(name)
            if getattr(health, name) is None or (row.field in CHECK_DETAILS and source is None):
                continue
            self.lost(source, row)

    def plus_health_check(self) -> tuple[list[str], NginxMatch | None]:
        """NGINX Plus ``health_check`` line (and ``match`` block for http checks)."""
        health = self.pool.health
        if health.check in (None, "none"):
            return [], None
        params = ["health_check"]
        for row in CHECK_PARAMS:
            value = getattr(health, (row.field or "").removeprefix("health."))
            if value is not None:
                params.append(_param(self.table, row.name, "health_check", value))
        match = None
        if health.check == "http":
            name = self.match_name
            params.append(f"match={name}")
            expect = None
            if health.expect:
                expect = f'~ "{_render(self.table, "expect", "match", health.expect)}"'
                if health.expect_body:
                    self.lossy(
                        health.sources.get("expect_body"), "health.expect_body",
                        "an NGINX Plus match block has one expect: the status codes are "
                        "checked, the expected string is left out",
                    )  # fmt: skip
            elif health.expect_body:
                # The grammar leaves no regular-expression character: a search for the string.
                expect = f'~ "{_render(self.table, "expect ~", "match", health.expect_body)}"'
            match = NginxMatch(
                name=name,
                send=f'"GET {health.path or "/"} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n"',
                expect=expect,
            )
        lines = [" ".join(params)]
        if health.timeout is not None:
            timeout = _render(self.table, "health_check_timeout", "server", health.timeout)
            lines.append(f"health_check_timeout {timeout}")
        return lines, match

    def check_ranges(self) -> None:
        """Numbers and times that nginx would refuse as invalid (above its 64-bit limit)."""
        pool, health = self.pool, self.pool.health
        values: list[tuple[int | None, Path_, str]] = []
        for name in ("interval", "timeout") if self.plus else ():
            us = getattr(health, name)
            ms = None if us is None else -(-us // 1000)
            values.append((ms, health.sources.get(name, pool.path), f"health.{name} (ms)"))
        if not self.plus and health.check != "none" and None not in (health.fall, health.interval):
            assert health.fall is not None and health.interval is not None
            where = health.sources.get("interval", pool.path)
            window = (health.interval, health.fall)
            seconds = self.fail_timeout.parse(self.fail_timeout.render(window)) // 1_000_000
            values.append((seconds, where, "fail_timeout (health.interval * health.fall, s)"))
        values.append((health.fall, health.sources.get("fall", pool.path), "health.fall"))
        values.append((health.rise, health.sources.get("rise", pool.path), "health.rise"))
        if pool.retries is not None:
            values.append((pool.retries + 1, pool.sources.get("retries", pool.path), "retries + 1"))
        for server in pool.servers:
            values.append((server.maxconn, server.sources.get("maxconn", server.path), "maxconn"))
            us = server.slowstart
            ms = None if us is None or not self.plus else -(-us // 1000)
            values.append((ms, server.sources.get("slowstart", server.path), "slowstart (ms)"))
        for value, where, what in values:
            if value is not None and value > NGX_MAX_INT:
                self.findings.error(
                    "nginx-range", where,
                    f"{what} {value} is above nginx's limit of {NGX_MAX_INT}: nginx refuses it as "
                    "invalid",
                )  # fmt: skip

    # -- servers --------------------------------------------------------------------------------

    def server_line(self, server: ResolvedServer, passive: list[str]) -> str:
        pool = self.pool
        params = [nginx_address(server.address)]
        down = server.disabled
        if server.weight == 0:
            self.findings.warning(
                "nginx-weight-zero", server.sources.get("weight", server.path),
                "nginx requires weight >= 1: a weight-0 server is marked 'down' instead",
            )  # fmt: skip
            if server.disabled:
                self.findings.note(
                    "nginx-disabled-moot", (*server.path, "disabled"),
                    "the server is already 'down' for its weight 0: disabled adds nothing",
                )  # fmt: skip
            down = True
        elif server.weight is not None:
            params.append(_param(self.table, "weight", "upstream server", server.weight))
        params += passive
        if server.maxconn is not None:
            params.append(_param(self.table, "max_conns", "upstream server", server.maxconn))
        for row in _lost_rows(self.table, ""):
            # Server fields are the undotted ones (maxqueue, slowstart).
            field = row.field or ""
            if "." not in field and getattr(server, field) is not None:
                self.lost(server.sources.get(field), row)
        if server.slowstart is not None and self.plus:
            if pool.balance in HASHING_BALANCES:
                self.findings.warning(
                    "nginx-slowstart-hash", server.sources.get("slowstart", server.path),
                    f"NGINX Plus cannot slow-start with balance {pool.balance}; left out",
                )  # fmt: skip
            else:
                params.append(_param(self.table, "slow_start", "upstream server", server.slowstart))
        if server.backup and pool.balance not in HASHING_BALANCES:
            params.append(self._flag("backup"))
        if down:
            params.append(self._flag("down"))
        params += _server_extra(server, self.findings)
        if server.is_dns and not self.plus:
            self.findings.warning(
                "nginx-dns-at-start", (*server.path, "address"),
                f"nginx OSS resolves {server.address.host} once at start and refuses to start "
                "when it does not resolve; its address changes are not followed",
            )  # fmt: skip
        return " ".join(params)

    def unreached_server_defaults(self) -> None:
        """A server parameter the pool (or defaults) sets but every server sets for itself:
        nginx has no per-upstream default to write it in, so it reaches nothing."""
        pool = self.pool
        for name, value in pool.server_defaults.items():
            if value is None or not pool.servers:
                continue
            if all(s.sources.get(name) == (*s.path, name) for s in pool.servers):
                where = self.findings.first_written((*pool.path, name), ("defaults", name))
                if where is None:  # a built-in default: nothing the user wrote is lost
                    continue
                self.findings.note(
                    "nginx-pool-value-unused", where,
                    f"every server of pool {pool.name} sets its own {name}: nginx has no "
                    "per-upstream default to write this one in",
                )  # fmt: skip

    def _flag(self, name: str) -> str:
        row = self.table.named(name, "upstream server")
        assert row is not None and row.codec is None
        return row.name

    def upstream(self) -> tuple[NginxUpstream, NginxMatch | None, list[str]]:
        method = self.method()
        self.health_report()
        # NGINX Plus gets an active health_check instead of passive max_fails accounting.
        passive = [] if self.plus else self.passive_check()
        servers = [self.server_line(server, passive) for server in self.pool.servers]
        self.unreached_server_defaults()
        health_lines, match = self.plus_health_check() if self.plus else ([], None)
        self.findings.flush_dropped(
            "nginx-defaults-dropped", self.pool.path, self.dropped, self.engine
        )
        # A shared zone makes every worker see the same connection counts (least_conn) and
        # failure state (max_fails); without it each worker balances on its own view.
        zone = _render(self.table, "zone", "upstream", (self.pool.name, zone_size_kib(self.pool)))
        self.check_ranges()
        extra = extra_statements(
            (*self.pool.path, "extra", "nginx"), self.pool.extra.nginx, _UPSTREAM, self.findings
        )
        return NginxUpstream(self.pool.name, method, zone, servers, extra), match, health_lines


def _check_time(us: int, where: Path_, what: str, findings: Findings) -> None:
    """A time nginx reads in ms must fit its 64-bit integer, else it is an 'invalid value'."""
    if -(-us // 1000) > NGX_MAX_INT:
        findings.error(
            "nginx-range", where,
            f"{what} {_ms(us)} is above nginx's limit of {NGX_MAX_INT} ms: nginx refuses it "
            "as invalid",
        )  # fmt: skip


def _proxy_directives(
    frontend: ResolvedFrontend, pool: ResolvedPool, findings: Findings, table: DirectiveTable
) -> list[str]:
    def line(name: str, value: Any) -> str:
        return f"{name} {_render(table, name, 'server', value)}"

    directives = []
    if pool.timeouts["connect"] is not None:
        where = pool.sources.get("timeouts.connect", pool.path)
        _check_time(pool.timeouts["connect"], where, "timeouts.connect", findings)
        directives.append(line("proxy_connect_timeout", pool.timeouts["connect"]))
    idle = {
        "timeouts.client": (frontend.timeouts["client"], frontend.sources.get("timeouts.client")),
        "timeouts.server": (pool.timeouts["server"], pool.sources.get("timeouts.server")),
        "timeouts.tunnel": (pool.timeouts["tunnel"], pool.sources.get("timeouts.tunnel")),
    }
    values = {name: us for name, (us, _) in idle.items() if us is not None}
    if values:
        longest = max(values.values())
        source = next(src for us, src in idle.values() if us == longest)
        where = source if source is not None else frontend.path
        _check_time(longest, where, "proxy_timeout (the longest idle timeout)", findings)
        directives.append(line("proxy_timeout", longest))
        if len(set(values.values())) > 1:
            for us, source in idle.values():
                if us is not None and us != longest and source is not None:
                    findings.warning(
                        "nginx-one-idle-timeout", source,
                        f"nginx has one idle timeout (proxy_timeout); the longest of client, "
                        f"server and tunnel ({_ms(longest)}) is used instead of {_ms(us)}",
                    )  # fmt: skip
    dropped: list[tuple[str, str]] = []
    for row in _lost_rows(table, "timeouts."):
        assert row.field is not None and row.code is not None and row.unsupported is not None
        name = row.field.removeprefix("timeouts.")
        # A frontend's timeouts (client_fin) are set on it, the others on its pool.
        owner: ResolvedFrontend | ResolvedPool = frontend if name in frontend.timeouts else pool
        us, source = owner.timeouts[name], owner.sources.get(row.field)
        if us is not None and source is not None:
            findings.warning(row.code, source, row.unsupported)
        elif us is not None:
            dropped.append((row.field, f"{row.field} {_ms(us)}"))
    findings.flush_dropped("nginx-defaults-dropped", frontend.path, dropped, "nginx stream")
    if pool.redispatch and "redispatch" in pool.sources:
        findings.note(
            "nginx-redispatch-implied", pool.sources["redispatch"],
            "nginx always retries a failed connect on the next server (proxy_next_upstream): "
            "redispatch needs no directive of its own",
        )  # fmt: skip
    if pool.retries and pool.redispatch is False and "redispatch" in pool.sources:
        findings.warning(
            "nginx-unsupported", pool.sources["redispatch"],
            "nginx retries a failed connect on the next server (proxy_next_upstream) and cannot "
            "retry the same one: retries go to other servers instead",
        )  # fmt: skip
    if pool.retries == 0 and pool.redispatch is False and "redispatch" in pool.sources:
        findings.note(
            "nginx-redispatch-moot", pool.sources["redispatch"],
            "with retries 0 nginx makes no second attempt (proxy_next_upstream off): "
            "redispatch false needs nothing more",
        )  # fmt: skip
    if pool.retries is not None:
        # retries 0 turns retrying off; nginx's own tries count includes the first attempt.
        directives.append(line("proxy_next_upstream", pool.retries != 0))
        if pool.retries != 0:
            directives.append(line("proxy_next_upstream_tries", pool.retries))
    return directives


#: HAProxy's facility names (the spec's) -> nginx's for the same syslog facility number.
NGINX_FACILITIES = {"syslog": "intern", "cron": "clock", "auth2": "authpriv", "cron2": "cron"}
#: HAProxy's level names (the spec's) -> nginx's error_log levels.
_NGINX_LEVELS = {"warning": "warn", "err": "error"}


def _log_entry(log: ResolvedLog | str | None) -> ResolvedLog | None:
    return ResolvedLog(log) if isinstance(log, str) else log


def _syslog_params(entry: ResolvedLog) -> str:
    if entry.facility is None or not entry.target.startswith(("syslog", "udp://")):
        return ""
    return ",facility=" + NGINX_FACILITIES.get(entry.facility, entry.facility)


def access_log_target(log: ResolvedLog | str | None) -> str | None:
    """The ``access_log`` destination for a spec log entry (None: no access log line)."""
    entry = _log_entry(log)
    if entry is None:
        return None
    if entry.target == "none":
        return "off"
    if entry.target == "stdout":
        return "/dev/stdout"
    if entry.target == "syslog":
        return "syslog:server=unix:/dev/log" + _syslog_params(entry)
    return "syslog:server=" + entry.target.removeprefix("udp://") + _syslog_params(entry)


def error_log_target(log: ResolvedLog | str | None) -> str | None:
    """The ``error_log`` arguments lbgen's nginx full layout writes for a spec log entry: the
    destination, then the entry's level (nginx's spelling) when it has one."""
    entry = _log_entry(log)
    if entry is None or entry.target == "none":
        return None
    where = "stderr" if entry.target == "stdout" else access_log_target(entry)
    if entry.level is None:
        return where
    return f"{where} {_NGINX_LEVELS.get(entry.level, entry.level)}"


def _warn_log(resolved: Resolved, findings: Findings, layout: str) -> None:
    """What of ``global.log`` nginx does not write: one warning at ``global.log``."""
    logs = resolved.global_.logs
    lost = [f"{extra.target} (lbgen writes nginx one log target, the first)" for extra in logs[1:]]
    entry = logs[0] if logs else None
    if entry is not None and entry.facility is not None and entry.target == "stdout":
        lost.append(f"facility {entry.facility} (nginx writes stdout lines without one)")
    if entry is not None and entry.level is not None:
        if layout != "full":
            lost.append(f"level {entry.level} (the access log has no level filter; error_log, "
                        "which has, is written in --layout full only)")  # fmt: skip
        else:
            lost.append(f"level {entry.level} for the access log (it has no level filter: "
                        "every connection is logged; error_log keeps the level)")  # fmt: skip
    if entry is not None and entry.min_level is not None:
        lost.append(f"min_level {entry.min_level} (nginx has no upper level limit)")
    plain = "raw" if entry is not None and entry.target == "stdout" else "rfc3164"
    if entry is not None and entry.format not in (None, plain):
        lost.append(f"format {entry.format} (nginx writes {plain} lines there)")
    if lost:
        findings.warning(_UNSUPPORTED, ("global", "log"), f"left out: {'; '.join(lost)}")


_LOAD_MODULE_FORBIDDEN = re.compile(r"[\s;{}#'\"\\$\x00-\x1f\x7f]")


def load_module_problem(path: str) -> str | None:
    """Why ``path`` cannot follow ``load_module`` in nginx.conf, or None when it can.

    The value is written unquoted into the config, so only an absolute path to a ``.so`` with
    none of nginx's separators (whitespace, ``;``, braces, quotes, ``#``, ``$``) is accepted.
    """
    if not path.startswith("/"):
        return f"load_module {path!r}: must be an absolute path"
    if not path.endswith(".so"):
        return f"load_module {path!r}: must name a .so file"
    if _LOAD_MODULE_FORBIDDEN.search(path):
        return (
            f"load_module {path!r}: whitespace, control characters, quotes and "
            "; { } # $ \\ are not allowed"
        )
    return None


_UNQUOTED = {
    ";": "';' ends a directive",
    "{": "'{' opens a block",
    "}": "'}' closes a block",
    "#": "'#' starts a comment",
    "\\": "a backslash escapes the next character",
    '"': "a quote inside a word",
    "'": "a quote inside a word",
}


def unsafe_in_config(text: str) -> str | None:
    """Why ``text``, printed into an nginx config, could change its structure; None otherwise.

    The last line of defence behind validation, following nginx's own tokenizer: outside a
    quoted string ``;``, ``{``, ``}``, ``#`` and ``\\`` are syntax; a quoted string must be
    closed and end its word. ``$`` is left alone: it names a variable, not a statement.
    """
    at_word_start = True
    index = 0
    while index < len(text):
        char = text[index]
        if not " " <= char <= "~":
            return f"holds {char!r}, which is not printable ASCII (a line break starts a new line)"
        if char == " ":
            at_word_start = True
        elif char in "\"'" and at_word_start:
            end = index + 1
            while end < len(text) and text[end] != char:
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                return f"has an unbalanced {char} quote"
            if not all(" " <= c <= "~" for c in text[index:end]):
                return "holds a character that is not printable ASCII in a quoted string"
            if end + 1 < len(text) and text[end + 1] != " ":
                return "has a quoted string that does not end its word"
            index = end
            at_word_start = False
        elif char in _UNQUOTED:
            return f"holds {char!r} outside quotes: {_UNQUOTED[char]} in nginx"
        else:
            at_word_start = False
        index += 1
    return None


def _listeners(resolved: Resolved) -> list[tuple[Path_, HostPort]]:
    """Every socket nginx listens on, with the spec path that asks for it."""
    out: list[tuple[Path_, HostPort]] = [
        ((*frontend.path, "bind", index), bind.address)
        for frontend in resolved.frontends
        for index, bind in enumerate(frontend.binds)
    ]
    health = resolved.global_.health_binds
    out += [
        (("global", "health", "bind", *([index] if len(health) > 1 else [])), bind.address)
        for index, bind in enumerate(health)
    ]
    return out


def _listener_checks(resolved: Resolved, findings: Findings) -> None:
    """Listen addresses nginx cannot bind."""
    for path, address in _listeners(resolved):
        if address.is_ipv4_mapped:
            findings.error(
                "nginx-ipv4-mapped-bind", path,
                f"nginx cannot listen on the IPv4-mapped address {address.host} (its IPv6 "
                f"sockets are IPv6-only: bind() fails with 'Invalid argument'); write "
                f"{address.canonical_host}:{address.port} instead",
            )  # fmt: skip


def _check_worker_connections(resolved: Resolved, findings: Findings) -> None:
    """nginx refuses to start unless worker_connections exceeds the listening sockets."""
    maxconn = resolved.global_.maxconn
    found: set[tuple[str, int]] = set()
    for _, address in _listeners(resolved):
        if address.family == "dns" and address.host.lower() == "localhost":
            found |= {("127.0.0.1", address.port), ("::1", address.port)}  # one socket each
        else:
            found.add((address.canonical_host.lower(), address.port))
    sockets = len(found)
    if maxconn is not None and maxconn <= sockets:
        findings.error(
            "nginx-worker-connections", ("global", "maxconn"),
            f"global.maxconn {maxconn} becomes worker_connections, which must be more than the "
            f"{sockets} listening socket(s) of this config: nginx refuses to start "
            "('worker_connections are not enough')",
        )  # fmt: skip
    elif maxconn is not None and maxconn > NGX_MAX_INT:
        findings.error(
            "nginx-range", ("global", "maxconn"),
            f"global.maxconn {maxconn} is above nginx's limit of {NGX_MAX_INT}",
        )  # fmt: skip


def _upstream_name_clashes(resolved: Resolved, findings: Findings) -> None:
    """nginx compares upstream names case-insensitively: ``cp`` and ``CP`` are one upstream."""
    seen: dict[str, str] = {}
    for pool in resolved.pools:
        first = seen.setdefault(pool.name.lower(), pool.name)
        if first != pool.name:
            findings.error(
                "nginx-upstream-name", pool.path,
                f"nginx compares upstream names case-insensitively: {pool.name} and {first} are "
                "the same upstream and nginx refuses to start ('duplicate upstream'); rename one",
                key=True,
            )  # fmt: skip


def extra_statements(
    owner: Path_, items: list[str] | None, ctx: tuple[str, ...], findings: Findings
) -> list[str]:
    """The ``nginx`` extras of one block as one-line statements, each read by crossplane in the
    block's context ``ctx``; an item that is not exactly one valid statement there is an error.
    The ``;`` of a simple directive is optional in the spec."""
    from lbgen.nginx.syntax import one_line, parse_fragment

    out: list[str] = []
    for index, item in enumerate(items or ()):
        text = item.strip()
        if not text.endswith((";", "}")):
            text += ";"
        nodes, problems = parse_fragment(text, ctx)
        where = "the main context" if not ctx else " ".join(ctx)
        if not problems and len(nodes) != 1:
            problems = [f"{len(nodes)} statements: write one per item"]
        if not problems and not _written_back(nodes[0], ctx):
            problems = ["it does not read back as the same one statement"]
        if problems:
            findings.error(
                "extra-nginx", (*owner, index),
                f"{item!r} is not one valid nginx directive in {where}: {problems[0]}",
            )  # fmt: skip
            continue
        out.append(Verbatim(one_line(nodes[0])))
    return out


_DIRECTIVE_NAME = re.compile("[A-Za-z_][A-Za-z0-9_]*")


def _written_back(node: Any, ctx: tuple[str, ...]) -> bool:
    """True when every statement of ``node`` has a directive's name and its one-line form reads
    back as the same statement (crossplane takes a stray ``;`` or ``{`` for a name)."""
    from lbgen.nginx.syntax import one_line, parse_fragment

    def names_ok(n: Any, top: bool) -> bool:
        # Inside a block a statement may be other than a directive (``types``: a MIME type).
        named = _DIRECTIVE_NAME.fullmatch(n.keyword) if top else n.keyword not in ";{}"
        return bool(named) and all(names_ok(c, False) for c in n.children if not c.is_comment)

    def shape(n: Any) -> Any:
        return (n.keyword, n.args, [shape(c) for c in n.children if not c.is_comment])

    again, problems = parse_fragment(one_line(node), ctx)
    return names_ok(node, True) and not problems and [shape(n) for n in again] == [shape(node)]


def _server_extra(server: ResolvedServer, findings: Findings) -> list[str]:
    """A server's extra parameters (``max_conns=10``): words without ``;``, ``{`` or ``}``."""
    out: list[str] = []
    for index, item in enumerate(server.extra.nginx or ()):
        text = extras.normalise(item.strip().removesuffix(";"))
        if any(char in text for char in ';{}"#'):
            findings.error(
                "extra-nginx", (*server.path, "extra", "nginx", index),
                f"{item!r} is not a server parameter: words without ';', '{{', '}}', quotes "
                "or '#'",
            )  # fmt: skip
            continue
        out.append(text)
    return out


def _extra_sections(resolved: Resolved, findings: Findings) -> list[tuple[str, list[str]]]:
    """``global.extra.nginx_sections``: top-level blocks (``http``) and their statements."""
    from lbgen.nginx.syntax import parse_fragment

    out: list[tuple[str, list[str]]] = []
    for header, items in (resolved.global_.extra.nginx_sections or {}).items():
        where: Path_ = ("global", "extra", "nginx_sections", header)
        nodes, problems = parse_fragment(f"{header} {{ }}", _MAIN)
        if problems or len(nodes) != 1:
            findings.error(
                "extra-nginx", where,
                f"{header!r} is not the header of an nginx top-level block (e.g. http): "
                f"{problems[0] if problems else 'one block header'}",
                key=True,
            )  # fmt: skip
            continue
        if nodes[0].keyword == "stream":
            findings.error(
                "extra-nginx", where,
                "lbgen writes the stream block itself: put its extras in defaults.extra.nginx",
                key=True,
            )  # fmt: skip
            continue
        ctx = (nodes[0].keyword,)
        out.append(
            (Verbatim(extras.normalise(header)), extra_statements(where, items, ctx, findings))
        )
    return out


def _main_extras(
    resolved: Resolved, findings: Findings, layout: str
) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """``global.extra.nginx`` and its sections: only the full layout has a main context."""
    g = resolved.global_.extra
    if layout != "full":
        for name in ("nginx", "nginx_sections"):
            if getattr(g, name):
                findings.warning(
                    "nginx-extra-layout", ("global", "extra", name),
                    f"global.extra.{name} goes in nginx's main context, which only --layout "
                    f"full writes; with layout {layout} put it in your nginx.conf",
                )  # fmt: skip
        return [], []
    main = extra_statements(("global", "extra", "nginx"), g.nginx, _MAIN, findings)
    return main, _extra_sections(resolved, findings)


def _health_listener(
    resolved: Resolved,
    findings: Findings,
    layout: str,
    ipv4_ports: Mapping[int, bool],
    table: DirectiveTable,
) -> NginxHealthListener | None:
    """``global.health``: lbgen's stream listener, or an http server when the endpoint has
    nginx extras (what installers write: ``location /healthz`` beside ``/stub_status``)."""
    g = resolved.global_
    if g.health_bind is None:
        return None
    if g.health_timeout is not None:
        for row in _lost_rows(table, "global.health."):
            findings.warning(row.code or "nginx-unsupported", ("global", "health", "timeout"),
                             row.unsupported or "")  # fmt: skip
    if g.health_ready_path is not None and g.health_ready_path_set:
        findings.warning(
            "nginx-unsupported", ("global", "health", "ready_path"),
            "nginx's health listener cannot say whether a pool has a usable server (OSS has "
            "no active checks; NGINX Plus shows peer states only in its API): "
            f"{g.health_ready_path} answers 200 like {g.health_path}",
        )  # fmt: skip
    listens = [_listen(bind, ipv4_ports) for bind in g.health_binds]
    items = g.health_extra.nginx
    if items and layout == "full":
        where: Path_ = ("global", "health", "extra", "nginx")
        extra = extra_statements(where, items, _HTTP_SERVER, findings)
        findings.note(
            "nginx-health-http", ("global", "health"),
            f"nginx answers 200 on {g.health_path} from an http server that holds "
            "global.health.extra.nginx",
        )  # fmt: skip
        ready = g.health_ready_path if g.health_ready_path != g.health_path else None
        return NginxHealthListener(listens, '"ok\\n"', True, g.health_path, extra, ready)
    if items:
        findings.warning(
            "nginx-extra-layout", ("global", "health", "extra", "nginx"),
            f"global.health.extra.nginx goes in an http server, which only --layout full "
            f"writes; with layout {layout} the endpoint is a stream listener without it",
        )  # fmt: skip
    findings.note(
        "nginx-health-any-path", ("global", "health"),
        "nginx answers every request on the health listener with 200 (the stream module "
        "cannot look at the path)",
    )  # fmt: skip
    return NginxHealthListener(
        listens, '"HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nok\\n"'
    )


def build_nginx_view(
    resolved: Resolved, *, plus: bool, layout: str, load_module: str | None = None
) -> View:
    """The context of ``nginx/<layout>.conf.j2`` and the translation's diagnostics."""
    findings = Findings(resolved)
    table = PLUS_TABLE if plus else TABLE
    upstreams, matches, health_checks = [], [], {}
    _upstream_name_clashes(resolved, findings)
    _listener_checks(resolved, findings)
    match_name = match_names(list(resolved.pools))
    for pool in resolved.pools:
        translation = _PoolTranslation(pool, findings, plus=plus, match_name=match_name[pool.name])
        upstream, match, health_lines = translation.upstream()
        upstreams.append(upstream)
        if match:
            matches.append(match)
        health_checks[pool.name] = health_lines
    servers = []
    ipv4_ports = _ipv4_ports(resolved)
    for frontend in resolved.frontends:
        _warn_single_stack(frontend, ipv4_ports, findings)
        pool = resolved.pool(frontend.pool)
        # An NGINX Plus health_check lives in a server block but checks the upstream: the first
        # frontend of a pool carries it, so two frontends do not check the same servers twice.
        health_lines = health_checks.pop(pool.name, [])
        servers.append(
            NginxServer(
                name=frontend.name,
                listens=[_listen(bind, ipv4_ports) for bind in frontend.binds],
                upstream=pool.name,
                directives=_proxy_directives(frontend, pool, findings, table) + health_lines,
                extra=extra_statements(
                    (*frontend.path, "extra", "nginx"), frontend.extra.nginx, _SERVER, findings
                ),
            )
        )
    g = resolved.global_
    warn_log_host_name(resolved, findings, "NGINX Plus" if plus else "nginx")
    if g.stats_bind is not None:
        findings.warning(
            "nginx-no-stats", ("global", "stats"),
            "nginx stream has no stats page (stub_status lives in the http module); left out",
        )  # fmt: skip
    health_listener = _health_listener(resolved, findings, layout, ipv4_ports, table)
    worker_connections = None
    if g.maxconn is not None:
        if layout == "full":
            worker_connections = g.maxconn
            _check_worker_connections(resolved, findings)
        else:
            findings.warning(
                "nginx-maxconn-layout", ("global", "maxconn"),
                f"global.maxconn becomes worker_connections only in --layout full; with layout "
                f"{layout} set it in your nginx.conf's events block",
            )  # fmt: skip
    first_log = g.logs[0] if g.logs else g.log
    _warn_log(resolved, findings, layout)
    access_log = access_log_target(first_log)
    extras.warn_other_engines(resolved, findings, "nginx-plus" if plus else "nginx")
    main_extra, extra_sections = _main_extras(resolved, findings, layout)
    stream_extra = extra_statements(
        ("defaults", "extra", "nginx"), resolved.defaults_extra.nginx, _STREAM, findings
    )
    context: dict[str, Any] = {
        "load_module": load_module,
        "worker_connections": worker_connections,
        "error_log": error_log_target(first_log),
        "log_format_name": LOG_FORMAT,
        "log_format": _LOG_FORMAT if access_log not in (None, "off") else None,
        "access_log": access_log,
        "upstreams": upstreams,
        "matches": matches,
        "servers": servers,
        "health_listener": health_listener,
        "main_extra": main_extra,
        # An extra worker_processes replaces lbgen's "auto" (nginx refuses a duplicate).
        "own_worker_processes": not any(d.startswith("worker_processes ") for d in main_extra),
        # An events section's lines go into lbgen's own events block (nginx takes one).
        "events_extra": next((lines for header, lines in extra_sections if header == "events"), []),
        "extra_sections": [(h, lines) for h, lines in extra_sections if h != "events"],
        # An http health server goes in the spec's http section, or in an http block of its own.
        "http_health": health_listener if health_listener and health_listener.http else None,
        "http_health_own_block": not any(header == "http" for header, _ in extra_sections),
        "stream_extra": stream_extra,
    }
    return View(f"nginx/{layout}.conf.j2", context, findings.sorted())
