"""Failover of the load-balancer tier's virtual IP: keepalived designs side by side, by failure.

    sudo .venv/bin/python benchmarks/vip_failover.py [--trials 5] [--designs a,b] [--events x,y]
    scripts/bench-vip [ARGS]                   (installs what it needs first)

Each design (see DESIGNS) runs in its own lab of network namespaces (tests/integration/netns.py):
a client namespace, three load-balancer nodes lb1..lb3 (priorities 110/105/100) each with the real
haproxy (TCP on the VIP 198.18.0.100:6443 through ``ip_nonlocal_bind``, health on the node's own
address :8404) and the real keepalived (hand-written config, unicast peers), and a namespace of
three fake API servers. Four clients send 10 requests/s each on new TLS connections, two hold
long watches; every node's addresses are sampled every 50 ms. Then, ``--trials`` times each, on
the node holding the VIP (lb1, the preferred node, after it has taken the VIP back):

- kill-proxy: SIGKILL haproxy (restarted afterwards);
- stop-keepalived: SIGTERM keepalived (restarted afterwards);
- cut-link: the holder's switch port goes down (back up afterwards);
- crash-keepalived: SIGKILL every keepalived process: the VIP stays on the dead node's
  interface; keepalived is restarted after ``--stale`` seconds (what a systemd unit's
  ``Restart=`` or the kubelet does), which removes the stale address;
- apis-down: every API server stops for 8 s, so every node's health check fails together:
  does the tier keep its VIP on one node, lose it (FAULT everywhere) or flap?
- apis-unready: every API server stays up (ports open) but answers ``/readyz`` with 500 for
  8 s, what kube-apiserver does while etcd is gone; the same question.

Figures per trial: *takeover* (event → the VIP sampled on another node), *first ok* (event →
the end of the first successful request through the new holder), *failed* requests (of which
*in flight*: started before the event), watches broken, and the time two nodes held the VIP at
once. Prints
a markdown table design x event with median and worst. Asserts nothing. The designs
``lbgen-haproxy`` and ``lbgen-nginx`` write no keepalived config by hand: each node runs the
static-pod folder lbgen renders from one spec (tests/integration/netns.py ``RenderedTier``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.netns import CLIENT_TIMEOUT, RECOMMENDED, Design, RenderedTier, Tier

DESIGNS = (
    # The configs people copy: VRRPv2, 1 s adverts, a polled check with weight -20.
    Design("classic", version=2, advert=1.0, interval=1, fall=2, weight=-20),
    # The same check, VRRPv3 adverts every 200 ms: the master-down timer drops from 3.6 s to 0.7 s.
    Design("v3-advert-0.2", version=3, advert=0.2, interval=1, fall=2, weight=-20),
    # ... and the check's own detection halved (keepalived's script interval is whole seconds).
    Design("v3-fall-1", version=3, advert=0.2, interval=1, fall=1, weight=-20),
    # Resign at once: a dead proxy (no answer at all) sends the node to FAULT, which sends a
    # priority-0 advert; an unready one (503: no API server) only lowers its priority.
    Design("v3-resign", version=3, advert=0.2, interval=1, fall=2, weight=-20, liveness=True),
    # ... and SYNs to the VIP that find no listener dropped, not refused: retried by TCP.
    Design("v3-resign-hold", version=3, advert=0.2, liveness=True, hold_syns=True),
    # ... and a backup waits 1 s more before it preempts a master that lost priority: nodes whose
    # checks all fail within that time (no API server ready) keep the VIP where it is.
    RECOMMENDED,
    # For comparison: the health check itself without weight, so any failure means FAULT.
    Design("fault", version=2, advert=1.0, interval=1, fall=2, weight=0),
    # No hand-written config: what lbgen renders (static-pod folder: proxy config, keepalived.conf,
    # nft rule) run with the Pods' own commands (tests/integration/netns.py RenderedTier).
    # (the fields printed are the design lbgen renders: RECOMMENDED's).
    dataclasses.replace(RECOMMENDED, name="lbgen-haproxy"),
    dataclasses.replace(RECOMMENDED, name="lbgen-nginx"),
)
#: The designs whose nodes run lbgen's rendered configs, and with which proxy.
RENDERED = {"lbgen-haproxy": "haproxy", "lbgen-nginx": "nginx"}
#: A successful request that took longer than this waited for a retransmitted SYN.
DELAYED_S = 0.5
EVENTS = (
    "kill-proxy",
    "stop-keepalived",
    "cut-link",
    "crash-keepalived",
    "apis-down",
    "apis-unready",
)
#: apis-down / apis-unready: every API server stops (or is unready) for this long; every node's
#: health check sees the same.
APIS_DOWN_S = 8.0
#: The events where no node fails: every API server does, the same for every node.
ALL_APIS = ("apis-down", "apis-unready")


@dataclass
class Trial:
    """What one failure of the holder did."""

    event: str
    old: str
    new: str = ""
    takeover: float | None = None
    first_ok: float | None = None
    failed: int = 0
    in_flight: int = 0
    watch_breaks: int = 0
    double_s: float = 0.0
    stale_served: int = 0
    stale_cleared: float | None = None
    no_holder_s: float = 0.0
    holder_changes: int = 0
    held_s: float = 0.0
    checks_failed: int = 0
    nodes: int = 0
    delayed: int = 0
    t0: float = 0.0
    window_end: float = 0.0


def _account(tier: Tier, result: Trial) -> None:
    """Count the trial's failed and delayed requests (once every request has ended)."""
    replies = [r for r in list(tier.replies) if r.end >= result.t0 and r.start < result.window_end]
    failed = [r for r in replies if r.error]
    result.failed = len(failed)
    result.in_flight = sum(1 for r in failed if r.start < result.t0)
    # Succeeded, but only after a lost SYN was retransmitted (or an ARP queue drained).
    result.delayed = sum(1 for r in replies if not r.error and r.end - r.start > DELAYED_S)


