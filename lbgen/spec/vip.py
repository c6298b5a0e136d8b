"""The optional ``vip`` section: a tier of load-balancer nodes sharing virtual IPs (keepalived).

Each node runs the proxy (the spec's frontends, pools and ``global.health``) and keepalived; the
nodes elect, with VRRP, the one that holds the virtual addresses. The keepalived target renders
one node's ``keepalived.conf`` from this section (:mod:`lbgen.keepalived`).

Field checks are pydantic validators whose error type is the diagnostic code (as in
:mod:`lbgen.spec.models`); the checks that span fields (priorities, the track weight against
their spread, a VIP against the node addresses, ``global.health``) are :func:`vip_checks`, which
:func:`lbgen.spec.checks.cross_checks` runs with the other cross-field checks.

This module does not import :mod:`lbgen.spec.models` (models imports it for ``Spec.vip``, and
the package has no import cycles): what both use (the duration type, the wording of a refused
value) is in :mod:`lbgen.spec.types`.
"""

# No `from __future__ import annotations` here: pydantic would evaluate every field's
# annotation string when it creates the classes, at every start of the command (9 M
# instructions of `lbgen validate`, see `benchmarks/startup.py --stages`).

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from lbgen.diagnostics import Diagnostic, Level
from lbgen.spec import grammar
from lbgen.spec.source import Path_, SpecSource
from lbgen.spec.types import Check, Duration, grammar_schema, shown_value, why_unusable
from lbgen.units import parse_duration, parse_host_port

#: Priorities lbgen derives from the order of the nodes when none is given: the first node gets
#: the highest, then one step less each (a step of 1 when 5 would spread them too far).
DERIVED_TOP = 100
DERIVED_STEP = 5
#: keepalived's limits: priority 255 belongs to an address owner (state MASTER, never rendered),
#: and keepalived ignores the tracked scripts of an address owner.
PRIORITY_MIN, PRIORITY_MAX = 1, 254
#: The most nodes whose derived priorities fit under PRIORITY_MAX (steps of 1 from 254 down).
DERIVED_MAX_NODES = PRIORITY_MAX - DERIVED_TOP + 1
#: keepalived reads a vrrp_script's rise and fall as an unsigned number in [1, INT_MAX]; a larger
#: one is "invalid, defaulting to 1" (keepalived -t fails, a running keepalived uses 1).
CHECK_COUNT_MAX = 2**31 - 1
#: keepalived keeps a vrrp_script's interval and timeout in microseconds in an unsigned int: it
#: takes 1 to UINT_MAX / 1,000,000 = 4294 whole seconds ("outside range [0, 4294]" above).
SCRIPT_TIMER_MAX_S = (2**32 - 1) // 1_000_000
#: VRRP simple-password authentication carries 8 characters; keepalived cuts longer ones.
AUTH_PASS_MAX = 8
#: Linux IFNAMSIZ is 16 including the terminating NUL.
INTERFACE_MAX = 15
#: VRRPv3 carries the advert interval in centiseconds in 12 bits; VRRPv2 in whole seconds, 8 bits.
V3_ADVERT_US = (10_000, 4_095 * 10_000)
V2_ADVERT_S = (1, 255)

# Linux's dev_valid_name refuses '/', ':' and whitespace (and "." and ".."): "eth0:1" is an
# address label of eth0, not an interface, so `ip link add` refuses it and keepalived cannot
# find it.
_INTERFACE = grammar.Grammar("[A-Za-z0-9_.@+=-]{1,15}")
NODE_ADDRESS = grammar.Grammar(f"{grammar.IPV4.body}|{grammar.IPV6.body}")
VIP_ADDRESS = grammar.Grammar(
    f"{grammar.IPV4.body}(?:/(?:3[0-2]|[12][0-9]|[1-9]))?"
    f"|{grammar.IPV6.body}(?:/(?:12[0-8]|1[01][0-9]|[1-9][0-9]|[1-9]))?"
)


