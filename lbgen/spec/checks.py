"""Checks that span fields: pool references, bind clashes, percent weights, unused pools."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address
from typing import Any

from lbgen.diagnostics import Diagnostic, Level, did_you_mean
from lbgen.frozen import record
from lbgen.spec.models import Spec
from lbgen.spec.source import Path_, SpecSource, dotted
from lbgen.spec.vip import vip_checks
from lbgen.units import AddressError, HostPort, parse_host_port


def _bind_key(address: HostPort) -> tuple[str, int]:
    # Canonical forms: "[::1]" and "[0:0::1]" are one socket, "[::ffff:127.0.0.1]" is 127.0.0.1.
    family = address.canonical_family if address.family != "dns" else "dns"
    host = "*" if address.is_wildcard else address.canonical_host.lower()
    return (f"{family}:{host}", address.port)


#: The engine-wide listeners a spec may set, checked for clashes after the frontends.
GLOBAL_BINDS: tuple[Path_, ...] = (("global", "stats", "bind"), ("global", "health", "bind"))


@record
class FrontendRefs:
    """What the reference checks need of one frontend: its pool and its bind addresses."""

    name: str
    pool: str | None
    binds: tuple[tuple[int, str], ...]  # (index in the bind list, text)


def _refs_from_spec(spec: Spec) -> tuple[list[FrontendRefs], list[str]]:
    frontends = [
        FrontendRefs(name, fe.pool, tuple(enumerate(fe.bind)))
        for name, fe in spec.frontends.items()
    ]
    return frontends, list(spec.pools)


def refs_from_document(document: dict[str, Any]) -> tuple[list[FrontendRefs], list[str] | None]:
    """The same facts read from raw YAML data that failed validation, skipping what is malformed.

    So that a spec with a type error elsewhere still learns about its missing pool or bind clash:
    every problem is reported at once. ``None`` for the pools when they cannot be known.
    """
    raw_frontends = document.get("frontends")
    raw_pools = document.get("pools")
    frontends = []
    if isinstance(raw_frontends, dict):
        for name, fe in raw_frontends.items():
            if not isinstance(fe, dict):
                frontends.append(FrontendRefs(str(name), None, ()))  # its pool is unknown
                continue
            pool = fe.get("pool") if isinstance(fe.get("pool"), str) else None
            raw_binds = fe.get("bind")
            binds: list[Any] = raw_binds if isinstance(raw_binds, list) else []
            valid = []
            for index, text in enumerate(binds):
                try:
                    parse_host_port(text, allow_empty_host=True)
                except (AddressError, TypeError):
                    continue
                valid.append((index, text))
            frontends.append(FrontendRefs(str(name), pool, tuple(valid)))
    # Without readable frontends, which pools are used is unknown: no "unused pool" warnings.
    readable = isinstance(raw_pools, dict) and isinstance(raw_frontends, dict)
    pools = [str(name) for name in raw_pools or ()] if readable else None
    return frontends, pools


def global_binds_from_document(document: dict[str, Any]) -> list[tuple[Path_, str]]:
    """``global.stats.bind`` and ``global.health.bind`` of raw YAML data, where well-formed."""
    out: list[tuple[Path_, str]] = []
    raw_global = document.get("global")
    for path in GLOBAL_BINDS:
        block = raw_global.get(path[1]) if isinstance(raw_global, dict) else None
        raw = block.get("bind") if isinstance(block, dict) else None
        items = list(enumerate(raw)) if isinstance(raw, list) else [(None, raw)]
        for index, text in items:
            if not isinstance(text, str):
                continue
            try:
                parse_host_port(text, allow_empty_host=True)
            except AddressError:
                continue
            out.append((path if index is None else (*path, index), text))
    return out


def _global_binds(spec: Spec) -> list[tuple[Path_, str]]:
    g = spec.global_
    blocks = (g.stats, g.health)
    out: list[tuple[Path_, str]] = []
    for path, block in zip(GLOBAL_BINDS, blocks, strict=True):
        if block is None:
            continue
        if isinstance(block.bind, list):
            out += [((*path, index), text) for index, text in enumerate(block.bind)]
        else:
            out.append((path, block.bind))
    return out


def _bind_clashes(
    frontends: list[FrontendRefs], global_binds: list[tuple[Path_, str]], source: SpecSource
) -> list[Diagnostic]:
    """Two listeners on one address and port, or a wildcard and a specific address of one family.

    Addresses are compared in canonical form, and the stats and health listeners take part: the
    engines would start with both sockets (SO_REUSEPORT) and split connections between them.
    """
    listeners: list[tuple[Path_, str]] = [
        (("frontends", frontend.name, "bind", index), text)
        for frontend in frontends
        for index, text in frontend.binds
    ]
    listeners += global_binds
    # The owner of each listener, as (path, text): its name is written only for a clash.
    seen: dict[tuple[str, int], tuple[Path_, str]] = {}
    by_port: dict[int, list[tuple[str, tuple[Path_, str]]]] = {}  # seen, by port, in order
    out: list[Diagnostic] = []
    for path, text, address in _expand_names(listeners, source, out):
        key = _bind_key(address)
        family = key[0].split(":")[0]
        clash = seen.get(key)
        if clash is None and address.is_wildcard:
            clash = next(
                (owner for k, owner in by_port.get(address.port, ())
                 if k.startswith(family + ":")), None,
            )  # fmt: skip
        if clash is None and not address.is_wildcard:
            clash = seen.get((f"{family}:*", address.port))
        if clash is not None:
            owner = f"{dotted(clash[0])} ({clash[1]})"
            out.append(
                source.diagnostic(
                    Level.ERROR, "bind-duplicate", path, f"{text} is already bound by {owner}"
                )
            )
        else:
            seen[key] = (path, text)
            by_port.setdefault(key[1], []).append((key[0], (path, text)))
    return out


#: What ``localhost`` means to the engines' resolver on every common system.
_LOCALHOST = ("127.0.0.1", "::1")


def _expand_names(
    listeners: list[tuple[Path_, str]], source: SpecSource, out: list[Diagnostic]
) -> list[tuple[Path_, str, HostPort]]:
    """Each listener's address; ``localhost`` is both loopback addresses (nginx listens on both).

    Any other host name is resolved by the engine at start, which lbgen cannot check for clashes:
    a warning says so (nginx refuses to start when the name resolves to an address in use).
    """
    expanded = []
    for path, text in listeners:
        address = parse_host_port(text, allow_empty_host=True)
        if address.family == "dns" and address.host.lower() == "localhost":
            for host in _LOCALHOST:
                family = "ipv6" if ":" in host else "ipv4"
                expanded.append((path, text, HostPort(host, address.port, family)))
            continue
        if address.family == "dns":
            out.append(
                source.diagnostic(
                    Level.WARNING, "bind-host-name", path,
                    f"{address.host} is resolved by the engine at start: lbgen cannot check it "
                    "against the other listeners, and nginx refuses to start when one of its "
                    "addresses is already listened on (or when it does not resolve); prefer an "
                    "IP address",
                )
            )  # fmt: skip
        expanded.append((path, text, address))
    return expanded


def _pool_references(
    frontends: list[FrontendRefs], pools: list[str], source: SpecSource
) -> list[Diagnostic]:
    out = []
    used = {frontend.pool for frontend in frontends}
    known_pools = set(pools)  # a set: a list made this quadratic in the number of frontends
    for frontend in frontends:
        if frontend.pool is not None and frontend.pool not in known_pools:
            known = ", ".join(pools) or "none"
            guess = did_you_mean(frontend.pool, pools)
            hint = f"; did you mean {guess!r}?" if guess else ""
            out.append(
                source.diagnostic(
                    Level.ERROR, "pool-missing", ("frontends", frontend.name, "pool"),
                    f"no pool named {frontend.pool!r} (pools: {known}){hint}",
                )
            )  # fmt: skip
    # A frontend whose pool is misspelt or unreadable most likely means one of the "unused"
    # pools: warning about them too would report one mistake twice.
    if any(frontend.pool is None or frontend.pool not in known_pools for frontend in frontends):
        return out
    for name in pools:
        if name not in used:
            out.append(
                source.diagnostic(
                    Level.WARNING, "pool-unused", ("pools", name),
                    "no frontend uses this pool; it is rendered but receives no traffic",
                    key=True,
                )
            )  # fmt: skip
    return out


def reference_checks(
    frontends: list[FrontendRefs],
    pools: list[str] | None,
    source: SpecSource,
    global_binds: list[tuple[Path_, str]] | None = None,
) -> list[Diagnostic]:
    """Pool references and bind clashes, from a valid spec or from raw data."""
    out = _bind_clashes(frontends, global_binds or [], source)
    if pools is not None:
        out += _pool_references(frontends, pools, source)
    return out


def written_weights(spec: Spec, pool_name: str) -> dict[str, int | str | None]:
    """Each server's weight as the spec writes it for that server (int, ``"10%"``, or None when
    no block sets one: the built-in weight, a number), by server name.

    The first of server, pool and ``defaults`` that sets ``weight`` wins, as in the resolver;
    these checks run before it (the resolver relies on them) and do not import it.
    """
    pool = spec.pools[pool_name]
    out: dict[str, int | str | None] = {}
    for name, server in pool.servers.items():
        blocks = (server, pool, spec.defaults)
        out[name] = next((b.weight for b in blocks if "weight" in b.model_fields_set), None)
    return out


def _weights(spec: Spec, source: SpecSource) -> list[Diagnostic]:
    out = []
    for where, block in (
        (("defaults",), spec.defaults),
        *((("pools", n), p) for n, p in spec.pools.items()),
    ):
        if isinstance(block.weight, str):
            out.append(
                source.diagnostic(
                    Level.ERROR, "weight-percent", (*where, "weight"),
                    "percentage weights belong on servers (they share out one pool)",
                )
            )  # fmt: skip
    if not out and not any(
        isinstance(server.weight, str)
        for pool in spec.pools.values()
        for server in pool.servers.values()
    ):
        # No percentage anywhere (the built-in weight is a number): nothing below can apply.
        return out
    for pool_name, pool in spec.pools.items():
        weights = written_weights(spec, pool_name)
        percents = {n: w for n, w in weights.items() if isinstance(w, str)}
        if not percents or any(not isinstance(pool.servers[n].weight, str) for n in percents):
            # None, or one inherited from the pool or defaults: that one mistake is reported
            # where it is written, not again as this pool's sum.
            continue
        # Backup servers share traffic only among themselves, so they may keep a plain weight.
        plain = [
            n for n, w in weights.items() if not isinstance(w, str) and not pool.servers[n].backup
        ]
        for name in plain:
            out.append(
                source.diagnostic(
                    Level.ERROR, "weight-percent", ("pools", pool_name, "servers", name),
                    "mixes an integer weight with percentages in the same pool: "
                    "give every non-backup server a percentage, or none",
                    key=True,
                )
            )  # fmt: skip
        if plain:
            continue
        active = [n for n in percents if not pool.servers[n].backup]
        total = sum(int(str(percents[n]).rstrip("%")) for n in active)
        if active and total != 100:
            out.append(
                source.diagnostic(
                    Level.ERROR, "weight-percent", ("pools", pool_name, "servers"),
                    f"percentage weights of the non-backup servers must sum to 100% "
                    f"(got {total}%)",
                    key=True,
                )
            )  # fmt: skip
    return out


#: Health fields each check kind leaves unused besides ``check`` (none: every other one).
_UNUSED_BY = {
    # A check without TLS presents no certificate: client_cert is for tls and https checks.
    "tcp": ("path", "expect", "expect_body", "sni", "client_cert"),
    "tls": ("path", "expect", "expect_body"),
    # HAProxy's ssl-hello-chk sends a fixed hello on a plain connection: no SNI, no certificate.
    "ssl-hello": ("path", "expect", "expect_body", "sni", "client_cert"),
    "http": ("sni", "client_cert"),
}


def _unused_health(spec: Spec, source: SpecSource) -> list[Diagnostic]:
    """A note on each pool whose check kind makes health fields it sets, or inherits from
    ``defaults``, useless: every other field with ``check: none``, ``path`` and ``expect`` with a
    tcp or tls check, ``sni`` and ``client_cert`` with a tcp or http check. No engine uses them,
    and without the note ``lbgen explain`` could only say they were dropped for no reason."""
    blocks = [spec.defaults.health, *(pool.health for pool in spec.pools.values())]
    if not any(block.check in ("none", *_UNUSED_BY) for block in blocks):
        return []  # the usual case, found without importing the resolver
    from lbgen.spec.fields import Scope, in_scope
    from lbgen.spec.layers import BUILTIN_DEFAULTS, Layer, pick

    out = []
    for name, pool in spec.pools.items():
        layers = [Layer(pool.health, ("pools", name, "health")),
                  Layer(spec.defaults.health, ("defaults", "health"))]  # fmt: skip
        check = pick("check", layers, BUILTIN_DEFAULTS.health)[0]
        if check != "none" and check not in _UNUSED_BY:
            continue
        unused = []
        for row in in_scope(Scope.POOL, "health"):
            if row.name == "check" or (check != "none" and row.name not in _UNUSED_BY[check]):
                continue
            value, origin = pick(row.name, layers, BUILTIN_DEFAULTS.health)
            if origin is not None and value is not None:
                unused.append(row.path)
        if unused:
            note = source.diagnostic(
                Level.NOTE, "health-unused", ("pools", name),
                f"health.check is {check}: no engine uses {', '.join(unused)} "
                "(set here or in defaults)",
                key=True,
            )  # fmt: skip
            out.append(replace(note, fields=tuple(unused)))
    return out


def _health_paths(spec: Spec, source: SpecSource) -> list[Diagnostic]:
    """``global.health``'s paths must be answerable as written. HAProxy's readiness rules and
    nginx's http locations match a request's path without its query string; HAProxy answers
    its ``monitor-uri`` (the liveness path) before any rule."""
    health = spec.global_.health
    if health is None:
        return []
    out = []
    for name in ("path", "ready_path"):
        value = getattr(health, name)
        if value is not None and "?" in value:
            out.append(source.diagnostic(
                Level.ERROR, "health-path", ("global", "health", name),
                f"{value} holds a query string: HAProxy's readiness rules and nginx's http "
                "locations match the path without it, so this endpoint would not answer as "
                "written",
            ))  # fmt: skip
    if health.ready_path is not None and health.ready_path == health.path:
        out.append(source.diagnostic(
            Level.ERROR, "health-path", ("global", "health", "ready_path"),
            f"ready_path is the liveness path {health.path}: HAProxy answers it through "
            "monitor-uri with 200 whatever the pools, so readiness could never fail; choose "
            "another path (the default is /readyz) or null for none",
        ))  # fmt: skip
    return out


def cross_checks(spec: Spec, source: SpecSource) -> list[Diagnostic]:
    """Every cross-field problem of a spec that passed model validation."""
    frontends, pools = _refs_from_spec(spec)
    return [
        *reference_checks(frontends, pools, source, _global_binds(spec)),
        *_weights(spec, source),
        *_unused_health(spec, source),
        *_health_paths(spec, source),
        *(vip_checks(spec.vip, _health_binds(spec), source) if spec.vip is not None else []),
        *_api_server_ports(spec, source),
    ]


def _api_server_ports(spec: Spec, source: SpecSource) -> list[Diagnostic]:
    """A frontend on the port of an API server that runs on a node of the tier itself (the
    control-plane nodes as load balancers, kubeadm's HA guide): kube-apiserver listens on its
    port on every address unless ``--bind-address`` names one, so the proxy's bind on the VIP
    fails there ("Address already in use"). A warning: with ``--bind-address`` it works."""
    if spec.vip is None:
        return []
    nodes = {
        ip_address(address).compressed: node.name
        for node in spec.vip.nodes
        for address in node.address
    }
    on_nodes: dict[int, tuple[str, str]] = {}  # port -> (node, pools.P.servers.S)
    for pool_name, pool in spec.pools.items():
        for server_name, server in pool.servers.items():
            address = parse_host_port(server.address, allow_empty_host=False)
            node = nodes.get(address.canonical_host) if address.family != "dns" else None
            if node is not None:
                path = dotted(("pools", pool_name, "servers", server_name))
                on_nodes.setdefault(address.port, (node, path))
    out: list[Diagnostic] = []
    for name, frontend in spec.frontends.items():
        for index, text in enumerate(frontend.bind):
            port = parse_host_port(text, allow_empty_host=True).port
            if port in on_nodes:
                node, server_path = on_nodes[port]
                out.append(source.diagnostic(
                    Level.WARNING, "vip-api-server-port", ("frontends", name, "bind", index),
                    f"{text} is on port {port}, where the API server {server_path} listens on "
                    f"node "
                    f"{node} itself: kube-apiserver takes port {port} on every address unless "
                    "its --bind-address names one, so the proxy cannot bind there; give the "
                    "frontend another port (kubeadm's HA guide uses 8443)",
                ))  # fmt: skip
    return out


def _health_binds(spec: Spec) -> list[tuple[Path_, str]] | None:
    """Every address of ``global.health.bind`` with its path, None without ``global.health``:
    the vip checks need each of them (every node renders them all), not only the first."""
    if spec.global_.health is None:
        return None
    return [(path, text) for path, text in _global_binds(spec) if path[1] == "health"]
