"""Run the real CLI in a subprocess and measure it: exit code, output, wall time, peak memory.

Shared by the adversarial test modules. Peak memory is ``ru_maxrss`` (KiB on Linux) of the
``python -m lbgen`` process, the figure ``/usr/bin/time -f %M`` prints. A small launcher process
forks it and reads its rusage with ``os.wait4``: measured straight from pytest, the figure would
include the pages pytest itself had when it forked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_LAUNCHER = """\
import json, os, sys
out = sys.argv[1]
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "lbgen", *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
with open(out, "w") as handle:
    json.dump({"status": status, "max_rss_kib": usage.ru_maxrss}, handle)
sys.exit(0)
"""


@dataclass(frozen=True)
class Measured:
    """One finished (or killed) run of ``python -m lbgen``."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_kib: int
    timed_out: bool

    @property
    def lines(self) -> list[str]:
        """Non-empty stderr lines."""
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_measured(
    *args: str,
    stdin: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 60.0,
) -> Measured:
    """``python -m lbgen ARGS`` with stdin from a file (``/dev/zero`` works), timed and measured.

    A run past ``timeout`` is killed with its process group (``timed_out``): a hang.
    """
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    environment.pop("LBGEN_TRACEBACK", None)
    with (
        tempfile.TemporaryDirectory() as work,
        open(Path(work) / "out", "w+b") as out,
        open(Path(work) / "err", "w+b") as err,
        open(stdin or os.devnull, "rb") as source,
    ):
        report = Path(work) / "rusage.json"
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(report), *args],
            stdin=source, stdout=out, stderr=err, cwd=cwd, env=environment,
            start_new_session=True,
        )  # fmt: skip
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        seconds = time.monotonic() - start
        result = json.loads(report.read_text()) if report.exists() else None
        out.seek(0)
        err.seek(0)
        return Measured(
            returncode=os.waitstatus_to_exitcode(result["status"]) if result else -9,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            seconds=seconds,
            max_rss_kib=result["max_rss_kib"] if result else 0,
            timed_out=timed_out,
        )
