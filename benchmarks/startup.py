"""Measure how fast lbgen starts and renders; prints its figures, asserts nothing.

    .venv/bin/python benchmarks/startup.py [--runs N]

Figures: median wall time of `lbgen validate` and `lbgen render` on the bundled example (new
process each run, as CI and Ansible call it), each next to the bare import of lbgen's
dependencies (`python -c "import jinja2, pydantic, ruamel.yaml, typer"`) measured alternately in
the same loop, and the ratio (of wall time, and of CPU time: steadier on a shared machine);
in-process render time for a large generated spec (50 pools x 20 servers), and which heavy
modules each command imported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "kubernetes-api.yaml"
HEAVY = ("docker", "crossplane", "rich", "jinja2", "pydantic")


BARE = [sys.executable, "-c", "import jinja2, pydantic, ruamel.yaml, typer"]


def ratio(command: list[str], runs: int) -> tuple[float, float, float, float]:
    """Median wall and CPU (user + system) time of ``command`` and of the bare dependency
    import, alternating runs. CPU time is the steadier figure on a machine shared with other
    work: waiting for a core does not count in it."""
    wall: dict[str, list[float]] = {"ours": [], "bare": []}
    cpu: dict[str, list[float]] = {"ours": [], "bare": []}
    for _ in range(runs):
        for argv, key in ((command, "ours"), (BARE, "bare")):
            start = time.perf_counter()
            child = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
            )
            _, _, usage = os.wait4(child.pid, 0)
            wall[key].append(time.perf_counter() - start)
            cpu[key].append(usage.ru_utime + usage.ru_stime)
    return (
        statistics.median(wall["ours"]), statistics.median(wall["bare"]),
        statistics.median(cpu["ours"]), statistics.median(cpu["bare"]),
    )  # fmt: skip


def imported(args: list[str]) -> list[str]:
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['lbgen', *{args!r}]\n"
        "try:\n    runpy.run_module('lbgen', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    return out.stderr.strip().splitlines()[-1].split() if out.stderr.strip() else []


def large_spec(pools: int, servers: int) -> bytes:
    lines = ["version: 1", "name: large", "frontends:"]
    for p in range(pools):
        lines.append(f"  fe{p}: {{bind: ['127.0.0.1:{10000 + p}'], pool: pool{p}}}")
    lines.append("pools:")
    for p in range(pools):
        lines += [f"  pool{p}:", "    servers:"]
        lines += [f"      s{s}: 10.{p}.{s}.1:6443" for s in range(servers)]
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    lbgen = [sys.executable, "-m", "lbgen"]
    commands = {
        "lbgen --version": [*lbgen, "--version"],
        "lbgen validate example": [*lbgen, "validate", str(EXAMPLE)],
        "lbgen render example -t haproxy": [*lbgen, "render", str(EXAMPLE), "-t", "haproxy"],
    }
    for label, command in commands.items():
        ours, bare, ours_cpu, bare_cpu = ratio(command, runs)
        print(
            f"{label:34} {ours * 1000:7.1f} ms, bare dependency import {bare * 1000:7.1f} ms: "
            f"{ours / bare:.2f}x; CPU {ours_cpu * 1000:6.1f} / {bare_cpu * 1000:6.1f} ms: "
            f"{ours_cpu / bare_cpu:.2f}x (medians of {runs} alternating runs)"
        )

    sys.path.insert(0, str(ROOT))
    import lbgen as lib

    data = large_spec(50, 20)
    start = time.perf_counter()
    spec = lib.load_spec(data)
    loaded = time.perf_counter()
    for target in ("haproxy", "nginx"):
        lib.render(spec, target)
    done = time.perf_counter()
    load_ms, render_ms = 1000 * (loaded - start), 1000 * (done - loaded)
    print(
        f"large spec (50 pools x 20 servers, {len(data) // 1024} KiB): load {load_ms:.1f} ms, "
        f"render haproxy + nginx {render_ms:.1f} ms"
    )
    for args in (["validate", str(EXAMPLE)], ["render", str(EXAMPLE), "-t", "haproxy"]):
        print(f"heavy modules imported by `lbgen {args[0]}`: {', '.join(imported(args)) or 'none'}")


if __name__ == "__main__":
    main()
