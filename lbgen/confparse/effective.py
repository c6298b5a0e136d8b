"""The effective, canonical, engine-neutral model of an existing config.

A config tree says how a config was *written*; this model says what the engine will *do*: per
frontend and per backend (nginx: per stream ``server {}`` and per ``upstream``), the value of
every modelled setting after inheritance -- HAProxy ``defaults`` sections (named, ``from``, the
reset at each new ``defaults``), ``default-server`` lines, and the engine's own defaults where
they matter (``inter 2s``, ``rise 2``, ``fall 3``, ``weight 1``, ``fastinter``/``downinter``
falling back to ``inter``; nginx ``max_fails=1 fail_timeout=10s``, ``proxy_timeout 10m``, ...).
Durations are integers of microseconds, the base :mod:`lbgen.units` uses too (``10s`` ==
``10000`` == ``10000ms`` in HAProxy, whose bare numbers are ms; nginx bare numbers are seconds;
``inter 1500us`` differs from ``inter 2ms``). Collections the engine does not order (servers,
binds, options) are compared without their order; comments and layout are gone. Settings that
cannot take effect are left out the same way on both sides: check timing of unchecked servers,
``timeout check`` of a backend that checks nothing, the ``proxy_*`` settings of an nginx block
that proxies nowhere; and a ``connect ssl`` check rule counts as ``check-ssl`` on the servers.

Two configs that mean the same thing therefore give equal :class:`Config` objects. Every value
also remembers where it was set (``origins``, ignored by equality) so that a diff can point to
the line to change. Directives without a field are kept in ``extras`` -- they take part in
equality, because a config that adds an ``http-request`` rule does not mean the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lbgen.confparse.tree import ConfigTree, Node, iter_directives, word_set
from lbgen.diagnostics import Diagnostic, Level
from lbgen.effective.differ import Difference, differences
from lbgen.effective.model import (
    FRONTEND_TIMEOUTS,
    Backend,
    Bind,
    Config,
    Frontend,
    Health,
    Origin,
    Server,
    Timeouts,
    canonical_host,
    format_duration,
    normalize_address,
    parse_int,
    split_host_port,
)
from lbgen.engine import get_engine

_MS = 1_000
_S = 1_000 * _MS
_HAPROXY_UNITS_US = {"us": 1, "ms": _MS, "s": _S, "m": 60 * _S, "h": 3_600 * _S, "d": 86_400 * _S}
_HAPROXY_TIME = re.compile(r"(\d+)(us|ms|s|m|h|d)?")
#: Largest first: a duration is shown in the largest unit that divides it exactly.
_FORMAT_UNITS = ("d", "h", "m", "s", "ms", "us")


def parse_haproxy_time(text: str) -> int | None:
    """HAProxy time (manual §2.5) in microseconds: bare numbers are ms; None when invalid."""
    match = _HAPROXY_TIME.fullmatch(text.strip())
    if not match:
        return None
    return int(match.group(1)) * _HAPROXY_UNITS_US[match.group(2) or "ms"]


# --- HAProxy -----------------------------------------------------------------------------------

#: HAProxy's own defaults that decide behaviour when nothing sets them.
HAPROXY_SERVER_DEFAULTS: Mapping[str, Any] = {
    "weight": 1,
    "inter": 2 * _S,
    "rise": 2,
    "fall": 3,
    "maxconn": 0,
    "maxqueue": 0,
    "slowstart": 0,
}
HAPROXY_PROXY_DEFAULTS: Mapping[str, Any] = {
    "mode": "tcp",
    "balance": "roundrobin",
    "retries": 3,
    "redispatch": False,
}

# Server parameters that take a value; every other word is a flag. Kept complete enough that a
# value is never mistaken for a flag in real configs (2.4 - 3.x).
_SERVER_VALUE_PARAMS = word_set(
    """
    addr agent-addr agent-inter agent-port agent-send alpn ca-file check-alpn check-proto
    check-sni ciphers ciphersuites client-sigalgs cookie crl-file crt curves downinter
    error-limit fall fastinter guid hash-key id init-addr inter log-proto max-reuse maxconn
    maxqueue minconn namespace npn observe on-error on-marked-down on-marked-up pool-conn-name
    pool-low-conn pool-max-conn pool-purge-delay port proto proxy-v2-options redir resolve-net
    resolve-opts resolve-prefer resolvers rise set-proxy-v2-tlv-fmt shard sigalgs slowstart
    sni socks4 source ssl-max-ver ssl-min-ver tcp-ut track usesrc verify verifyhost weight ws
    """
)
_SERVER_TIMES = frozenset({"inter", "fastinter", "downinter", "slowstart"})
_SERVER_INTS = frozenset({"weight", "rise", "fall", "maxconn", "maxqueue"})
_SERVER_STRINGS = {
    "verify": "verify",
    "ca-file": "ca_file",
    "sni": "sni",
    "check-sni": "check_sni",
    "crt": "crt",
    "addr": "check_addr",
    "init-addr": "init_addr",
    "resolvers": "resolvers",
}
_SERVER_FLAGS = {
    "check": "check",
    "check-ssl": "check_ssl",
    "ssl": "ssl",
    "backup": "backup",
    "disabled": "disabled",
}
_SEND_PROXY = ("send-proxy", "send-proxy-v2", "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn")

CHECK_OPTIONS = {
    "httpchk": "http",
    "ssl-hello-chk": "ssl-hello",
    "tcp-check": "tcp",
    "mysql-check": "mysql",
    "pgsql-check": "pgsql",
    "redis-check": "redis",
    "smtpchk": "smtp",
    "ldap-check": "ldap",
    "spop-check": "spop",
    "external-check": "external",
}
"""``option`` names that choose the health-check type; in one proxy the last one wins."""

# Directives whose relative order matters to HAProxy (rule lists); the rest compare as a set.
_ORDERED = frozenset(
    {
        "acl",
        "http-request",
        "http-response",
        "http-after-response",
        "tcp-request",
        "tcp-response",
        "use_backend",
        "use-server",
        "redirect",
        "stick",
    }
)

_FRONTEND_ONLY = frozenset({"bind", "default_backend", "use_backend", "monitor-uri", "capture"})
_BACKEND_ONLY = frozenset(
    {
        "server",
        "default-server",
        "server-template",
        "balance",
        "hash-type",
        "http-check",
        "tcp-check",
        "retries",
        "use-server",
        "cookie",
        "http-reuse",
    }
)
_TIMEOUT_FIELDS = {
    "connect": "connect",
    "client": "client",
    "server": "server",
    "tunnel": "tunnel",
    "client-fin": "client_fin",
    "server-fin": "server_fin",
    "queue": "queue",
    "check": "check",
}


@dataclass
class _ServerParams:
    """Server parameters being accumulated (``default-server`` lines, then a ``server`` line)."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    extras: dict[str, tuple[str, Origin]] = field(default_factory=dict)

    def copy(self) -> _ServerParams:
        return _ServerParams(dict(self.values), dict(self.origins), dict(self.extras))


