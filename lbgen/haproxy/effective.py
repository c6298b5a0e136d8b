"""The HAProxy reader: what an haproxy.cfg makes HAProxy do, as the neutral effective model.

Inheritance as HAProxy applies it: ``defaults`` sections (named, ``from``, the reset at each new
``defaults``), ``default-server`` lines (each one for the servers written after it: a defaults
section's for every proxy after that section, a proxy's own for its later ``server`` and
``server-template`` lines; a template is the servers it declares), then HAProxy's own defaults
where they matter (``inter 2s``, ``rise 2``, ``fall 3``, ``weight 1``, ``fastinter``/
``downinter`` falling back to ``inter``). Which server and proxy keywords carry which model
attribute, how their values read and what HAProxy assumes when they are absent come from the
directive table (:mod:`lbgen.haproxy.table`); bare numbers are milliseconds (``10s`` ==
``10000`` == ``10000ms``). A ``connect ssl`` check rule counts as ``check-ssl`` on the servers,
the SNI a check sends is the pool's whether a ``connect`` rule or the servers' ``check-sni``
says it, and settings that cannot take effect are left out (check timing of unchecked servers,
``timeout check`` of a backend that checks nothing, a ``check-sni`` that no check step sends).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lbgen.confparse.tree import ConfigTree, Node, word_set
from lbgen.diagnostics import Diagnostic, Level
from lbgen.directives import Directive
from lbgen.effective.differ import pair_roles
from lbgen.effective.model import (
    FRONTEND_TIMEOUTS,
    Backend,
    Bind,
    Config,
    Frontend,
    Health,
    Origin,
    Section,
    Server,
    Timeouts,
    canonical_host,
    normalize_address,
    parse_int,
    split_host_port,
)
from lbgen.frozen import record
from lbgen.haproxy import table
from lbgen.haproxy.syntax import section_names

_S = 1_000_000

HAPROXY_SERVER_DEFAULTS: Mapping[str, Any] = table.SERVER_DEFAULTS
"""HAProxy's own server values that decide behaviour when nothing sets them (the table's)."""
HAPROXY_PROXY_DEFAULTS: Mapping[str, Any] = table.PROXY_DEFAULTS
"""HAProxy's own proxy values (the table's)."""

#: Flag spellings that turn an option off, and the attribute they reset.
_NEGATIONS: Mapping[str, tuple[str, Any]] = {
    "enabled": ("disabled", False),
    "no-send-proxy": ("send_proxy", None),
    "no-send-proxy-v2": ("send_proxy", None),
}

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

_TIMEOUT_ROWS: Mapping[str, Directive] = {
    row.name.removeprefix("timeout "): row for row in table.TABLE if row.name.startswith("timeout ")
}
_TIMEOUT_FIELDS = {
    name: (row.effective or "").removeprefix("timeouts.") for name, row in _TIMEOUT_ROWS.items()
}
"""``timeout`` keyword -> the attribute of the model's Timeouts it fills."""
#: Proxy keywords whose one argument is read with the row's codec; a value it refuses leaves
#: the line unmodelled (kept in extras).
_COUNTED = {row.name: row for row in (table.RETRIES, table.PROXY_MAXCONN)}


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
    servers: list[tuple[Node, _ServerParams]] = field(default_factory=list)
    """The section's ``server`` and ``server-template`` lines, in order, each with the
    ``default-server`` state in force where it is written: HAProxy applies a default-server
    line to the servers after it only (a defaults section's to every proxy after it)."""

    def copy(self) -> _Proxy:
        """An independent copy: what a section inherits from a defaults section (its servers
        are its own: a section inherits none)."""
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


@dataclass
class _InEffect:
    """A proxy's settings and unmodelled lines split into what HAProxy acts on and what it
    ignores there (kept for lint, which reports settings that do nothing)."""

    settings: dict[str, Any]
    nodes: list[Node]
    ignored_settings: dict[str, Any] = field(default_factory=dict)
    ignored_nodes: list[Node] = field(default_factory=list)


REMOVED_KEYWORD = "CONF108"
"""The reader's code for a keyword HAProxy no longer accepts (lint reports it as LB120)."""


