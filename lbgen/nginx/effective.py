"""What an existing nginx (or NGINX Plus) stream config makes the engine do.

Builds the engine-neutral effective model (:mod:`lbgen.effective.model`) from a parsed nginx
tree: per stream ``server {}`` block a frontend, per ``upstream`` a backend, with nginx's own
defaults where they matter (``max_fails=1 fail_timeout=10s``, ``proxy_timeout 10m``, ...).
nginx bare numbers are seconds. The ``proxy_*`` settings of a block that proxies nowhere are
left out (they cannot take effect). An NGINX Plus ``health_check`` is modelled on the servers of
the upstream it checks. The directive table (:mod:`lbgen.nginx.table`) gives the defaults, the
balancing methods and how ``server`` parameters are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from lbgen.confparse.tree import ConfigTree, Node
from lbgen.diagnostics import Diagnostic, Level
from lbgen.directives import Directive
from lbgen.effective.model import (
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
from lbgen.nginx.table import (
    METHOD_NAMES,
    METHODS_WITHOUT_BACKUP,
    PLUS_TABLE,
    BodyExpect,
    Integer,
    Method,
    OnOff,
    StatusExpect,
    Time,
    parse_nginx_time,
)
from lbgen.nginx.view import nginx_address
from lbgen.resolve import Resolved

_MS = 1_000
_S = 1_000 * _MS


#: The table's rows for the ``server`` parameters, ``proxy_*`` directives and ``health_check``
#: parameters the model reads (the Plus table: one reader reads what both variants write).
_SERVER_PARAMS: Mapping[str, Directive] = {
    row.name: row for row in PLUS_TABLE if row.contexts == ("upstream server",)
}
_PROXY_ROWS: Mapping[str, Directive] = {
    row.name: row for row in PLUS_TABLE if row.contexts == ("stream", "server")
}
_CHECK_PARAMS: Mapping[str, Directive] = {
    row.name: row for row in PLUS_TABLE if row.contexts == ("health_check",)
}
_CHECK_TIMEOUT = PLUS_TABLE.named("health_check_timeout", "server")

NGINX_SERVER_DEFAULTS: Mapping[str, Any] = {
    str(row.effective): row.default
    for row in map(_SERVER_PARAMS.__getitem__, ("weight", "max_fails", "fail_timeout", "max_conns"))
}
"""nginx's own values for a ``server`` line without the parameter."""
NGINX_PROXY_DEFAULTS: Mapping[str, Any] = {
    str(row.effective).removeprefix("timeouts."): row.default for row in _PROXY_ROWS.values()
}
"""nginx's own values for a stream ``server {}`` without the ``proxy_*`` directive."""
_STATUS_EXPECT = StatusExpect()
_BODY_EXPECT = BodyExpect()


_HEALTH_RESPONSE = re.compile(r'"?HTTP/1\.[01] 200[ \\]')
#: Inside a liveness location, what does not change the answer.
_QUIET = frozenset({"access_log", "log_not_found", "default_type", "add_header"})


def _answers_health(node: Node) -> bool:
    """A stream ``return`` of a fixed ``HTTP/1.x 200`` response (lbgen's liveness listener)."""
    return node.keyword == "return" and bool(_HEALTH_RESPONSE.match(" ".join(node.args)))


def _health_location(node: Node) -> bool:
    """An http ``location /path { return 200; }`` (``access_log off`` and the like allowed)."""
    if node.keyword != "location" or len(node.args) != 1 or not node.args[0].startswith("/"):
        return False
    inner = list(node.directives())
    returns = [n for n in inner if n.keyword == "return"]
    return (
        len(returns) == 1 and returns[0].args[:1] == ("200",)
        and all(n.keyword in _QUIET for n in inner if n is not returns[0])
    )  # fmt: skip


def _health_listener(name: str, binds: Sequence[Bind], block: Node) -> Frontend:
    """The load balancer's own liveness endpoint: only its listeners matter. A stream
    ``return`` listener (lbgen's, any path) and an http ``location`` answering 200 (a probe's
    path) serve a kubelet or keepalived probe alike."""
    return Frontend(name=name, binds=tuple(binds), mode="health", origin=Origin.of(block))


