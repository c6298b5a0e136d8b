"""The field registry: one row per leaf field of the spec, the one list every module reads.

A row names a field by its dotted path relative to the block it is set in (its *scope*):

- ``spec``: the document's own fields (``version``, ``name``);
- ``global``: the ``global`` block; these paths keep their ``global.`` prefix so that every
  path names one field (``global.maxconn`` is the process limit, ``maxconn`` a server's);
- ``defaults``, ``pool``, ``server``: the fields a pool inherits from ``defaults`` and a server
  from its pool (``balance``, ``weight``, ``health.interval``, ``timeouts.connect`` ...);
- ``frontend``: a listener's fields (``bind``, ``pool``, ``timeouts.client`` ...).

A field that may be set at several levels lists each of them (``weight``: defaults, pool and
server). Paths are exactly the attribute names of :mod:`lbgen.spec.models` joined with ``.``
(``global_`` is spelt as its YAML key, ``global``); ``tests/test_fields.py`` holds the
registry and the models against each other in both directions. The directive tables of the
engine packages (:mod:`lbgen.directives`) name their fields with these paths.

A row carries what is needed to handle the field without knowing it by name: its kind (a
duration, a count, one of some choices ...), the unit its resolved value has, the choices of an
enumerated field. Its description is the model's docstring (:attr:`Field.doc`), not a copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Any, get_args, get_origin

from lbgen.frozen import record
from lbgen.spec.models import (
    LOG_WORDS,
    Balance,
    CheckKind,
    Defaults,
    Frontend,
    FrontendMode,
    Global,
    Pool,
    Server,
    Spec,
)


class Scope(StrEnum):
    """A block of the spec a field may be set in."""

    SPEC = "spec"
    GLOBAL = "global"
    DEFAULTS = "defaults"
    POOL = "pool"
    SERVER = "server"
    FRONTEND = "frontend"
    VIP = "vip"
    """The ``vip`` block of a highly available tier; its paths keep their ``vip.`` prefix, and
    the fields of each entry of ``vip.nodes`` are spelt ``vip.nodes.name`` ..."""


class Kind(StrEnum):
    """What values a field takes (the spec type of :mod:`lbgen.spec.models` it is declared with)."""

    DURATION = "duration"
    """A duration text with a unit (``5s``), resolved to microseconds."""
    COUNT = "count"
    """An integer >= 0."""
    AT_LEAST_ONE = "at-least-one"
    """An integer >= 1."""
    BOOL = "bool"
    CHOICE = "choice"
    """One of :attr:`Field.choices`."""
    WEIGHT = "weight"
    """0..256, or on servers a percentage ``"10%"``."""
    STATUS_CODES = "status-codes"
    """A non-empty list of HTTP status codes 100..599."""
    SERVER_ADDRESS = "server-address"
    """``host:port``, ``[ipv6]:port`` or ``dns-name:port``."""
    BIND_ADDRESS = "bind-address"
    """``host:port``, ``[ipv6]:port`` or ``:port``."""
    BIND_ADDRESS_OR_LIST = "bind-address-or-list"
    """One bind address, or a non-empty list of them (``global.health.bind``)."""
    BIND_ADDRESSES = "bind-addresses"
    """A non-empty list of bind addresses."""
    NAME = "name"
    """A name: 1-63 of A-Z a-z 0-9 _ . - (a key of ``pools`` for ``frontend.pool``)."""
    HTTP_PATH = "http-path"
    CERT_PATH = "cert-path"
    EXPECT_BODY = "expect-body"
    """A string a check's answer must contain (no space, quote or regex character)."""
    DNS_NAME = "dns-name"
    LOG_TARGET = "log-target"
    """One of :attr:`Field.choices` (``stdout``, ``none``, ``syslog``) or ``udp://host:port``."""
    LOG_TARGETS = "log-targets"
    """A log target, a mapping with ``target``, ``facility``, ``level``, ``min_level`` and
    ``format``, or a non-empty list of either (``global.log``)."""
    STATS_AUTHS = "stats-auths"
    """A non-empty list of ``user:password`` pairs."""
    INTEGER = "integer"
    """An integer in a range the model states (VRRP priority, router id, track weight)."""
    VIP_ADDRESSES = "vip-addresses"
    """One or two virtual IPs (one per family), each an address with an optional prefix."""
    NODE_ADDRESSES = "node-addresses"
    """A node's own address, or one of each family."""
    NODE_NAME = "node-name"
    """The name of a node of the tier (keepalived's router_id)."""
    INTERFACE = "interface"
    """A Linux network interface name."""
    AUTH_PASS = "auth-pass"
    """A VRRPv2 password of at most 8 characters."""
    EXTRA = "extra"
    """Verbatim engine directives, one per item (the escape hatch, :mod:`lbgen.extra`)."""
    EXTRA_SECTIONS = "extra-sections"
    """Whole verbatim engine sections: header -> its directives."""


