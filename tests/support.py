"""Helpers shared by the test modules."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_lbgen(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real console entry point (``python -m lbgen``) in a fresh process, from the repo top."""
    return subprocess.run(
        [sys.executable, "-m", "lbgen", *args],
        capture_output=True, text=True, input=stdin, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip


@contextlib.contextmanager
def node_namespace(tag: str, *, nonlocal_bind: bool = False) -> Iterator[str]:
    """A network namespace standing in for a load-balancer node: lo up, and eth0 (one end of a
    veth pair whose other end stays inside) holding 192.0.2.11/24 and 2001:db8::11/64.

    ``nonlocal_bind``: as on a node of the tier (README), a proxy may bind the VIP while
    keepalived does not hold it. Deleted, with everything in it, on exit.
    """
    name = f"lbgen-{tag}-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for args in (
            ["link", "set", "lo", "up"],
            ["link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
            ["addr", "add", "192.0.2.11/24", "dev", "eth0"],
            ["addr", "add", "2001:db8::11/64", "dev", "eth0", "nodad"],
            ["link", "set", "eth0", "up"],
            ["link", "set", "eth1", "up"],
        ):
            subprocess.run(["ip", "-n", name, *args], check=True)
        if nonlocal_bind:
            sysctl = ["sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1"]
            subprocess.run(["ip", "netns", "exec", name, *sysctl], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@contextlib.contextmanager
def joined_namespaces(tag: str, addresses: dict[str, str]) -> Iterator[dict[str, str]]:
    """Two network namespaces joined by a veth pair named eth0 in both, each holding its address
    of ``addresses`` (a name per namespace: its IPv4 address, of one /24) and lo up. Yields
    name -> namespace; deleted, with everything in them, on exit."""
    if os.geteuid() != 0:
        raise RuntimeError("network namespaces need root")
    names = {name: f"lbgen-{tag}-{name}-{os.getpid()}" for name in addresses}
    assert len(names) == 2, "a veth pair joins two namespaces"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    try:
        for namespace in names.values():
            ip("netns", "add", namespace)
        a, b = names.values()
        ip("-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b)
        for name, namespace in names.items():
            ip("-n", namespace, "link", "set", "lo", "up")
            ip("-n", namespace, "addr", "add", f"{addresses[name]}/24", "dev", "eth0")
            ip("-n", namespace, "link", "set", "eth0", "up")
        yield names
    finally:
        for namespace in names.values():
            subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True)


def run_briefly(argv: list[str], seconds: float = 5) -> tuple[bool, str]:
    """Start ``argv`` (an engine in the foreground) and give it ``seconds``: whether it exited
    by then (a config it refused), and everything it printed. One still running is ended."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=seconds)
        return True, output
    except subprocess.TimeoutExpired:
        process.terminate()
        output, _ = process.communicate(timeout=15)
        return False, output


#: Figures the tests measured, each with the test file that measured it. tests/conftest.py
#: prints them in the terminal summary, so CI output shows them whatever ``-s`` says.
SUMMARY: list[tuple[str, str]] = []


def figure(source: str, text: str) -> None:
    """Print a measured figure and keep it for the end-of-run summary."""
    print(text)
    SUMMARY.append((source, text.strip()))


def alive(pid: int) -> bool:
    """Whether ``pid`` runs or is still exiting: neither gone nor a zombie (which has closed its
    files and sockets, and which nobody may reap yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def listening(port: int) -> bool:
    """Whether a socket listens on 127.0.0.1:``port``, asked of the kernel. A test connection
    would not do: in a tcp proxy it reaches the server, sometimes, and counts as one of the
    connections a probe compares."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        return any(
            fields[1] == wanted and fields[3] == "0A"  # 0A: LISTEN
            for fields in (line.split() for line in list(table)[1:])
        )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def show_stat(sock: Path, timeout: float = 10) -> list[dict[str, str]]:
    """The server rows of a running HAProxy's ``show stat`` on its stats socket ``sock``, each
    a mapping of column name (``pxname``, ``svname``, ``status``, ...) to value."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(timeout)
        conn.connect(str(sock))
        conn.sendall(b"show stat -1 4 -1\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    rows = [line.split(",") for line in data.decode().lstrip("# ").splitlines() if line]
    return [dict(zip(rows[0], row, strict=False)) for row in rows[1:]]
