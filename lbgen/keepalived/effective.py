"""What a keepalived.conf makes keepalived do: the effective model of its VRRP part, and its diff.

The model holds what lbgen renders and a hand-edited file is most likely to change: the
``global_defs`` (``router_id``, script security and user), each ``vrrp_script`` (command,
interval, timeout, weight and its ``reverse``, fall, rise) and each ``vrrp_instance`` (state,
interface, VRID, priority, advert interval, VRRP version, preemption, unicast source and peers,
VIPs, authentication, tracked scripts). Values are read through the directive table's codecs and
absent ones take keepalived's defaults, so ``advert_int 1`` equals no ``advert_int`` and
``advert_int 0.20`` equals ``0.2``. Where keepalived normalises, so does the model: a script's
``timeout`` is its ``interval`` when not given; the VRRP version of an instance is its
``version``, else 3 for an IPv6 instance and the global ``vrrp_version`` for an IPv4 one; a VIP
without ``dev`` is on the instance's interface; ``auth_pass`` is cut to 8 characters; a tracked
script weighs its ``track_script`` weight, else its ``vrrp_script``'s; peers, VIPs and tracked
scripts are sets.

Every other line is kept as written (words unquoted, one space apart; a block on one line, its
lines sorted) in the ``extras`` of its block: ``global_defs``, each ``vrrp_script`` and
``vrrp_instance``, and as a :class:`~lbgen.effective.model.Section` each other top-level block
(``virtual_server``, ``vrrp_sync_group``, ...) and the top-level lines outside blocks
(``include``). They take part in equality, as haproxy's unmodelled lines do: ``vrrp_strict`` or
``no_accept`` changes what keepalived does, and lbgen writes none of them, so a file that has one
differs from the rendering by that line.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lbgen.compare import Change
from lbgen.confparse.tree import ConfigTree, Node, ParseError, fail
from lbgen.effective.differ import Difference, differences
from lbgen.effective.model import Origin, Section, header_fields
from lbgen.frozen import record
from lbgen.keepalived.syntax import unquote
from lbgen.keepalived.table import TABLE

AUTH_PASS_MAX = 8
"""keepalived uses the first 8 characters of ``auth_pass`` and drops the rest."""
CODE_VALUE = "keepalived-value"
TOP_LEVEL = ""
"""The :attr:`KeepalivedConfig.sections` key of the top-level lines outside any block."""


@record
class Globals:
    """The ``global_defs`` settings that matter to the tier."""

    router_id: str | None = None
    enable_script_security: bool = False
    script_user: str | None = None
    extras: tuple[str, ...] = ()
    """The lines the model has no field for (``vrrp_strict``, ``notification_email``), sorted."""
    origin: Origin | None = field(default=None, compare=False)
    origins: Mapping[str, Origin] = field(default_factory=dict, compare=False)


@record
class Script:
    """One ``vrrp_script``."""

    script: str | None = None
    interval: int = 1_000_000
    timeout: int = 1_000_000
    """keepalived's default is the interval (``vrrp_scheduler.c``: ``vscript->timeout ?
    vscript->timeout : vscript->interval``); the reader fills it in."""
    weight: int = 0
    weight_reverse: bool = False
    """``weight N reverse``: the weight applies while the script succeeds instead of while it
    fails. Shown with ``weight`` in a diff."""
    fall: int = 1
    rise: int = 1
    extras: tuple[str, ...] = ()
    """The lines the model has no field for (``user``, ``init_fail``), sorted."""
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
    """Each tracked script by name, followed by ``weight N [reverse]`` only when that differs
    from the script's own weight (what keepalived applies is the same either way)."""
    extras: tuple[str, ...] = ()
    """The lines the model has no field for (``no_accept``, ``notify_master``), sorted."""
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
    sections: Mapping[str, Section] = field(default_factory=dict)
    """The other top-level blocks by their head (``virtual_server 192.0.2.1 80``), and the
    top-level lines outside blocks under :data:`TOP_LEVEL`."""
    file: str = field(default="", compare=False)
    header: tuple[str, ...] = field(default=(), compare=False)

    def header_fields(self) -> dict[str, str]:
        """``key: value`` pairs of the leading comments (lbgen's provenance header)."""
        return header_fields(self.header)