class _HaproxyReader:
    """Builds a :class:`Config` from an HAProxy tree."""

    def __init__(self, tree: ConfigTree) -> None:
        self.tree = tree
        self.diagnostics: list[Diagnostic] = []
        # Whether the global section has log targets so far: ``log global`` copies the ones
        # HAProxy has read when it meets the line.
        self.global_logs = False

    def note(self, node: Node, code: str, message: str, level: Level = Level.WARNING) -> None:
        self.diagnostics.append(
            Diagnostic(level, code, message, file=node.file, line=node.line, col=node.col)
        )

    def _removed_keywords(self) -> None:
        """An error at each keyword every HAProxy lbgen writes for refuses to start with
        (removed in :data:`~lbgen.haproxy.table.OLDEST_TARGET` or before: ``clitimeout``,
        ``reqadd``, ...). Later removals depend on the version that runs the config: lint's
        LB120 judges those, with ``--engine-version``."""
        for section in self.tree.directives():
            for node in section.directives():
                what = table.removed_keyword(node.words())
                if what is None:
                    continue
                since, instead = table.removed_since(what)
                if since <= table.OLDEST_TARGET:
                    self.note(
                        node, REMOVED_KEYWORD,
                        f"'{what}' was removed in HAProxy {since[0]}.{since[1]}: HAProxy "
                        f"{table.OLDEST_TARGET[0]}.{table.OLDEST_TARGET[1]} and newer refuse "
                        f"to start; {instead}",
                        Level.ERROR,
                    )  # fmt: skip

    def read(self) -> Config:
        self._removed_keywords()
        named: dict[str, _Proxy] = {}
        current = _Proxy()  # HAProxy's built-in state before any defaults section
        frontends: dict[str, Frontend] = {}
        backends: dict[str, Backend] = {}
        globals_: dict[str, str] = {}
        global_origins: dict[str, Origin] = {}
        sections: dict[str, Section] = {}
        for section in self.tree.directives():
            kind = section.keyword
            if kind == "global":
                logs: list[str] = []
                unmodelled = []
                for node in section.directives():
                    if node.keyword in _GLOBAL_SETTINGS:
                        globals_[node.keyword] = " ".join(node.args)
                        global_origins[node.keyword] = Origin.of(node)
                    elif node.keyword == "log":
                        self.global_logs = True
                        logs.append(_log_line(node.args))
                        global_origins.setdefault("log", Origin.of(node))
                    elif node.keyword not in _GLOBAL_READ_ELSEWHERE:
                        unmodelled.append(node)
                if logs:
                    globals_["log"] = "; ".join(logs)
                if unmodelled:
                    sections["global"] = _section("global", unmodelled, section)
                continue
            if kind not in ("defaults", "frontend", "backend", "listen"):
                header = " ".join(section.words())
                sections[header] = _section(header, list(section.directives()), section)
                continue
            name, parent_name = section_names(section)
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
            role = _role(section)
            if kind in ("frontend", "listen"):
                frontends[name] = self._frontend(name, section, state, listen=kind == "listen")
            if kind == "listen" and role is not None and not state.servers:
                # A stats page or liveness endpoint answers itself: the listen section's
                # backend half has no server to send anything to and does nothing.
                continue
            if kind in ("backend", "listen"):
                backends[name] = self._backend(name, section, state, globals_)
        return Config(
            engine="haproxy",
            frontends=frontends,
            backends=backends,
            globals=globals_,
            global_origins=global_origins,
            sections=sections,
            file=self.tree.file,
            header=tuple(self.tree.leading_comments()),
            diagnostics=tuple(self.diagnostics),
        )

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

    @staticmethod
    def _option_value(state: _Proxy, node: Node, negated: bool) -> bool | str:
        """What an ``option`` line sets: on or off, or its arguments (``option httplog clf``,
        ``option forwardfor except 127.0.0.1``), which are compared as they are written.

        ``option redispatch N`` redispatches on every Nth retry: -1 (HAProxy's default) is the
        spec's ``redispatch: true``, 0 turns it off; any other interval, which the spec cannot
        say, stays on and keeps its line as an extra, so that a diff shows it."""
        arguments = node.args[2:] if negated else node.args[1:]
        if negated or not arguments:
            return not negated
        if node.args[0] != "redispatch":
            return " ".join(arguments)
        if arguments == ("0",):
            return False
        if arguments != ("-1",):
            state.extras.append(node)
        return True

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
                if not negated and f"option {opt}" in table.LOG_FORMAT_OPTIONS:
                    for other in table.LOG_FORMAT_OPTIONS:  # one log format: the last wins
                        state.settings.pop(other, None)
                state.set(f"option {opt}", self._option_value(state, node, negated), node)
            return
        if key == "hash-type" and not negated:
            # The last one counts; "map-based" is HAProxy's default (the manual: "The default
            # hash type is map-based"), as without the line.
            state.extras = [n for n in state.extras if n.keyword != "hash-type"]
            if args != ("map-based",):
                state.extras.append(node)
            return
        if negated and key == "log":
            # "no log" drops the log targets the proxy inherited.
            state.extras = [n for n in state.extras if n.keyword != "log"]
            return
        if negated:
            state.extras.append(node)
            return
        if key == "timeout" and args and args[0] in _TIMEOUT_FIELDS:
            value = _parsed(_TIMEOUT_ROWS[args[0]], args[1]) if len(args) == 2 else None
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
        elif key in _COUNTED and args and _parsed(_COUNTED[key], args[0]) is not None:
            state.set(key, _parsed(_COUNTED[key], args[0]), node)
        elif key == "default_backend" and args:
            state.set("default_backend", args[0], node)
        elif key == "default-server":
            self._server_params(state.default_server, args, node)
        elif key == "http-check":
            http_rules.append(node)
        elif key == "tcp-check":
            tcp_rules.append(node)
        elif key in ("server", "server-template"):
            # Read by _backend, with the default-server state of this point of the section.
            state.servers.append((node, state.default_server.copy()))
        elif key == "bind":
            pass  # read per section by _frontend (not inherited)
        else:
            state.extras.append(node)

    def _server_params(self, params: _ServerParams, args: Sequence[str], node: Node) -> None:
        origin = Origin.of(node)
        i = 0
        while i < len(args):
            word = args[i]
            row = table.server_option(word)
            value: str | None = None
            if row is not None and row.codec is not None:  # takes a value
                value = args[i + 1] if i + 1 < len(args) else None
                i += 2
                if value is None and word in table.VALUELESS_READ_AS_ZERO:
                    self.note(node, "CONF104", f"{word} without a value: HAProxy reads 0")
                    value = "0"
            else:
                i += 1
            negated = table.server_option(word[3:]) if word.startswith("no-") else None
            if row is not None and row.codec is None and row.effective == "send_proxy":
                params.values["send_proxy"] = word
                params.origins["send_proxy"] = origin
            elif row is not None and row.codec is None and row.effective is not None:
                params.values[row.effective] = True
                params.origins[row.effective] = origin
            elif word in _NEGATIONS:
                attribute, off = _NEGATIONS[word]
                params.values[attribute] = off
                params.origins[attribute] = origin
            elif (
                negated is not None
                and negated.codec is None
                and negated.effective not in (None, "send_proxy")
            ):
                assert negated.effective is not None
                params.values[negated.effective] = False
                params.origins[negated.effective] = origin
            elif row is not None and row.codec is not None and value is None:
                level = Level.WARNING if word in table.VALUELESS_ACCEPTED else Level.ERROR
                self.note(node, "CONF104", f"server parameter {word!r} needs a value", level)
            elif row is not None and row.codec is not None and row.effective is not None:
                assert value is not None
                try:
                    params.values[row.effective] = row.codec.parse(value)
                except ValueError as exc:
                    codec = row.codec
                    code = getattr(codec, "code", "CONF104")
                    problem = getattr(exc, "problem", None) or getattr(codec, "problem", "")
                    self.note(node, code, f"{word} {value}: {problem}", Level.ERROR)
                else:
                    params.origins[row.effective] = origin
            else:
                params.extras[word] = (word if value is None else f"{word} {value}", origin)

    def _server_line(self, node: Node) -> tuple[list[str], str, Sequence[str]]:
        """The names of the servers a ``server`` or ``server-template`` line declares, their
        address and the line's own parameters; no names (and an error) for a line HAProxy
        refuses.

        ``server-template <prefix> <num | range> <fqdn>[:<port>] [params*]`` is that many
        servers, ``<prefix>1`` to ``<prefix><num>`` (or the range's numbers), each at the
        address, with the line's parameters over the default-server state in force there
        (``show stat`` lists them so, in place of the line)."""
        if node.keyword == "server":
            if len(node.args) < 2:
                self.note(node, "CONF104", "server needs a name and an address", Level.ERROR)
                return [], "", ()
            return [node.args[0]], node.args[1], node.args[2:]
        if len(node.args) < 3:
            self.note(node, "CONF104", "server-template needs a prefix, a number of servers "
                      "(or a range) and an address", Level.ERROR)  # fmt: skip
            return [], "", ()
        prefix, count = node.args[0], node.args[1]
        low, dash, high = count.partition("-")
        if not dash:
            low, high = "1", count
        if not (low.isdigit() and high.isdigit() and 0 < int(low) <= int(high)):
            self.note(node, "CONF104", f"server-template {prefix}: {count!r} is no number of "
                      "servers or range of ids (HAProxy refuses it)", Level.ERROR)  # fmt: skip
            return [], "", ()
        names = [f"{prefix}{n}" for n in range(int(low), int(high) + 1)]
        return names, node.args[2], node.args[3:]

    def _bind_address(self, node: Node, text: str) -> str:
        address, ignored = read_bind_address(text)
        port = split_host_port(address)[1]
        if port is not None and not 1 <= port <= table.PORT_MAX:
            self.note(node, "CONF104", f"bind {text}: invalid port {port} "
                      f"(HAProxy listens on 1 to {table.PORT_MAX})", Level.ERROR)  # fmt: skip
        if ignored:
            self.note(node, "CONF106", f"bind {text}: HAProxy ignores {ignored!r} after the port "
                      f"and listens on {address}", Level.NOTE)  # fmt: skip
        return address

    def _frontend(self, name: str, section: Node, state: _Proxy, *, listen: bool) -> Frontend:
        binds: list[Bind] = []
        for node in section.find("bind"):
            if not node.args:
                continue
            options = tuple(node.args[1:])
            for address in node.args[0].split(","):
                address = self._bind_address(node, address)
                binds.append(Bind(address, _stack_options(address, options)))
        origins = state.origins
        in_effect = self._in_effect(state)
        settings = in_effect.settings
        timeouts = Timeouts(
            **{f: settings.get(f"timeout.{f}") for f in FRONTEND_TIMEOUTS},
        )
        default_backend = settings.get("default_backend")
        if listen and (_role(section) is None or state.servers):
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
        role = _role(section)
        ready_path, ready_pools, ready_nodes = (
            _ready_rules(in_effect.nodes) if role == "health" else (None, (), [])
        )
        if ready_nodes:
            out_origins["ready_path"] = Origin.of(ready_nodes[-1])
            out_origins["ready_pools"] = Origin.of(ready_nodes[0])
        extras = _extras(
            [
                n for n in in_effect.nodes
                if table.proxy_side(n.words()) != "backend"
                and not any(n is r for r in ready_nodes)
            ],
            _option_words(settings, side="frontend"),
            out_origins,
        )  # fmt: skip
        extras = _implied_stats_enable(extras, out_origins)
        ignored = _extras(
            [n for n in in_effect.ignored_nodes if table.proxy_side(n.words()) != "backend"],
            _option_words(in_effect.ignored_settings, side="frontend"),
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
            ready_path=ready_path,
            ready_pools=ready_pools,
            origin=Origin.of(section),
            role=role,
            ignored=ignored,
        )

    def _in_effect(self, state: _Proxy) -> _InEffect:
        """The proxy's settings and unmodelled lines without those HAProxy ignores in it
        (:data:`lbgen.haproxy.table.IGNORED`): HTTP-only ones in a tcp proxy, log options
        where no log target is in effect, ``log global`` while the global section has no log
        target; with the fallbacks HAProxy applies instead."""
        http = state.settings.get("mode", HAPROXY_PROXY_DEFAULTS["mode"]) == "http"
        logs = [n for n in state.extras if n.keyword == "log"]
        logging = any(n.args[:1] != ("global",) or self.global_logs for n in logs)
        out = _InEffect(dict(state.settings), list(state.extras))
        for row in table.IGNORED:
            if (
                (row.when == "tcp" and http)
                or (row.when == "no-log" and logging)
                or (row.when == "no-global-log" and self.global_logs)
            ):
                continue
            if row.keyword in out.settings:
                value = out.settings.pop(row.keyword)
                out.ignored_settings.setdefault(row.keyword, value)
                if row.fallback is not None and value:
                    out.settings[row.fallback] = True
            words = tuple(row.keyword.split())
            out.ignored_nodes += [n for n in out.nodes if n.words()[: len(words)] == words]
            out.nodes = [n for n in out.nodes if n.words()[: len(words)] != words]
        return out

    def _backend(
        self, name: str, section: Node, state: _Proxy, globals_: Mapping[str, str]
    ) -> Backend:
        origins = state.origins
        in_effect = self._in_effect(state)
        settings = in_effect.settings
        servers: dict[str, Server] = {}
        connect = _Connect.of(state)
        for node, in_force in state.servers:
            names, address, own = self._server_line(node)
            if not names:
                continue
            params = in_force.copy()
            self._server_params(params, own, node)
            for server_name in names:
                server = _haproxy_server(node, server_name, address, params, globals_, connect)
                if server.port is not None and server.port > table.PORT_MAX:
                    self.note(node, "CONF104", f"server {server.name}: invalid port {server.port} "
                              f"(HAProxy takes 0 to {table.PORT_MAX})", Level.ERROR)  # fmt: skip
                if server.name in servers:
                    self.note(node, "CONF105", f"server {server.name!r} defined twice",
                              Level.ERROR)  # fmt: skip
                servers[server.name] = server
        servers = _without_positional_ids(servers)
        balance, balance_args = settings.get("balance", (HAPROXY_PROXY_DEFAULTS["balance"], ()))
        timeouts = Timeouts(
            **{
                f: settings.get(f"timeout.{f}")
                for f in _TIMEOUT_FIELDS.values()
                if f not in FRONTEND_TIMEOUTS
            }
        )
        if timeouts.queue is None:
            # "timeout queue": "if unspecified, the same value as the backend's connection
            # timeout ('timeout connect') is used" (the manual).
            timeouts = replace(timeouts, queue=timeouts.connect)
        health = _haproxy_health(state, servers, connect)
        health, servers = _fold_check_sni(health, servers, connect)
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
            [n for n in in_effect.nodes if table.proxy_side(n.words()) != "frontend"],
            _option_words(settings, side="backend"),
            out_origins,
        )
        ignored = _extras(
            [n for n in in_effect.ignored_nodes if table.proxy_side(n.words()) != "frontend"],
            _option_words(in_effect.ignored_settings, side="backend"),
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
            server_order=_server_order(balance, servers, extras),
            check_options=tuple((opt, origin) for opt, _, origin in state.checks),
            ignored=ignored,
            origins={k: v for k, v in out_origins.items() if v is not None},
            origin=Origin.of(section),
        )


