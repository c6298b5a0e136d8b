"""The VIP tier proven by failure with lbgen's OWN rendered configs (issue 11, item 4).

Root only (network namespaces; the CI is root). The lab (tests/integration/netns.py) builds a
client, two load-balancer nodes and the fake API servers on one bridge in 198.18.0.0/24; each
node runs what ``lbgen render -t kubeadm-static-pods --node NAME`` writes for one spec: the proxy
config (haproxy, or nginx's full layout), keepalived.conf and the nft rule, started with the
static Pods' own commands (keepalived's loads the rule and removes a stale VIP first). Clients
in the client namespace: 4 requesting 10 times a second, 2 long watches, and kubectl.

Through each run, in order, on whichever node holds the VIP: the proxy SIGKILLed, keepalived
stopped (SIGTERM), the link cut, keepalived crashed (SIGKILL); each time the node is brought
back and the VIP settles as ``vip.preempt`` says (haproxy runs with ``preempt: true``, nginx
with ``false``). Then every API server turns unready for 8 s (ports open, ``/readyz`` 500):
every node sees the same, so the VIP must stay on its holder (no holder change, never two
holders), and requests succeed through it once the servers are ready again. haproxy then: the
holder alone loses its API servers (an nft drop rule in its namespace): its readiness path
answers 503 while the other node's answers 200, and the VIP leaves it. Printed per
event: time to the first successful request through the new holder, requests failed (started
after the event / in flight at it), time with two holders.
Asserted: the VIP moves, never two holders among the nodes that can see each other (a crashed
keepalived and a cut link are measured, not asserted), after the proxy kill no request started
after the kill fails (the nft rule holds it), and the restarted keepalived's start command
removes the stale VIP. No timing assertions: generous timeouts only.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lbgen.nginx.command import stream_module_for
from lbgen.rendering import render
from lbgen.spec.load import load_spec
from tests.integration.netns import CLIENT_TIMEOUT, VIP, LabError, RenderedTier
from tests.support import figure

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root (the CI is root)"),
]

TIMEOUT = 60.0


@dataclass
class Event:
    """What the clients saw of one failure."""

    name: str
    old: str
    new: str = ""
    first_ok: float = float("inf")
    moved: float = float("inf")
    started: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()
    in_flight_failed: int = 0
    two_holders: float = 0.0
    watch_breaks: int = 0
    t0: float = 0.0
    back: float = 0.0

    def line(self, proxy: str) -> str:
        return (
            f"[vip-tier] {proxy}: {self.name} on {self.old}: VIP on {self.new} after "
            f"{self.moved:.2f}s, first request through {self.new} after {self.first_ok:.2f}s; "
            f"{self.failed} of {self.started} requests started after it failed {self.errors}, "
            f"{self.in_flight_failed} in flight failed; two holders {self.two_holders:.2f}s; "
            f"{self.watch_breaks} watch breaks"
        )


def others_hold(tier: RenderedTier, old: str) -> str:
    """Wait until a node other than ``old`` holds the VIP; that node."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        holders = [r for r in tier.holders() if r != old]
        if len(holders) == 1:
            return holders[0]
        assert len(holders) < 2, f"two nodes besides {old} hold the VIP: {holders}"
        time.sleep(0.05)
    raise LabError(f"after {TIMEOUT}s no node but {old} holds the VIP (logs in {tier.dir})")


