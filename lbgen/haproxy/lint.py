"""The lint rules only HAProxy configs need (the shared ones are in :mod:`lbgen.lint`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from functools import cache

from lbgen.confparse.tree import Node
from lbgen.diagnostics import Level
from lbgen.effective.model import Backend, Origin, format_duration
from lbgen.haproxy import table
from lbgen.haproxy.effective import CHECK_OPTIONS, REMOVED_KEYWORD
from lbgen.haproxy.syntax import PROXY_SECTIONS
from lbgen.lint import API_SERVER_PORTS, Finding, LintContext, Rule, api_path

HAPROXY = ("haproxy",)


def _check_options(section: Node) -> list[Node]:
    return [n for n in section.find("option") if n.args and n.args[0] in CHECK_OPTIONS]


def duplicate_check_option(ctx: LintContext) -> Iterator[Finding]:
    """Two ``option *-chk`` in one section: only the last one runs."""
    for section in ctx.sections(*PROXY_SECTIONS):
        options = _check_options(section)
        winner = options[-1] if options else None
        for node in options[:-1]:
            assert winner is not None
            yield Finding.at(
                node,
                f"{section.keyword} {' '.join(section.args[:1])}: 'option {node.args[0]}' is "
                f"ignored, 'option {winner.args[0]}' on line {winner.line} replaces it",
            )


def ssl_hello_check(ctx: LintContext) -> Iterator[Finding]:
    """``option ssl-hello-chk`` only sees a TLS handshake start; a server answering with a TLS
    alert, or an API server that is up but not ready, passes."""
    for section in ctx.sections(*PROXY_SECTIONS):
        for node in _check_options(section):
            if node.args[0] == "ssl-hello-chk":
                yield Finding.at(
                    node, f"{section.keyword} {' '.join(section.args[:1])}: option ssl-hello-chk"
                )


def _checked_backends(ctx: LintContext, *kinds: str) -> Iterator[Backend]:
    """API-path backends with these check kinds: another service's check (OpenShift's
    machine-config server answers /healthz, not /readyz) is not about API servers."""
    api = api_path(ctx.config)
    for backend in ctx.config.backends.values():
        if backend.health.check in kinds and backend.name in api.backends:
            yield backend


def httpchk_without_expect(ctx: LintContext) -> Iterator[Finding]:
    """An HTTP check with no ``http-check expect``: any 2xx or 3xx counts as healthy."""
    for backend in _checked_backends(ctx, "http", "https"):
        health = backend.health
        if health.expect is None and health.expect_raw is None and health.expect_body is None:
            yield Finding.at_origin(
                backend.origins.get("health.check"),
                f"backend {backend.name}: option httpchk without http-check expect",
                backend.origin,
            )


def healthz_check(ctx: LintContext) -> Iterator[Finding]:
    """Checking ``/healthz`` (deprecated) where ``/readyz`` exists: /readyz also fails while an
    API server shuts down or is not yet ready to serve."""
    for backend in _checked_backends(ctx, "http", "https"):
        if (backend.health.path or "").split("?")[0] in ("/healthz", "/livez"):
            yield Finding.at_origin(
                backend.origins.get("health.check"),
                f"backend {backend.name}: checks {backend.health.path}",
                backend.origin,
            )


def _unset(value: int | None, name: str) -> str | None:
    """What is wrong with ``timeout <name>`` for HAProxy's missing-timeouts check: absent, or 0
    (HAProxy's "no timeout" too); None when it is set."""
    if value is None:
        return f"no timeout {name}"
    return f"timeout {name} 0" if value == 0 else None


def _disabled(extras: Iterable[str]) -> bool:
    """Whether a proxy says ``disabled`` (HAProxy checks nothing of a disabled proxy)."""
    lines = set(extras)
    return "disabled" in lines and "enabled" not in lines


def missing_timeout(ctx: LintContext) -> Iterator[Finding]:
    """The proxies HAProxy 2.6 warns about at start ("missing timeouts for frontend/backend"),
    by its own rule (cfgparse): a proxy in mode tcp or http that is a frontend without
    ``timeout client``, or a backend with servers without ``timeout connect``, or without
    ``timeout server`` unless it is in mode tcp and has ``timeout tunnel`` (which then covers
    the whole connection). 0 counts as missing (it means no timeout); a backend without
    servers (a stats page) needs none, nor does a disabled proxy. Without them HAProxy waits
    forever on a dead peer."""
    config = ctx.config
    sections = {(n.file, n.line): n for n in ctx.sections(*PROXY_SECTIONS)}
    # section -> (its label, what is missing, where to point)
    found: dict[tuple[str | None, int | None], tuple[str, list[str], Origin | None]] = {}

    def add(origin: Origin | None, name: str, gaps: list[tuple[str, Origin | None]]) -> None:
        key = (origin.file, origin.line) if origin else (None, None)
        section = sections.get(key)
        label = f"{section.keyword if section else 'proxy'} {name}"
        entry = found.setdefault(key, (label, [], None))
        entry[1].extend(text for text, _ in gaps)
        where = next((at for _, at in gaps if at is not None), None)
        found[key] = (label, entry[1], entry[2] or where or origin)

    for frontend in config.frontends.values():
        if frontend.mode not in ("tcp", "http") or _disabled(frontend.extras):
            continue
        gap = _unset(frontend.timeouts.client, "client")
        if gap is not None:
            where = (
                frontend.origins.get("timeouts.client") if frontend.timeouts.client == 0 else None
            )
            add(frontend.origin, frontend.name, [(gap, where)])
    for backend in config.backends.values():
        origin = backend.origin
        section = sections.get((origin.file, origin.line)) if origin else None
        has_servers = section is None or bool(
            section.find("server") or section.find("server-template")
        )
        if backend.mode not in ("tcp", "http") or _disabled(backend.extras) or not has_servers:
            continue
        timeouts = backend.timeouts
        gaps: list[tuple[str, Origin | None]] = []
        if (gap := _unset(timeouts.connect, "connect")) is not None:
            gaps.append((gap, backend.origins.get("timeouts.connect")))
        tunnel_covers = backend.mode == "tcp" and bool(timeouts.tunnel)
        if not tunnel_covers and (gap := _unset(timeouts.server, "server")) is not None:
            if backend.mode == "tcp":
                gap += " (nor timeout tunnel)"
            gaps.append((gap, backend.origins.get("timeouts.server")))
        if gaps:
            # Point at a "timeout X 0" line when there is one, else at the section.
            add(origin, backend.name, [(t, at if "0" in t.split() else None) for t, at in gaps])
    for label, missing, where in found.values():
        yield Finding.at_origin(where, f"{label}: {', '.join(missing)}", None)


def tls_without_verify(ctx: LintContext) -> Iterator[Finding]:
    """``ssl``/``check-ssl`` with neither ``verify none`` nor ``ca-file``: HAProxy verifies by
    default and refuses to start without a CA."""
    for backend in ctx.config.backends.values():
        for server in backend.servers.values():
            tls = server.ssl or server.check_ssl
            if tls and server.verify == "required" and server.ca_file is None:
                which = "ssl" if server.ssl else "check-ssl"
                yield Finding.at_origin(
                    server.origins.get("ssl" if server.ssl else "check_ssl"),
                    f"backend {backend.name}: server {server.name} has {which} but no "
                    "'verify none' and no 'ca-file'",
                    server.origin,
                )


_L7_BALANCE = ("uri", "url_param", "hdr", "random-uri")


def _tcplog_wins(origins: Mapping[str, Origin]) -> bool:
    """Whether an ``option tcplog`` replaces the ``option httplog`` this proxy inherits or
    sets: both set the log format and the last one HAProxy reads wins (a proxy's own line
    comes after its defaults section, so later in the file means later or more specific)."""
    tcplog, httplog = origins.get("option tcplog"), origins.get("option httplog")
    if tcplog is None:
        return False
    if httplog is None or tcplog.file != httplog.file:
        return True
    return (tcplog.line or 0) > (httplog.line or 0)


def http_keyword_in_tcp_mode(ctx: LintContext) -> Iterator[Finding]:
    """HTTP-only keywords in a TCP proxy do nothing (HAProxy ignores them, mostly with a
    warning: :data:`lbgen.haproxy.table.HTTP_ONLY`): the config does not do what it says."""
    # One finding per offending line, naming every TCP proxy that inherits it from defaults.
    found: dict[tuple[str | None, int | None, str], list[str]] = {}
    cols: dict[tuple[str | None, int | None, str], int | None] = {}
    config = ctx.config
    entities: list[tuple[str, Iterable[str], Mapping[str, Origin], Backend | None]] = []
    entities += [
        (f"frontend {f.name}", (*f.extras, *f.ignored), f.origins, None)
        for f in config.frontends.values()
        if f.mode == "tcp"
    ]
    entities += [
        (f"backend {b.name}", (*b.extras, *b.ignored), b.origins, b)
        for b in config.backends.values()
        if b.mode == "tcp"
    ]
    for label, extras, origins, backend in entities:
        offending: list[tuple[str, Origin | None]] = []
        for text in extras:
            words = tuple(text.split())
            if words == ("option", "httplog") and _tcplog_wins(origins):
                continue
            row = table.http_only(words)
            if row is None:
                continue
            # An option's origin is keyed by the option, any other line's by its text.
            origin_key = row.keyword if words[0] == "option" else f"extras:{text}"
            offending.append((row.keyword, origins.get(origin_key)))
        if backend is not None and (backend.balance or "").startswith(_L7_BALANCE):
            offending.append((f"balance {backend.balance}", origins.get("balance")))
        for what, origin in offending:
            key = (origin.file if origin else None, origin.line if origin else None, what)
            labels = found.setdefault(key, [])
            if label not in labels:  # two lines of one proxy from one (stats uri: stats enable)
                labels.append(label)
            cols[key] = origin.col if origin else None
    for (file, line, what), labels in found.items():
        yield Finding(
            f"{what} in mode tcp ({', '.join(labels)})", file, line, cols[(file, line, what)]
        )


def _hash_type(backend: Backend) -> str | None:
    """The ``hash-type`` method in effect (None: HAProxy's default, map-based)."""
    for text in backend.extras:
        words = text.split()
        if words[:1] == ["hash-type"] and len(words) > 1:
            return words[1]
    return None


def slowstart_static_algorithm(ctx: LintContext) -> Iterator[Finding]:
    """``slowstart`` where the algorithm keeps weights fixed while a server is up
    (``static-rr`` and the hashing ones -- ``source``, ``uri``, ``url_param``, ``hdr()``,
    ``rdp-cookie``, ``hash`` -- unless ``hash-type consistent``) or never reads them
    (``first``): a server back up takes its full share at once. slowstart also ramps a
    server's ``maxconn`` whatever the algorithm (the manual, ``slowstart``), so a server with
    one is left alone."""
    for backend in ctx.config.backends.values():
        if not table.weights_are_static(backend.balance, _hash_type(backend)):
            continue
        for server in backend.servers.values():
            if server.slowstart and not server.maxconn:
                yield Finding.at_origin(
                    server.origins.get("slowstart"),
                    f"backend {backend.name} (balance {backend.balance}): server "
                    f"{server.name} slowstart {format_duration(server.slowstart)}",
                    server.origin,
                )


_SERVER_TIMES = frozenset(
    row.name
    for row in table.TABLE
    if "server" in row.contexts and isinstance(row.codec, table.Duration)
)
BARE_MS_LIKELY_SECONDS = 100
"""An HAProxy bare number under this (``inter 10``, ``timeout client 30``) was meant as seconds."""


def _haproxy_bare_times(ctx: LintContext) -> Iterator[tuple[Node, str, int]]:
    """``(node, "timeout connect", 5000)`` for every HAProxy time written without a unit."""
    for section in ctx.tree.directives():
        for node in section.directives():
            if node.keyword == "timeout" and len(node.args) == 2 and node.args[1].isdigit():
                yield node, f"timeout {node.args[0]}", int(node.args[1])
            elif node.keyword in ("server", "default-server"):
                for word, value in zip(node.args, node.args[1:], strict=False):
                    if word in _SERVER_TIMES and value.isdigit():
                        yield node, word, int(value)


def haproxy_bare_number_small(ctx: LintContext) -> Iterator[Finding]:
    """A bare number under 100 where HAProxy expects a time (``inter 10``, ``timeout client
    30``): HAProxy reads milliseconds; a 10 ms check interval or a 30 ms idle timeout is almost
    surely a unit forgotten."""
    for node, what, value in _haproxy_bare_times(ctx):
        if 0 < value < BARE_MS_LIKELY_SECONDS:
            yield Finding.at(node, f"{what} {value} is {value}ms, not {value}s")


def haproxy_bare_number_ms(ctx: LintContext) -> Iterator[Finding]:
    """A bare number of 100 or more where HAProxy expects a time: correct as milliseconds, but
    the unit says it to the next reader (and to nginx habits, where bare numbers are seconds)."""
    for node, what, value in _haproxy_bare_times(ctx):
        if value >= BARE_MS_LIKELY_SECONDS:
            yield Finding.at(node, f"{what} {value} is {format_duration(value * 1000)}")


def api_in_http_mode(ctx: LintContext) -> Iterator[Finding]:
    """A proxy in ``mode http`` that binds 6443 or forwards to servers on 6443: kubectl speaks
    TLS end to end with client certificates, which only a TCP (passthrough) proxy carries."""
    config = ctx.config
    api = api_path(config)
    for frontend in config.frontends.values():
        backend = config.backends.get(frontend.backend) if frontend.backend else None
        on_api_port = any(b.address.rpartition(":")[2] == "6443" for b in frontend.binds) or (
            backend is not None and any(s.port == 6443 for s in backend.servers.values())
        )
        if not on_api_port or frontend.name not in api.frontends:
            continue
        http = [f"frontend {frontend.name}"] if frontend.mode == "http" else []
        if backend is not None and backend.mode == "http":
            http.append(f"backend {backend.name}")
        if http:
            where = frontend.origins.get("mode") if frontend.mode == "http" else None
            if where is None and backend is not None:
                where = backend.origins.get("mode")
            yield Finding.at_origin(
                where, f"{' and '.join(http)} in mode http carries API traffic", frontend.origin
            )


def plain_http_check(ctx: LintContext) -> Iterator[Finding]:
    """An HTTP check without TLS on an API server's own port (6443, konnectivity's 8132): both
    speak only TLS there (kube-apiserver answers a plain request with 400), so every check fails
    and HAProxy takes every server out, the API with them. A check sent to another port
    (``port``, ``check port``) is left alone: a plain health endpoint may listen there; so is a
    server on another port, which may well speak plain HTTP."""
    for backend in _checked_backends(ctx, "http"):
        if backend.health.port is not None:
            continue
        plain = [
            server.name for server in backend.servers.values()
            if server.check and server.check_port is None and server.port in API_SERVER_PORTS
            and not (server.check_ssl or server.ssl)
        ]  # fmt: skip
        if plain:
            yield Finding.at_origin(
                backend.origins.get("health.check"),
                f"backend {backend.name}: servers {', '.join(plain)} are checked over plain HTTP "
                "on their TLS port",
                backend.origin,
            )


@cache
def local_haproxy_version() -> tuple[int, int] | None:
    """The (major, minor) of the ``haproxy`` on PATH, None when there is none."""
    binary = shutil.which("haproxy")
    if binary is None:
        return None
    try:
        out = subprocess.run(
            [binary, "-v"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"version (\d+)\.(\d+)", out)
    return (int(found.group(1)), int(found.group(2))) if found else None


def removed_keyword(ctx: LintContext) -> Iterator[Finding]:
    """Keywords removed from HAProxy: the version that runs the config refuses to start.

    The version is ``--engine-version``, else the local binary's, else the newest release
    (the message says which)."""
    hits: list[tuple[Node, str]] = []
    for section in ctx.tree.directives():
        for node in section.directives():
            if (what := table.removed_keyword(node.words())) is not None:
                hits.append((node, what))
    if not hits:
        return
    version, source = ctx.engine_version, "--engine-version"
    if version is None:
        version, source = local_haproxy_version(), "the local haproxy"
    if version is None:
        version, source = table.NEWEST_KNOWN, "assumed: no --engine-version and no local haproxy"
    for node, what in hits:
        since, instead = table.removed_since(what)
        if version >= since:
            yield Finding.at(
                node,
                f"'{what}' was removed in HAProxy {since[0]}.{since[1]}: HAProxy "
                f"{version[0]}.{version[1]} ({source}) refuses to start; {instead}",
            )


RULES: tuple[Rule, ...] = (
    Rule("LB101", "duplicate-check-option", Level.WARNING, HAPROXY,
         "two 'option *-chk' in one section: the last one silently replaces the others",
         duplicate_check_option),
    Rule("LB102", "ssl-hello-check", Level.WARNING, HAPROXY,
         "ssl-hello-chk passes on any TLS answer, even an alert: it says nothing about "
         "readiness; use option httpchk + check-ssl on /readyz",
         ssl_hello_check),
    Rule("LB103", "httpchk-without-expect", Level.NOTE, HAPROXY,
         "no 'http-check expect': any 2xx/3xx counts as healthy",
         httpchk_without_expect),
    Rule("LB104", "healthz-check", Level.NOTE, HAPROXY,
         "/healthz is deprecated; /readyz also fails while an API server starts or drains",
         healthz_check),
    Rule("LB107", "missing-timeout", Level.WARNING, HAPROXY,
         "HAProxy waits forever on dead peers without it (and warns at start)",
         missing_timeout),
    Rule("LB109", "tls-without-verify", Level.ERROR, HAPROXY,
         "HAProxy verifies server certificates by default and refuses to start without a CA; "
         "say 'verify none' or give 'ca-file'",
         tls_without_verify),
    Rule("LB114", "http-keyword-in-tcp-mode", Level.WARNING, HAPROXY,
         "HTTP-only keyword in a TCP proxy: ignored, the config does not do what it says",
         http_keyword_in_tcp_mode),
    Rule("LB115", "slowstart-static-algorithm", Level.WARNING, HAPROXY,
         "static-rr, first and map-based hashing (source, uri, hdr...) ignore weight "
         "changes while a server is up: slowstart's ramp does nothing",
         slowstart_static_algorithm),
    Rule("LB116", "haproxy-bare-number-small", Level.WARNING, HAPROXY,
         "HAProxy reads a bare number as milliseconds: write the unit (10s, 500ms)",
         haproxy_bare_number_small),
    Rule("LB117", "haproxy-bare-number-ms", Level.NOTE, HAPROXY,
         "a bare number is milliseconds in HAProxy (seconds in nginx): the unit says so",
         haproxy_bare_number_ms),
    Rule("LB119", "api-in-http-mode", Level.ERROR, HAPROXY,
         "kubectl speaks TLS with client certificates end to end: an API proxy must run in "
         "mode tcp, or every connection fails",
         api_in_http_mode),
    Rule("LB120", "removed-keyword", Level.ERROR, HAPROXY,
         "a keyword this HAProxy version no longer accepts",
         removed_keyword, relays=frozenset({REMOVED_KEYWORD})),
    Rule("LB122", "plain-http-check-to-tls", Level.ERROR, HAPROXY,
         "an HTTP check without check-ssl on the API server's TLS port fails on every server "
         "(it answers 400): HAProxy takes them all out; add check-ssl verify none",
         plain_http_check),
)  # fmt: skip
"""HAProxy's own lint rules, in code order."""

__all__ = ["BARE_MS_LIKELY_SECONDS", "RULES", "local_haproxy_version"]
