"""Spec ``balance: random`` on nginx honours the servers' weights.

lbgen writes ``random two least_conn`` (the lighter of two draws, like HAProxy's ``random``),
but over servers of different weights plain ``random``: nginx draws the second server among the
others and lets it win a tie of connection counts, so while connections are few the weights come
out inverted. The real nginx is the oracle, with 400 connections one after another.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from lbgen import diff, load_spec, render
from lbgen.runners import LocalRunner
from lbgen.runners.local import LocalEngine
from tests.support import free_port, listening
from tests.test_backup_servers import counting_servers

CONNECTIONS = 400


def _spec(front: int, ports: tuple[int, int], weights: tuple[int, int]) -> str:
    return f"""version: 1
name: random
frontends:
  api: {{bind: ["127.0.0.1:{front}"], pool: cp}}
pools:
  cp:
    balance: random
    health: {{check: tcp}}
    servers:
      a: {{address: "127.0.0.1:{ports[0]}", weight: {weights[0]}}}
      b: {{address: "127.0.0.1:{ports[1]}", weight: {weights[1]}}}
"""


def _shares(method: str | None) -> list[int]:
    """Connections each of two servers weighted 25 / 75 accepts through nginx, with lbgen's
    rendering, or with its balancing line replaced by ``method``."""
    if not LocalRunner().available("nginx"):
        pytest.fail("nginx is not installed (scripts/test installs it)")
    front = free_port()
    with counting_servers(2) as (ports, accepts):
        text = render(
            load_spec(_spec(front, (ports[0], ports[1]), (25, 75)).encode()), "nginx"
        ).text
        assert "        random;\n" in text
        if method is not None:
            text = text.replace("        random;\n", f"        {method};\n")
        with LocalEngine(text, "nginx"):
            deadline = time.monotonic() + 15
            while not listening(front) and time.monotonic() < deadline:
                time.sleep(0.05)
            for _ in range(CONNECTIONS):
                with socket.create_connection(("127.0.0.1", front), timeout=30) as client:
                    client.settimeout(30)
                    assert client.recv(1) == b"x"
    return list(accepts)


def test_weighted_random_follows_the_weights() -> None:
    a, b = _shares(None)
    # Expected 100 / 300; the bound is more than six standard deviations away.
    assert a + b == CONNECTIONS and b / CONNECTIONS > 0.62, (a, b)


def test_random_two_least_conn_inverts_them_while_connections_are_few() -> None:
    """Why the plain method: the same config with ``random two least_conn``."""
    a, b = _shares("random two least_conn")
    assert a + b == CONNECTIONS and a / CONNECTIONS > 0.62, (a, b)


@pytest.mark.parametrize(
    ("weights", "method"),
    [
        ((25, 75), "random;"),
        ((10, 10), "random two least_conn;"),
        ((1, 0), "random two least_conn;"),
    ],
)
def test_the_method_depends_on_whether_weights_differ(
    weights: tuple[int, int], method: str
) -> None:
    text = render(load_spec(_spec(16443, (17001, 17002), weights).encode()), "nginx").text
    assert f"        {method}\n" in text


def test_diff_tells_the_two_spellings_apart_and_reads_its_own(tmp_path: Path) -> None:
    spec = load_spec(_spec(16443, (17001, 17002), (25, 75)).encode())
    ours = tmp_path / "ours.conf"
    ours.write_text(render(spec, "nginx").text)
    assert diff(spec, "nginx", ours).equivalent
    theirs = tmp_path / "theirs.conf"
    theirs.write_text(ours.read_text().replace("random;\n", "random two least_conn;\n"))
    assert not diff(spec, "nginx", theirs).equivalent