def fail_holder(tier: RenderedTier, name: str, action: Callable[[str], None]) -> Event:
    """Do ``action`` to the VIP's holder; measure until the clients are through the new one."""
    assert tier.sampler is not None
    old = tier.wait_holder(timeout=TIMEOUT)
    event = Event(name, old)
    t0 = event.t0 = time.monotonic()
    action(old)
    if action == tier.kill_proxy:  # from the signal on (finding the PIDs takes a moment)
        t0 = event.t0 = tier.killed_at
    event.new = others_hold(tier, old)
    event.moved = time.monotonic() - t0
    deadline = time.monotonic() + TIMEOUT
    through: list[float] = []
    while time.monotonic() < deadline and not through:
        through = [r.end for r in list(tier.replies) if r.start >= t0 and r.peer == event.new]
        time.sleep(0.05)
    assert through, f"{name}: no successful request through {event.new}"
    event.first_ok = min(through) - t0
    until = time.monotonic()
    time.sleep(CLIENT_TIMEOUT + 1.0)  # every request started until now has ended
    replies = list(tier.replies)
    # A killed proxy's socket is gone only once the process is: a request that reached it
    # before that was in flight at the kill, whatever its start time says.
    cut = tier.gone_at if action == tier.kill_proxy else t0
    after = [r for r in replies if cut <= r.start < until]
    event.started, event.failed = len(after), sum(1 for r in after if r.error)
    event.errors = tuple(sorted({r.error for r in after if r.error}))
    event.in_flight_failed = sum(1 for r in replies if r.start < cut <= r.end and r.error)
    event.two_holders = tier.sampler.double_holding(t0, until)[1]
    event.watch_breaks = sum(1 for t, _ in list(tier.watch_breaks) if t0 <= t < until)
    return event


def log_size(tier: RenderedTier, role: str) -> int:
    """How much keepalived has logged on ``role`` so far."""
    return (tier.dir / f"{role}-keepalived.log").stat().st_size


def settle(tier: RenderedTier, event: Event, *, preempt: bool | None, since: int = 0) -> str:
    """After ``event.old`` came back: who holds the VIP (exactly one node), as preempt says.

    ``since``: the size of the returning node's keepalived log when it came back. With
    nopreempt it stays BACKUP while it hears the master; should it miss the master's adverts
    for the master-down interval (3 x 200 ms + skew: a loaded machine can stall a daemon that
    long) it becomes master, and of two masters the higher priority wins -- VRRP as designed,
    not nopreempt failing. The log says which happened.
    """
    if preempt is True:  # lb1, the highest priority, takes it back after preempt_delay
        return tier.wait_holder(role="lb1", timeout=TIMEOUT)
    holder = tier.wait_holder(timeout=TIMEOUT)
    if preempt is False:
        time.sleep(5.0)  # the returning node has had every chance to take it back
        holder = tier.wait_holder(timeout=TIMEOUT)
        if holder != event.new:
            with (tier.dir / f"{event.old}-keepalived.log").open() as log:
                log.seek(since)
                missed = "Receive advertisement timeout" in log.read()
            assert missed, f"nopreempt: {event.old} took the VIP back while hearing the master"
            figure(
                "test_vip_tier",
                f"[vip-tier] nopreempt: {event.old} missed the master's adverts (a stalled "
                "daemon on a loaded machine) and, as the higher priority, won the VIP back",
            )
    return holder


