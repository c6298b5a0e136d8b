"""A fake kube-apiserver: enough of the real one for a load balancer and kubectl to talk to.

TLS with a test CA (``trustme``; the certificate names 127.0.0.1, ::1 and localhost), HTTP/1.1,
one request per connection. Endpoints:

- ``/readyz``, ``/livez``, ``/healthz``: ``200 ok``, or ``500`` with a ``[-]...`` body when the
  test has set the server not ready (what kube-apiserver answers while etcd is gone);
- ``/version``: version JSON whose ``gitVersion`` and ``fakeServer`` name this server, plus an
  ``X-Fake-Apiserver`` header naming it, so a client knows where the load balancer sent it;
- ``/api/v1/namespaces/default/pods?watch=1``: a chunked stream of watch events, one every
  ``watch_interval`` seconds (or when the test pokes it), as long as the client stays.

Controls for the tests: :meth:`FakeAPIServer.set_ready`, :meth:`stop` (closes the listener and
resets every live connection: a hard kill), :meth:`start` (again, on the same port),
:meth:`set_delay` (slow responses), :meth:`poke_watches`. Counters: accepted connections,
requests per path, open connections.

The compose demo runs this file on its own (standard library only)::

    python3 fake_apiserver.py --servers apiservers.json --index 0 --cert apiserver.pem
"""

from __future__ import annotations

import contextlib
import functools
import json
import select
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:  # trustme only for the tests; the demo runs this file with the stdlib alone
    import trustme

