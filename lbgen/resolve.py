"""Apply defaults: Spec -> Resolved, the engine-neutral view every target renders from.

Each field is taken from the innermost layer that sets it (server, pool, ``defaults``, built-in),
field by field, so a pool that sets only ``health.path`` keeps every other ``health`` field.
Percent weights become integer weights and durations become microseconds, once, here.
Every resolved value remembers the spec path that set it (``sources``), so that a target can
point its warnings at the line the user wrote, or knows the value is a built-in default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any, TypeVar, TypeVarTuple

from pydantic import BaseModel

from lbgen.diagnostics import Diagnostic, Level
from lbgen.frozen import record
from lbgen.spec import fields
from lbgen.spec.fields import Scope
from lbgen.spec.layers import BUILTIN_DEFAULTS, Layer, pick
from lbgen.spec.load import LoadedSpec, loaded_of
from lbgen.spec.models import Extra, GlobalExtra, LogEntry, Spec, Stats
from lbgen.spec.source import Path_, SpecSource
from lbgen.spec.vip import Vip
from lbgen.units import HostPort, parse_duration, parse_host_port

Sources = Mapping[str, Path_]
_T = TypeVar("_T")
_Args = TypeVarTuple("_Args")


def _us(value: str | None) -> int | None:
    return None if value is None else parse_duration(value)


def _resolve_block(
    names: tuple[str, ...], layers: list[Layer], fallback: BaseModel
) -> tuple[dict[str, Any], dict[str, Path_]]:
    values: dict[str, Any] = {}
    sources: dict[str, Path_] = {}
    for name in names:
        value, source = pick(name, layers, fallback)
        values[name] = value
        if source is not None:
            sources[name] = source
    return values, sources


@record
class ResolvedHealth:
    """Health check settings; durations in microseconds."""

    check: str | None
    path: str | None
    expect: tuple[int, ...] | None
    interval: int | None
    fast_interval: int | None
    down_interval: int | None
    rise: int | None
    fall: int | None
    timeout: int | None
    client_cert: str | None
    sni: str | None
    port: int | None
    expect_body: str | None = None
    sources: Sources = field(default_factory=dict, compare=False)


@record
class ResolvedServer:
    """One server with every inherited field filled in."""

    name: str
    address: HostPort
    weight: int | None
    slowstart: int | None
    maxconn: int | None
    maxqueue: int | None
    backup: bool
    disabled: bool
    path: Path_
    sources: Sources = field(default_factory=dict, compare=False)
    extra: Extra = field(default_factory=Extra.model_construct)
    """The escape hatch: verbatim parameters per engine (not inherited)."""

    @property
    def is_dns(self) -> bool:
        """True when the address is a DNS name, resolved by the engine."""
        return self.address.family == "dns"


@record
class ResolvedPool:
    """A pool with its settings resolved against ``defaults`` and the built-ins."""

    name: str
    balance: str | None
    health: ResolvedHealth
    retries: int | None
    redispatch: bool | None
    timeouts: Mapping[str, int | None]
    servers: tuple[ResolvedServer, ...]
    #: weight, slowstart, maxconn, maxqueue as the pool resolves them before any server override.
    server_defaults: Mapping[str, int | None]
    path: Path_
    sources: Sources = field(default_factory=dict, compare=False)
    extra: Extra = field(default_factory=Extra.model_construct)
    #: ``start_unresolved``: unset is true (lbgen's default).
    start_unresolved: bool = True


@record
class Bind:
    """One listening address of a frontend."""

    address: HostPort
    text: str
    #: The spec says v6only: a ``[::]:port`` bind accepts IPv6 clients only. Otherwise it is
    #: dual-stack, except that nginx needs ipv6only=on beside an IPv4 wildcard on its port.
    v6only: bool = False


@record
class ResolvedFrontend:
    """A frontend, its listeners and client-side timeouts."""

    name: str
    binds: tuple[Bind, ...]
    pool: str
    mode: str
    timeouts: Mapping[str, int | None]
    path: Path_
    sources: Sources = field(default_factory=dict, compare=False)
    extra: Extra = field(default_factory=Extra.model_construct)


@record
class ResolvedLog:
    """One log target: where, the syslog facility, the level range and the header format.

    ``facility`` None is the engine's own (HAProxy needs one: lbgen writes local0; nginx:
    local7); ``format`` None is the engine's own (HAProxy: rfc3164); ``stdout`` without one is
    ``raw``.
    """

    target: str
    facility: str | None = None
    level: str | None = None
    min_level: str | None = None
    format: str | None = None


@record
class ResolvedStats:
    """The stats page's settings beyond its address (``global.stats``)."""

    uri: str = "/stats"
    refresh: int | None = 10_000_000
    """Microseconds; None: no ``stats refresh``."""
    auth: tuple[str, ...] = ()
    admin: bool = False
    hide_version: bool = False
    monitor_uri: str | None = None
    timeout: int | None = None
    """Microseconds; None: the engine view's own (HAProxy: 30s)."""