def _ready_rules(nodes: Iterable[Node]) -> tuple[str | None, tuple[str, ...], list[Node]]:
    """The readiness path of a health frontend (:func:`table.ready_rules`): the path of the
    first ``return status 200 if { path P }`` rule, the pools of the 503 rules for ``P`` before
    it, and those rules' nodes (the rest stays unmodelled)."""
    rules = [
        (node, rule) for node in nodes if node.keyword == table.READY_RULE
        for rule in [table.read_ready_rule(node.args)] if rule is not None
    ]  # fmt: skip
    for index, (node, (path, pool)) in enumerate(rules):
        if pool is None:
            before = [(n, p) for n, (q, p) in rules[:index] if q == path and p is not None]
            return path, tuple(p for _, p in before), [*(n for n, _ in before), node]
    return None, (), []


def _role(section: Node) -> str | None:
    """The role of a frontend/listen section by its own lines (:data:`table.ROLES`): ``stats``,
    ``health`` or None."""
    for role, keywords in table.ROLES.items():
        if any(section.find(keyword) for keyword in keywords):
            return role
    return None


def _log_line(args: tuple[str, ...]) -> str:
    """A global ``log`` line's arguments in one spelling: ``127.0.0.1 local0`` and
    ``127.0.0.1:514 local0`` are one target, ``unix@/dev/log`` is ``/dev/log``, and the
    defaults of ``len``, ``format`` and the levels (:data:`table.LOG_LINE_DEFAULTS`) are left
    out; a line no spec entry says stays as written otherwise."""
    if not args:
        return ""
    target = args[0].removeprefix("unix@") if args[0].startswith("unix@/") else args[0]
    rest = list(args[1:])
    options: list[str] = []
    while len(rest) >= 2 and rest[0] in ("len", "format", "sample"):
        if table.LOG_LINE_DEFAULTS.get(rest[0]) != rest[1]:
            options += rest[:2]
        rest = rest[2:]
    facility, levels = rest[:1], rest[1:]
    level, min_level = table.LOG_LEVEL_DEFAULTS
    if levels[1:] == [min_level]:
        levels = levels[:1]
    if levels == [level]:
        levels = []
    text = " ".join([target, *options, *facility, *levels])
    try:
        return str(table.LOG_LINE.render(table.LOG_LINE.parse(text)))
    except ValueError:
        return text


