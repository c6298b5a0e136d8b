"""Lint rules that only apply to nginx (and NGINX Plus) configs.

Rows of the same kind as :data:`lbgen.lint.CORE_RULES`; the nginx engines expose them as
``lint_rules`` and :func:`lbgen.lint.all_rules` merges them in code order.
"""

from __future__ import annotations

from collections.abc import Iterator

from lbgen.confparse.tree import word_set
from lbgen.diagnostics import Level
from lbgen.effective.model import format_duration
from lbgen.lint import Finding, LintContext, Rule, relayed_problems
from lbgen.nginx.effective import BACKUP_REFUSED

NGINX_OSS = ("nginx",)
NGINX_ALL = ("nginx", "nginx-plus")


_NGINX_PLUS_DIRECTIVES = frozenset(
    {"health_check", "health_check_timeout", "match", "sticky", "ntlm", "queue", "state",
     "least_time"}
)  # fmt: skip
_NGINX_PLUS_PARAMS = ("slow_start=", "service=", "route=", "drain")
#: ``random two least_time=…``: OSS knows ``random [two [least_conn]]`` only.
_NGINX_PLUS_RANDOM = "least_time="


def nginx_plus_only(ctx: LintContext) -> Iterator[Finding]:
    """NGINX Plus-only features: nginx OSS refuses to start (``unknown directive`` /
    ``invalid parameter``)."""
    for node in ctx.nginx_nodes():
        if node.keyword in _NGINX_PLUS_DIRECTIVES:
            yield Finding.at(node, f"{node.keyword} needs NGINX Plus")
        elif node.keyword == "random" and any(
            arg.startswith(_NGINX_PLUS_RANDOM) for arg in node.args
        ):
            yield Finding.at(node, f"random … {_NGINX_PLUS_RANDOM}… needs NGINX Plus")
        elif node.keyword == "server" and node.args:
            for param in node.args[1:]:
                if param.startswith(_NGINX_PLUS_PARAMS):
                    yield Finding.at(node, f"server {node.args[0]}: {param} needs NGINX Plus")


def nginx_backup_with_hash(ctx: LintContext) -> Iterator[Finding]:
    """``backup`` servers after ``hash`` or ``random``: nginx rejects the config. The reader
    finds them (``BACKUP_REFUSED``), as nginx does, line by line: a method line after the
    servers is accepted."""
    return relayed_problems(ctx, BACKUP_REFUSED)


def nginx_weight_zero(ctx: LintContext) -> Iterator[Finding]:
    """``weight=0``: nginx requires weight >= 1 (use ``down`` to drain a server)."""
    for backend in ctx.config.backends.values():
        for server in backend.servers.values():
            if server.weight == 0:
                yield Finding.at_origin(
                    server.origins.get("weight"),
                    f"upstream {backend.name}: server {server.name} has weight=0",
                    server.origin,
                )


_NGINX_TIME_DIRECTIVES = word_set(
    """
    proxy_timeout proxy_read_timeout proxy_send_timeout proxy_next_upstream_timeout
    keepalive_timeout keepalive_time send_timeout client_body_timeout client_header_timeout
    ssl_session_timeout
    """
)
# Waits that are short by nature: a connect or handshake of 1000 s or more is milliseconds
# written without their unit, whatever the number.
_NGINX_SHORT_TIME_DIRECTIVES = word_set(
    """
    proxy_connect_timeout resolver_timeout health_check_timeout ssl_handshake_timeout
    preread_timeout proxy_protocol_timeout
    """
)
_NGINX_TIME_PARAMS = ("fail_timeout=", "slow_start=")
BARE_SECONDS_LIKELY_MS = 1000
"""An nginx bare number from this on, in a short wait or as a round thousand, was meant as ms."""


def nginx_bare_number_seconds(ctx: LintContext) -> Iterator[Finding]:
    """A bare number of seconds that reads as milliseconds (``proxy_connect_timeout 5000``,
    ``proxy_timeout 600000``): nginx takes bare numbers as seconds, so 5000 is 83 minutes."""
    for node in ctx.nginx_nodes():
        found: list[tuple[str, str, bool]] = []  # (what, number, short by nature)
        if node.keyword in _NGINX_TIME_DIRECTIVES | _NGINX_SHORT_TIME_DIRECTIVES and node.args:
            short = node.keyword in _NGINX_SHORT_TIME_DIRECTIVES
            found.append((node.keyword, node.args[0], short))
        elif node.keyword == "server":
            for param in node.args[1:]:
                if param.startswith(_NGINX_TIME_PARAMS):
                    name, _, number = param.partition("=")
                    found.append((f"server {node.args[0]}: {name}=", number, True))
        for what, number, short in found:
            if not number.isdigit() or int(number) < BARE_SECONDS_LIKELY_MS:
                continue
            seconds = int(number)
            if short or seconds % 1000 == 0:
                sep = "" if what.endswith("=") else " "
                yield Finding.at(
                    node,
                    f"{what}{sep}{number} is {format_duration(seconds * 1_000_000)}, "
                    f"not {format_duration(seconds * 1000)}",
                )


def nginx_hash_constant_key(ctx: LintContext) -> Iterator[Finding]:
    """``hash`` on a key without a variable (``hash consistent;``: a ``$remote_addr`` a shell
    here-document expanded to nothing): every connection hashes alike, so one server takes them
    all and the others none. nginx accepts it."""
    for backend in ctx.config.backends.values():
        if (
            backend.balance == "hash"
            and backend.balance_args
            and "$" not in backend.balance_args[0]
        ):
            yield Finding.at_origin(
                backend.origins.get("balance"),
                f"upstream {backend.name}: hash {backend.balance_args[0]!r} has no variable",
                backend.origin,
            )


RULES: tuple[Rule, ...] = (
    Rule("LB111", "nginx-plus-only", Level.ERROR, NGINX_OSS,
         "nginx OSS refuses to start with NGINX Plus-only features",
         nginx_plus_only),
    Rule("LB112", "nginx-backup-with-hash", Level.ERROR, NGINX_ALL,
         "nginx rejects backup servers after a hash or random balancing line",
         nginx_backup_with_hash, relays=frozenset({BACKUP_REFUSED})),
    Rule("LB113", "nginx-weight-zero", Level.ERROR, NGINX_ALL,
         "nginx requires weight >= 1; mark the server 'down' instead",
         nginx_weight_zero),
    Rule("LB118", "nginx-bare-number-seconds", Level.WARNING, NGINX_ALL,
         "nginx reads a bare number as seconds: this looks like milliseconds; write the unit "
         "(5000ms or 5s)",
         nginx_bare_number_seconds),
    Rule("LB121", "nginx-hash-constant-key", Level.WARNING, NGINX_ALL,
         "hash on a key without a variable sends every connection to one server",
         nginx_hash_constant_key),
)  # fmt: skip
"""The nginx-only lint rules, in code order."""

PLUS_RULES: tuple[Rule, ...] = tuple(rule for rule in RULES if "nginx-plus" in rule.engines)
"""The ones that also apply to NGINX Plus configs."""

__all__ = ["PLUS_RULES", "RULES"]
