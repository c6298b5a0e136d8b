"""Import an nginx (or NGINX Plus) stream config into a spec draft (``lbgen import``).

:func:`import_into` fills a :class:`lbgen.importer.Draft` from a parsed nginx tree and its
effective model: upstreams become pools, stream ``server {}`` blocks frontends, ``max_fails``/
``fail_timeout`` (or an NGINX Plus ``health_check``) the pool's health. Every directive the spec
cannot hold is named (``import-unmapped``); the draft's YAML and the self-check are
:mod:`lbgen.importer`'s.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any, get_args

from lbgen.confparse.tree import ConfigTree, Node
from lbgen.effective.model import Backend, Frontend, Origin, normalize_address
from lbgen.importer import (
    Draft,
    duration_text,
    most_common,
    server_params,
    shown,
    spec_name,
    udp_log,
    valid_address,
)
from lbgen.names import LOG_FORMAT
from lbgen.nginx.effective import nginx_stream_nodes
from lbgen.nginx.syntax import one_line, quote_arg
from lbgen.nginx.table import CHECK_PARAMS, PLUS_TABLE, TABLE, FailTimeout, Method, Time, Tries
from lbgen.nginx.view import NGINX_FACILITIES, error_log_target
from lbgen.resolve import ResolvedLog
from lbgen.spec.models import LogFacility

_METHOD = Method()
_TRIES = Tries()
_SERVER_WORDS = tuple(row.name for row in PLUS_TABLE if row.contexts == ("upstream server",))
"""The ``server`` parameters the spec has a field for (``slow_start`` with an NGINX Plus check)."""
_PASSIVE_WORDS = tuple(
    row.name
    for row in TABLE
    if row.contexts == ("upstream server",) and (row.field or "").startswith("health.")
)
"""``max_fails``/``fail_timeout``: the spec's health when nginx OSS checks passively."""
_PROXY_KEYWORDS = frozenset(
    row.name
    for row in TABLE
    if row.contexts == ("stream", "server") and row.effective != "proxy_protocol"
)
"""The ``proxy_*`` directives lbgen writes from a pool (``proxy_protocol`` it never writes)."""
_CHECK_WORDS = tuple(row.name for row in PLUS_TABLE if row.contexts == ("health_check",))
"""The ``health_check`` parameters the spec has a field for."""


def _balance(words: tuple[str, ...]) -> str | None:
    """The spec balance of a balancing method written as lbgen writes it, else None."""
    try:
        return _METHOD.parse(" ".join(words))
    except ValueError:
        return None


