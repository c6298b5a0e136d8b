"""Import an haproxy.cfg into a spec: the HAProxy half of ``lbgen import``.

The draft (:class:`lbgen.importer.Draft`) is filled from the config's effective model
(:mod:`lbgen.haproxy.effective`) and, for what the model does not name, from the tree itself:
every directive or server parameter without a spec field is named in a comment and warned about
(``import-unmapped``). Which server parameters map to a spec field comes from the directive
table (:mod:`lbgen.haproxy.table`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic_core import PydanticCustomError

from lbgen.confparse.tree import ConfigTree, Node
from lbgen.diagnostics import Diagnostic, Level
from lbgen.effective.model import Backend, Frontend, Origin, Server
from lbgen.haproxy import table
from lbgen.haproxy.effective import CHECK_OPTIONS, read_bind_address
from lbgen.haproxy.syntax import quote_word, section_names
from lbgen.importer import (
    LOSSY,
    NOT_IN_EFFECT,
    Draft,
    duration_text,
    most_common,
    one_line,
    server_params,
    shown,
    spec_name,
    valid_address,
)
from lbgen.names import HEALTH_FRONTEND, STATS_FRONTEND
from lbgen.spec.grammar import HTTP_PATH, STATS_AUTH
from lbgen.spec.models import (
    LbHealth,
    check_cert_path,
    check_dns_name,
    check_expect_body,
    check_http_path,
)
from lbgen.units import is_dns_name

_SPEC_BALANCE = ("roundrobin", "static-rr", "leastconn", "first", "source", "random")
_SPEC_CHECKS = {
    "none": "none", "tcp": "tcp", "tls": "tls", "ssl-hello": "ssl-hello", "http": "http",
    "https": "https",
}  # fmt: skip
_POOL_TIMEOUTS = tuple(row.effective or "" for row in table.BACKEND_TIMEOUTS)
_FRONTEND_TIMEOUTS = tuple(row.effective or "" for row in table.FRONTEND_TIMEOUTS)
_LOGGING = frozenset({("log", "global"), ("option", "tcplog"), ("option", "dontlognull")})
_HAPROXY_TIMEOUTS = frozenset(
    row.name.removeprefix("timeout ") for row in table.TABLE if row.name.startswith("timeout ")
)
_PROXY_SECTIONS = frozenset({"defaults", "frontend", "backend", "listen"})
# One-word proxy keywords with a spec field, and the lines read with the servers and checks.
_HAPROXY_PROXY_KEYWORDS = frozenset(
    row.name
    for row in table.TABLE
    if row.field is not None and " " not in row.name and _PROXY_SECTIONS & set(row.contexts)
) | {"default-server", "server", "http-check", "tcp-check"}


class _HaproxyImport:
    """HAProxy config -> spec fields."""

    def __init__(self, draft: Draft) -> None:
        self.d = draft
        self.config = draft.config
        self.pool_names: dict[str, str] = {}
        self.stats_frontend: str | None = None
        self.health_frontend: str | None = None
        self.imported: list[Frontend] = []
        self.stats_read: set[int | None] = set()
        """Lines of ``stats`` directives that a ``global.stats`` field holds."""
        self.frontend_keys: dict[str, str] = {}
        """Imported frontends: config name -> spec name (``pool_names`` for backends)."""
        self.chains = _DefaultsChains(draft.tree.directives())
        self.inherited: dict[tuple[str, ...], int] = {}
        """How many lines of defaults sections lead each proxy's extras (see _keep_inherited)."""

    def run(self) -> None:
        d = self.d
        d.name = spec_name(d)
        sections = list(d.tree.directives())
        self._global(sections)
        for section in sections:
            if section.keyword in ("backend", "listen") and section.args:
                self._backend(section)
        for section in sections:
            if section.keyword in ("frontend", "listen") and section.args:
                self._frontend(section)
        for section in sections:
            if section.keyword == "defaults":
                self._defaults_lines(section)
            elif section.keyword not in ("global", "frontend", "backend", "listen"):
                header = " ".join(quote_word(w) for w in section.words())
                lines = [_verbatim(n) for n in section.directives()]
                if not d.keep_section(section, header, lines, "haproxy"):
                    d.skip(section, f"section {shown(section).removesuffix(' { … }')}",
                           "the spec has no such section")  # fmt: skip
        self._logging()
        d.hoist()

    def _logging(self) -> None:
        """``defaults.log_format`` and ``defaults.dontlognull`` from the imported frontends'
        options (the spec's default, tcplog and dontlognull, is written as nothing)."""
        extras = [set(frontend.extras) for frontend in self.imported]
        if not extras:
            return
        if self.d.global_.get("log") and not any("option tcplog" in e for e in extras):
            self.d.defaults["log_format"] = "none"
        # Written but moot for want of a log target, it is still what the config asks for:
        # the spec keeps it for the day a target is added.
        asked = [{*frontend.extras, *frontend.ignored} for frontend in self.imported]
        if not any("option dontlognull" in e for e in asked):
            self.d.defaults["dontlognull"] = False

    # -- global ---------------------------------------------------------------------------------

    def _global(self, sections: list[Node]) -> None:
        d = self.d
        logs: list[Any] = []
        for section in sections:
            if section.keyword != "global":
                continue
            for node in section.directives():
                if node.keyword == "log":
                    entry = _haproxy_log(node.args)
                    if entry is None:
                        self._keep(node, ("global",), why="no spec log entry says this")
                    else:
                        logs.append(entry)
                elif node.keyword == "maxconn" and node.args and node.args[0].isdigit():
                    d.global_["maxconn"] = int(node.args[0])
                else:
                    self._keep(node, ("global",))
        d.global_["log"] = None if not logs else logs[0] if len(logs) == 1 else logs

    def _defaults_lines(self, section: Node) -> None:
        """Directives of a defaults section: what the proxies inherit is read from the model;
        here only the ones without a spec field are kept, where HAProxy applies them.

        Each proxy takes the settings of one defaults section (:class:`_DefaultsChains`), but
        lbgen renders one defaults section that every proxy takes: a line goes to
        ``defaults.extra`` only when every imported proxy of its side takes it, to the extras
        of those that do when only some do, and nowhere (named in a note) when none does.
        """
        frontends = self._taking(section, self.frontend_keys, "frontend")
        pools = self._taking(section, self.pool_names, "backend")
        if not frontends and not pools:
            lines = list(section.directives())
            if lines:  # an empty section replaces the one before it, but says nothing itself
                self._not_in_effect(section, lines, whole=True)
            return
        dropped: list[Node] = []
        for node in section.directives():
            if node.keyword == "default-server":
                if not self._inherited_server_words(node, pools):
                    dropped.append(node)
            elif not self._mapped_proxy_line(node) and not self._inherited_line(
                section, node, frontends, pools
            ):
                dropped.append(node)
        if dropped:
            self._not_in_effect(section, dropped, whole=False)

    def _taking(self, section: Node, names: dict[str, str], side: str) -> list[str]:
        """The spec names of the imported proxies of ``side`` that take ``section``."""
        return [key for name, key in names.items() if self.chains.takes(side, name, section)]

    def _inherited_line(
        self, section: Node, node: Node, frontends: list[str], pools: list[str]
    ) -> bool:
        """Keep an unmapped defaults line where the proxies that take it are; False when none
        of them acts on it (a backend-only line of a section only frontends take)."""
        side = table.proxy_side(node.words())
        targets = [("frontends", key) for key in frontends if side != "backend"]
        targets += [("pools", key) for key in pools if side != "frontend"]
        if not targets:
            return False
        every = (len(self.frontend_keys) if side != "backend" else 0) + (
            len(self.pool_names) if side != "frontend" else 0
        )
        if len(targets) == every:
            self._keep(node, ("defaults",))
            return True
        for where in targets:
            self._keep_inherited(section, node, where)
        return True

    def _keep_inherited(self, section: Node, node: Node, where: tuple[str, ...]) -> None:
        """A defaults line that only some proxies take, kept in one of theirs: before the
        proxy's own lines, where HAProxy applies it (so that its own ``no option X`` still
        wins)."""
        why = (
            f"no spec field; from the defaults section at line {section.line}, which not "
            "every imported proxy takes"
        )
        if not self.d.keep(node, where, _verbatim(node), "haproxy", why):
            self.d.unmapped(node, where)
            return
        fields = self.d.frontends[where[1]] if where[0] == "frontends" else self.d.pools[where[1]]
        items = fields["extra.haproxy"]
        at = self.inherited.get(where, 0)
        items.insert(at, items.pop())
        self.inherited[where] = at + 1

    def _inherited_server_words(self, node: Node, pools: list[str]) -> bool:
        """A defaults section's ``default-server`` parameters, on the servers of the pools that
        take the section; False when no imported pool does."""
        if not pools:
            return False
        if len(pools) == len(self.pool_names):
            self._server_words(node, node.args, ("defaults",))
        else:
            for pool in pools:
                self._server_words(node, node.args, ("pools", pool))
        return True

    def _not_in_effect(self, section: Node, nodes: list[Node], *, whole: bool) -> None:
        """One note naming the lines of a defaults section that act on no imported proxy:
        left out, since lbgen's one defaults section would apply them to every proxy."""
        header = " ".join(quote_word(w) for w in section.words())
        names = "; ".join(shown(n) for n in nodes)
        if whole:
            why = "no imported proxy takes its settings"
            following = self.chains.following.get(id(section))
            if following is not None:
                why += f"; the defaults section at {following.location()} replaces it"
            self.d.note((), f"{section.location()}: {header} left out ({why})")
            message = (
                f"{header}: {why} (HAProxy gives a proxy the settings of the last defaults "
                f"section before it, or of the one its 'from' names); left out of the imported "
                f"spec: {names}"
            )
        else:
            message = (
                f"{header}: {names}: no imported proxy that takes this section acts on it; "
                "left out of the imported spec"
            )
        self.d.diagnostics.append(
            Diagnostic(Level.NOTE, NOT_IN_EFFECT, one_line(message),
                       file=section.file, line=section.line, col=section.col)
        )  # fmt: skip

    def _no_log(self, section: Node, where: tuple[str, ...], extras: tuple[str, ...]) -> None:
        """``no log`` for an imported proxy that logs nothing while the global section has
        log targets: the spec's ``global.log`` makes lbgen write ``log global`` in its one
        defaults section, which would turn this proxy's logging on (its own defaults section
        has no ``log global``, or one a later defaults section replaced)."""
        if not self.d.global_.get("log") or any(e.split(" ", 1)[0] == "log" for e in extras):
            return
        why = (
            "no log line is in effect in this proxy, and global.log makes lbgen write "
            "log global in its defaults"
        )
        if not self.d.keep(section, where, "no log", "haproxy", why):
            self.d.unmapped(section, where, "no log line", why)

    def _mapped_proxy_line(self, node: Node) -> bool:
        """Whether a proxy line is read into a spec field (or warned about where it is read)."""
        key, args = node.keyword, node.args
        if (key, args[0] if args else "") in _LOGGING:
            return True
        if key == "mode":
            # A proxy whose effective mode is not tcp is left out with its own warning.
            return True
        if key == "timeout" and args:
            return args[0] in _HAPROXY_TIMEOUTS
        if key == "option" and args:
            # Check options are read (or warned about) by the health import; a redispatch
            # interval the spec cannot say (not -1 or 0) stays a verbatim line.
            if args[0] == "redispatch":
                return args[1:] in ((), ("-1",), ("0",))
            return args[0] in CHECK_OPTIONS
        if key == "no" and args[:2] == ("option", "redispatch"):
            return True
        return key in _HAPROXY_PROXY_KEYWORDS

    def _keep(self, node: Node, where: tuple[str, ...], why: str = "no spec field") -> None:
        """A directive without a spec field: into ``where``'s ``extra.haproxy`` list, or named
        in a comment when it cannot be an extra item."""
        if not self.d.keep(node, where, _verbatim(node), "haproxy"):
            self.d.unmapped(node, where, why=why)

    # -- frontends ------------------------------------------------------------------------------

    def _frontend(self, section: Node) -> None:
        d = self.d
        name = section.args[0]
        frontend = self.config.frontends.get(name)
        if frontend is None:
            return
        if frontend.mode != "tcp":
            if self._special(section, frontend):
                return
            d.skip(section, f"{section.keyword} {name}", f"mode {frontend.mode}: the spec "
                   "describes TCP load balancing only")  # fmt: skip
            return
        pool = self.pool_names.get(frontend.backend or "")
        if pool is None:
            why = (
                "it names no default_backend"
                if frontend.backend is None
                else f"its backend {frontend.backend} was not imported"
            )
            d.skip(section, f"{section.keyword} {name}", why)
            return
        key = d.safe_name(name, d.frontends, section, "frontend")
        binds, v6only, redundant = self._bind_lines(section, ("frontends", key))
        if not binds:
            d.skip(section, f"{section.keyword} {name}", "no bind address the spec can hold")
            return
        fields: dict[str, Any] = {"bind": binds, "pool": pool}
        if v6only:
            fields["v6only"] = True
        for t in _FRONTEND_TIMEOUTS:
            fields[t] = duration_text(getattr(frontend.timeouts, t.removeprefix("timeouts.")))
        d.frontends[key] = fields
        self.frontend_keys[name] = key
        self.imported.append(frontend)
        where = ("frontends", key)
        self._keep_redundant_binds(redundant, where)
        for node in section.directives():
            if node.keyword in ("bind", "server") or self._mapped_proxy_line(node):
                continue
            # A listen's backend-only lines went to its pool (see _backend).
            if section.keyword == "frontend" or table.proxy_side(node.words()) != "backend":
                self._keep(node, where)
        self._no_log(section, where, frontend.extras)

    def _bind_lines(
        self, section: Node, where: tuple[str, ...]
    ) -> tuple[list[str], bool, list[tuple[Node, str, str]]]:
        """The spec's bind list of a proxy, whether its ``[::]:P`` binds are IPv6-only, and the
        redundant binds (with the address and the wildcard beside which each is redundant).

        A specific address beside the wildcard of its family on the same port (``*:16444`` and
        ``127.0.0.1:16444``) is redundant -- the wildcard serves it; HAProxy starts with both
        (SO_REUSEPORT) but the spec refuses the overlap -- so it is no spec bind: its line is
        kept verbatim in the frontend's ``extra`` (dropped with a warning when it shares its
        line with other addresses).
        """
        found: list[tuple[str, Node]] = []
        stacks: set[bool] = set()
        for node in section.find("bind"):
            for address in self._binds(node, where):
                found.append((address, node))
                if address.startswith("[::]:"):
                    stacks.add("v6only" in node.args[1:])
        if len(stacks) > 1:
            self.d.unmapped(section.find("bind")[0], where, "v6only on some [::] binds only",
                            "the spec's v6only holds for every [::] bind of a frontend; "
                            "imported as v6only")  # fmt: skip
        wildcards = {a for a, _ in found if a.startswith((":", "[::]:"))}
        out: list[str] = []
        redundant: list[tuple[Node, str, str]] = []
        for address, node in found:
            port = address.rsplit(":", 1)[1]
            wildcard = f"[::]:{port}" if address.startswith("[") else f":{port}"
            if address in out:
                continue
            if address != wildcard and wildcard in wildcards:
                redundant.append((node, address, wildcard))
                continue
            out.append(address)
        return out, True in stacks, redundant

    def _keep_redundant_binds(
        self, redundant: list[tuple[Node, str, str]], where: tuple[str, ...]
    ) -> None:
        """Binds the spec cannot hold beside their wildcard. HAProxy does listen on them: a bind
        line of its own stays a verbatim line of the frontend, so no listening socket is lost;
        one that shares its line with other addresses is dropped with a warning."""
        for node, address, wildcard in redundant:
            single = bool(node.args) and "," not in node.args[0]
            why = f"redundant beside bind {wildcard} (the spec refuses overlapping binds)"
            if not (single and self.d.keep(node, where, _verbatim(node), "haproxy", why)):
                self.d.unmapped(node, where, f"bind {address}",
                                f"redundant beside bind {wildcard}, which serves it too (the "
                                "spec refuses overlapping binds); dropped")  # fmt: skip

    def _binds(self, node: Node, where: tuple[str, ...]) -> list[str]:
        out: list[str] = []
        options = [o for o in node.args[1:]]
        for raw in node.args[0].split(",") if node.args else []:
            address, ignored = read_bind_address(raw)
            if address.startswith("0.0.0.0:"):
                address = address.removeprefix("0.0.0.0")
            if not valid_address(address, bind=True):
                self.d.unmapped(node, where, f"bind {raw}",
                                "not a host:port the spec can hold")  # fmt: skip
                continue
            if ignored:
                self.d.note(where, f"{node.location()}: bind {raw}: HAProxy ignores {ignored!r} "
                            f"after the port and listens on {address}")  # fmt: skip
            out.append(address)
        # v4v6 is what the spec's [::]:P means; v6only is the spec's v6only.
        extra = [o for o in options if o not in ("v6only", "v4v6")]
        if extra:
            self.d.unmapped(node, where, f"bind options {' '.join(extra)}")
        return out

    def _special(self, section: Node, frontend: Frontend) -> bool:
        """lbgen's own HTTP listeners: a stats page -> ``global.stats``, a ``monitor-uri``
        listener -> ``global.health``."""
        d = self.d
        if not section.find("bind"):
            return False
        addresses = [
            read_bind_address(item)[0].removeprefix("0.0.0.0")
            for node in section.find("bind")
            for item in (node.args[0].split(",") if node.args else [""])
        ]
        if not all(valid_address(a, bind=True) for a in addresses):
            return False
        words = {n.keyword for n in section.directives()}
        if "stats" in words and "stats" not in d.global_:
            prometheus = any("prometheus-exporter" in n.args for n in section.find("http-request"))
            if len(addresses) != 1:
                return False
            d.global_["stats"] = {"bind": addresses[0], "prometheus": prometheus}
            self.stats_frontend = section.args[0]
            where: tuple[str, ...] = ("global",)
            self._stats_lines(section, d.global_["stats"])
        elif "monitor-uri" in words and "health" not in d.global_:
            uri = section.last("monitor-uri")
            path = uri.args[0] if uri is not None and uri.args else "/healthz"
            binds, v6only, redundant = self._bind_lines(section, ("global",))
            d.global_["health"] = {"bind": binds[0] if len(binds) == 1 else binds, "path": path}
            if v6only:
                d.global_["health"]["v6only"] = True
            self._keep_redundant_binds(redundant, ("global", "health"))
            # No readiness rules: null, or rendering the spec would add the default /readyz.
            if frontend.ready_path != LbHealth.model_fields["ready_path"].default:
                d.global_["health"]["ready_path"] = frontend.ready_path
            self.health_frontend = section.args[0]
            where = ("global",)
        else:
            return False
        self._own_timeout(section, frontend)
        expected = {"bind", "mode", "monitor-uri", "timeout", "http-request"}
        for node in section.directives():
            if node.keyword == "stats" and node.line in self.stats_read:
                continue
            if node.keyword not in expected and (node.keyword, *node.args[:1]) not in _LOGGING:
                d.unmapped(node, where, why="lbgen writes its own listener without it")
        role, ours = (
            ("stats page", STATS_FRONTEND)
            if self.stats_frontend == section.args[0]
            else ("liveness endpoint", HEALTH_FRONTEND)
        )
        d.note(
            where,
            f"{d.file}:{section.line}: {section.keyword} {section.args[0]} is the load "
            f"balancer's own {role} (lbgen renders it as frontend {ours})",
        )
        if section.args[0] == ours:
            return True  # lbgen's own: whatever else differs, the self-check names it
        # One warning for the replacement; the diff's "removed"/"added" pair says no more.
        d.skipped.add(section.line)
        d.replaced.add(f"frontend {ours}")
        d.diagnostics.append(
            Diagnostic(
                Level.WARNING, LOSSY,
                f"{section.keyword} {section.args[0]}: becomes global."
                f"{'stats' if ours == STATS_FRONTEND else 'health'}; lbgen renders its own "
                f"frontend {ours} in its place",
                file=section.file, line=section.line, col=section.col,
            )
        )  # fmt: skip
        return True

    def _own_timeout(self, section: Node, frontend: Frontend) -> None:
        """The client timeout in effect on a stats page or liveness endpoint (its own or its
        defaults') -> ``global.stats.timeout`` / ``global.health.timeout`` where it differs
        from what lbgen writes without one."""
        key, row = (
            ("stats", table.STATS_TIMEOUT)
            if self.stats_frontend == section.args[0]
            else ("health", table.HEALTH_TIMEOUT)
        )
        client = frontend.timeouts.client
        if client is not None and client != row.default:
            self.d.global_[key]["timeout"] = duration_text(client)

    def _stats_lines(self, section: Node, stats: dict[str, Any]) -> None:
        """``stats`` lines of a stats page -> ``global.stats`` fields; the lines no field
        holds stay out of ``stats_read`` (and are named as unmapped)."""
        uri = "/haproxy?stats"  # HAProxy's own when no "stats uri" says otherwise
        refresh: str | None = None
        auth: list[str] = []
        for node in section.find("stats"):
            args = node.args
            held = True
            if args == ("enable",):
                pass
            elif args[:1] == ("uri",) and len(args) == 2 and HTTP_PATH.matches(args[1]):
                uri = args[1]
            elif args[:1] == ("refresh",) and len(args) == 2:
                seconds = table.stats_refresh_seconds(args[1])
                held = seconds is not None
                refresh = f"{seconds}s" if held else None
            elif args[:1] == ("auth",) and len(args) == 2 and STATS_AUTH.matches(args[1]):
                auth.append(args[1])
            elif args in (("admin", "if", "TRUE"), ("admin", "if", "{", "always_true", "}")):
                stats["admin"] = True
            elif args == ("hide-version",):
                stats["hide_version"] = True
            else:
                held = False
            if held:
                self.stats_read.add(node.line)
        monitor = section.last("monitor-uri")
        if monitor is not None and len(monitor.args) == 1 and HTTP_PATH.matches(monitor.args[0]):
            stats["monitor_uri"] = monitor.args[0]
        if uri != "/stats":
            stats["uri"] = uri
        if refresh != "10s":
            stats["refresh"] = refresh
        if auth:
            stats["auth"] = auth

    # -- backends -------------------------------------------------------------------------------

    def _backend(self, section: Node) -> None:
        d = self.d
        name = section.args[0]
        backend = self.config.backends.get(name)
        if backend is None:
            return
        if not backend.servers:
            if section.keyword == "backend":
                d.skip(section, f"backend {name}", "it has no servers")
            return
        if backend.mode != "tcp":
            # A listen section is judged with its frontend side (it may be a stats page).
            if section.keyword == "backend":
                d.skip(section, f"backend {name}", f"mode {backend.mode}: the spec describes "
                       "TCP load balancing only")  # fmt: skip
            return
        key = d.safe_name(name, d.pools, section, "pool")
        self.pool_names[name] = key
        where = ("pools", key)
        fields: dict[str, Any] = {}
        d.pools[key] = fields
        balance = None
        if "balance" in backend.origins:
            balance = backend.balance
            if balance not in _SPEC_BALANCE or backend.balance_args:
                d.warn(backend.origins["balance"], "balance",
                       f"balance {' '.join((str(balance), *backend.balance_args))}: the spec's "
                       "balance cannot say this; left to the engine's default")  # fmt: skip
                balance = None
        fields["balance"] = balance
        names = self._servers(section, backend, key)
        # The servers of the spec: those of server lines (a server-template stays a verbatim
        # line, with the parameters HAProxy gives its servers: see _template).
        servers = {name: server for name, server in backend.servers.items() if name in names}
        self._health(section, backend, servers, key)
        fields["retries"] = backend.retries if "retries" in backend.origins else None
        fields["redispatch"] = backend.redispatch if "redispatch" in backend.origins else None
        fields["start_unresolved"] = _start_unresolved(servers)
        for t in _POOL_TIMEOUTS:
            fields[t] = duration_text(getattr(backend.timeouts, t.removeprefix("timeouts.")))
        if "timeouts.queue" not in backend.origins:
            fields["timeouts.queue"] = None  # HAProxy's timeout connect, as the spec leaves it
        server_params(d, key, servers, names)
        backups = sum(server.backup for server in backend.servers.values())
        for node in section.directives():
            if node.keyword in ("bind", "server"):
                continue
            if backups > 1 and node.words() == ("option", "allbackups"):
                continue  # lbgen writes it for a pool with two or more backups
            if node.keyword == "server-template":
                self._template(section, node, where)
            elif not self._mapped_proxy_line(node):
                # A listen is a frontend and a backend: a line that works on both sides goes
                # to both (its frontend's, see _frontend), one of one side only to that side.
                if section.keyword == "backend" or table.proxy_side(node.words()) != "frontend":
                    self._keep(node, where)
            elif node.keyword == "default-server":
                self._own_default_server(section, node, where, names)
        self._no_log(section, where, backend.extras)

    def _own_default_server(
        self, section: Node, node: Node, where: tuple[str, ...], names: dict[str, str]
    ) -> None:
        """A backend's own ``default-server`` line: its parameters without a spec field go on
        the servers declared after it, the only ones HAProxy applies it to (those of a
        ``server-template`` after it are on the template's line, see :meth:`_template`). A
        line no server follows does nothing: left out, with a note."""
        lines = list(section.directives())
        later = [
            n for n in lines[next(i for i, n in enumerate(lines) if n is node) + 1 :]
            if n.keyword in ("server", "server-template")
        ]  # fmt: skip
        if not later:
            header = f"{section.keyword} {section.args[0]}"
            why = (
                f"no server of {header} is declared after it, and HAProxy applies a "
                "default-server line to the servers after it only"
            )
            self.d.note(where, f"{node.location()}: {shown(node)} left out: {why}")
            self.d.diagnostics.append(
                Diagnostic(Level.NOTE, NOT_IN_EFFECT,
                           one_line(f"{shown(node)}: {why}; left out of the imported spec"),
                           file=node.file, line=node.line, col=node.col)
            )  # fmt: skip
            self.d.warned.add((node.line, "default-server"))
            return
        targets = [
            names[n.args[0]] for n in later
            if n.keyword == "server" and n.args and n.args[0] in names
        ]  # fmt: skip
        self._server_words(node, node.args, where, targets)

    def _template(self, section: Node, node: Node, where: tuple[str, ...]) -> None:
        """A ``server-template`` line, kept verbatim in the pool's extras with the parameters
        of the ``default-server`` lines in force where it is written (its defaults sections',
        then the backend's own before it) put before its own: HAProxy gives its servers those,
        and the imported spec writes no default-server line (its rendering would lose them)."""
        inherited = [
            n for defaults in reversed(self.chains.backends.get(section.args[0], ()))
            for n in defaults.find("default-server")
        ]  # fmt: skip
        for n in section.directives():
            if n is node:
                break
            if n.keyword == "default-server":
                inherited.append(n)
        words = [w for n in inherited for w in n.args]
        if len(node.args) < 3 or not words:
            self._keep(node, where)
            return
        text = " ".join(
            quote_word(w) for w in (node.keyword, *node.args[:3], *words, *node.args[3:])
        )
        lines = ", ".join(n.location() for n in inherited)
        why = (
            f"no spec field; with the parameters of the default-server lines in force there "
            f"({lines}), which HAProxy gives its servers"
        )
        if not self.d.keep(node, where, text, "haproxy", why):
            self.d.unmapped(node, where, why=why.removeprefix("no spec field; "))

    def _servers(self, section: Node, backend: Backend, pool: str) -> dict[str, str]:
        d = self.d
        names: dict[str, str] = {}
        d.servers[pool] = {}
        for node in section.find("server"):
            if len(node.args) < 2 or node.args[0] not in backend.servers:
                continue
            server = backend.servers[node.args[0]]
            key = d.safe_name(server.name, d.servers[pool], node, "server")
            if not valid_address(server.endpoint, bind=False):
                d.unmapped(node, ("pools", pool), f"server {server.name} {node.args[1]}",
                           "the spec needs host:port")  # fmt: skip
                continue
            names[server.name] = key
            fields: dict[str, Any] = {"address": server.endpoint}
            if server.backup:
                fields["backup"] = True
            if server.disabled:
                fields["disabled"] = True
            d.servers[pool][key] = fields
            self._server_words(node, node.args[2:], ("pools", pool, "servers", key))
        return names

    def _checked(
        self, value: str | None, check: Callable[[Any], Any], origin: Origin | None, what: str
    ) -> str | None:
        """``value`` when the spec accepts it; else a warning and null."""
        if value is None:
            return None
        try:
            check(value)
        except PydanticCustomError as exc:
            self.d.warn(origin, what, f"{what} {value!r}: the spec refuses it ({exc}); left out")
            return None
        return value

    def _written_words(self, section: Node) -> set[str]:
        """Words of the server and default-server lines a backend's servers are built from
        (its own, and those of the defaults sections it takes)."""
        nodes = [n for n in section.directives() if n.keyword in ("server", "default-server")]
        for defaults in self.chains.backends.get(section.args[0], ()):
            nodes += defaults.find("default-server")
        return {word for node in nodes for word in node.args}

    def _server_words(
        self,
        node: Node,
        args: Sequence[str],
        where: tuple[str, ...],
        servers: Sequence[str] | None = None,
    ) -> None:
        """Name the server parameters the spec has no field for. Those of a default-server
        line go on the servers it applies to: ``servers`` of the pool ``where`` (every server
        of the pool, or of every pool for ``("defaults",)``, when None)."""
        i = 0
        while i < len(args):
            word = args[i]
            row = table.server_option(word)
            takes_value = row is not None and row.codec is not None
            value = args[i + 1] if takes_value and i + 1 < len(args) else None
            i += 2 if value is not None else 1
            # Options with a spec field are read from the model (health, server parameters).
            if (row is not None and row.field is not None) or word.startswith("no-"):
                continue
            # What lbgen itself writes with a TLS check or for a DNS-named server.
            if (row, value) in (
                (table.VERIFY, table.LBGEN_VERIFY),
                (table.INIT_ADDR, table.LBGEN_INIT_ADDR),
            ):
                continue
            text = word if value is None else f"{word} {value}"
            verbatim = " ".join(quote_word(w) for w in text.split(" "))
            if where[2:3] == ("servers",):
                kept = self.d.keep(node, where, verbatim, "haproxy")
            elif where[:1] in (("pools",), ("defaults",)):
                # A default-server line: the parameter goes on each server it applies to (a
                # defaults section's: every pool's; the self-check names what that changes).
                pools = [where[1]] if where[0] == "pools" else list(self.d.servers)
                targets = [("pools", p, "servers", s) for p in pools for s in self.d.servers[p]]
                if servers is not None:
                    # Only the servers after the line (a server-template's line carries it).
                    targets = [("pools", where[1], "servers", s) for s in servers]
                kept = (bool(targets) or servers is not None) and all(
                    self.d.keep(node, target, verbatim, "haproxy") for target in targets
                )
            else:
                kept = False
            if not kept:
                self.d.unmapped(node, where, text)

    def _health(
        self, section: Node, backend: Backend, servers: Mapping[str, Server], pool: str
    ) -> None:
        """The pool's health check, from the backend's and its imported ``servers``'."""
        d = self.d
        fields = d.pools[pool]
        health = backend.health
        origin = backend.origins.get("health.check", backend.origin)
        checked = [s for s in servers.values() if s.check]
        unchecked = [s.name for s in servers.values() if not s.check]
        if checked and unchecked:
            d.warn(backend.origin, "check",
                   f"backend {backend.name}: servers without check ({', '.join(unchecked)}): "
                   "the spec checks every server of a pool or none")  # fmt: skip
        kind = _SPEC_CHECKS.get(health.check)
        if kind is None:
            option = next((o for o, k in CHECK_OPTIONS.items() if k == health.check),
                          health.check)  # fmt: skip
            d.warn(
                origin,
                "health",
                f"option {option} check: the spec has no such check; imported as tcp",
            )
            kind = "tcp"
        if not checked:
            kind = "none"  # only a server-template's servers are checked: its line says so
        fields["health.check"] = kind
        if kind == "none":
            return
        if kind in ("http", "https"):
            fields["health.path"] = self._checked(health.path, check_http_path, origin, "path")
            fields["health.expect"] = list(health.expect) if health.expect else None
            if health.expect_body is not None:
                fields["health.expect_body"] = self._checked(
                    health.expect_body, check_expect_body, origin, "expect string"
                )
        if health.sni is not None:
            fields["health.sni"] = self._checked(health.sni, check_dns_name, origin, "sni")
        if health.client_cert is not None:
            fields["health.client_cert"] = self._checked(
                health.client_cert, check_cert_path, origin, "crt"
            )
        for row in table.TIMING:
            attr, spec_key = row.effective or "", row.field or ""
            values = [getattr(s, attr) for s in checked]
            if len(set(values)) > 1:
                shown = sorted(set(values), key=lambda v: (v is None, v))  # a port may be unset
                d.warn(checked[0].origins.get(attr, checked[0].origin), attr,
                       f"{attr}: servers of backend {backend.name} differ ({shown});"
                       " the spec's health settings are per pool")  # fmt: skip
            value = most_common(values)
            if attr in ("fastinter", "downinter"):
                # Unset, HAProxy uses inter (and the model fills that in): written only where a
                # server or default-server line of this backend or a defaults section says it.
                inter = most_common([s.inter for s in checked])
                set_here = value != inter or attr in self._written_words(section)
            else:
                set_here = any(attr in s.origins for s in checked)
            if not set_here:
                value = None
            fields[spec_key] = (
                duration_text(value) if isinstance(row.codec, table.Duration) else value
            )
        fields["health.timeout"] = duration_text(backend.timeouts.check)


