"""The generic differ: every modelled field that differs between two effective models."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields, is_dataclass, replace
from typing import Any

from lbgen.effective.model import Config, Origin
from lbgen.frozen import record


@record
class Difference:
    """One field that differs between two models: ``path`` like
    ``backends.kube.servers.m1.weight``; ``old``/``new`` are values (``None`` for absent);
    ``origin`` is where ``new`` (else ``old``) was set."""

    path: tuple[str, ...]
    old: Any
    new: Any
    origin: Origin | None = None


def differences(old: Config, new: Config) -> list[Difference]:
    """Every modelled field that differs, in a stable order; empty when the configs are
    equivalent. Entities present on one side only are one difference with the whole entity."""
    return list(_compare(old, new, ()))


def pair_roles(existing: Config, rendered: Config) -> Config:
    """``existing`` with each frontend that has a role (:attr:`Frontend.role`: the stats page,
    the liveness endpoint) keyed and named like the rendered frontend of the same role, when
    each side has exactly one of that role: they are the same listener whatever they are
    called, so a diff compares their contents instead of reporting one removed, one added."""
    renames: dict[str, str] = {}
    roles = {f.role for f in existing.frontends.values() if f.role is not None}
    for role in sorted(roles):
        ours = [k for k, f in existing.frontends.items() if f.role == role]
        theirs = [k for k, f in rendered.frontends.items() if f.role == role]
        if len(ours) == 1 and len(theirs) == 1 and theirs[0] not in existing.frontends:
            renames[ours[0]] = theirs[0]
    if not renames:
        return existing
    frontends = {
        renames.get(key, key): (
            replace(frontend, name=renames[key]) if key in renames else frontend
        )
        for key, frontend in existing.frontends.items()
    }
    return replace(existing, frontends=frontends)


def _compare(old: Any, new: Any, path: tuple[str, ...]) -> Iterator[Difference]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in [*old, *(k for k in new if k not in old)]:
            if key not in new:
                yield Difference((*path, str(key)), old[key], None, _origin_of(old[key]))
            elif key not in old:
                yield Difference((*path, str(key)), None, new[key], _origin_of(new[key]))
            else:
                yield from _compare(old[key], new[key], (*path, str(key)))
        return
    if is_dataclass(old) and type(old) is type(new) and not isinstance(old, type):
        for f in fields(old):
            if not f.compare:
                continue
            a, b = getattr(old, f.name), getattr(new, f.name)
            if a == b:
                continue
            if is_dataclass(a) or isinstance(a, Mapping):
                yield from _compare(a, b, (*path, f.name))
            else:
                where = _field_origin(new, f.name) or _field_origin(old, f.name)
                yield Difference((*path, f.name), a, b, where)
        return
    if old != new:
        yield Difference(path, old, new)


def _origin_of(value: Any) -> Origin | None:
    origin = getattr(value, "origin", None)
    return origin if isinstance(origin, Origin) else None


def _field_origin(entity: Any, name: str) -> Origin | None:
    origins = getattr(entity, "origins", None)
    if isinstance(origins, Mapping) and name in origins:
        found = origins[name]
        return found if isinstance(found, Origin) else None
    return _origin_of(entity)


__all__ = ["Difference", "differences", "pair_roles"]