@dataclass
class Run:
    """Every trial of one design, plus the whole run's double-holding count."""

    design: Design
    trials: list[Trial] = field(default_factory=list)
    double_moments: int = 0
    double_s: float = 0.0
    samples: int = 0
    error: str = ""


def _wait(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> float | None:
    """Poll until ``predicate()``; the monotonic time it became true, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(step)
    return None


def _settle(tier: Tier, preferred: str) -> None:
    """Wait until ``preferred`` alone holds the VIP and requests through it succeed again."""
    tier.wait_holder(role=preferred, timeout=60)
    since = time.monotonic()
    ok = _wait(
        lambda: sum(1 for r in list(tier.replies) if r.start >= since and r.peer == preferred) >= 8,
        timeout=30,
    )
    if ok is None:
        raise RuntimeError(f"no successful request through {preferred} after it took the VIP")
    time.sleep(1.0)  # every check has passed again (rise 2 at 1 s) before the next failure


def trial(tier: Tier, event: str, *, stale: float) -> Trial:
    """Fail the holder once (``event``) and measure; restore the node afterwards."""
    assert tier.sampler is not None
    old = tier.lbs[0]
    _settle(tier, old)
    result = Trial(event, old)
    t0 = time.monotonic()
    if event == "kill-proxy" and isinstance(tier, RenderedTier):
        tier.kill_proxy(old)  # haproxy -W and nginx: a master and workers
        t0 = tier.killed_at
    elif event == "kill-proxy":
        tier.haproxy[old].kill()
    elif event == "stop-keepalived":
        tier.keepalived[old].send_signal(signal.SIGTERM)  # reaped when restarted
    elif event == "cut-link":
        tier.lab.cut_link(old)
    elif event == "crash-keepalived":
        tier.crash_keepalived(old)
    elif event in ALL_APIS:
        return _apis_down(tier, result, t0)
    else:
        raise ValueError(event)

    def moved() -> bool:
        samples = list(tier.sampler.samples) if tier.sampler else []
        return any(t >= t0 and any(h != old for h in holders) for t, holders in samples[-40:])

    if _wait(moved, timeout=30) is not None:
        # From the samples, not from this poll: the time the sampler first saw another holder.
        taken = next(
            t for t, h in list(tier.sampler.samples) if t >= t0 and any(x != old for x in h)
        )
        result.takeover = taken - t0

    def first_ok() -> float | None:
        # Its end: a request started before the takeover may wait in the client's ARP queue.
        ends = [r.end for r in list(tier.replies) if r.start >= t0 and r.peer not in ("", old)]
        return min(ends) if ends else None

    _wait(lambda: first_ok() is not None, timeout=30)
    ok_at = first_ok()
    if ok_at is not None:
        result.first_ok = ok_at - t0
    window_end = (ok_at or time.monotonic()) + 1.0
    time.sleep(max(0.0, window_end - time.monotonic()))
    # The new holder once the election settled (two backups may both claim it for a moment).
    latest = tier.sampler.holders_at(time.monotonic())
    result.new = "+".join(h for h in latest if h != old) or "nobody"
    if event == "crash-keepalived":
        time.sleep(max(0.0, t0 + stale - time.monotonic()))
        restart = time.monotonic()
        tier.start_keepalived(old)
        cleared = _wait(lambda: old not in tier.holders(), timeout=30, step=0.0)
        result.stale_cleared = None if cleared is None else cleared - restart
        window_end = time.monotonic()
    result.t0, result.window_end = t0, window_end  # failures are counted by _account()
    # A watch notices a silent (not reset) connection after 3 s without an event.
    late = window_end + 3.5
    result.watch_breaks = sum(1 for t, _ in list(tier.watch_breaks) if t0 <= t < late)
    result.double_s = tier.sampler.double_holding(t0, window_end)[1]
    if result.takeover is not None:
        result.stale_served = sum(
            1 for r in list(tier.replies) if r.peer == old and r.start >= t0 + result.takeover
        )
    # Restore the failed node; preempt gives it the VIP back before the next trial.
    if event == "kill-proxy":
        tier.start_haproxy(old)
    elif event == "stop-keepalived":
        tier.lab.stop(tier.keepalived[old])
        tier.start_keepalived(old)
    elif event == "cut-link":
        tier.lab.cut_link(old, up=True)
    return result


def _apis_down(tier: Tier, result: Trial, t0: float) -> Trial:
    """Every API server down (or unready): does the tier keep one VIP holder, go dark, or flap?"""
    assert tier.sampler is not None
    unready = result.event == "apis-unready"
    logs = {role: _log_size(tier, role) for role in tier.lbs}
    if unready:
        tier.set_apis_ready(False)
    else:
        tier.stop_apis()
    time.sleep(max(0.0, t0 + APIS_DOWN_S - time.monotonic()))
    end = time.monotonic()
    window = [(t, h) for t, h in list(tier.sampler.samples) if t0 <= t <= end]
    first = previous = tier.sampler.holders_at(t0)
    # How long the holder of the event's start kept the VIP alone, without a break.
    result.held_s = next((t for t, h in window if h != first), end) - t0 if first else 0.0
    for index, (t, holders) in enumerate(window):
        if holders != previous:
            result.holder_changes += 1
            previous = holders
        if not holders and index + 1 < len(window):
            result.no_holder_s += window[index + 1][0] - t
    result.double_s = tier.sampler.double_holding(t0, end)[1]
    result.new = "+".join(previous) or "nobody"
    result.nodes = len(tier.lbs)
    result.checks_failed = sum(
        1 for role in tier.lbs if _ready_check_failed(tier, role, logs[role])
    )
    if unready:
        tier.set_apis_ready(True)
    else:
        tier.start_apis()
    return result


#: The health check's vrrp_script: lbgen renders ``lbgen_ready``, the hand-written designs
#: ``chk_proxy``; keepalived logs ``VRRP_Script(NAME) failed`` when it fails.
READY_SCRIPTS = ("lbgen_ready", "chk_proxy")


def _log_size(tier: Tier, role: str) -> int:
    path = tier.dir / f"{role}-keepalived.log"
    return path.stat().st_size if path.exists() else 0


def _ready_check_failed(tier: Tier, role: str, since: int) -> bool:
    """Did ``role``'s keepalived log its health check failing since offset ``since``?"""
    path = tier.dir / f"{role}-keepalived.log"
    if not path.exists():
        return False
    with path.open(errors="replace") as log:
        log.seek(since)
        text = log.read()
    return any(f"VRRP_Script({name}) failed" in text for name in READY_SCRIPTS)


def run_design(design: Design, events: tuple[str, ...], trials: int, stale: float) -> Run:
    """One lab for one design; every event ``trials`` times."""
    run = Run(design)
    try:
        proxy = RENDERED.get(design.name)
        lab = Tier(design) if proxy is None else RenderedTier(proxy, lbs=3)
        with lab as tier:
            assert tier.sampler is not None
            started = time.monotonic()
            for event in events:
                for _ in range(trials):
                    run.trials.append(trial(tier, event, stale=stale))
                    print(".", end="", flush=True)
            time.sleep(CLIENT_TIMEOUT + 1.0)  # every request of the last trial has ended
            print()
            for number, result in enumerate(run.trials):
                _account(tier, result)
                print(f"  {design.name} {result.event} #{number % trials + 1}: "
                      f"{_describe(result)}", flush=True)  # fmt: skip
            run.double_moments, run.double_s = tier.sampler.double_holding(started)
            run.samples = len(tier.sampler.samples)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        run.error = f"{type(exc).__name__}: {exc}"
        print(f"  {design.name}: stopped: {run.error}", flush=True)
    return run


def _describe(t: Trial) -> str:
    parts = [
        f"{t.old}->{t.new or '?'}",
        f"takeover {_s(t.takeover)}",
        f"first ok {_s(t.first_ok)}",
        f"failed {t.failed} ({t.in_flight} in flight)",
        f"delayed {t.delayed}",
        f"watch breaks {t.watch_breaks}",
        f"two holders {t.double_s:.2f}s",
    ]
    if t.event in ALL_APIS:
        return (
            f"after {APIS_DOWN_S:g}s the VIP is on {t.new}, held by {t.old} for "
            f"{t.held_s:.2f}s, health check failed on {t.checks_failed} of {t.nodes} nodes, "
            f"{t.holder_changes} holder changes, no holder for "
            f"{t.no_holder_s:.2f}s, two holders {t.double_s:.2f}s"
        )
    if t.event == "crash-keepalived":
        parts.append(f"served by the dead node {t.stale_served}")
        parts.append(f"stale VIP gone {_s(t.stale_cleared)} after restart")
    return ", ".join(parts)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _median_worst(values: list[float | None]) -> str:
    if any(v is None for v in values):
        missing = sum(1 for v in values if v is None)
        present = [v for v in values if v is not None]
        if not present:
            return f"never ({missing}x)"
        return f"{statistics.median(present):.2f} / {max(present):.2f} ({missing}x never)"
    numbers = [v for v in values if v is not None]
    return f"{statistics.median(numbers):.2f} / {max(numbers):.2f}" if numbers else "-"


def table(runs: list[Run], events: tuple[str, ...]) -> str:
    """The markdown table: design x event, median / worst over the trials."""
    lines = [
        "| design | event | first ok s (med / worst) | takeover s (med / worst) "
        "| failed (in flight) med / worst | delayed > 0.5 s med / worst | watch breaks "
        "| two holders s (worst) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        for event in events:
            trials = [t for t in run.trials if t.event == event]
            if not trials:
                continue
            if event in ALL_APIS:
                lines.append(
                    f"| {run.design.name} | {event} | VIP at the end: "
                    f"{', '.join(sorted({t.new for t in trials}))}; held without a break "
                    f"≥ {min(t.held_s for t in trials):.2f} s of {APIS_DOWN_S:g}; health check "
                    f"failed on {min(t.checks_failed for t in trials)} to "
                    f"{max(t.checks_failed for t in trials)} of {max(t.nodes for t in trials)} "
                    f"nodes; holder changes "
                    f"≤ {max(t.holder_changes for t in trials)}; no holder ≤ "
                    f"{max(t.no_holder_s for t in trials):.2f} s | | | | | "
                    f"{max(t.double_s for t in trials):.2f} |"
                )
                continue
            failed = [t.failed for t in trials]
            in_flight = [t.in_flight for t in trials]
            extra = ""
            if event == "crash-keepalived":
                served = max(t.stale_served for t in trials)
                extra = (
                    f"; served by dead node ≤ {served}; stale VIP removed "
                    f"{_median_worst([t.stale_cleared for t in trials])} s after restart"
                )
            lines.append(
                f"| {run.design.name} | {event} | {_median_worst([t.first_ok for t in trials])} "
                f"| {_median_worst([t.takeover for t in trials])} "
                f"| {statistics.median(failed):g} ({statistics.median(in_flight):g}) / "
                f"{max(failed)} ({max(in_flight)}) "
                f"| {statistics.median(t.delayed for t in trials):g} / "
                f"{max(t.delayed for t in trials)} "
                f"| {sum(t.watch_breaks for t in trials)} "
                f"| {max(t.double_s for t in trials):.2f}{extra} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the designs, print each trial and the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--designs", default=",".join(d.name for d in DESIGNS))
    parser.add_argument("--events", default=",".join(EVENTS))
    parser.add_argument(
        "--stale", type=float, default=5.0, help="crash-keepalived: restart after this many s"
    )
    args = parser.parse_args(argv)
    # SIGTERM (and SIGINT, ignored in a background job) end the run through the labs' cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    wanted = args.designs.split(",")
    designs = [d for d in DESIGNS if d.name in wanted]
    events = tuple(e for e in args.events.split(",") if e in EVENTS)
    if not designs or not events:
        parser.error(f"designs: {[d.name for d in DESIGNS]}; events: {list(EVENTS)}")
    version = subprocess.run(
        ["keepalived", "--version"], capture_output=True, text=True, check=False, timeout=10
    ).stderr.splitlines()[:1]
    print(
        f"# VIP failover, {datetime.date.today()}, {platform.node()}, {' '.join(version)}, "
        f"{args.trials} trials, clients 4x10 req/s + 2 watches",
        flush=True,
    )
    runs = []
    for design in designs:
        print(f"## {design}", flush=True)
        runs.append(run_design(design, events, args.trials, args.stale))
    print()
    print(table(runs, events))
    print()
    for run in runs:
        print(
            f"{run.design.name}: two nodes held the VIP in {run.double_moments} of {run.samples} "
            f"samples (50 ms) over the whole run, {run.double_s:.2f} s"
            + (f"; {run.error}" if run.error else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