@dataclass
class _Proxy:
    """What a defaults/frontend/backend/listen section says, after what it inherits."""

    settings: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    checks: list[tuple[str, tuple[str, ...], Origin]] = field(default_factory=list)
    http_check: list[Node] = field(default_factory=list)
    tcp_check: list[Node] = field(default_factory=list)
    default_server: _ServerParams = field(default_factory=_ServerParams)
    extras: list[Node] = field(default_factory=list)

    def copy(self) -> _Proxy:
        """An independent copy: what a section inherits from a defaults section."""
        return _Proxy(
            dict(self.settings),
            dict(self.origins),
            list(self.checks),
            list(self.http_check),
            list(self.tcp_check),
            self.default_server.copy(),
            list(self.extras),
        )

    def set(self, key: str, value: Any, node: Node) -> None:
        self.settings[key] = value
        self.origins[key] = Origin.of(node)


class _HaproxyReader:
    """Builds a :class:`Config` from an HAProxy tree."""

    def __init__(self, tree: ConfigTree) -> None:
        self.tree = tree
        self.diagnostics: list[Diagnostic] = []

    def note(self, node: Node, code: str, message: str, level: Level = Level.WARNING) -> None:
        self.diagnostics.append(
            Diagnostic(level, code, message, file=node.file, line=node.line, col=node.col)
        )

    def read(self) -> Config:
        named: dict[str, _Proxy] = {}
        current = _Proxy()  # HAProxy's built-in state before any defaults section
        frontends: dict[str, Frontend] = {}
        backends: dict[str, Backend] = {}
        globals_: dict[str, str] = {}
        for section in self.tree.directives():
            kind = section.keyword
            if kind == "global":
                for node in section.directives():
                    if node.keyword in ("maxconn", "ssl-server-verify", "nbthread"):
                        globals_[node.keyword] = " ".join(node.args)
                continue
            if kind not in ("defaults", "frontend", "backend", "listen"):
                continue
            name, parent_name = self._names(section)
            parent = current
            if parent_name is not None:
                if parent_name in named:
                    parent = named[parent_name]
                else:
                    self.note(
                        section,
                        "CONF101",
                        f"{kind} {name or ''}: no defaults section named {parent_name!r}",
                        Level.ERROR,
                    )
            if kind == "defaults":
                # A defaults section starts from HAProxy's built-in state (or its ``from``).
                state = (parent if parent_name is not None else _Proxy()).copy()
                self._apply(state, section)
                current = state
                if name:
                    named[name] = state
                continue
            state = parent.copy()
            self._apply(state, section)
            if name is None:
                self.note(section, "CONF102", f"{kind} without a name", Level.ERROR)
                continue
            if kind in ("frontend", "listen"):
                frontends[name] = self._frontend(name, section, state, listen=kind == "listen")
            if kind in ("backend", "listen"):
                backends[name] = self._backend(name, section, state, globals_)
        return Config(
            engine="haproxy",
            frontends=frontends,
            backends=backends,
            globals=globals_,
            file=self.tree.file,
            header=tuple(self.tree.leading_comments()),
            diagnostics=tuple(self.diagnostics),
        )

    @staticmethod
    def _names(section: Node) -> tuple[str | None, str | None]:
        args = list(section.args)
        parent = None
        if "from" in args:
            at = args.index("from")
            parent = args[at + 1] if at + 1 < len(args) else None
            args = args[:at]
        return (args[0] if args else None), parent

    def _apply(self, state: _Proxy, section: Node) -> None:
        """Apply a section's lines onto ``state``."""
        http_rules: list[Node] = []
        tcp_rules: list[Node] = []
        for node in section.directives():
            self._apply_line(state, node, http_rules, tcp_rules)
        # Check rule sets are not merged: a proxy with its own rules replaces the inherited ones.
        if http_rules:
            state.http_check = http_rules
        if tcp_rules:
            state.tcp_check = tcp_rules

    def _apply_line(
        self, state: _Proxy, node: Node, http_rules: list[Node], tcp_rules: list[Node]
    ) -> None:
        key, args = node.keyword, node.args
        negated = False
        if key == "no" and args:
            negated, key, args = True, args[0], args[1:]
        if key == "option" and args:
            opt = args[0]
            if opt in CHECK_OPTIONS and not negated:
                state.checks.append((opt, args[1:], Origin.of(node)))
            elif opt in CHECK_OPTIONS:
                state.checks = [c for c in state.checks if c[0] != opt]
            else:
                state.set(f"option {opt}", not negated, node)
            return
        if negated:
            state.extras.append(node)
            return
        if key == "timeout" and args and args[0] in _TIMEOUT_FIELDS:
            value = parse_haproxy_time(args[1]) if len(args) == 2 else None
            if value is None:
                given = " ".join(args[1:]) or "nothing"
                self.note(
                    node,
                    "CONF103",
                    f"timeout {args[0]}: expects one duration (got {given!r})",
                    Level.ERROR,
                )
            else:
                state.set(f"timeout.{_TIMEOUT_FIELDS[args[0]]}", value, node)
            return
        if key == "mode" and args:
            state.set("mode", args[0], node)
        elif key == "balance" and args:
            state.set("balance", (args[0], tuple(args[1:])), node)
        elif key == "retries" and args and parse_int(args[0]) is not None:
            state.set("retries", parse_int(args[0]), node)
        elif key == "maxconn" and args and parse_int(args[0]) is not None:
            state.set("maxconn", parse_int(args[0]), node)
        elif key == "default_backend" and args:
            state.set("default_backend", args[0], node)
        elif key == "default-server":
            self._server_params(state.default_server, args, node)
        elif key == "http-check":
            http_rules.append(node)
        elif key == "tcp-check":
            tcp_rules.append(node)
        elif key in ("bind", "server", "server-template"):
            pass  # read per section by _frontend/_backend (not inherited)
        else:
            state.extras.append(node)

    def _server_params(self, params: _ServerParams, args: Sequence[str], node: Node) -> None:
        origin = Origin.of(node)
        i = 0
        while i < len(args):
            word = args[i]
            value: str | None = None
            if word in _SERVER_VALUE_PARAMS:
                value = args[i + 1] if i + 1 < len(args) else None
                i += 2
            else:
                i += 1
            if word in _SERVER_FLAGS:
                params.values[_SERVER_FLAGS[word]] = True
                params.origins[_SERVER_FLAGS[word]] = origin
            elif word.startswith("no-") and word[3:] in _SERVER_FLAGS:
                params.values[_SERVER_FLAGS[word[3:]]] = False
                params.origins[_SERVER_FLAGS[word[3:]]] = origin
            elif word == "enabled":
                params.values["disabled"] = False
                params.origins["disabled"] = origin
            elif word in _SEND_PROXY:
                params.values["send_proxy"] = word
                params.origins["send_proxy"] = origin
            elif word in ("no-send-proxy", "no-send-proxy-v2"):
                params.values["send_proxy"] = None
                params.origins["send_proxy"] = origin
            elif value is None and word in _SERVER_VALUE_PARAMS:
                self.note(node, "CONF104", f"server parameter {word!r} needs a value")
            elif word in _SERVER_TIMES and value is not None:
                us = parse_haproxy_time(value)
                if us is None:
                    self.note(node, "CONF103", f"{word} {value}: not a duration", Level.ERROR)
                else:
                    params.values[word] = us
                    params.origins[word] = origin
            elif word in _SERVER_INTS and value is not None:
                number = parse_int(value)
                if number is None:
                    self.note(node, "CONF104", f"{word} {value}: not an integer", Level.ERROR)
                else:
                    params.values[word] = number
                    params.origins[word] = origin
            elif word == "port" and value is not None:
                params.values["check_port"] = parse_int(value)
                params.origins["check_port"] = origin
            elif word in _SERVER_STRINGS and value is not None:
                params.values[_SERVER_STRINGS[word]] = value
                params.origins[_SERVER_STRINGS[word]] = origin
            else:
                params.extras[word] = (word if value is None else f"{word} {value}", origin)

    def _frontend(self, name: str, section: Node, state: _Proxy, *, listen: bool) -> Frontend:
        binds: list[Bind] = []
        for node in section.find("bind"):
            if not node.args:
                continue
            options = tuple(node.args[1:])
            for address in node.args[0].split(","):
                binds.append(Bind(normalize_address(address), options))
        settings, origins = state.settings, state.origins
        timeouts = Timeouts(
            **{f: settings.get(f"timeout.{f}") for f in FRONTEND_TIMEOUTS},
        )
        default_backend = settings.get("default_backend")
        if listen:
            default_backend = default_backend or name
        first_bind = section.first("bind")
        out_origins: dict[str, Origin | None] = {
            **{k: v for k, v in origins.items() if k.startswith("option ")},
            "binds": Origin.of(first_bind) if first_bind is not None else None,
            "mode": origins.get("mode"),
            "backend": origins.get("default_backend"),
            "maxconn": origins.get("maxconn"),
            **{f"timeouts.{f}": origins.get(f"timeout.{f}") for f in FRONTEND_TIMEOUTS},
        }
        extras = _extras(
            [n for n in state.extras if n.keyword not in _BACKEND_ONLY],
            _option_words(settings, side="frontend"),
            out_origins,
        )
        return Frontend(
            name=name,
            binds=tuple(sorted(binds, key=lambda b: (b.address, b.options))),
            backend=default_backend,
            mode=settings.get("mode", HAPROXY_PROXY_DEFAULTS["mode"]),
            timeouts=timeouts,
            maxconn=settings.get("maxconn"),
            extras=extras,
            origins={k: v for k, v in out_origins.items() if v is not None},
            origin=Origin.of(section),
        )

    def _backend(
        self, name: str, section: Node, state: _Proxy, globals_: Mapping[str, str]
    ) -> Backend:
        settings, origins = state.settings, state.origins
        servers: dict[str, Server] = {}
        ssl_rule = _connect_ssl_rule(state)
        for node in section.find("server"):
            if len(node.args) < 2:
                self.note(node, "CONF104", "server needs a name and an address", Level.ERROR)
                continue
            params = state.default_server.copy()
            self._server_params(params, node.args[2:], node)
            if ssl_rule is not None and params.values.get("check"):
                # "http-check/tcp-check connect ssl" makes the check speak TLS whatever the
                # server line says: the same effect as "check-ssl", so the same model.
                params.values["check_ssl"] = True
                params.origins.setdefault("check_ssl", Origin.of(ssl_rule))
            server = _haproxy_server(node, params, globals_)
            if server.name in servers:
                self.note(node, "CONF105", f"server {server.name!r} defined twice", Level.ERROR)
            servers[server.name] = server
        balance, balance_args = settings.get("balance", (HAPROXY_PROXY_DEFAULTS["balance"], ()))
        timeouts = Timeouts(
            **{
                f: settings.get(f"timeout.{f}")
                for f in _TIMEOUT_FIELDS.values()
                if f not in FRONTEND_TIMEOUTS
            }
        )
        health = _haproxy_health(state, servers)
        if health.check == "none":
            # "timeout check" of a backend that checks no server means nothing (like the check
            # timing of an unchecked server): two configs differing only there are equivalent.
            timeouts = replace(timeouts, check=None)
        out_origins: dict[str, Origin | None] = {
            **{k: v for k, v in origins.items() if k.startswith("option ")},
            "mode": origins.get("mode"),
            "balance": origins.get("balance"),
            "retries": origins.get("retries"),
            "redispatch": origins.get("option redispatch"),
            **{
                f"timeouts.{f}": origins.get(f"timeout.{f}")
                for f in _TIMEOUT_FIELDS.values()
                if f not in FRONTEND_TIMEOUTS
            },
        }
        if state.checks:
            out_origins["health.check"] = state.checks[-1][2]
        extras = _extras(
            [n for n in state.extras if n.keyword not in _FRONTEND_ONLY],
            _option_words(settings, side="backend"),
            out_origins,
        )
        return Backend(
            name=name,
            mode=settings.get("mode", HAPROXY_PROXY_DEFAULTS["mode"]),
            balance=balance,
            balance_args=balance_args,
            health=health,
            retries=settings.get("retries", HAPROXY_PROXY_DEFAULTS["retries"]),
            redispatch=settings.get("option redispatch", HAPROXY_PROXY_DEFAULTS["redispatch"]),
            timeouts=timeouts,
            servers=servers,
            extras=extras,
            server_order=tuple(servers),
            check_options=tuple((opt, origin) for opt, _, origin in state.checks),
            origins={k: v for k, v in out_origins.items() if v is not None},
            origin=Origin.of(section),
        )