def _check_node_name(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("type", "a node name must be a string")
    if not grammar.NAME.matches(value):
        raise PydanticCustomError(
            "name",
            "{value} is not a valid node name: use 1-63 of A-Z a-z 0-9 _ . - starting with a "
            "letter or digit (it becomes keepalived's router_id){why}",
            {"value": shown_value(value), "why": why_unusable(value)},
        )
    return value


def _not_a_host(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` cannot be a host's own address on a link: unspecified, loopback or
    multicast (an IPv4-mapped IPv6 address counts as the IPv4 address it maps)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_unspecified or address.is_loopback or address.is_multicast


def _check_ip(value: Any) -> str:
    """One IP address (no port, no prefix): a node's own address."""
    if not isinstance(value, str):
        raise PydanticCustomError("type", "an IP address must be a string")
    if not (grammar.IPV4.matches(value) or grammar.IPV6.matches(value)):
        raise PydanticCustomError(
            "address", "{value} is not an IPv4 or IPv6 address (no port, no prefix){why}",
            {"value": shown_value(value), "why": why_unusable(value)},
        )  # fmt: skip
    # keepalived would send its adverts from it and the other nodes would send theirs to it
    # (unicast_src_ip, unicast_peer): an address no other host can reach.
    if _not_a_host(ipaddress.ip_address(value)):
        raise PydanticCustomError(
            "address",
            "{value} cannot be a node's address (unspecified, loopback or multicast): it is the "
            "node's own address on vip.interface, which the other nodes send their adverts to",
            {"value": shown_value(value)},
        )
    return value


def _check_vip(value: Any) -> str:
    """A virtual address, optionally with its prefix length: ``192.0.2.10`` or ``…/24``."""
    if not isinstance(value, str):
        raise PydanticCustomError("type", "a virtual address must be a string")
    host, slash, prefix = value.partition("/")
    ok = grammar.IPV4.matches(host) or grammar.IPV6.matches(host)
    if ok and slash:
        limit = 32 if grammar.IPV4.matches(host) else 128
        ok = prefix.isascii() and prefix.isdigit() and len(prefix) <= 3
        ok = ok and str(int(prefix)) == prefix and 1 <= int(prefix) <= limit
    if not ok:
        raise PydanticCustomError(
            "address",
            "{value} is not a virtual address: an IPv4 or IPv6 address, optionally with a prefix "
            "length (192.0.2.10/24){why}",
            {"value": shown_value(value), "why": why_unusable(value)},
        )
    if _not_a_host(ipaddress.ip_address(host)):
        raise PydanticCustomError(
            "address", "{value} cannot be a virtual address (unspecified, loopback or multicast)",
            {"value": shown_value(value)},
        )  # fmt: skip
    network = ipaddress.ip_interface(value).network
    # Every host on the link has a broadcast route for it: the VIP is bound, and a client's
    # connect() to it fails ("Network is unreachable"). /31 and /32 have none (RFC 3021).
    broadcast = network.version == 4 and network.prefixlen <= 30
    if broadcast and ipaddress.ip_address(host) == network.broadcast_address:
        raise PydanticCustomError(
            "address",
            "{value} is the broadcast address of its prefix: a client on the link cannot "
            "connect to it (Network is unreachable); pick another address or prefix length",
            {"value": shown_value(value)},
        )
    return value


def _check_interface(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("type", "an interface name must be a string")
    if value in (".", "..") or not _INTERFACE.matches(value):
        raise PydanticCustomError(
            "interface",
            "{value} is not a Linux interface name: 1-15 characters, no '/', ':' or "
            "whitespace, not '.' or '..' (and here only A-Z a-z 0-9 _ . @ + = -){why}",
            {"value": shown_value(value), "why": why_unusable(value)},
        )
    return value


def _check_auth_pass(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("type", "auth_pass must be a string")
    if len(value) > AUTH_PASS_MAX:
        raise PydanticCustomError(
            "vip-auth-pass",
            "auth_pass has {n} characters; VRRP carries {max}, and keepalived would silently "
            "cut it (nodes configured differently then never agree)",
            {"n": len(value), "max": AUTH_PASS_MAX},
        )
    if not AUTH_PASS.matches(value):
        raise PydanticCustomError(
            "vip-auth-pass",
            "auth_pass may hold 1-8 of A-Z a-z 0-9 _ . , : @ + = ~ % ^ * ( ) - (no space, quote, "
            "'#' or '!', which keepalived reads as a comment){why}",
            {"why": why_unusable(value)},
        )  # fmt: skip
    return value


AUTH_PASS = grammar.Grammar("[A-Za-z0-9_.,:@+=~%^*()-]{1,8}")


NodeName = Annotated[str, Check(_check_node_name), grammar_schema(grammar.NAME)]
NodeAddress = Annotated[
    str,
    Check(_check_ip),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": NODE_ADDRESS.pattern,
            "description": "an IPv4 or IPv6 address",
        }
    ),
]
VipAddress = Annotated[
    str,
    Check(_check_vip),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": VIP_ADDRESS.pattern,
            "description": "an IPv4 or IPv6 address[/prefix]",
        }
    ),
]
Interface = Annotated[str, Check(_check_interface), grammar_schema(_INTERFACE)]
AuthPass = Annotated[str, Check(_check_auth_pass), grammar_schema(AUTH_PASS)]


def _one_or_more(value: Any) -> Any:
    """A node's address or addresses: one string is a list of one; anything else but a list is
    worded as what the field takes, not as "must be a list"."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise PydanticCustomError(
            "type", "must be an IP address, or a list of at most two (one of each family)"
        )
    return value


class VipModel(BaseModel):
    """Base of the ``vip`` blocks: the spec models' rules (unknown keys are errors, no coercion)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class VipNode(VipModel):
    """One load-balancer node of the tier."""

    name: NodeName
    """The node's name: what ``render -t keepalived --node`` picks, and keepalived's
    router_id."""
    address: Annotated[
        list[NodeAddress],
        BeforeValidator(_one_or_more, json_schema_input_type=NodeAddress | list[NodeAddress]),
        Field(min_length=1, max_length=2),
    ]
    """The node's own address on the interface (the VRRP source and unicast peer), or two:
    one IPv4 and one IPv6 when the tier has a VIP of each family."""
    priority: Annotated[int, Field(ge=PRIORITY_MIN, le=PRIORITY_MAX)] | None = None
    """VRRP priority 1-254, highest wins; set on every node or on none (then the first node
    gets the highest, in list order)."""


class VipTrack(VipModel):
    """What each node watches: its own proxy's health endpoint (``global.health``)."""

    weight: Annotated[int, Field(ge=-253, le=-1)] = -20
    """Priority lost while the health check fails: negative, and larger in magnitude than the
    spread of the priorities, so that a failing node falls below every healthy one."""
    interval: Duration = "1s"
    """Time between checks, whole seconds 1s-4294s (keepalived's script interval)."""
    fall: Annotated[int, Field(ge=1, le=CHECK_COUNT_MAX)] = 2
    """Consecutive failed checks that lower the priority (1-2147483647)."""
    rise: Annotated[int, Field(ge=1, le=CHECK_COUNT_MAX)] = 2
    """Consecutive passed checks that restore it (1-2147483647)."""
    timeout: Duration = "1s"
    """How long one check may take, whole seconds 1s-4294s."""


class Vip(VipModel):
    """A highly available tier: nodes sharing virtual IPs with VRRP (keepalived)."""

    addresses: Annotated[list[VipAddress], Field(min_length=1, max_length=2)]
    """The virtual IPs clients use: one, or one IPv4 and one IPv6 (one VRRP instance each);
    optionally with a prefix length, 192.0.2.10/24 (default /32, /128)."""
    nodes: Annotated[list[VipNode], Field(min_length=2)]
    """The load-balancer nodes of the tier (at least two), in order of preference when no
    priorities are set (the priorities derived from the order stop at 254: at most 155 nodes)."""
    interface: Interface
    """The network interface that carries the VIP and the VRRP adverts, e.g. eth0."""
    virtual_router_id: Annotated[int, Field(ge=1, le=255)]
    """VRRP virtual router id 1-255, unique among the VRRP routers of the network segment."""
    advert_interval: Duration = "200ms"
    """Time between the master's adverts: VRRPv3 10ms-40.95s in steps of 10ms, VRRPv2 whole
    seconds. A backup takes over after about three missed adverts."""
    version: Literal[2, 3] = 3
    """The VRRP version: 3 (sub-second adverts, IPv6) or 2."""
    unicast: bool = True
    """Send adverts to the other nodes' addresses (unicast_peer); false: multicast."""
    auth_pass: AuthPass | None = None
    """VRRPv2 simple password, at most 8 characters (keepalived ignores it with VRRPv3)."""
    preempt: bool = True
    """A node with a higher priority takes the VIP back when it returns; false: the VIP stays
    where it is (every instance is rendered state BACKUP, which nopreempt requires)."""
    preempt_delay: Duration = "1s"
    """How long a node waits before it takes the VIP back from a lower-priority master
    (keepalived ``preempt_delay``, whole seconds 0s-1000s): when every node's health check fails
    at slightly different moments, the VIP stays where it is instead of moving back and forth.
    0s: take it at once."""
    track: VipTrack = VipTrack.model_construct()
    """The health check of each node's own proxy (global.health), and its weight."""

    @field_validator("nodes", mode="before")
    @classmethod
    def _two_nodes(cls, value: Any) -> Any:
        """Fewer than two nodes is no tier; said before pydantic's own ``min_length`` check,
        which the loader words "must not be empty" (wrong for one node)."""
        if isinstance(value, list) and len(value) < 2:
            raise PydanticCustomError(
                "vip-nodes",
                "a tier needs at least two nodes (got {n}): VRRP elects one of them to hold the "
                "VIP, the others take over when it fails",
                {"n": len(value)},
            )
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_an_integer(cls, value: Any) -> Any:
        """A quoted ``"3"`` is a type mistake, worded like any integer field's (the loader adds
        "(got a string)"): the choices' "did you mean '3'?" would offer what was written."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise PydanticCustomError("type", "must be a valid integer, 2 or 3")
        return value


def family(text: str) -> str:
    """``ipv4`` or ``ipv6`` for an address, with or without a prefix length."""
    return "ipv6" if ":" in text else "ipv4"


def derived_priorities(count: int, weight: int) -> list[int]:
    """Priorities for ``count`` nodes in order, first highest, spread less than ``-weight``."""
    step = DERIVED_STEP if DERIVED_STEP * (count - 1) < -weight else 1
    return [DERIVED_TOP + step * (count - 1 - i) for i in range(count)]


def priorities(vip: Vip) -> list[int]:
    """Each node's priority, in node order: as written, or derived from the order."""
    if all(node.priority is not None for node in vip.nodes):
        return [node.priority for node in vip.nodes if node.priority is not None]
    return derived_priorities(len(vip.nodes), vip.track.weight)


def health_target(bind: str) -> str | None:
    """The address a node's check connects to for a ``global.health.bind``, or None when that
    bind is not the same on every node's own host (a specific, non-loopback address, or a host
    name other than ``localhost``)."""
    address = parse_host_port(bind, allow_empty_host=True)
    if address.family == "any":
        return "127.0.0.1"
    if address.family == "dns":
        # localhost is the loopback on every node, but which of 127.0.0.1 and ::1 the proxy
        # listens on depends on the node's /etc/hosts (HAProxy 2.6 binds only the first
        # address getaddrinfo returns, ::1 with Debian's file): the check asks for the name
        # too, and bash's /dev/tcp tries each address it resolves to.
        return "localhost" if address.host.lower() == "localhost" else None
    ip = ipaddress.ip_address(address.canonical_host)
    if ip.is_unspecified:
        return "::1" if ip.version == 6 else "127.0.0.1"
    return str(ip) if ip.is_loopback else None


def vip_checks(
    vip: Vip, health_binds: list[tuple[Path_, str]] | None, source: SpecSource
) -> list[Diagnostic]:
    """The ``vip`` section's cross-field problems; ``health_binds`` is every address of
    ``global.health.bind`` with its path (None without ``global.health``)."""
    out: list[Diagnostic] = []

    def error(code: str, path: tuple[str | int, ...], message: str, key: bool = False) -> None:
        out.append(source.diagnostic(Level.ERROR, code, ("vip", *path), message, key=key))

    if health_binds is None:
        error(
            "vip-needs-health", (),
            "vip needs global.health: each node's keepalived tracks its own proxy's liveness "
            "endpoint (global: {health: {bind: \":8081\"}})", key=True,
        )  # fmt: skip
    # Every bind, not only the first that the checks ask: each node renders the same proxy
    # config, whose listener on another node's address could not start there.
    for path, bind in health_binds or ():
        if health_target(bind) is None:
            out.append(source.diagnostic(
                Level.ERROR, "vip-health-bind", path,
                f"{bind} is one host's address, but every node of vip.nodes renders it: bind the "
                "health endpoint to :PORT, a loopback address or localhost, so that each node's "
                "keepalived checks its own proxy (never through the VIP)",
            ))  # fmt: skip
    families = [family(a) for a in vip.addresses]
    if len(families) == 2 and families[0] == families[1]:
        error("vip-family", ("addresses", 1),
              "two virtual addresses of one family: give at most one IPv4 and one IPv6 "
              "(one VRRP instance each)")  # fmt: skip
    if vip.version == 2:
        for index, text in enumerate(vip.addresses):
            if family(text) == "ipv6":
                error("vip-v2-ipv6", ("addresses", index),
                      "VRRPv2 is IPv4 only (RFC 3768): use version 3 for an IPv6 VIP")  # fmt: skip
    advert = parse_duration(vip.advert_interval)
    if vip.version == 3 and (advert % 10_000 or not V3_ADVERT_US[0] <= advert <= V3_ADVERT_US[1]):
        error(
            "vip-advert",
            ("advert_interval",),
            f"VRRPv3 adverts are 10ms to 40950ms in steps of 10ms (got {vip.advert_interval})",
        )
    if vip.version == 2 and (advert % 1_000_000 or not V2_ADVERT_S[0] <= advert // 1_000_000
                             <= V2_ADVERT_S[1]):  # fmt: skip
        error("vip-advert", ("advert_interval",),
              f"VRRPv2 adverts are whole seconds, 1s to 255s (got {vip.advert_interval}); "
              "version 3 allows sub-second adverts")  # fmt: skip
    if vip.auth_pass is not None and vip.version == 3:
        error(
            "vip-auth-v3",
            ("auth_pass",),
            "auth_pass is VRRPv2 authentication: with version 3 keepalived ignores it (RFC "
            "5798 removed it), so it would protect nothing; drop it or use version 2",
        )
    seen_names: dict[str, int] = {}
    seen_addresses: dict[str, int] = {}
    for index, node in enumerate(vip.nodes):
        if node.name in seen_names:
            error(
                "vip-node-duplicate",
                ("nodes", index, "name"),
                f"node name {node.name!r} is already nodes[{seen_names[node.name]}]",
            )
        seen_names.setdefault(node.name, index)
        node_families = [family(a) for a in node.address]
        if len(node_families) == 2 and node_families[0] == node_families[1]:
            error(
                "vip-family",
                ("nodes", index, "address", 1),
                "two addresses of one family: give at most one IPv4 and one IPv6",
            )
        for a_index, text in enumerate(node.address):
            canonical = ipaddress.ip_address(text).compressed
            if canonical in seen_addresses:
                error(
                    "vip-node-address-duplicate",
                    ("nodes", index, "address", a_index),
                    f"{text} is already the address of nodes[{seen_addresses[canonical]}]",
                )
            seen_addresses.setdefault(canonical, index)
        for v_index, text in enumerate(vip.addresses):
            if family(text) not in node_families:
                error("vip-family-mismatch", ("nodes", index, "address"),
                      f"node {node.name} has no {family(text)} address for the VIP "
                      f"{text} (vip.addresses[{v_index}]): VRRP speaks each family from the "
                      "node's own address of it")  # fmt: skip
    for v_index, text in enumerate(vip.addresses):
        host = ipaddress.ip_address(text.partition("/")[0]).compressed
        if host in seen_addresses:
            error(
                "vip-is-node-address",
                ("addresses", v_index),
                f"{text} is the address of nodes[{seen_addresses[host]}]: the VIP must be an "
                "address of its own, that moves between the nodes",
            )
    for name in ("interval", "timeout"):
        us = parse_duration(getattr(vip.track, name))
        if us % 1_000_000 or not 1 <= us // 1_000_000 <= SCRIPT_TIMER_MAX_S:
            error("vip-track-interval", ("track", name),
                  "keepalived runs scripts with whole-second timers: write 1s to "
                  f"{SCRIPT_TIMER_MAX_S}s (got {getattr(vip.track, name)})")  # fmt: skip
    delay = parse_duration(vip.preempt_delay)
    if delay % 1_000_000 or delay > 1000 * 1_000_000:
        error("vip-preempt-delay", ("preempt_delay",),
              "keepalived's preempt_delay is whole seconds, 0s to 1000s "
              f"(got {vip.preempt_delay})")  # fmt: skip
    elif delay and not vip.preempt and "preempt_delay" in vip.model_fields_set:
        # A written delay that nothing renders: the tier would not behave as the spec reads.
        # A warning, as for a pool no frontend uses (the spec is valid, one value is moot).
        out.append(source.diagnostic(
            Level.WARNING, "vip-preempt-delay-unused", ("vip", "preempt_delay"),
            f"preempt_delay {vip.preempt_delay} has no effect with preempt: false (nopreempt: "
            "a node never takes the VIP back, so there is nothing to delay); drop it",
        ))  # fmt: skip
    if not vip.preempt:
        # keepalived's nopreempt: a backup never takes over from a lower-priority master, so the
        # readiness check's weight moves nothing (measured with two real keepalived nodes:
        # tests/test_vip_election.py). A warning: the choice is valid, one promise is gone.
        out.append(source.diagnostic(
            Level.WARNING, "vip-nopreempt-unready", ("vip", "preempt"),
            "preempt: false (nopreempt) keeps the VIP on a node whose proxy turns unready: a "
            "backup never takes over from a lower priority, so lbgen_ready's weight moves "
            "nothing; only a proxy that stops answering (lbgen_alive) moves the VIP. To damp "
            "moving back instead, keep preempt and raise preempt_delay",
        ))  # fmt: skip
    out += _priority_checks(vip, source)
    return out


def _priority_checks(vip: Vip, source: SpecSource) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    given = [node.priority is not None for node in vip.nodes]
    if any(given) and not all(given):
        missing = given.index(False)
        out.append(source.diagnostic(
            Level.ERROR, "vip-priority-partial", ("vip", "nodes", missing),
            "set priority on every node or on none (then the order decides: first highest)",
        ))  # fmt: skip
        return out
    weight = vip.track.weight
    if not any(given):
        if len(vip.nodes) - 1 >= -weight:
            out.append(source.diagnostic(
                Level.ERROR, "vip-track-weight", ("vip", "track", "weight"),
                f"{len(vip.nodes)} nodes need priorities spread by at least {len(vip.nodes) - 1}"
                f", which a track weight of {weight} cannot overcome: make it more negative",
            ))  # fmt: skip
        else:
            out += _derived_range(vip, source)
        return out
    seen: dict[int, int] = {}
    for index, node in enumerate(vip.nodes):
        assert node.priority is not None
        if node.priority in seen:
            out.append(source.diagnostic(
                Level.ERROR, "vip-priority-duplicate", ("vip", "nodes", index, "priority"),
                f"priority {node.priority} is already nodes[{seen[node.priority]}]'s: equal "
                "priorities leave the election to the addresses",
            ))  # fmt: skip
        seen.setdefault(node.priority, index)
    values = priorities(vip)
    spread = max(values) - min(values)
    if min(values) == PRIORITY_MIN:
        bottom = vip.nodes[values.index(min(values))].name
        out.append(source.diagnostic(
            Level.ERROR, "vip-track-weight", ("vip", "nodes", values.index(min(values)),
                                              "priority"),
            f"priority {PRIORITY_MIN} ({bottom}) never wins over an unready node: keepalived "
            f"lowers no priority below {PRIORITY_MIN}, so an unready node ties with {bottom} "
            f"and keeps the VIP; give every node {PRIORITY_MIN + 1} or more",
        ))  # fmt: skip
    elif -weight <= spread:
        top = vip.nodes[values.index(max(values))].name
        bottom = vip.nodes[values.index(min(values))].name
        out.append(source.diagnostic(
            Level.ERROR, "vip-track-weight", ("vip", "track", "weight"),
            f"track weight {weight} must be larger in magnitude than the priorities' spread "
            f"{spread} ({top} {max(values)} - {bottom} {min(values)}): else a node whose proxy "
            "is unready keeps the VIP over a healthy one",
        ))  # fmt: skip
    return out


def _derived_range(vip: Vip, source: SpecSource) -> list[Diagnostic]:
    """The derived priorities above PRIORITY_MAX: keepalived refuses 256 and up ("outside range
    [1, 255]") and takes 255 as an address owner, which ignores the tracked scripts."""
    count, weight = len(vip.nodes), vip.track.weight
    top = derived_priorities(count, weight)[0]
    if top <= PRIORITY_MAX:
        return []
    first = vip.nodes[0].name
    limit = (
        f"above keepalived's limit {PRIORITY_MAX} (255 makes a node the address owner, which "
        "ignores its health checks)"
    )
    if count <= DERIVED_MAX_NODES:
        # Steps of 5, because the weight allowed them; steps of 1 would fit.
        return [source.diagnostic(
            Level.ERROR, "vip-priority-range", ("vip", "track", "weight"),
            f"with track weight {weight} the {count} nodes' derived priorities step by "
            f"{DERIVED_STEP}, so the first, {first}, gets {top}, {limit}: make the weight "
            f"{-count} to {-DERIVED_STEP * (count - 1)} (steps of 1, at most "
            f"{DERIVED_TOP + count - 1}), list fewer nodes, or set priority on every node",
        )]  # fmt: skip
    return [source.diagnostic(
        Level.ERROR, "vip-priority-range", ("vip", "nodes"),
        f"the {count} nodes' derived priorities step by 1 from {top} ({first}), {limit}: list "
        f"at most {DERIVED_MAX_NODES} nodes or set priority on every node",
        key=True,
    )]  # fmt: skip


__all__ = [
    "Vip",
    "VipNode",
    "VipTrack",
    "derived_priorities",
    "family",
    "health_target",
    "priorities",
    "vip_checks",
]