@pytest.mark.parametrize(("proxy", "preempt"), [("haproxy", True), ("nginx", False)])
def test_vip_tier_with_lbgens_rendered_configs(proxy: str, preempt: bool) -> None:
    with RenderedTier(proxy, lbs=2, preempt=preempt) as tier:
        assert tier.sampler is not None
        # Both nodes up: lb1 (highest priority) holds the VIP (lb2 may win the first election;
        # with preempt lb1 then takes it back, with nopreempt whoever won keeps it: a loaded
        # machine can start lb1's keepalived late enough for lb2 to win).
        holder = tier.wait_holder(role="lb1" if preempt else None, timeout=TIMEOUT)
        figure(
            "test_vip_tier",
            f"\n[vip-tier] {proxy}: both nodes up: VIP on {holder} (preempt {preempt})",
        )
        assert json.loads(tier.kubectl("/version"))["peer"] == tier.address(holder)
        assert tier.kubectl("/readyz").strip() == "ok"
        for role in tier.lbs:  # the static Pod's start command loaded lbgen's rule
            assert "jump hold_syn" in tier.lab.run(
                role, ["nft", "list", "table", "inet", "lbgen_vip"]
            )
        events: list[Event] = []
        start = time.monotonic()

        # 1. The proxy dies on the holder.
        event = fail_holder(tier, "proxy SIGKILL", tier.kill_proxy)
        events.append(event)
        figure("test_vip_tier", "\n" + event.line(proxy))
        assert event.two_holders == 0.0, event
        assert event.failed == 0, f"requests started after the kill failed: {event}"
        assert json.loads(tier.kubectl("/version"))["peer"] == tier.address(event.new)
        since = log_size(tier, event.old)
        tier.start_haproxy(event.old)
        figure(
            "test_vip_tier",
            f"[vip-tier] {proxy}: proxy back on {event.old}: VIP on "
            f"{settle(tier, event, preempt=preempt, since=since)} (preempt {preempt})",
        )

        # 2. keepalived stopped (SIGTERM: it resigns, priority 0).
        event = fail_holder(tier, "keepalived SIGTERM", lambda r: tier.lab.stop(tier.keepalived[r]))
        events.append(event)
        figure("test_vip_tier", event.line(proxy))
        assert event.two_holders == 0.0, event
        since = log_size(tier, event.old)
        tier.start_keepalived(event.old)
        figure(
            "test_vip_tier",
            f"[vip-tier] {proxy}: keepalived back on {event.old}: VIP on "
            f"{settle(tier, event, preempt=preempt, since=since)} (preempt {preempt})",
        )

        # 3. The holder's link is cut: it cannot hear the others (measured, not asserted: an
        # isolated node may keep the VIP on its dead link; nobody can reach it there).
        event = fail_holder(tier, "link cut", tier.lab.cut_link)
        events.append(event)
        figure("test_vip_tier", event.line(proxy))
        tier.lab.cut_link(event.old, up=True)
        # Two masters meeting again: the higher priority wins whatever preempt says.
        figure(
            "test_vip_tier",
            f"[vip-tier] {proxy}: link back on {event.old}: VIP on "
            f"{settle(tier, event, preempt=None)}",
        )
        event.back = time.monotonic()

        # 4. keepalived crashes (SIGKILL): the VIP stays on the dead node's interface.
        event = fail_holder(tier, "keepalived SIGKILL", tier.crash_keepalived)
        events.append(event)
        stale = VIP in tier.lab.addresses(event.old)
        figure(
            "test_vip_tier",
            event.line(proxy) + f"; stale VIP still on {event.old} at restart: {stale}",
        )
        # The kubelet restarts the container: the static Pod's start command removes the stale
        # address before keepalived runs (it may take the VIP back later, as preempt says).
        restart = time.monotonic()
        since = log_size(tier, event.old)
        crash_two = tier.sampler.double_holding(event.t0, restart)[1]
        figure(
            "test_vip_tier",
            f"[vip-tier] {proxy}: two holders from the crash to the restart: {crash_two:.2f}s "
            f"of {restart - event.t0:.2f}s",
        )
        tier.start_keepalived(event.old)
        cleaned = float("inf")
        while time.monotonic() < restart + TIMEOUT and cleaned == float("inf"):
            cleaned = next(
                (
                    t
                    for t, holders in list(tier.sampler.samples)
                    if t > restart and event.old not in holders
                ),
                float("inf"),
            )
            time.sleep(0.05)
        assert cleaned < float("inf"), f"the restarted {event.old} kept the stale VIP"
        settled = settle(tier, event, preempt=preempt, since=since)
        back = time.monotonic()
        figure(
            "test_vip_tier",
            f"[vip-tier] {proxy}: keepalived restarted on {event.old} with the Pod's command: "
            f"stale VIP gone {cleaned - restart:.2f}s after the start; VIP then on {settled} "
            f"(preempt {preempt})",
        )

        # Never two holders while the nodes could see each other (everywhere but the link cut
        # and the crash, measured above). The sampler asks the nodes one after the other, so a
        # handover (the new master adds the VIP, the old one drops it on the new adverts) can
        # show both in one sample; two holders in two samples in a row (50 ms apart) cannot.
        excluded = [(events[2].t0, events[2].back), (events[3].t0, back)]
        samples = [(t, h) for t, h in list(tier.sampler.samples) if start <= t <= back]
        doubles = [
            t
            for t, holders in samples
            if len(holders) > 1 and not any(lo <= t <= hi for lo, hi in excluded)
        ]
        runs = [a for (a, _), (_, b) in itertools.pairwise(samples) if a in doubles and len(b) > 1]
        figure(
            "test_vip_tier",
            f"[vip-tier] {proxy}: {len(samples)} address samples over {back - start:.0f}s; "
            f"outside the link cut and the crash: {len(doubles)} single samples with two "
            f"holders (handovers), {len(runs)} in a row",
        )
        assert not runs, runs

        # 5. Every API server turns unready (ports open, /readyz 500) for longer than several
        # check periods and preempt_delay: every node sees the same, so the VIP stays put.
        all_unready(tier, proxy)

        # 6. Only the holder loses its API servers (its packets to them dropped) while the
        # others still reach theirs: its readiness path answers 503, lbgen_ready fails and the
        # VIP leaves it. nginx cannot know (no active checks; its readiness answers as liveness).
        if proxy == "haproxy":
            one_node_cut_from_apis(tier, proxy, preempt=preempt)


