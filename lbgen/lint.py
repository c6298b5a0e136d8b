"""``lbgen lint``: known footguns in an existing HAProxy or nginx config.

Each rule is a row of a rule table (:func:`all_rules`: the shared rules here, each engine
package's own in its ``lint`` module): a code, a level, the engines it applies to, a one-line
explanation and a check function. A check gets a :class:`LintContext` (the parsed tree and the
effective model) and yields :class:`Finding` objects; the table turns them into
:class:`~lbgen.diagnostics.Diagnostic` objects (``[code] detail: explanation``). Adding a rule is
adding a function and a row.

Broken input (unreadable file, syntax error, unknown engine) raises
:class:`~lbgen.diagnostics.SpecError`, which the CLI maps to exit code 2; :func:`exit_code` gives
0 or 1 for the findings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from lbgen.confparse import parse_config, read_config_text
from lbgen.confparse.detect import is_keepalived
from lbgen.confparse.tree import ConfigTree, Node
from lbgen.diagnostics import Diagnostic, Level, SpecError, sort_key
from lbgen.effective import effective
from lbgen.effective.model import Backend, Config, Frontend, Origin, Server, format_duration
from lbgen.engine import ENGINE_NAMES, ENTRIES, get_engine
from lbgen.frozen import record
from lbgen.haproxy.syntax import PROXY_SECTIONS

LINT_ENGINES = tuple(name for name, entry in ENTRIES.items() if not entry.per_node)
"""``nginx-plus`` lints an nginx config without the rules about NGINX Plus-only features."""

WATCH_SAFE_US = 5 * 60 * 1_000_000
"""Idle timeouts under this (microseconds, the effective model's base) cut long-running API
requests (``kubectl get -w``, informers)."""


@record
class LintContext:
    """What a rule may look at: the tree as written and the effective model."""

    tree: ConfigTree
    config: Config
    engine: str
    engine_version: tuple[int, int] | None = None
    """The engine version the config is meant for (``--engine-version``); None: not said."""

    def sections(self, *kinds: str) -> Iterator[Node]:
        """HAProxy sections of the given kinds, in file order."""
        for node in self.tree.directives():
            if node.keyword in kinds:
                yield node

    def nginx_nodes(self) -> Iterator[Node]:
        """Every nginx statement, includes expanded, depth first."""
        stack = list(self.tree.directives())
        stack.reverse()
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(list(node.directives())))


@record
class Finding:
    """One occurrence of a rule's problem, before it becomes a Diagnostic."""

    detail: str
    file: str | None = None
    line: int | None = None
    col: int | None = None

    @classmethod
    def at(cls, node: Node, detail: str, col: int | None = None) -> Finding:
        """A finding at a tree node."""
        return cls(detail, node.file, node.line, col if col is not None else node.col)

    @classmethod
    def at_origin(cls, origin: Origin | None, detail: str, fallback: Origin | None) -> Finding:
        """A finding where an effective value was set (or at ``fallback``, the entity)."""
        where = origin or fallback
        if where is None:
            return cls(detail)
        return cls(detail, where.file, where.line, where.col)


Check = Callable[[LintContext], Iterable[Finding]]


@record
class Rule:
    """One lint rule: a row of a rule table."""

    code: str
    name: str
    level: Level
    engines: tuple[str, ...]
    summary: str
    check: Check
    relays: frozenset[str] = frozenset()
    """Codes of the effective model's problems this rule reports (LB100 leaves them to it)."""


# --- which proxies carry API traffic --------------------------------------------------------

API_SERVER_PORTS = frozenset({6443, 8132})
"""Server ports that mark a proxy as on the API path: 6443, kube-apiserver's secure port, and
8132, konnectivity's, whose tunnels carry ``kubectl exec/logs -f/port-forward`` to the nodes."""


def _port(address: str) -> int | None:
    head, sep, tail = address.rpartition(":")
    return int(tail) if sep and tail.isdigit() and head else None


def _backend_ports(backend: Backend, frontends: Iterable[Frontend]) -> set[int]:
    """The ports a backend's servers are reached on (a server without a port: the bind's)."""
    ports: set[int] = set()
    for server in backend.servers.values():
        if server.port is not None:
            ports.add(server.port)
        else:
            for frontend in frontends:
                if frontend.backend == backend.name:
                    ports |= {p for b in frontend.binds if (p := _port(b.address)) is not None}
    return ports


@record
class ApiPath:
    """The frontends and backends that carry API traffic (see :func:`api_path`)."""

    frontends: frozenset[str]
    backends: frozenset[str]


def api_path(config: Config) -> ApiPath:
    """Which proxies carry kube-apiserver traffic, decided by what they forward to.

    A backend is on the API path when one of its servers listens on an
    :data:`API_SERVER_PORTS` port, a frontend when it binds one of those ports or forwards to
    such a backend. A stats or monitor page (no backend, or a backend without servers) never
    is. When no proxy forwards to those ports (an API load balancer whose servers use another
    port), every frontend with servers behind it, and those backends, count: lbgen cannot tell
    them apart. So an ingress proxy on :80/:443, a join API (k0s :9443) or OpenShift's
    machine-config server (:22623) next to an API proxy are not API traffic, and the rules
    about API requests (idle timeouts, PROXY protocol, health checks) leave them alone.
    """
    frontends = list(config.frontends.values())
    with_servers = {name for name, b in config.backends.items() if b.servers}
    api_backends = {
        name
        for name, b in config.backends.items()
        if b.servers and _backend_ports(b, frontends) & API_SERVER_PORTS
    }
    api_frontends = {
        f.name
        for f in frontends
        if f.backend in api_backends
        or (
            f.backend in with_servers and any(_port(b.address) in API_SERVER_PORTS for b in f.binds)
        )
    }
    if not api_backends and not api_frontends:
        api_backends = with_servers
        api_frontends = {f.name for f in frontends if f.backend in with_servers}
    return ApiPath(frozenset(api_frontends), frozenset(api_backends))


# --- rules -------------------------------------------------------------------------------


def _tracks(server: Server) -> bool:
    """Whether an HAProxy server says ``track <backend>/<server>``: it takes the tracked
    server's state (DOWN when that one is), so it is checked, by proxy."""
    return any(text.split()[:1] == ["track"] for text in server.extras)


def server_without_check(ctx: LintContext) -> Iterator[Finding]:
    """A server never health-checked in a pool of several keeps receiving connections while
    down (HAProxy: no ``check`` and no ``track``; nginx: ``max_fails=0``)."""
    for backend in ctx.config.backends.values():
        if len(backend.servers) < 2:
            continue
        for server in backend.servers.values():
            if (
                ctx.config.engine == "haproxy"
                and not server.check
                and not server.disabled
                and not _tracks(server)
            ):
                yield Finding.at_origin(
                    None,
                    f"backend {backend.name}: server {server.name} has no 'check'",
                    server.origin,
                )
            elif ctx.config.engine == "nginx" and server.max_fails == 0:
                yield Finding.at_origin(
                    server.origins.get("max_fails"),
                    f"upstream {backend.name}: server {server.name} has max_fails=0",
                    server.origin,
                )


def short_idle_timeout(ctx: LintContext) -> Iterator[Finding]:
    """Idle timeouts under 5 minutes cut watches (``kubectl get -w``, controllers' informers)."""
    config = ctx.config
    api = api_path(config)
    if config.engine == "nginx":
        for frontend in config.frontends.values():
            if frontend.name not in api.frontends:
                continue
            idle = frontend.timeouts.idle
            if idle is not None and idle < WATCH_SAFE_US:
                yield Finding.at_origin(
                    frontend.origins.get("timeouts.idle"),
                    f"server {frontend.name}: proxy_timeout {format_duration(idle)}",
                    frontend.origin,
                )
        return
    # HAProxy: in TCP mode "timeout tunnel" supersedes client/server once connected.
    for frontend in config.frontends.values():
        if frontend.name not in api.frontends:
            continue  # a stats page, an ingress or another service's proxy
        backend = config.backends.get(frontend.backend or "")
        tunnel = backend.timeouts.tunnel if backend else None
        client = frontend.timeouts.client
        if frontend.mode == "tcp" and tunnel is not None:
            continue
        if client is not None and client < WATCH_SAFE_US:
            yield Finding.at_origin(
                frontend.origins.get("timeouts.client"),
                f"frontend {frontend.name}: timeout client {format_duration(client)}",
                frontend.origin,
            )
    for backend in config.backends.values():
        if backend.name not in api.backends:
            continue
        timeouts = backend.timeouts
        if timeouts.tunnel is not None:
            if timeouts.tunnel < WATCH_SAFE_US:
                yield Finding.at_origin(
                    backend.origins.get("timeouts.tunnel"),
                    f"backend {backend.name}: timeout tunnel {format_duration(timeouts.tunnel)}",
                    backend.origin,
                )
            if backend.mode == "tcp":
                continue
        if timeouts.server is not None and timeouts.server < WATCH_SAFE_US:
            yield Finding.at_origin(
                backend.origins.get("timeouts.server"),
                f"backend {backend.name}: timeout server {format_duration(timeouts.server)}",
                backend.origin,
            )


def proxy_protocol_to_server(ctx: LintContext) -> Iterator[Finding]:
    """kube-apiserver does not speak the PROXY protocol: every connection fails its TLS
    handshake."""
    config = ctx.config
    api = api_path(config)  # an ingress controller may well expect the PROXY protocol
    for backend in config.backends.values():
        if backend.name not in api.backends:
            continue
        for server in backend.servers.values():
            if server.send_proxy:
                yield Finding.at_origin(
                    server.origins.get("send_proxy"),
                    f"backend {backend.name}: server {server.name} uses {server.send_proxy}",
                    server.origin,
                )
    for frontend in config.frontends.values():
        if frontend.proxy_protocol and frontend.name in api.frontends:
            yield Finding.at_origin(
                frontend.origins.get("proxy_protocol"),
                f"server {frontend.name}: proxy_protocol on",
                frontend.origin,
            )


_NGINX_PARAM_WORDS = ("weight=", "max_fails=", "fail_timeout=", "max_conns=", "slow_start=")


def _comment_swallows(comment: str) -> bool:
    first = comment.strip().split(" ", 1)[0] if comment.strip() else ""
    return (
        get_engine("haproxy").table.named(first, "server") is not None
        or first in ("backup", "down")
        or first.startswith(_NGINX_PARAM_WORDS)
    )


def comment_in_server_line(ctx: LintContext) -> Iterator[Finding]:
    """A ``#`` inside a server line turns the rest of the line into a comment: the options
    after it are silently dropped."""
    if ctx.config.engine == "haproxy":
        for section in ctx.sections(*PROXY_SECTIONS):
            for node in section.directives():
                if node.keyword not in ("server", "default-server") or node.comment is None:
                    continue
                raw = node.raw or ""
                hash_at = _comment_col(raw)
                glued = hash_at is not None and hash_at > 1 and not raw[hash_at - 2].isspace()
                if glued or _comment_swallows(node.comment):
                    yield Finding.at(
                        node,
                        f"{node.keyword} {' '.join(node.args[:1])}: '#{node.comment.strip()}' "
                        "is a comment",
                        col=hash_at,
                    )
        return
    for node in ctx.nginx_nodes():
        if node.keyword != "server" or not node.args or node.comment is None:
            continue
        raw = node.raw or ""
        hash_at = raw.find("#")
        semicolon = raw.find(";")
        inside = hash_at >= 0 and (semicolon < 0 or semicolon > hash_at)
        if inside and _comment_swallows(node.comment):
            yield Finding.at(
                node,
                f"server {node.args[0]}: '#{node.comment.strip()}' is a comment",
                col=hash_at + 1,
            )


def _comment_col(raw: str) -> int | None:
    """1-based column of the ``#`` that starts the comment of an HAProxy line."""
    quote: str | None = None
    i = 0
    while i < len(raw):
        ch = raw[i]
        if quote:
            if ch == quote:
                quote = None
            elif ch == "\\" and quote == '"':
                i += 1
        elif ch == "\\":
            i += 1
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return i + 1
        i += 1
    return None


def config_problems(ctx: LintContext) -> Iterator[Finding]:
    """Problems found while building the effective model (unknown ``from`` defaults, values
    that are not durations or integers). Its notes (how the engine reads an odd spelling) are
    not problems: ``import`` and ``diff`` show them. A problem a rule of its own reports
    (:attr:`Rule.relays`) is left to that rule."""
    relayed = {code for rule in all_rules() for code in rule.relays}
    for diag in ctx.config.diagnostics:
        if diag.level is Level.NOTE or diag.code in relayed:
            continue
        yield Finding(f"[{diag.code}] {diag.message}", diag.file, diag.line, diag.col)


def relayed_problems(ctx: LintContext, code: str) -> Iterator[Finding]:
    """The effective model's problems of ``code``, as findings (see :attr:`Rule.relays`)."""
    for diag in ctx.config.diagnostics:
        if diag.code == code:
            yield Finding(diag.message, diag.file, diag.line, diag.col)


# --- the table ---------------------------------------------------------------------------------

ALL = ("haproxy", "nginx", "nginx-plus")

CORE_RULES: tuple[Rule, ...] = (
    Rule("LB100", "config-problem", Level.ERROR, ALL,
         "the engine would reject or misread this value", config_problems),
    Rule("LB105", "server-without-check", Level.WARNING, ALL,
         "a server that is never checked keeps receiving connections while down",
         server_without_check),
    Rule("LB106", "short-idle-timeout", Level.WARNING, ALL,
         "idle timeout under 5 minutes cuts long-running API requests (kubectl watch, "
         "informers)",
         short_idle_timeout),
    Rule("LB108", "proxy-protocol-to-apiserver", Level.ERROR, ALL,
         "kube-apiserver does not speak the PROXY protocol: every connection fails",
         proxy_protocol_to_server),
    Rule("LB110", "comment-in-server-line", Level.WARNING, ALL,
         "'#' starts a comment anywhere outside quotes: the options after it are dropped",
         comment_in_server_line),
)  # fmt: skip
"""The lint rules of more than one engine, in code order; each engine adds its own
(:attr:`lbgen.engine.Engine.lint_rules`)."""


def all_rules() -> tuple[Rule, ...]:
    """Every lint rule, the engines' own included, in code order."""
    found = {rule.code: rule for rule in CORE_RULES}
    for name in ENGINE_NAMES:
        for rule in get_engine(name).lint_rules:
            found.setdefault(rule.code, rule)
    return tuple(found[code] for code in sorted(found))


def rules_by_code() -> dict[str, Rule]:
    """Every lint rule by its code."""
    return {rule.code: rule for rule in all_rules()}


# --- API ---------------------------------------------------------------------------------------


def lint_tree(
    tree: ConfigTree, engine: str | None = None, engine_version: tuple[int, int] | None = None
) -> list[Diagnostic]:
    """Run every rule for the tree's engine (``nginx-plus`` skips the OSS-only rules).

    ``engine_version``: the (major, minor) the config is meant for; None lets the rules that
    depend on it ask the local binary (or assume the newest release and say so).
    """
    flavour = engine or tree.engine
    ctx = LintContext(tree, effective(tree), flavour, engine_version)
    out: list[Diagnostic] = []
    seen: set[tuple[str, str | None, int | None, str]] = set()
    for rule in all_rules():
        if flavour not in rule.engines:
            continue
        for finding in rule.check(ctx):
            key = (rule.code, finding.file, finding.line, finding.detail)
            if key in seen:  # one defaults line inherited by many proxies: say it once
                continue
            seen.add(key)
            # LB100 relays the model's own messages, which already say what is wrong.
            relayed = rule.code == "LB100"
            message = finding.detail if relayed else f"{finding.detail}: {rule.summary}"
            out.append(
                Diagnostic(rule.level, rule.code, message, finding.file, finding.line, finding.col)
            )
    return sorted(out, key=sort_key)


def lint_text(
    text: str,
    filename: str,
    engine: str | None = None,
    engine_version: tuple[int, int] | None = None,
) -> list[Diagnostic]:
    """Lint config text. ``engine``: ``haproxy``, ``nginx``, ``nginx-plus`` or None (detected).

    Raises :class:`~lbgen.diagnostics.SpecError` when the text cannot be read as a config.
    """
    if engine is None and is_keepalived(text):
        # Read as nginx's brace syntax it would come out as a list of misplaced directives.
        raise SpecError([Diagnostic(
            Level.ERROR, "lint-keepalived",
            "a keepalived.conf: lint has rules for haproxy and nginx only; check it with lbgen "
            "check --engine keepalived and compare it with lbgen diff SPEC -t keepalived --node "
            "NAME --against it",
            file=filename,
        )])  # fmt: skip
    parse_engine = "nginx" if engine == "nginx-plus" else engine
    tree = parse_config(text, filename, parse_engine)
    return lint_tree(tree, engine, engine_version)


def lint_path(
    path: str | Path, engine: str | None = None, engine_version: tuple[int, int] | None = None
) -> list[Diagnostic]:
    """Lint a config file (nginx includes resolved next to it)."""
    return lint_text(read_config_text(path), str(path), engine, engine_version)


def parse_engine_version(text: str) -> tuple[int, int]:
    """``"2.6"`` or ``"3.0.5"`` -> ``(2, 6)`` / ``(3, 0)``; ValueError otherwise."""
    parts = text.strip().split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise ValueError(f"not an engine version: {text!r} (expected MAJOR.MINOR, e.g. 2.8)")
    return int(parts[0]), int(parts[1])


def exit_code(diagnostics: Sequence[Diagnostic], fail_on: Level = Level.WARNING) -> int:
    """0 when no finding reaches ``fail_on``, else 1 (unreadable input is 2, via SpecError)."""
    return 1 if any(d.level >= fail_on for d in diagnostics) else 0


def explain() -> str:
    """The rule table as text, one rule a line (for ``lbgen lint --list-rules`` and the docs)."""
    return "\n".join(
        f"{r.code}  {r.name:<30} {r.level!s:<7}  {'/'.join(r.engines):<24} {r.summary}"
        for r in all_rules()
    )


__all__ = [
    "API_SERVER_PORTS",
    "CORE_RULES",
    "LINT_ENGINES",
    "WATCH_SAFE_US",
    "ApiPath",
    "Finding",
    "LintContext",
    "Rule",
    "all_rules",
    "api_path",
    "exit_code",
    "explain",
    "lint_path",
    "lint_text",
    "lint_tree",
    "parse_engine_version",
    "rules_by_code",
]