# Options HAProxy only honours on one side of a proxy; on the other side (inherited from
# defaults, or written there) they are ignored, so they are not part of that side's meaning.
_FRONTEND_OPTIONS = word_set(
    """
    tcplog httplog httpslog dontlognull dontlog-normal logasap clitcpka contstats socket-stats
    http-ignore-probes accept-invalid-http-request http-use-proxy-header idle-close-on-response
    """
)
_BACKEND_OPTIONS = word_set(
    """
    persist allbackups srvtcpka checkcache log-health-checks abortonclose prefer-last-server
    accept-invalid-http-response http-pretend-keepalive independent-streams spop-check
    """
)


def _option_words(settings: Mapping[str, Any], *, side: str) -> tuple[str, ...]:
    """Non-check ``option`` flags that count on ``side`` (``frontend`` or ``backend``), as
    words (``option tcplog``, ``no option tcpka``)."""
    ignored = _BACKEND_OPTIONS if side == "frontend" else _FRONTEND_OPTIONS
    out = []
    for key, value in settings.items():
        if not key.startswith("option ") or key == "option redispatch":
            continue
        if key.removeprefix("option ") in ignored:
            continue
        out.append(key if value else f"no {key}")
    return tuple(sorted(out))


def _extras(
    nodes: Iterable[Node],
    options: Iterable[str],
    origins: dict[str, Origin | None] | None = None,
) -> tuple[str, ...]:
    """Unmodelled directives as text: order-insensitive ones sorted, rule lists in order.

    With ``origins``, where each came from is recorded under ``extras:<text>``.
    """
    unordered = set(options)
    ordered: list[str] = []
    for node in nodes:
        text = " ".join(node.words())
        if origins is not None:
            origins[f"extras:{text}"] = Origin.of(node)
        if node.keyword in _ORDERED:
            ordered.append(text)
        else:
            unordered.add(text)
    return (*sorted(unordered), *ordered)