#: The nft table step 6 adds in one node (dropped: the node's packets to the API servers).
CUT_TABLE = "lbgen_test_cut"


def one_node_cut_from_apis(tier: RenderedTier, proxy: str, *, preempt: bool) -> None:
    """The holder alone cannot reach any API server: the VIP moves to a node that can.

    Printed: how long after the drop rule the VIP left the holder (haproxy's checks must mark
    every server DOWN, then lbgen_ready must fail ``fall`` times), the nodes' /readyz and
    /healthz answers meanwhile, and where the VIP goes once the rule is gone.
    """
    assert tier.sampler is not None
    holder = tier.wait_holder(role="lb1" if preempt else None, timeout=TIMEOUT)
    apis = tier.lab.addresses("api")
    rules = [
        f"add table inet {CUT_TABLE}",
        f"add chain inet {CUT_TABLE} out {{ type filter hook output priority 0; }}",
        *(f"add rule inet {CUT_TABLE} out ip daddr {a.split('/')[0]} drop" for a in apis
          if ":" not in a),
    ]  # fmt: skip
    t0 = time.monotonic()
    for rule in rules:
        tier.lab.run(holder, ["nft", *shlex.split(rule)])
    try:
        new = others_hold(tier, holder)
        moved = time.monotonic() - t0
        readiness = {role: tier.health_answer(role, path="/readyz") for role in tier.lbs}
        liveness = {role: tier.health_answer(role) for role in tier.lbs}
        checks = {role: ready_check(tier, role) for role in tier.lbs}
        until = time.monotonic()
        two = tier.sampler.double_holding(t0, until)[1]
        figure(
            "test_vip_tier",
            f"[vip-tier] {proxy}: {holder} alone cut from the API servers: VIP moved to {new} "
            f"{moved:.2f}s after the drop rule; /readyz {readiness}, /healthz {liveness}; "
            f"lbgen_ready by hand {checks}; two holders {two:.2f}s",
        )
        assert readiness[holder] == "503" and readiness[new] == "200", readiness
        assert set(liveness.values()) == {"200"}, liveness
        assert json.loads(tier.kubectl("/version"))["peer"] == tier.address(new)
    finally:
        tier.lab.run(holder, ["nft", "delete", "table", "inet", CUT_TABLE])
    back = time.monotonic()
    settled = tier.wait_holder(role=holder if preempt else None, timeout=TIMEOUT)
    figure(
        "test_vip_tier",
        f"[vip-tier] {proxy}: rule removed: VIP on {settled} after "
        f"{time.monotonic() - back:.2f}s (preempt {preempt})",
    )