def _without_positional_ids(servers: dict[str, Server]) -> dict[str, Server]:
    """``servers`` without their ``id`` parameters when each one equals the server's position.

    Without any ``id``, HAProxy numbers the servers 1, 2, ... in the order they are written.
    When every ``id`` given is the server's position, the others keep theirs too (``show stat``
    says so; with any other ``id`` HAProxy's numbering of the rest shifts, so it stays a
    difference), and the parameter changes nothing, not even for the hashing algorithms,
    which key servers by id."""
    given = {
        name: text for name, server in servers.items()
        for text in server.extras if text.split()[0] == "id"
    }  # fmt: skip
    if not given or any(
        given.get(name, f"id {position}") != f"id {position}"
        for position, name in enumerate(servers, start=1)
    ):
        return servers
    return {
        name: replace(
            server,
            extras=tuple(text for text in server.extras if text != given.get(name)),
            origins={k: v for k, v in server.origins.items() if k != f"extras:{given.get(name)}"},
        )
        for name, server in servers.items()
    }


def _server_order(
    balance: str | None, servers: Mapping[str, Server], extras: tuple[str, ...]
) -> tuple[str, ...]:
    """The servers whose order HAProxy acts on (:attr:`Backend.server_order`): all of them for
    an algorithm that picks by position, else the backups, of which the first usable one takes
    all traffic unless ``option allbackups``."""
    if (balance or "roundrobin").split("(")[0] in table.POSITIONAL_BALANCE:
        return tuple(servers)
    backups = tuple(name for name, server in servers.items() if server.backup)
    if len(backups) > 1 and "option allbackups" not in extras:
        return backups
    return ()


