"""What a keepalived.conf makes keepalived do: the effective model of its VRRP part, and its diff.

The model holds what lbgen renders and a hand-edited file is most likely to change: the
``global_defs`` (``router_id``, script security and user), each ``vrrp_script`` (command,
interval, timeout, weight, fall, rise) and each ``vrrp_instance`` (state, interface, VRID,
priority, advert interval, VRRP version, preemption, unicast source and peers, VIPs,
authentication, tracked scripts). Values are read through the directive table's codecs and
absent ones take keepalived's defaults from the same rows, so ``advert_int 1`` equals no
``advert_int`` and ``advert_int 0.20`` equals ``0.2``. Where keepalived normalises, so does the
model: the VRRP version of an instance is its ``version`` or the global ``vrrp_version``; a VIP
without ``dev`` is on the instance's interface; ``auth_pass`` is cut to 8 characters; peers,
VIPs and tracked scripts are sets. Everything else (``virtual_server``, notify scripts, ...) is
outside the model: lbgen renders none of it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import field
from typing import Any

from lbgen.compare import Change
from lbgen.confparse.tree import ConfigTree, Node, ParseError, fail
from lbgen.effective.differ import Difference, differences
from lbgen.effective.model import Origin, header_fields
from lbgen.frozen import record
from lbgen.keepalived.syntax import unquote
from lbgen.keepalived.table import TABLE

AUTH_PASS_MAX = 8
"""keepalived uses the first 8 characters of ``auth_pass`` and drops the rest."""
CODE_VALUE = "keepalived-value"


@record
class Globals:
    """The ``global_defs`` settings that matter to the tier."""

    router_id: str | None = None
    enable_script_security: bool = False
    script_user: str | None = None
    origin: Origin | None = field(default=None, compare=False)
    origins: Mapping[str, Origin] = field(default_factory=dict, compare=False)


@record
class Script:
    """One ``vrrp_script``."""

    script: str | None = None
    interval: int = 1_000_000
    timeout: int | None = None
    weight: int = 0
    fall: int = 1
    rise: int = 1
    origin: Origin | None = field(default=None, compare=False)
    origins: Mapping[str, Origin] = field(default_factory=dict, compare=False)


@record
class Instance:
    """One ``vrrp_instance``."""

    state: str = "BACKUP"
    interface: str | None = None
    virtual_router_id: int | None = None
    priority: int = 100
    advert_int: int = 1_000_000
    vrrp_version: int = 2
    nopreempt: bool = False
    preempt_delay: int = 0
    unicast_src_ip: str | None = None
    unicast_peer: frozenset[str] = frozenset()
    virtual_ipaddress: frozenset[str] = frozenset()
    auth_type: str | None = None
    auth_pass: str | None = None
    track_script: frozenset[str] = frozenset()
    origin: Origin | None = field(default=None, compare=False)
    origins: Mapping[str, Origin] = field(default_factory=dict, compare=False)
    entries: Mapping[str, Origin] = field(default_factory=dict, compare=False)
    """Where each peer, VIP and tracked script is written (a diff points at the entry)."""


@record
class KeepalivedConfig:
    """The effective model of one keepalived.conf."""

    global_defs: Globals = Globals()
    vrrp_script: Mapping[str, Script] = field(default_factory=dict)
    vrrp_instance: Mapping[str, Instance] = field(default_factory=dict)
    file: str = field(default="", compare=False)
    header: tuple[str, ...] = field(default=(), compare=False)

    def header_fields(self) -> dict[str, str]:
        """``key: value`` pairs of the leading comments (lbgen's provenance header)."""
        return header_fields(self.header)


# --- reading -----------------------------------------------------------------------------------

_SCRIPT_FIELDS = {"interval": "interval", "timeout": "timeout", "weight": "weight",
                  "fall": "fall", "rise": "rise"}  # fmt: skip
_INSTANCE_VALUES = {"virtual_router_id": "virtual_router_id", "priority": "priority",
                    "advert_int": "advert_int", "preempt_delay": "preempt_delay"}  # fmt: skip


class _Reader:
    """Collects values, their origins and the errors of one file."""

    def __init__(self) -> None:
        self.errors: list[ParseError] = []

    def value(self, node: Node, directive: str, context: str) -> Any:
        """The node's one argument through the table's codec; None (and an error) if bad."""
        row = TABLE.named(directive, context)
        assert row is not None and row.codec is not None, directive
        if len(node.args) != 1:
            self.error(node, f"{directive} takes one value, got {len(node.args)}")
            return None
        try:
            return row.codec.parse(unquote(node.args[0]))
        except (ValueError, ArithmeticError):
            self.error(node, f"{directive}: {node.args[0]!r} is not a valid value")
            return None

    def word(self, node: Node) -> str | None:
        """The node's one argument, unquoted."""
        if len(node.args) != 1:
            self.error(node, f"{node.keyword} takes one value, got {len(node.args)}")
            return None
        return unquote(node.args[0])

    def error(self, node: Node, message: str) -> None:
        self.errors.append(
            ParseError(message, file=node.file, line=node.line, col=node.col, code=CODE_VALUE)
        )


def _address(text: str, node: Node, reader: _Reader) -> str | None:
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        reader.error(node, f"{text!r} is not an IP address")
        return None


def read_effective(tree: ConfigTree) -> KeepalivedConfig:
    """The effective model of a parsed keepalived.conf; SpecError (file:line) for a value that
    keepalived would not take (``priority high``, an address that is none, two blocks of one
    name)."""
    reader = _Reader()
    globals_ = Globals()
    version = 2
    version_origin: Origin | None = None
    scripts: dict[str, Script] = {}
    instances: dict[str, Node] = {}
    for node in tree.directives():
        if node.keyword == "global_defs":
            globals_, found = _globals(node, reader)
            if found is not None:
                version, version_origin = found
        elif node.keyword in ("vrrp_script", "vrrp_instance"):
            if len(node.args) != 1:
                reader.error(node, f"{node.keyword} needs one name")
                continue
            name = node.args[0]
            if name in scripts or name in instances:
                reader.error(node, f"{node.keyword} {name} is defined twice")
            elif node.keyword == "vrrp_script":
                scripts[name] = _script(node, reader)
            else:
                instances[name] = node
    model = KeepalivedConfig(
        global_defs=globals_,
        vrrp_script=scripts,
        vrrp_instance={
            name: _instance(node, reader, version, version_origin)
            for name, node in instances.items()
        },
        file=tree.file,
        header=tuple(tree.leading_comments()),
    )
    if reader.errors:
        fail(reader.errors)
    return model


def _globals(node: Node, reader: _Reader) -> tuple[Globals, tuple[int, Origin] | None]:
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    version: tuple[int, Origin] | None = None
    for child in node.directives():
        if child.keyword in ("router_id", "script_user"):
            values[child.keyword] = (
                reader.word(child)
                if child.keyword == "router_id"
                else (" ".join(unquote(a) for a in child.args))
            )
        elif child.keyword == "enable_script_security":
            values["enable_script_security"] = True
        elif child.keyword == "vrrp_version":
            found = reader.value(child, "vrrp_version", "global_defs")
            if found is not None:
                version = (found, Origin.of(child))
            continue
        else:
            continue
        origins[child.keyword] = Origin.of(child)
    return Globals(**values, origin=Origin.of(node), origins=origins), version


def _script(node: Node, reader: _Reader) -> Script:
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for child in node.directives():
        if child.keyword == "script":
            values["script"] = " ".join(unquote(a) for a in child.args)
        elif child.keyword in _SCRIPT_FIELDS:
            found = reader.value(child, child.keyword, "vrrp_script")
            if found is None:
                continue
            values[_SCRIPT_FIELDS[child.keyword]] = found
        else:
            continue
        origins[child.keyword] = Origin.of(child)
    return Script(**values, origin=Origin.of(node), origins=origins)


def _instance(node: Node, reader: _Reader, version: int, version_origin: Origin | None) -> Instance:
    values: dict[str, Any] = {"vrrp_version": version}
    entries: dict[str, Origin] = {}
    origins: dict[str, Origin] = {"vrrp_version": version_origin} if version_origin else {}
    vips: list[tuple[Node, str, tuple[str, ...]]] = []
    for child in node.directives():
        key = child.keyword
        if key in ("state", "interface"):
            values[key] = reader.word(child)
        elif key in _INSTANCE_VALUES:
            values[key] = reader.value(child, key, "vrrp_instance")
        elif key == "version":
            values["vrrp_version"] = reader.value(child, "vrrp_version", "global_defs")
            key = "vrrp_version"
        elif key == "nopreempt":
            values[key] = True
        elif key == "unicast_src_ip":
            word = reader.word(child)
            values[key] = _address(word, child, reader) if word is not None else None
        elif key == "unicast_peer":
            peers = {}
            for peer in child.directives():
                found = _address(peer.keyword, peer, reader)
                if found is not None:
                    peers[found] = entries[found] = Origin.of(peer)
            values[key] = frozenset(peers)
        elif key == "virtual_ipaddress":
            vips = [(entry, entry.keyword, entry.args) for entry in child.directives()]
        elif key == "authentication":
            for entry in child.directives():
                if entry.keyword in ("auth_type", "auth_pass"):
                    word = reader.word(entry)
                    if entry.keyword == "auth_pass" and word is not None:
                        word = word[:AUTH_PASS_MAX]
                    values[entry.keyword] = word
                    origins[entry.keyword] = Origin.of(entry)
            continue
        elif key == "track_script":
            tracked = {" ".join(s.words()): Origin.of(s) for s in child.directives()}
            entries.update(tracked)
            values[key] = frozenset(tracked)
        else:
            continue
        origins[key] = Origin.of(child)
    values = {k: v for k, v in values.items() if v is not None}
    interface = values.get("interface")
    addresses = {}
    for entry, address, args in vips:
        text = _vip(entry, address, args, interface, reader)
        if text is not None:
            addresses[text] = entries[text] = Origin.of(entry)
    values["virtual_ipaddress"] = frozenset(addresses)
    return Instance(**values, origin=Origin.of(node), origins=origins, entries=entries)


def _vip(
    node: Node, address: str, args: tuple[str, ...], interface: str | None, reader: _Reader
) -> str | None:
    """``ADDR[/LEN] [dev IFACE] [...]`` normalised: the prefix length always, the device the
    instance's interface when none is named."""
    try:
        parsed = ipaddress.ip_interface(address)
    except ValueError:
        reader.error(node, f"{address!r} is not an IP address")
        return None
    words = list(args)
    if "dev" not in words and interface is not None:
        words += ["dev", interface]
    return " ".join([parsed.with_prefixlen, *words])


# --- the diff ----------------------------------------------------------------------------------

_SCOPES = {"vrrp_instance": "vrrp_instance", "vrrp_script": "vrrp_script"}
_SECONDS = frozenset({"interval", "timeout", "advert_int", "preempt_delay"})


def _show(name: str, value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(value)) + "}" if value else "{}"
    if name in _SECONDS:
        row = TABLE.named("interval" if name in ("interval", "timeout") else name)
        assert row is not None and row.codec is not None
        return str(row.codec.render(value))
    return str(value)


def _origin(model: KeepalivedConfig, path: tuple[str, ...]) -> Origin | None:
    """Where the existing file sets the value at ``path``, else where its block starts."""
    entity: Globals | Script | Instance | None
    if path[0] == "global_defs":
        entity, name = model.global_defs, path[1] if len(path) > 1 else None
    else:
        blocks: Mapping[str, Script | Instance] = getattr(model, path[0])
        entity, name = blocks.get(path[1]), path[2] if len(path) > 2 else None
    if entity is None:
        return None
    return (entity.origins.get(name) if name else None) or entity.origin


def changes(theirs: KeepalivedConfig, ours: KeepalivedConfig) -> list[Change]:
    """One :class:`~lbgen.compare.Change` per difference, from the existing file (``theirs``)
    to the rendering (``ours``), each pointing at the existing file's line."""
    return list(_changes(differences(theirs, ours), theirs))  # type: ignore[arg-type]


def _changes(found: list[Difference], theirs: KeepalivedConfig) -> Iterator[Change]:
    for d in found:
        path = d.path
        if path[0] == "global_defs":
            scope, setting = "global_defs", path[1]
        elif len(path) == 2:  # a whole block on one side only
            kind = "added" if d.old is None else "removed"
            yield Change(kind, f"{_SCOPES[path[0]]} {path[1]}", "", None, None,
                         _origin(theirs, path), path)  # fmt: skip
            continue
        else:
            scope, setting = f"{_SCOPES[path[0]]} {path[1]}", path[2]
        origin = _origin(theirs, path)
        if isinstance(d.old, frozenset) and isinstance(d.new, frozenset):
            # A set: point at the first entry the spec does not have, when there is one.
            instance = theirs.vrrp_instance.get(path[1])
            gone = sorted(d.old - d.new)
            if instance is not None and gone and gone[0] in instance.entries:
                origin = instance.entries[gone[0]]
        yield Change(
            "changed", scope, setting, _show(setting, d.old), _show(setting, d.new), origin, path
        )


__all__ = ["Globals", "Instance", "KeepalivedConfig", "Script", "changes", "read_effective"]