def _nginx_stream_nodes(tree: ConfigTree) -> list[Node]:
    """The statements of the stream context: inside ``stream {}`` blocks when there are any,
    else the top level (the upstreams layout, meant to be included inside ``stream {}``)."""
    top = list(tree.directives())
    streams = [n for n in top if n.keyword == "stream"]
    if streams:
        return [child for s in streams for child in s.directives()]
    if any(n.keyword in ("events", "http") for n in top):
        return []
    return top


def nginx_stream_nodes(tree: ConfigTree) -> list[Node]:
    """The statements of an nginx config's stream context (comments skipped, includes
    expanded): what the effective model and the importer read."""
    return _nginx_stream_nodes(tree)


class _NginxReader:
    def __init__(self, tree: ConfigTree) -> None:
        self.tree = tree
        self.diagnostics: list[Diagnostic] = []

    def note(self, node: Node, code: str, message: str, level: Level = Level.WARNING) -> None:
        self.diagnostics.append(
            Diagnostic(level, code, message, file=node.file, line=node.line, col=node.col)
        )

    def time(self, node: Node) -> int | None:
        value = parse_nginx_time(node.args[0]) if node.args else None
        if value is None:
            self.note(node, "CONF103", f"{node.keyword}: not a duration", Level.ERROR)
        return value

    def read(self) -> Config:
        top = list(self.tree.directives())
        stream = _nginx_stream_nodes(self.tree)
        backends: dict[str, Backend] = {}
        frontends: dict[str, Frontend] = {}
        inherited = self._proxy_settings(stream, dict(NGINX_PROXY_DEFAULTS), {})
        for node in stream:
            if node.keyword == "upstream" and node.args:
                backends[node.args[0]] = self._upstream(node)
        matches = {n.args[0]: n for n in stream if n.keyword == "match" and n.args}
        for node in stream:
            if node.keyword == "server" and not node.args:
                frontend = self._server_block(node, inherited, backends)
                if frontend.name in frontends:
                    self.note(node, "CONF105", f"two server blocks listen on {frontend.name}")
                frontends[frontend.name] = frontend
                check = node.last("health_check")
                target = backends.get(frontend.backend or "")
                if check is not None and target is not None:
                    backends[target.name] = self._plus_health(target, node, check, matches)
        for http in (n for n in top if n.keyword == "http"):
            for node in http.find("server"):
                frontend = self._http_server(node)
                if frontend.name in frontends:
                    self.note(node, "CONF105", f"two server blocks listen on {frontend.name}")
                frontends[frontend.name] = frontend
        logs, log_origins = _logging(top, stream)
        workers, worker_origins = _workers(top)
        return Config(
            engine="nginx",
            frontends=frontends,
            backends=backends,
            globals=logs | workers,
            global_origins=log_origins | worker_origins,
            sections=_sections(top, stream),
            file=self.tree.file,
            header=tuple(self.tree.leading_comments()),
            diagnostics=tuple(self.diagnostics),
        )

    def _proxy_settings(
        self,
        nodes: Iterable[Node],
        base: dict[str, Any],
        base_origins: dict[str, Origin],
    ) -> tuple[dict[str, Any], dict[str, Origin]]:
        values, origins = dict(base), dict(base_origins)
        for node in nodes:
            row = _PROXY_ROWS.get(node.keyword)
            if row is None or (not node.args and not isinstance(row.codec, Time)):
                continue
            key = str(row.effective).removeprefix("timeouts.")
            if isinstance(row.codec, Time):
                values[key] = self.time(node)
            elif isinstance(row.codec, OnOff):
                values[key] = node.args[0] == "on"  # nginx refuses anything but on/off
            else:
                # proxy_next_upstream_tries: the model keeps nginx's count (retries + 1).
                values[key] = parse_int(node.args[0])
            origins[key] = Origin.of(node)
        return values, origins

    def _server_block(
        self,
        block: Node,
        inherited: tuple[dict[str, Any], dict[str, Origin]],
        upstreams: Mapping[str, Backend],
    ) -> Frontend:
        values, origins = self._proxy_settings(block.directives(), *inherited)
        # An NGINX Plus health check of a known upstream is modelled on that upstream's
        # servers (see _plus_health); kept here as well, a change would be reported twice.
        proxied = next((n.args[0] for n in block.directives() if n.keyword == "proxy_pass"), "")
        modelled = ("health_check", "health_check_timeout") if proxied in upstreams else ()
        binds: list[Bind] = []
        extras: list[Node] = []
        backend: str | None = None
        for node in block.directives():
            if node.keyword == "listen" and node.args:
                binds.append(_bind(node))
                origins.setdefault("binds", Origin.of(node))
            elif node.keyword == "proxy_pass" and node.args:
                backend = node.args[0]
                origins["backend"] = Origin.of(node)
            elif node.keyword in modelled:
                continue
            elif node.keyword not in _PROXY_ROWS:  # those are read by _proxy_settings
                extras.append(node)
        binds.sort(key=lambda b: (b.address, b.options))
        name = ",".join(b.address for b in binds) or f"server@{block.line}"
        if backend is None and len(extras) == 1 and _answers_health(extras[0]):
            return _health_listener(name, binds, block)
        if backend is None:
            # A block that proxies nowhere (a "return" listener) uses none of the proxy_*
            # settings it inherits from the stream level: they mean nothing there.
            values = {"connect": None, "idle": None, "proxy_protocol": None}
            values |= {"next_upstream": None, "next_upstream_tries": None}
            origins = {}
        return Frontend(
            name=name,
            binds=tuple(binds),
            backend=backend,
            mode="udp" if any("udp" in b.options for b in binds) else "tcp",
            timeouts=Timeouts(connect=values["connect"], idle=values["idle"]),
            proxy_protocol=values["proxy_protocol"],
            next_upstream=values["next_upstream"],
            next_upstream_tries=values["next_upstream_tries"],
            extras=_extras(extras),
            origins={
                ("timeouts." + k if k in ("connect", "idle") else k): v for k, v in origins.items()
            },
            origin=Origin.of(block),
        )

    def _http_server(self, block: Node) -> Frontend:
        """An ``http {}`` server: the load balancer's liveness endpoint when one location
        answers a fixed 200 (what installers' static pods probe), modelled like lbgen's stream
        listener; otherwise an HTTP listener whose directives all take part in equality, so that
        a diff never calls a config without it equivalent."""
        binds = sorted(
            (_bind(n) for n in block.directives() if n.keyword == "listen" and n.args),
            key=lambda b: (b.address, b.options),
        )
        name = ",".join(b.address for b in binds) or f"server@{block.line}"
        rest = [n for n in block.directives() if n.keyword != "listen"]
        health = next((n for n in rest if _health_location(n)), None)
        if health is None:
            return Frontend(name=name, binds=tuple(binds), mode="http",
                            extras=_statements(rest), origin=Origin.of(block))  # fmt: skip
        listener = _health_listener(name, binds, block)
        return replace(listener, extras=_statements(n for n in rest if n is not health))

    def _upstream(self, block: Node) -> Backend:
        zone: str | None = None
        balance: str = "roundrobin"
        balance_args: tuple[str, ...] = ()
        origins: dict[str, Origin] = {}
        servers: dict[str, Server] = {}
        extras: list[Node] = []
        refuses_backup: Node | None = None
        for node in block.directives():
            key = node.keyword
            if key in METHOD_NAMES and (key != "hash" or node.args):
                balance, balance_args = _method(node)
                origins["balance"] = Origin.of(node)
                refuses_backup = node if key in METHODS_WITHOUT_BACKUP else None
            elif key == "server" and node.args:
                if refuses_backup is not None and "backup" in node.args[1:]:
                    # nginx checks at each server line against the method read so far: a method
                    # line after the servers is accepted (nginx -t).
                    self.note(
                        node, BACKUP_REFUSED,
                        f"upstream {block.args[0]}: server {node.args[0]} is backup after "
                        f"'{' '.join(refuses_backup.words())}' (line {refuses_backup.line}), "
                        "which nginx refuses",
                        Level.ERROR,
                    )  # fmt: skip
                server = self._server(node)
                name = server.name
                count = 2
                while name in servers:  # nginx allows the same address twice
                    name = f"{server.name}#{count}"
                    count += 1
                servers[name] = server
            elif key == "zone" and node.args:
                zone = " ".join(node.args)
                origins["zone"] = Origin.of(node)
            else:
                extras.append(node)
        return Backend(
            name=block.args[0],
            zone=zone,
            balance=balance,
            balance_args=tuple(balance_args),
            servers=servers,
            extras=_extras(extras),
            # hash without "consistent" picks a server by its index among the servers.
            server_order=(
                tuple(servers) if balance == "hash" and "consistent" not in balance_args else ()
            ),
            origins=origins,
            origin=Origin.of(block),
        )

    def _plus_health(
        self, backend: Backend, block: Node, check: Node, matches: Mapping[str, Node]
    ) -> Backend:
        """NGINX Plus: a ``health_check`` in a ``server {}`` checks the servers of the upstream
        it proxies to; its ``match`` block says what an HTTP check sends and expects."""
        params = dict(p.partition("=")[::2] for p in check.args)
        interval, fails, passes = (_check_param(params, name) for name in _CHECK_PARAMS_READ)
        timeout_node = block.last("health_check_timeout")
        assert _CHECK_TIMEOUT is not None
        timeout = self.time(timeout_node) if timeout_node else _CHECK_TIMEOUT.default
        health = Health(check="tcp", port=parse_int(params.get("port", "")))
        match = matches.get(params.get("match", ""))
        if match is not None:
            health = self._plus_match(match, health)
        origin = Origin.of(check)
        servers = {
            key: replace(
                server,
                check=True,
                inter=interval,
                rise=passes,
                fall=fails,
                origins={**server.origins, "inter": origin, "rise": origin, "fall": origin},
            )
            for key, server in backend.servers.items()
        }
        return replace(
            backend,
            health=health,
            servers=servers,
            timeouts=replace(backend.timeouts, check=timeout),
            origins={
                **backend.origins,
                "health.check": origin,
                **({"timeouts.check": Origin.of(timeout_node)} if timeout_node else {}),
            },
        )

    @staticmethod
    def _plus_match(match: Node, health: Health) -> Health:
        send = match.last("send")
        expect = match.last("expect")
        method = path = version = None
        if send is not None and send.args:
            request = send.args[0].replace("\\r\\n", "\n").split("\n", 1)[0].split()
            if len(request) >= 2:
                method, path = request[0], request[1]
                version = request[2] if len(request) > 2 else None
        codes: tuple[int, ...] | None = None
        raw: str | None = None
        body: str | None = None
        if expect is not None:
            if expect.args and expect.args[0] == "~":
                try:
                    codes = _STATUS_EXPECT.parse(expect.args[-1])
                except ValueError:
                    codes = None
            if codes is None and expect.args[:1] == ("~",):
                try:
                    body = _BODY_EXPECT.parse(expect.args[-1])
                except ValueError:
                    body = None
            if codes is None and body is None:
                raw = " ".join(expect.args)

        rules = tuple(" ".join(n.words()) for n in match.directives() if n not in (send, expect))
        return replace(
            health,
            check="http" if method else "tcp",
            method=method,
            path=path,
            version=version,
            expect=codes,
            expect_raw=raw,
            expect_body=body,
            rules=rules,
        )

    def _server(self, node: Node) -> Server:
        address, *params = node.args
        host, port = split_host_port(address)
        values: dict[str, Any] = dict(NGINX_SERVER_DEFAULTS)
        origins: dict[str, Origin] = {}
        extras: list[str] = []
        origin = Origin.of(node)
        for param in params:
            key, _, value = param.partition("=")
            row = _SERVER_PARAMS.get(key)
            if row is None or row.effective is None or (row.codec is None and value):
                extras.append(param)
                continue
            target = row.effective
            if row.codec is None:
                values[target] = True  # a flag: backup, down
            else:
                try:
                    values[target] = row.codec.parse(value)
                except ValueError:
                    code, what = (
                        ("CONF104", "an integer") if isinstance(row.codec, Integer)
                        else ("CONF103", "a duration")
                    )  # fmt: skip
                    self.note(node, code, f"{param}: not {what}", Level.ERROR)
                    continue
            origins[target] = origin
        return Server(
            name=_server_name(address, host, port),
            address=canonical_host(host),
            port=port,
            extras=tuple(sorted(extras)),
            origins=origins,
            origin=origin,
            **values,
        )