class _NginxImport:
    """nginx stream config -> spec fields."""

    def __init__(self, draft: Draft) -> None:
        self.d = draft
        self.config = draft.config
        self.pool_names: dict[str, str] = {}
        self.error_logs: list[Node] = []
        self.checks: dict[str, Node] = {}
        """NGINX Plus ``health_check`` of the server block proxying to each upstream."""

    def run(self) -> None:
        d = self.d
        d.name = spec_name(d)
        stream = nginx_stream_nodes(d.tree)
        for block in stream:
            check = block.last("health_check") if block.keyword == "server" else None
            target = block.last("proxy_pass")
            if check is not None and target is not None and target.args:
                self.checks.setdefault(target.args[0], check)
        # Active checks are NGINX Plus: the spec is then meant for target nginx-plus.
        d.target = "nginx-plus" if self.checks else "nginx"
        self._outside(stream)
        self._stream_level(stream)
        for node in self.error_logs:
            # lbgen writes error_log itself from global.log: only that one is not a loss.
            written = error_log_target(_resolved_log(d.global_.get("log")))
            if written is None or node.args != tuple(written.split()):
                self._keep(node, ("global",))
        for node in stream:
            if node.keyword == "upstream" and node.args:
                self._upstream(node)
        self._server_blocks(stream)
        d.hoist()

    def _keep(self, node: Node, where: tuple[str, ...], why: str = "no spec field") -> None:
        """A statement without a spec field: into ``where``'s ``extra.nginx`` list (on one
        line), or named in a comment when it cannot be an extra item."""
        if not self.d.keep(node, where, one_line(node), "nginx"):
            self.d.unmapped(node, where, why=why)

    # -- outside the upstreams ------------------------------------------------------------------

    def _outside(self, stream: list[Node]) -> None:
        """Top-level directives of a full nginx.conf (the stream block itself is read later)."""
        d = self.d
        top = list(d.tree.directives())
        if not any(n.keyword == "stream" for n in top):
            return
        keywords = {n.keyword for n in top}
        if "events" in keywords and "worker_processes" not in keywords:
            # A whole nginx.conf without it runs one worker; lbgen would write "auto".
            d.global_.setdefault("extra.nginx", []).append("worker_processes 1;")
            d.note(("global",), "worker_processes 1: nginx's default, which the config keeps")
        for node in top:
            if node.keyword == "stream":
                continue
            if node.keyword == "events":
                rest = []
                for inner in node.directives():
                    if inner.keyword == "worker_connections" and inner.args[:1] == (
                        inner.args[0] if inner.args[0].isdigit() else "",
                    ):
                        d.global_["maxconn"] = int(inner.args[0])
                        continue
                    rest.append(inner)
                # The rest goes into the events block lbgen writes (global.extra.nginx_sections).
                if rest and not d.keep_section(
                    node, "events", [one_line(n) for n in rest], "nginx"
                ):
                    for inner in rest:
                        d.unmapped(inner, ("global",))
                continue
            if node.keyword == "worker_processes" and node.args == ("auto",):
                continue
            if (
                node.keyword == "load_module"
                and node.args[:1]
                and node.args[0].endswith("ngx_stream_module.so")
            ):
                d.render_option(node, f"--layout full --load-module {node.args[0]}")
                continue
            if node.keyword == "error_log":
                self.error_logs.append(node)  # judged once global.log is known
                continue
            if node.keyword == "http" and self._http_health(node):
                continue
            if node.children and node.keyword != "include":
                header = " ".join(quote_arg(w) for w in node.words())
                lines = [one_line(c) for c in _statements(node)]
                if not d.keep_section(node, header, lines, "nginx"):
                    d.unmapped(node, ("global",))
                continue
            self._keep(node, ("global",))

    def _http_health(self, http: Node) -> bool:
        """An ``http {}`` server answering a fixed 200 on one path (``location /healthz {
        return 200; }``, what installers' static pods probe) is ``global.health``; the rest of
        the block is named, one warning per directive."""
        d = self.d
        if "health" in d.global_:
            return False
        for server in http.find("server"):
            found = [
                loc for loc in server.find("location")
                if len(loc.args) == 1 and loc.args[0].startswith("/")
                and any(r.args[:1] == ("200",) for r in loc.find("return"))
            ]  # fmt: skip
            if not found or not server.find("listen"):
                continue
            if server.file != http.file or found[0].file != server.file:
                # Its include stays in the http section and brings it in again: lbgen's own
                # endpoint beside it would listen twice. The file keeps serving it.
                d.note(("global",), f"{found[0].location()}: an http server answering 200 on "
                       f"{found[0].args[0]} from an included file stays there (its include "
                       "is kept), not global.health")  # fmt: skip
                continue
            binds = self._listens(server, ("global",))
            if not binds:
                continue
            # ready_path null: lbgen's http server would add a location for /readyz.
            d.global_["health"] = {"bind": binds[0] if len(binds) == 1 else binds,
                                   "path": found[0].args[0], "ready_path": None}  # fmt: skip
            if self._v6only(server):
                d.global_["health"]["v6only"] = True
            d.note(("global",), f"{server.location()}: an http server answering 200 on "
                   f"{found[0].args[0]} is lbgen's liveness endpoint (lbgen answers it from the "
                   "stream module, on any path)")  # fmt: skip
            rest = [node for node in _statements(http) if node is not server]
            lines = [one_line(node) for node in rest]
            if rest and not d.keep_section(http, "http", lines, "nginx"):
                for node in rest:
                    d.unmapped(node, ("global",), f"http {{ {shown(node)} }}")
            for node in _statements(server):
                # The server's other statements stay in it: global.health.extra.nginx makes
                # lbgen write the endpoint as an http server holding them.
                if node.keyword == "listen" or node is found[0]:
                    continue
                if not d.keep(node, ("global", "health"), one_line(node), "nginx"):
                    d.unmapped(node, ("global",), f"http server {{ {shown(node)} }}")
            http_server = "extra.nginx" in d.global_["health"]
            for node in found[0].directives():
                # lbgen's http health server writes "access_log off" in its location itself.
                quiet = http_server and node.keyword == "access_log" and node.args == ("off",)
                if node.keyword != "return" and not quiet:
                    d.unmapped(
                        node, ("global",), f"location {found[0].args[0]} {{ {shown(node)} }}"
                    )
            return True
        return False

    def _v6only(self, server: Node) -> bool:
        """Whether a block's ``[::]:P`` listens are IPv6-only: nginx's default (ipv6only=on),
        unless ``ipv6only=off``; beside an IPv4 wildcard on the same port the spec's plain
        ``[::]:P`` says that already."""
        v4_ports = {
            normalize_address(n.args[0]).removeprefix("0.0.0.0:")
            for n in self.d.tree.walk() if n.keyword == "listen" and n.args
            and normalize_address(n.args[0]).startswith("0.0.0.0:")
        }  # fmt: skip
        return any(
            normalize_address(n.args[0]).startswith("[::]:")
            and "ipv6only=off" not in n.args[1:]
            and normalize_address(n.args[0]).removeprefix("[::]:") not in v4_ports
            for n in server.find("listen") if n.args
        )  # fmt: skip

    def _stream_level(self, stream: list[Node]) -> None:
        d = self.d
        log: str | dict[str, str] | None = None
        for node in stream:
            key = node.keyword
            if key in ("upstream", "server") or key in _PROXY_KEYWORDS:
                continue
            if key == "access_log" and node.args:
                log = _nginx_log(node.args[0])
                if log is None:
                    self._keep(node, ("defaults",), why="no spec log target says this")
                continue
            if key == "log_format" and node.args[:1] == (LOG_FORMAT,):
                continue
            if key == "match" and self.checks:
                continue  # read with the health_check that names it
            self._keep(node, ("defaults",))
        d.global_["log"] = log

    # -- upstreams ------------------------------------------------------------------------------

    def _upstream(self, block: Node) -> None:
        d = self.d
        name = block.args[0]
        backend = self.config.backends.get(name)
        if backend is None or not backend.servers:
            d.skip(block, f"upstream {name}", "it has no servers")
            return
        key = d.safe_name(name, d.pools, block, "pool")
        self.pool_names[name] = key
        where = ("pools", key)
        fields: dict[str, Any] = {"balance": None}
        d.pools[key] = fields
        for node in block.directives():
            if node.keyword == "server":
                continue
            method = _balance(node.words())
            if method is not None:
                fields["balance"] = method
            elif node.keyword == "zone":
                continue  # shared state of the workers: lbgen decides, the diff ignores it
            else:
                self._keep(node, where)
        names = self._servers(block, backend, key)
        if self.checks:
            self._active_health(backend, key)
        else:
            self._passive_health(backend, key)
        server_params(d, key, backend.servers, names)

    def _servers(self, block: Node, backend: Backend, pool: str) -> dict[str, str]:
        d = self.d
        names: dict[str, str] = {}
        d.servers[pool] = {}
        hosts = Counter(s.address for s in backend.servers.values())
        nodes = [n for n in block.directives() if n.keyword == "server" and n.args]
        for (model_key, server), node in zip(backend.servers.items(), nodes, strict=False):
            where = ("pools", pool)
            if not valid_address(server.endpoint, bind=False):
                d.unmapped(node, where, f"server {node.args[0]}", "the spec needs host:port")
                continue
            base = server.address if hosts[server.address] == 1 else server.endpoint
            key = d.safe_name(base, d.servers[pool], None, "server")
            names[model_key] = key
            fields: dict[str, Any] = {"address": server.endpoint}
            if server.backup:
                fields["backup"] = True
            if server.disabled:
                fields["disabled"] = True
            d.servers[pool][key] = fields
            for param in node.args[1:]:
                word = param.partition("=")[0]
                passive = word in _PASSIVE_WORDS
                if word not in _SERVER_WORDS or (passive and self.checks):
                    why = "the spec's NGINX Plus check is active" if passive else "no spec field"
                    at = ("pools", pool, "servers", key)
                    if passive or not d.keep(node, at, param, "nginx"):
                        d.unmapped(node, at, param, why)
        return names

    def _active_health(self, backend: Backend, pool: str) -> None:
        """NGINX Plus ``health_check`` (+ ``match``): interval, fails, passes and the check's
        timeout are the spec's; what the config leaves out is null."""
        d = self.d
        fields = d.pools[pool]
        check = self.checks.get(backend.name)
        health = backend.health
        if check is None:
            fields["health.check"] = "none"
            return
        params = dict(p.partition("=")[::2] for p in check.args)
        fields["health.check"] = "http" if health.check == "http" else "tcp"
        if health.check == "http":
            fields["health.path"] = health.path
            fields["health.expect"] = list(health.expect) if health.expect else None
            if health.expect_body is not None:
                fields["health.expect_body"] = health.expect_body
            if health.method != "GET" or health.expect_raw or health.rules:
                d.warn(Origin.of(check), "health_check",
                       "match: the spec checks with a GET and a list of status codes")  # fmt: skip
        for row in CHECK_PARAMS:  # what the config leaves out stays nginx's default: null
            assert row.codec is not None and row.field is not None
            try:
                value = row.codec.parse(params[row.name]) if row.name in params else None
            except ValueError:
                value = None  # the effective model reports the text nginx would refuse
            fields[row.field] = duration_text(value) if isinstance(row.codec, Time) else value
        timeout = backend.timeouts.check
        fields["health.timeout"] = (
            duration_text(timeout) if self._has_check_timeout(backend) else None
        )
        fields["health.fast_interval"] = None
        fields["health.down_interval"] = None
        for name in params:
            if name not in _CHECK_WORDS:
                d.warn(Origin.of(check), "health_check", f"health_check {name}=: no spec field")

    def _has_check_timeout(self, backend: Backend) -> bool:
        for block in nginx_stream_nodes(self.d.tree):
            target = block.last("proxy_pass") if block.keyword == "server" else None
            if target is not None and target.args[:1] == (backend.name,):
                return block.last("health_check_timeout") is not None
        return False

    def _passive_health(self, backend: Backend, pool: str) -> None:
        """nginx OSS checks passively: ``max_fails``/``fail_timeout`` are the spec's ``fall``
        and ``interval * fall`` (how lbgen renders them), the rest of ``health`` is null."""
        d = self.d
        fields = d.pools[pool]
        servers = list(backend.servers.values())
        pairs = [(s.max_fails, s.fail_timeout) for s in servers]
        if len(set(pairs)) > 1:
            d.warn(servers[0].origin, "max_fails",
                   f"max_fails/fail_timeout differ between the servers of upstream "
                   f"{backend.name}; the spec's health settings are per pool")  # fmt: skip
        max_fails, fail_timeout = most_common(pairs)
        explicit = any(("max_fails" in s.origins or "fail_timeout" in s.origins) for s in servers)
        if max_fails == 0 and explicit:
            fields["health.check"] = "none"
            return
        fields["health.check"] = "tcp"
        for name in ("fast_interval", "down_interval", "rise", "timeout"):
            fields[f"health.{name}"] = None
        if not explicit or max_fails is None or fail_timeout is None:
            fields["health.interval"] = None
            fields["health.fall"] = None
            return
        fields["health.fall"] = max_fails
        # The interval lbgen renders back as exactly the config's fail_timeout (see the row).
        interval = FailTimeout.interval(fail_timeout, max_fails)
        fields["health.interval"] = duration_text(interval)
        d.note(
            ("pools", pool),
            f"passive check: max_fails={max_fails} fail_timeout={duration_text(fail_timeout)} is "
            f"health.fall {max_fails} with health.interval * fall = fail_timeout",
        )

    # -- server blocks --------------------------------------------------------------------------

    def _server_blocks(self, stream: list[Node]) -> None:
        d = self.d
        by_line = {f.origin.line: f for f in self.config.frontends.values() if f.origin}
        raw_stream = _stream_children(d.tree)
        labels = _frontend_comments(raw_stream)
        per_pool: dict[str, list[Frontend]] = {}
        blocks: list[tuple[Node, Frontend, str]] = []
        for node in stream:
            if node.keyword != "server" or node.args:
                continue
            frontend = by_line.get(node.line)
            if frontend is None:
                continue
            if frontend.backend is None:
                if self._health_listener(node, frontend):
                    continue
                d.skip(node, f"server {{listen {frontend.name}}}", "it proxies to no upstream")
                continue
            pool = self.pool_names.get(frontend.backend)
            if pool is None:
                d.skip(node, f"server {{listen {frontend.name}}}",
                       f"proxy_pass {frontend.backend} is no upstream here")  # fmt: skip
                continue
            label = labels.get(node.line) or frontend.backend
            key = d.safe_name(label, d.frontends, None, "frontend")
            binds = self._listens(node, key)
            if not binds:
                d.skip(node, f"server {{listen {frontend.name}}}", "no listen address to keep")
                continue
            d.frontends[key] = {"bind": binds, "pool": pool}
            if self._v6only(node):
                d.frontends[key]["v6only"] = True
            per_pool.setdefault(pool, []).append(frontend)
            blocks.append((node, frontend, key))
        for pool, frontends in per_pool.items():
            self._proxy_settings(pool, frontends, [b for b in blocks if b[1] in frontends])

    def _listens(self, node: Node, where: str | tuple[str, ...]) -> list[str]:
        path = ("frontends", where) if isinstance(where, str) else where
        out: list[str] = []
        for listen in node.find("listen"):
            if not listen.args:
                continue
            address = normalize_address(listen.args[0])
            if address.startswith("0.0.0.0:"):
                address = address.removeprefix("0.0.0.0")
            if not valid_address(address, bind=True):
                self.d.unmapped(listen, path, why="not a host:port")
                continue
            out.append(address)
            extra = [o for o in listen.args[1:] if not o.startswith("ipv6only=")]
            if extra:
                self.d.unmapped(listen, path, f"listen options {' '.join(extra)}")
        return out

    def _health_listener(self, node: Node, frontend: Frontend) -> bool:
        d = self.d
        words = {n.keyword for n in node.directives()}
        if words != {"listen", "return"} or len(frontend.binds) != 1 or "health" in d.global_:
            return False
        address = frontend.binds[0].address
        if address.startswith("0.0.0.0:"):
            address = address.removeprefix("0.0.0.0")
        d.global_["health"] = {"bind": address, "path": "/healthz"}
        d.note(("global",), f"{node.location()}: a stream server that only returns a fixed "
               "response is lbgen's liveness endpoint (nginx answers any path)")  # fmt: skip
        return True

    def _proxy_settings(
        self, pool: str, frontends: list[Frontend], blocks: list[tuple[Node, Frontend, str]]
    ) -> None:
        """Connect/idle timeouts and retries live on nginx's server blocks but on the spec's
        pools (idle: the frontend's client timeout too); the blocks of one pool must agree."""
        d = self.d
        fields = d.pools[pool]
        first = frontends[0]
        for other in frontends[1:]:
            if (other.timeouts, other.next_upstream, other.next_upstream_tries) != (
                first.timeouts, first.next_upstream, first.next_upstream_tries,
            ):  # fmt: skip
                d.warn(other.origin, "server",
                       f"server blocks proxying to {pool} differ in timeouts or retries; the "
                       "spec keeps them per pool; the first block's are imported")  # fmt: skip
        origins = first.origins
        fields["timeouts.connect"] = (
            duration_text(first.timeouts.connect) if "timeouts.connect" in origins else None
        )
        idle = duration_text(first.timeouts.idle) if "timeouts.idle" in origins else None
        fields["timeouts.server"] = idle
        fields["timeouts.tunnel"] = idle
        fields["timeouts.server_fin"] = None
        fields["timeouts.queue"] = None
        retries: int | None = None
        if "next_upstream" in origins and first.next_upstream is False:
            retries = 0
        elif "next_upstream_tries" in origins and (first.next_upstream_tries or 0) >= 2:
            retries = _TRIES.parse(str(first.next_upstream_tries))
        elif "next_upstream_tries" in origins and first.next_upstream_tries == 1:
            d.warn(origins["next_upstream_tries"], "proxy_next_upstream_tries",
                   "proxy_next_upstream_tries 1: the spec says retries 0 as "
                   "proxy_next_upstream off")  # fmt: skip
        fields["retries"] = retries
        fields["redispatch"] = None
        for node, _frontend, key in blocks:
            d.frontends[key]["timeouts.client"] = idle
            d.frontends[key]["timeouts.client_fin"] = None
            for inner in node.directives():
                if inner.keyword in ("listen", "proxy_pass", *_PROXY_KEYWORDS):
                    continue
                if inner.keyword in ("health_check", "health_check_timeout") and self.checks:
                    continue  # read by the upstream's health
                self._keep(inner, ("frontends", key))