def _option_words(settings: Mapping[str, Any], *, side: str) -> tuple[str, ...]:
    """Non-check ``option`` flags that count on ``side`` (``frontend`` or ``backend``), as
    words (``option tcplog``, ``no option tcpka``)."""
    other = "backend" if side == "frontend" else "frontend"
    out = []
    for key, value in settings.items():
        if not key.startswith("option ") or key == "option redispatch":
            continue
        if table.proxy_side(tuple(key.split())) == other:
            continue
        if value is False and key not in table.OPTIONS_ON_BY_DEFAULT:
            continue  # off, as without the line
        out.append(key if value is True else f"no {key}" if value is False else f"{key} {value}")
    return tuple(sorted(out))


# An address whose port is followed by text that is not a digit (``:::6443;``); not a range.
_TRAILING_JUNK = re.compile(r"(.*:\d+)([^\d\-:\]][^:]*)")


def without_family(text: str) -> str:
    """``text`` without an ``ipv4@``/``ipv6@`` prefix that says no more than the address does:
    ``ipv4@127.0.0.1:6443`` is ``127.0.0.1:6443``, ``ipv4@:6443`` is ``:6443`` and
    ``ipv6@:6443`` the dual-stack ``:::6443`` (the real HAProxy listens alike on each pair). A
    prefix on a DNS name chooses which addresses it resolves to, so it stays."""
    family, at, rest = text.partition("@")
    if not at or family not in ("ipv4", "ipv6"):
        return text
    host, port = split_host_port(rest)
    if port is None:
        return text
    if host in ("", "*"):
        return f":::{port}" if family == "ipv6" else f":{port}"
    try:
        version = ipaddress.ip_address(host).version
    except ValueError:
        return text
    return rest if version == int(family[-1]) else text