@record
class Field:
    """One leaf field of the spec."""

    path: str
    """Dotted path relative to the field's scope block (``health.interval``, ``global.log``)."""
    scopes: tuple[Scope, ...]
    """Every block the field may be set in, outermost first."""
    kind: Kind
    unit: str | None = None
    """The unit of the resolved value (``us`` for durations), when it has one."""
    choices: tuple[Any, ...] = ()
    """The values of an enumerated field (``CHOICE``), the named values of ``LOG_TARGET``."""

    @property
    def name(self) -> str:
        """The last part of the path (``interval`` for ``health.interval``)."""
        return self.path.rpartition(".")[2]

    @property
    def block(self) -> str:
        """The block the field sits in inside its scope (``health``), ``""`` for none."""
        return self.path.rpartition(".")[0]

    @property
    def doc(self) -> str | None:
        """The field's description: the docstring under it in :mod:`lbgen.spec.models`."""
        from lbgen.spec.docstrings import field_description

        model: Any = _SCOPE_MODELS[self.scopes[-1]]
        parts = self.path.split(".")
        if self.scopes[-1] is Scope.GLOBAL:
            model, parts = Spec, ["global_", *parts[1:]]
        elif self.scopes[-1] is Scope.VIP:
            model = Spec
        for part in parts[:-1]:
            model = _model_of(model.model_fields[part].annotation)
        description: str | None = field_description(model, parts[-1])
        return description


_DEFAULTS_POOL = (Scope.DEFAULTS, Scope.POOL)
_INHERITED_BY_SERVERS = (Scope.DEFAULTS, Scope.POOL, Scope.SERVER)
_CLIENT_SIDE = (Scope.DEFAULTS, Scope.FRONTEND)
_US = "us"
_EXTRA_SCOPES = (Scope.DEFAULTS, Scope.POOL, Scope.SERVER, Scope.FRONTEND)


def _duration(path: str, scopes: tuple[Scope, ...]) -> Field:
    return Field(path, scopes, Kind.DURATION, unit=_US)