#: Main-context statements the model reads or lbgen writes from spec fields; the rest are
#: extras (``global.extra.nginx`` and its sections).
_MAIN_READ = frozenset({"stream", "events", "error_log", "load_module"})
#: How the process is run (the service manager or container decides): not compared.
_MAIN_PROCESS = frozenset({"user", "pid", "daemon", "master_process"})
#: Stream-level statements the model reads; the rest are extras (``defaults.extra.nginx``).
_STREAM_READ = frozenset({"upstream", "server", "match", "access_log", "log_format"})


def _logging(
    top: Sequence[Node], stream: Sequence[Node]
) -> tuple[dict[str, str], dict[str, Origin]]:
    """Where the config logs, as ``global.log`` decides it, and the line each setting starts
    at: the stream level's ``access_log`` destinations, in order (none when it does not log:
    nginx's stream default, which ``access_log off`` restores at that level whatever else it
    says), and the main context's ``error_log`` arguments, destination and level (lbgen's full
    layout writes them from the first log entry; absent, nginx's compiled-in default). The
    access log's format is not compared: what a line holds is lbgen's choice, not the spec's."""
    out: dict[str, str] = {}
    origins: dict[str, Origin] = {}
    logs = [node for node in stream if node.keyword == "access_log" and node.args]
    if logs and not any(node.args[0] == "off" for node in logs):
        out["access_log"] = "; ".join(_log_destination(node.args[0]) for node in logs)
        origins["access_log"] = Origin.of(logs[0])
    if _has_main_context(top):
        errors = [node for node in top if node.keyword == "error_log" and node.args]
        if errors:
            out["error_log"] = "; ".join(_error_log(node.args) for node in errors)
            origins["error_log"] = Origin.of(errors[0])
    return out, origins