def read_bind_address(text: str) -> tuple[str, str]:
    """A bind address as HAProxy reads it, normalized, and the text HAProxy ignores: the port
    is read as a number, so what follows it (``:::6443;``, a stray nginx habit) is dropped."""
    text = without_family(text)
    match = _TRAILING_JUNK.fullmatch(text)
    if match is None:
        return normalize_address(text), ""
    return normalize_address(match.group(1)), match.group(2)


def _stack_options(address: str, options: tuple[str, ...]) -> tuple[str, ...]:
    """Bind options with ``v4v6`` on a wildcard IPv6 address dropped: on Linux (bindv6only=0)
    ``bind :::P`` is dual-stack with or without it, so the two spellings are one listener."""
    if address.startswith("[::]:"):
        return tuple(o for o in options if o != "v4v6")
    return options


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
        text = _line_text(node.words())
        if origins is not None:
            origins[f"extras:{text}"] = Origin.of(node)
        if node.keyword in _ORDERED:
            ordered.append(text)
        else:
            unordered.add(text)
    return (*sorted(unordered), *ordered)


def _line_text(words: tuple[str, ...]) -> str:
    """An unmodelled line as text, in one spelling where HAProxy reads several alike:
    ``stats refresh 30`` (seconds when bare) is ``stats refresh 30s``."""
    if words[:2] == ("stats", "refresh") and len(words) == 3:
        seconds = table.stats_refresh_seconds(words[2])
        if seconds is not None:
            return f"stats refresh {seconds}s"
    return " ".join(words)


_STATS_ENABLING = frozenset(
    word_set(
        """
        enable uri realm auth refresh scope hide-version show-desc show-legends show-modules
        show-node admin http-request
        """
    )
)
"""``stats`` keywords of a proxy that each turn its stats page on: the manual says of each
"Enable statistics ..." (``stats uri``: "Enable statistics and define the URI prefix to access
them"), and HAProxy's parser sets the page up for every one of them, ``stats enable`` or not."""


def _implied_stats_enable(
    extras: tuple[str, ...], origins: dict[str, Origin | None]
) -> tuple[str, ...]:
    """``extras`` with the ``stats enable`` that a proxy's other ``stats`` lines imply (so a
    page written without it equals one written with it)."""
    enabling = [
        text for text in extras if text.split()[:1] == ["stats"] and
        text.split()[1:2] and text.split()[1] in _STATS_ENABLING
    ]  # fmt: skip
    if not enabling or "stats enable" in extras:
        return extras
    origins.setdefault("extras:stats enable", origins.get(f"extras:{enabling[0]}"))
    # _extras' order: the order-insensitive lines sorted, then the rule lists as written.
    unordered = [t for t in extras if t.split()[0] not in _ORDERED]
    ordered = [t for t in extras if t.split()[0] in _ORDERED]
    return (*sorted([*unordered, "stats enable"]), *ordered)