def _active_rules(state: _Proxy) -> list[Node]:
    """The check rules HAProxy runs: ``http-check`` under ``option httpchk``, ``tcp-check``
    under ``option tcp-check`` (the last check option wins), none otherwise."""
    option_name = state.checks[-1][0] if state.checks else ""
    return {"httpchk": state.http_check, "tcp-check": state.tcp_check}.get(option_name, [])


def _connect_ssl_rule(state: _Proxy) -> Node | None:
    """The first ``connect`` rule of the active check rules when it says ``ssl``."""
    for node in _active_rules(state):
        if node.args and node.args[0] == "connect":
            return node if "ssl" in node.args[1:] else None
    return None


def _haproxy_server(node: Node, params: _ServerParams, globals_: Mapping[str, str]) -> Server:
    name, address = node.args[0], node.args[1]
    host, port = split_host_port(address)
    values = dict(params.values)
    origins = dict(params.origins)
    checked = bool(values.get("check"))
    # HAProxy's own defaults, then the fallbacks it applies: fastinter and downinter use inter.
    for key in ("weight", "maxconn", "maxqueue", "slowstart"):
        values.setdefault(key, HAPROXY_SERVER_DEFAULTS[key])
    if checked:
        for key in ("inter", "rise", "fall"):
            values.setdefault(key, HAPROXY_SERVER_DEFAULTS[key])
        values.setdefault("fastinter", values["inter"])
        values.setdefault("downinter", values["inter"])
        for key in ("fastinter", "downinter"):
            if key not in origins and "inter" in origins:
                origins[key] = origins["inter"]
    else:
        # Check timing of a server that is never checked means nothing; drop it so that two
        # configs differing only there compare equal.
        for key in ("inter", "fastinter", "downinter", "rise", "fall"):
            values.pop(key, None)
    if values.get("ssl") or values.get("check_ssl"):
        if values.get("verify") is None:
            values["verify"] = globals_.get("ssl-server-verify", "required")
    else:
        # TLS settings of a server that never speaks TLS mean nothing.
        for key in ("verify", "ca_file", "sni", "check_sni", "crt"):
            values.pop(key, None)
    for text, where in params.extras.values():  # a default-server line or the server line
        origins[f"extras:{text}"] = where
    return Server(
        name=name,
        address=canonical_host(host),
        port=port,
        extras=tuple(sorted(text for text, _ in params.extras.values())),
        origins=origins,
        origin=Origin.of(node),
        **values,
    )