def _statements(block: Node) -> list[Node]:
    """A block's statements as written: an ``include`` stays one statement (its files are on
    the machine that runs nginx), unlike :meth:`Node.directives`, which reads them in."""
    return [child for child in block.children if not child.is_comment]


_SPEC_FACILITIES = {nginx: spec for spec, nginx in NGINX_FACILITIES.items()}
_NGINX_FACILITY_NAMES = frozenset(get_args(LogFacility)) - set(NGINX_FACILITIES) | set(
    _SPEC_FACILITIES
)


def _nginx_log(target: str) -> str | dict[str, str] | None:
    """The spec's log entry for an ``access_log`` destination (a bare target without a
    facility), or None when none says it (a file, a tag, another severity)."""
    if target == "off":
        return "none"
    if target in ("/dev/stdout", "stdout"):
        return "stdout"
    if not target.startswith("syslog:"):
        return None
    server, *params = target.removeprefix("syslog:").split(",")
    if not server.startswith("server="):
        return None
    server = server.removeprefix("server=")
    facility: str | None = None
    for param in params:
        name, _, value = param.partition("=")
        if name == "facility" and value in _NGINX_FACILITY_NAMES:
            facility = _SPEC_FACILITIES.get(value, value)
        elif param != "severity=info":  # nginx's own severity of access log lines
            return None
    if server == "unix:/dev/log":
        spec_target: str | None = "syslog"
    else:
        spec_target = udp_log(server if ":" in server.rsplit("]", 1)[-1] else server + ":514")
    if spec_target is None or facility is None:
        return spec_target
    return {"target": spec_target, "facility": facility}