#: Every leaf field of the spec. The order is the order ``lbgen explain`` lists a block's fields
#: in and the order of the derived tuples below (pool settings, health, timeouts, then the
#: settings servers inherit).
FIELDS: tuple[Field, ...] = (
    Field("version", (Scope.SPEC,), Kind.CHOICE, choices=(1,)),
    Field("name", (Scope.SPEC,), Kind.NAME),
    Field("global.maxconn", (Scope.GLOBAL,), Kind.COUNT, unit="connections"),
    Field("global.log", (Scope.GLOBAL,), Kind.LOG_TARGETS, choices=LOG_WORDS),
    Field("global.stats.bind", (Scope.GLOBAL,), Kind.BIND_ADDRESS),
    Field("global.stats.prometheus", (Scope.GLOBAL,), Kind.BOOL),
    Field("global.stats.uri", (Scope.GLOBAL,), Kind.HTTP_PATH),
    _duration("global.stats.refresh", (Scope.GLOBAL,)),
    Field("global.stats.auth", (Scope.GLOBAL,), Kind.STATS_AUTHS),
    Field("global.stats.admin", (Scope.GLOBAL,), Kind.BOOL),
    Field("global.stats.hide_version", (Scope.GLOBAL,), Kind.BOOL),
    Field("global.stats.monitor_uri", (Scope.GLOBAL,), Kind.HTTP_PATH),
    _duration("global.stats.timeout", (Scope.GLOBAL,)),
    Field("global.health.bind", (Scope.GLOBAL,), Kind.BIND_ADDRESS_OR_LIST),
    Field("global.health.path", (Scope.GLOBAL,), Kind.HTTP_PATH),
    Field("global.health.ready_path", (Scope.GLOBAL,), Kind.HTTP_PATH),
    Field("global.health.v6only", (Scope.GLOBAL,), Kind.BOOL),
    Field("global.health.extra.haproxy", (Scope.GLOBAL,), Kind.EXTRA),
    Field("global.health.extra.nginx", (Scope.GLOBAL,), Kind.EXTRA),
    _duration("global.health.timeout", (Scope.GLOBAL,)),
    Field("global.extra.haproxy", (Scope.GLOBAL,), Kind.EXTRA),
    Field("global.extra.nginx", (Scope.GLOBAL,), Kind.EXTRA),
    Field("global.extra.haproxy_sections", (Scope.GLOBAL,), Kind.EXTRA_SECTIONS),
    Field("global.extra.nginx_sections", (Scope.GLOBAL,), Kind.EXTRA_SECTIONS),
    Field("balance", _DEFAULTS_POOL, Kind.CHOICE, choices=get_args(Balance)),
    Field("retries", _DEFAULTS_POOL, Kind.COUNT, unit="attempts"),
    Field("redispatch", _DEFAULTS_POOL, Kind.BOOL),
    Field("start_unresolved", _DEFAULTS_POOL, Kind.BOOL),
    Field("health.check", _DEFAULTS_POOL, Kind.CHOICE, choices=get_args(CheckKind)),
    Field("health.path", _DEFAULTS_POOL, Kind.HTTP_PATH),
    Field("health.expect", _DEFAULTS_POOL, Kind.STATUS_CODES),
    Field("health.expect_body", _DEFAULTS_POOL, Kind.EXPECT_BODY),
    _duration("health.interval", _DEFAULTS_POOL),
    _duration("health.fast_interval", _DEFAULTS_POOL),
    _duration("health.down_interval", _DEFAULTS_POOL),
    Field("health.rise", _DEFAULTS_POOL, Kind.AT_LEAST_ONE, unit="checks"),
    Field("health.fall", _DEFAULTS_POOL, Kind.AT_LEAST_ONE, unit="checks"),
    _duration("health.timeout", _DEFAULTS_POOL),
    Field("health.client_cert", _DEFAULTS_POOL, Kind.CERT_PATH),
    Field("health.sni", _DEFAULTS_POOL, Kind.DNS_NAME),
    Field("health.port", _DEFAULTS_POOL, Kind.INTEGER),
    _duration("timeouts.connect", _DEFAULTS_POOL),
    _duration("timeouts.server", _DEFAULTS_POOL),
    _duration("timeouts.tunnel", _DEFAULTS_POOL),
    _duration("timeouts.server_fin", _DEFAULTS_POOL),
    _duration("timeouts.queue", _DEFAULTS_POOL),
    Field("weight", _INHERITED_BY_SERVERS, Kind.WEIGHT),
    _duration("slowstart", _INHERITED_BY_SERVERS),
    Field("maxconn", _INHERITED_BY_SERVERS, Kind.COUNT, unit="connections"),
    Field("maxqueue", _INHERITED_BY_SERVERS, Kind.COUNT, unit="connections"),
    Field("address", (Scope.SERVER,), Kind.SERVER_ADDRESS),
    Field("backup", (Scope.SERVER,), Kind.BOOL),
    Field("disabled", (Scope.SERVER,), Kind.BOOL),
    Field("bind", (Scope.FRONTEND,), Kind.BIND_ADDRESSES),
    Field("pool", (Scope.FRONTEND,), Kind.NAME),
    Field("v6only", (Scope.FRONTEND,), Kind.BOOL),
    Field("mode", (Scope.FRONTEND,), Kind.CHOICE, choices=get_args(FrontendMode)),
    Field("extra.haproxy", _EXTRA_SCOPES, Kind.EXTRA),
    Field("extra.nginx", _EXTRA_SCOPES, Kind.EXTRA),
    _duration("timeouts.client", _CLIENT_SIDE),
    _duration("timeouts.client_fin", _CLIENT_SIDE),
    Field("log_format", (Scope.DEFAULTS,), Kind.CHOICE, choices=("tcplog", "none")),
    Field("dontlognull", (Scope.DEFAULTS,), Kind.BOOL),
    Field("vip.addresses", (Scope.VIP,), Kind.VIP_ADDRESSES),
    Field("vip.nodes.name", (Scope.VIP,), Kind.NODE_NAME),
    Field("vip.nodes.address", (Scope.VIP,), Kind.NODE_ADDRESSES),
    Field("vip.nodes.priority", (Scope.VIP,), Kind.INTEGER),
    Field("vip.interface", (Scope.VIP,), Kind.INTERFACE),
    Field("vip.virtual_router_id", (Scope.VIP,), Kind.INTEGER),
    _duration("vip.advert_interval", (Scope.VIP,)),
    Field("vip.version", (Scope.VIP,), Kind.CHOICE, choices=(2, 3)),
    Field("vip.unicast", (Scope.VIP,), Kind.BOOL),
    Field("vip.auth_pass", (Scope.VIP,), Kind.AUTH_PASS),
    Field("vip.preempt", (Scope.VIP,), Kind.BOOL),
    _duration("vip.preempt_delay", (Scope.VIP,)),
    Field("vip.track.weight", (Scope.VIP,), Kind.INTEGER),
    _duration("vip.track.interval", (Scope.VIP,)),
    Field("vip.track.fall", (Scope.VIP,), Kind.INTEGER, unit="checks"),
    Field("vip.track.rise", (Scope.VIP,), Kind.INTEGER, unit="checks"),
    _duration("vip.track.timeout", (Scope.VIP,)),
)