@record
class ResolvedGlobal:
    """Process-level settings."""

    maxconn: int | None
    log: str | None
    """The first log target (``none`` or None: no logging)."""
    stats_bind: HostPort | None
    stats_prometheus: bool
    health_bind: HostPort | None
    health_path: str
    #: ``global.health.ready_path`` (None: no readiness path, or no ``global.health``).
    health_ready_path: str | None = None
    #: The spec sets ``global.health.ready_path`` itself (an engine that cannot answer it warns).
    health_ready_path_set: bool = False
    #: Every ``global.health.bind`` (``health_bind`` is the first).
    health_binds: tuple[Bind, ...] = ()
    #: Every log target with its facility, levels and format (``none`` left out).
    logs: tuple[ResolvedLog, ...] = ()
    stats: ResolvedStats = ResolvedStats()
    #: ``defaults.log_format``: ``tcplog`` (HAProxy ``option tcplog``) or ``none``.
    log_format: str = "tcplog"
    #: ``defaults.dontlognull``.
    dontlognull: bool = True
    extra: GlobalExtra = field(default_factory=GlobalExtra.model_construct)
    #: ``global.health.extra``: verbatim directives inside the liveness endpoint's listener.
    health_extra: Extra = field(default_factory=Extra.model_construct)
    #: ``global.health.timeout`` in microseconds; None: the engine view's own (HAProxy: 5s).
    health_timeout: int | None = None


@record
class Resolved:
    """The whole spec with defaults applied, ready for a target view."""

    name: str | None
    digest: str
    global_: ResolvedGlobal
    frontends: tuple[ResolvedFrontend, ...]
    pools: tuple[ResolvedPool, ...]
    source: SpecSource
    load_diagnostics: tuple[Diagnostic, ...]
    vip: Vip | None = None
    """The tier's ``vip`` section as written (its defaults are the model's own)."""
    defaults_extra: Extra = field(default_factory=Extra.model_construct)
    """``defaults.extra``: verbatim directives for the engine's defaults (not inherited here)."""

    def pool(self, name: str) -> ResolvedPool:
        """The pool called ``name``."""
        return next(p for p in self.pools if p.name == name)

    def diagnostic(
        self, level: Level, code: str, path: Path_, message: str, *, key: bool = False
    ) -> Diagnostic:
        """A diagnostic pointing at ``path`` in the spec file."""
        return self.source.diagnostic(level, code, path, message, key=key)


