"""``lbgen explain``: per spec field, what it became in one engine, or why it was dropped.

The translation itself is the mapping. Each field is *probed*: the spec is rendered again with that
one field changed (to ``null``, and to another valid value) at the innermost level where it
applies (the server, the pool, the frontend), and the lines that differ from the real rendering
are what the field produced (a pool's or frontend's field is probed in the spec cut down to its
pool, so that explaining grows linearly with the spec: see "probing" below). A field whose
probes change nothing was dropped, and the translation's own diagnostics say why. So explain
cannot drift from the renderer: there is no second copy of DESIGN §2's table to keep in sync,
and a new mapping in a target view shows up here without touching this module.

The outcomes per field:

- ``written``: the value shows in the output (the fragments of the lines it produced);
- ``engine-default``: nothing is written, and that *is* the value (another value would write
  something: nginx's round robin, HAProxy without ``option redispatch``);
- ``inherited``: a server's own value equal to the one it inherits from its pool: nothing is
  written on its line because the pool's value (on HAProxy's ``default-server``) already says it;
- ``dropped``: none of the values probed changes the output (:attr:`FieldReport.probed` says
  which); the attached diagnostics say why. Also a field whose own value is an error for the
  engine (nginx's ``balance: first``): render writes nothing, so nothing written is not the
  engine's default (nor a null's, nor what a server inherits). A field that writes lines keeps
  them beside its error: they say what the value would become.

An unset field with a built-in value is explained with that value (origin ``None``): lbgen's
defaults (:data:`~lbgen.spec.layers.BUILTIN_DEFAULTS`, the resolver's ``stats.uri`` ``/stats``
and a pool's ``start_unresolved``...) and the target view's own (HAProxy's ``timeout client``
of the stats and health listeners). A diagnostic whose ``fields`` name a field is attached to it,
also a frontend's note naming its pool's field (nginx's built-in ``timeouts.server_fin``).

An explicit ``null`` is probed too, against the field left out and against sample values: what
differs is what the null wrote (a server's ``weight: null`` under a pool's weight writes HAProxy's
own ``weight 1`` over ``default-server``), and those lines are the null's, not the pool's value's.
A null that writes nothing is reported as ``null``.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from enum import StrEnum
from itertools import chain
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from lbgen.diagnostics import Diagnostic, Level, sort_key
from lbgen.frozen import record
from lbgen.rendering import make_environment, render_resolved, target_layout
from lbgen.resolve import Resolved, ResolvedGlobal, ResolvedPool, ResolvedStats, resolve_spec
from lbgen.spec import fields
from lbgen.spec.fields import Field, Kind, Scope
from lbgen.spec.layers import BUILTIN_DEFAULTS, Layer, pick
from lbgen.spec.load import LoadedSpec, loaded_of
from lbgen.spec.models import LogEntry, Spec
from lbgen.spec.source import Path_, dotted
from lbgen.spec.vip import priorities
from lbgen.units import format_haproxy_duration, parse_duration, parse_host_port
from lbgen.view import build_view

_ADDRESSES = {
    Kind.SERVER_ADDRESS, Kind.BIND_ADDRESS, Kind.BIND_ADDRESS_OR_LIST, Kind.BIND_ADDRESSES,
}  # fmt: skip
_IPS = {Kind.VIP_ADDRESSES, Kind.NODE_ADDRESSES}
_TOKEN = re.compile(r"[^\s;]+|;")
#: The escape hatch's kinds: each ``extra`` block is explained where it is set, never inherited.
_EXTRA_KINDS = {Kind.EXTRA, Kind.EXTRA_SECTIONS}


class Outcome(StrEnum):
    """What became of one field in the engine's config."""

    WRITTEN = "written"
    ENGINE_DEFAULT = "engine-default"
    INHERITED = "inherited"
    DROPPED = "dropped"
    NULL = "null"


@record
class FieldReport:
    """One field of one spec object and what the engine got from it."""

    path: str
    """Where the field applies: ``pools.cp.health.fall`` (even when ``defaults`` set it)."""
    value: Any
    """The value as written in the spec (or the built-in default)."""
    origin: str | None
    """The spec path that set the value, ``None`` for a built-in default."""
    line: int | None
    outcome: Outcome
    output: tuple[str, ...] = ()
    """Fragments of the rendered lines the field produced, ``(N lines)`` when repeated."""
    diagnostics: tuple[Diagnostic, ...] = ()
    probed: tuple[Any, ...] = ()
    """The other values the field was rendered with (``None``: null, ``LEFT_OUT``: the field
    left out), those that made a valid spec; what a ``dropped`` field's claim rests on."""
    inherits: str | None = None
    """For ``inherited``: the pool's field whose value the server's own equals
    (``pools.cp.weight``)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (values as plain JSON, as the spec would write them)."""
        return {
            "path": self.path,
            "value": _as_written(self.value),
            "origin": self.origin,
            "line": self.line,
            "outcome": str(self.outcome),
            "output": list(self.output),
            "diagnostics": [_diagnostic_dict(d) for d in self.diagnostics],
            "probed": [_as_written(v) for v in self.probed],
            "inherits": self.inherits,
        }


@record
class Section:
    """The fields of one spec object (``global``, ``frontends.api``, ``pools.cp.servers.m1``)."""

    title: str
    fields: tuple[FieldReport, ...]


@record
class Explanation:
    """The whole translation of one spec for one target and layout."""

    target: str
    layout: str
    file: str
    name: str | None
    sections: tuple[Section, ...]
    diagnostics: tuple[Diagnostic, ...]
    """Every diagnostic of the rendering (also attached to fields where one points at them)."""
    unattached: tuple[Diagnostic, ...] = field(default=())
    """Diagnostics no field claimed (so that nothing the renderer said is hidden)."""

    @property
    def ok(self) -> bool:
        """False when the rendering has errors (the config would not be written)."""
        return not any(d.level is Level.ERROR for d in self.diagnostics)

    def fields(self) -> Iterator[FieldReport]:
        """Every field report, in spec order."""
        for section in self.sections:
            yield from section.fields

    def field(self, path: str) -> FieldReport:
        """The report for the field at dotted ``path`` (KeyError when there is none)."""
        for report in self.fields():
            if report.path == path:
                return report
        raise KeyError(path)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "target": self.target,
            "layout": self.layout,
            "file": self.file,
            "name": self.name,
            "ok": self.ok,
            "sections": [
                {"title": s.title, "fields": [f.as_dict() for f in s.fields]} for s in self.sections
            ],
            "unattached": [_diagnostic_dict(d) for d in self.unattached],
        }