_STATUS_LIST = re.compile(r"\d{3}(,\d{3})*")
_RSTATUS_ALTERNATION = re.compile(r"\^?\(?(\d{3}(?:\|\d{3})*)\)?\$?")


def _expect_codes(args: Sequence[str]) -> tuple[tuple[int, ...] | None, str | None]:
    """``http-check expect`` args -> (status codes, None) or (None, the raw expectation)."""
    words = [a for a in args if a]
    if len(words) == 2 and words[0] == "status" and _STATUS_LIST.fullmatch(words[1]):
        return tuple(sorted({int(c) for c in words[1].split(",")})), None
    if len(words) == 2 and words[0] == "rstatus":
        match = _RSTATUS_ALTERNATION.fullmatch(words[1])
        if match:
            return tuple(sorted({int(c) for c in match.group(1).split("|")})), None
    return None, " ".join(words)


def _haproxy_health(state: _Proxy, servers: Mapping[str, Server]) -> Health:
    checked = [s for s in servers.values() if s.check]
    if not checked:
        return Health()
    kind = "tcp"
    method = path = version = None
    rules: list[str] = []
    expect: tuple[int, ...] | None = None
    expect_raw: str | None = None
    connect_ssl = False
    sni: str | None = None
    port: int | None = None
    if state.checks:
        option, option_args, _ = state.checks[-1]
        kind = CHECK_OPTIONS[option]
        if option == "httpchk":
            method, path, version = "OPTIONS", "/", None
            if len(option_args) == 1:
                path = option_args[0]
            elif len(option_args) >= 2:
                method, path = option_args[0], option_args[1]
                version = " ".join(option_args[2:]) or None
    # Rules only count under their option (HAProxy ignores tcp-check lines without
    # "option tcp-check"); only the first connect/send/expect map to fields.
    rule_nodes = _active_rules(state)
    seen_connect = False
    for node in rule_nodes:
        words = list(node.args)
        verb = words[0] if words else ""
        if verb == "connect" and not seen_connect:
            seen_connect = True
            opts = words[1:]
            connect_ssl = "ssl" in opts
            sni = _after(opts, "sni")
            port = parse_int(_after(opts, "port") or "")
            left = [w for w in opts if w not in ("ssl", "default")]
            for key in ("sni", "port"):
                if key in left:
                    at = left.index(key)
                    del left[at : at + 2]
            if left:
                rules.append("connect " + " ".join(left))
        elif verb == "send" and kind == "http":
            opts = words[1:]
            method = _after(opts, "meth") or method
            path = _after(opts, "uri") or path
            version = _after(opts, "ver") or version
            rest = list(opts)
            for key in ("meth", "uri", "ver"):
                if key in rest:
                    at = rest.index(key)
                    del rest[at : at + 2]
            if rest:
                rules.append("send " + " ".join(rest))
        elif verb == "expect" and kind == "http" and expect is None and expect_raw is None:
            expect, expect_raw = _expect_codes(words[1:])
        else:
            rules.append(" ".join(words))
    ssl = connect_ssl or all(s.check_ssl or (s.ssl and s.check_port is None) for s in checked)
    if kind == "http" and ssl:
        kind = "https"
    elif kind == "tcp" and ssl:
        kind = "tls"
    snis = {s.check_sni for s in checked}
    certs = {s.crt for s in checked}
    return Health(
        check=kind,
        method=method,
        path=path,
        version=version,
        expect=expect,
        expect_raw=expect_raw,
        sni=sni or (snis.pop() if len(snis) == 1 else None),
        client_cert=certs.pop() if len(certs) == 1 else None,
        port=port,
        rules=tuple(rules),
    )


