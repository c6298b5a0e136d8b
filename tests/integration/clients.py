"""Real clients for the integration tests: Python TLS sockets, kubectl and curl.

Every client here talks to 127.0.0.1 or ::1 only, and every loop is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .fake_apiserver import HEADER

LOOPBACK = ("127.0.0.1", "::1")


def _check_loopback(host: str) -> None:
    """Refuse any destination outside the loopback addresses (a workplace rule, and safety)."""
    if host not in LOOPBACK:
        raise ValueError(f"integration clients only talk to {LOOPBACK}, not {host!r}")


@dataclass
class Reply:
    """One HTTP response read over TLS."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def server(self) -> str:
        """Which fake API server answered (from its response header)."""
        return self.headers.get(HEADER.lower(), "")


def _read_head(conn: ssl.SSLSocket) -> tuple[int, dict[str, str], bytes]:
    """Read the status line and headers; return them and whatever body bytes came along."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError(f"connection closed before a full response ({len(data)} bytes)")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, rest


def open_tls(
    host: str,
    port: int,
    context: ssl.SSLContext,
    *,
    source: str | None = None,
    timeout: float = 10.0,
) -> ssl.SSLSocket:
    """A TLS connection to ``host:port`` (optionally from a given loopback source address)."""
    _check_loopback(host)
    source_address = (source, 0) if source else None
    raw = socket.create_connection((host, port), timeout=timeout, source_address=source_address)
    try:
        return context.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise


def request(
    host: str,
    port: int,
    context: ssl.SSLContext,
    path: str = "/version",
    *,
    source: str | None = None,
    timeout: float = 10.0,
) -> Reply:
    """One GET on a new TLS connection; the connection is closed afterwards."""
    with open_tls(host, port, context, source=source, timeout=timeout) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        status, headers, body = _read_head(conn)
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return Reply(status, headers, body)


@dataclass
class Tally:
    """Where a series of new connections went, and how many failed."""

    servers: Counter[str] = field(default_factory=Counter)
    failures: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """Connections that reached a server."""
        return sum(self.servers.values())

    def share(self, name: str) -> float:
        """Fraction of successful connections that reached ``name``."""
        return self.servers[name] / self.total if self.total else 0.0

    def describe(self) -> str:
        """``a=101 b=99 c=100`` plus failures, for the figures report."""
        parts = [f"{name}={count}" for name, count in sorted(self.servers.items())]
        if self.failures:
            parts.append(f"failed={self.failures} ({dict(self.errors)})")
        return " ".join(parts) + f" in {self.seconds:.1f}s"


def tally(
    port: int,
    context: ssl.SSLContext,
    count: int,
    *,
    host: str = "127.0.0.1",
    source: str | None = None,
    time_limit: float = 60.0,
) -> Tally:
    """Open ``count`` new connections one after another; count where each went."""
    result = Tally()
    started = time.monotonic()
    for _ in range(count):
        if time.monotonic() - started > time_limit:
            raise AssertionError(f"{count} connections took over {time_limit}s: {result}")
        try:
            reply = request(host, port, context, source=source)
        except (OSError, ConnectionError) as exc:
            result.failures += 1
            result.errors[type(exc).__name__] += 1
            continue
        result.servers[reply.server or f"status-{reply.status}"] += 1
    result.seconds = time.monotonic() - started
    return result


class Watch:
    """A watch request held open through the load balancer; knows which server it reached."""

    def __init__(
        self, port: int, context: ssl.SSLContext, *, host: str = "127.0.0.1", timeout: float = 30
    ) -> None:
        self.conn = open_tls(host, port, context, timeout=timeout)
        path = "/api/v1/namespaces/default/pods?watch=1"
        self.conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        self.status, headers, self._buffer = _read_head(self.conn)
        self.server = headers.get(HEADER.lower(), "")

    def next_event(self, timeout: float) -> bytes | None:
        """The next raw chunk of the stream, or None when the connection was closed."""
        self.conn.settimeout(timeout)
        if self._buffer:
            data, self._buffer = self._buffer, b""
            return data
        try:
            data = self.conn.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return None
        return data or None

    def close(self) -> None:
        """Close the client side."""
        with contextlib.suppress(OSError):
            self.conn.close()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _clean_env(home: Path) -> dict[str, str]:
    """An environment for kubectl/curl that touches nothing of the user's and uses no proxy."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
        and not key.startswith("KUBE")
    }
    env["HOME"] = str(home)
    env["KUBECONFIG"] = str(home / "kubeconfig-unused")  # never the user's ~/.kube/config
    return env


def kubectl(
    port: int, path: str, ca_file: Path, home: Path, *, host: str = "127.0.0.1"
) -> subprocess.CompletedProcess[str]:
    """``kubectl get --raw PATH`` through the load balancer, verifying the test CA."""
    _check_loopback(host)
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    command = [
        "kubectl",
        "--server",
        server,
        "--certificate-authority",
        str(ca_file),
        "--request-timeout=15s",
        # Without credentials kubectl asks for a username; a dummy token keeps it quiet.
        "--token=lbgen-integration-test",
        "get",
        "--raw",
        path,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, env=_clean_env(home), timeout=60, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def curl(
    port: int, path: str, ca_file: Path, home: Path, *, host: str = "127.0.0.1"
) -> subprocess.CompletedProcess[str]:
    """``curl`` one path through the load balancer; prints the HTTP status on the last line."""
    _check_loopback(host)
    url = f"https://[{host}]:{port}{path}" if ":" in host else f"https://{host}:{port}{path}"
    command = ["curl", "-sS", "--max-time", "15", "--cacert", str(ca_file),
               "-w", "\n%{http_code}", url]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, env=_clean_env(home), timeout=60, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