BY_PATH: Mapping[str, Field] = MappingProxyType({f.path: f for f in FIELDS})
"""Every field by its path."""


def field(path: str) -> Field:
    """The field at ``path`` (``health.interval``, ``global.log``); KeyError when none is."""
    return BY_PATH[path]


def in_scope(scope: Scope | str, block: str | None = None) -> tuple[Field, ...]:
    """The fields that may be set in ``scope``, in registry order; with ``block``, only those of
    that block (``"health"``; ``""`` for the scope's own top-level fields)."""
    scope = Scope(scope)
    return tuple(f for f in FIELDS if scope in f.scopes and (block is None or f.block == block))


def names(scope: Scope | str, block: str) -> tuple[str, ...]:
    """The names of the fields of ``block`` in ``scope``: ``names("pool", "health")`` ->
    ``("check", "path", ...)``."""
    return tuple(f.name for f in in_scope(scope, block))


#: Where each top-level spec key and each named map's entries set fields.
_MAPS: Mapping[str, Scope] = {"frontends": Scope.FRONTEND, "pools": Scope.POOL}


def locate(path: Sequence[str | int]) -> tuple[Scope, Field] | None:
    """The scope and field of a full spec path (``("pools", "cp", "servers", "m1", "weight")``
    -> server ``weight``; ``("frontends", "api", "bind", 0)`` -> frontend ``bind``), or None when
    the path is not at or inside a leaf field."""
    parts = [p for p in path if isinstance(p, str)]
    if not parts:
        return None
    head = parts[0]
    if head == "global":
        scope, rest = Scope.GLOBAL, parts
    elif head == "defaults":
        scope, rest = Scope.DEFAULTS, parts[1:]
    elif head == "vip":  # vip paths keep their prefix; a node's index is not part of the name
        scope, rest = Scope.VIP, parts
    elif head in _MAPS and len(parts) >= 2:
        scope, rest = _MAPS[head], parts[2:]
        if scope is Scope.POOL and rest[:1] == ["servers"]:
            if len(rest) < 2:
                return None
            scope, rest = Scope.SERVER, rest[2:]
    else:
        scope, rest = Scope.SPEC, parts
    found = BY_PATH.get(".".join(rest))
    return (scope, found) if found is not None and scope in found.scopes else None


def _model_of(annotation: Any) -> Any:
    """The model class in ``X | None``."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type):
            return candidate
        if get_origin(candidate) is list:  # a list of blocks (vip.nodes): its entries' model
            return _model_of(get_args(candidate)[0])
    raise TypeError(annotation)  # pragma: no cover - the registry test walks every path


_SCOPE_MODELS: Mapping[Scope, Any] = {
    Scope.SPEC: Spec,
    Scope.GLOBAL: Global,
    Scope.DEFAULTS: Defaults,
    Scope.POOL: Pool,
    Scope.SERVER: Server,
    Scope.FRONTEND: Frontend,
    Scope.VIP: Spec,
}

__all__ = ["BY_PATH", "FIELDS", "Field", "Kind", "Scope", "field", "in_scope", "locate", "names"]
