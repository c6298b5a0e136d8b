"""Backup servers do what the spec says on both engines: no traffic while a primary is up, and
once every primary is down the backups *share* it by their weights (nginx does so by itself;
HAProxy needs ``option allbackups``, without which the first usable backup takes everything).

The real engines are the oracle: each runs the rendering of one spec on loopback in front of
counting servers, with its primary on a port where nothing listens.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from lbgen import load_spec, render
from lbgen.runners import LocalRunner
from lbgen.runners.local import LocalEngine
from tests.support import free_port, listening

#: Connections sent once the primary is down; the weights 25/75 split them 10/30.
CONNECTIONS = 40


@contextmanager
def counting_servers(count: int) -> Iterator[tuple[list[int], list[int]]]:
    """``count`` loopback servers that accept, send one byte and close: (ports, accepts)."""
    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    accepts = [0] * count
    stop = threading.Event()

    def serve(index: int) -> None:
        listeners[index].settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listeners[index].accept()
            except TimeoutError:
                continue
            with conn:
                accepts[index] += 1
                conn.sendall(b"x")

    threads = [threading.Thread(target=serve, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield [listener.getsockname()[1] for listener in listeners], accepts
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        for listener in listeners:
            listener.close()


def _spec(front: int, dead: int, backups: tuple[int, int], check: str = "tcp") -> str:
    return f"""version: 1
name: backups
frontends:
  api: {{bind: ["127.0.0.1:{front}"], pool: cp}}
pools:
  cp:
    health: {{check: {check}, interval: 100ms, fast_interval: 100ms, rise: 1, fall: 1}}
    servers:
      primary: 127.0.0.1:{dead}
      b1: {{address: "127.0.0.1:{backups[0]}", backup: true, weight: 25}}
      b2: {{address: "127.0.0.1:{backups[1]}", backup: true, weight: 75}}
"""


def _through(engine: str, text: str, front: int) -> None:
    """Run ``engine`` on ``text`` and send CONNECTIONS connections through ``front``, one at a
    time, each reading the backend's byte."""
    with LocalEngine(text, engine):
        deadline = time.monotonic() + 15
        while not listening(front) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1)  # HAProxy's checks (every 100 ms, fall 1) have marked the primary down
        for _ in range(CONNECTIONS):
            with socket.create_connection(("127.0.0.1", front), timeout=30) as client:
                client.settimeout(30)
                assert client.recv(1) == b"x"


@pytest.mark.parametrize("engine", ["haproxy", "nginx"])
def test_backups_share_the_traffic_by_weight(engine: str) -> None:
    if not LocalRunner().available(engine):
        pytest.fail(f"{engine} is not installed (scripts/test installs it)")
    front, dead = free_port(), free_port()
    with counting_servers(2) as (ports, accepts):
        spec = load_spec(_spec(front, dead, (ports[0], ports[1])).encode())
        rendered = render(spec, engine)
        if engine == "haproxy":
            assert "    option allbackups\n" in rendered.text
        _through(engine, rendered.text, front)
    assert accepts == [10, 30]


def test_without_allbackups_haproxy_sends_everything_to_the_first_backup() -> None:
    """Why the option is written: the same rendering without it, on the real HAProxy."""
    if not LocalRunner().available("haproxy"):
        pytest.fail("haproxy is not installed (scripts/test installs it)")
    front, dead = free_port(), free_port()
    with counting_servers(2) as (ports, accepts):
        text = render(load_spec(_spec(front, dead, (ports[0], ports[1])).encode()), "haproxy").text
        _through("haproxy", text.replace("    option allbackups\n", ""), front)
    assert accepts == [CONNECTIONS, 0]


def test_one_backup_needs_no_option() -> None:
    spec = _spec(16443, 16444, (16445, 16446)).replace(", backup: true, weight: 75", "")
    assert "allbackups" not in render(load_spec(spec.encode()), "haproxy").text


def test_an_unchecked_pool_warns_that_haproxy_never_uses_its_backup() -> None:
    """Without checks HAProxy never marks a server down, so it never turns to a backup (nginx
    does, through proxy_next_upstream): the haproxy target warns at the backup line."""
    spec = load_spec(_spec(16443, 16444, (16445, 16446), check="none").encode())
    found = [d for d in render(spec, "haproxy").diagnostics if d.code == "haproxy-backup-unchecked"]
    assert [(d.line, d.col, d.path, d.level.name) for d in found] == [
        (10, 48, "pools.cp.servers.b1.backup", "WARNING")
    ], found
    assert "b1" in found[0].message
    checked = load_spec(_spec(16443, 16444, (16445, 16446)).encode())
    assert not [d for d in render(checked, "haproxy").diagnostics if "backup" in d.code]
    assert not [d for d in render(spec, "nginx").diagnostics if "backup" in d.code]


HAND_WRITTEN = """global
    log stdout format raw local0

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout client 1h
    timeout server 1h

frontend api
    bind 127.0.0.1:16443
    default_backend cp

backend cp
    option allbackups
    server m1 127.0.0.1:6443 check
    server b1 127.0.0.2:6443 check backup
    server b2 127.0.0.3:6443 check backup
"""


def test_import_leaves_allbackups_to_lbgen_and_names_its_absence() -> None:
    """A pool with two backups: import does not keep ``option allbackups`` as an extra (lbgen
    writes it; kept, it would be written twice); a config without it gets a lossy warning, as
    the imported spec's backups share what its first backup took alone."""
    from lbgen.importer import import_config

    imported = import_config(HAND_WRITTEN, "haproxy.cfg")
    assert imported.ok and "allbackups" not in imported.yaml_text
    rendered = render(load_spec(imported.yaml_text.encode()), "haproxy").text
    assert rendered.count("option allbackups") == 1
    assert not [d for d in imported.diagnostics if d.code == "import-lossy"]
    without = import_config(HAND_WRITTEN.replace("    option allbackups\n", ""), "haproxy.cfg")
    lossy = [d for d in without.diagnostics if d.code == "import-lossy"]
    assert any("option allbackups: added" in d.message for d in lossy), lossy