# The field lists, from the registry (lbgen.spec.fields), in its order.
HEALTH_FIELDS = fields.names(Scope.POOL, "health")
_HEALTH_DURATIONS = {f.name for f in fields.in_scope(Scope.POOL, "health") if f.unit == "us"}
#: What a server inherits from its pool: weight, slowstart, maxconn, maxqueue.
SERVER_PARAMS = tuple(
    f.name for f in fields.in_scope(Scope.POOL, "") if Scope.SERVER in f.scopes
)  # fmt: skip
#: A pool's own settings, not blocks and not inherited by servers: balance, retries, redispatch.
POOL_SETTINGS = tuple(
    f.name for f in fields.in_scope(Scope.POOL, "") if Scope.SERVER not in f.scopes
)  # fmt: skip
POOL_TIMEOUTS = fields.names(Scope.POOL, "timeouts")
FRONTEND_TIMEOUTS = fields.names(Scope.FRONTEND, "timeouts")


def canonical_json(spec: Spec) -> str:
    """The spec as compact JSON in spec order; what the provenance hash is taken of.

    Only fields the file set are included (an explicit ``null`` stays), so comments, layout and
    quoting do not change the hash but every meaningful edit does.
    """
    # pydantic-core writes the same text as json.dumps(model_dump(mode="json"), compact,
    # ensure_ascii=False) -- the golden outputs' digests pin it -- at a third of the cost.
    return spec.model_dump_json(by_alias=True, exclude_unset=True)


