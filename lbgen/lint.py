"""``lbgen lint``: known footguns in an existing HAProxy or nginx config.

Each rule is a row of :data:`RULES`: a code, a level, the engines it applies to, a one-line
explanation and a check function. A check gets a :class:`LintContext` (the parsed tree and the
effective model) and yields :class:`Finding` objects; the table turns them into
:class:`~lbgen.diagnostics.Diagnostic` objects (``[code] detail: explanation``). Adding a rule is
adding a function and a row.

Broken input (unreadable file, syntax error, unknown engine) raises
:class:`~lbgen.diagnostics.SpecError`, which the CLI maps to exit code 2; :func:`exit_code` gives
0 or 1 for the findings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lbgen.confparse import parse_config, read_config_text
from lbgen.confparse.effective import (
    CHECK_OPTIONS,
    Backend,
    Config,
    Origin,
    effective,
    format_duration,
)
from lbgen.confparse.haproxy import PROXY_SECTIONS
from lbgen.confparse.tree import ConfigTree, Node, word_set
from lbgen.diagnostics import Diagnostic, Level, sort_key
from lbgen.engine import ENGINE_NAMES, get_engine

LINT_ENGINES = ("haproxy", "nginx", "nginx-plus")
"""``nginx-plus`` lints an nginx config without the rules about NGINX Plus-only features."""

WATCH_SAFE_US = 5 * 60 * 1_000_000
"""Idle timeouts under this (microseconds, the effective model's base) cut long-running API
requests (``kubectl get -w``, informers)."""


@dataclass(frozen=True)
class LintContext:
    """What a rule may look at: the tree as written and the effective model."""

    tree: ConfigTree
    config: Config
    engine: str

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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Rule:
    """One lint rule: a row of :data:`RULES`."""

    code: str
    name: str
    level: Level
    engines: tuple[str, ...]
    summary: str
    check: Check


# --- rules -------------------------------------------------------------------------------


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
    for backend in ctx.config.backends.values():
        if backend.health.check in kinds:
            yield backend


def httpchk_without_expect(ctx: LintContext) -> Iterator[Finding]:
    """An HTTP check with no ``http-check expect``: any 2xx or 3xx counts as healthy."""
    for backend in _checked_backends(ctx, "http", "https"):
        health = backend.health
        if health.expect is None and health.expect_raw is None:
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


def server_without_check(ctx: LintContext) -> Iterator[Finding]:
    """A server never health-checked in a pool of several keeps receiving connections while
    down (HAProxy: no ``check``; nginx: ``max_fails=0``)."""
    for backend in ctx.config.backends.values():
        if len(backend.servers) < 2:
            continue
        for server in backend.servers.values():
            if ctx.config.engine == "haproxy" and not server.check and not server.disabled:
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
    if config.engine == "nginx":
        for frontend in config.frontends.values():
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
        if frontend.backend is None:
            continue  # a monitor or stats frontend: no API traffic passes through it
        backend = config.backends.get(frontend.backend)
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


def missing_timeout(ctx: LintContext) -> Iterator[Finding]:
    """Without ``timeout connect/client/server`` HAProxy waits forever on dead peers (and
    warns at start)."""
    config = ctx.config
    for frontend in config.frontends.values():
        if frontend.timeouts.client is None:
            yield Finding.at_origin(
                None, f"frontend {frontend.name}: no timeout client", frontend.origin
            )
    for backend in config.backends.values():
        missing = [k for k in ("connect", "server") if getattr(backend.timeouts, k) is None]
        if missing:
            yield Finding.at_origin(
                None,
                f"backend {backend.name}: no timeout {' / '.join(missing)}",
                backend.origin,
            )


def proxy_protocol_to_server(ctx: LintContext) -> Iterator[Finding]:
    """kube-apiserver does not speak the PROXY protocol: every connection fails its TLS
    handshake."""
    config = ctx.config
    for backend in config.backends.values():
        for server in backend.servers.values():
            if server.send_proxy:
                yield Finding.at_origin(
                    server.origins.get("send_proxy"),
                    f"backend {backend.name}: server {server.name} uses {server.send_proxy}",
                    server.origin,
                )
    for frontend in config.frontends.values():
        if frontend.proxy_protocol:
            yield Finding.at_origin(
                frontend.origins.get("proxy_protocol"),
                f"server {frontend.name}: proxy_protocol on",
                frontend.origin,
            )


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


_SERVER_OPTION_WORDS = word_set(
    """
    check check-ssl ssl verify weight inter fastinter downinter rise fall slowstart maxconn
    maxqueue backup disabled enabled port addr sni check-sni crt ca-file send-proxy
    send-proxy-v2 init-addr resolvers cookie agent-check on-marked-down observe
    """
)
_NGINX_PARAM_WORDS = ("weight=", "max_fails=", "fail_timeout=", "max_conns=", "slow_start=")


def _comment_swallows(comment: str) -> bool:
    first = comment.strip().split(" ", 1)[0] if comment.strip() else ""
    return (
        first in _SERVER_OPTION_WORDS
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


_HTTP_ONLY_OPTIONS = frozenset(
    {
        "forwardfor",
        "httplog",
        "http-server-close",
        "httpclose",
        "http-keep-alive",
        "http-buffer-request",
        "http-pretend-keepalive",
    }
)
_L7_BALANCE = ("uri", "url_param", "hdr", "random-uri")
_HTTP_RULES = ("http-request", "http-response", "http-after-response")


def http_keyword_in_tcp_mode(ctx: LintContext) -> Iterator[Finding]:
    """HTTP-only keywords in a TCP proxy do nothing (HAProxy ignores them, sometimes with a
    warning): the config does not do what it says."""
    # One finding per offending line, naming every TCP proxy that inherits it from defaults.
    found: dict[tuple[str | None, int | None, str], list[str]] = {}
    cols: dict[tuple[str | None, int | None, str], int | None] = {}
    config = ctx.config
    entities: list[tuple[str, Iterable[str], Mapping[str, Origin], Backend | None]] = []
    entities += [
        (f"frontend {f.name}", f.extras, f.origins, None)
        for f in config.frontends.values()
        if f.mode == "tcp"
    ]
    entities += [
        (f"backend {b.name}", b.extras, b.origins, b)
        for b in config.backends.values()
        if b.mode == "tcp"
    ]
    for label, extras, origins, backend in entities:
        offending: list[tuple[str, Origin | None]] = []
        for text in extras:
            words = text.split()
            if words[:1] == ["option"] and len(words) > 1 and words[1] in _HTTP_ONLY_OPTIONS:
                offending.append((f"option {words[1]}", origins.get(f"option {words[1]}")))
            elif words[:1] and words[0] in _HTTP_RULES:
                offending.append((words[0], origins.get(f"extras:{text}")))
        if backend is not None and (backend.balance or "").startswith(_L7_BALANCE):
            offending.append((f"balance {backend.balance}", origins.get("balance")))
        for what, origin in offending:
            key = (origin.file if origin else None, origin.line if origin else None, what)
            found.setdefault(key, []).append(label)
            cols[key] = origin.col if origin else None
    for (file, line, what), labels in found.items():
        yield Finding(
            f"{what} in mode tcp ({', '.join(labels)})", file, line, cols[(file, line, what)]
        )


def slowstart_static_algorithm(ctx: LintContext) -> Iterator[Finding]:
    """``slowstart`` with ``static-rr`` or ``first``: HAProxy cannot change weights on the fly
    with these algorithms and ignores it."""
    for backend in ctx.config.backends.values():
        if backend.balance not in ("static-rr", "first"):
            continue
        for server in backend.servers.values():
            if server.slowstart:
                yield Finding.at_origin(
                    server.origins.get("slowstart"),
                    f"backend {backend.name} (balance {backend.balance}): server "
                    f"{server.name} slowstart {format_duration(server.slowstart)}",
                    server.origin,
                )


_HAPROXY_SERVER_TIMES = ("inter", "fastinter", "downinter", "slowstart")
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
                    if word in _HAPROXY_SERVER_TIMES and value.isdigit():
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


def config_problems(ctx: LintContext) -> Iterator[Finding]:
    """Problems found while building the effective model (unknown ``from`` defaults, values
    that are not durations or integers)."""
    for diag in ctx.config.diagnostics:
        yield Finding(f"[{diag.code}] {diag.message}", diag.file, diag.line, diag.col)


# --- the table ---------------------------------------------------------------------------------

HAPROXY = ("haproxy",)
ALL = ("haproxy", "nginx", "nginx-plus")

CORE_RULES: tuple[Rule, ...] = (
    Rule("LB100", "config-problem", Level.ERROR, ALL,
         "the engine would reject or misread this value", config_problems),
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
    Rule("LB105", "server-without-check", Level.WARNING, ALL,
         "a server that is never checked keeps receiving connections while down",
         server_without_check),
    Rule("LB106", "short-idle-timeout", Level.WARNING, ALL,
         "idle timeout under 5 minutes cuts long-running API requests (kubectl watch, "
         "informers)",
         short_idle_timeout),
    Rule("LB107", "missing-timeout", Level.WARNING, HAPROXY,
         "HAProxy waits forever on dead peers without it (and warns at start)",
         missing_timeout),
    Rule("LB108", "proxy-protocol-to-apiserver", Level.ERROR, ALL,
         "kube-apiserver does not speak the PROXY protocol: every connection fails",
         proxy_protocol_to_server),
    Rule("LB109", "tls-without-verify", Level.ERROR, HAPROXY,
         "HAProxy verifies server certificates by default and refuses to start without a CA; "
         "say 'verify none' or give 'ca-file'",
         tls_without_verify),
    Rule("LB110", "comment-in-server-line", Level.WARNING, ALL,
         "'#' starts a comment anywhere outside quotes: the options after it are dropped",
         comment_in_server_line),
    Rule("LB114", "http-keyword-in-tcp-mode", Level.WARNING, HAPROXY,
         "HTTP-only keyword in a TCP proxy: ignored, the config does not do what it says",
         http_keyword_in_tcp_mode),
    Rule("LB115", "slowstart-static-algorithm", Level.WARNING, HAPROXY,
         "static-rr and first cannot change weights at run time: slowstart is ignored",
         slowstart_static_algorithm),
    Rule("LB116", "haproxy-bare-number-small", Level.WARNING, HAPROXY,
         "HAProxy reads a bare number as milliseconds: write the unit (10s, 500ms)",
         haproxy_bare_number_small),
    Rule("LB117", "haproxy-bare-number-ms", Level.NOTE, HAPROXY,
         "a bare number is milliseconds in HAProxy (seconds in nginx): the unit says so",
         haproxy_bare_number_ms),
)  # fmt: skip
"""The lint rules of more than one engine, in code order; each engine adds its own
(:attr:`lbgen.engine.Engine.lint_rules`)."""


def all_rules() -> tuple[Rule, ...]:
    """Every lint rule, the engines' own included, in code order."""
    found = {rule.code: rule for rule in CORE_RULES}
    for name in ENGINE_NAMES:
        if name == "haproxy":
            continue  # its rules are still in CORE_RULES
        for rule in get_engine(name).lint_rules:
            found.setdefault(rule.code, rule)
    return tuple(found[code] for code in sorted(found))


def rules_by_code() -> dict[str, Rule]:
    """Every lint rule by its code."""
    return {rule.code: rule for rule in all_rules()}


# --- API ---------------------------------------------------------------------------------------


def lint_tree(tree: ConfigTree, engine: str | None = None) -> list[Diagnostic]:
    """Run every rule for the tree's engine (``nginx-plus`` skips the OSS-only rules)."""
    flavour = engine or tree.engine
    ctx = LintContext(tree, effective(tree), flavour)
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
            message = (
                finding.detail if rule is CORE_RULES[0] else f"{finding.detail}: {rule.summary}"
            )
            out.append(
                Diagnostic(rule.level, rule.code, message, finding.file, finding.line, finding.col)
            )
    return sorted(out, key=sort_key)


def lint_text(text: str, filename: str, engine: str | None = None) -> list[Diagnostic]:
    """Lint config text. ``engine``: ``haproxy``, ``nginx``, ``nginx-plus`` or None (detected).

    Raises :class:`~lbgen.diagnostics.SpecError` when the text cannot be read as a config.
    """
    parse_engine = "nginx" if engine == "nginx-plus" else engine
    tree = parse_config(text, filename, parse_engine)
    return lint_tree(tree, engine)


def lint_path(path: str | Path, engine: str | None = None) -> list[Diagnostic]:
    """Lint a config file (nginx includes resolved next to it)."""
    return lint_text(read_config_text(path), str(path), engine)


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
    "CORE_RULES",
    "LINT_ENGINES",
    "WATCH_SAFE_US",
    "Finding",
    "LintContext",
    "Rule",
    "all_rules",
    "exit_code",
    "explain",
    "lint_path",
    "lint_text",
    "lint_tree",
    "rules_by_code",
]