#: Step 5: how long every API server stays unready (check interval 1 s, fall 2, preempt_delay 1).
UNREADY_S = 8.0


def all_unready(tier: RenderedTier, proxy: str) -> None:
    """No API server ready, every node sees the same: one holder throughout, then requests again.

    Printed: what each node's health endpoint answered meanwhile (lbgen's nginx OSS health
    server is a stream ``return``: 200 whatever the pool; haproxy's answers as lbgen renders
    it), whether keepalived saw its ready check fail, how long the holder kept the VIP and how
    many holder changes the 50 ms samples show, what the clients saw, and how soon after the API
    servers are ready again a request succeeds through the VIP.
    """
    assert tier.sampler is not None
    holder = tier.wait_holder(timeout=TIMEOUT)
    logs = {role: log_size(tier, role) for role in tier.lbs}
    t0 = time.monotonic()
    tier.set_apis_ready(False)
    time.sleep(UNREADY_S / 2)  # past fall 2 x interval 1 s: the checks have had their say
    answers = {role: tier.health_answer(role) for role in tier.lbs}
    readiness = {role: tier.health_answer(role, path="/readyz") for role in tier.lbs}
    checks = {role: ready_check(tier, role) for role in tier.lbs}
    time.sleep(max(0.0, t0 + UNREADY_S - time.monotonic()))
    t1 = time.monotonic()
    window = [(t, h) for t, h in list(tier.sampler.samples) if t0 <= t <= t1]
    moments = [(t0, (holder,)), *window]
    changes = sum(1 for (_, a), (_, b) in itertools.pairwise(moments) if a != b)
    lost = next((t for t, h in window if h != (holder,)), t1)
    ready_failed = {}
    for role in tier.lbs:
        with (tier.dir / f"{role}-keepalived.log").open() as log:
            log.seek(logs[role])
            text = log.read()
        ready_failed[role] = any(
            "lbgen_ready" in line and "fail" in line.lower() for line in text.splitlines()
        )
    replies = [r for r in list(tier.replies) if t0 <= r.start and r.end <= t1]
    failed = sorted({r.error for r in replies if r.error})
    figure(
        "test_vip_tier",
        f"[vip-tier] {proxy}: all API servers unready (/readyz 500, ports open) for "
        f"{UNREADY_S:g}s: health endpoints answered /healthz {answers}, /readyz {readiness}; "
        "each node's rendered lbgen_ready "
        f"script run by hand: {checks}; failed in keepalived's log: {ready_failed}; VIP held "
        f"by {holder} for {lost - t0:.2f}s of {t1 - t0:.2f}s, "
        f"{changes} holder changes in {len(window)} samples; requests meanwhile: "
        f"{sum(1 for r in replies if not r.error)} ok, {sum(1 for r in replies if r.error)} "
        f"failed {tuple(failed)}",
    )
    # What each engine's endpoint means, said plainly.
    if set(checks.values()) == {"passes"} and "200" in answers.values():
        why = {
            "nginx": "nginx OSS has no active health checks; lbgen's health server (a stream "
            "return) answers 200 whatever the API servers say",
            "haproxy": "lbgen's haproxy health endpoint (monitor-uri) answers 200 while haproxy "
            "runs, even with every server DOWN",
        }[proxy]
        figure(
            "test_vip_tier",
            f"[vip-tier] {proxy}: {why}, on every node alike (still 'every node sees the "
            "same'): no check fails and the VIP has no reason to move",
        )
    elif all(check.startswith("fails") for check in checks.values()):
        figure(
            "test_vip_tier",
            f"[vip-tier] {proxy}: every node's lbgen_ready failed together (/readyz 503: no "
            "usable server in the pool): every priority dropped by the same weight, so the VIP "
            "stayed where it was",
        )
    assert len(set(checks.values())) == 1, f"the nodes' ready checks disagree: {checks}"
    assert all(h == (holder,) for _, h in window), (
        f"the VIP left {holder} or had two holders while no API server was ready: "
        f"{[(round(t - t0, 2), h) for t, h in window if h != (holder,)]}"
    )
    assert changes == 0
    tier.set_apis_ready(True)
    ready_at = time.monotonic()
    deadline = ready_at + TIMEOUT
    ok: list[float] = []
    while time.monotonic() < deadline and not ok:
        ok = [r.end for r in list(tier.replies) if r.start >= ready_at and not r.error]
        time.sleep(0.05)
    assert ok, f"no request through the VIP succeeded within {TIMEOUT}s of the APIs' return"
    assert tier.kubectl("/readyz").strip() == "ok"
    assert json.loads(tier.kubectl("/version"))["peer"] == tier.address(holder)
    assert tier.holders() == (holder,)
    figure(
        "test_vip_tier",
        f"[vip-tier] {proxy}: API servers ready again: first request through the VIP "
        f"({holder}) after {min(ok) - ready_at:.2f}s; VIP still on {holder}",
    )