# --- reading -----------------------------------------------------------------------------------

_SCRIPT_FIELDS = {"interval": "interval", "timeout": "timeout", "fall": "fall", "rise": "rise"}
_INSTANCE_VALUES = {"virtual_router_id": "virtual_router_id", "priority": "priority",
                    "advert_int": "advert_int", "preempt_delay": "preempt_delay"}  # fmt: skip
#: keepalived's yes/no words (lib/parser.c ``check_true_false``).
_TRUE_FALSE = {"true": True, "on": True, "yes": True, "false": False, "off": False, "no": False}


class _Reader:
    """Collects values, their origins and the errors of one file."""

    def __init__(self) -> None:
        self.errors: list[ParseError] = []

    def value(self, node: Node, directive: str, context: str) -> Any:
        """The node's one argument through the table's codec; None (and an error) if bad."""
        if len(node.args) != 1:
            self.error(node, f"{directive} takes one value, got {len(node.args)}")
            return None
        return self.parsed(node, node.args[0], directive, context)

    def parsed(self, node: Node, text: str, directive: str, context: str) -> Any:
        """``text`` through the codec of the table's row; None (and an error) if bad."""
        row = TABLE.named(directive, context)
        assert row is not None and row.codec is not None, directive
        try:
            return row.codec.parse(unquote(text))
        except (ValueError, ArithmeticError):
            self.error(node, f"{directive}: {text!r} is not a valid value")
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


@dataclass
class _Lines:
    """Unmodelled lines of one block: their text and where each is first written."""

    where: dict[str, Origin] = field(default_factory=dict)

    def add(self, node: Node) -> None:
        self.where.setdefault(line_text(node), Origin.of(node))

    def extras(self) -> tuple[str, ...]:
        """Sorted: keepalived sets a value or a flag, or adds to a list it does not order, for
        each line; and a line written twice does what it does once."""
        return tuple(sorted(self.where))

    def origins(self) -> dict[str, Origin]:
        return {f"extras:{text}": origin for text, origin in self.where.items()}


def line_text(node: Node) -> str:
    """An unmodelled line as keepalived reads it: its words unquoted (keepalived strips the
    quotes of a quoted word), one space apart; a block as its head and its lines in braces,
    sorted and each once (``track_interface { eth1; eth2 weight 10 }``)."""
    head = " ".join(unquote(word) for word in node.words())
    inner = sorted({line_text(child) for child in node.directives()})
    return f"{head} {{ {'; '.join(inner)} }}" if inner else head


