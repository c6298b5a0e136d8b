"""What two real keepalived nodes do with lbgen's rendered configs when the VIP holder's proxy
turns unready (``/readyz`` 503, the proxy still answering): the oracle for two of the tier's
checks, each shown against a control that differs in the one point.

- ``vip-nopreempt-unready`` (a warning): with ``preempt: false`` keepalived's ``nopreempt``
  keeps the VIP on the unready node; with ``preempt: true`` it moves.
- ``vip-track-weight`` for a priority of 1 (an error): keepalived lowers no effective priority
  below 1, so an unready node at 20 - 20 ties with a healthy node at 1 and keeps the VIP; with
  that node at 2 it moves. lbgen refuses priority 1, so that config is lbgen's rendering of
  priority 2 with the one number changed.

Root only: two network namespaces joined by a veth pair (eth0 in each, 192.0.2.11 and .12/24),
each running a stand-in for the node's proxy health endpoint and keepalived. Deleted after.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lbgen.rendering import render
from lbgen.spec.load import load_spec
from tests.support import joined_namespaces

ROOT = Path(__file__).resolve().parents[1]
VIP = "192.0.2.100/24"
NODES = {"lb1": "192.0.2.11", "lb2": "192.0.2.12"}

#: The node's proxy health endpoint: /healthz always 200 (alive), /readyz the code in a file.
HEALTH = """\
import http.server, sys
state = sys.argv[1]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = int(open(state).read()) if self.path == "/readyz" else 200
        self.send_response(code)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", 8081), Handler).serve_forever()
"""


def spec(*, preempt: bool, priorities: tuple[int, int] | None) -> str:
    """A two-node tier whose health endpoint is the stand-in's."""
    given = [f", priority: {p}" for p in priorities] if priorities else ["", ""]
    return (
        "version: 1\n"
        "global:\n  health: {bind: ':8081', path: /healthz, ready_path: /readyz}\n"
        "frontends:\n  api: {bind: ['192.0.2.100:6443'], pool: cp}\n"
        "pools:\n  cp: {servers: {m1: '192.0.2.21:6443'}}\n"
        "vip:\n"
        f"  addresses: ['{VIP}']\n  interface: eth0\n  virtual_router_id: 51\n"
        f"  preempt: {'true' if preempt else 'false'}\n"
        "  nodes:\n"
        + "".join(
            f"    - {{name: {name}, address: {address}{extra}}}\n"
            for (name, address), extra in zip(NODES.items(), given, strict=True)
        )
    )


def holds_vip(namespace: str) -> bool:
    shown = subprocess.run(
        ["ip", "-n", namespace, "-br", "addr", "show", "eth0"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return VIP in shown


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


CASES = {
    # name: (preempt, priorities as rendered, lb2's priority written instead, VIP moves)
    "preempt": (True, None, None, True),
    "nopreempt": (False, None, None, False),
    "lowest-priority-2": (True, (20, 2), None, True),
    "lowest-priority-1": (True, (20, 2), 1, False),
}


@pytest.mark.parametrize("case", CASES)
def test_an_unready_holder_loses_the_vip_only_where_lbgen_says_it_does(case: str) -> None:
    preempt, priorities, lowest, moves = CASES[case]
    loaded = load_spec(spec(preempt=preempt, priorities=priorities).encode())
    folder = Path(f"/run/lbgen-elect-{os.getpid()}")  # root-only: keepalived's script security
    folder.mkdir(mode=0o700)
    processes: list[subprocess.Popen[bytes]] = []
    logs = []
    with joined_namespaces("elect", NODES) as namespaces:
        try:
            for node in namespaces:
                text = render(loaded, "keepalived", node=node).text
                if node == "lb2" and lowest is not None:
                    assert priorities is not None
                    assert f"    priority {priorities[1]}\n" in text
                    text = text.replace(f"    priority {priorities[1]}\n",
                                        f"    priority {lowest}\n")  # fmt: skip
                (folder / f"{node}.conf").write_text(text)
                (folder / f"{node}.ready").write_text("200")
                (folder / f"{node}.ready").chmod(0o644)
            exec_in = {node: ["ip", "netns", "exec", ns] for node, ns in namespaces.items()}
            for node in NODES:
                processes.append(subprocess.Popen(
                    [*exec_in[node], sys.executable, "-c", HEALTH, str(folder / f"{node}.ready")],
                ))  # fmt: skip
            for node in NODES:  # lb1 first, so that it holds the VIP whatever the priorities
                log = open(folder / f"{node}.log", "wb")  # noqa: SIM115
                logs.append(log)
                processes.append(subprocess.Popen(
                    [*exec_in[node], "keepalived", "-n", "-l", "-D", "-P",
                     "-f", str(folder / f"{node}.conf"), "-p", str(folder / f"{node}.k.pid"),
                     "-r", str(folder / f"{node}.v.pid")],
                    stdout=log, stderr=log,
                ))  # fmt: skip
                if node == "lb1":
                    assert wait_for(lambda: holds_vip(namespaces["lb1"]), 30), (
                        folder / "lb1.log"
                    ).read_text()
            lb2_log = folder / "lb2.log"
            assert wait_for(lambda: "Entering BACKUP STATE" in lb2_log.read_text(), 30), (
                lb2_log.read_text()
            )
            assert holds_vip(namespaces["lb1"]) and not holds_vip(namespaces["lb2"])

            (folder / "lb1.ready").write_text("503")
            lb1_log = folder / "lb1.log"
            assert wait_for(lambda: "lbgen_ready) failed" in lb1_log.read_text(), 30), (
                lb1_log.read_text()
            )
            moved = wait_for(lambda: holds_vip(namespaces["lb2"]), 10)
            assert moved is moves, (lb1_log.read_text(), lb2_log.read_text())
            assert holds_vip(namespaces["lb1"]) is not moves
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
            for log in logs:
                log.close()
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()