def _error_log(args: tuple[str, ...]) -> str:
    """An ``error_log``'s destination and level, without the level when it is nginx's default
    (``error``, the core module's docs)."""
    level = args[1:] if args[1:] != ("error",) else ()
    return " ".join((_log_destination(args[0]), *level))


def _log_destination(text: str) -> str:
    """A log destination in one spelling: a syslog server without a port is on 514, the port
    nginx sends to then (the core module's docs: "If port is not specified, the UDP port 514
    is used")."""
    if not text.startswith("syslog:"):
        return text
    params = text.removeprefix("syslog:").split(",")
    for index, param in enumerate(params):
        if param.startswith("server=") and not param.startswith("server=unix:"):
            host, port = split_host_port(param.removeprefix("server="))
            if port is None:
                shown = f"[{host}]" if ":" in host else host
                params[index] = f"server={shown}:514"
    return "syslog:" + ",".join(params)


#: nginx's compiled-in defaults of what ``_workers`` reads (the ngx_core_module and events docs).
_WORKER_DEFAULTS = {"worker_processes": "1", "worker_connections": "512"}


def _workers(top: Sequence[Node]) -> tuple[dict[str, str], dict[str, Origin]]:
    """How many worker processes a whole nginx.conf (one with an ``events`` block) runs and how
    many connections each takes (``global.maxconn`` in lbgen's full layout), and the line that
    says so, with nginx's defaults where it says nothing: an absent ``worker_processes`` is one
    worker, not the ``auto`` lbgen writes. A file without an ``events`` block leaves both to the
    nginx.conf that includes it."""
    events = [n for n in top if n.keyword == "events"]
    if not events:
        return {}, {}
    out = dict(_WORKER_DEFAULTS)
    origins: dict[str, Origin] = {}
    for node in [*top, *(c for block in events for c in block.directives())]:
        if node.keyword in _WORKER_DEFAULTS and node.args:
            out[node.keyword] = " ".join(node.args)
            origins[node.keyword] = Origin.of(node)
    return out, origins


