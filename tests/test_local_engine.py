"""A locally running engine dies with the process that started it (no orphans after kill -9).

Benchmarks and integration tests start haproxy/nginx through ``LocalEngine``; when such a run is
killed (SIGKILL, OOM killer, CI timeout) nothing calls ``stop()``. The engine must still go: a
Python child starts a real engine and is SIGKILLed, and the engine's master and workers must be
gone soon after.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lbgen.runners import LocalRunner
from lbgen.runners.local import child_pids
from tests.support import alive

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="parent-death signal is Linux's prctl"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config(engine: str, port: int) -> str:
    if engine == "haproxy":
        return (
            "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n"
            "  timeout server 5s\n"
            f"frontend f\n  bind 127.0.0.1:{port}\n  default_backend b\n"
            "backend b\n  server s 127.0.0.1:9\n"
        )
    server = f"  server {{\n    listen 127.0.0.1:{port};\n    proxy_pass 127.0.0.1:9;\n  }}\n"
    return f"stream {{\n{server}}}\n"


_CHILD = """
import sys, time
from lbgen.runners.local import LocalEngine
engine = LocalEngine(sys.argv[1], sys.argv[2])
engine.start()
engine.wait_listening("127.0.0.1", int(sys.argv[3]), timeout=30)
print(engine.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("engine", ["haproxy", "nginx"])
def test_engine_dies_with_the_process_that_started_it(engine: str) -> None:
    if not LocalRunner().available(engine):
        pytest.fail(f"{engine} is not installed")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, _config(engine, port), engine, str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    engine_pids: set[int] = set()
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip().isdigit(), child.communicate(timeout=30)[1]
        master = int(line)
        engine_pids = {master, *child_pids(master)}
        assert len(engine_pids) >= 2, "the engine runs a master and at least one worker"
        assert all(alive(pid) for pid in engine_pids)

        child.send_signal(signal.SIGKILL)  # no stop(), no atexit, no finally in the child
        child.wait(timeout=30)

        deadline = time.monotonic() + 60
        while any(alive(pid) for pid in engine_pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = sorted(pid for pid in engine_pids if alive(pid))
        assert not left, f"{engine} outlived the process that started it: {left}"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        for pid in engine_pids:  # only what this test started, should the assertion fail
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
