"""Failover of lbgen's built-in defaults next to the configs people copy, with the real engines.

    sudo .venv/bin/python benchmarks/failover.py [--trials 20] [--engines haproxy,nginx]
                         [--runner docker --image lbgen-engine:bookworm,lbgen-engine:trixie]
    scripts/bench-failover [ARGS]              (installs what it needs first)

For each config (lbgen's defaults rendered through the library; the classic seed-style config,
kubespray, kubeadm's HA guide and OpenShift's on-prem load balancer, see configs.py) and each
engine it has, one load balancer runs in front of three fake API servers a, b, c
(tests/integration/fake_apiserver.py, TLS from a trustme CA) while Python TLS clients send a
steady stream of short requests and hold long watches. Then, one after another:

- check load: health checks per second each server receives from the load balancer;
- readyz: a's /readyz turns 500 (port still open): time to the last new connection reaching a
  (``--trials`` times for lbgen's defaults on HAProxy, rotating over a, b, c at random check
  phase); then a turns ready again: time to its first new connection and the slowstart ramp;
- kill: b's process goes away (listener closed, connections reset): time to the last connection
  attempt reaching b, failed client requests;
- blackhole: c's packets are dropped by an nft rule: the same figures;
- drain: a re-render with a disabled and a hitless reload (HAProxy master-worker reload, the
  ``-sf`` handover; nginx SIGHUP = ``nginx -s reload``): requests and watches lost, time to the
  last new connection to a; undrain: time to a's first new connection.

Connection attempts are counted by a SYN counter on lo; HAProxy's checks are sent to 127.0.0.2
(``addr``, configs.checks_to) so that they are told apart from traffic. It all runs in a network
namespace of its own (root needed); the namespace ends with the process. Prints a markdown table
and writes a PNG of each server's share of traffic over time. Asserts nothing.

``--runner docker --image lbgen-engine:bookworm,lbgen-engine:trixie`` runs the engines of each
image instead (built from Debian by tests/integration/images.py when missing): the benchmark
starts a dockerd of its own inside its namespace (``--bridge=none --iptables=false``, a socket and
data root of its own, see harness.PrivateDocker), so the host-network containers share the
namespace and every figure is measured as with the local binaries; the daemon is stopped at the
end. ``--no-netns`` uses the Docker engine ``DOCKER_HOST`` names instead, without the blackhole.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configs import CONFIGS, LbConfig, checks_to
from harness import (
    CHECK_ADDRESS,
    Blackhole,
    PrivateDocker,
    SynCounter,
    Tls,
    Traffic,
    enter_private_netns,
    free_port,
    start_servers,
)

from lbgen.runners import LocalRunner, RunningEngine, start_engine
from tests.integration.fake_apiserver import FakeAPIServer

NAMES = ("a", "b", "c")
EVENTS = ("readyz", "kill", "blackhole", "drain")
HERE = Path(__file__).resolve().parent


@dataclass
class Mark:
    """An event on the timeline of one run, for the picture."""

    time: float
    label: str


@dataclass
class Result:
    """Every figure measured for one config on one engine."""

    config: LbConfig
    #: Where the engine ran: "" for the local binary, else the Docker image's tag (bookworm).
    build: str = ""
    checks_per_s: float | None = None
    readyz_out: list[float | None] = field(default_factory=list)
    readyz_window: float = 0.0
    readyz_back: float | None = None
    #: How long the way back was watched (for "not back in N s").
    back_window: float = 0.0
    ramp: float | None = None
    kill_last: float | None = None
    kill_window: float = 0.0
    kill_failed: int = 0
    kill_watches: int = 0
    blackhole_last: float | None = None
    blackhole_window: float = 0.0
    blackhole_failed: int = 0
    blackhole_slowest: float = 0.0
    drain_lost: int = 0
    drain_watches: int = 0
    drain_watches_open: int = 0
    drain_last: float | None = None
    undrain_first: float | None = None
    undrain_lost: int = 0
    requests: int = 0
    t0: float = 0.0
    traffic: Traffic | None = None
    marks: list[Mark] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Run:
    """One load balancer with one config in front of servers a, b, c, under traffic."""

    def __init__(
        self, config: LbConfig, args: argparse.Namespace, tls: Tls, image: str | None = None
    ) -> None:
        self.config = config
        self.image = image
        self.args = args
        self.tls = tls
        self.netns = not args.no_netns
        self.servers: dict[str, FakeAPIServer] = {
            s.name: s for s in start_servers(tls, NAMES, any_address=self.netns)
        }
        self.ports = {name: server.port for name, server in self.servers.items()}
        self.listen = free_port()
        self.result = Result(config, build=image.rsplit(":", 1)[-1] if image else "")
        self.syn = SynCounter().start() if self.netns else None
        self.engine: RunningEngine | None = None
        self.traffic: Traffic | None = None
        self._log_seen = 0

    # --- plumbing ------------------------------------------------------------------------------

    def text(self, drained: frozenset[str] = frozenset()) -> str:
        text = self.config.text(self.listen, self.ports, drained)
        if self.netns and self.config.engine == "haproxy":
            text = checks_to(text, CHECK_ADDRESS)
        return text

    def start(self) -> None:
        self.engine = start_engine(
            self.text(), self.config.engine, runner=self.args.runner, image=self.image
        )
        self.engine.wait_listening("127.0.0.1", self.listen)
        time.sleep(1.0)  # first checks
        self.traffic = Traffic(
            self.listen, self.tls.client, clients=self.args.clients, watches=self.args.watches
        ).start()
        self.result.traffic = self.traffic
        self.result.t0 = time.monotonic()

    def stop(self) -> None:
        if self.traffic is not None:
            self.traffic.stop()
            self.result.requests = len(self.traffic.replies)
        if self.engine is not None:
            self.engine.stop()
        if self.syn is not None:
            self.syn.stop()
        for server in self.servers.values():
            server.stop()

    def mark(self, label: str) -> float:
        now = time.monotonic()
        self.result.marks.append(Mark(now, label))
        return now

    def marked_down(self, name: str) -> bool:
        """HAProxy said it took ``name`` out (it prints state changes while in the foreground)."""
        if self.config.engine != "haproxy" or self.engine is None:
            return False
        return (
            re.search(rf"Server \S+/{name} is DOWN", self.engine.logs()[self._log_seen :])
            is not None
        )

    def observe(self, name: str, bound: float, *, down_ends: bool = True) -> float:
        """Wait until HAProxy reports ``name`` down (plus a grace second) or ``bound`` passes."""
        deadline = time.monotonic() + min(bound, self.args.max_window)
        while time.monotonic() < deadline:
            if down_ends and self.marked_down(name):
                time.sleep(1.0)
                break
            time.sleep(0.2)
        return time.monotonic()

    def forget_log(self) -> None:
        if self.engine is not None:
            self._log_seen = len(self.engine.logs())

    def wait_serving(self, name: str, timeout: float = 40.0) -> bool:
        """Wait until ``name`` answers client requests again (bounded)."""
        assert self.traffic is not None
        since = time.monotonic()
        while time.monotonic() - since < timeout:
            if self.traffic.served_by(name, since):
                return True
            time.sleep(0.2)
        return False

    def passive_window(self) -> float:
        """How long to watch a dead server behind nginx (passive checks only)."""
        return self.config.passive_window or self.args.blind_window

    def attempts(self, name: str, since: float, until: float) -> list[float]:
        """Forwarded connection attempts to ``name`` (not health checks) in [since, until)."""
        if self.syn is None:
            return []
        return self.syn.to("127.0.0.1", self.ports[name], since, until)

    # --- events ----------------------------------------------------------------------------------

    def check_load(self, seconds: float) -> None:
        assert self.traffic is not None
        since = time.monotonic()
        accepted = {n: s.accepted for n, s in self.servers.items()}
        time.sleep(seconds)
        until = time.monotonic()
        per_server = []
        for name, server in self.servers.items():
            if self.syn is not None and self.config.engine == "haproxy":
                checks = len(self.syn.to(CHECK_ADDRESS, self.ports[name], since, until))
            elif self.syn is not None:
                checks = 0  # nginx OSS has no active checks; every connection is traffic
            else:  # no packet counter (Docker): accepted connections minus client connections
                traffic = len(self.traffic.served_by(name, since, until))
                opens = sum(1 for t, s in self.traffic.watch_opens if s == name and since <= t)
                checks = max(0, server.accepted - accepted[name] - traffic - opens)
            per_server.append(checks / (until - since))
        self.result.checks_per_s = statistics.mean(per_server)

    def readyz(self, trials: int) -> None:
        assert self.traffic is not None
        bound = self.config.detect_bound if self.config.sees_readyz else self.args.blind_window
        self.result.readyz_window = min(bound, self.args.max_window)
        for trial in range(trials):
            name = NAMES[trial % len(NAMES)]
            if not self.wait_serving(name):
                self.result.notes.append(f"readyz trial {trial}: {name} did not come back")
                continue
            time.sleep(random.uniform(0.0, 1.0))  # a random phase against the check timer
            self.forget_log()
            t0 = self.mark(f"{name} unready") if trial == 0 else time.monotonic()
            self.servers[name].set_ready(False)
            end = self.observe(name, bound, down_ends=self.config.sees_readyz)
            served = self.traffic.served_by(name, t0, end)
            still = bool(self.traffic.served_by(name, end - 1.0, end))
            self.result.readyz_out.append(
                None if still else (served[-1].start - t0 if served else 0.0)
            )
            self.servers[name].set_ready(True)
            if trial == 0:
                back = self.mark(f"{name} ready")
                if trials == 1:
                    self._came_back(name, back, "readyz")
        if trials > 1:  # the trials kept the servers busy: measure the way back once, alone
            name = NAMES[trials % len(NAMES)]
            self.wait_serving(name)
            self.servers[name].set_ready(False)
            self.observe(name, bound, down_ends=self.config.sees_readyz)
            self.servers[name].set_ready(True)
            self._came_back(name, time.monotonic(), "readyz")

    def _came_back(self, name: str, since: float, event: str) -> None:
        """Time to ``name``'s first new connection and its ramp to a fair share."""
        assert self.traffic is not None
        self.wait_serving(name, timeout=min(40.0, self.args.max_window))
        time.sleep(self.args.ramp_window)
        self.result.back_window = time.monotonic() - since
        first = self.traffic.served_by(name, since)
        if not first:
            return
        self.result.readyz_back = first[0].start - since
        self.result.ramp = ramp_seconds(self.traffic, name, first[0].start, len(NAMES))

    def kill(self, name: str) -> None:
        assert self.traffic is not None
        self.wait_serving(name)
        self.forget_log()
        t0 = self.mark(f"{name} killed")
        self.servers[name].stop()
        bound = (
            self.config.detect_bound if self.config.engine == "haproxy" else self.passive_window()
        )
        end = self.observe(name, bound)
        self.result.kill_window = end - t0
        tries = self.attempts(name, t0, end)
        self.result.kill_last = tries[-1] - t0 if tries else (0.0 if self.syn else None)
        self.result.kill_failed = len(self.traffic.failed(t0, end))
        self.result.kill_watches = sum(1 for b in self.traffic.watch_breaks if t0 <= b.time < end)
        self.servers[name].start()
        self.mark(f"{name} back")

    def blackhole(self, name: str) -> None:
        assert self.traffic is not None
        if not self.netns:
            self.result.notes.append("blackhole needs the private network namespace: skipped")
            return
        self.wait_serving(name)
        self.forget_log()
        with Blackhole(self.ports[name]):
            t0 = self.mark(f"{name} blackholed")
            bound = (
                self.config.blackhole_bound
                if self.config.engine == "haproxy"
                else self.passive_window()
            )
            end = self.observe(name, bound)
        self.mark(f"{name} back")
        # Requests sent in the window may still be waiting on a connect timeout: let them end.
        time.sleep(self.args.settle)
        self.result.blackhole_window = end - t0
        tries = self.attempts(name, t0, end)
        self.result.blackhole_last = tries[-1] - t0 if tries else 0.0
        self.result.blackhole_failed = len(self.traffic.failed(t0, end))
        slow = [r.end - r.start for r in self.traffic.replies if t0 <= r.start < end]
        self.result.blackhole_slowest = max(slow, default=0.0)

    def drain(self, name: str) -> None:
        assert self.traffic is not None and self.engine is not None
        self.wait_serving(name)
        time.sleep(1.0)
        opened = len(self.traffic.watch_opens) - len(self.traffic.watch_breaks)
        t0 = self.mark(f"{name} drained (reload)")
        self.engine.reload(self.text(frozenset({name})))
        time.sleep(self.args.drain_window)
        end = time.monotonic()
        self.result.drain_lost = len(self.traffic.failed(t0, end))
        self.result.drain_watches = sum(1 for b in self.traffic.watch_breaks if t0 <= b.time < end)
        self.result.drain_watches_open = opened
        # Engine and clients agree on a reply's start only within a few ms: the reload takes
        # some time to hand over, so count from when the new worker runs (reload() returned).
        served = self.traffic.served_by(name, t0, end)
        self.result.drain_last = served[-1].start - t0 if served else 0.0
        t1 = self.mark(f"{name} undrained (reload)")
        self.engine.reload(self.text())
        self.wait_serving(name, timeout=min(30.0, self.args.max_window))
        first = self.traffic.served_by(name, t1)
        self.result.undrain_first = first[0].start - t1 if first else None
        time.sleep(1.0)
        self.result.undrain_lost = len(self.traffic.failed(t1, time.monotonic()))