def _has_main_context(top: Sequence[Node]) -> bool:
    """Whether the file's top level is nginx's main context: it holds a ``stream`` or
    ``events`` block (lbgen's stream and full layouts, an nginx.conf), where the upstreams
    layout's top level is the inside of a stream block."""
    return any(n.keyword in ("stream", "events") for n in top)


def _sections(top: Sequence[Node], stream: Sequence[Node]) -> dict[str, Section]:
    """What lies outside the modelled blocks: unmodelled directives of the main context
    (``main``) and of the stream level (``stream``), and the statements of other top-level
    blocks (``http``: its server blocks are frontends of the model, the rest is here)."""
    from lbgen.nginx.syntax import one_line

    out: dict[str, Section] = {}

    def add(name: str, nodes: list[Node], origin: Node | None) -> None:
        if nodes:
            texts = [one_line(n) for n in nodes]
            origins = {f"extras:{t}": Origin.of(n) for t, n in zip(texts, nodes, strict=True)}
            where = Origin.of(origin) if origin is not None else Origin.of(nodes[0])
            out[name] = Section(name, tuple(sorted(texts)), origins, where)

    if _has_main_context(top):
        main = []
        for node in top:
            if node.keyword in _MAIN_READ or node.keyword in _MAIN_PROCESS:
                if node.keyword == "events":  # worker_connections is read by _workers
                    inner = [c for c in node.directives() if c.keyword != "worker_connections"]
                    add("events", inner, node)
                continue
            if node.keyword == "worker_processes":
                continue  # read by _workers
            if node.children and node.keyword != "include":
                inner = [c for c in node.directives() if node.keyword != "http"
                         or not (c.keyword == "server" and not c.args)]  # fmt: skip
                add(" ".join(node.words()), inner, node)
            else:
                main.append(node)
        add("main", main, None)
    stream_level = [n for n in stream if n.keyword not in _STREAM_READ
                    and n.keyword not in _PROXY_ROWS]  # fmt: skip
    add("stream", stream_level, None)
    return out


