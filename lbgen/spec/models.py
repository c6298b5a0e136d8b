"""Pydantic models of the spec, version 1.

Every field defaults to "unset" (``None`` and absent from ``model_fields_set``); an explicit
``null`` is kept as set-to-``None``, which means "emit nothing, let the engine decide". The
difference matters to :mod:`lbgen.resolve`, which fills unset fields from the outer layers.
Custom checks raise ``PydanticCustomError`` whose type is the diagnostic code.
"""

# No `from __future__ import annotations` here: pydantic would evaluate every field's
# annotation string when it creates the classes, at every start of the command (9 M
# instructions of `lbgen validate`, see `benchmarks/startup.py --stages`).

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from lbgen.spec import grammar
from lbgen.spec.types import Check, Duration, grammar_schema, shown_value, why_unusable
from lbgen.spec.vip import Vip
from lbgen.units import AddressError, parse_host_port

# Every string field has one grammar in lbgen.spec.grammar, used here (whole-string match) and as
# the JSON Schema pattern; the checks below only add a more helpful message before it.
NAME_PATTERN = grammar.NAME.pattern
PERCENT_PATTERN = grammar.PERCENT.pattern


Balance = Literal["roundrobin", "static-rr", "leastconn", "first", "source", "random"]
CheckKind = Literal["none", "tcp", "tls", "ssl-hello", "http", "https"]
FrontendMode = Literal["tcp", "http"]


def _check_name(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("type", "a name must be a string")
    if not grammar.NAME.matches(value):
        raise PydanticCustomError(
            "name",
            "{value} is not a valid name: use 1-63 of A-Z a-z 0-9 _ . - starting with a letter "
            "or digit (anything else can inject config lines){why}",
            {"value": shown_value(value), "why": why_unusable(value)},
        )
    return value


def _check_weight(value: Any) -> int | str:
    if isinstance(value, bool):
        raise PydanticCustomError("type", 'weight must be an integer or a percentage like "10%"')
    if isinstance(value, int):
        if not 0 <= value <= 256:
            raise PydanticCustomError("weight", "must be 0..256 (got {value})", {"value": value})
        return value
    if isinstance(value, str) and re.fullmatch("[0-9]{1,3}%", value, re.ASCII):
        if not grammar.PERCENT.matches(value):
            raise PydanticCustomError("weight", "must be 0%..100% (got {value})", {"value": value})
        return value
    raise PydanticCustomError(
        "weight", "must be an integer 0..256 or a percentage like \"10%\" (got {value}){why}",
        {"value": shown_value(value) if isinstance(value, str) else repr(value),
         "why": why_unusable(value) if isinstance(value, str) else ""},
    )  # fmt: skip


def check_cert_path(value: Any) -> str:
    """A certificate path as the spec accepts it (the importer checks values with it too)."""
    if not isinstance(value, str):
        raise PydanticCustomError("type", "must be a string")
    if not grammar.CERT_PATH.matches(value):
        raise PydanticCustomError(
            "value",
            "{value} is not a usable file name: 1-1024 of A-Z a-z 0-9 _ . , / @ : + = ~ - "
            "(no whitespace, quotes, '#', ';', '{', '}', '$' or '\\'){why}",
            {"value": shown_value(value), "why": why_unusable(value)},
        )
    return value


def check_expect_body(value: Any) -> str:
    """A string a check's answer must contain, as the spec accepts it (the importer checks
    values with it too)."""
    if not isinstance(value, str):
        raise PydanticCustomError("type", "must be a string")
    if not grammar.EXPECT_BODY.matches(value):
        raise PydanticCustomError(
            "value",
            "{value} is not a usable expected string: 1-256 of A-Z a-z 0-9 _ , : / = @ ~ ! - "
            "(no whitespace, quotes, '#', ';', '$', '\\' or regular-expression characters){why}",
            {"value": shown_value(value), "why": why_unusable(value)},
        )
    return value


def _check_server_address(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("type", 'an address must be a string "host:port"')
    try:
        parse_host_port(value, allow_empty_host=False)
    except AddressError as exc:
        raise PydanticCustomError(
            "address", "{value}: {why}", {"value": shown_value(value), "why": str(exc)}
        ) from None
    return value


def _check_bind_address(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise PydanticCustomError(
            "type",
            'a bind address must be a string "host:port": write ":{value}" for every address',
            {"value": value},
        )  # fmt: skip
    if not isinstance(value, str):
        raise PydanticCustomError("type", 'a bind address must be a string "host:port"')
    try:
        parse_host_port(value, allow_empty_host=True)
    except AddressError as exc:
        raise PydanticCustomError(
            "address", "{value}: {why}", {"value": shown_value(value), "why": str(exc)}
        ) from None
    return value


def check_dns_name(value: Any) -> str:
    """A DNS name as the spec accepts it."""
    if not isinstance(value, str):
        raise PydanticCustomError("type", "a DNS name must be a string")
    if not grammar.DNS_NAME.matches(value):
        raise PydanticCustomError(
            "value", "{value} is not a DNS name{why}",
            {"value": shown_value(value), "why": why_unusable(value)},
        )  # fmt: skip
    return value


def check_http_path(value: Any) -> str:
    """An HTTP path as the spec accepts it."""
    if not isinstance(value, str):
        raise PydanticCustomError("type", "a path must be a string")
    if not value.startswith("/"):
        raise PydanticCustomError("value", "a path must start with '/' (got {value})",
                                  {"value": shown_value(value)})  # fmt: skip
    if not grammar.HTTP_PATH.matches(value):
        raise PydanticCustomError(
            "value",
            "{value} is not a usable path: at most 1024 of A-Z a-z 0-9 / . _ ~ ! & ( ) * + , = : "
            "@ ? - and %XX escapes (no whitespace, quotes, '#', ';', '{', '}', '$' or '\\'){why}",
            {"value": shown_value(value), "why": why_unusable(value)},
        )
    return value


Name = Annotated[str, Check(_check_name), grammar_schema(grammar.NAME)]
Weight = Annotated[
    int | str,
    Check(_check_weight),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 256},
                {"type": "string", "pattern": PERCENT_PATTERN},
            ]
        }
    ),
]
ServerAddress = Annotated[
    str,
    Check(_check_server_address),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": grammar.SERVER_ADDRESS.pattern,
            "description": "host:port, [ipv6]:port or dns-name:port",
        }
    ),
]
BindAddress = Annotated[
    str,
    Check(_check_bind_address),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": grammar.BIND_ADDRESS.pattern,
            "description": "host:port, [ipv6]:port or :port",
        }
    ),
]
CertPath = Annotated[
    str,
    Check(check_cert_path),
    grammar_schema(grammar.CERT_PATH),
]
HttpPath = Annotated[
    str,
    Check(check_http_path),
    grammar_schema(grammar.HTTP_PATH),
]
ExpectBody = Annotated[
    str,
    Check(check_expect_body),
    grammar_schema(grammar.EXPECT_BODY),
]
DnsName = Annotated[
    str,
    Check(check_dns_name),
    grammar_schema(grammar.DNS_NAME),
]
Count = Annotated[int, Field(ge=0)]
AtLeastOne = Annotated[int, Field(ge=1)]
StatusCode = Annotated[int, Field(ge=100, le=599)]