class _LeftOut:
    """A probe value: the field removed from the spec (for an explicit ``null``)."""

    def __repr__(self) -> str:
        return "LEFT_OUT"


LEFT_OUT: Any = _LeftOut()
"""In :attr:`FieldReport.probed`: the field was left out of the spec (JSON ``"(left out)"``)."""


def _as_written(value: Any, *, item: bool = False) -> Any:
    """``value`` as plain JSON data, the way a spec writes it: a model as the mapping of its set
    fields, a ``global.log`` list entry that is only a target as that target (``stdout``)."""
    if value is LEFT_OUT:
        return "(left out)"
    if isinstance(value, BaseModel):
        data = value.model_dump(mode="json", exclude_none=True)
        if item and isinstance(value, LogEntry) and data.keys() == {"target"}:
            return data["target"]
        return data
    if isinstance(value, list | tuple):
        return [_as_written(v, item=True) for v in value]
    if isinstance(value, dict):
        return {str(k): _as_written(v, item=True) for k, v in value.items()}
    return to_jsonable_python(value)


def _diagnostic_dict(d: Diagnostic) -> dict[str, Any]:
    return {
        "level": str(d.level), "code": d.code, "message": d.message, "file": d.file,
        "line": d.line, "col": d.col, "path": d.path,
    }  # fmt: skip


# --- what to probe -----------------------------------------------------------------------------


@record
class _Candidate:
    """A field to explain: where it applies, its value and where that value came from."""

    section_path: Path_
    path: Path_
    value: Any
    source: Path_ | None
    inherits: Path_ | None = None
    """For a server's own value equal to what it would inherit: the pool's field."""

    @property
    def section(self) -> str:
        """The dotted path of the block the field belongs to (server, pool, frontend...)."""
        return dotted(self.section_path)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _pick_field(row: Field, layers: list[Layer], fallback: BaseModel) -> tuple[Any, Path_ | None]:
    """:func:`~lbgen.spec.layers.pick` for a registry field, inside its block (``health``)."""
    if row.block:
        layers = [Layer(getattr(layer.model, row.block), (*layer.path, row.block))
                  for layer in layers]  # fmt: skip
        fallback = getattr(fallback, row.block)
    return pick(row.name, layers, fallback)


def _path(base: Path_, row: Field) -> Path_:
    return (*base, *row.path.split("."))


def _extra_candidates(section: Path_, path: Path_, extra: BaseModel) -> Iterator[_Candidate]:
    """The lists of one ``extra`` block that are set: verbatim directives go where they are
    written (or nowhere, for another engine), so each is probed on its own."""
    for name in type(extra).model_fields:
        value = getattr(extra, name)
        if value is not None:
            where: Path_ = (*path, "extra", name)
            yield _Candidate(section, where, _plain(value), where)


def _builtins(target: str | None) -> dict[str, Any]:
    """The built-in values of the registry fields (by registry path) that
    :data:`~lbgen.spec.layers.BUILTIN_DEFAULTS` does not hold: the resolver's (``stats.uri``
    ``/stats``, a pool's ``start_unresolved``...) and, for ``target``, its view's own (HAProxy's
    ``timeout client`` of the stats and health listeners), as a spec would write them."""
    refresh = ResolvedStats.refresh
    assert refresh is not None
    out: dict[str, Any] = {
        "global.stats.uri": ResolvedStats.uri,
        "global.stats.refresh": format_haproxy_duration(refresh),
        "start_unresolved": ResolvedPool.start_unresolved,
        "log_format": ResolvedGlobal.log_format,
        "dontlognull": ResolvedGlobal.dontlognull,
    }
    if target == "haproxy":
        from lbgen.haproxy import table

        for row in (table.STATS_TIMEOUT, table.HEALTH_TIMEOUT):
            assert row.field is not None and isinstance(row.default, int)
            out[row.field] = format_haproxy_duration(row.default)
    return out


def _candidates(
    spec: Spec, node: str | None = None, target: str | None = None
) -> Iterator[_Candidate]:
    """Every field that has a value for some object, in spec order (the registry's within an
    object); an unset field with a built-in value (of ``target``'s view too) has that value.
    With ``node`` (the per-node target keepalived): the ``vip`` fields that reach that node's
    config and the health endpoint its checks poll, nothing of the proxy's."""
    if node is not None:
        yield from _vip_candidates(spec, node)
        return
    builtins = _builtins(target)
    yield from _global_candidates(spec, builtins)
    # The fields only ``defaults`` sets (log_format, dontlognull): they apply to the whole config.
    for row in fields.in_scope(Scope.DEFAULTS):
        if row.scopes == (Scope.DEFAULTS,):
            where: Path_ = _path(("defaults",), row)
            value, source = _pick_field(row, [Layer(spec.defaults, ("defaults",))], spec.defaults)
            if source is None:
                value = builtins.get(row.path, value)
            yield _Candidate(("defaults",), where, _plain(value), source)
    yield from _extra_candidates(("defaults",), ("defaults",), spec.defaults.extra)
    for name, frontend in spec.frontends.items():
        path: Path_ = ("frontends", name)
        section = path
        layers = [Layer(frontend, path), Layer(spec.defaults, ("defaults",))]
        # Its pool is not a translation (a name no probe changes), nor is its mode: tcp is the
        # only valid value, so no probe can tell what it wrote (the config's "mode tcp" is the
        # template's own).
        for row in fields.in_scope(Scope.FRONTEND):
            if row.path == "bind":
                for index, text in enumerate(frontend.bind):
                    at: Path_ = (*path, "bind", index)
                    yield _Candidate(section, at, text, at)
            elif row.path in ("pool", "mode") or row.kind in _EXTRA_KINDS:
                continue
            elif Scope.DEFAULTS in row.scopes:  # what a frontend inherits (its timeouts)
                value, source = _pick_field(row, layers, BUILTIN_DEFAULTS)
                yield _Candidate(section, _path(path, row), value, source)
            else:  # its own (v6only)
                value, source = _pick_field(row, [Layer(frontend, path)], frontend)
                yield _Candidate(section, _path(path, row), _plain(value), source)
        yield from _extra_candidates(section, path, frontend.extra)
    for name, pool in spec.pools.items():
        path = ("pools", name)
        section = path
        layers = [Layer(pool, path), Layer(spec.defaults, ("defaults",))]
        for row in fields.in_scope(Scope.POOL):
            if row.kind not in _EXTRA_KINDS:
                value, source = _pick_field(row, layers, BUILTIN_DEFAULTS)
                if source is None:
                    value = builtins.get(row.path, value)
                yield _Candidate(section, _path(path, row), _plain(value), source)
        yield from _extra_candidates(section, path, pool.extra)
        for server_name, server in pool.servers.items():
            server_path: Path_ = (*path, "servers", server_name)
            server_section = server_path
            address_path: Path_ = (*server_path, "address")
            yield _Candidate(server_section, address_path, server.address, address_path)
            # Inherited values are explained once, on the pool; a server shows what it overrides.
            for row in fields.in_scope(Scope.SERVER):
                if row.kind is not Kind.SERVER_ADDRESS and row.path in server.model_fields_set:
                    own: Path_ = (*server_path, row.path)
                    value = getattr(server, row.path)
                    inherits = None
                    if value is not None and Scope.POOL in row.scopes:
                        inherited, _ = _pick_field(row, layers, BUILTIN_DEFAULTS)
                        if _plain(inherited) == _plain(value):
                            inherits = _path(path, row)
                    yield _Candidate(server_section, own, value, own, inherits)
            yield from _extra_candidates(server_section, server_path, server.extra)