class _DefaultsChains:
    """The defaults sections each proxy takes its settings from, as HAProxy applies them (the
    manual, section 4: a new defaults section resets what the previous one set): the last
    defaults section before the proxy, or the named one its ``from`` names, each followed by
    the chain of its own ``from``. A defaults section without ``from`` starts from HAProxy's
    built-in state, not from the section before it."""

    def __init__(self, sections: Iterable[Node]) -> None:
        self.frontends: dict[str, tuple[Node, ...]] = {}
        """Frontend (and listen) name -> its defaults sections, nearest first."""
        self.backends: dict[str, tuple[Node, ...]] = {}
        """Backend (and listen) name -> its defaults sections, nearest first."""
        self.following: dict[int, Node] = {}
        """``id()`` of a defaults section -> the next defaults section of the file."""
        named: dict[str, tuple[Node, ...]] = {}
        current: tuple[Node, ...] = ()
        previous: Node | None = None
        for section in sections:
            if section.keyword not in _PROXY_SECTIONS:
                continue
            name, parent = section_names(section)
            inherited = current if parent is None else named.get(parent, ())
            if section.keyword == "defaults":
                current = (section, *(() if parent is None else inherited))
                if name is not None:
                    named[name] = current
                if previous is not None:
                    self.following[id(previous)] = section
                previous = section
            elif name is not None:
                if section.keyword in ("frontend", "listen"):
                    self.frontends[name] = inherited
                if section.keyword in ("backend", "listen"):
                    self.backends[name] = inherited

    def takes(self, side: str, name: str, defaults: Node) -> bool:
        """Whether the proxy ``name`` of ``side`` (frontend, backend) takes ``defaults``."""
        chains = self.frontends if side == "frontend" else self.backends
        # Identity, not equality: two sections with the same lines are still two sections.
        return any(node is defaults for node in chains.get(name, ()))


