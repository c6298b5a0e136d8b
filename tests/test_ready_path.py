"""``global.health.ready_path`` with the real haproxy: readiness follows the servers, liveness not.

HAProxy's health frontend answers the liveness path (``monitor-uri``) with 200 whatever its
backends do, so a kubelet liveness probe never kills a proxy whose API servers are down; the
readiness path (``http-request return`` with ``nbsrv``) answers 503 while a pool a frontend sends
to has no usable server, which is what moves the VIP away from a node that lost its API servers.
haproxy runs on loopback with TCP checks against a live and a dead loopback port; the test stops
and restarts the live one and watches both paths.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import lbgen
from lbgen.haproxy import effective as haproxy_effective
from lbgen.haproxy.syntax import parse_haproxy
from lbgen.runners.local import LocalEngine
from tests.support import run_lbgen

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed")

#: Generous bounds for state changes (checks run every 100 ms; the machine is shared).
WAIT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Listener:
    """A TCP server on a loopback port that accepts and closes (enough for a TCP check)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()

    @staticmethod
    def _serve(sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conn.close()

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        if self._thread is not None:
            self._thread.join(timeout=5)


def _status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def _spec(health_port: int, pools: dict[str, dict[str, str]], backup: set[str]) -> str:
    lines = [
        "version: 1",
        "global:",
        f'  health: {{bind: "127.0.0.1:{health_port}"}}',
        "defaults:",
        "  health: {check: tcp, interval: 100ms, fast_interval: 100ms, down_interval: 100ms,"
        " rise: 1, fall: 1}",
        "frontends:",
    ]
    for pool in pools:
        lines.append(f'  fe-{pool}: {{bind: ["127.0.0.1:{_free_port()}"], pool: {pool}}}')
    lines.append("pools:")
    for pool, servers in pools.items():
        lines += [f"  {pool}:", "    servers:"]
        for name, address in servers.items():
            flag = ", backup: true" if name in backup else ""
            lines.append(f"      {name}: {{address: {address}{flag}}}")
    return "\n".join(lines) + "\n"


@contextmanager
def _haproxy(text: str, health_port: int) -> Iterator[str]:
    config = lbgen.render(lbgen.load_spec(text.encode(), filename="ready.yaml"), "haproxy").text
    with LocalEngine(config, "haproxy") as engine:
        engine.wait_listening("127.0.0.1", health_port)
        yield config


def _watch(health_port: int, want: int, liveness: list[int]) -> int:
    """Poll until /readyz answers ``want`` (its last answer otherwise); /healthz each time."""
    deadline = time.monotonic() + WAIT
    status = 0
    while time.monotonic() < deadline:
        liveness.append(_status(health_port, "/healthz"))
        status = _status(health_port, "/readyz")
        if status == want:
            return status
        time.sleep(0.05)
    return status


Scenario = Callable[[int, int], tuple[dict[str, dict[str, str]], set[str]]]


@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param(
            lambda live, dead: ({"cp": {"m1": f"127.0.0.1:{live}", "m2": f"127.0.0.1:{dead}"}},
                                set()),
            id="one-pool",
        ),
        # nbsrv counts a pool's backups when none of its active servers is usable.
        pytest.param(
            lambda live, dead: ({"cp": {"m1": f"127.0.0.1:{dead}", "m2": f"127.0.0.1:{live}"}},
                                {"m2"}),
            id="backup-only-live",
        ),
        # Two pools: one that always has a server cannot hide the other's being empty.
        pytest.param(
            lambda live, dead: ({"a": {"m1": f"127.0.0.1:{live}"},
                                 "b": {"m2": f"127.0.0.1:{live}", "m3": f"127.0.0.1:{dead}"}},
                                set()),
            id="two-pools",
        ),
    ],
)  # fmt: skip
def test_readiness_follows_the_servers_liveness_does_not(scenario: Scenario) -> None:
    live_port, dead_port, health_port = _free_port(), _free_port(), _free_port()
    pools, backup = scenario(live_port, dead_port)
    if len(pools) > 1:  # pool a keeps a server of its own that never goes down
        always = Listener(_free_port())
        always.start()
        pools["a"] = {"m1": f"127.0.0.1:{always.port}"}
    live = Listener(live_port)
    live.start()
    liveness: list[int] = []
    try:
        with _haproxy(_spec(health_port, pools, backup), health_port) as config:
            assert "nbsrv(" in config
            assert _watch(health_port, 200, liveness) == 200  # one server up
            live.stop()
            assert _watch(health_port, 503, liveness) == 503  # every server of a pool down
            live.start()
            assert _watch(health_port, 200, liveness) == 200  # back
    finally:
        live.stop()
        if len(pools) > 1:
            always.stop()
    assert liveness and set(liveness) == {200}, liveness


def test_without_a_ready_path_the_frontend_has_no_rules_and_reads_back_none() -> None:
    text = _spec(18081, {"cp": {"m1": "127.0.0.1:6443"}}, set()).replace(
        '"127.0.0.1:18081"}', '"127.0.0.1:18081", ready_path: null}'
    )
    config = lbgen.render(lbgen.load_spec(text.encode(), filename="r.yaml"), "haproxy").text
    assert "nbsrv" not in config and "/readyz" not in config
    model = haproxy_effective.read_effective(parse_haproxy(config, "r.cfg"))
    (health,) = [f for f in model.frontends.values() if f.role == "health"]
    assert (health.ready_path, health.ready_pools) == (None, ())
    with_rules = lbgen.render(
        lbgen.load_spec(text.replace(", ready_path: null", "").encode(), filename="r.yaml"),
        "haproxy",
    ).text
    model = haproxy_effective.read_effective(parse_haproxy(with_rules, "r.cfg"))
    (health,) = [f for f in model.frontends.values() if f.role == "health"]
    assert (health.ready_path, health.ready_pools) == ("/readyz", ("cp",))
    assert not [line for line in health.extras if line.startswith("http-request")]


def test_import_and_diff_read_the_readiness_rules(tmp_path: Path) -> None:
    """``import`` keeps a readiness path of its own and sets null without one; ``diff`` names
    a health frontend that lacks the rules the spec renders."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        _spec(18081, {"cp": {"m1": "127.0.0.1:6443"}}, set()).replace(
            '"127.0.0.1:18081"}', '"127.0.0.1:18081", ready_path: /ready}'
        )
    )
    config = tmp_path / "haproxy.cfg"
    assert run_lbgen("render", str(spec), "-t", "haproxy", "-o", str(config)).returncode == 0
    imported = run_lbgen("import", str(config))
    assert imported.returncode == 0, imported.stderr
    assert "    ready_path: /ready\n" in imported.stdout
    bare = tmp_path / "bare.cfg"
    bare.write_text(
        "".join(line for line in config.read_text().splitlines(True) if "http-request" not in line)
    )
    imported = run_lbgen("import", str(bare))
    assert "    ready_path: null\n" in imported.stdout
    diff = run_lbgen("diff", str(spec), "-t", "haproxy", "--against", str(bare))
    assert diff.returncode == 1, diff.stdout + diff.stderr
    assert "ready-path unset → /ready" in diff.stdout
    assert "ready-pools none → cp" in diff.stdout
    same = run_lbgen("diff", str(spec), "-t", "haproxy", "--against", str(config))
    assert same.returncode == 0, same.stdout