def ramp_seconds(traffic: Traffic, name: str, since: float, servers: int) -> float | None:
    """Seconds from ``since`` until ``name`` gets 80 % of a fair share over a 1 s window."""
    replies = [r for r in list(traffic.replies) if r.start >= since and not r.error]
    end = replies[-1].start if replies else since
    t = since
    while t + 1.0 <= end:
        window = [r for r in replies if t <= r.start < t + 1.0]
        if window and sum(r.server == name for r in window) / len(window) >= 0.8 / servers:
            return t + 1.0 - since
        t += 0.25
    return None


# --- report --------------------------------------------------------------------------------------


def seconds(value: float | None, window: float = 0.0) -> str:
    """A time in seconds, or "never" when it did not happen within the observed window."""
    if value is None:
        return f"never (>{window:.0f}s)" if window else "n/a"
    return f"{value:.1f}"


def distribution(values: list[float | None], window: float) -> str:
    """``4.1`` for one trial; ``med 3.9 / p90 5.6 / max 6.8 (n=20)`` for several."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return seconds(values[0], window)
    done = sorted(v for v in values if v is not None)
    if len(done) < len(values):
        return f"never in {len(values) - len(done)}/{len(values)} (>{window:.0f}s)"
    p90 = done[min(len(done) - 1, round(0.9 * (len(done) - 1)))]
    return f"med {statistics.median(done):.1f} / p90 {p90:.1f} / max {done[-1]:.1f} (n={len(done)})"


def ready_again(result: Result) -> str:
    """``1.9 / 1.0``; ``not back in 48 s`` (slowstart, slow rise); ``n/a`` if never out."""
    if not any(v is not None for v in result.readyz_out):
        return "n/a (never out)"
    if result.readyz_back is None:
        return f"not back in {result.back_window:.0f} s"
    return f"{seconds(result.readyz_back)} / {seconds(result.ramp)}"


COLUMNS: tuple[tuple[str, Callable[[Result], str]], ...] = (
    ("config", lambda r: r.config.name),
    ("engine", lambda r: f"{r.config.engine} ({r.build})" if r.build else r.config.engine),
    ("checks/s per server", lambda r: "n/a" if r.checks_per_s is None else f"{r.checks_per_s:.2f}"),
    ("/readyz 500: last conn (s)", lambda r: distribution(r.readyz_out, r.readyz_window)),
    ("ready again: first conn / ramp (s)", ready_again),
    ("kill: last attempt (s) / failed reqs",
     lambda r: f"{seconds(r.kill_last)} / {r.kill_failed}" if r.kill_window else "n/a"),
    ("blackhole: last attempt (s) / failed reqs / slowest (s)",
     lambda r: f"{seconds(r.blackhole_last)} / {r.blackhole_failed} / {r.blackhole_slowest:.1f}"
     if r.blackhole_window else "n/a"),
    ("drain: lost reqs / watches lost of open",
     lambda r: f"{r.drain_lost} / {r.drain_watches} of {r.drain_watches_open}"
     if r.undrain_first is not None or r.drain_watches_open else "n/a"),
    ("undrain: first conn (s)", lambda r: seconds(r.undrain_first)),
)  # fmt: skip


def table(results: list[Result]) -> str:
    """The figures as a markdown table (config x engine rows, event columns)."""
    head = [name for name, _ in COLUMNS]
    rows = [[cell(r) for _, cell in COLUMNS] for r in results]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def label(result: Result) -> str:
    """``classic/haproxy``, ``classic/haproxy@trixie`` for a Docker build."""
    return result.config.id + (f"@{result.build}" if result.build else "")


def kill_window_note(results: list[Result]) -> str:
    """How long each event was watched (what "last attempt" is bounded by)."""
    parts = [
        f"{label(r)}: kill {r.kill_window:.0f}s, blackhole {r.blackhole_window:.0f}s"
        for r in results
        if r.kill_window
    ]
    return "observed: " + "; ".join(parts)


def picture(results: list[Result], path: Path, bin_seconds: float = 1.0) -> None:
    """Each server's share of successful requests over time, one panel per config and engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in results if r.traffic is not None and r.traffic.replies]
    if not shown:
        return
    fig, axes = plt.subplots(len(shown), 1, figsize=(11, 1.9 * len(shown) + 0.6), squeeze=False)
    colours = {"a": "#1f77b4", "b": "#ff7f0e", "c": "#2ca02c", "failed": "#d62728"}
    for ax, result in zip(axes[:, 0], shown, strict=True):
        assert result.traffic is not None
        replies = result.traffic.replies
        end = max(r.start for r in replies) - result.t0
        bins = int(end // bin_seconds) + 1
        counts = {key: [0] * bins for key in colours}
        for reply in replies:
            index = int((reply.start - result.t0) // bin_seconds)
            if 0 <= index < bins:
                counts[reply.server if not reply.error else "failed"][index] += 1
        totals = [sum(counts[k][i] for k in colours) or 1 for i in range(bins)]
        xs = [i * bin_seconds for i in range(bins)]
        shares = [[counts[k][i] / totals[i] for i in range(bins)] for k in colours]
        ax.stackplot(xs, shares, colors=list(colours.values()), labels=list(colours), step="post")
        for mark in result.marks:
            x = mark.time - result.t0
            ax.axvline(x, color="black", linewidth=0.7)
            ax.text(x, 1.02, mark.label, fontsize=6, rotation=20, va="bottom")
        ax.set_xlim(0, end)
        ax.set_ylim(0, 1)
        ax.set_ylabel(label(result), fontsize=7, rotation=0, ha="right", va="center")
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(loc="upper right", fontsize=6, ncol=4, bbox_to_anchor=(1.0, 1.45))
    axes[-1, 0].set_xlabel("seconds since the load balancer took traffic (share of requests)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--trials",
        type=int,
        default=20,
        help="/readyz trials for lbgen's defaults on HAProxy (default 20)",
    )
    parser.add_argument(
        "--other-trials",
        type=int,
        default=1,
        help="/readyz trials for every other config and engine (default 1)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short run: --trials 3, shorter windows"
    )
    parser.add_argument("--engines", default="haproxy,nginx")
    parser.add_argument(
        "--configs",
        default=",".join(dict.fromkeys(c.name for c in CONFIGS)),
        help="comma-separated config names (default: all)",
    )
    parser.add_argument("--events", default=",".join(EVENTS))
    parser.add_argument("--clients", type=int, default=4, help="short-request client threads")
    parser.add_argument("--watches", type=int, default=4, help="long watches held open")
    parser.add_argument(
        "--max-window",
        type=float,
        default=40.0,
        help="longest wait for one event, seconds (default 40)",
    )
    parser.add_argument(
        "--blind-window",
        type=float,
        default=10.0,
        help="how long to watch an event the config cannot detect (default 10)",
    )
    parser.add_argument("--drain-window", type=float, default=12.0)
    parser.add_argument("--ramp-window", type=float, default=8.0)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--check-window", type=float, default=10.0)
    parser.add_argument(
        "--runner",
        choices=("local", "docker"),
        default="local",
        help="run the engines here (default) or in Docker (--image)",
    )
    parser.add_argument(
        "--image",
        default="lbgen-engine:bookworm",
        help="engine images for --runner docker, comma-separated, each run in turn "
        "(tests/integration/images.py builds lbgen-engine:bookworm and :trixie)",
    )
    parser.add_argument(
        "--docker-root",
        type=Path,
        default=Path.home() / ".cache" / "lbgen" / "bench-docker",
        help="--runner docker: data root of the benchmark's own dockerd (keeps its images)",
    )
    parser.add_argument(
        "--no-netns",
        action="store_true",
        help="stay in this network namespace: no blackhole, no SYN counter; with --runner "
        "docker, use the Docker engine DOCKER_HOST names instead of a dockerd of its own",
    )
    parser.add_argument(
        "--png",
        type=Path,
        default=None,
        help="the picture (default benchmarks/failover.png; failover-docker.png with Docker)",
    )
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)  # fmt: skip
    if args.png is None:
        args.png = HERE / ("failover-docker.png" if args.runner == "docker" else "failover.png")
    if args.quick:
        args.trials = min(args.trials, 3)
        args.max_window = min(args.max_window, 25.0)
        args.drain_window, args.ramp_window, args.check_window = 6.0, 4.0, 6.0
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every config on every engine; print the table; write the picture."""
    args = parse_args(argv)
    random.seed(args.seed)
    if not args.no_netns:
        enter_private_netns()
    images: list[str | None] = [None]
    dockerd: PrivateDocker | None = None
    if args.runner == "docker":
        import docker

        from tests.integration.images import ensure_images

        images = list(args.image.split(","))
        if args.no_netns:
            client = docker.from_env(timeout=300)
        else:
            # Host-network containers of a dockerd started in this namespace share it.
            dockerd = PrivateDocker(args.docker_root).start()
            client = dockerd.client
        for image, spent in ensure_images(client, [i for i in images if i]).items():
            print(f"{image}: ready ({spent:.0f}s)", flush=True)
    try:
        return run_all(args, images)
    finally:
        if dockerd is not None:
            dockerd.stop()


def run_all(args: argparse.Namespace, images: list[str | None]) -> int:
    """Every config on every engine (and image); print the table; write the picture."""
    engines = args.engines.split(",")
    names = args.configs.split(",")
    events = set(args.events.split(","))
    configs = [c for c in CONFIGS if c.engine in engines and c.name in names]
    tls = Tls()
    results: list[Result] = []
    started = time.monotonic()
    for config, image in [(c, i) for i in images for c in configs]:
        if args.runner == "local" and LocalRunner.binary(config.engine) is None:
            print(f"skip {config.id}: no {config.engine} binary", flush=True)
            continue
        print(f"--- {config.id}{'@' + image if image else ''} ({config.source})", flush=True)
        run = Run(config, args, tls, image)
        try:
            run.start()
            run.check_load(args.check_window)
            if "readyz" in events:
                defaults_haproxy = config.name.startswith("lbgen-") and config.engine == "haproxy"
                run.readyz(args.trials if defaults_haproxy else args.other_trials)
            if "kill" in events:
                run.kill("b")
            if "blackhole" in events:
                run.blackhole("c")
            if "drain" in events:
                run.drain("a")
            time.sleep(1.0)
        finally:
            run.stop()
        results.append(run.result)
        print(table([run.result]).splitlines()[-1], flush=True)
        for note in run.result.notes:
            print(f"  note: {note}", flush=True)
    print()
    print(
        f"failover benchmark, {datetime.date.today()}, {platform.machine()}, "
        f"{len(results)} runs in {time.monotonic() - started:.0f}s, "
        f"{sum(r.requests for r in results)} requests"
    )
    print(table(results))
    print(kill_window_note(results))
    if args.png:
        picture(results, args.png)
        print(f"picture: {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