def _vip_candidates(spec: Spec, node: str) -> Iterator[_Candidate]:
    """The health endpoint and the ``vip`` fields, at their model paths (``vip.track.fall``,
    ``vip.nodes[1].address``). Of the other nodes only their addresses (this node's peers) reach
    this node's config; their names and priorities are explained with their own node."""
    health = spec.global_.health
    if health is not None:
        for name in type(health).model_fields:
            if name == "extra":
                continue  # lines of the proxy's own endpoint: nothing of keepalived's
            path: Path_ = ("global", "health", name)
            source = path if name in health.model_fields_set else None
            yield _Candidate(("global",), path, getattr(health, name), source)
    vip = spec.vip
    if vip is None:
        return
    rows = [row.path.split(".")[1:] for row in fields.in_scope(Scope.VIP)]
    for parts in rows:
        if parts[0] == "nodes":
            continue
        model: BaseModel = vip
        for part in parts[:-1]:
            model = getattr(model, part)
        full: Path_ = ("vip", *parts)
        value = getattr(model, parts[-1])
        set_here = parts[-1] in model.model_fields_set and (
            len(parts) == 1 or parts[0] in vip.model_fields_set
        )
        yield _Candidate(("vip",), full, _plain(value), full if set_here else None)
    derived = priorities(vip)
    for index, entry in enumerate(vip.nodes):
        where: Path_ = ("vip", "nodes", index)
        for parts in rows:
            if parts[0] != "nodes" or (parts[1] != "address" and entry.name != node):
                continue
            value = getattr(entry, parts[1])
            if parts[1] == "priority" and value is None:
                value = derived[index]  # from the order of the nodes (the source stays None)
            own = (*where, parts[1])
            set_here = parts[1] in entry.model_fields_set
            yield _Candidate(where, own, _plain(value), own if set_here else None)


def _global_candidates(spec: Spec, builtins: dict[str, Any]) -> Iterator[_Candidate]:
    g = spec.global_
    if "maxconn" in g.model_fields_set:
        yield _Candidate(("global",), ("global", "maxconn"), g.maxconn, ("global", "maxconn"))
    if "log" in g.model_fields_set:
        yield _Candidate(("global",), ("global", "log"), g.log, ("global", "log"))
    else:
        # The resolver's built-in: logs go to stdout unless the spec says otherwise.
        yield _Candidate(("global",), ("global", "log"), "stdout", None)
    for block in ("stats", "health"):
        model = getattr(g, block)
        if model is None:
            continue
        for name in type(model).model_fields:
            if name == "extra":
                yield from _extra_candidates(("global",), ("global", block), model.extra)
                continue
            path: Path_ = ("global", block, name)
            source = path if name in model.model_fields_set else None
            value = getattr(model, name)
            if source is None:
                value = builtins.get(dotted(path), value)
            yield _Candidate(("global",), path, value, source)
    yield from _extra_candidates(("global",), ("global",), g.extra)


def _alternatives(row: Field, value: Any, listening: frozenset[int] = frozenset()) -> list[Any]:
    """Other valid values for a field: ``null`` first ("emit nothing"), then a changed value.
    An address moves to a port none of ``listening`` (every port the spec listens on) is: a
    probe that moved a bind onto another frontend's port changed that frontend's lines too."""
    out: list[Any] = [None]
    if row.kind in _EXTRA_KINDS:
        return out  # without its directives, the section shows what they wrote
    if isinstance(value, bool):
        out.append(not value)
    elif isinstance(value, int):
        out += [value + 1, value - 1]
    elif isinstance(value, list) and row.kind in _IPS:
        # One probe per address: each one's lines (a dual-stack tier's IPv6 half too).
        out += [[*value[:i], _other_ip(item), *value[i + 1 :]] for i, item in enumerate(value)]
    elif isinstance(value, list) and row.kind in _ADDRESSES:
        # One probe per address, moved to a free port: a list of addresses stays one.
        out += [
            [*value[:i], _other_port(item, listening), *value[i + 1 :]]
            for i, item in enumerate(value)
        ]
    elif isinstance(value, list) and row.kind is Kind.STATS_AUTHS:
        out.append([*value, "probe:probe" if "probe:probe" not in value else "probe2:probe"])
    elif isinstance(value, list):
        out.append([*value, 299 if 299 not in value else 298])
    elif isinstance(value, str):
        if row.choices:  # an enumerated field, or the named log targets
            out += [choice for choice in row.choices if choice != value]
        elif row.kind is Kind.DURATION:
            us = parse_duration(value)
            out.append(format_haproxy_duration(us * 2) if us else "1s")
        elif row.kind is Kind.WEIGHT and value.endswith("%"):
            percent = int(value[:-1])
            out.append(f"{percent + 1}%" if percent < 100 else f"{percent - 1}%")
        elif row.kind in _ADDRESSES:
            out.append(_other_port(value, listening))
        elif row.kind in _IPS:
            out.append(_other_ip(value))
        elif row.kind is Kind.AUTH_PASS:
            out.append("probe" if value != "probe" else "probe2")
        elif row.kind is Kind.INTERFACE:
            out.append("probe0" if value != "probe0" else "probe1")
        elif row.kind is Kind.DNS_NAME:
            out.append(f"probe-{value}")
        else:  # paths and file names: any other token will do
            out.append(f"{value}-probe")
    return out


def _other_ip(text: str) -> str:
    """Another address of the same family (and prefix length): the next one, or the previous."""
    host, slash, prefix = text.partition("/")
    address = ipaddress.ip_address(host)
    other = address + 1 if int(address) & 0xFF != 0xFE else address - 1
    return other.compressed + slash + prefix