def _start_unresolved(servers: Mapping[str, Server]) -> bool | None:
    """``start_unresolved: false`` for a pool whose DNS-named servers all lack ``init-addr``
    (HAProxy's own ``last,libc``: it refuses to start while a name does not resolve); None
    (lbgen's default, ``init-addr last,libc,none``) otherwise."""
    named = [s for s in servers.values() if is_dns_name(s.address)]
    if named and all(server.init_addr is None for server in named):
        return False
    return None


def _verbatim(node: Node) -> str:
    """A directive as an extra item: its words, quoted so that HAProxy reads them back."""
    return " ".join(quote_word(word) for word in node.words())


def _haproxy_log(args: Sequence[str]) -> str | dict[str, str] | None:
    """The spec's log entry for an HAProxy ``log`` line (a bare target when the rest is the
    spec's default), or None when it has none."""
    try:
        entry = table.LOG_LINE.parse(" ".join(args))
    except ValueError:
        return None
    # The spec's stdout means format raw; HAProxy's own default format is rfc3164.
    default_format = "raw" if entry.target == "stdout" else None
    fmt = entry.format or ("rfc3164" if entry.target == "stdout" else None)
    fields = {
        "facility": entry.facility if entry.facility != "local0" else None,
        "level": entry.level,
        "min_level": entry.min_level,
        "format": fmt if fmt != default_format else None,
    }
    if not any(fields.values()):
        return entry.target
    return {"target": entry.target, **{k: v for k, v in fields.items() if v is not None}}


def import_into(tree: ConfigTree, draft: Draft) -> None:
    """Fill ``draft`` from its parsed haproxy.cfg (``draft.tree``; ``tree`` is the same)."""
    _HaproxyImport(draft).run()


__all__ = ["import_into"]