def spec_digest(spec: Spec) -> str:
    """SHA-256 of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(spec).encode("utf-8")).hexdigest()


def _weight(value: int | str | None) -> int | None:
    # "in one pool either all percentages or none" is checked at load time, so a percentage here
    # is one of a set that sums to 100: the number itself keeps the ratios exactly.
    if isinstance(value, str):
        return int(value.rstrip("%"))
    return value


def _once_per_spec(
    shared: dict[str, Any],
    key: str,
    inherits: bool,
    resolve: Callable[[*_Args], _T],
    *args: *_Args,
) -> _T:
    """``resolve(*args)``, shared through ``shared`` under ``key`` when its owner ``inherits`` the
    whole block: a block the owner sets nothing of resolves alike in every such owner, so it is
    resolved once per spec (the values are never mutated)."""
    if not inherits:
        return resolve(*args)
    if key not in shared:
        shared[key] = resolve(*args)
    value: _T = shared[key]
    return value


def _resolve_health(
    spec: Spec, pool_name: str, shared: dict[str, Any] | None = None
) -> ResolvedHealth:
    own = spec.pools[pool_name].health
    return _once_per_spec(
        {} if shared is None else shared, "health", not own.__pydantic_fields_set__,
        _resolve_health_block, spec, own, pool_name,
    )  # fmt: skip


def _resolve_health_block(spec: Spec, own: BaseModel, pool_name: str) -> ResolvedHealth:
    layers = [
        Layer(own, ("pools", pool_name, "health")),
        Layer(spec.defaults.health, ("defaults", "health")),
    ]
    values, sources = _resolve_block(HEALTH_FIELDS, layers, BUILTIN_DEFAULTS.health)
    for name in _HEALTH_DURATIONS:
        values[name] = _us(values[name])
    if values["expect"] is not None:
        values["expect"] = tuple(values["expect"])
    return ResolvedHealth(**values, sources=sources)


def _resolve_timeouts(
    names: tuple[str, ...], spec: Spec, own: BaseModel, path: Path_
) -> tuple[dict[str, int | None], dict[str, Path_]]:
    """A timeouts block (``own``, at ``path``) over ``defaults.timeouts``: values in µs, sources
    keyed ``timeouts.<name>``."""
    values, sources = _resolve_block(
        names,
        [Layer(own, (*path, "timeouts")), Layer(spec.defaults.timeouts, ("defaults", "timeouts"))],
        BUILTIN_DEFAULTS.timeouts,
    )  # fmt: skip
    return {k: _us(v) for k, v in values.items()}, {f"timeouts.{k}": v for k, v in sources.items()}


def _resolve_server_defaults(
    pool_layers: list[Layer],
) -> tuple[dict[str, Any], dict[str, Path_]]:
    params, sources = _resolve_block(SERVER_PARAMS, pool_layers, BUILTIN_DEFAULTS)
    server_defaults = {
        "weight": _weight(params["weight"]),
        "slowstart": _us(params["slowstart"]),
        "maxconn": params["maxconn"],
        "maxqueue": params["maxqueue"],
    }
    return server_defaults, sources


def _resolve_pool(spec: Spec, name: str, shared: dict[str, Any] | None = None) -> ResolvedPool:
    """``shared``: what pools that set nothing of a block share, filled as they are resolved."""
    pool = spec.pools[name]
    path: Path_ = ("pools", name)
    pool_layers = [Layer(pool, path), Layer(spec.defaults, ("defaults",))]
    shared = {} if shared is None else shared
    values, sources = _resolve_block(POOL_SETTINGS, pool_layers, BUILTIN_DEFAULTS)
    pool_timeouts, timeout_sources = _once_per_spec(
        shared, "pool_timeouts", not pool.timeouts.__pydantic_fields_set__,
        _resolve_timeouts, POOL_TIMEOUTS, spec, pool.timeouts, path,
    )  # fmt: skip
    sources.update(timeout_sources)
    server_defaults, pool_server_sources = _once_per_spec(
        shared, "server_defaults", pool.__pydantic_fields_set__.isdisjoint(SERVER_PARAMS),
        _resolve_server_defaults, pool_layers,
    )  # fmt: skip
    sources.update({f"server_defaults.{k}": v for k, v in pool_server_sources.items()})
    servers = []
    for server_name, server in pool.servers.items():
        server_path: Path_ = (*path, "servers", server_name)
        # A server's layers are itself, then the pool's: a field the server does not set is the
        # pool's, resolved (and converted) once above instead of once per server.
        params: Mapping[str, Any] = server_defaults
        server_sources: Sources = pool_server_sources  # shared (read-only) when nothing is set
        own = server.__pydantic_fields_set__
        if not own.isdisjoint(SERVER_PARAMS):
            set_params, set_sources = dict(server_defaults), dict(pool_server_sources)
            for param in SERVER_PARAMS:
                if param in own:
                    value = getattr(server, param)
                    set_params[param] = (
                        _weight(value) if param == "weight"
                        else _us(value) if param == "slowstart" else value
                    )  # fmt: skip
                    set_sources[param] = (*server_path, param)
            params, server_sources = set_params, set_sources
        servers.append(
            ResolvedServer(
                name=server_name,
                address=parse_host_port(server.address, allow_empty_host=False),
                weight=params["weight"],
                slowstart=params["slowstart"],
                maxconn=params["maxconn"],
                maxqueue=params["maxqueue"],
                backup=bool(server.backup),
                disabled=bool(server.disabled),
                path=server_path,
                sources=server_sources,
                extra=server.extra,
            )
        )
    return ResolvedPool(
        name=name,
        balance=values["balance"],
        health=_resolve_health(spec, name, shared),
        retries=values["retries"],
        redispatch=values["redispatch"],
        start_unresolved=values["start_unresolved"] is not False,
        timeouts=pool_timeouts,
        servers=tuple(servers),
        server_defaults=server_defaults,
        path=path,
        sources=sources,
        extra=pool.extra,
    )


def _resolve_frontend(
    spec: Spec, name: str, shared: dict[str, Any] | None = None
) -> ResolvedFrontend:
    """``shared``: the timeouts of frontends that set none, filled by the first such frontend."""
    frontend = spec.frontends[name]
    path: Path_ = ("frontends", name)
    timeouts, sources = _once_per_spec(
        {} if shared is None else shared, "frontend_timeouts",
        not frontend.timeouts.__pydantic_fields_set__,
        _resolve_timeouts, FRONTEND_TIMEOUTS, spec, frontend.timeouts, path,
    )  # fmt: skip
    binds = tuple(_bind(text, v6only=bool(frontend.v6only)) for text in frontend.bind)
    return ResolvedFrontend(
        name=name,
        binds=binds,
        pool=frontend.pool,
        mode=frontend.mode,
        timeouts=timeouts,
        path=path,
        sources=sources,
        extra=frontend.extra,
    )


def _bind(text: str, *, v6only: bool) -> Bind:
    address = parse_host_port(text, allow_empty_host=True)
    return Bind(address, text, v6only=v6only and address.family == "ipv6" and address.is_wildcard)


def _resolve_logs(log: Any) -> tuple[ResolvedLog, ...]:
    entries = log if isinstance(log, list) else [log]
    out = []
    for entry in entries:
        if isinstance(entry, str):
            # The spec was validated when it was loaded: a bare target is only reshaped here
            # (the render guard stays the last defence for a spec built past validation).
            entry = LogEntry.model_construct(target=entry)
        if entry.target == "none":
            continue
        fmt = entry.format
        if fmt is None and entry.target == "stdout":
            fmt = "raw"  # what lbgen has always written for stdout
        out.append(ResolvedLog(entry.target, entry.facility, entry.level,
                               entry.min_level, fmt))  # fmt: skip
    return tuple(out)


def _resolve_stats(stats: Stats | None) -> ResolvedStats:
    if stats is None:
        return ResolvedStats()
    refresh = ResolvedStats.refresh
    if "refresh" in stats.model_fields_set:
        refresh = _us(stats.refresh)
    return ResolvedStats(
        uri=stats.uri or "/stats",
        refresh=refresh,
        auth=tuple(stats.auth or ()),
        admin=bool(stats.admin),
        hide_version=bool(stats.hide_version),
        monitor_uri=stats.monitor_uri,
        timeout=_us(stats.timeout),
    )


def _resolve_global(spec: Spec) -> ResolvedGlobal:
    g = spec.global_
    health: tuple[Bind, ...] = ()
    if g.health is not None:
        texts = g.health.bind if isinstance(g.health.bind, list) else [g.health.bind]
        health = tuple(_bind(text, v6only=bool(g.health.v6only)) for text in texts)
    log = g.log if g.log is not None else "stdout" if "log" not in g.model_fields_set else None
    logs = _resolve_logs(log) if log is not None else ()
    return ResolvedGlobal(
        maxconn=g.maxconn,
        log=logs[0].target if logs else None if log is None else "none",
        logs=logs,
        stats=_resolve_stats(g.stats),
        log_format=spec.defaults.log_format or "tcplog",
        dontlognull=spec.defaults.dontlognull is not False,
        stats_bind=parse_host_port(g.stats.bind, allow_empty_host=True) if g.stats else None,
        stats_prometheus=bool(g.stats and g.stats.prometheus),
        health_bind=health[0].address if health else None,
        health_path=g.health.path if g.health else "/healthz",
        health_ready_path=g.health.ready_path if g.health else None,
        health_ready_path_set=bool(g.health and "ready_path" in g.health.model_fields_set),
        health_binds=health,
        extra=g.extra,
        health_extra=g.health.extra if g.health else Extra.model_construct(),
        health_timeout=_us(g.health.timeout) if g.health else None,
    )


def resolve_spec(spec: Spec, loaded: LoadedSpec | None = None) -> Resolved:
    """Apply defaults to a valid spec; see the module docstring."""
    loaded = loaded or loaded_of(spec)
    shared: dict[str, Any] = {}
    return Resolved(
        name=spec.name,
        digest=spec_digest(spec),
        global_=_resolve_global(spec),
        frontends=tuple(_resolve_frontend(spec, name, shared) for name in spec.frontends),
        pools=tuple(_resolve_pool(spec, name, shared) for name in spec.pools),
        source=loaded.source,
        load_diagnostics=tuple(loaded.diagnostics),
        vip=spec.vip,
        defaults_extra=spec.defaults.extra,
    )