def _samples(row: Field, listening: frozenset[int]) -> list[Any]:
    """Valid values to probe an explicit ``null`` with (two where they can differ, so that one
    is not the engine's own value)."""
    kind = row.kind
    if kind is Kind.BOOL:
        return [True, False]
    if row.choices:
        return list(row.choices)
    samples: dict[Kind, list[Any]] = {
        Kind.DURATION: ["1s", "2s"],
        Kind.COUNT: [1, 2],
        Kind.AT_LEAST_ONE: [1, 2],
        Kind.INTEGER: [1, 2],
        Kind.WEIGHT: [1, 2],
        Kind.STATUS_CODES: [[200], [204]],
        Kind.HTTP_PATH: ["/probe"],
        Kind.CERT_PATH: ["/probe.pem"],
        Kind.EXPECT_BODY: ["probe"],
        Kind.DNS_NAME: ["probe.example"],
        Kind.STATS_AUTHS: [["probe:probe"]],
        Kind.INTERFACE: ["probe0"],
        Kind.AUTH_PASS: ["probe"],
    }
    if kind in _ADDRESSES:
        address = _other_port("127.0.0.1:8000", listening)
        return [[address]] if kind is Kind.BIND_ADDRESSES else [address]
    return samples.get(kind, [])


def _other_port(text: str, listening: frozenset[int] = frozenset()) -> str:
    """``text`` on another port: the next one no listener of the spec uses."""
    port = parse_host_port(text, allow_empty_host=True).port
    ports = chain(range(port + 1, 65536), range(port - 1, 0, -1))
    other = next(p for p in ports if p not in listening)
    return text[: text.rindex(":") + 1] + str(other)


def _listening(spec: Spec) -> frozenset[int]:
    """Every port the spec listens on, in any address family: frontends, stats, health."""
    texts = [text for frontend in spec.frontends.values() for text in frontend.bind]
    stats, health = spec.global_.stats, spec.global_.health
    if stats is not None:
        texts.append(stats.bind)
    if health is not None:
        texts += [health.bind] if isinstance(health.bind, str) else list(health.bind)
    return frozenset(parse_host_port(text, allow_empty_host=True).port for text in texts)


# --- probing -----------------------------------------------------------------------------------
#
# Probing the whole spec for every field costs a whole rendering (and a diff of the whole text) per
# probe: time grows with the square of the spec. A field of a pool or of a frontend is therefore
# probed in a *scope*: the spec cut down to that pool and the frontends sending to it (global,
# defaults and vip kept), whose rendering is an excerpt of the whole one. A probe then costs the
# size of its pool, and the whole explanation grows linearly with the spec.
#
# What lets a scope stand for the whole spec: the views translate each pool and frontend on its
# own, and what one says about another goes through names (which no probe changes) and through
# listening ports (nginx makes a dual-stack ``[::]:port`` IPv6-only beside an IPv4 address on its
# port). So a scope also holds the frontends that listen on its frontends' ports; a bind's probe
# moves it to a port no listener of the spec uses, where it meets nobody. A scope whose own
# rendering is not an excerpt of the whole one (an engine that suffixes a clashing name, say) is
# not used, nor is a probe's verdict when it meets an error outside the scope (another pool may
# already have it in the whole spec, or it counts what the scope lacks): the field is then
# probed on the whole spec, as every field of ``global``, ``defaults`` and keepalived's is. The
# diff of a probe runs between the common head and tail of the two renderings, where a probe of
# the whole spec finds its change too, so the lines credited are the same.


