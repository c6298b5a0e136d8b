"""What the failover and proxying benchmarks share: a private network namespace, fake API servers,
a stream of real TLS clients, a SYN counter and the engines.

Everything runs on loopback. As root, :func:`enter_private_netns` moves this process (before any
thread starts) into a network namespace of its own, so that blackhole rules and packet counters
touch nothing else on the machine; the namespace goes away with the process. Every loop here is
bounded in count and time.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: the repo's lbgen and tests
    sys.path.insert(0, str(ROOT))

import trustme  # noqa: E402

from tests.integration.clients import Watch, request  # noqa: E402
from tests.integration.fake_apiserver import FakeAPIServer, server_context  # noqa: E402

CLONE_NEWNET = 0x40000000
#: Where HAProxy's health checks are sent (see configs.checks_to): the SYN counter tells them
#: from forwarded traffic by destination address.
CHECK_ADDRESS = "127.0.0.2"
NFT_TABLE = "lbgen_bench"


def enter_private_netns() -> None:
    """Move this process into a new network namespace with only ``lo`` up (needs root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise SystemExit(f"cannot create a network namespace: {os.strerror(errno)} (run as root)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)


# --- TLS and fake servers ----------------------------------------------------------------------


@dataclass
class Tls:
    """The test CA, the servers' context and a client context that trusts it."""

    ca: trustme.CA = field(default_factory=trustme.CA)

    def __post_init__(self) -> None:
        self.server = server_context(self.ca)
        self.client = ssl.create_default_context()
        self.ca.configure_trust(self.client)


def start_servers(tls: Tls, names: tuple[str, ...], *, any_address: bool) -> list[FakeAPIServer]:
    """Fake API servers; on every loopback address when ``any_address`` (checks on 127.0.0.2)."""
    host = "0.0.0.0" if any_address else "127.0.0.1"
    return [FakeAPIServer(n, tls.server, host=host, watch_interval=0.5).start() for n in names]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- clients -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One short request: when it started and ended, who answered, what went wrong."""

    start: float
    end: float
    server: str
    error: str


@dataclass(frozen=True)
class WatchBreak:
    """A watch that ended (reset, closed or silent for too long) on ``server``."""

    time: float
    server: str
    reason: str


class Traffic:
    """Short TLS requests from ``clients`` threads and ``watches`` long watches, until stopped.

    Each client thread opens a new TLS connection per request (GET /version, like kubectl's
    discovery) with ``pause`` seconds between them; each watch reopens when it ends.
    """

    def __init__(
        self, port: int, context: ssl.SSLContext, *, clients: int = 4, watches: int = 4,
        pause: float = 0.01, request_timeout: float = 45.0, max_seconds: float = 1800.0,
    ) -> None:  # fmt: skip
        self.port = port
        self.context = context
        self.replies: list[Reply] = []
        self.watch_opens: list[tuple[float, str]] = []
        self.watch_breaks: list[WatchBreak] = []
        self._pause = pause
        self._timeout = request_timeout
        self._deadline = time.monotonic() + max_seconds
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, daemon=True) for _ in range(clients)
        ] + [threading.Thread(target=self._watch, daemon=True) for _ in range(watches)]

    def start(self) -> Traffic:
        """Start every client thread."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop and wait for the threads (each ends within its timeout)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self._timeout + 5)

    def _running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def _client(self) -> None:
        while self._running():
            start = time.monotonic()
            try:
                reply = request("127.0.0.1", self.port, self.context, timeout=self._timeout)
                server, error = reply.server, "" if reply.status == 200 else f"http-{reply.status}"
            except (OSError, ConnectionError, ValueError) as exc:
                server, error = "", type(exc).__name__
            self.replies.append(Reply(start, time.monotonic(), server, error))
            self._stop.wait(self._pause)

    def _watch(self) -> None:
        while self._running():
            try:
                watch = Watch(self.port, self.context, timeout=10)
            except (OSError, ConnectionError, ValueError):
                self._stop.wait(0.2)
                continue
            self.watch_opens.append((time.monotonic(), watch.server))
            reason = "stopped"
            with watch:
                while self._running():
                    try:
                        # Events come every 0.5 s: 3 s of silence is a stalled watch.
                        if watch.next_event(timeout=3.0) is None:
                            reason = "closed"
                            break
                    except TimeoutError:
                        reason = "stalled"
                        break
                    except (OSError, ValueError):
                        reason = "reset"
                        break
            if reason != "stopped":
                self.watch_breaks.append(WatchBreak(time.monotonic(), watch.server, reason))
                self._stop.wait(0.2)

    def served_by(self, server: str, since: float, until: float = float("inf")) -> list[Reply]:
        """Successful replies from ``server`` to requests started in [since, until)."""
        return [r for r in list(self.replies) if r.server == server and since <= r.start < until]

    def failed(self, since: float, until: float) -> list[Reply]:
        """Requests started in [since, until) that failed."""
        return [r for r in list(self.replies) if r.error and since <= r.start < until]


# --- SYN counter -------------------------------------------------------------------------------

# Classic BPF: accept IPv4 TCP segments with SYN set and ACK clear (a connection attempt), on an
# Ethernet-framed interface such as lo; everything else is dropped in the kernel.
_SYN_FILTER = [
    (0x30, 0, 0, 23),  # ldb [23]            IP protocol
    (0x15, 0, 5, 6),  # jeq #6 (TCP) else drop
    (0xB1, 0, 0, 14),  # ldxb 4*([14]&0xf)  IP header length
    (0x50, 0, 0, 27),  # ldb [x+27]          TCP flags (14 + 13)
    (0x54, 0, 0, 0x12),  # and #(SYN|ACK)
    (0x15, 0, 1, 0x02),  # jeq #SYN else drop
    (0x06, 0, 0, 96),  # ret #96
    (0x06, 0, 0, 0),  # ret #0
]
SO_ATTACH_FILTER = 26
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


class SynCounter:
    """Timestamps of every TCP connection attempt (SYN) on ``lo`` of this network namespace.

    Connection attempts are counted before any firewall rule sees them, so attempts to a killed
    (refusing) or blackholed (dropping) server are counted too.
    """

    def __init__(self) -> None:
        self.attempts: list[tuple[float, str, int]] = []
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        program = b"".join(struct.pack("HBBI", *insn) for insn in _SYN_FILTER)
        self._program = ctypes.create_string_buffer(program)
        fprog = struct.pack("HL", len(_SYN_FILTER), ctypes.addressof(self._program))
        self._sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        self._sock.bind(("lo", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SynCounter:
        """Start counting in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop counting and close the socket."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, address = self._sock.recvfrom(128)
            except TimeoutError:
                continue
            except OSError:
                return
            if address[2] == PACKET_OUTGOING:  # lo shows each packet leaving and arriving
                continue
            ihl = (data[14] & 0x0F) * 4
            destination = socket.inet_ntoa(data[30:34])
            port = struct.unpack("!H", data[14 + ihl + 2 : 14 + ihl + 4])[0]
            self.attempts.append((time.monotonic(), destination, port))

    def to(self, address: str, port: int, since: float, until: float = float("inf")) -> list[float]:
        """Times of connection attempts to ``address:port`` in [since, until)."""
        return [
            t
            for t, a, p in list(self.attempts)
            if a == address and p == port and since <= t < until
        ]


# --- blackhole ---------------------------------------------------------------------------------


class Blackhole:
    """nft rules in this process's own namespace that silently drop one server's packets."""

    def __init__(self, port: int) -> None:
        self.port = port

    def __enter__(self) -> Blackhole:
        commands = [
            f"add table inet {NFT_TABLE}",
            f"add chain inet {NFT_TABLE} input {{ type filter hook input priority 0 ; }}",
            f"add rule inet {NFT_TABLE} input tcp dport {self.port} drop",
            f"add rule inet {NFT_TABLE} input tcp sport {self.port} drop",
        ]
        _nft("\n".join(commands))
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            _nft(f"delete table inet {NFT_TABLE}")


def _nft(script: str) -> None:
    subprocess.run(["nft", "-f", "-"], input=script.encode(), check=True, timeout=10)


# --- the engine's own CPU time -----------------------------------------------------------------


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (s) spent so far by ``pid``'s threads and its descendants' (HAProxy's master and
    worker, nginx's master and workers), from ``/proc/PID/task/TID/schedstat``: nanoseconds,
    where ``/proc/PID/stat`` counts clock ticks (10 ms, too coarse for a few seconds of load).
    A process that ends meanwhile is skipped."""
    total_ns, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for tid in os.listdir(f"/proc/{current}/task"):
                task = f"/proc/{current}/task/{tid}"
                total_ns += int(Path(f"{task}/schedstat").read_text().split()[0])
                todo += [int(child) for child in Path(f"{task}/children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total_ns / 1e9


# --- a Docker engine inside the benchmark's network namespace ----------------------------------


class PrivateDocker:
    """A dockerd of the benchmark's own, started inside this process's private network namespace.

    Started the way the integration tests start one (``--bridge=none --iptables=false``,
    tests/integration/dockerd.py), but with a socket, data and exec root of its own, so it never
    meets a daemon that already runs here. Its host-network containers share the benchmark's
    namespace: the SYN counter, the check address and the blackhole work as with local engines.
    Images stay in ``data_root`` between runs; the daemon is stopped by its PID.
    """

    def __init__(self, data_root: Path, exec_root: Path = Path("/run/lbgen-bench-docker")) -> None:
        self.data_root = data_root
        self.exec_root = exec_root
        self.socket = exec_root / "docker.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: object = None

    def start(self, timeout: float = 60.0) -> PrivateDocker:
        """Start the daemon; point this process's Docker clients (DOCKER_HOST) at it."""
        import shutil

        import docker

        dockerd = shutil.which("dockerd", path=os.environ.get("PATH", "") + ":/usr/sbin")
        if dockerd is None:
            raise SystemExit("--runner docker: dockerd is not installed")
        self.data_root.mkdir(parents=True, exist_ok=True)
        self.exec_root.mkdir(parents=True, exist_ok=True)
        log = (self.data_root / "dockerd.log").open("ab")
        self.proc = subprocess.Popen(
            [dockerd, "--bridge=none", "--iptables=false", "--ip6tables=false",
             "--storage-driver=overlay2", f"--host=unix://{self.socket}",
             f"--data-root={self.data_root}", f"--exec-root={self.exec_root}",
             f"--pidfile={self.exec_root / 'docker.pid'}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        os.environ["DOCKER_HOST"] = f"unix://{self.socket}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                client = docker.from_env(timeout=300)
                client.ping()
                self.client = client
                return self
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"dockerd did not come up (see {self.data_root / 'dockerd.log'})")

    def stop(self) -> None:
        """Stop the daemon this object started (SIGTERM by PID, then SIGKILL after 30 s)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
        # dockerd bind-mounts its network namespace here and leaves it mounted when it exits:
        # unmount it, or the benchmark's namespace would outlive the benchmark.
        pinned = self.exec_root / "netns" / "default"
        if os.path.ismount(pinned):
            subprocess.run(["umount", str(pinned)], check=False, timeout=10)