def _check_extra_item(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("type", "an extra directive must be a string")
    reason = grammar.unusable_character(value)
    if reason:
        raise PydanticCustomError(
            "extra", "{value} cannot be an extra directive: {why} (one directive per item)",
            {"value": shown_value(value), "why": reason},
        )  # fmt: skip
    if not value.strip():
        raise PydanticCustomError("extra", "an extra directive must not be empty")
    if not grammar.EXTRA_DIRECTIVE.matches(value):
        raise PydanticCustomError("extra", "an extra directive is at most 4096 characters")
    return value


ExtraItem = Annotated[
    str,
    Check(_check_extra_item),
    grammar_schema(grammar.EXTRA_DIRECTIVE),
]
ExtraList = Annotated[list[ExtraItem], Field(min_length=1)]
ExtraSections = Annotated[dict[ExtraItem, ExtraList], Field(min_length=1)]


class Model(BaseModel):
    """Base for every spec block: unknown keys are errors, no silent type coercion."""

    # The docstring under each field is its description, the one source of it: `lbgen schema`
    # carries it to editors (shown on hover and completion). It is read from this module's
    # source by lbgen.spec.schema when a schema is asked for, not by pydantic's
    # use_attribute_docstrings, which reads and parses the source at every start (a fifth of
    # `lbgen validate`'s own time).
    # defer_build: one validator for the whole Spec, built when the first spec is validated,
    # instead of one per model at import. (The defaults below are model_construct()ed: an
    # instance built at import would build its model's validator there and then.)
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class Extra(Model):
    """The escape hatch: verbatim directives for what the spec does not model, per engine.

    Rendered after the section's modelled directives, in order; never read by lint or explain.
    A list for another engine than the target is not rendered and gives a warning."""

    haproxy: ExtraList | None = None
    """HAProxy lines added verbatim to this section, one directive per item (on a server:
    its keyword arguments, e.g. "resolvers docker")."""
    nginx: ExtraList | None = None
    """nginx (and NGINX Plus) directives added to this block, one per item; a trailing ";" is
    optional and a block may be written on one line (on a server: its parameters, e.g.
    "max_conns=10")."""


class GlobalExtra(Extra):
    """The escape hatch of the ``global`` block: process directives and whole extra sections."""

    haproxy_sections: ExtraSections | None = None
    """Whole HAProxy sections the spec does not model, by header ("resolvers docker",
    "userlist admins", "peers lb", "program x"), each a list of its lines."""
    nginx_sections: ExtraSections | None = None
    """Extra nginx top-level blocks by header ("http"), each a list of the directives inside it
    (a server block written on one line: "server { listen 80; return 204; }")."""


class Health(Model):
    """How the engine decides that a server is up."""

    check: CheckKind | None = None
    """How a server is checked: none, tcp (connect), tls (handshake), ssl-hello (HAProxy
    ``option ssl-hello-chk``: a TLS hello and any TLS answer, even an alert, passes; kept for
    configs that use it, prefer tls), http or https (GET path, status in expect)."""
    path: HttpPath | None = None
    """The HTTP path an http/https check requests, e.g. /readyz."""
    expect: Annotated[list[StatusCode], Field(min_length=1)] | None = None
    """HTTP status codes (100-599) that count as healthy."""
    expect_body: ExpectBody | None = None
    """A string the answer of an http/https check must contain (HAProxy ``http-check expect
    string``, e.g. ``ok`` from /readyz); checked besides ``expect``: set ``expect: null`` to
    accept any status."""
    interval: Duration | None = None
    """Time between checks of a server that is up (HAProxy inter), with a unit: 5s."""
    fast_interval: Duration | None = None
    """Time between checks while a server changes state (HAProxy fastinter)."""
    down_interval: Duration | None = None
    """Time between checks of a server that is down (HAProxy downinter)."""
    rise: AtLeastOne | None = None
    """Consecutive passed checks that bring a server up (>= 1)."""
    fall: AtLeastOne | None = None
    """Consecutive failed checks that take a server down (>= 1)."""
    timeout: Duration | None = None
    """How long one check may take (HAProxy timeout check)."""
    client_cert: CertPath | None = None
    """PEM file (certificate + key) the check presents: clusters with anonymous auth off
    answer /readyz with 401."""
    sni: DnsName | None = None
    """Server name sent in the check's TLS hello."""
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    """Check this port instead of the server's traffic port (1-65535), e.g. an API server
    whose health endpoint listens apart."""


class PoolTimeouts(Model):
    """Timeouts that belong to the server side of a proxy."""

    connect: Duration | None = None
    """How long to wait for a TCP connection to a server."""
    server: Duration | None = None
    """Idle timeout on the server side; under 5 minutes it cuts watches (kubectl get -w)."""
    tunnel: Duration | None = None
    """Idle timeout of an established TCP tunnel (HAProxy timeout tunnel)."""
    server_fin: Duration | None = None
    """How long a half-closed server connection may linger."""
    queue: Duration | None = None
    """How long a connection may wait for a free server slot (maxconn)."""


class FrontendTimeouts(Model):
    """Timeouts that belong to the client side of a proxy."""

    client: Duration | None = None
    """Idle timeout on the client side; under 5 minutes it cuts watches (kubectl get -w)."""
    client_fin: Duration | None = None
    """How long a half-closed client connection may linger."""


class Timeouts(PoolTimeouts, FrontendTimeouts):
    """All timeouts, as the ``defaults`` block carries them."""


class ServerParams(Model):
    """Fields a server inherits from its pool and from ``defaults``."""

    slowstart: Duration | None = None
    """Ramp a server's weight up over this time after it comes back."""
    maxconn: Count | None = None
    """Most connections per server at once (0 = unlimited)."""
    maxqueue: Count | None = None
    """Most connections queued for one server (0 = unlimited)."""
    weight: Weight | None = None
    """0-256, or on servers a percentage "10%" (then every non-backup server of the pool
    has one, summing to 100%)."""


class PoolParams(ServerParams):
    """Fields a pool inherits from ``defaults``."""

    balance: Balance | None = None
    """Load-balancing algorithm: roundrobin, static-rr, leastconn, first, source or random."""
    health: Health = Health.model_construct()
    """The active health check of every server, field by field."""
    retries: Count | None = None
    """Connection attempts to a server before giving up on it."""
    redispatch: bool | None = None
    """Retry a failed connection on another server."""
    start_unresolved: bool | None = None
    """``true`` (unset): HAProxy starts when a server's DNS name does not resolve (``init-addr
    last,libc,none``: the server waits, disabled, for the next reload); ``false``: HAProxy's own
    behaviour, it refuses to start until every name resolves (nginx always does)."""


class Defaults(PoolParams):
    """The ``defaults`` block: inherited field by field by every pool and frontend."""

    timeouts: Timeouts = Timeouts.model_construct()
    """Timeouts inherited by every pool (server side) and frontend (client side)."""
    log_format: Literal["tcplog", "none"] | None = None
    """What a connection's log line says: tcplog (HAProxy ``option tcplog``: timers, bytes,
    states) or none (HAProxy's minimal default line); unset: tcplog. Only with a log target."""
    dontlognull: bool | None = None
    """``false``: log connections that sent no data too (port probes, health checkers);
    unset or ``true``: HAProxy ``option dontlognull`` leaves them out."""
    extra: Extra = Extra.model_construct()
    """Verbatim directives for the engine's defaults (HAProxy ``defaults``, nginx ``stream {}``);
    not inherited field by field: the engine applies them as it applies its own."""


class Server(ServerParams):
    """One upstream API server."""

    address: ServerAddress
    """host:port, [ipv6]:port or dns-name:port of the API server."""
    backup: bool | None = None
    """Receives traffic only when no non-backup server is up."""
    disabled: bool | None = None
    """Kept in the config but sent no traffic (maintenance)."""
    extra: Extra = Extra.model_construct()
    """Verbatim parameters appended to this server's line, per engine."""


def _server_shorthand(value: Any) -> Any:
    return {"address": value} if isinstance(value, str) else value


ServerEntry = Annotated[
    Server, BeforeValidator(_server_shorthand, json_schema_input_type=Server | ServerAddress)
]


class Pool(PoolParams):
    """A pool of servers (HAProxy backend, nginx upstream)."""

    servers: Annotated[dict[Name, ServerEntry], Field(min_length=1)]
    """The API servers by name: "host:port" or a mapping with an address."""
    timeouts: PoolTimeouts = PoolTimeouts.model_construct()
    """Server-side timeouts; override defaults.timeouts."""
    extra: Extra = Extra.model_construct()
    """Verbatim directives for this pool's block (HAProxy ``backend``, nginx ``upstream``)."""


class Frontend(Model):
    """A listener that sends its connections to one pool."""

    bind: Annotated[list[BindAddress], Field(min_length=1)]
    """Addresses to listen on: host:port, [ipv6]:port or :port (every address). ``[::]:port`` is
    dual-stack (IPv4 clients too) unless ``v6only`` is set or the spec also binds ``:port``."""
    v6only: bool | None = None
    """``true``: ``[::]:port`` binds of this frontend accept IPv6 clients only (HAProxy
    ``v6only``, nginx ``ipv6only=on``); unset, they are dual-stack."""
    pool: Name
    """The pool (a key of pools) that receives this frontend's connections."""
    mode: FrontendMode = "tcp"
    """tcp (http with routes is planned, and rejected for now)."""
    timeouts: FrontendTimeouts = FrontendTimeouts.model_construct()
    """Client-side timeouts; override defaults.timeouts."""
    extra: Extra = Extra.model_construct()
    """Verbatim directives for this listener (HAProxy ``frontend``, nginx stream ``server {}``)."""

    @field_validator("mode")
    @classmethod
    def _only_tcp(cls, value: str) -> str:
        if value == "http":
            raise PydanticCustomError(
                "mode-unsupported",
                "mode 'http' (with routes) is planned but not supported in spec version 1; "
                "use 'tcp' (the default)",
            )
        return value


def _check_stats_auth(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("type", 'must be a string "user:password"')
    if not grammar.STATS_AUTH.matches(value):
        # The entry itself is not shown: it holds a password, and this message reaches CI and
        # Ansible logs (a vault-encrypted variable would be printed decrypted).
        user, colon, _ = value.partition(":")
        entry = f"the entry of user {shown_value(user)}" if colon else "the entry (no ':' in it)"
        raise PydanticCustomError(
            "value",
            '{entry} is not "user:password": a user of 1-64 of A-Z a-z 0-9 _ . @ + -, a password '
            "of 1-256 of A-Z a-z 0-9 _ . , / @ : + = ~ ! % ^ * ( ) ? - (no whitespace, quotes or "
            "'#'){why}",
            {"entry": entry, "why": why_unusable(value)},
        )
    return value


StatsAuth = Annotated[
    str,
    Check(_check_stats_auth),
    grammar_schema(grammar.STATS_AUTH),
]


class Stats(Model):
    """HAProxy's stats page (and Prometheus /metrics)."""

    bind: BindAddress
    """Where the stats page listens, host:port."""
    prometheus: bool = False
    """Also serve Prometheus metrics at /metrics."""
    uri: HttpPath | None = None
    """The path of the stats page (HAProxy ``stats uri``); unset: /stats."""
    refresh: Duration | None = None
    """How often the page reloads itself (HAProxy ``stats refresh``); unset: 10s; ``null``:
    no reloading."""
    auth: Annotated[list[StatsAuth], Field(min_length=1)] | None = None
    """"user:password" pairs allowed to see the page (HTTP basic auth, HAProxy ``stats
    auth``); written into the config as given."""
    admin: bool | None = None
    """``true``: the page's admin controls (drain, disable servers) are on for everyone who
    can see it (HAProxy ``stats admin if TRUE``); protect it with ``auth``."""
    hide_version: bool | None = None
    """``true``: the page does not show HAProxy's version (``stats hide-version``)."""
    monitor_uri: HttpPath | None = None
    """A liveness path the stats page's listener answers with 200 too (HAProxy
    ``monitor-uri`` beside the stats page, as some installers write it); see also
    ``global.health`` for a listener of its own."""
    timeout: Duration | None = None
    """Idle timeout of a client of the stats page (HAProxy ``timeout client`` of its
    frontend); unset: 30s."""


class LbHealth(Model):
    """The load balancer's own liveness endpoint."""

    bind: BindAddress | Annotated[list[BindAddress], Field(min_length=1)]
    """Where the liveness endpoint listens: host:port, or a list of them (``[":8081",
    "[::]:8081"]``, as installers that bind IPv4 and IPv6 separately write)."""
    v6only: bool | None = None
    """``true``: ``[::]:port`` binds of the endpoint accept IPv6 clients only; unset: dual-stack."""
    path: HttpPath = "/healthz"
    """The liveness path: answers 200 while the load balancer runs (what a kubelet liveness
    probe asks; it never fails because the API servers are down)."""
    ready_path: HttpPath | None = "/readyz"
    """The readiness path: HAProxy answers 200 while every pool a frontend sends to has a
    usable server and 503 otherwise (the ``vip`` tier's ``lbgen_ready`` check polls it);
    nginx, which cannot know, answers it like ``path``. ``null``: no readiness path."""
    extra: Extra = Extra.model_construct()
    """Verbatim directives inside the endpoint's own listener, per engine (the escape hatch):
    HAProxy lines in its health frontend; nginx statements in an ``http {}`` server, which the
    endpoint then is (``location /stub_status { stub_status on; }``, full layout only)."""
    timeout: Duration | None = None
    """Idle timeout of a client of the liveness endpoint (HAProxy ``timeout client`` of its
    frontend); unset: 5s."""


#: The named log targets (LOG_TARGET's words: no need to compile it for them).
LOG_WORDS = ("stdout", "none", "syslog")


def _check_log(value: Any) -> str:
    if isinstance(value, str) and (value in LOG_WORDS or grammar.LOG_TARGET.matches(value)):
        return value
    shown = shown_value(value) if isinstance(value, str) else repr(value)
    why = why_unusable(value) if isinstance(value, str) else ""
    if isinstance(value, str) and value.startswith("udp://") and not why:
        try:
            parse_host_port(value.removeprefix("udp://"), allow_empty_host=False)
        except AddressError as exc:
            why = f"; {exc}"
    raise PydanticCustomError(
        "value", "log must be stdout, none, syslog or \"udp://host:port\" (got {value}){why}",
        {"value": shown, "why": why},
    )  # fmt: skip


LogTarget = Annotated[str, Check(_check_log), grammar_schema(grammar.LOG_TARGET)]


LogFacility = Literal[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "auth2", "ftp", "ntp", "audit", "alert", "cron2",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
]  # fmt: skip
LogLevel = Literal["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
LogFormat = Literal["local", "rfc3164", "rfc5424", "priority", "short", "timed", "iso", "raw"]


class LogEntry(Model):
    """One log target with its syslog facility, levels and format."""

    target: LogTarget
    """Where: stdout, none, syslog (/dev/log) or "udp://host:port"."""
    facility: LogFacility | None = None
    """The syslog facility of the messages (HAProxy's names); unset: local0 (nginx: its own
    default, local7)."""
    level: LogLevel | None = None
    """The least severe level sent (HAProxy's max level); unset: every level."""
    min_level: LogLevel | None = None
    """The most severe level sent (HAProxy's min level); needs ``level``."""
    format: LogFormat | None = None
    """The syslog header format (HAProxy ``format``); unset: raw on stdout, rfc3164
    elsewhere."""

    @field_validator("min_level")
    @classmethod
    def _min_needs_max(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("level") is None:
            raise PydanticCustomError("value", "min_level needs level (the least severe level)")
        return value


def _log_shorthand(value: Any) -> Any:
    return {"target": value} if isinstance(value, str) else value


LogItem = Annotated[
    LogEntry, BeforeValidator(_log_shorthand, json_schema_input_type=LogEntry | LogTarget)
]


def _log_shape(value: Any) -> str:
    # Tags in parentheses: no spec key is spelt so, and the loader drops them from error paths.
    if isinstance(value, list):
        return "(list)"
    # A LogEntry too: serialising a loaded spec (its digest) asks with the model.
    return "(entry)" if isinstance(value, dict | LogEntry) else "(target)"


LogTargets = Annotated[
    Annotated[LogTarget, Tag("(target)")]
    | Annotated[LogEntry, Tag("(entry)")]
    | Annotated[list[LogItem], Field(min_length=1), Tag("(list)")],
    Discriminator(_log_shape),
]
"""``global.log``: a target, a target with its facility/levels/format, or a list of them."""


class Global(Model):
    """Engine process settings."""

    maxconn: Count | None = None
    """Most connections the engine process accepts at once."""
    log: LogTargets | None = None
    """Where the engine logs: stdout, none, syslog (/dev/log) or "udp://host:port"; or a
    mapping with ``target``, ``facility``, ``level``, ``min_level`` and ``format``; or a
    list of either (one log line each)."""
    stats: Stats | None = None
    """HAProxy's stats page (and Prometheus /metrics)."""
    health: LbHealth | None = None
    """The load balancer's own liveness endpoint."""
    extra: GlobalExtra = GlobalExtra.model_construct()
    """Verbatim process directives and whole extra sections, per engine (the escape hatch)."""


class Spec(Model):
    """A whole spec file, version 1."""

    version: Literal[1]
    """The spec format version: 1."""
    name: Name | None = None
    """A name for this load balancer, shown in the provenance header."""
    global_: Global = Field(Global.model_construct(), alias="global")
    """Settings of the engine process: maxconn, log, stats page, liveness endpoint."""
    defaults: Defaults = Defaults.model_construct()
    """Inherited field by field by every pool, server and frontend."""
    frontends: Annotated[dict[Name, Frontend], Field(min_length=1)]
    """Listeners by name, each sending its connections to one pool."""
    pools: Annotated[dict[Name, Pool], Field(min_length=1)]
    """Pools of API servers by name (HAProxy backends, nginx upstreams)."""
    vip: Vip | None = None
    """A highly available tier: the nodes sharing virtual IPs, for the keepalived target."""

    model_config = ConfigDict(populate_by_name=True)

    @field_validator("version", mode="before")
    @classmethod
    def _version_not_a_bool(cls, value: Any) -> Any:
        """``version: true`` is not 1: Python's True equals 1, and a literal 1 would take it."""
        if isinstance(value, bool):
            raise PydanticCustomError(
                "value", "must be 1 (got {given})", {"given": str(value).lower()}
            )
        return value

    # Set by the loader: the file name, key/value positions and load warnings (a LoadedSpec).
    _loaded: Any = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        # Two specs are equal when their settings are: where each was loaded from is not part of
        # the spec, and the loader's record points back at the spec (pydantic's own __eq__, which
        # compares private attributes too, would recurse through it forever).
        if not isinstance(other, Spec):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable, like every other model here