def _with(data: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    """A copy of the spec's plain data with ``path`` set to ``value``, creating blocks the spec
    left out. Only the containers along ``path`` are copied: the rest is shared with ``data``,
    which stays as it was (a deep copy of a large spec per probe would cost its size)."""
    out = dict(data)
    node: Any = out
    for index, part in enumerate(path[:-1]):
        child = node[part] if isinstance(part, int) else node.get(part)
        if child is None:
            child = {}
        elif isinstance(child, str) and path[index - 1] == "servers":
            child = {"address": child}  # a "host:port" shorthand server
        else:
            child = list(child) if isinstance(child, list) else dict(child)
        node[part] = child
        node = child
    node[path[-1]] = value
    return out


def _without(data: dict[str, Any], path: Path_) -> dict[str, Any] | None:
    """A copy of the spec's plain data with the key at ``path`` left out; None when it is not
    there (left out already: the probe would be the rendering itself)."""
    out = dict(data)
    node: Any = out
    for part in path[:-1]:
        child = node[part] if isinstance(part, int) else node.get(part)
        if not isinstance(child, dict | list):
            return None
        child = list(child) if isinstance(child, list) else dict(child)
        node[part] = child
        node = child
    if not isinstance(node, dict) or path[-1] not in node:
        return None
    del node[path[-1]]
    return out


@dataclass
class _Effect:
    """Line index of ``base`` -> changed token indices (``None``: the whole line).

    ``base`` is the rendering the probes were compared with: the whole config, or a scope's
    excerpt of it (in the same order, so the fragments come out alike)."""

    base: list[str] = field(default_factory=list)
    lines: dict[int, set[int] | None] = field(default_factory=dict)
    influenced: bool = False
    probed: list[Any] = field(default_factory=list)
    """The values whose probe made a valid spec, in order."""

    def whole(self, index: int) -> None:
        self.lines[index] = None

    def tokens(self, index: int, tokens: set[int]) -> None:
        if index in self.lines and self.lines[index] is None:
            return
        self.lines.setdefault(index, set())
        current = self.lines[index]
        assert current is not None
        current.update(tokens)

    def discount(self, other: _Effect) -> None:
        """Drop what ``other`` (a server's ``null``) is credited with from this effect (its
        pool's field, whose probe changed the same tokens only through that null)."""
        for index, tokens in other.lines.items():
            line = other.base[index]
            if other.base is not self.base:
                found = [i for i, text in enumerate(self.base) if text == line]
                if len(found) != 1 or other.base.count(line) != 1:
                    continue
                index = found[0]
            if index not in self.lines:
                continue
            mine = self.lines[index]
            every = set(range(len(_tokens(line))))
            left = (every if mine is None else mine) - (every if tokens is None else tokens)
            if left:
                self.lines[index] = left
            else:
                del self.lines[index]


@dataclass
class _Scope:
    """A spec (whole, or cut down to some pools and frontends) and its rendering."""

    data: dict[str, Any]
    lines: list[str]
    errors: set[tuple[str, str]]
    owners: tuple[str, ...] | None = None
    """Dotted paths of the objects it holds, whose errors it can judge; None: the whole spec."""

    def owns(self, path: str) -> bool:
        """Whether an error at ``path`` concerns an object of this scope only."""
        if self.owners is None:
            return True
        return any(path == o or path.startswith((o + ".", o + "[")) for o in self.owners)


class _Unsure(Exception):
    """A probe in a scope met an error the scope cannot judge: probe on the whole spec."""


class _Prober:
    """Renders the spec with one field changed and compares the text with the real one."""

    def __init__(self, spec: Spec, target: str, layout: str, options: dict[str, Any]) -> None:
        self.target = target
        self.layout = layout
        self.options = options
        self.loaded = loaded_of(spec)
        self.data = spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
        self.priorities = priorities(spec.vip) if spec.vip is not None else []
        # One Jinja environment for every probe: the templates compile once.
        self.environment = make_environment()
        self.listening = _listening(spec)
        resolved = resolve_spec(spec, self.loaded)
        base, errors = self._render(resolved)
        self.whole = _Scope(self.data, base, errors)
        self.scopes: dict[str, _Scope] = {}
        # Spec order of the frontends and pools (a scope keeps it), and who listens on each port.
        self.frontend_order = {name: i for i, name in enumerate(spec.frontends)}
        self.pool_order = {name: i for i, name in enumerate(spec.pools)}
        self.pool_of = {fe.name: fe.pool for fe in resolved.frontends}
        self.frontends_of: dict[str, list[str]] = {}
        self.ports: dict[str, set[int]] = {}
        self.on_port: dict[int, list[str]] = {}
        for fe in resolved.frontends:
            self.frontends_of.setdefault(fe.pool, []).append(fe.name)
            self.ports[fe.name] = {bind.address.port for bind in fe.binds}
            for port in self.ports[fe.name]:
                self.on_port.setdefault(port, []).append(fe.name)
        self.at: dict[str, list[int]] = {}  # line text -> its indices in the whole rendering
        for index, line in enumerate(base):
            self.at.setdefault(line, []).append(index)

    def _render(
        self, resolved: Resolved, options: dict[str, Any] | None = None
    ) -> tuple[list[str], set[tuple[str, str]]]:
        """The lines (without the provenance header, whose digest changes with every probe)
        and the translation's errors as (code, path)."""
        view = build_view(resolved, self.target, self.layout, **(options or self.options))
        template = self.environment.get_template(view.template)
        lines = template.render({**view.context, "header": []}).splitlines()
        return lines, {(d.code, d.path) for d in view.diagnostics if d.level is Level.ERROR}

    def _validated(self, data: dict[str, Any], options: dict[str, Any]) -> _Scope:
        """``data`` rendered, or an exception when it is not a spec a view renders."""
        spec = Spec.model_validate(data)
        # Cross-field checks are skipped on purpose: a probe may break "all weights are
        # percentages" and still say what a weight becomes.
        loaded = LoadedSpec(spec=spec, source=self.loaded.source, diagnostics=[])
        lines, errors = self._render(resolve_spec(spec, loaded), options)
        return _Scope(data, lines, errors)

    def scope(self, path: Path_) -> _Scope:
        """Where to probe the field at ``path``: its pool's scope, else the whole spec."""
        if self.options.get("node") is not None or path[0] not in ("pools", "frontends"):
            return self.whole
        name = path[1]
        assert isinstance(name, str)
        pool = name if path[0] == "pools" else self.pool_of.get(name)
        if pool is None:
            return self.whole
        if pool not in self.scopes:
            self.scopes[pool] = self._cut(pool) or self.whole
        return self.scopes[pool]

    def _cut(self, pool: str) -> _Scope | None:
        """The scope of ``pool``: it, its frontends, the frontends listening on their ports with
        their pools; None when its rendering is not an excerpt of the whole one."""
        frontends = set(self.frontends_of.get(pool, ()))
        ports = {port for fe in frontends for port in self.ports[fe]}
        frontends |= {fe for port in ports for fe in self.on_port.get(port, ())}
        pools = {pool} | {self.pool_of[fe] for fe in frontends}
        frontend_names = sorted(frontends, key=self.frontend_order.__getitem__)
        pool_names = sorted(pools, key=self.pool_order.__getitem__)
        data = {
            **self.data,
            "frontends": {name: self.data["frontends"][name] for name in frontend_names},
            "pools": {name: self.data["pools"][name] for name in pool_names},
        }
        try:
            scope = self._validated(data, self.options)
        except Exception:  # the whole spec renders, so this cut is what failed
            return None
        if not scope.errors <= self.whole.errors or not self._excerpt(scope.lines):
            return None
        scope.owners = tuple(dotted(("frontends", name)) for name in frontend_names) + tuple(
            dotted(("pools", name)) for name in pool_names
        )
        return scope

    def _excerpt(self, lines: list[str]) -> bool:
        """Whether ``lines`` appear in the whole rendering, in this order."""
        at = -1
        for line in lines:
            found = self.at.get(line)
            if found is None:
                return False
            i = bisect_right(found, at)
            if i == len(found):
                return False
            at = found[i]
        return True

    def probe(self, scope: _Scope, path: Path_, value: Any) -> list[str] | None:
        """The rendered lines of ``scope`` with ``path`` set to ``value``; None when that is not
        a valid spec. Raises :class:`_Unsure` for an error outside a cut-down scope."""
        data = scope.data
        options = self.options
        try:
            if path[:2] == ("vip", "nodes"):
                data = {**data, "vip": copy.deepcopy(data["vip"])}  # its nodes are edited below
            renamed = path[:2] == ("vip", "nodes") and path[3:] == ("name",)
            if renamed and data["vip"]["nodes"][path[2]]["name"] == options.get("node"):
                # Renaming the rendered node renders that node under its new name.
                options = {**options, "node": value}
            if path[:2] == ("vip", "nodes") and path[3:] == ("priority",):
                # Priorities are set on every node or none: the derived ones fill the others.
                for entry, derived in zip(data["vip"]["nodes"], self.priorities, strict=True):
                    entry.setdefault("priority", derived)
            changed = _without(data, path) if value is LEFT_OUT else _with(data, path, value)
            if changed is None:
                return None
            probed = self._validated(changed, options)
        except Exception:  # a value a view cannot render tells nothing: skip it
            return None
        # A value this engine rejects (balance random beside a backup server in nginx) would
        # credit the field with lines that another field's translation owns: not a valid probe.
        new = probed.errors - scope.errors
        if any(not scope.owns(where) for _, where in new):
            raise _Unsure(path)
        return None if new else probed.lines

    def effect(self, path: Path_, values: Sequence[Any]) -> _Effect:
        """What the baseline lines owe to the field at ``path``, over every probe value."""
        scope = self.scope(path)
        try:
            return self._effect(scope, path, values)
        except _Unsure:
            return self._effect(self.whole, path, values)

    def _effect(self, scope: _Scope, path: Path_, values: Sequence[Any]) -> _Effect:
        effect = _Effect(scope.lines)
        for value in values:
            lines = self.probe(scope, path, value)
            if lines is not None:
                effect.probed.append(value)
                _compare(scope.lines, lines, effect)
        return effect


def _compare(base: list[str], other: list[str], effect: _Effect) -> None:
    if base == other:
        return
    # A probe changes a few neighbouring lines: the diff runs on the stretch between the common
    # head and tail (difflib over a whole large config costs its size times its repeated lines).
    start, end = 0, min(len(base), len(other))
    while start < end and base[start] == other[start]:
        start += 1
    stop, shift = len(base), len(other) - len(base)
    while stop > start and stop + shift > start and base[stop - 1] == other[stop + shift - 1]:
        stop -= 1
    matcher = SequenceMatcher(None, base[start:stop], other[start : stop + shift], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        i1, i2, j1, j2 = i1 + start, i2 + start, j1 + start, j2 + start
        if tag == "equal":
            continue
        effect.influenced = True
        if tag == "replace" and i2 - i1 == j2 - j1:
            for offset in range(i2 - i1):
                a, b = _tokens(base[i1 + offset]), _tokens(other[j1 + offset])
                changed: set[int] = set()
                tokens = SequenceMatcher(None, a, b, autojunk=False)
                for ttag, t1, t2, _, _ in tokens.get_opcodes():
                    if ttag != "equal":
                        changed.update(range(t1, t2))
                if changed:
                    effect.tokens(i1 + offset, changed)
        elif tag == "replace":
            _pair_lines(base, other, (i1, i2), (j1, j2), effect)
        else:
            for index in range(i1, i2):
                effect.whole(index)


def _pair_lines(
    base: list[str], other: list[str], rows: tuple[int, int], into: tuple[int, int], effect: _Effect
) -> None:
    """A block of lines replaced by a block of another length (a probe removed a line and changed
    its neighbours): pair each line with the next similar one, in order, to compare their tokens;
    then a line left without a partner with one of the same directive (``default-server``,
    ``server NAME``) between its neighbours' partners, however much the probe shrank it; a line
    still without a partner was wholly produced by the field."""
    partner: dict[int, int] = {}
    j = into[0]
    for i in range(*rows):
        a = _tokens(base[i])
        for k in range(j, into[1]):
            b = _tokens(other[k])
            if a[:1] == b[:1] and SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.5:
                partner[i] = k
                j = k + 1
                break
    taken = set(partner.values())
    low = into[0]
    for i in range(*rows):
        if i in partner:
            low = partner[i] + 1
            continue
        high = min((partner[n] for n in range(i + 1, rows[1]) if n in partner), default=into[1])
        key = _key(_tokens(base[i]))
        for k in range(low, high):
            if k not in taken and _key(_tokens(other[k])) == key:
                partner[i] = k
                taken.add(k)
                low = k + 1
                break
    for i in range(*rows):
        if i not in partner:
            effect.whole(i)
            continue
        a, b = _tokens(base[i]), _tokens(other[partner[i]])
        changed = {
            t for tag, t1, t2, _, _ in SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
            if tag != "equal" for t in range(t1, t2)
        }  # fmt: skip
        if changed:
            effect.tokens(i, changed)


def _tokens(line: str) -> list[str]:
    # nginx's ";" is its own token, so that "max_conns=1000;" -> "max_conns=1000" is not a change
    # of the token before it.
    return _TOKEN.findall(line)


def _join(tokens: Sequence[str]) -> str:
    return " ".join(tokens).replace(" ;", ";")


def _is_keyword(token: str) -> bool:
    return token.replace("-", "").replace("_", "").isalpha() and token.islower()


#: Directives whose second token is a name, whatever it looks like (``server big``, a server
#: named like a keyword; ``upstream pool``).
_NAMED = frozenset({"server", "backend", "frontend", "listen", "upstream", "peer", "nameserver"})


def _head(tokens: list[str]) -> int:
    """How many leading tokens name the line: the directive, and the name or address that follows
    it (``server k8s-master1``, ``server big``, ``server 10.0.0.1:6443``) but not a parameter
    keyword."""
    if len(tokens) > 2 and tokens[1] not in "{;" and tokens[0] in _NAMED:
        return 2
    if len(tokens) > 2 and not _is_keyword(tokens[1]) and "=" not in tokens[1]:
        return 2
    return 1


def _key(tokens: list[str]) -> tuple[str, ...]:
    """What makes two lines the same directive: the tokens that name the line."""
    return tuple(tokens[: _head(tokens)])


def _fragment(line: str, changed: set[int] | None) -> tuple[str, str, str] | None:
    """The part of ``line`` a field produced, as (directive, name, rest): the changed tokens with
    the keyword before a changed value (HAProxy writes ``keyword value``), after the line's head
    for orientation (``default-server … fall 3``)."""
    tokens = _tokens(line)
    if not tokens or all(t in "{};" for t in tokens):
        return None
    if changed is None or len(tokens) <= 4:
        return "", "", _join(tokens)
    head = _head(tokens)
    keep: set[int] = set()
    for index in changed:
        keep.add(index)
        before = index - 1
        if before >= head and not _is_keyword(tokens[index]) and _is_keyword(tokens[before]):
            keep.add(before)
    out: list[str] = []
    previous = head - 1
    for index in sorted(keep):
        if index < head:
            continue
        if index != previous + 1:
            out.append("…")
        out.append(tokens[index])
        previous = index
    return tokens[0], tokens[1] if head == 2 else "", _join(out)


def _fragments(base: list[str], effect: _Effect) -> tuple[str, ...]:
    # The same change on several lines (every server of a pool) is shown once, with a count;
    # whether the change follows the line's name directly ("…" or not) does not split a group.
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for index in sorted(effect.lines):
        parts = _fragment(base[index], effect.lines[index])
        if parts is not None:
            directive, name, rest = parts
            groups.setdefault((directive, rest.removeprefix("… ")), []).append((name, rest))
    out = []
    for (directive, rest), members in groups.items():
        if len(members) == 1:
            name, own = members[0]
            out.append(" ".join(t for t in (directive, name, own) if t))
        elif not directive:
            out.append(f"{rest}  ({len(members)} lines)")
        else:
            named = any(name for name, _ in members) or any(o != rest for _, o in members)
            out.append(f"{directive} {'… ' if named else ''}{rest}  ({len(members)} lines)")
    return tuple(out)


# --- diagnostics per field ---------------------------------------------------------------------


class _ByPath:
    """The rendering's diagnostics by path: a field looks up its own instead of scanning them
    all (a large spec has a few per pool). Lookups keep the diagnostics' order.

    ``senders``: the frontends (dotted paths) sending to each pool (``pools.cp``): a summary
    note on a frontend may name its pool's fields (nginx's ``nginx-defaults-dropped`` lists
    ``timeouts.server_fin`` on the frontend whose ``proxy_timeout`` it would join)."""

    def __init__(
        self, diagnostics: Sequence[Diagnostic], senders: dict[str, list[str]] | None = None
    ) -> None:
        self.at: dict[str, list[tuple[int, Diagnostic]]] = {}
        self.named: dict[str, list[tuple[int, Diagnostic]]] = {}
        """Dotted field path -> the diagnostics whose ``fields`` name it."""
        pool_of = {fe: pool for pool, frontends in (senders or {}).items() for fe in frontends}
        for index, d in enumerate(diagnostics):
            self.at.setdefault(d.path, []).append((index, d))
            for name in d.fields:
                named = f"{d.path}.{name}" if d.path else name
                if d.path in pool_of and not _frontend_field(name):
                    named = f"{pool_of[d.path]}.{name}"  # a pool's field, named on a frontend
                self.named.setdefault(named, []).append((index, d))

    def own(self, paths: set[str]) -> list[Diagnostic]:
        """The diagnostics at one of ``paths``."""
        found = [item for path in paths for item in self.at.get(path, ())]
        return [d for _, d in sorted(found, key=lambda item: item[0])]

    def why_dropped(self, candidate: _Candidate, *, enclosing: bool) -> list[Diagnostic]:
        """Diagnostics about a field that do not point at it: a summary note whose ``fields``
        name it (built-in defaults an engine cannot express, on its object or on a frontend
        sending to its pool), and with ``enclosing`` one on a block that holds it
        (``global.stats`` for ``global.stats.bind``)."""
        owner = candidate.section
        field_path = dotted(candidate.path)
        found = list(self.named.get(field_path, ()))
        if enclosing:
            # The blocks that hold the field: its dotted path cut at each "." past its object.
            for cut in range(len(owner) + 1, len(field_path)):
                if field_path[cut] == ".":
                    found += self.at.get(field_path[:cut], ())
        return [d for _, d in sorted(found, key=lambda item: item[0])]


def _frontend_field(name: str) -> bool:
    """Whether ``name`` (``timeouts.client_fin``) is a field a frontend sets."""
    row = fields.BY_PATH.get(name)
    return row is not None and Scope.FRONTEND in row.scopes


# --- the explanation ---------------------------------------------------------------------------


def explain(
    spec: Spec,
    target: str,
    *,
    layout: str | None = None,
    load_module: str | None = None,
    node: str | None = None,
) -> Explanation:
    """Explain, field by field, what rendering ``spec`` for ``target`` does with it; for the
    per-node target keepalived, the ``vip`` fields in ``node``'s config.

    Raises :class:`~lbgen.rendering.TargetError` for an unknown target or layout, and for a
    missing or unknown ``node`` of keepalived (or a ``node`` for another target).
    """
    layout = target_layout(target, layout)
    options: dict[str, Any] = {} if load_module is None else {"load_module": load_module}
    if node is not None:
        options["node"] = node
    loaded = loaded_of(spec)
    rendered = render_resolved(
        resolve_spec(spec, loaded), target, layout=layout, load_module=load_module, node=node
    )
    diagnostics = tuple(rendered.diagnostics)
    prober = _Prober(spec, target, layout, options)
    senders: dict[str, list[str]] = {}
    for name, frontend in spec.frontends.items():
        senders.setdefault(dotted(("pools", frontend.pool)), []).append(dotted(("frontends", name)))
    by_path = _ByPath(diagnostics, senders)
    claimed: set[Diagnostic] = set()
    sections: dict[str, list[FieldReport]] = {}
    probed = [
        (candidate, _probe(candidate, prober))
        for candidate in _candidates(spec, node, target)
        if candidate.value is not None or candidate.source is not None
    ]  # a field unset everywhere without a built-in default has nothing to explain
    effects = {candidate.path: effect for candidate, effect in probed}
    for candidate, effect in probed:
        # What a server's null wrote (HAProxy's own weight 1 over default-server) is the null's;
        # its pool's field changed it only through the null.
        pool = candidate.path[:2] + candidate.path[4:]
        if candidate.value is None and candidate.path[2:3] == ("servers",) and pool in effects:
            effects[pool].discount(effect)
    for candidate, effect in probed:
        report = _report(candidate, effect, by_path, loaded)
        claimed.update(report.diagnostics)
        sections.setdefault(candidate.section, []).append(report)
    return Explanation(
        target=target,
        layout=layout,
        file=loaded.source.filename,
        name=spec.name,
        sections=tuple(Section(title, tuple(reports)) for title, reports in sections.items()),
        diagnostics=diagnostics,
        unattached=tuple(sorted((d for d in diagnostics if d not in claimed), key=sort_key)),
    )


def _probe(candidate: _Candidate, prober: _Prober) -> _Effect:
    """The field's effect over its probes: another value and null; for an explicit null, the
    field left out and sample values."""
    located = fields.locate(candidate.path)
    assert located is not None, f"{dotted(candidate.path)} is not a registry field"
    row = located[1]
    if candidate.value is None:
        left_out = [LEFT_OUT] if candidate.path == candidate.source else []
        values = left_out + _samples(row, prober.listening)
    else:
        values = _alternatives(row, candidate.value, prober.listening)
    return prober.effect(candidate.path, values)


def _report(
    candidate: _Candidate,
    effect: _Effect,
    diagnostics: _ByPath,
    loaded: LoadedSpec,
) -> FieldReport:
    path = dotted(candidate.path)
    origin = dotted(candidate.source) if candidate.source is not None else None
    line = loaded.source.position(candidate.source)[0] if candidate.source is not None else None
    own = diagnostics.own({path} | ({origin} if origin else set()))
    common = {"path": path, "value": candidate.value, "origin": origin, "line": line}
    output = _fragments(effect.base, effect)
    inherits = None
    if output:
        outcome = Outcome.WRITTEN
    elif any(d.level is Level.ERROR for d in own):
        # The field's own value is an error for this engine: nothing is written because the
        # translation fails on it, not because it is the engine's default (or a null's).
        outcome = Outcome.DROPPED
    elif candidate.value is None:
        outcome = Outcome.NULL
    elif effect.influenced and candidate.inherits is not None:
        outcome = Outcome.INHERITED
        inherits = dotted(candidate.inherits)
    elif effect.influenced:
        outcome = Outcome.ENGINE_DEFAULT
    else:
        outcome = Outcome.DROPPED
    why = diagnostics.why_dropped(candidate, enclosing=outcome is Outcome.DROPPED)
    own += [d for d in why if d not in own]
    return FieldReport(
        **common,
        outcome=outcome,
        output=output,
        diagnostics=tuple(sorted(own, key=sort_key)),
        probed=tuple(effect.probed),
        inherits=inherits,
    )


# --- output ------------------------------------------------------------------------------------


#: A string a YAML flow collection reads back as itself, unquoted (``stdout``, ``/readyz``,
#: ``resolvers docker``); any other is quoted (``"udp://127.0.0.1:514"``, ``"[::]:6443"``).
_FLOW_PLAIN = re.compile(r"[A-Za-z_/.][A-Za-z0-9_/.+=~-]*(?: [A-Za-z0-9_/.+=~-]+)*")
_FLOW_SPECIAL = re.compile(r"(?i)null|true|false|yes|no|on|off|y|n|~|\.(?:inf|nan)")


def _show(value: Any) -> str:
    """A value the way a spec writes it: a scalar as is, a mapping or list in YAML flow style."""
    written = _as_written(value)
    if isinstance(written, dict | list):
        return _flow(written)
    return _flow(written) if written is None or isinstance(written, bool) else str(written)


def _flow(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(map(_flow, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        plain = _FLOW_PLAIN.fullmatch(value) and not _FLOW_SPECIAL.fullmatch(value)
        return value if plain else json.dumps(value)
    return str(value)


def _probes(values: Sequence[Any]) -> str:
    """The probe values of a dropped field, in a sentence."""
    shown = ["the field left out" if v is LEFT_OUT else _show(v) for v in values]
    if not shown:
        return "no other valid value could be probed"
    if len(shown) == 1:
        return f"{shown[0]} does not change the output"
    if len(shown) == 2:
        return f"neither {shown[0]} nor {shown[1]} changes the output"
    return f"none of {', '.join(shown)} changes the output"


_MARK = {
    Outcome.WRITTEN: "->",
    Outcome.ENGINE_DEFAULT: "=",
    Outcome.INHERITED: "=",
    Outcome.DROPPED: "x",
    Outcome.NULL: "=",
}


def format_explanation(explanation: Explanation) -> str:
    """Human-readable text: one block per spec object, one entry per field.

    ``->`` what the field became, ``=`` nothing written because that is the engine's own
    behaviour (or what a server inherits), ``x`` dropped; diagnostics follow as
    ``level [code] message``.
    """
    engine = {
        "haproxy": "HAProxy", "nginx": "nginx", "nginx-plus": "NGINX Plus",
        "keepalived": "keepalived",
    }  # fmt: skip
    out = [
        f"{explanation.file}: spec {explanation.name or '(unnamed)'} for {explanation.target} "
        f"(layout {explanation.layout})",
    ]
    counts = dict.fromkeys(Outcome, 0)
    for section in explanation.sections:
        out += ["", section.title]
        for report in section.fields:
            counts[report.outcome] += 1
            where = "built-in default"
            if report.path.startswith("vip.nodes[") and report.path.endswith(".priority"):
                where = "from the order of vip.nodes"
            if report.origin is not None:
                where = f"line {report.line}"
                relative = report.origin != report.path
                where += f", from {report.origin}" if relative else ""
            out.append(f"  {report.path.removeprefix(section.title + '.')} = "
                       f"{_show(report.value)}  ({where})")  # fmt: skip
            mark = _MARK[report.outcome]
            if report.outcome is Outcome.WRITTEN:
                out += [f"      {mark} {text}" for text in report.output]
            elif report.outcome is Outcome.ENGINE_DEFAULT:
                out.append(f"      {mark} nothing written: {engine[explanation.target]}'s own "
                           "default is this value")  # fmt: skip
            elif report.outcome is Outcome.INHERITED:
                assert report.inherits is not None
                source = _inherited(explanation, report.inherits, engine)
                out.append(f"      {mark} nothing written on its line: it equals the value "
                           f"inherited from {source}")  # fmt: skip
            elif report.outcome is Outcome.NULL:
                out.append(f"      {mark} null: nothing written, the engine's default applies")
            elif _refused(report):
                out.append(f"      {mark} dropped: {engine[explanation.target]} cannot take "
                           "this value: render refuses the spec")  # fmt: skip
            else:
                why = "" if report.diagnostics else "; the translation gives no reason"
                out.append(f"      {mark} dropped: {_probes(report.probed)}{why}")
            for d in report.diagnostics:
                out.append(f"      ! {d.level} [{d.code}] {d.message}")
    if explanation.unattached:
        out += ["", "other diagnostics"]
        out += [f"  ! {d.level} [{d.code}] {d.path}: {d.message}" for d in explanation.unattached]
    out += [
        "",
        f"{sum(counts.values())} fields: {counts[Outcome.WRITTEN]} written, "
        f"{counts[Outcome.ENGINE_DEFAULT] + counts[Outcome.NULL]} left to the engine's default, "
        + (f"{counts[Outcome.INHERITED]} as inherited, " if counts[Outcome.INHERITED] else "")
        + f"{counts[Outcome.DROPPED]} dropped"
        + ("" if explanation.ok else "; the translation has errors: render would write nothing"),
    ]
    return "\n".join(out) + "\n"


def _refused(report: FieldReport) -> bool:
    """Whether the field's own value is an error for the engine (a diagnostic at the field or
    where its value was set): the translation fails on it."""
    return any(
        d.level is Level.ERROR and d.path in (report.path, report.origin)
        for d in report.diagnostics
    )


def _inherited(explanation: Explanation, path: str, engine: dict[str, str]) -> str:
    """Where a server's inherited value comes from and what it wrote: ``pools.cp.weight (line
    10, from defaults.weight), written as default-server … weight 10``."""
    pool = explanation.field(path)
    where = "built-in default"
    if pool.origin is not None:
        where = f"line {pool.line}" + (f", from {pool.origin}" if pool.origin != path else "")
    if pool.outcome is Outcome.WRITTEN:
        return f"{path} ({where}), written as {'; '.join(pool.output)}"
    if pool.outcome is Outcome.ENGINE_DEFAULT:
        return f"{path} ({where}), {engine[explanation.target]}'s own default"
    return f"{path} ({where})"


def format_json(explanation: Explanation) -> str:
    """The explanation as JSON (see :meth:`Explanation.as_dict`)."""
    return json.dumps(explanation.as_dict(), indent=2)


__all__ = [
    "Explanation",
    "FieldReport",
    "Outcome",
    "Section",
    "explain",
    "format_explanation",
    "format_json",
]