def _after(words: Sequence[str], key: str) -> str | None:
    if key in words:
        at = list(words).index(key)
        if at + 1 < len(words):
            return words[at + 1]
    return None


# --- entry points ------------------------------------------------------------------------------


def effective(tree: ConfigTree) -> Config:
    """The effective model of a parsed config."""
    if tree.engine == "haproxy":
        return _HaproxyReader(tree).read()
    config: Config = get_engine(tree.engine).read_effective(tree)
    return config


def effective_text(text: str, filename: str, engine: str | None = None) -> Config:
    """Parse config text (engine detected when None) and build its effective model."""
    from lbgen.confparse import parse_config

    return effective(parse_config(text, filename, engine))


def effective_file(path: str, engine: str | None = None) -> Config:
    """Read, parse and model a config file."""
    from lbgen.confparse import parse_config_file

    return effective(parse_config_file(path, engine))


__all__ = [
    "CHECK_OPTIONS",
    "FRONTEND_TIMEOUTS",
    "HAPROXY_PROXY_DEFAULTS",
    "HAPROXY_SERVER_DEFAULTS",
    "Backend",
    "Bind",
    "Config",
    "Difference",
    "Frontend",
    "Health",
    "Origin",
    "Server",
    "Timeouts",
    "differences",
    "effective",
    "effective_file",
    "effective_text",
    "format_duration",
    "iter_directives",
    "normalize_address",
    "parse_haproxy_time",
    "split_host_port",
]
