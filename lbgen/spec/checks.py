"""Checks that span fields: pool references, bind clashes, percent weights, unused pools."""

from __future__ import annotations

from lbgen.diagnostics import Diagnostic, Level
from lbgen.spec.load import SpecSource
from lbgen.spec.models import Spec
from lbgen.units import HostPort, parse_host_port


def _bind_key(address: HostPort) -> tuple[str, int]:
    family = "ipv6" if address.family == "ipv6" else "ipv4"
    host = address.host if not address.is_wildcard else "*"
    return (f"{family}:{host}", address.port)


def _bind_clashes(spec: Spec, source: SpecSource) -> list[Diagnostic]:
    """Two listeners on one address and port, or a wildcard and a specific address of one family."""
    seen: dict[tuple[str, int], str] = {}
    out = []
    for name, frontend in spec.frontends.items():
        for index, text in enumerate(frontend.bind):
            address = parse_host_port(text, allow_empty_host=True)
            key = _bind_key(address)
            family = key[0].split(":")[0]
            clash = seen.get(key)
            if clash is None and address.is_wildcard:
                clash = next(
                    (owner for k, owner in seen.items()
                     if k[1] == address.port and k[0].startswith(family + ":")), None,
                )  # fmt: skip
            if clash is None and not address.is_wildcard:
                clash = seen.get((f"{family}:*", address.port))
            if clash is not None:
                out.append(
                    source.diagnostic(
                        Level.ERROR, "bind-duplicate", ("frontends", name, "bind", index),
                        f"{text} is already bound by {clash}",
                    )
                )  # fmt: skip
            else:
                seen[key] = f"frontends.{name}.bind[{index}] ({text})"
    return out


def _pool_references(spec: Spec, source: SpecSource) -> list[Diagnostic]:
    out = []
    used = {frontend.pool for frontend in spec.frontends.values()}
    for name, frontend in spec.frontends.items():
        if frontend.pool not in spec.pools:
            known = ", ".join(spec.pools) or "none"
            out.append(
                source.diagnostic(
                    Level.ERROR, "pool-missing", ("frontends", name, "pool"),
                    f"no pool named {frontend.pool!r} (pools: {known})",
                )
            )  # fmt: skip
    for name in spec.pools:
        if name not in used:
            out.append(
                source.diagnostic(
                    Level.WARNING, "pool-unused", ("pools", name),
                    "no frontend uses this pool; it is rendered but receives no traffic",
                    key=True,
                )
            )  # fmt: skip
    return out


def _weights(spec: Spec, source: SpecSource) -> list[Diagnostic]:
    from lbgen.resolve import percent_weights

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
    for pool_name, pool in spec.pools.items():
        weights = percent_weights(spec, pool_name)
        percents = {n: w for n, w in weights.items() if isinstance(w, str)}
        if not percents:
            continue
        plain = [n for n, w in weights.items() if not isinstance(w, str)]
        for name in plain:
            out.append(
                source.diagnostic(
                    Level.ERROR, "weight-percent", ("pools", pool_name, "servers", name),
                    "mixes an integer weight with percentages in the same pool: "
                    "give every server a percentage, or none",
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


def cross_checks(spec: Spec, source: SpecSource) -> list[Diagnostic]:
    """Every cross-field problem of a spec that passed model validation."""
    return [*_pool_references(spec, source), *_bind_clashes(spec, source), *_weights(spec, source)]