def _active_rules(state: _Proxy) -> list[Node]:
    """The check rules HAProxy runs: ``http-check`` under ``option httpchk``, ``tcp-check``
    under ``option tcp-check`` (the last check option wins), none otherwise."""
    option_name = state.checks[-1][0] if state.checks else ""
    return {"httpchk": state.http_check, "tcp-check": state.tcp_check}.get(option_name, [])


@record
class _Connect:
    """How a backend's checks open their connection, as HAProxy 2.6 decides it per ``connect``
    step (``tcpcheck_eval_connect``; each rule confirmed on the real engine by
    tests/test_haproxy_check_sni.py).

    Without a ``connect`` rule HAProxy runs an implicit ``connect default``. A step with
    ``default`` uses the server line's check settings: TLS (``check-ssl``, or ``ssl`` when no
    ``port``/``addr`` sends the checks elsewhere) and ``check-sni``. A step without it uses
    only its own words: TLS only with ``ssl``, SNI only with ``sni``, and the servers'
    ``check-ssl``/``check-sni`` do nothing for it (the manual: "Use default options of the
    server line to do the health checks").
    """

    rule: Node | None = None
    """The first ``connect`` rule of the active check rules; None for the implicit one."""
    later_default: bool = False
    """Whether a later ``connect`` step says ``default`` (it reads the server's check-sni)."""

    @classmethod
    def of(cls, state: _Proxy) -> _Connect:
        """The connect steps of ``state``'s active check rules."""
        rules = [n for n in _active_rules(state) if n.args[:1] == ("connect",)]
        if not rules:
            return cls()
        later = any("default" in n.args[1:] for n in rules[1:])
        return cls(rules[0], later)

    @property
    def default(self) -> bool:
        """Whether the first step uses the server line's check settings."""
        return self.rule is None or "default" in self.rule.args[1:]

    @property
    def ssl(self) -> bool:
        """Whether the first step says ``ssl`` itself."""
        return self.rule is not None and "ssl" in self.rule.args[1:]

    @property
    def sni(self) -> str | None:
        """The first step's own ``sni``."""
        return None if self.rule is None else _after(self.rule.args[1:], "sni")

    def tls(self, server_tls: bool) -> bool:
        """Whether the first step speaks TLS to a server whose own check settings say
        ``server_tls`` (``check-ssl``, or ``ssl`` inherited)."""
        return self.ssl or (self.default and server_tls)


def _haproxy_server(
    node: Node,
    name: str,
    address: str,
    params: _ServerParams,
    globals_: Mapping[str, str],
    connect: _Connect,
) -> Server:
    """One server (of a ``server`` or ``server-template`` line ``node``) after inheritance and
    HAProxy's defaults. Its ``check_ssl`` says whether the server line (or a ``connect ssl``
    rule) sets TLS up for its checks, its ``check_sni`` the server's own check-sni where a
    check step sends it (:func:`_fold_check_sni` moves one the servers share to the pool)."""
    host, port = split_host_port(without_family(address))
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
    if (
        values.get("ssl")
        and "check_ssl" not in values
        and values.get("check_port") is None
        and values.get("check_addr") is None
    ):
        # An "ssl" server's checks speak TLS too unless a "port" or "addr" is set, even a
        # "port" equal to the server's own (HAProxy asks whether one is set, not where it
        # points): "ssl" and "ssl check-ssl" are one server, "ssl port <its port>" is not.
        values["check_ssl"] = True
        if "ssl" in origins:
            origins["check_ssl"] = origins["ssl"]
    own_tls = bool(values.get("check_ssl"))
    if checked and connect.ssl:
        # "http-check/tcp-check connect ssl" makes the check speak TLS whatever the server
        # line says: the same effect as "check-ssl", so the same model.
        assert connect.rule is not None
        values["check_ssl"] = True
        origins.setdefault("check_ssl", Origin.of(connect.rule))
    # A connect step without "ssl" or "default" opens a plain connection whatever check-ssl
    # says; check_ssl stays as the server line has it all the same: HAProxy still sets TLS up
    # for such a server and refuses to start without "verify none" or a CA (lint's LB109).
    if values.get("check_port") is not None and values["check_port"] == port:
        values.pop("check_port")  # checks go to the server's own port anyway (the manual)
    # The server's check-sni counts only where a connect step reads the server line, says no
    # "sni" of its own and speaks TLS; the server's "sni" is for traffic only (the manual,
    # "check").
    first_reads = connect.default and connect.sni is None and connect.tls(own_tls)
    reads_sni = first_reads or (connect.later_default and own_tls)
    if not (checked and reads_sni):
        values.pop("check_sni", None)
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


def _expect_codes(args: Sequence[str]) -> tuple[tuple[int, ...] | None, str | None]:
    """``http-check expect`` args -> (status codes, None) or (None, the raw expectation)."""
    text = " ".join(a for a in args if a)
    codec = table.HTTP_EXPECT.codec
    assert codec is not None
    try:
        return codec.parse(text), None
    except ValueError:
        return None, text