def _address(
    text: str, node: Node, reader: _Reader
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        reader.error(node, f"{text!r} is not an IP address")
        return None


@dataclass
class _GlobalState:
    """What the ``global_defs`` blocks say, read in file order."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    lines: _Lines = field(default_factory=_Lines)
    version: int = 2
    version_origin: Origin | None = None
    strict: bool = False
    origin: Origin | None = None

    def globals(self) -> Globals:
        return Globals(
            **self.values,
            extras=self.lines.extras(),
            origin=self.origin,
            origins={**self.origins, **self.lines.origins()},
        )


def read_effective(tree: ConfigTree) -> KeepalivedConfig:
    """The effective model of a parsed keepalived.conf; SpecError (file:line) for a value that
    keepalived would not take (``priority high``, an address that is none, two blocks of one
    name)."""
    reader = _Reader()
    state = _GlobalState()
    scripts: dict[str, Script] = {}
    instances: dict[str, Node] = {}
    sections: dict[str, tuple[Node, _Lines]] = {}
    for node in tree.directives():
        if node.keyword == "global_defs":
            # keepalived runs the handlers of each global_defs block it meets: they add up.
            state.origin = state.origin or Origin.of(node)
            _globals(node, reader, state)
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
        else:
            name = line_text(Node(node.keyword, node.args)) if node.children else TOP_LEVEL
            _, lines = sections.setdefault(name, (node, _Lines()))
            for line in node.directives() if node.children else (node,):
                lines.add(line)
    model = KeepalivedConfig(
        global_defs=state.globals(),
        vrrp_script=scripts,
        vrrp_instance={
            name: _instance(node, reader, state, scripts) for name, node in instances.items()
        },
        sections={
            name: Section(name, lines.extras(), lines.origins(), Origin.of(first))
            for name, (first, lines) in sections.items()
        },
        file=tree.file,
        header=tuple(tree.leading_comments()),
    )
    if reader.errors:
        fail(reader.errors)
    return model


def _globals(node: Node, reader: _Reader, state: _GlobalState) -> None:
    for child in node.directives():
        if child.keyword == "router_id":
            state.values["router_id"] = reader.word(child)
        elif child.keyword == "script_user":
            state.values["script_user"] = " ".join(unquote(a) for a in child.args)
        elif child.keyword == "enable_script_security":
            state.values["enable_script_security"] = True
        elif child.keyword == "vrrp_version":
            found = reader.value(child, "vrrp_version", "global_defs")
            if found is not None:
                state.version, state.version_origin = found, Origin.of(child)
            continue
        else:
            if child.keyword == "vrrp_strict":
                # Also read for the VRRP version of an IPv6 instance (see _version); as a line
                # it stays an extra: it changes much else (no unicast, no preempt_delay, ...).
                state.strict = True
            state.lines.add(child)
            continue
        state.origins[child.keyword] = Origin.of(child)


def _script(node: Node, reader: _Reader) -> Script:
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    lines = _Lines()
    for child in node.directives():
        if child.keyword == "script":
            values["script"] = " ".join(unquote(a) for a in child.args)
        elif child.keyword in _SCRIPT_FIELDS:
            found = reader.value(child, child.keyword, "vrrp_script")
            if found is None:
                continue
            values[_SCRIPT_FIELDS[child.keyword]] = found
        elif child.keyword == "weight":
            # vrrp_parser.c vrrp_vscript_weight_handler: a value, then an optional "reverse".
            if len(child.args) not in (1, 2) or child.args[1:] not in ((), ("reverse",)):
                reader.error(child, "weight takes a value and an optional 'reverse', got "
                             + " ".join(child.args))  # fmt: skip
                continue
            found = reader.parsed(child, child.args[0], "weight", "vrrp_script")
            if found is None:
                continue
            values["weight"], values["weight_reverse"] = found, len(child.args) == 2
        else:
            lines.add(child)
            continue
        origins[child.keyword] = Origin.of(child)
    values.setdefault("timeout", values.get("interval", Script.interval))
    return Script(
        **values,
        extras=lines.extras(),
        origin=Origin.of(node),
        origins={**origins, **lines.origins()},
    )


def _instance(
    node: Node, reader: _Reader, state: _GlobalState, scripts: Mapping[str, Script]
) -> Instance:
    values: dict[str, Any] = {}
    entries: dict[str, Origin] = {}
    origins: dict[str, Origin] = {}
    lines = _Lines()
    vips: list[tuple[Node, str, tuple[str, ...]]] = []
    peers: dict[str, Origin] = {}
    tracked: dict[str, tuple[str, Origin]] = {}
    # The family of the first address the instance is given (keepalived's vrrp->family), and
    # the version it is given: both decide its VRRP version (see _version).
    family: int | None = None
    version: tuple[int, Origin] | None = None
    strict: bool | None = None
    for child in node.directives():
        key = child.keyword
        if key in ("state", "interface"):
            values[key] = reader.word(child)
        elif key in _INSTANCE_VALUES:
            values[key] = reader.value(child, key, "vrrp_instance")
        elif key == "version":
            found = reader.value(child, "vrrp_version", "global_defs")
            # vrrp_parser.c vrrp_version_handler: a version other than one given before is
            # ignored, and so is 2 on an instance that is IPv6 already.
            kept = found is not None and (version is None or version[0] == found)
            if kept and not (found == 2 and family == 6):
                version = version or (found, Origin.of(child))
            continue
        elif key == "nopreempt":
            values[key] = True
        elif key == "unicast_src_ip":
            word = reader.word(child)
            address = _address(word, child, reader) if word is not None else None
            values[key] = address.compressed if address is not None else None
            family = family or (address.version if address is not None else None)
        elif key == "unicast_peer":
            for peer in child.directives():
                address = _address(peer.keyword, peer, reader)
                if address is not None:
                    family = family or address.version
                    text = " ".join((address.compressed, *peer.args))
                    peers[text] = entries[text] = Origin.of(peer)
            values[key] = frozenset(peers)
        elif key == "virtual_ipaddress":
            for entry in child.directives():
                vips.append((entry, entry.keyword, entry.args))
                family = family or _family(entry.keyword)
        elif key == "authentication":
            for entry in child.directives():
                if entry.keyword in ("auth_type", "auth_pass"):
                    word = reader.word(entry)
                    if entry.keyword == "auth_pass" and word is not None:
                        word = word[:AUTH_PASS_MAX]
                    values[entry.keyword] = word
                    origins[entry.keyword] = Origin.of(entry)
                else:
                    lines.add(Node(key, (), (entry,), file=entry.file, line=entry.line,
                                   col=entry.col))  # fmt: skip
            continue
        elif key == "track_script":
            for entry in child.directives():
                found_entry = _tracked(entry, scripts, reader)
                # alloc_track_script: a script tracked twice keeps its first entry.
                if found_entry is not None and found_entry[0] not in tracked:
                    tracked[found_entry[0]] = (found_entry[1], Origin.of(entry))
            entries.update({text: where for text, where in tracked.values()})
            values[key] = frozenset(text for text, _ in tracked.values())
        else:
            if key == "native_ipv6" and family != 4:
                # vrrp_native_ipv6_handler: the instance is IPv6 and runs VRRPv3.
                family, version = 6, (3, Origin.of(child))
            elif key == "strict_mode":
                strict = _TRUE_FALSE.get(unquote(child.args[0])) if child.args else True
            lines.add(child)
            continue
        origins[key] = Origin.of(child)
    values = {k: v for k, v in values.items() if v is not None}
    values["vrrp_version"], version_origin = _version(
        family, version, state, state.strict if strict is None else strict
    )
    if version_origin is not None:
        origins["vrrp_version"] = version_origin
    interface = values.get("interface")
    addresses = {}
    for entry, written, args in vips:
        vip = _vip(entry, written, args, interface, reader)
        if vip is not None:
            addresses[vip] = entries[vip] = Origin.of(entry)
    values["virtual_ipaddress"] = frozenset(addresses)
    return Instance(
        **values,
        extras=lines.extras(),
        origin=Origin.of(node),
        origins={**origins, **lines.origins()},
        entries=entries,
    )


def _family(text: str) -> int | None:
    """4 or 6 for a VIP's address (with or without its prefix length), None for none."""
    try:
        return ipaddress.ip_interface(text).version
    except ValueError:
        return None


def _version(
    family: int | None, given: tuple[int, Origin] | None, state: _GlobalState, strict: bool
) -> tuple[int, Origin | None]:
    """An instance's VRRP version and where it is set, as keepalived's vrrp_complete_instance
    (vrrp.c) decides: an IPv6 instance runs the version it is given, else 3, whatever the
    global ``vrrp_version`` says (keepalived.conf(5): "IPv6 instances will always use version
    3"), and 3 in strict mode; an IPv4 one (or one without addresses) runs the version it is
    given, else the global ``vrrp_version`` (default 2)."""
    if family == 6:
        if given is None or strict:
            return 3, given[1] if given is not None and given[0] == 3 else None
        return given
    return given or (state.version, state.version_origin)


def _tracked(entry: Node, scripts: Mapping[str, Script], reader: _Reader) -> tuple[str, str] | None:
    """A ``track_script`` entry as (script name, text): ``NAME [weight N [reverse|noreverse]]``
    (vrrp_track.c alloc_track_script) with keepalived's defaults, the script's own weight and
    reverse; the text is the name alone when the entry applies just those."""
    words = [unquote(word) for word in entry.words()]
    name = words[0]
    script = scripts.get(name)
    if script is None:  # keepalived ignores the entry (and -t says so): shown as written
        return name, " ".join(words)
    weight, reverse = script.weight, script.weight_reverse
    if len(words) > 1:
        if words[1] != "weight" or len(words) not in (3, 4):
            reader.error(entry, f"track_script {name}: expected 'weight N [reverse|noreverse]'")
            return None
        found = reader.parsed(entry, words[2], "weight", "vrrp_script")
        if found is None:
            return None
        if not -254 <= found <= 254:
            reader.error(entry, f"track_script {name}: weight {found} is not in -253..253")
            return None
        weight = max(-253, min(253, found))  # keepalived reads +/-254 as +/-253
        if len(words) == 4:
            if words[3] not in ("reverse", "noreverse"):
                reader.error(entry, f"track_script {name}: unknown weight option {words[3]!r}")
                return None
            reverse = words[3] == "reverse"
    if (weight, reverse) == (script.weight, script.weight_reverse):
        return name, name
    return name, f"{name} weight {weight}{' reverse' if reverse else ''}"


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


def _entity(model: KeepalivedConfig, path: tuple[str, ...]) -> Any:
    """The block ``path`` is in (global_defs, a script, an instance, a section), or None."""
    if path[0] == "global_defs":
        return model.global_defs
    blocks: Mapping[str, Any] = getattr(model, path[0])
    return blocks.get(path[1])


def _origin(model: KeepalivedConfig, path: tuple[str, ...]) -> Origin | None:
    """Where the existing file sets the value at ``path``, else where its block starts."""
    entity = _entity(model, path)
    if entity is None:
        return None
    name = path[1] if path[0] == "global_defs" else path[2] if len(path) > 2 else None
    found = entity.origins.get(name) if name else None
    return found if isinstance(found, Origin) else entity.origin


def changes(theirs: KeepalivedConfig, ours: KeepalivedConfig) -> list[Change]:
    """One :class:`~lbgen.compare.Change` per difference, from the existing file (``theirs``)
    to the rendering (``ours``), each pointing at the existing file's line."""
    found = differences(theirs, ours)  # type: ignore[arg-type]
    return list(_changes(found, theirs, ours))


def _changes(
    found: list[Difference], theirs: KeepalivedConfig, ours: KeepalivedConfig
) -> Iterator[Change]:
    weights: set[str] = set()
    for d in found:
        path = d.path
        if path[0] == "global_defs":
            scope, setting = "global_defs", path[1]
        elif len(path) == 2:  # a whole block on one side only
            if path == ("sections", TOP_LEVEL):  # top-level lines: one change each
                old, new = (getattr(side, "extras", ()) for side in (d.old, d.new))
                yield from _listed("", old, new, d.old, (*path, "extras"))
                continue
            kind = "added" if d.old is None else "removed"
            scope = path[1] if path[0] == "sections" else f"{_SCOPES[path[0]]} {path[1]}"
            yield Change(kind, scope, "", None, None, _origin(theirs, path), path)
            continue
        else:
            scope = path[1] if path[0] == "sections" else f"{_SCOPES[path[0]]} {path[1]}"
            setting = path[2]
        if setting == "extras":
            yield from _listed(scope, d.old, d.new, _entity(theirs, path), path)
            continue
        if path[0] == "vrrp_script" and setting in ("weight", "weight_reverse"):
            # One line, the way the file writes it: "weight -20 reverse".
            if path[1] not in weights:
                weights.add(path[1])
                old, new = theirs.vrrp_script[path[1]], ours.vrrp_script[path[1]]
                where = _origin(theirs, (*path[:2], "weight"))
                yield Change("changed", scope, "weight", _weight(old), _weight(new), where,
                             (*path[:2], "weight"))  # fmt: skip
            continue
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


def _weight(script: Script) -> str:
    return f"{script.weight}{' reverse' if script.weight_reverse else ''}"


def _listed(
    scope: str, old: Iterable[str], new: Iterable[str], entity: Any, path: tuple[str, ...]
) -> Iterator[Change]:
    """Lines without a model field: one change per line only one side has, a removed one at
    its line (in file order), an added one at the block it goes in."""
    ours = set(new or ())
    theirs = set(old or ())
    origins: Mapping[str, Origin] = getattr(entity, "origins", {})
    block: Origin | None = getattr(entity, "origin", None)
    where = {text: origins.get(f"extras:{text}", block) for text in theirs - ours}
    for text in sorted(where, key=lambda t: (getattr(where[t], "line", None) or 0, t)):
        yield Change("removed", scope, text, None, None, where[text], path)
    for text in sorted(ours - theirs):
        yield Change("added", scope, text, None, None, block, path)


__all__ = [
    "TOP_LEVEL",
    "Globals",
    "Instance",
    "KeepalivedConfig",
    "Script",
    "changes",
    "line_text",
    "read_effective",
]