def _resolved_log(log: Any) -> ResolvedLog | None:
    """The imported ``global.log`` value as the entry the view writes ``error_log`` from."""
    if isinstance(log, dict):
        return ResolvedLog(log["target"], log.get("facility"))
    return ResolvedLog(log) if isinstance(log, str) else None


def _stream_children(tree: ConfigTree) -> list[Node]:
    """The stream context's statements with comments (to find ``# frontend NAME``)."""
    streams = [n for n in tree.nodes if n.keyword == "stream"]
    if streams:
        return [child for s in streams for child in s.children]
    return list(tree.nodes)


def _frontend_comments(nodes: Sequence[Node]) -> dict[int | None, str]:
    """``# frontend NAME`` right above a ``server {}`` block (how lbgen names its blocks)."""
    out: dict[int | None, str] = {}
    for before, node in itertools.pairwise(nodes):
        if before.is_comment and node.keyword == "server" and not node.args:
            words = (before.comment or "").split()
            if len(words) == 2 and words[0] == "frontend":
                out[node.line] = words[1]
    return out


def import_into(tree: ConfigTree, draft: Draft) -> None:
    """Fill ``draft`` (made from ``tree`` and its effective model) with the spec fields of an
    nginx stream config."""
    assert draft.tree is tree
    _NginxImport(draft).run()


__all__ = ["import_into"]
