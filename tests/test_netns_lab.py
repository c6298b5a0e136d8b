"""The network-namespace lab (tests/integration/netns.py) and one failover of the VIP in it.

Root only (network namespaces): the CI runs as root. The lab's addresses (198.18.0.0/24) exist
only inside the namespaces it creates; these tests check that, and that cleanup leaves no
namespace and no process behind. The failover test runs the real haproxy and keepalived with
the recommended design and kills the proxy on the VIP's holder. No timing assertions: the
figures are printed, the timeouts are generous.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time

import pytest

from tests.integration.netns import (
    CLIENT_TIMEOUT,
    LAB_RANGE,
    RECOMMENDED,
    SUBNET,
    VIP,
    Lab,
    Tier,
    lab_namespaces,
    parse_addresses,
)
from tests.support import alive, figure

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root (the CI is root)"),
]


def host_addresses() -> list[str]:
    """Every address of the host's own namespace (this test process's)."""
    out = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True)
    return parse_addresses(out.stdout)


def host_links() -> list[str]:
    """Every interface name in the host's own namespace."""
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True)
    return [str(link["ifname"]) for link in json.loads(out.stdout)]


def test_lab_addresses_live_only_in_its_namespaces_and_cleanup_leaves_nothing() -> None:
    """Two nodes talk over the bridge; the host sees none of it; cleanup removes all of it."""
    before_links = set(host_links())
    with Lab(["a", "b"]) as lab:
        a, b = lab.nodes["a"], lab.nodes["b"]
        names = [lab.switch, a.netns, b.netns]
        assert set(names) <= set(lab_namespaces())
        assert a.address in lab.addresses("a")
        assert b.address in lab.addresses("b")
        assert ipaddress.ip_address(a.address) in SUBNET
        assert ipaddress.ip_address(b.address) in SUBNET
        in_range = [x for x in host_addresses() if ipaddress.ip_address(x) in LAB_RANGE]
        assert not in_range, f"the host has lab addresses: {in_range}"
        assert set(host_links()) == before_links, "a lab interface appeared on the host"
        # b serves HTTP on its own address; a reaches it across the bridge.
        server = lab.popen("b", [sys.executable, "-m", "http.server", "--bind", b.address, "8000"])
        deadline = time.monotonic() + 30
        reply = ""
        while time.monotonic() < deadline and "200" not in reply:
            done = subprocess.run(
                ["ip", "netns", "exec", a.netns, "curl", "-s", "-o", "/dev/null",
                 "-w", "%{http_code}", "--max-time", "2", f"http://{b.address}:8000/"],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            reply = done.stdout
            time.sleep(0.2)
        assert reply == "200", f"a could not reach b across the bridge: {reply!r}"
        # The host cannot: the address is not in its namespace and nothing routes there.
        routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True)
        assert "198.18." not in routes.stdout
        sleeper = lab.popen("a", ["sleep", "600"])
        pids = [server.pid, sleeper.pid]
        assert all(alive(pid) for pid in pids)
        lab.cut_link("a")
        assert "NO-CARRIER" in lab.run("a", ["ip", "link", "show", "eth0"])
    assert not set(names) & set(lab_namespaces())
    assert not any(alive(pid) for pid in pids)
    assert set(host_links()) == before_links


def test_lab_cleanup_on_failure() -> None:
    """An exception inside the lab still deletes its namespaces and kills its processes."""
    names: list[str] = []
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="boom"), Lab(["x"]) as lab:
        names.extend([lab.switch, lab.nodes["x"].netns])
        pids.append(lab.popen("x", ["sleep", "600"]).pid)
        raise RuntimeError("boom")
    assert not set(names) & set(lab_namespaces())
    assert not alive(pids[0])


def test_vip_moves_when_the_holders_proxy_dies() -> None:
    """Recommended design, two nodes: SIGKILL haproxy on the holder; the VIP moves, one holder."""
    with Tier(RECOMMENDED, lbs=2) as tier:
        assert tier.sampler is not None
        # lb2 may win the first election when its keepalived starts first; lb1, the higher
        # priority, then takes the VIP (after preempt_delay) and keeps it.
        assert tier.wait_holder(role="lb1", timeout=60) == "lb1"
        version = json.loads(tier.kubectl())  # kubectl --server https://VIP:6443
        assert version["peer"] == tier.address("lb1"), version
        assert VIP not in host_addresses()
        kill = time.monotonic()
        tier.haproxy["lb1"].kill()
        tier.haproxy["lb1"].wait(5)
        # Until the killed haproxy has exited, the kernel may still complete handshakes on its
        # listening socket and reset them when it closes: those requests were in flight at the
        # kill (as in test_vip_tier, which counts from the same moment).
        gone = time.monotonic()
        assert tier.wait_holder(role="lb2", timeout=60) == "lb2"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            through_lb2 = [r for r in list(tier.replies) if r.start >= kill and r.peer == "lb2"]
            if through_lb2:
                break
            time.sleep(0.1)
        assert through_lb2, "no successful request through lb2 after the kill"
        first_ok = min(r.end for r in through_lb2) - kill
        time.sleep(2.0)  # lb1's keepalived is still up: it must not take the VIP back
        assert tier.holders() == ("lb2",)
        assert json.loads(tier.kubectl())["peer"] == tier.address("lb2")
        until = time.monotonic()
        time.sleep(CLIENT_TIMEOUT + 1.0)  # every request started until now has ended
        replies = [r for r in list(tier.replies) if gone <= r.start < until]
        failed = [r for r in replies if r.error]
        moments, seconds = tier.sampler.double_holding(kill)
        figure(
            "test_netns_lab",
            f"\n[vip] {RECOMMENDED.name}: haproxy SIGKILL on lb1 -> first request through lb2 "
            f"after {first_ok:.2f}s; of {len(replies)} requests started after it exited "
            f"{len(failed)} failed, {sum(1 for r in replies if r.end - r.start > 0.5)} took "
            f"over 0.5 s; two holders in {moments} samples ({seconds:.2f}s)",
        )
        # hold_syns: a request sent while no node could serve it waits for TCP's retransmission
        # and reaches lb2; none started after the kill fails (only those in flight could).
        assert not failed, failed