HEADER = "X-Fake-Apiserver"
HEALTH_PATHS = ("/readyz", "/livez", "/healthz")
WATCH_PATH = "/api/v1/namespaces/default/pods"
NOT_READY_BODY = (
    "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n"
    "[+]poststarthook/start-kube-apiserver-admission-initializer ok\n{path} check failed\n"
)


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server TLS context with a certificate for 127.0.0.1, ::1 and localhost."""
    cert = ca.issue_cert("127.0.0.1", "::1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    # kubectl offers h2 via ALPN; this server speaks HTTP/1.1 only and says so.
    context.set_alpn_protocols(["http/1.1"])
    return context


class FakeAPIServer:
    """One fake kube-apiserver on ``host:port`` (port 0 picks a free one, kept across restarts)."""

    def __init__(
        self,
        name: str,
        context: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        watch_interval: float = 0.5,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.watch_interval = watch_interval
        self._context = context
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._ready = True
        self._delay = 0.0
        self._listener: socket.socket | None = None
        self._live: set[socket.socket] = set()
        self._generation = 0  # bumped by stop(): handlers of an older generation give up
        self._poke = 0
        self.accepted = 0
        self.requests: Counter[str] = Counter()

    # --- controls ---------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` as a spec wants it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the listener is open."""
        return self._listener is not None

    def start(self) -> FakeAPIServer:
        """Open the listener (on the same port after a stop) and serve in background threads."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(256)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
            generation = self._generation
        threading.Thread(target=self._accept_loop, args=(listener, generation), daemon=True).start()
        return self

    def stop(self) -> None:
        """Hard kill: close the listener and reset every live connection."""
        with self._lock:
            listener, self._listener = self._listener, None
            live, self._live = self._live, set()
            self._generation += 1
            self._wake.notify_all()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()
        for conn in live:
            with contextlib.suppress(OSError):
                # SO_LINGER 0: close() sends RST, like a killed process, not a polite FIN.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                conn.close()

    def set_ready(self, ready: bool) -> None:
        """Answer the health endpoints with 200 ``ok`` (True) or 500 ``[-]...`` (False)."""
        with self._lock:
            self._ready = ready

    def set_delay(self, seconds: float) -> None:
        """Wait this long before answering any request (a slow or overloaded server)."""
        with self._lock:
            self._delay = seconds

    def poke_watches(self) -> None:
        """Make every open watch send one event now."""
        with self._lock:
            self._poke += 1
            self._wake.notify_all()

    @property
    def open_connections(self) -> int:
        """Connections currently open (TLS handshake done or in progress)."""
        with self._lock:
            return len(self._live)

    def count(self, path: str) -> int:
        """Requests served for ``path`` so far."""
        with self._lock:
            return self.requests[path]

    # --- serving ----------------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket, generation: int) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # listener closed by stop()
            with self._lock:
                if generation != self._generation:
                    conn.close()
                    return
                self.accepted += 1
                self._live.add(conn)
            threading.Thread(target=self._serve, args=(conn, generation), daemon=True).start()

    def _serve(self, raw: socket.socket, generation: int) -> None:
        try:
            raw.settimeout(10)
            conn = self._context.wrap_socket(raw, server_side=True)
            self._handle(conn, generation)
            with contextlib.suppress(OSError):
                conn.close()
        except (OSError, ValueError):
            pass  # client or stop() went away mid-way; nothing to report
        finally:
            with self._lock:
                self._live.discard(raw)
            with contextlib.suppress(OSError):
                raw.close()

    def _handle(self, conn: ssl.SSLSocket, generation: int) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
            if len(data) > 65536:
                return
        request_line = data.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) < 2:
            return
        method, target = parts[0], parts[1]
        url = urlsplit(target)
        with self._lock:
            self.requests[url.path] += 1
            delay, ready = self._delay, self._ready
        if delay:
            time.sleep(delay)
        if url.path in HEALTH_PATHS:
            if ready:
                self._reply(conn, 200, "text/plain; charset=utf-8", b"ok")
            else:
                body = NOT_READY_BODY.format(path=url.path.strip("/")).encode()
                self._reply(conn, 500, "text/plain; charset=utf-8", body)
        elif url.path == "/version":
            self._reply(conn, 200, "application/json", json.dumps(self.version()).encode())
        elif url.path == WATCH_PATH and parse_qs(url.query).get("watch", [""])[0] in ("1", "true"):
            self._watch(conn, generation)
        elif method == "GET" and url.path == WATCH_PATH:
            pods = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}
            self._reply(conn, 200, "application/json", json.dumps(pods).encode())
        else:
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}
            self._reply(conn, 404, "application/json", json.dumps(status).encode())

    def _woken(self, seen: int, generation: int) -> bool:
        """A watch waits for this: poked since ``seen``, or stopped since ``generation``."""
        return self._poke != seen or self._generation != generation

    def version(self) -> dict[str, Any]:
        """The /version document; names this server."""
        return {
            "major": "1",
            "minor": "30",
            "gitVersion": f"v1.30.0-fake+{self.name}",
            "gitCommit": "0" * 40,
            "platform": "linux/amd64",
            "fakeServer": self.name,
        }

    def _reply(self, conn: ssl.SSLSocket, status: int, ctype: str, body: bytes) -> None:
        reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}[status]
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n{HEADER}: {self.name}\r\nConnection: close\r\n\r\n"
        )
        conn.sendall(head.encode() + body)

    def _watch(self, conn: ssl.SSLSocket, generation: int) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Transfer-Encoding: chunked\r\n{HEADER}: {self.name}\r\n\r\n"
        )
        conn.sendall(head.encode())
        number = 0
        while True:
            due = time.monotonic() + self.watch_interval
            with self._lock:
                seen = self._poke
            while time.monotonic() < due:
                # Like kube-apiserver, end the watch as soon as the client goes away: a load
                # balancer counts the session as open until the server side closes too.
                if _client_gone(conn):
                    return
                with self._lock:
                    self._wake.wait_for(
                        functools.partial(self._woken, seen, generation),
                        timeout=min(0.1, max(0.0, due - time.monotonic())),
                    )
                    if self._generation != generation:
                        return
                    if self._poke != seen:
                        break
            number += 1
            event = {
                "type": "ADDED",
                "object": {
                    "kind": "Pod",
                    "apiVersion": "v1",
                    "metadata": {
                        "name": f"pod-{number}",
                        "namespace": "default",
                        "resourceVersion": str(number),
                        "annotations": {"fake-apiserver": self.name},
                    },
                },
            }
            line = json.dumps(event).encode() + b"\n"
            conn.sendall(f"{len(line):x}\r\n".encode() + line + b"\r\n")  # OSError: client gone


def _client_gone(conn: ssl.SSLSocket) -> bool:
    """True when the client closed its side (EOF, close_notify or reset) of a streaming reply."""
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    timeout = conn.gettimeout()
    conn.settimeout(0.05)
    try:
        return not conn.recv(4096)  # a watch client sends nothing more; data here is ignored
    except (TimeoutError, ssl.SSLWantReadError):
        return False
    except OSError:
        return True
    finally:
        conn.settimeout(timeout)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (for a load balancer's bind)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def context_from_pem(pem: str) -> ssl.SSLContext:
    """A server TLS context from one PEM file holding the key and the certificate chain."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pem)
    context.set_alpn_protocols(["http/1.1"])
    return context


def main(argv: list[str] | None = None) -> int:
    """Serve one fake API server until SIGTERM/SIGINT (the compose demo's entry point)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--servers", required=True, help="JSON list of {name, address}")
    parser.add_argument("--index", type=int, required=True, help="which entry to serve")
    parser.add_argument("--cert", required=True, help="PEM with key and certificate chain")
    args = parser.parse_args(argv)
    with open(args.servers, encoding="utf-8") as handle:
        entry = json.load(handle)[args.index]
    host, _, port = entry["address"].rpartition(":")
    server = FakeAPIServer(
        entry["name"], context_from_pem(args.cert), host=host.strip("[]"), port=int(port)
    )
    stop = threading.Event()
    # As PID 1 in a container, Python ignores SIGTERM unless it has a handler.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    print(f"fake kube-apiserver {server.name} on https://{server.address}", flush=True)
    while not stop.wait(1.0):  # a timed wait lets the signal handler run promptly
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
