"""The keepalived view: one node's ``keepalived.conf`` from the spec's ``vip`` section.

What it renders (the design measured in network namespaces, see the README):

- ``global_defs``: ``router_id`` = the node's name, ``vrrp_version``, ``enable_script_security``
  and ``script_user nobody`` (the checks need no privilege; ``nobody`` exists everywhere, where
  keepalived's default ``keepalived_script`` user must be created first);
- two ``vrrp_script``s that poll the node's *own* proxy at ``global.health`` (loopback, never the
  VIP): ``lbgen_ready`` wants HTTP 200 on the readiness path (``ready_path``, else ``path``) and
  lowers the priority by ``track.weight`` after ``track.fall`` failures, so the VIP moves to a
  node whose proxy is fine, while a tier whose nodes all fail together keeps it; ``lbgen_alive``
  (the liveness ``path``) is weightless with fall 1 and fails only when the proxy does not answer
  at all: the node goes to FAULT and resigns at once (a priority-0 advert) instead of waiting for
  the backups' master-down timer;
- one ``vrrp_instance`` per VIP family, always ``state BACKUP`` (the election decides; and
  ``nopreempt`` requires it), unicast to the other nodes unless ``unicast: false``.

The checks run ``/bin/bash -c`` with bash's ``/dev/tcp``: no curl, wget or nc on the host (bash is
an essential package on Debian and Ubuntu and is on every RHEL-family system; dash, Debian's
``/bin/sh``, has no ``/dev/tcp``). The request path goes in as a ``printf`` argument, never into
its format.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from lbgen.diagnostics import Diagnostic, Level
from lbgen.frozen import record
from lbgen.keepalived.table import codec_of
from lbgen.resolve import Resolved
from lbgen.spec.vip import Vip, VipNode, family, health_target, priorities
from lbgen.units import parse_duration
from lbgen.view import View

TEMPLATE = "keepalived/keepalived.conf.j2"
NFT_TEMPLATE = "keepalived/vip.nft.j2"
NFT_TABLE = "lbgen_vip"
"""The nft table of ``--layout nft``: loading the file replaces this table and touches no other."""
SCRIPT_USER = "nobody"
"""Who runs the checks: no privilege needed to open a TCP connection to the loopback."""
BASH = "/bin/bash"
READY_SCRIPT = "lbgen_ready"
ALIVE_SCRIPT = "lbgen_alive"
INSTANCE_NAMES = {"ipv4": "lbgen_ipv4", "ipv6": "lbgen_ipv6"}


@record
class HoldRule:
    """One nft rule of ``--layout nft``: SYNs to ``address`` on ``ports`` with no socket wait."""

    family: str  # the nft payload protocol: ip or ip6
    address: str
    ports: str  # "6443" or "6443, 8443": the inside of an nft anonymous set


class NodeError(ValueError):
    """The node to render is missing or not one of ``vip.nodes`` (one line, exit 2)."""


@record
class KeepalivedScript:
    """One ``vrrp_script`` block."""

    name: str
    command: str
    interval: str
    timeout: str
    fall: int
    rise: int
    weight: int


@record
class KeepalivedInstance:
    """One ``vrrp_instance`` block (one per VIP family)."""

    name: str
    priority: int
    unicast_src: str | None
    peers: tuple[str, ...]
    vip: str


def check_command(host: str, port: int, path: str, timeout_s: int, *, ready: bool) -> str:
    """The quoted ``script`` argument: ``/bin/bash -c '...'`` asking ``host:port`` for ``path``.

    keepalived reads the double-quoted string (``\\"`` is a quote, ``\\\\`` a backslash) and
    splits it into arguments at unquoted spaces, the single quotes keeping bash's program whole.
    ``ready``: the answer must be HTTP 200; else any HTTP answer will do (the proxy is alive).
    """
    verdict = "[[ $status == 200 ]]" if ready else "[[ $proto == HTTP/* ]]"
    # nginx's health endpoint (a stream ``return``) answers and closes without reading the
    # request: writing it then raises SIGPIPE, which kills bash (9 checks in 10 failed against
    # nginx in the namespace lab). So SIGPIPE is ignored and the write may fail; the verdict
    # is the answer read back. A refused connection leaves no fd 3: the read fails.
    program = (
        f'trap \\"\\" PIPE; exec 3<>/dev/tcp/{host}/{port} && '
        f'printf \\"GET %s HTTP/1.0\\\\r\\\\n\\\\r\\\\n\\" \\"{path}\\" >&3; '
        f"read -r -t {timeout_s} proto status rest <&3 && {verdict}"
    )
    return f"\"{BASH} -c '{program}'\""


def _node(vip: Vip, name: str | None) -> tuple[int, VipNode]:
    names = [node.name for node in vip.nodes]
    if name is None:
        raise NodeError(
            f"target keepalived renders one node's config: name it with --node ({', '.join(names)})"
        )
    for index, node in enumerate(vip.nodes):
        if node.name == name:
            return index, node
    from lbgen.diagnostics import did_you_mean

    guess = did_you_mean(name, names)
    hint = f"; did you mean {guess!r}?" if guess else ""
    raise NodeError(f"no node {name!r} in vip.nodes ({', '.join(names)}){hint}")


def _address_of(node: VipNode, fam: str) -> str | None:
    return next(
        (ipaddress.ip_address(a).compressed for a in node.address if family(a) == fam), None
    )


def build_keepalived_view(resolved: Resolved, layout: str = "full", **options: Any) -> View:
    """The context of ``templates/keepalived/keepalived.conf.j2`` for ``options["node"]``."""
    vip = resolved.vip
    if vip is None:
        raise NodeError("target keepalived needs a vip section in the spec (the tier's nodes)")
    index, node = _node(vip, options.get("node"))
    if layout == "nft":
        return _nft_view(resolved, vip, node)
    health = resolved.global_.health_bind
    diagnostics: list[Diagnostic] = []
    if health is None:  # the loader refuses this (vip-needs-health); a spec built in code may not
        return View(
            TEMPLATE,
            {},
            [
                resolved.diagnostic(
                    Level.ERROR, "vip-needs-health", ("vip",), "vip needs global.health", key=True
                )
            ],
        )
    host = health_target(str(health))
    if host is None:
        return View(TEMPLATE, {}, [resolved.diagnostic(
            Level.ERROR, "vip-health-bind", ("global", "health", "bind"),
            "global.health.bind must be :PORT or a loopback address")])  # fmt: skip
    track = vip.track
    seconds = codec_of("vip.track.interval")
    timeout_s = parse_duration(track.timeout) // 1_000_000
    common = {
        "interval": seconds.render(parse_duration(track.interval)),
        "timeout": seconds.render(parse_duration(track.timeout)),
    }
    path = resolved.global_.health_path
    # Readiness (HAProxy: 503 while a pool has no usable server) moves the VIP; liveness only
    # sends the node to FAULT. Without a readiness path both poll the liveness path.
    ready_path = resolved.global_.health_ready_path or path
    scripts = (
        KeepalivedScript(
            READY_SCRIPT, check_command(host, health.port, ready_path, timeout_s, ready=True),
            fall=track.fall, rise=track.rise, weight=track.weight, **common,
        ),
        KeepalivedScript(
            ALIVE_SCRIPT, check_command(host, health.port, path, timeout_s, ready=False),
            fall=1, rise=1, weight=0, **common,
        ),
    )  # fmt: skip
    priority = priorities(vip)[index]
    instances = []
    for text in vip.addresses:
        fam = family(text)
        source = _address_of(node, fam)
        peers = tuple(
            peer for other in vip.nodes if other is not node
            for peer in [_address_of(other, fam)] if peer is not None
        )  # fmt: skip
        host_part, slash, prefix = text.partition("/")
        shown = ipaddress.ip_address(host_part).compressed + (f"/{prefix}" if slash else "")
        instances.append(
            KeepalivedInstance(
                name=INSTANCE_NAMES[fam],
                priority=priority,
                unicast_src=source if vip.unicast else None,
                peers=peers if vip.unicast else (),
                vip=shown,
            )
        )
    context = {
        "node": node.name,
        "router_id": node.name,
        "version": vip.version,
        "script_user": SCRIPT_USER,
        "scripts": scripts,
        "instances": tuple(instances),
        "interface": vip.interface,
        "virtual_router_id": vip.virtual_router_id,
        "advert": codec_of("vip.advert_interval").render(parse_duration(vip.advert_interval)),
        "preempt": vip.preempt,
        # nopreempt leaves nothing to delay; 0s is keepalived's own default: neither is written.
        "preempt_delay": (
            codec_of("vip.preempt_delay").render(delay)
            if vip.preempt and (delay := parse_duration(vip.preempt_delay))
            else None
        ),
        "auth_pass": vip.auth_pass,
    }
    return View(TEMPLATE, context, diagnostics)


def vip_ports(resolved: Resolved, address: str) -> tuple[int, ...]:
    """The ports the frontends listen on at the VIP ``address`` (``ADDR`` or ``ADDR/PREFIX``):
    binds on that very address and wildcard binds (``:PORT``, ``0.0.0.0`` for IPv4; ``[::]``
    for IPv6 and, unless v6only, for IPv4 too: a dual-stack socket); host names are not matched."""
    wanted = ipaddress.ip_address(address.partition("/")[0])
    fam = "ipv6" if wanted.version == 6 else "ipv4"
    ports: set[int] = set()
    for frontend in resolved.frontends:
        for bind in frontend.binds:
            hp = bind.address
            if hp.family == "dns":
                continue
            host = hp.canonical_host
            if host == "0.0.0.0":
                covers = fam == "ipv4"  # haproxy's and nginx's ":PORT" listen on IPv4 only
            elif host == "::":
                covers = fam == "ipv6" or not bind.v6only
            else:
                covers = ipaddress.ip_address(host) == wanted
            if covers:
                ports.add(hp.port)
    return tuple(sorted(ports))


def _nft_view(resolved: Resolved, vip: Vip, node: VipNode) -> View:
    """``--layout nft``: the rule that holds new connections to the VIP while no proxy listens.

    Without it, a SYN that reaches a node whose proxy just died (the VIP is still there until
    keepalived resigns) is answered with a reset and the client's request fails; dropped, the
    client's TCP retransmits it and it lands on whichever node holds the VIP by then.
    """
    rules = []
    diagnostics: list[Diagnostic] = []
    for position, text in enumerate(vip.addresses):
        address = ipaddress.ip_address(text.partition("/")[0])
        ports = vip_ports(resolved, text)
        if not ports:
            diagnostics.append(resolved.diagnostic(
                Level.WARNING, "vip-no-frontend", ("vip", "addresses", position),
                f"no frontend listens on {address.compressed} (a bind on it or a wildcard): "
                "the nft rule has nothing to hold for it"))  # fmt: skip
            continue
        rules.append(
            HoldRule(
                family="ip6" if address.version == 6 else "ip",
                address=address.compressed,
                ports=", ".join(str(port) for port in ports),
            )
        )
    context = {"node": node.name, "table": NFT_TABLE, "rules": tuple(rules)}
    return View(NFT_TEMPLATE, context, diagnostics)


# --- the last line of defence: what may be printed into keepalived.conf ---------------------------

_PRINTABLE = re.compile("[ -~]*")


def unsafe_in_config(text: str) -> str | None:
    """Why ``text`` would change the structure of a keepalived.conf, or None when it is safe.

    Refused: any character outside printable ASCII (a line break starts a new directive), braces
    (blocks), an unbalanced double quote, and ``#`` or ``!`` outside double quotes (comments).
    """
    if not _PRINTABLE.fullmatch(text):
        return "holds a character outside printable ASCII (a line break starts a new directive)"
    if "{" in text or "}" in text:
        return "holds a brace, which opens or closes a keepalived block"
    quoted = False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char in "#!" and not quoted:
            return f"holds {char!r} outside quotes, which starts a keepalived comment"
    if quoted:
        return "holds an unbalanced double quote"
    return None


__all__ = [
    "NFT_TABLE",
    "HoldRule",
    "NodeError",
    "build_keepalived_view",
    "check_command",
    "unsafe_in_config",
    "vip_ports",
]