def _statements(nodes: Iterable[Node]) -> tuple[str, ...]:
    """An http server's other statements as one-line text, blocks with their bodies (a changed
    ``location`` is a difference), sorted."""
    from lbgen.nginx.syntax import one_line

    return tuple(sorted({one_line(node) for node in nodes}))


#: listen parameters that say nginx's default: a listener on an IPv6 address is IPv6-only
#: unless ipv6only=off, and its backlog is 511 on Linux (the stream module's listen docs).
_DEFAULT_LISTEN_PARAMS = {"ipv6only=on": "[", "backlog=511": ""}


def _bind(node: Node) -> Bind:
    """A ``listen`` line as a bind: the address in one spelling, the parameters sorted, those
    that say nginx's default left out."""
    address = normalize_address(node.args[0])
    options = (
        p for p in node.args[1:]
        if not (p in _DEFAULT_LISTEN_PARAMS and address.startswith(_DEFAULT_LISTEN_PARAMS[p]))
    )  # fmt: skip
    return Bind(address, tuple(sorted(options)))


def _server_name(address: str, host: str, port: int | None) -> str:
    """An upstream server's key, its address as written, an IPv6 address in one spelling:
    ``[fd00:0::10]:6443`` and ``[fd00::10]:6443`` are one server."""
    if port is None or ":" not in host:
        return address
    return f"[{canonical_host(host)}]:{port}"


def _extras(nodes: Iterable[Node]) -> tuple[str, ...]:
    """Unmodelled directives as text, sorted: nginx applies none of them in written order."""
    return tuple(sorted({" ".join(node.words()) for node in nodes}))


BACKUP_REFUSED = "CONF107"
"""The reader's code for a ``backup`` server nginx refuses after the balancing method line."""


def _method(node: Node) -> tuple[str, tuple[str, ...]]:
    """The balance of a balancing method directive and its arguments: ``hash`` as lbgen writes
    spec balance ``source`` is named after it; every other keeps its keyword and arguments."""
    if node.keyword == "hash":
        try:
            return _METHOD.parse(" ".join(node.words())), ()
        except ValueError:
            pass
    if node.keyword == "random" and node.args == ("two",):
        return METHOD_NAMES["random"], ("two", "least_conn")  # the docs: least_conn by default
    return METHOD_NAMES[node.keyword], node.args


_METHOD = Method()
_CHECK_PARAMS_READ = ("interval", "fails", "passes")


def _check_param(params: Mapping[str, str], name: str) -> int | None:
    """An NGINX Plus ``health_check`` parameter's value (its default when absent); None when
    nginx would refuse the text."""
    row = _CHECK_PARAMS[name]
    assert row.codec is not None
    if name not in params:
        return int(row.default)
    try:
        return int(row.codec.parse(params[name]))
    except ValueError:
        return None


# --- pairing before a diff ---------------------------------------------------------------------


