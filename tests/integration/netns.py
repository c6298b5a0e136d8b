"""A lab of network namespaces for the load-balancer tier: nodes on one bridge, real processes.

Needs root. Everything lives in namespaces this module creates and deletes again::

    with Lab(["client", "lb1", "lb2", "api"]) as lab:
        lab.popen("lb1", ["haproxy", "-db", "-f", cfg])
        lab.addresses("lb1")          # ['198.18.0.11', ...] as seen inside lb1
        lab.cut_link("lb1")           # its switch port goes down: the cable is pulled

Layout: a "switch" namespace ``lbgen-<tag>-sw`` holds the bridge ``br0``; each node namespace
``lbgen-<tag>-<role>`` gets one veth pair whose ``eth0`` end sits in the node and whose other end
is a port of the bridge. The pair is created inside the switch namespace with its peer moved
straight into the node, so the host's own namespace is never touched. Addresses come from the
benchmarking range 198.18.0.0/15 (RFC 2544), here 198.18.0.0/24; no namespace has a route out.

Processes run with ``ip netns exec NS ...`` (subprocess.Popen) and are tracked by PID. Cleanup
(context manager exit, and atexit for a crash in between) kills the PIDs started here and
anything else left inside the namespaces created here, then deletes those namespaces, nothing
else.

A process killed outright (SIGKILL) runs no cleanup, so the tag names the lab's creator:
``<pid>.<start>.<pidns>.<random>`` (:class:`Creator`; start time and PID namespace in hex).
Building a lab first sweeps the labs whose creator is certainly gone
(:func:`sweep_abandoned_labs`): their processes, namespaces and ``/run/lbgen-<tag>`` folders.
A lab whose creator still runs is never touched, nor is any name in another format.

This file also runs, inside a namespace, the lab's fake API servers and clients
(``python -m tests.integration.netns serve|clients ...``); see :func:`main`.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ipaddress
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.support import alive

from .fake_apiserver import FakeAPIServer, context_from_pem

#: The benchmarking range (RFC 2544): never routed on the Internet, used here only inside the lab.
LAB_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
SUBNET = ipaddress.IPv4Network("198.18.0.0/24")
assert SUBNET.subnet_of(LAB_RANGE)
PREFIX = "lbgen-"
IFACE = "eth0"
BRIDGE = "br0"
#: Where ``ip netns`` keeps its names, and where a :class:`Tier` keeps its files (root-only).
NETNS_DIR = Path("/run/netns")
RUN_DIR = Path("/run")
#: A lab's tag (:meth:`Creator.tag`). Nothing else named ``lbgen-...`` matches it: older labs'
#: tags were 6 hex digits, :func:`tests.support.node_namespace` uses ``<word>-<pid>``.
_TAG = re.compile(
    r"(?P<pid>[1-9][0-9]{0,9})\.(?P<start>[0-9a-f]{1,16})\.(?P<pidns>[0-9a-f]{1,16})\.[0-9a-f]{6}"
)

_live_labs: set[Lab] = set()


def _ip(*args: str, timeout: float = 10.0) -> str:
    """Run ``ip ARGS``; raise with its stderr on failure."""
    done = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=timeout, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if done.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


class LabError(RuntimeError):
    """The lab could not be built or a command inside it failed."""


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` from field 3 (state) on; None when there is no ``pid``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2, the command name in parentheses, may itself hold spaces and ")".
    return text.rsplit(")", 1)[1].split()


def _own_pidns() -> int:
    return os.stat("/proc/self/ns/pid").st_ino


@dataclass(frozen=True)
class Creator:
    """The process that built a lab, as the lab's tag records it.

    A PID alone would not do: once its process is gone the number may be another process's.
    PID and start time together name one process for as long as the machine runs; the PID
    namespace says whose numbers they are.
    """

    pid: int
    start: int
    """Its start time: field 22 of ``/proc/PID/stat``, clock ticks since boot."""
    pidns: int
    """The inode number of its PID namespace."""

    @classmethod
    def of(cls, pid: int) -> Creator:
        """The running process ``pid``; ProcessLookupError when there is none."""
        fields = _stat(pid)
        if fields is None:
            raise ProcessLookupError(pid)
        return cls(pid, int(fields[19]), os.stat(f"/proc/{pid}/ns/pid").st_ino)

    @classmethod
    def from_tag(cls, tag: str) -> Creator | None:
        """The creator a tag names; None when ``tag`` is not one :meth:`tag` makes."""
        match = _TAG.fullmatch(tag)
        if match is None:
            return None
        return cls(int(match["pid"]), int(match["start"], 16), int(match["pidns"], 16))

    def tag(self) -> str:
        """A new lab tag naming this creator (random at the end: one process, several labs)."""
        return f"{self.pid}.{self.start:x}.{self.pidns:x}.{secrets.token_hex(3)}"

    def alive(self) -> bool | None:
        """True while the creator runs; False once it certainly does not (it has exited, or its
        PID is now another process's); None when this process cannot tell: the creator's PID
        namespace is not this one, so ``/proc`` here does not show it under ``pid``."""
        if self.pidns != _own_pidns():
            return None
        fields = _stat(self.pid)
        if fields is None or int(fields[19]) != self.start:
            return False
        if fields[0] != "Z":
            return True
        # A zombie has exited and runs no cleanup any more, unless it is a thread-group leader
        # that ended on its own while other threads of its process still run.
        try:
            return len(os.listdir(f"/proc/{self.pid}/task")) > 1
        except OSError:
            return False


def _valid_role(role: str) -> bool:
    # The bridge port is ``p-<role>``: at most 15 characters (IFNAMSIZ - 1).
    return role.isalnum() and len(role) <= 10


def lab_creator(netns: str) -> Creator | None:
    """The creator named by a lab namespace's name (``lbgen-<tag>-<role>``, or ``-sw``); None
    when ``netns`` is not named so, as namespaces of older labs or of other tests are not."""
    if not netns.startswith(PREFIX):
        return None
    tag, dash, role = netns.removeprefix(PREFIX).rpartition("-")
    if not dash or not _valid_role(role):
        return None
    return Creator.from_tag(tag)


def abandoned(netns: str) -> bool:
    """Whether ``netns`` belongs to a lab whose creator is certainly gone: its name parses
    (:func:`lab_creator`) and :meth:`Creator.alive` says False. Anything else is kept."""
    creator = lab_creator(netns)
    return creator is not None and creator.alive() is False


@dataclass(frozen=True)
class Node:
    """One node of the lab: its namespace, its address on the bridge, its switch port."""

    role: str
    netns: str
    address: str
    port: str  # the bridge port (the veth end in the switch namespace)


@dataclass(eq=False)
class Lab:
    """Network namespaces on one bridge; processes in them; cleanup of exactly what it made.

    ``roles`` name the nodes (short: the bridge port is ``p-<role>``, at most 15 characters);
    node ``i`` gets ``198.18.0.<first_host + i>``. ``tag`` names this process as the lab's
    creator (:class:`Creator`): another lab sweeps this one only once the creator is gone.
    """

    roles: Sequence[str]
    first_host: int = 11
    tag: str = field(default_factory=lambda: Creator.of(os.getpid()).tag())
    nodes: dict[str, Node] = field(default_factory=dict)
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    @property
    def switch(self) -> str:
        """The switch namespace's name."""
        return f"{PREFIX}{self.tag}-sw"

    # --- building --------------------------------------------------------------------------

    def __post_init__(self) -> None:
        for role in self.roles:
            if not _valid_role(role):
                raise ValueError(f"role names are short and alphanumeric, not {role!r}")
        if len(set(self.roles)) != len(self.roles):
            raise ValueError(f"roles must be distinct: {list(self.roles)}")

    def build(self) -> Lab:
        """Create the namespaces, the bridge and the links; idempotent only on a fresh Lab."""
        if os.geteuid() != 0:
            raise LabError("network namespaces need root")
        # Labs of a run that was killed outright are left behind: the next lab built removes them.
        sweep_abandoned_labs()
        _live_labs.add(self)
        try:
            self._add_netns(self.switch)
            _ip("-n", self.switch, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0",
                "mcast_snooping", "0")  # fmt: skip
            _ip("-n", self.switch, "link", "set", BRIDGE, "up")
            for index, role in enumerate(self.roles):
                self._add_node(role, str(SUBNET[self.first_host + index]))
        except BaseException:
            self.cleanup()
            raise
        return self

    def _add_netns(self, name: str) -> None:
        _ip("netns", "add", name)
        self.created.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def _add_node(self, role: str, address: str) -> None:
        netns = f"{PREFIX}{self.tag}-{role}"
        port = f"p-{role}"
        self._add_netns(netns)
        # Made in the switch namespace, the peer moved straight into the node: never on the host.
        _ip("-n", self.switch, "link", "add", port, "type", "veth",
            "peer", "name", IFACE, "netns", netns)  # fmt: skip
        _ip("-n", self.switch, "link", "set", port, "master", BRIDGE, "up")
        _ip("-n", netns, "addr", "add", f"{address}/{SUBNET.prefixlen}", "dev", IFACE)
        _ip("-n", netns, "link", "set", IFACE, "up")
        self.nodes[role] = Node(role, netns, address, port)

    def __enter__(self) -> Lab:
        return self.build()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    # --- inside the namespaces -------------------------------------------------------------

    def netns(self, role: str) -> str:
        """The namespace name of a node (or of the switch, ``"sw"``)."""
        return self.switch if role == "sw" else self.nodes[role].netns

    def popen(
        self,
        role: str,
        argv: Sequence[str],
        *,
        stdin: int | IO[Any] | None = subprocess.DEVNULL,
        stdout: int | IO[Any] | None = subprocess.DEVNULL,
        stderr: int | IO[Any] | None = subprocess.DEVNULL,
        env: dict[str, str] | None = None,
        text: bool = False,
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` inside a node's namespace; its PID is tracked for cleanup.

        ``ip netns exec`` execs the command, so the PID is the command's own.
        """
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.netns(role), *argv],
            stdin=stdin, stdout=stdout, stderr=stderr, env=env, text=text,
            start_new_session=True,  # a Ctrl-C of the test run reaches cleanup, not them first
        )  # fmt: skip
        self.processes.append(process)
        return process

    def run(self, role: str, argv: Sequence[str], *, timeout: float = 30.0) -> str:
        """Run ``argv`` in a node's namespace to completion; its stdout, or LabError."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.netns(role), *argv], capture_output=True, text=True,
            timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if done.returncode != 0:
            raise LabError(f"{role}: {' '.join(argv)}: {done.stderr.strip()}")
        return done.stdout

    def sysctl(self, role: str, key: str, value: str) -> None:
        """Set a per-namespace sysctl (``net.*``) inside a node."""
        self.run(role, ["sysctl", "-q", "-w", f"{key}={value}"])

    def addresses(self, role: str, dev: str = IFACE) -> list[str]:
        """The IPv4/IPv6 addresses on ``dev`` inside a node, as ``ip -j addr`` reports them."""
        return parse_addresses(_ip("-n", self.netns(role), "-j", "addr", "show", "dev", dev))

    def cut_link(self, role: str, *, up: bool = False) -> None:
        """Pull the node's cable: its port on the bridge goes down (``up=True`` plugs it back).

        The node's ``eth0`` loses carrier, as with a dead switch port or cable.
        """
        state = "up" if up else "down"
        _ip("-n", self.switch, "link", "set", self.nodes[role].port, state)

    def pids(self, netns: str) -> list[int]:
        """Every process inside one of this lab's namespaces (``ip netns pids``)."""
        if netns not in self.created:
            raise ValueError(f"{netns} is not a namespace of this lab")
        with contextlib.suppress(LabError):
            return [int(pid) for pid in _ip("netns", "pids", netns).split()]
        return []

    # --- cleanup ---------------------------------------------------------------------------

    def stop(self, process: subprocess.Popen[Any], timeout: float = 5.0) -> None:
        """SIGTERM one process started here, SIGKILL it after ``timeout``, and reap it."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait(5)

    def cleanup(self) -> None:
        """Kill what was started here and what is left in our namespaces; delete those."""
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.stop(process, timeout=3.0)
        self.processes.clear()
        # Children of our processes (keepalived's VRRP child, check scripts) live in our
        # namespaces too: whatever is still inside one of them was started by this lab.
        for netns in self.created:
            for pid in self.pids(netns):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(self.pids(n) for n in self.created):
            time.sleep(0.05)
        for netns in reversed(self.created):
            with contextlib.suppress(LabError):
                _ip("netns", "del", netns)
        self.created.clear()
        self.nodes.clear()
        _live_labs.discard(self)


@atexit.register
def _cleanup_all() -> None:
    """A crash between build and cleanup still leaves nothing behind."""
    for lab in list(_live_labs):
        lab.cleanup()


def parse_addresses(ip_json: str) -> list[str]:
    """The addresses (without prefix length) in ``ip -j addr`` output."""
    result: list[str] = []
    for link in json.loads(ip_json or "[]"):
        result.extend(str(info["local"]) for info in link.get("addr_info", []) if "local" in info)
    return result


def lab_namespaces() -> list[str]:
    """Every namespace on this machine named like a lab's (``lbgen-...``): for leak checks."""
    out = _ip("-j", "netns", "list")
    return [
        str(entry["name"]) for entry in json.loads(out or "[]") if entry["name"].startswith(PREFIX)
    ]


def sweep_abandoned_labs(timeout: float = 5.0) -> list[str]:
    """Delete what labs whose creator is gone (killed before its cleanup ran) left behind.

    For each namespace that :func:`abandoned` says so of: SIGKILL the processes inside, wait
    up to ``timeout`` seconds for them to go, delete the namespace. Then each such lab's folder
    ``/run/lbgen-<tag>`` (a :class:`Tier`'s). Every other name is left alone: a lab whose
    creator runs or may run, and whatever was named in another format. Returns the namespaces
    deleted.
    """
    swept: list[str] = []
    for netns in lab_namespaces():
        if not abandoned(netns):
            continue
        _kill_inside(netns, timeout)
        # Even with a process still exiting: the name goes now, the namespace once it has exited.
        with contextlib.suppress(LabError):
            _ip("netns", "delete", netns)
            swept.append(netns)
    for path in RUN_DIR.glob(f"{PREFIX}*"):
        creator = Creator.from_tag(path.name.removeprefix(PREFIX))
        if creator is None or creator.alive() is not False:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
    return swept


def _kill_inside(netns: str, timeout: float) -> None:
    """SIGKILL every process inside ``netns`` until none is left or ``timeout`` has passed."""
    try:
        target = os.stat(NETNS_DIR / netns)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            pids = [int(pid) for pid in _ip("netns", "pids", netns).split()]
        except LabError:
            return
        if not pids or time.monotonic() >= deadline:
            return
        for pid in pids:
            _kill_if_inside(pid, target)
        time.sleep(0.05)


def _kill_if_inside(pid: int, netns: os.stat_result) -> None:
    """SIGKILL ``pid`` if it is (still) a process inside the namespace ``netns`` stats as."""
    # The process listed may have exited and its PID been reused since: a pidfd names the
    # process itself, so it is opened first, then the process is checked, then signalled.
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        inside = os.stat(f"/proc/{pid}/ns/net")
        if (inside.st_dev, inside.st_ino) == (netns.st_dev, netns.st_ino):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError:
        pass  # gone meanwhile
    finally:
        os.close(pidfd)


class AddressSampler:
    """Every ``interval`` seconds, which nodes hold ``vip``: one ``ip -batch`` per node.

    ``samples`` is a list of (monotonic time, holders); :meth:`double_holding` sums the time two
    or more nodes held the VIP at once.
    """

    def __init__(self, lab: Lab, roles: Iterable[str], vip: str, interval: float = 0.05) -> None:
        self.vip = vip
        self.interval = interval
        self.samples: list[tuple[float, tuple[str, ...]]] = []
        self._shells = {
            role: lab.popen(
                role,
                ["ip", "-j", "-batch", "-"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for role in roles
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> AddressSampler:
        """Start sampling in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling (the ip processes end with the lab's cleanup or here)."""
        self._stop.set()
        self._thread.join(timeout=5)
        for shell in self._shells.values():
            with contextlib.suppress(OSError, ValueError):
                if shell.stdin:
                    shell.stdin.close()

    def holders_now(self) -> tuple[str, ...]:
        """Which nodes hold the VIP right now."""
        holders = []
        for role, shell in self._shells.items():
            assert shell.stdin is not None and shell.stdout is not None
            shell.stdin.write(f"addr show dev {IFACE}\n")
            shell.stdin.flush()
            if self.vip in parse_addresses(shell.stdout.readline()):
                holders.append(role)
        return tuple(holders)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                holders = self.holders_now()
            except (OSError, ValueError):
                return
            self.samples.append((time.monotonic(), holders))
            self._stop.wait(self.interval)

    def holders_at(self, when: float) -> tuple[str, ...]:
        """The holders in the last sample taken at or before ``when``."""
        found: tuple[str, ...] = ()
        for t, holders in list(self.samples):
            if t > when:
                break
            found = holders
        return found

    def first_change(self, since: float, frm: tuple[str, ...]) -> tuple[float, tuple[str, ...]]:
        """The first sample after ``since`` whose holders differ from ``frm`` (or (inf, ()))."""
        for t, holders in list(self.samples):
            if t >= since and holders != frm:
                return t, holders
        return float("inf"), ()

    def double_holding(self, since: float = 0.0, until: float = float("inf")) -> tuple[int, float]:
        """(moments, seconds): samples in [since, until) with two or more holders, and how long."""
        samples = [s for s in list(self.samples) if since <= s[0] < until]
        moments = 0
        seconds = 0.0
        for index, (t, holders) in enumerate(samples):
            if len(holders) > 1:
                moments += 1
                # Until the next sample: the last one of the range counts for no time.
                seconds += samples[index + 1][0] - t if index + 1 < len(samples) else 0.0
        return moments, seconds


# --- a load-balancer tier: haproxy + keepalived per node, fake API servers, clients ----------


@dataclass(frozen=True)
class Design:
    """How keepalived is set up on every node of the tier (one column of the benchmark).

    ``chk_proxy`` polls the proxy's health endpoint (``curl -f``: down when the proxy is dead
    or reports no ready API server) every ``interval`` seconds; after ``fall`` failures it
    lowers the node's priority by ``-weight``, or, with ``weight`` 0, sends the node to FAULT
    (it resigns with a priority-0 advert). ``liveness`` adds ``chk_alive``: weight 0 (FAULT),
    fall 1, failing only when the proxy does not answer at all (connection refused or timed
    out; an HTTP 503 from a proxy without ready servers still counts as alive). ``hold_syns``
    adds an nft rule on each node (:func:`hold_syns_rules`): a SYN to VIP:port that finds no
    listening socket is dropped, not refused, so the client's TCP retransmits it (after 1 s, then
    3 s) and, once the VIP has moved, reaches the new holder instead of failing.
    ``preempt_delay``: a backup seeing a lower-priority master waits this much longer before it
    takes over (a resignation, priority 0, is not delayed): when every node's check fails within
    that time, as when no API server is ready, the VIP stays where it is instead of flapping.
    """

    name: str
    version: int = 2
    advert: float = 1.0
    interval: int = 1
    fall: int = 2
    rise: int = 2
    weight: int = -20
    liveness: bool = False
    preempt: bool = True
    hold_syns: bool = False
    preempt_delay: float = 0.0


def hold_syns_rules(vip: str, port: int) -> str:
    """nft rules for a node: new connections to ``vip:port`` with no listener are dropped.

    The kernel would answer them with a reset (the client's request fails at once); dropped, the
    client's SYN is retransmitted and lands on whichever node holds the VIP by then. ``socket``
    finds the listening (or established) socket; without one neither ``accept`` matches.
    """
    return f"""table ip lbgen_vip {{
    chain input {{
        type filter hook input priority filter; policy accept;
        ip daddr {vip} tcp dport {port} socket transparent 0 accept
        ip daddr {vip} tcp dport {port} socket transparent 1 accept
        ip daddr {vip} tcp dport {port} drop
    }}
}}
"""


#: What the failover benchmark found best (benchmarks/vip_failover.py): VRRPv3 adverts every 200 ms
#: (master-down interval 3 x 0.2 s + skew), the health check weighted -20 (a tier whose nodes all
#: see no ready API server keeps its VIP), a weightless liveness check (a node whose proxy does not
#: answer at all goes to FAULT and resigns at once with a priority-0 advert), new connections to
#: the VIP without a listener dropped, not refused (TCP retries them), and preempt_delay 1 (the
#: nodes' checks run at different phases: without it the VIP may flap when all fail together).
RECOMMENDED = Design(
    "v3-resign-hold-pd",
    version=3,
    advert=0.2,
    interval=1,
    fall=2,
    weight=-20,
    liveness=True,
    hold_syns=True,
    preempt_delay=1.0,
)


def keepalived_conf(
    design: Design,
    *,
    node: str,
    address: str,
    peers: Sequence[str],
    priority: int,
    vip: str,
    check_script: str,
    alive_script: str,
    router_id: int = 51,
) -> str:
    """One node's hand-written keepalived.conf (to be replaced by lbgen's keepalived target)."""
    advert = f"{design.advert:g}"
    peer_lines = "\n".join(f"        {peer}" for peer in peers)
    preempt = "" if design.preempt else "    nopreempt\n"
    if design.preempt_delay:
        preempt += f"    preempt_delay {design.preempt_delay:g}\n"
    alive_block = alive_ref = ""
    if design.liveness:
        alive_block = (
            f'vrrp_script chk_alive {{\n    script "{alive_script}"\n    interval 1\n'
            "    timeout 1\n    fall 1\n    rise 1\n    weight 0\n}\n"
        )
        alive_ref = "        chk_alive\n"
    return f"""global_defs {{
    router_id {node}
    enable_script_security
    script_user root
    vrrp_version {design.version}
}}
vrrp_script chk_proxy {{
    script "{check_script}"
    interval {design.interval}
    timeout 1
    fall {design.fall}
    rise {design.rise}
    weight {design.weight}
}}
{alive_block}vrrp_instance VI_API {{
    state BACKUP
    interface {IFACE}
    virtual_router_id {router_id}
    priority {priority}
    advert_int {advert}
{preempt}    unicast_src_ip {address}
    unicast_peer {{
{peer_lines}
    }}
    virtual_ipaddress {{
        {vip}/{SUBNET.prefixlen} dev {IFACE}
    }}
    track_script {{
        chk_proxy
{alive_ref}    }}
}}
"""


def haproxy_cfg(*, address: str, vip: str, port: int, servers: Sequence[tuple[str, str]]) -> str:
    """A minimal haproxy.cfg: TCP on VIP:port (nonlocal bind), health on the node's address."""
    server_lines = "\n".join(
        f"    server {name} {target} check check-ssl verify none inter 1s fall 2 rise 2"
        for name, target in servers
    )
    return f"""global
    maxconn 4096
defaults
    timeout connect 1s
    timeout client 60s
    timeout server 60s
frontend apiserver
    mode tcp
    bind {vip}:{port}
    default_backend apiservers
backend apiservers
    mode tcp
    option httpchk GET /readyz
    http-check expect status 200
{server_lines}
frontend health
    mode http
    bind {address}:{HEALTH_PORT}
    monitor-uri /healthz
    acl no_servers nbsrv(apiservers) lt 1
    monitor fail if no_servers
"""


HEALTH_PORT = 8404
CLIENT_TIMEOUT = 10.0
VIP = str(SUBNET[100])
API_PORT = 6443
PRIORITIES = (110, 105, 100)


@dataclass(frozen=True)
class Reply:
    """One client request through the VIP: when, which LB node proxied it, what went wrong."""

    start: float
    end: float
    peer: str
    error: str


class Tier:
    """A lab with a client, ``lbs`` load-balancer nodes (haproxy + keepalived) and fake APIs.

    Roles: ``client``, ``lb1``..``lbN``, ``api`` (three fake API servers a, b, c). The VIP is
    198.18.0.100; lb1 has the highest priority. :meth:`start` brings everything up and waits
    until exactly one node holds the VIP.
    """

    def __init__(self, design: Design, *, lbs: int = 3) -> None:
        if not 2 <= lbs <= len(PRIORITIES):
            raise ValueError(f"2 to {len(PRIORITIES)} load-balancer nodes, not {lbs}")
        self.design = design
        self.lbs = [f"lb{i + 1}" for i in range(lbs)]
        self.lab = Lab(["client", *self.lbs, "api"])
        self.dir = Path()
        self.replies: list[Reply] = []
        self.watch_breaks: list[tuple[float, str]] = []
        self.watch_opens: list[float] = []
        self.haproxy: dict[str, subprocess.Popen[Any]] = {}
        self.keepalived: dict[str, subprocess.Popen[Any]] = {}
        self.sampler: AddressSampler | None = None
        self._clients: subprocess.Popen[str] | None = None
        self._api_args: list[str] = []
        self.apis: subprocess.Popen[str] | None = None

    def start_apis(self) -> None:
        """(Re)start the three fake API servers a, b, c in the ``api`` namespace."""
        self.apis = self._python("api", self._api_args, ready=True)

    def stop_apis(self) -> None:
        """Stop every API server at once (SIGTERM: listeners closed, connections reset)."""
        if self.apis is not None:
            self.lab.stop(self.apis)

    def set_apis_ready(self, ready: bool, timeout: float = 10.0) -> None:
        """Make every API server ready or not at once; their ports stay open.

        Not ready: ``/readyz``, ``/livez`` and ``/healthz`` answer 500 with kube-apiserver's
        ``[-]etcd failed`` body, every other path as before. The ``serve`` process is told by
        signal (SIGUSR1 not ready, SIGUSR2 ready) and confirms on its stdout.
        """
        if self.apis is None or self.apis.stdout is None:
            raise LabError("the API servers are not running")
        self.apis.send_signal(signal.SIGUSR2 if ready else signal.SIGUSR1)
        want = "ready" if ready else "unready"
        readable, _, _ = select.select([self.apis.stdout], [], [], timeout)
        line = self.apis.stdout.readline().strip() if readable else ""
        if line != want:
            raise LabError(f"the API servers did not confirm {want!r} (got {line!r})")

    def health_answer(self, role: str, attempts: int = 5, path: str = "/healthz") -> str:
        """What a node's own health endpoint answers now: the HTTP status, or curl's error.

        Tried up to ``attempts`` times: nginx's health server (a stream ``return``) answers and
        closes without reading the request, so curl sometimes meets a reset instead.
        """
        error = ""
        for _ in range(attempts):
            done = subprocess.run(
                ["ip", "netns", "exec", self.lab.netns(role), "curl", "-sS", "-o", "/dev/null",
                 "-w", "%{http_code}", "--max-time", "2",
                 f"http://{self.address(role)}:{HEALTH_PORT}{path}"],
                capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if done.returncode == 0:
                return done.stdout.strip()
            error = done.stderr.strip() or str(done.returncode)
        return f"no answer ({error})"

    def __enter__(self) -> Tier:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def address(self, role: str) -> str:
        """A node's own address."""
        return self.lab.nodes[role].address

    def role_of(self, address: str) -> str:
        """Which node has this own address ('' if none)."""
        return next((n.role for n in self.lab.nodes.values() if n.address == address), "")

    def start(self, *, clients: bool = True) -> Tier:
        """Build the lab; start the API servers, each node's haproxy and keepalived, the clients."""
        import trustme  # test dependency; only the lab's own processes need it

        self.lab.build()
        self.dir = RUN_DIR / f"{PREFIX}{self.lab.tag}"  # root-only: keepalived's script security
        self.dir.mkdir(mode=0o700)
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(self.dir / "ca.pem"))
        ca.issue_cert(VIP).private_key_and_cert_chain_pem.write_to_path(str(self.dir / "api.pem"))
        api = self.address("api")
        servers = [(name, f"{api}:{6441 + i}") for i, name in enumerate("abc")]
        self._api_args = ["serve", "--cert", str(self.dir / "api.pem"),
                          *[f"--listen={n}={t}" for n, t in servers]]  # fmt: skip
        self.start_apis()
        for index, role in enumerate(self.lbs):
            self.lab.sysctl(role, "net.ipv4.ip_nonlocal_bind", "1")
            self.configure(role, index, servers)
            self.start_haproxy(role)
            self.start_keepalived(role)
        self.sampler = AddressSampler(self.lab, self.lbs, VIP).start()
        self.wait_holder(timeout=30)
        if clients:
            self.start_clients()
        return self

    def configure(self, role: str, index: int, servers: Sequence[tuple[str, str]]) -> None:
        """Write node ``role``'s hand-written haproxy.cfg and keepalived.conf (the design's)."""
        address = self.address(role)
        cfg = self.dir / f"{role}-haproxy.cfg"
        cfg.write_text(haproxy_cfg(address=address, vip=VIP, port=API_PORT, servers=servers))
        check = self.dir / f"{role}-check"
        check.write_text(
            "#!/bin/sh\n"
            f"exec curl -fsS -o /dev/null --max-time 1 http://{address}:{HEALTH_PORT}/healthz\n"
        )
        check.chmod(0o755)
        alive = self.dir / f"{role}-alive"
        alive.write_text(  # any HTTP answer, even 503, means the proxy is alive
            "#!/bin/sh\n"
            f"exec curl -sS -o /dev/null --max-time 1 http://{address}:{HEALTH_PORT}/healthz\n"
        )
        alive.chmod(0o755)
        peers = [self.address(r) for r in self.lbs if r != role]
        conf = self.dir / f"{role}-keepalived.conf"
        conf.write_text(keepalived_conf(
            self.design, node=role, address=address, peers=peers,
            priority=PRIORITIES[index], vip=VIP, check_script=str(check),
            alive_script=str(alive),
        ))  # fmt: skip
        if self.design.hold_syns:
            rules = self.dir / f"{role}-hold-syns.nft"
            rules.write_text(hold_syns_rules(VIP, API_PORT))
            self.lab.run(role, ["nft", "-f", str(rules)])

    def _python(self, role: str, args: list[str], *, ready: bool = False) -> subprocess.Popen[str]:
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": root, "PYTHONUNBUFFERED": "1"}
        process = self.lab.popen(
            role, [sys.executable, "-m", "tests.integration.netns", *args],
            stdout=subprocess.PIPE, stderr=open(self.dir / f"{role}-python.log", "ab"),  # noqa: SIM115
            env=env, text=True,
        )  # fmt: skip
        if ready:
            assert process.stdout is not None
            line = process.stdout.readline()
            if line.strip() != "ready":
                raise LabError(f"{role}: {args[0]} did not start (see {self.dir})")
        return process

    def start_haproxy(self, role: str) -> None:
        """(Re)start haproxy on a node, in the foreground (one process: SIGKILL kills it)."""
        log = open(self.dir / f"{role}-haproxy.log", "ab")  # noqa: SIM115
        self.haproxy[role] = self.lab.popen(
            role, ["haproxy", "-db", "-f", str(self.dir / f"{role}-haproxy.cfg")],
            stdout=log, stderr=log,
        )  # fmt: skip

    def start_keepalived(self, role: str) -> None:
        """(Re)start keepalived on a node (VRRP only, no fork, its own pid files and log)."""
        log = open(self.dir / f"{role}-keepalived.log", "ab")  # noqa: SIM115
        self.keepalived[role] = self.lab.popen(
            role,
            ["keepalived", "-n", "-l", "-D", "-P", "-f", str(self.dir / f"{role}-keepalived.conf"),
             "-p", str(self.dir / f"{role}-keepalived.pid"),
             "-r", str(self.dir / f"{role}-vrrp.pid")],
            stdout=log, stderr=log,
        )  # fmt: skip

    def keepalived_pids(self, role: str) -> list[int]:
        """Every keepalived process (parent and VRRP child) inside a node."""
        pids = []
        for pid in self.lab.pids(self.lab.netns(role)):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "keepalived":
                    pids.append(pid)
        return pids

    def crash_keepalived(self, role: str) -> None:
        """SIGKILL every keepalived process of a node: no goodbye advert, the VIP stays put.

        All are stopped first: a parent killed before its VRRP child would let the child see
        its parent die and shut down cleanly (a priority-0 advert), which is no crash.
        """
        pids = self.keepalived_pids(role)
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        self.keepalived[role].wait(5)

    def start_clients(self) -> None:
        """The client namespace's traffic: 4 clients at 10 requests/s each and 2 long watches.

        A request gives up after 10 s, like client-go's TLS handshake timeout (its dial timeout
        is 30 s): a SYN the network lost is retransmitted within that time, a reset is not.
        """
        self._clients = self._python(
            "client", ["clients", "--vip", VIP, "--port", str(API_PORT),
                       "--ca", str(self.dir / "ca.pem"), "--timeout", str(CLIENT_TIMEOUT)],
        )  # fmt: skip
        threading.Thread(target=self._read_clients, args=(self._clients,), daemon=True).start()

    def _read_clients(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            record = json.loads(line)
            if record["k"] == "req":
                role = self.role_of(record["peer"])
                self.replies.append(Reply(record["s"], record["e"], role, record["err"]))
            elif record["k"] == "wopen":
                self.watch_opens.append(record["t"])
            else:
                self.watch_breaks.append((record["t"], record["reason"]))

    def holders(self) -> tuple[str, ...]:
        """Which nodes hold the VIP now (asked right now, not sampled)."""
        return tuple(r for r in self.lbs if VIP in self.lab.addresses(r))

    def wait_holder(self, *, role: str | None = None, timeout: float = 30.0) -> str:
        """Wait until exactly one node (``role`` if given) holds the VIP; return it."""
        deadline = time.monotonic() + timeout
        holders: tuple[str, ...] = ()
        while time.monotonic() < deadline:
            holders = self.holders()
            if len(holders) == 1 and role in (None, holders[0]):
                return holders[0]
            time.sleep(0.1)
        raise LabError(f"after {timeout}s the VIP is held by {holders or 'nobody'}"
                       f"{f', not only {role}' if role else ''} (logs in {self.dir})")  # fmt: skip

    def kubectl(self, path: str = "/version") -> str:
        """``kubectl get --raw PATH`` from the client namespace through the VIP."""
        home = self.dir / "kube-home"
        home.mkdir(exist_ok=True)
        return self.lab.run("client", [
            "env", f"HOME={home}", f"KUBECONFIG={home}/none",
            "kubectl", "--server", f"https://{VIP}:{API_PORT}",
            "--certificate-authority", str(self.dir / "ca.pem"), "--token=lbgen-lab",
            "--request-timeout=10s", "get", "--raw", path,
        ], timeout=60)  # fmt: skip

    def close(self) -> None:
        """Stop the sampler and clean the lab up (every process, every namespace, the files)."""
        if self.sampler is not None:
            self.sampler.stop()
        self.lab.cleanup()
        if self.dir.name.startswith(PREFIX):
            for path in self.dir.glob("**/*"):
                if path.is_file():
                    path.unlink()
            for path in sorted(self.dir.glob("**/"), reverse=True):
                with contextlib.suppress(OSError):
                    path.rmdir()


class RenderedTier(Tier):
    """A :class:`Tier` whose nodes run what lbgen renders, not the hand-written configs.

    One spec (:meth:`spec`: the lab's nodes, addresses, interface and VIP; the fake API servers
    as the pool; ``global.health`` on ``:8404``) is rendered per node by
    ``render_static_pods`` -- the proxy config (haproxy, or nginx's full layout), the node's
    keepalived.conf and its nft rule -- and each node runs exactly what its static Pods would:
    the proxy's command and keepalived's start command (which loads the nft rule and removes a
    stale VIP before it execs keepalived), with ``/etc/lbgen`` replaced by the node's folder
    here. keepalived is found through a wrapper on ``PATH`` that only adds the lab's pid files
    (``-D -p -r``): several keepalived daemons share this machine's ``/run``.
    ``self.haproxy`` holds each node's proxy process, haproxy or nginx.
    """

    def __init__(self, proxy: str = "haproxy", *, lbs: int = 2, preempt: bool = True) -> None:
        super().__init__(RECOMMENDED, lbs=lbs)
        self.proxy = proxy
        self.preempt = preempt
        self.commands: dict[str, dict[str, list[str]]] = {}
        self.killed_at = 0.0
        """When :meth:`kill_proxy` last sent its signals (finding the PIDs takes a moment)."""
        self.gone_at = 0.0
        """When the proxy it killed had exited (its listening socket closed)."""

    def spec(self, servers: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """The lab's tier as an lbgen spec (a dict; JSON is YAML)."""
        return {
            "version": 1,
            "name": "netns-lab-tier",
            "global": {"health": {"bind": f":{HEALTH_PORT}", "path": "/healthz"}},
            "defaults": {
                "health": {
                    "check": "https",
                    "path": "/readyz",
                    "expect": [200],
                    "interval": "1s",
                    "rise": 2,
                    "fall": 2,
                    "timeout": "1s",
                },
                "timeouts": {"connect": "1s", "client": "60s", "server": "60s"},
            },
            "frontends": {
                "kubernetes-api": {"bind": [f"{VIP}:{API_PORT}"], "pool": "control-plane"}
            },
            "pools": {"control-plane": {"servers": dict(servers)}},
            "vip": {
                "addresses": [f"{VIP}/{SUBNET.prefixlen}"],
                "interface": IFACE,
                "virtual_router_id": 51,
                "preempt": self.preempt,
                "nodes": [{"name": r, "address": self.address(r)} for r in self.lbs],
            },
        }

    def configure(self, role: str, index: int, servers: Sequence[tuple[str, str]]) -> None:
        """Render node ``role``'s static-pod folder from :meth:`spec` into ``DIR/role/``."""
        from ruamel.yaml import YAML

        from lbgen.nginx.command import stream_module_for
        from lbgen.spec.load import load_spec
        from lbgen.staticpods import HOST_FOLDER, render_static_pods

        text = json.dumps(self.spec(servers), indent=2)
        (self.dir / "spec.yaml").write_text(text)
        module = stream_module_for("nginx") if self.proxy == "nginx" else None
        rendered = render_static_pods(
            load_spec(text.encode()), role, proxy=self.proxy, load_module=module
        )
        if not rendered.ok:
            raise LabError(f"lbgen could not render {role}: {rendered.diagnostics}")
        folder = self.dir / role
        (folder / "bin").mkdir(parents=True)
        for name, content in rendered.files.items():
            (folder / name).write_text(content)
        commands = {}
        for name in (f"lbgen-{self.proxy}.yaml", "lbgen-keepalived.yaml"):
            pod = YAML(typ="safe").load(rendered.files[name])
            argv = [
                a.replace(HOST_FOLDER, str(folder)) for a in pod["spec"]["containers"][0]["command"]
            ]
            commands[name.removeprefix("lbgen-").removesuffix(".yaml")] = argv
        if self.proxy == "nginx":  # the lab's nginx daemons must not share /run/nginx.pid
            commands["nginx"] = [a.replace("daemon off;", f"daemon off; pid {folder}/nginx.pid;")
                                 for a in commands["nginx"]]  # fmt: skip
        self.commands[role] = commands
        wrapper = folder / "bin" / "keepalived"
        wrapper.write_text(
            f'#!/bin/sh\nexec /usr/sbin/keepalived "$@" -D -p {folder}/keepalived.pid '
            f"-r {folder}/vrrp.pid\n"
        )
        wrapper.chmod(0o755)

    def start_haproxy(self, role: str) -> None:
        """(Re)start the node's proxy with its static Pod's command."""
        log = open(self.dir / f"{role}-{self.proxy}.log", "ab")  # noqa: SIM115
        self.haproxy[role] = self.lab.popen(role, self.commands[role][self.proxy],
                                            stdout=log, stderr=log)  # fmt: skip

    def start_keepalived(self, role: str) -> None:
        """(Re)start keepalived with its static Pod's command (nft rule, stale VIP removed)."""
        log = open(self.dir / f"{role}-keepalived.log", "ab")  # noqa: SIM115
        env = {**os.environ, "PATH": f"{self.dir / role / 'bin'}:{os.environ.get('PATH', '')}"}
        self.keepalived[role] = self.lab.popen(role, self.commands[role]["keepalived"],
                                               stdout=log, stderr=log, env=env)  # fmt: skip

    def kill_proxy(self, role: str) -> None:
        """SIGKILL every proxy process of a node (nginx: master and workers; all stopped first,
        so no master sees a worker die and starts another)."""
        pids = []
        for pid in self.lab.pids(self.lab.netns(role)):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == self.proxy:
                    pids.append(pid)
        self.killed_at = time.monotonic()
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        self.haproxy[role].wait(5)
        # nginx's workers are not the master's Popen: they may still be exiting, their listening
        # sockets open, after the master is reaped. A process has closed its files once it is a
        # zombie or gone.
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.001)
        # Until here the kernel may still complete handshakes on the dying proxy's listening
        # socket (a stopped process keeps it) and reset them when it closes: those requests were
        # in flight at the kill. From here on no socket listens and the nft rule holds SYNs.
        self.gone_at = time.monotonic()


# --- fake API servers and clients, run inside a namespace ---------------------------------------


class PeerReportingServer(FakeAPIServer):
    """A fake API server whose /version also names the peer address: which LB node proxied."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._peer = threading.local()

    def _serve(self, raw: socket.socket, generation: int) -> None:
        with contextlib.suppress(OSError):
            self._peer.address = raw.getpeername()[0]
        super()._serve(raw, generation)

    def version(self) -> dict[str, Any]:
        """The fake /version plus ``peer``: the address the request came from."""
        return {**super().version(), "peer": getattr(self._peer, "address", "")}


def _serve(args: argparse.Namespace) -> int:
    context = context_from_pem(args.cert)
    servers = []
    for spec in args.listen:
        name, _, address = spec.partition("=")
        host, _, port = address.rpartition(":")
        servers.append(PeerReportingServer(name, context, host=host, port=int(port)).start())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def readiness(signum: int, _frame: object) -> None:
        ready = signum == signal.SIGUSR2
        for server in servers:
            server.set_ready(ready)
        print("ready" if ready else "unready", flush=True)  # Tier.set_apis_ready waits for it

    signal.signal(signal.SIGUSR1, readiness)
    signal.signal(signal.SIGUSR2, readiness)
    print("ready", flush=True)
    while not stop.wait(0.5):
        pass
    for server in servers:
        server.stop()
    return 0


class _Emitter:
    """JSON lines on stdout from many threads; monotonic times are comparable across namespaces."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, **record: Any) -> None:
        line = json.dumps(record)
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


def _get(host: str, port: int, context: ssl.SSLContext, path: str, timeout: float) -> bytes:
    raw = socket.create_connection((host, port), timeout=timeout)
    with context.wrap_socket(raw, server_hostname=host) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data


def _client_loop(args: argparse.Namespace, context: ssl.SSLContext, emit: _Emitter) -> None:
    """One request every ``period`` seconds on a new TLS connection, like kubectl's discovery."""
    next_start = time.monotonic()
    while True:
        start = time.monotonic()
        peer, error = "", ""
        try:
            data = _get(args.vip, args.port, context, "/version", args.timeout)
            head, _, body = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                error = "http-" + head[9:12].decode("latin-1")
            else:
                peer = str(json.loads(body).get("peer", ""))
        except (OSError, ValueError) as exc:
            error = type(exc).__name__
        emit(k="req", s=start, e=time.monotonic(), peer=peer, err=error)
        next_start = max(next_start + args.period, time.monotonic())
        time.sleep(max(0.0, next_start - time.monotonic()))


def _watch_loop(args: argparse.Namespace, context: ssl.SSLContext, emit: _Emitter) -> None:
    """A long watch; reopened when it breaks (reset, closed, or 3 s of silence)."""
    path = "/api/v1/namespaces/default/pods?watch=1"
    while True:
        try:
            raw = socket.create_connection((args.vip, args.port), timeout=args.timeout)
            conn = context.wrap_socket(raw, server_hostname=args.vip)
        except (OSError, ValueError):
            time.sleep(0.1)
            continue
        reason = "closed"
        with conn:
            try:
                conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {args.vip}\r\n\r\n".encode())
                emit(k="wopen", t=time.monotonic())
                conn.settimeout(3.0)
                while conn.recv(65536):
                    pass
            except TimeoutError:
                reason = "stalled"
            except (OSError, ValueError):
                reason = "reset"
        emit(k="wbreak", t=time.monotonic(), reason=reason)
        time.sleep(0.1)


def _clients(args: argparse.Namespace) -> int:
    context = ssl.create_default_context(cafile=args.ca)
    emit = _Emitter()
    for _ in range(args.clients):
        threading.Thread(target=_client_loop, args=(args, context, emit), daemon=True).start()
    for _ in range(args.watches):
        threading.Thread(target=_watch_loop, args=(args, context, emit), daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait(args.max_seconds)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``serve``: fake API servers (``--listen name=host:port`` ...; SIGUSR1 makes them all not
    ready, SIGUSR2 ready again, each confirmed by a line on stdout); ``clients``: traffic to a VIP.

    The clients print one JSON line per request (``k=req``: start, end, peer LB address, error)
    and per watch open/break; times are ``time.monotonic()``, the same clock as the caller's.
    """
    parser = argparse.ArgumentParser(prog="python -m tests.integration.netns")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--cert", required=True, help="PEM with key and certificate chain")
    serve.add_argument("--listen", action="append", required=True, help="name=host:port")
    clients = sub.add_parser("clients")
    clients.add_argument("--vip", required=True)
    clients.add_argument("--port", type=int, default=6443)
    clients.add_argument("--ca", required=True)
    clients.add_argument("--clients", type=int, default=4)
    clients.add_argument("--watches", type=int, default=2)
    clients.add_argument("--period", type=float, default=0.1)
    clients.add_argument("--timeout", type=float, default=2.0)
    clients.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args(argv)
    return _serve(args) if args.command == "serve" else _clients(args)


if __name__ == "__main__":
    raise SystemExit(main())