def ready_check(tier: RenderedTier, role: str) -> str:
    """Run node ``role``'s rendered ``lbgen_ready`` script in its namespace, as keepalived does."""
    conf = (tier.dir / role / "keepalived.conf").read_text()
    block = conf.split("vrrp_script lbgen_ready {", 1)[1]
    script = next(line.split("script ", 1)[1] for line in block.splitlines() if "script " in line)
    done = subprocess.run(
        ["ip", "netns", "exec", tier.lab.netns(role), *keepalived_argv(script)],
        capture_output=True, timeout=30, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return "passes" if done.returncode == 0 else f"fails (exit {done.returncode})"


def keepalived_argv(script: str) -> list[str]:
    """The argv keepalived runs for a rendered ``script "..."`` value (no shell involved)."""
    inner = script.strip()[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return shlex.split(inner)


def test_the_rendered_checks_hold_against_nginxs_health_endpoint(tmp_path: Path) -> None:
    """nginx's health endpoint (a stream ``return``) answers and closes without reading the
    request; the check's write then meets a closed socket. The rendered checks must still pass,
    every time (before SIGPIPE was ignored, 9 in 10 failed and the tier flapped)."""
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    port, frontend = ports
    spec = (ROOT / "examples" / "ha-tier.yaml").read_text()
    spec = spec.replace('bind: ":8081"', f'bind: "127.0.0.1:{port}"')
    spec = spec.replace('"192.0.2.100:6443"', f'"127.0.0.1:{frontend}"')
    loaded = load_spec(spec.encode())
    nginx_conf = tmp_path / "nginx.conf"
    module = stream_module_for("nginx")
    nginx_conf.write_text(render(loaded, "nginx", layout="full", load_module=module).text)
    text = render(loaded, "keepalived", node="lb1").text
    scripts = [line.split("script ", 1)[1] for line in text.splitlines() if "    script " in line]
    assert len(scripts) == 2
    nginx = subprocess.Popen(
        ["nginx", "-e", "stderr", "-c", str(nginx_conf), "-g", f"daemon off; pid {tmp_path}/pid;"],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as conn:
                if conn.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        results = {
            name: [
                subprocess.run(keepalived_argv(script), timeout=10, check=False).returncode
                for _ in range(50)
            ]
            for name, script in zip(("ready", "alive"), scripts, strict=True)
        }
    finally:
        nginx.terminate()
        nginx.wait(10)
    failed = {name: sum(1 for rc in codes if rc) for name, codes in results.items()}
    figure(
        "test_vip_tier", f"\n[vip-check] against nginx's health endpoint, failed of 50: {failed}"
    )
    assert failed == {"ready": 0, "alive": 0}