def _frontend_labels(resolved: Resolved, rendered: Config) -> dict[str, str]:
    """nginx stream ``server {}`` blocks are keyed by their listen addresses; name the ones
    that come from a spec frontend after it (``frontend kubernetes-api``)."""
    labels: dict[str, str] = {}
    for frontend in resolved.frontends:
        key = ",".join(sorted(normalize_address(nginx_address(b.address)) for b in frontend.binds))
        if key in rendered.frontends:
            labels[key] = frontend.name
    return labels


def _pair(existing: Config, rendered: Config) -> Config:
    """Key the existing config's stream ``server {}`` blocks and upstreams like the rendered
    ones where they evidently correspond, so that a changed ``listen`` or a renamed upstream is
    one change to read rather than a whole block removed and another added.

    nginx names neither: a ``server {}`` block is keyed by its listen addresses and an upstream
    is only referred to by ``proxy_pass``. An unmatched block pairs with the unmatched rendered
    block that proxies to the same upstream (when exactly one does, or when one proxying block is
    left on each side); an unmatched upstream pairs
    with the rendered upstream its paired block proxies to.
    """
    ours_left = {k: f for k, f in rendered.frontends.items() if k not in existing.frontends}
    theirs_left = {k: f for k, f in existing.frontends.items() if k not in rendered.frontends}
    frontend_keys: dict[str, str] = {}
    upstream_keys: dict[str, str] = {}
    for key, frontend in theirs_left.items():
        same = [k for k, f in ours_left.items() if f.backend == frontend.backend]
        mine = [k for k, f in theirs_left.items() if f.backend == frontend.backend]
        if len(same) == 1 and len(mine) == 1 and frontend.backend is not None:
            frontend_keys[key] = same[0]
    # One proxying block left on each side: they are the same listener, renamed and re-aimed.
    left = [k for k, f in theirs_left.items() if k not in frontend_keys and f.backend]
    free = [k for k, f in ours_left.items() if k not in frontend_keys.values() and f.backend]
    if len(left) == 1 and len(free) == 1:
        frontend_keys[left[0]] = free[0]
    # Upstreams: a block pair whose proxy_pass names differ, both names unknown to the other side.
    pairs = [(existing.frontends[k], rendered.frontends[v]) for k, v in frontend_keys.items()]
    pairs += [
        (f, rendered.frontends[k]) for k, f in existing.frontends.items() if k in rendered.frontends
    ]
    for theirs, ours in pairs:
        old, new = theirs.backend, ours.backend
        if (
            old
            and new
            and old != new
            and old in existing.backends
            and new in rendered.backends
            and old not in rendered.backends
            and new not in existing.backends
            and upstream_keys.get(old, new) == new
        ):
            upstream_keys[old] = new
    if not frontend_keys and not upstream_keys:
        return existing
    frontends = {
        frontend_keys.get(k, k): replace(f, name=frontend_keys[k]) if k in frontend_keys else f
        for k, f in existing.frontends.items()
    }
    backends = {upstream_keys.get(k, k): b for k, b in existing.backends.items()}
    return replace(existing, frontends=frontends, backends=backends)


def pair_configs(
    existing: Config, rendered: Config, resolved: Resolved
) -> tuple[Config, dict[str, str]]:
    """Before a diff: the existing config keyed like the rendered one where they evidently
    correspond (see :func:`_pair`), and the rendered ``server {}`` blocks' spec frontend names.

    A file without an ``events`` block (a stream file an nginx.conf includes) says nothing of
    the workers: it takes the rendering's (:func:`_workers`), so that they are no difference."""
    paired = _pair(existing, rendered)
    if not any(key in paired.globals for key in _WORKER_DEFAULTS):
        workers = {k: v for k, v in rendered.globals.items() if k in _WORKER_DEFAULTS}
        paired = replace(paired, globals={**paired.globals, **workers})
    return paired, _frontend_labels(resolved, rendered)


def read_effective(tree: ConfigTree) -> Config:
    """The effective model of a parsed nginx config."""
    return _NginxReader(tree).read()


__all__ = [
    "NGINX_PROXY_DEFAULTS",
    "NGINX_SERVER_DEFAULTS",
    "nginx_stream_nodes",
    "pair_configs",
    "parse_nginx_time",
    "read_effective",
]
