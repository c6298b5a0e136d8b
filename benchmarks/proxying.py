"""What proxying through an lbgen-rendered config costs next to the classic hand-written one.

    .venv/bin/python benchmarks/proxying.py [--rounds 5] [--seconds 5] [--threads 8]
    scripts/bench-failover proxying [ARGS]

Both engines, both configs (lbgen's built-in defaults rendered through the library; the classic
seed-style haproxy.cfg / nginx stream block of configs.py) run at once in front of the same three
fake API servers; a load generator in its own process (closed loop: ``--threads`` threads, each a
new TLS connection and one short GET /version per request, like kubectl's discovery calls)
measures them in alternation, ``--rounds`` times ``--seconds`` each (each round in a rotated
order, so that no config always follows the same one), and also the servers directly (no load
balancer) as the floor. Prints requests/s and p50/p99 latency per config, the engine's own CPU
time per request, and per engine the lbgen/classic throughput ratio (goal: >= 0.95): of the
pooled totals and the median of the ratios within each round. Loopback only; asserts nothing.

The fake servers and the clients are Python: at this scale they, not the engine, are the
bottleneck, so the figures compare configs with each other, not engines with their limits. On
a shared machine a round's rate follows the other jobs' load (several-fold swings are common);
the ratio within a round, of two configs measured seconds apart, follows it less, and the
engine's CPU per request (its process tree's schedstat time, checks and logging included) less
still: that is the figure that shows what a config costs the engine.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import platform
import ssl
import statistics
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configs import CLASSIC, LBGEN
from harness import Tls, free_port, start_servers, tree_cpu_seconds

from lbgen.runners import LocalEngine, LocalRunner, RunningEngine, start_engine
from tests.integration.clients import request

NAMES = ("a", "b", "c")


def load(
    port: int, context: ssl.SSLContext, seconds: float, threads: int
) -> tuple[int, list[float]]:
    """Closed-loop requests for ``seconds``: (failures, latencies of the successful ones)."""
    latencies: list[float] = []
    failures = [0]
    deadline = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                request("127.0.0.1", port, context, timeout=10)
            except (OSError, ConnectionError, ValueError):
                failures[0] += 1
                continue
            latencies.append(time.perf_counter() - start)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=seconds + 15)
    return failures[0], latencies


def _load_process(conn: Connection, context: ssl.SSLContext, threads: int) -> None:
    """Child process: run one load per (port, seconds) it is sent; None ends it."""
    while True:
        job = conn.recv()
        if job is None:
            return
        conn.send(load(job[0], context, job[1], threads))


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    """Start both configs on both engines, measure them in alternation, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--engines", default="haproxy,nginx")
    args = parser.parse_args(argv)

    tls = Tls()
    servers = start_servers(tls, NAMES, any_address=False)
    ports = {s.name: s.port for s in servers}
    engines: dict[str, RunningEngine] = {}
    listen: dict[str, int] = {}
    for engine in args.engines.split(","):
        if LocalRunner.binary(engine) is None:
            print(f"skip {engine}: not installed")
            continue
        for config, text in (("lbgen", LBGEN[engine]), ("classic", CLASSIC[engine])):
            key = f"{config}/{engine}"
            listen[key] = free_port()
            engines[key] = start_engine(text(listen[key], ports, frozenset()), engine)
            engines[key].wait_listening("127.0.0.1", listen[key])
    targets = {"direct (no LB)": ports["a"], **listen}
    # fork: the child inherits the client TLS context; it runs the load, this process the servers.
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_load_process, args=(child, tls.client, args.threads))
    process.start()
    results: dict[str, tuple[int, list[float], float]] = {k: (0, [], 0.0) for k in targets}
    per_round: dict[str, list[float]] = {k: [] for k in targets}  # requests/s in each round
    cpu: dict[str, list[float]] = {k: [] for k in engines}  # engine CPU s per request, by round
    started = time.monotonic()
    try:
        order = list(targets.items())
        for round_ in range(args.rounds):
            shift = round_ % len(order)  # rotate: every config in every round, never same place
            for key, port in order[shift:] + order[:shift]:
                running = engines.get(key)
                pid = running.pid if isinstance(running, LocalEngine) else None
                cpu_before = tree_cpu_seconds(pid) if pid else 0.0
                parent.send((port, args.seconds))
                if not parent.poll(args.seconds + 60):
                    raise RuntimeError("the load process stopped answering")
                failures, latencies = parent.recv()
                if pid and latencies:
                    cpu[key].append((tree_cpu_seconds(pid) - cpu_before) / len(latencies))
                old = results[key]
                results[key] = (old[0] + failures, old[1] + latencies, old[2] + args.seconds)
                per_round[key].append(len(latencies) / args.seconds)
    finally:
        parent.send(None)
        process.join(timeout=30)
        for running in engines.values():
            running.stop()
        for server in servers:
            server.stop()

    print(
        f"proxying benchmark, {datetime.date.today()}, {platform.machine()}, "
        f"{args.rounds} rounds x {args.seconds:g}s per config, {args.threads} client threads, "
        f"{time.monotonic() - started:.0f}s"
    )
    print("| target | requests/s | p50 (ms) | p99 (ms) | failed | engine CPU per request (µs) |")
    print("|---|---|---|---|---|---|")
    rate: dict[str, float] = {}
    for key, (failures, latencies, spent) in results.items():
        rate[key] = len(latencies) / spent if spent else 0.0
        p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
        p99 = percentile(latencies, 0.99) * 1000 if latencies else float("nan")
        per_request = f"{statistics.median(cpu[key]) * 1e6:.0f}" if cpu.get(key) else "-"
        print(f"| {key} | {rate[key]:.0f} | {p50:.1f} | {p99:.1f} | {failures} | {per_request} |")
    for engine in args.engines.split(","):
        ours, theirs = f"lbgen/{engine}", f"classic/{engine}"
        if not (rate.get(ours) and rate.get(theirs)):
            continue
        pooled = rate[ours] / rate[theirs]
        paired = statistics.median(
            a / b for a, b in zip(per_round[ours], per_round[theirs], strict=True) if b
        )
        verdict = "meets" if min(pooled, paired) >= 0.95 else "misses"
        cpu_ratio = ""
        if cpu.get(ours) and cpu.get(theirs):
            cpu_ratio = (
                f"; engine CPU per request {statistics.median(cpu[ours]) * 1e6:.0f} / "
                f"{statistics.median(cpu[theirs]) * 1e6:.0f} µs"
            )
        print(
            f"{engine}: lbgen / classic throughput = {pooled:.2f}x pooled, {paired:.2f}x median "
            f"of the rounds' ratios ({verdict} the 0.95x goal){cpu_ratio}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