def _haproxy_health(state: _Proxy, servers: Mapping[str, Server], connect: _Connect) -> Health:
    checked = [s for s in servers.values() if s.check]
    if not checked:
        return Health()
    kind = "tcp"
    method = path = version = None
    rules: list[str] = []
    expect: tuple[int, ...] | None = None
    expect_raw: str | None = None
    expect_body: str | None = None
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
        elif (
            verb == "expect" and kind == "http" and expect_body is None
            and words[1:2] == ["string"] and len(words) == 3
        ):  # fmt: skip
            expect_body = words[2]
        elif verb == "expect" and kind == "http" and expect is None and expect_raw is None:
            expect, expect_raw = _expect_codes(words[1:])
        else:
            rules.append(" ".join(words))
    if kind == "http" and version is None:
        version = table.HTTP_CHECK_VERSION  # what HAProxy sends when no version is given
    ssl = all(connect.tls(s.check_ssl) for s in checked)
    if kind == "http" and ssl:
        kind = "https"
    elif kind == "tcp" and ssl:
        kind = "tls"
    certs = {s.crt for s in checked}
    return Health(
        check=kind,
        method=method,
        path=path,
        version=version,
        expect=expect,
        expect_raw=expect_raw,
        expect_body=expect_body,
        client_cert=certs.pop() if len(certs) == 1 else None,
        port=port,
        rules=tuple(rules),
    )


def _fold_check_sni(
    health: Health, servers: dict[str, Server], connect: _Connect
) -> tuple[Health, dict[str, Server]]:
    """``health`` with the SNI its first check step sends, and ``servers`` without the
    check-sni that says it (its origin stays: the reader did read it).

    ``tcp-check connect ssl sni X`` (what lbgen renders for ``check: tls``) and ``check-ssl
    check-sni X`` on every server under the implicit ``connect default`` send the same SNI, so
    they are one model: the SNI on the pool. A step's own ``sni`` wins; a step without
    ``default`` sends the servers' check-sni never (_haproxy_server has dropped it then); a
    check-sni that differs between the checked servers stays on each of them."""
    checked = [s for s in servers.values() if s.check]
    if not checked or not all(connect.tls(s.check_ssl) for s in checked):
        return health, servers
    if connect.sni is not None:
        return replace(health, sni=connect.sni), servers
    if not connect.default:
        return health, servers
    snis = {s.check_sni for s in checked}
    if len(snis) != 1 or None in snis:
        return health, servers
    folded = {name: replace(server, check_sni=None) for name, server in servers.items()}
    return replace(health, sni=snis.pop()), folded


def _after(words: Sequence[str], key: str) -> str | None:
    if key in words:
        at = list(words).index(key)
        if at + 1 < len(words):
            return words[at + 1]
    return None


def _parsed(row: Directive, text: str) -> Any:
    """``text`` read with ``row``'s codec, or None when the codec refuses it."""
    assert row.codec is not None
    try:
        return row.codec.parse(text)
    except ValueError:
        return None


#: Process settings the model compares by name (``Config.globals``).
_GLOBAL_SETTINGS = ("maxconn", "ssl-server-verify", "nbthread")
#: Process directives not compared as unmodelled lines: the log targets (compared as
#: ``globals["log"]``) and how the process is run (daemon or not, its user, pid file, chroot),
#: which the service manager or the container decides rather than the load balancing.
_GLOBAL_READ_ELSEWHERE = frozenset(
    {"log", "daemon", "master-worker", "pidfile", "chroot", "user", "group", "uid", "gid"}
)


def _section(name: str, nodes: Sequence[Node], section: Node) -> Section:
    """The unmodelled directives ``nodes`` of a section, as words (multiset, sorted)."""
    texts = [" ".join(node.words()) for node in nodes]
    origins = {f"extras:{t}": Origin.of(n) for t, n in zip(texts, nodes, strict=True)}
    return Section(name, tuple(sorted(texts)), origins, Origin.of(section))


def read_effective(tree: ConfigTree) -> Config:
    """The effective model of a parsed haproxy.cfg."""
    return _HaproxyReader(tree).read()


def pair_configs(
    existing: Config, rendered: Config, resolved: Any = None
) -> tuple[Config, dict[str, str]]:
    """Before a diff: the existing config's stats page and liveness endpoint keyed like the
    rendered ones (matched by role, whatever their names); HAProxy names the rest itself."""
    return pair_roles(existing, rendered), {}


__all__ = [
    "CHECK_OPTIONS",
    "HAPROXY_PROXY_DEFAULTS",
    "HAPROXY_SERVER_DEFAULTS",
    "pair_configs",
    "read_bind_address",
    "read_effective",
]
