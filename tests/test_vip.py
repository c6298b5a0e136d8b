"""The vip section and the keepalived target: validation (code, line, column), one config per
node, the real ``keepalived -t`` as the oracle (it accepts every rendering and refuses a broken
one), determinism, the ``--node`` errors, and the curl-free check working in a real keepalived.

keepalived checks a config for the machine it runs on (the interface must exist), so the checks
run inside a network namespace this module creates, with a veth pair whose end is called eth0.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbgen.diagnostics import SpecError
from lbgen.keepalived.view import unsafe_in_config
from lbgen.rendering import TargetError, render
from lbgen.runners.local import LocalRunner
from lbgen.spec.load import load, load_spec
from lbgen.spec.vip import derived_priorities, health_target
from tests.support import joined_namespaces, node_namespace, run_briefly, run_lbgen

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ha-tier.yaml"

BASE = """\
version: 1
global:
  health: {bind: ":8081", path: /healthz}
frontends:
  api: {bind: ["192.0.2.100:6443"], pool: cp}
pools:
  cp: {servers: {m1: "192.0.2.21:6443"}}
"""


def spec_with(vip: str, base: str = BASE) -> str:
    """BASE plus a vip section (its lines start at line 8)."""
    return base + vip


GOOD_VIP = """\
vip:
  addresses: [192.0.2.100/24]
  interface: eth0
  virtual_router_id: 51
  nodes:
    - {name: lb1, address: 192.0.2.11}
    - {name: lb2, address: 192.0.2.12}
"""


def errors(text: str) -> set[tuple[str, int | None, int | None]]:
    """(code, line, col) of every error loading ``text`` reports."""
    with pytest.raises(SpecError) as info:
        load(text.encode(), filename="t.yaml")
    return {(d.code, d.line, d.col) for d in info.value.diagnostics}


# --- validation: each mistake, its code, line and column ----------------------------------------

BAD = {
    "priorities equal": (
        GOOD_VIP.replace("address: 192.0.2.11}", "address: 192.0.2.11, priority: 100}").replace(
            "address: 192.0.2.12}", "address: 192.0.2.12, priority: 100}"
        ),
        {("vip-priority-duplicate", 14, 50)},
    ),
    "priorities partial": (
        GOOD_VIP.replace("address: 192.0.2.11}", "address: 192.0.2.11, priority: 100}"),
        {("vip-priority-partial", 14, 7)},
    ),
    "weight within the gap": (
        GOOD_VIP.replace("address: 192.0.2.11}", "address: 192.0.2.11, priority: 150}").replace(
            "address: 192.0.2.12}", "address: 192.0.2.12, priority: 120}"
        ),
        {("vip-track-weight", 9, 3)},  # track.weight not written: the vip block
    ),
    "weight within the gap, written": (
        GOOD_VIP.replace("address: 192.0.2.11}", "address: 192.0.2.11, priority: 110}").replace(
            "address: 192.0.2.12}", "address: 192.0.2.12, priority: 100}"
        )
        + "  track: {weight: -10}\n",
        {("vip-track-weight", 15, 19)},
    ),
    "vip is a node address": (
        GOOD_VIP.replace("[192.0.2.100/24]", "[192.0.2.11]"),
        {("vip-is-node-address", 9, 15)},
    ),
    "vip family without a node address": (
        GOOD_VIP.replace("[192.0.2.100/24]", '["2001:db8::100"]'),
        {("vip-family-mismatch", 13, 28), ("vip-family-mismatch", 14, 28)},
    ),
    "two ipv4 vips": (
        GOOD_VIP.replace("[192.0.2.100/24]", "[192.0.2.100, 192.0.2.101]"),
        {("vip-family", 9, 28)},
    ),
    "node names repeat": (
        GOOD_VIP.replace("name: lb2", "name: lb1"),
        {("vip-node-duplicate", 14, 14)},
    ),
    "node name invalid": (GOOD_VIP.replace("name: lb2", "name: -lb2"), {("name", 14, 14)}),
    "interface with a slash": (GOOD_VIP.replace("eth0", "eth/0"), {("interface", 10, 14)}),
    "interface too long": (GOOD_VIP.replace("eth0", "a" * 16), {("interface", 10, 14)}),
    "interface dot-dot": (GOOD_VIP.replace("eth0", '".."'), {("interface", 10, 14)}),
    "auth_pass too long": (
        GOOD_VIP + '  version: 2\n  advert_interval: 1s\n  auth_pass: "123456789"\n',
        {("vip-auth-pass", 17, 14)},
    ),
    "auth_pass with vrrpv3": (GOOD_VIP + "  auth_pass: secret\n", {("vip-auth-v3", 15, 14)}),
    "advert not whole seconds with vrrpv2": (GOOD_VIP + "  version: 2\n", {("vip-advert", 9, 3)}),
    "router id out of range": (GOOD_VIP.replace("51", "256"), {("range", 11, 22)}),
    "track interval below a second": (
        GOOD_VIP + "  track: {interval: 500ms}\n",
        {("vip-track-interval", 15, 21)},
    ),
    "preempt delay not whole seconds": (
        GOOD_VIP + "  preempt_delay: 1500ms\n",
        {("vip-preempt-delay", 15, 18)},
    ),
    "preempt delay over keepalived's range": (
        GOOD_VIP + "  preempt_delay: 17m\n",
        {("vip-preempt-delay", 15, 18)},
    ),
    # keepalived takes rise and fall up to INT_MAX, script timers up to 4294 s.
    "fall over keepalived's range": (
        GOOD_VIP + "  track: {fall: 2147483648}\n",
        {("range", 15, 17)},
    ),
    "rise over keepalived's range": (
        GOOD_VIP + "  track: {rise: 2147483648}\n",
        {("range", 15, 17)},
    ),
    "track interval over keepalived's range": (
        GOOD_VIP + "  track: {interval: 4295s}\n",
        {("vip-track-interval", 15, 21)},
    ),
    "track timeout over keepalived's range": (
        GOOD_VIP + "  track: {timeout: 4295s}\n",
        {("vip-track-interval", 15, 20)},
    ),
    # Linux refuses ':' in a name: eth0:1 is an address label of eth0, not an interface.
    "interface with a colon": (GOOD_VIP.replace("eth0", '"eth0:1"'), {("interface", 10, 14)}),
    "one node": (
        GOOD_VIP.replace("    - {name: lb2, address: 192.0.2.12}\n", ""),
        {("vip-nodes", 13, 5)},
    ),
    "no node": (
        GOOD_VIP.replace("    - {name: lb1, address: 192.0.2.11}\n", "")
        .replace("    - {name: lb2, address: 192.0.2.12}\n", "")
        .replace("  nodes:\n", "  nodes: []\n"),
        {("vip-nodes", 12, 10)},
    ),
    "version as a string": (GOOD_VIP + '  version: "3"\n', {("type", 15, 12)}),
    "version as a boolean": (GOOD_VIP + "  version: true\n", {("type", 15, 12)}),
    "node address unspecified": (GOOD_VIP.replace("192.0.2.11", "0.0.0.0"), {("address", 13, 28)}),
    "node address loopback": (GOOD_VIP.replace("192.0.2.11", "127.0.0.1"), {("address", 13, 28)}),
    "node address multicast": (GOOD_VIP.replace("192.0.2.11", "224.0.0.18"), {("address", 13, 28)}),
    "node address ipv6 unspecified": (
        GOOD_VIP.replace("192.0.2.11}", '[192.0.2.11, "::"]}'),
        {("address", 13, 41)},
    ),
    "node address ipv6 loopback": (
        GOOD_VIP.replace("192.0.2.11}", '[192.0.2.11, "::1"]}'),
        {("address", 13, 41)},
    ),
    "node address ipv4-mapped loopback": (
        GOOD_VIP.replace("192.0.2.11}", '[192.0.2.11, "::ffff:127.0.0.1"]}'),
        {("address", 13, 41)},
    ),
    "vip ipv4-mapped loopback": (
        GOOD_VIP.replace("[192.0.2.100/24]", '["::ffff:127.0.0.1"]'),
        {("address", 9, 15)},
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_mistake_is_one_error_at_its_place(name: str) -> None:
    vip, expected = BAD[name]
    assert errors(spec_with(vip)) == expected


def test_vip_needs_global_health() -> None:
    base = BASE.replace('  health: {bind: ":8081", path: /healthz}\n', "  maxconn: 100\n")
    assert errors(spec_with(GOOD_VIP, base)) == {("vip-needs-health", 8, 1)}


def test_health_bound_to_one_hosts_address_is_refused() -> None:
    base = BASE.replace('":8081"', '"192.0.2.11:8081"')
    assert errors(spec_with(GOOD_VIP, base)) == {("vip-health-bind", 3, 18)}


@pytest.mark.parametrize(
    "binds,expected",
    [
        ('["127.0.0.1:8081", "192.0.2.11:8081"]', {("vip-health-bind", 3, 37)}),
        ('["192.0.2.11:8081", "127.0.0.1:8081"]', {("vip-health-bind", 3, 19)}),
        ('["192.0.2.11:8081", "192.0.2.12:8082"]',
         {("vip-health-bind", 3, 19), ("vip-health-bind", 3, 38)}),
    ],
)  # fmt: skip
def test_every_health_bind_is_checked_not_only_the_first(
    binds: str, expected: set[tuple[str, int, int]]
) -> None:
    # Every node renders the whole list: a listener on one node's address cannot start on the
    # others, wherever it stands in the list.
    base = BASE.replace('":8081"', binds)
    assert errors(spec_with(GOOD_VIP, base)) == expected


@pytest.mark.parametrize(
    "bind,target",
    [(":8081", "127.0.0.1"), ("[::]:8081", "::1"), ("127.0.0.2:8081", "127.0.0.2"),
     ("[::1]:8081", "::1"), ("localhost:8081", "localhost"), ("LocalHost:8081", "localhost"),
     ("192.0.2.11:8081", None), ("lb.example.internal:8081", None)],
)  # fmt: skip
def test_health_target_is_each_nodes_own_loopback(bind: str, target: str | None) -> None:
    assert health_target(bind) == target


def test_localhost_is_a_loopback_health_bind() -> None:
    # README: localhost is 127.0.0.1 and ::1; the check asks for the name (see the netns test).
    base = BASE.replace('":8081"', '"localhost:8081"')
    assert load(spec_with(GOOD_VIP, base).encode()).diagnostics == []
    text = render(load_spec(spec_with(GOOD_VIP, base).encode()), "keepalived", node="lb1").text
    assert text.count("/dev/tcp/localhost/8081 ") == 2
    listed = BASE.replace('":8081"', '["localhost:8081", "[::1]:8082"]')
    assert load(spec_with(GOOD_VIP, listed).encode()).diagnostics == []


def tier(count: int, weight: int | None = None) -> str:
    """A vip section of ``count`` nodes lb1, lb2, ... (addresses 192.0.2.1 and up, skipping
    the VIP and BASE's API server, which no node runs); ``weight``: a track weight on line 12.
    ``nodes:`` is on line 13 either way (the weight line or a comment)."""
    hosts = [host for host in range(1, 255) if host not in (21, 100)][:count]
    lines = [
        "vip:",
        "  addresses: [192.0.2.100/24]",
        "  interface: eth0",
        "  virtual_router_id: 51",
    ]
    lines.append(f"  track: {{weight: {weight}}}" if weight is not None else "  # no track")
    lines.append("  nodes:")
    lines += [f"    - {{name: lb{i + 1}, address: 192.0.2.{h}}}" for i, h in enumerate(hosts)]
    return "\n".join(lines) + "\n"


def test_derived_priorities_stay_within_keepalived_range() -> None:
    # Steps of 5 while the weight allows them: 31 nodes reach 250, 32 would reach 255.
    assert derived_priorities(31, -200)[0] == 250
    assert load(spec_with(tier(31, -200)).encode()).diagnostics == []
    assert derived_priorities(32, -200)[0] == 255
    assert errors(spec_with(tier(32, -200))) == {("vip-priority-range", 12, 19)}
    # The weights the message offers (-32 to -155) step by 1 and fit.
    for weight in (-32, -155):
        assert load(spec_with(tier(32, weight)).encode()).diagnostics == []
        assert derived_priorities(32, weight)[0] == 131
    # Steps of 1: 155 nodes reach 254, 156 would reach 255 whatever the weight.
    assert derived_priorities(155, -200)[0] == 254
    assert load(spec_with(tier(155, -200)).encode()).diagnostics == []
    assert derived_priorities(156, -200)[0] == 255
    assert errors(spec_with(tier(156, -200))) == {("vip-priority-range", 13, 3)}


def test_preempt_delay_with_preempt_false_is_a_warning(tmp_path: Path) -> None:
    spec = tmp_path / "tier.yaml"
    spec.write_text(spec_with(GOOD_VIP + "  preempt: false\n  preempt_delay: 5s\n"))
    result = run_lbgen("validate", str(spec), "-t", "keepalived")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"{spec}:15:12: warning [vip-nopreempt-unready] vip.preempt: {NOPREEMPT_UNREADY}",
        f"{spec}:16:18: warning [vip-preempt-delay-unused] vip.preempt_delay: preempt_delay 5s "
        "has no effect with preempt: false (nopreempt: a node never takes the VIP back, so there "
        "is nothing to delay); drop it",
        f"ok: {spec}",
    ]
    # --strict makes the translation's warnings errors (the load's with it, as for pool-unused).
    strict = run_lbgen("validate", "--strict", str(spec), "-t", "keepalived")
    assert strict.returncode == 2
    assert f"{spec}:16:18: error [vip-preempt-delay-unused] " in strict.stderr
    # Nothing to warn about the delay: the default one, or an explicit 0s.
    for vip in (
        GOOD_VIP + "  preempt: false\n",
        GOOD_VIP + "  preempt: false\n  preempt_delay: 0s\n",
    ):
        codes = [d.code for d in load(spec_with(vip).encode()).diagnostics]
        assert codes == ["vip-nopreempt-unready"]


#: keepalived's nopreempt, as tests/test_vip_election.py measures it with two real nodes.
NOPREEMPT_UNREADY = (
    "preempt: false (nopreempt) keeps the VIP on a node whose proxy turns unready: a backup "
    "never takes over from a lower priority, so lbgen_ready's weight moves nothing; only a proxy "
    "that stops answering (lbgen_alive) moves the VIP. To damp moving back instead, keep preempt "
    "and raise preempt_delay"
)


def test_preempt_true_has_no_nopreempt_warning() -> None:
    assert load(spec_with(GOOD_VIP).encode()).diagnostics == []


def test_a_priority_of_1_is_refused_whatever_the_spread() -> None:
    """keepalived lowers no effective priority below 1: an unready node at 20 - 20 is 1, a tie
    with a healthy node at 1, which does not take over (tests/test_vip_election.py)."""
    nodes = (
        "  nodes:\n"
        "    - {name: lb1, address: 192.0.2.11, priority: 20}\n"
        "    - {name: lb2, address: 192.0.2.12, priority: PRIO}\n"
    )
    vip = GOOD_VIP.split("  nodes:\n")[0] + nodes
    assert errors(spec_with(vip.replace("PRIO", "1"))) == {("vip-track-weight", 14, 50)}
    assert load(spec_with(vip.replace("PRIO", "2")).encode()).diagnostics == []


def test_error_lines_name_file_line_col_and_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "tier.yaml"
    spec.write_text(spec_with(GOOD_VIP + "  auth_pass: secret\n"))
    result = run_lbgen("validate", str(spec))
    assert result.returncode == 2
    assert f"{spec}:15:14: error [vip-auth-v3] vip.auth_pass: " in result.stderr
    assert "keepalived ignores it" in result.stderr


_ONE_HOST = (
    "192.0.2.11:8081 is one host's address, but every node of vip.nodes renders it: bind the "
    "health endpoint to :PORT, a loopback address or localhost, so that each node's keepalived "
    "checks its own proxy (never through the VIP)"
)
_OWNER = (
    "above keepalived's limit 254 (255 makes a node the address owner, which ignores its "
    "health checks)"
)

#: (spec, the one line ``validate -t keepalived`` prints after ``FILE:``).
CLI_ERRORS = {
    "derived priorities by the weight": (
        spec_with(tier(32, -200)),
        "12:19: error [vip-priority-range] vip.track.weight: with track weight -200 the 32 "
        f"nodes' derived priorities step by 5, so the first, lb1, gets 255, {_OWNER}: make the "
        "weight -32 to -155 (steps of 1, at most 131), list fewer nodes, or set priority on "
        "every node",
    ),
    "derived priorities by the nodes": (
        spec_with(tier(156, -200)),
        "13:3: error [vip-priority-range] vip.nodes: the 156 nodes' derived priorities step by 1 "
        f"from 255 (lb1), {_OWNER}: list at most 155 nodes or set priority on every node",
    ),
    "fall": (
        spec_with(GOOD_VIP + "  track: {fall: 99999999999}\n"),
        "15:17: error [range] vip.track.fall: must be less than or equal to 2147483647",
    ),
    "rise": (
        spec_with(GOOD_VIP + "  track: {rise: 2147483648}\n"),
        "15:17: error [range] vip.track.rise: must be less than or equal to 2147483647",
    ),
    "health bind, second of a list": (
        spec_with(GOOD_VIP, BASE.replace('":8081"', '["127.0.0.1:8081", "192.0.2.11:8081"]')),
        f"3:37: error [vip-health-bind] global.health.bind[1]: {_ONE_HOST}",
    ),
    "interface with a colon": (
        spec_with(GOOD_VIP.replace("eth0", '"eth0:1"')),
        "10:14: error [interface] vip.interface: 'eth0:1' is not a Linux interface name: 1-15 "
        "characters, no '/', ':' or whitespace, not '.' or '..' (and here only A-Z a-z 0-9 _ . @ "
        "+ = -)",
    ),
    "one node": (
        spec_with(GOOD_VIP.replace("    - {name: lb2, address: 192.0.2.12}\n", "")),
        "13:5: error [vip-nodes] vip.nodes: a tier needs at least two nodes (got 1): VRRP elects "
        "one of them to hold the VIP, the others take over when it fails",
    ),
    "version as a string": (
        spec_with(GOOD_VIP + "  version: '3'\n"),
        "15:12: error [type] vip.version: must be a valid integer, 2 or 3 (got a string)",
    ),
    "node address loopback": (
        spec_with(GOOD_VIP.replace("192.0.2.11", "127.0.0.1")),
        "13:28: error [address] vip.nodes[0].address[0]: '127.0.0.1' cannot be a node's address "
        "(unspecified, loopback or multicast): it is the node's own address on vip.interface, "
        "which the other nodes send their adverts to",
    ),
    "three addresses": (
        spec_with(GOOD_VIP.replace("[192.0.2.100/24]", "[192.0.2.100/24, 192.0.2.101/24, ::5]")),
        "9:14: error [range] vip.addresses: must hold at most 2 items (got 3)",
    ),
    "node address a number": (
        spec_with(GOOD_VIP.replace("address: 192.0.2.11", "address: 3232235777")),
        "13:28: error [type] vip.nodes[0].address: must be an IP address, or a list of at most "
        "two (one of each family) (got an integer)",
    ),
}


@pytest.mark.parametrize("name", sorted(CLI_ERRORS))
def test_each_fixed_mistake_is_one_exact_line_and_exit_2(name: str, tmp_path: Path) -> None:
    text, line = CLI_ERRORS[name]
    spec = tmp_path / "tier.yaml"
    spec.write_text(text)
    result = run_lbgen("validate", str(spec), "-t", "keepalived")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"{spec}:{line}"]


def test_a_good_vip_and_the_example_load() -> None:
    assert load(spec_with(GOOD_VIP).encode()).diagnostics == []
    assert load(EXAMPLE).diagnostics == []


# --- rendering ------------------------------------------------------------------------------


def test_one_config_per_node_with_its_priority_and_peers() -> None:
    spec = load_spec(EXAMPLE)
    texts = {n: render(spec, "keepalived", node=n).text for n in ("lb1", "lb2", "lb3")}
    for (name, text), priority in zip(texts.items(), (110, 105, 100), strict=True):
        assert f"router_id {name}\n" in text
        assert f"    priority {priority}\n" in text
        own = {"lb1": "192.0.2.11", "lb2": "192.0.2.12", "lb3": "192.0.2.13"}
        assert f"unicast_src_ip {own[name]}\n" in text
        peers = re.search(r"unicast_peer \{\n(.*?)\n    \}", text, re.S)
        assert peers is not None
        assert sorted(peers.group(1).split()) == sorted(v for k, v in own.items() if k != name)
        # The recommended design: VRRPv3, 200 ms adverts, a -20 check and a weightless one.
        assert "vrrp_version 3\n" in text and "advert_int 0.2\n" in text
        assert "enable_script_security\n" in text and "script_user nobody\n" in text
        assert "weight -20\n" in text and "weight 0\n" in text
        assert "state BACKUP\n" in text and "nopreempt" not in text
        # The check asks the node's own proxy on the loopback, never the VIP, without curl.
        assert "/dev/tcp/127.0.0.1/8081" in text and "192.0.2.100/8081" not in text
        assert "curl" not in text
        assert "192.0.2.100/24 dev eth0\n" in text
    assert len(set(texts.values())) == 3


def test_preempt_false_renders_nopreempt_in_state_backup() -> None:
    text = render(
        load_spec(spec_with(GOOD_VIP + "  preempt: false\n").encode()), "keepalived", node="lb2"
    ).text
    assert "    state BACKUP\n" in text and "    nopreempt\n" in text
    assert "preempt_delay" not in text  # nothing to delay


def test_preempt_delay_holds_the_vip_while_checks_fail_unevenly() -> None:
    # The namespace benchmark's design: 1s keeps a tier whose checks all fail at slightly
    # different moments from moving the VIP back and forth; 0s is keepalived's own default.
    default = render(load_spec(spec_with(GOOD_VIP).encode()), "keepalived", node="lb1").text
    assert "    preempt_delay 1\n" in default
    none = render(
        load_spec(spec_with(GOOD_VIP + "  preempt_delay: 0s\n").encode()), "keepalived", node="lb1"
    ).text
    assert "preempt_delay" not in none


def test_dual_stack_multicast_vrrpv2_variants() -> None:
    dual = GOOD_VIP.replace("[192.0.2.100/24]", '[192.0.2.100, "2001:db8::100/64"]')
    dual = dual.replace("address: 192.0.2.11}", 'address: [192.0.2.11, "2001:db8::11"]}')
    dual = dual.replace("address: 192.0.2.12}", 'address: [192.0.2.12, "2001:db8::12"]}')
    text = render(load_spec(spec_with(dual).encode()), "keepalived", node="lb1").text
    assert "vrrp_instance lbgen_ipv4 {" in text and "vrrp_instance lbgen_ipv6 {" in text
    assert "unicast_src_ip 2001:db8::11\n" in text and "        2001:db8::12\n" in text
    multicast = GOOD_VIP + "  unicast: false\n  version: 2\n  advert_interval: 1s\n"
    text = render(
        load_spec(spec_with(multicast + "  auth_pass: s3cret\n").encode()), "keepalived",
        node="lb1",
    ).text  # fmt: skip
    assert "unicast" not in text and "vrrp_version 2\n" in text and "advert_int 1\n" in text
    assert "auth_type PASS\n        auth_pass s3cret\n" in text


def test_rendering_is_deterministic_across_processes() -> None:
    first = run_lbgen("render", str(EXAMPLE), "-t", "keepalived", "--node", "lb2")
    second = run_lbgen("render", str(EXAMPLE), "-t", "keepalived", "--node", "lb2")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout.startswith("# Generated by lbgen ")
    assert "# spec-sha256: " in first.stdout and "# node: lb2\n" in first.stdout


def test_node_errors_through_the_cli() -> None:
    unknown = run_lbgen("render", str(EXAMPLE), "-t", "keepalived", "--node", "lb9")
    assert unknown.returncode == 2
    assert unknown.stderr == (
        "lbgen: no node 'lb9' in vip.nodes (lb1, lb2, lb3); did you mean 'lb3'?\n"
    )
    missing = run_lbgen("render", str(EXAMPLE), "-t", "keepalived")
    assert missing.returncode == 2 and "--node" in missing.stderr
    assert len(missing.stderr.splitlines()) == 1
    other = run_lbgen("render", str(EXAMPLE), "-t", "haproxy", "--node", "lb1")
    assert other.returncode == 2
    assert other.stderr == "lbgen: --node is for the per-node target keepalived, not haproxy\n"
    with pytest.raises(TargetError, match="needs a vip section"):
        render(load_spec(BASE.encode()), "keepalived", node="lb1")


def test_check_and_output_work_as_for_other_targets(tmp_path: Path) -> None:
    out = tmp_path / "keepalived.conf"
    args = ("render", str(EXAMPLE), "-t", "keepalived", "--node", "lb1", "-o", str(out))
    assert run_lbgen(*args).returncode == 0
    assert run_lbgen(*args, "--check").returncode == 0
    out.write_text(out.read_text().replace("priority 110", "priority 111"))
    stale = run_lbgen(*args, "--check")
    assert stale.returncode == 1 and "out of date" in stale.stderr


def test_the_defence_refuses_what_would_change_the_structure() -> None:
    assert unsafe_in_config("eth0") is None
    assert unsafe_in_config('"/bin/bash -c \'a # b ! c \\" d\'"') is None
    assert unsafe_in_config("eth0\n    vrrp_script x") is not None
    assert unsafe_in_config("a # b") is not None
    assert unsafe_in_config("x }") is not None
    assert unsafe_in_config('"open') is not None


# --- the real keepalived: -t accepts every rendering and refuses a broken one --------------------


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    """A network namespace with lo up and a veth pair whose end is eth0 (192.0.2.11/24)."""
    if os.geteuid() != 0:
        pytest.fail("the keepalived checks need root (network namespaces)")
    with node_namespace("vip") as name:
        yield name


def keepalived_check(netns: str, text: str) -> tuple[bool, str]:
    """lbgen's own local check (``keepalived -t``), run inside ``netns``."""
    result = LocalRunner(command_prefix=["ip", "netns", "exec", netns]).check(
        text, "keepalived", filename="keepalived.conf"
    )
    return result.ok, result.output


VARIANTS = {
    "example": EXAMPLE.read_text(),
    "preempt-false": spec_with(GOOD_VIP + "  preempt: false\n"),
    "vrrpv2-multicast-auth": spec_with(
        GOOD_VIP + "  unicast: false\n  version: 2\n  advert_interval: 1s\n  auth_pass: s3cret\n"
    ),
    "dual-stack": spec_with(
        GOOD_VIP.replace("[192.0.2.100/24]", '[192.0.2.100, "2001:db8::100/64"]')
        .replace("address: 192.0.2.11}", 'address: [192.0.2.11, "2001:db8::11"]}')
        .replace("address: 192.0.2.12}", 'address: [192.0.2.12, "2001:db8::12"]}')
    ),
    "priorities-and-track": spec_with(
        GOOD_VIP.replace("address: 192.0.2.11}", "address: 192.0.2.11, priority: 200}").replace(
            "address: 192.0.2.12}", "address: 192.0.2.12, priority: 150}"
        )
        + "  track: {weight: -60, interval: 2s, fall: 3, rise: 4, timeout: 2s}\n"
        + "  advert_interval: 1500ms\n"
    ),
    "health-bind-localhost-and-list": spec_with(
        GOOD_VIP, BASE.replace('":8081"', '["localhost:8081", "[::1]:8082"]')
    ),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_keepalived_accepts_every_rendering(netns: str, variant: str) -> None:
    spec = load_spec(VARIANTS[variant].encode())
    assert spec.vip is not None
    for node in spec.vip.nodes:
        text = render(spec, "keepalived", node=node.name).text
        ok, output = keepalived_check(netns, text)
        assert ok, f"{variant} {node.name}:\n{output}\n{text}"


def test_keepalived_refuses_a_broken_rendering(netns: str) -> None:
    text = render(load_spec(EXAMPLE), "keepalived", node="lb1").text
    for broken in (
        text.replace("advert_int 0.2", "advert_intx 0.2"),
        text.replace("interface eth0", "interface ethX9"),
        text.replace("priority 110", "priority 300"),
    ):
        ok, output = keepalived_check(netns, broken)
        assert not ok, output
    ok, output = keepalived_check(netns, text.replace("priority 300", "priority 110"))
    assert ok, output


def test_keepalived_agrees_with_the_priority_limit(netns: str) -> None:
    """The highest derived priority lbgen accepts (250 by steps of 5, 254 by steps of 1)
    passes keepalived -t; the first it refuses, 255, keepalived refuses: an address owner,
    whose tracked scripts it ignores."""
    for count, top in ((31, 250), (155, 254)):
        text = render(
            load_spec(spec_with(tier(count, -200)).encode()), "keepalived", node="lb1"
        ).text
        assert f"    priority {top}\n" in text
        ok, output = keepalived_check(netns, text)
        assert ok, output
        assert errors(spec_with(tier(count + 1, -200)))  # refused by lbgen: would be 255
        assert derived_priorities(count + 1, -200)[0] == 255
        ok, output = keepalived_check(netns, text.replace(f"priority {top}\n", "priority 255\n"))
        assert not ok and "due to address_owner" in output, output


@pytest.mark.parametrize(
    "track,written,first_refused",
    [
        ("{fall: 2147483647}", "fall 2147483647", "fall 2147483648"),
        ("{rise: 2147483647}", "rise 2147483647", "rise 2147483648"),
        ("{interval: 4294s, timeout: 4294s}", "interval 4294", "interval 4295"),
        ("{interval: 4294s, timeout: 4294s}", "timeout 4294", "timeout 4295"),
    ],
)
def test_keepalived_agrees_with_the_track_limits(
    netns: str, track: str, written: str, first_refused: str
) -> None:
    """The last value lbgen accepts passes keepalived -t; one more, which lbgen refuses,
    keepalived refuses ("outside range", and it would read 1 or ignore the line)."""
    text = render(
        load_spec(spec_with(GOOD_VIP + f"  track: {track}\n").encode()), "keepalived", node="lb1"
    ).text
    assert f"    {written}\n" in text
    ok, output = keepalived_check(netns, text)
    assert ok, output
    key, _, value = first_refused.partition(" ")
    unit = "s" if key in ("interval", "timeout") else ""
    assert errors(spec_with(GOOD_VIP + f"  track: {{{key}: {value}{unit}}}\n"))
    ok, output = keepalived_check(netns, text.replace(f"    {written}\n", f"    {first_refused}\n"))
    assert not ok and "outside range" in output, output


def test_the_kernel_and_keepalived_agree_with_the_interface_grammar(netns: str) -> None:
    """15 characters of every punctuation lbgen allows: Linux creates the interface and
    keepalived -t takes it. eth0:1, which lbgen refuses, Linux refuses to create (an address
    label is no interface) and keepalived -t cannot find."""
    name = "a.b@c+d=e-f_g15"
    assert len(name) == 15
    link = ["ip", "-n", netns, "link"]
    subprocess.run([*link, "add", name, "type", "veth", "peer", "name", "lbgen-peer"], check=True)
    try:
        subprocess.run([*link, "set", name, "up"], check=True)
        spec = spec_with(GOOD_VIP.replace("eth0", f'"{name}"'))
        text = render(load_spec(spec.encode()), "keepalived", node="lb1").text
        assert f"    interface {name}\n" in text
        ok, output = keepalived_check(netns, text)
        assert ok, output
    finally:
        subprocess.run([*link, "del", name], check=False)
    assert errors(spec_with(GOOD_VIP.replace("eth0", '"eth0:1"'))) == {("interface", 10, 14)}
    refused = subprocess.run(
        [*link, "add", "eth0:1", "type", "veth", "peer", "name", "lbgen-peer"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode != 0, refused.stdout
    text = render(load_spec(spec_with(GOOD_VIP).encode()), "keepalived", node="lb1").text
    ok, output = keepalived_check(netns, text.replace(" eth0\n", " eth0:1\n"))
    assert not ok and "interface eth0:1" in output, output


def _scripts(text: str) -> list[str]:
    """The bash programs of a keepalived.conf's ``script`` lines, as keepalived runs them: it
    reads the double-quoted string (``\\"`` a quote, ``\\\\`` a backslash) and splits it
    at unquoted spaces, so ``/bin/bash -c '...'`` gives bash the program inside the quotes."""
    programs = []
    for quoted in re.findall(r'^\s*script "(.*)"$', text, re.M):
        words = shlex.split(re.sub(r"\\(.)", r"\1", quoted))
        assert words[:2] == ["/bin/bash", "-c"], words
        programs.append(words[2])
    return programs


@pytest.mark.parametrize("listen", ["::1", "127.0.0.1"])
def test_a_localhost_health_check_reaches_the_proxy_on_either_loopback(
    netns: str, tmp_path: Path, listen: str
) -> None:
    """``bind: localhost:PORT`` puts the proxy on whichever loopback address the node's
    /etc/hosts gives first (HAProxy 2.6 binds only that one: ::1 with Debian's file), so the
    check asks for the name, and bash's /dev/tcp tries every address: both checks pass against
    a proxy on ::1 only and on 127.0.0.1 only, where 127.0.0.1 would miss the first."""
    base = BASE.replace('":8081"', '"localhost:8081"')
    text = render(load_spec(spec_with(GOOD_VIP, base).encode()), "keepalived", node="lb1").text
    programs = _scripts(text)
    assert len(programs) == 2 and all("/dev/tcp/localhost/8081 " in p for p in programs)
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n")
    server_code = (
        "import http.server, socket, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers()\n"
        "    def log_message(self, *args):\n"
        "        pass\n"
        "class S(http.server.HTTPServer):\n"
        "    address_family = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET\n"
        "server = S((sys.argv[1], 8081), H)\n"
        "print('listening', flush=True)\n"
        "server.serve_forever()\n"
    )
    in_netns = ["ip", "netns", "exec", netns]
    with_hosts = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                  'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]  # fmt: skip
    server = subprocess.Popen(
        [*in_netns, sys.executable, "-c", server_code, listen], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline() == "listening\n"
        for program in programs:
            check = subprocess.run(
                [*in_netns, *with_hosts, "/bin/bash", "-c", program], capture_output=True,
                text=True, timeout=30,
            )  # fmt: skip
            assert check.returncode == 0, (listen, program, check.stderr)
        if listen == "::1":
            # What a check on 127.0.0.1 (a :PORT bind's) would have said of this proxy.
            program = programs[1].replace("/dev/tcp/localhost/", "/dev/tcp/127.0.0.1/")
            check = subprocess.run(
                [*in_netns, *with_hosts, "/bin/bash", "-c", program], capture_output=True,
                text=True, timeout=30,
            )  # fmt: skip
            assert check.returncode != 0, check.stderr
    finally:
        server.terminate()
        server.wait(10)


def test_lbgen_check_engine_keepalived(netns: str, tmp_path: Path) -> None:
    text = render(load_spec(EXAMPLE), "keepalived", node="lb1").text
    good = tmp_path / "keepalived.conf"
    good.write_text(text)
    bad = tmp_path / "bad.conf"
    bad.write_text(text.replace("advert_int", "advert_intx"))

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", netns, sys.executable, "-m", "lbgen", "check",
             "--engine", "keepalived", str(path)],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
        )  # fmt: skip

    result = check(good)
    assert result.returncode == 0, result.stderr
    assert "keepalived (local) accepted the config" in result.stderr
    result = check(bad)
    assert result.returncode == 3, result.stderr
    assert "Line 37) Unknown keyword 'advert_intx'" in result.stderr, result.stderr


# --- the check without curl, in a real keepalived ---------------------------------------------


def _addresses(netns: str) -> str:
    return subprocess.run(
        ["ip", "-n", netns, "-br", "addr", "show", "eth0"], capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip


def _wait(netns: str, present: bool, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ("192.0.2.100/24" in _addresses(netns)) == present:
            return True
        time.sleep(0.1)
    return False


def test_the_rendered_checks_move_the_vip_in_a_real_keepalived(netns: str, tmp_path: Path) -> None:
    """Node lb1 alone: it takes the VIP while its health endpoint answers, and gives it up
    (FAULT, the weightless liveness check) once nothing answers: bash's /dev/tcp as nobody."""
    folder = Path(f"/run/lbgen-vip-{os.getpid()}")  # root-only: keepalived's script security
    folder.mkdir(mode=0o700)
    conf = folder / "keepalived.conf"
    conf.write_text(render(load_spec(EXAMPLE), "keepalived", node="lb1").text)
    server_code = (
        "import http.server\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers()\n"
        "http.server.HTTPServer(('127.0.0.1', 8081), H).serve_forever()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    exec_ = ["ip", "netns", "exec", netns]
    server = subprocess.Popen([*exec_, sys.executable, "-c", server_code], env=env)
    log = open(folder / "log", "wb")  # noqa: SIM115
    keepalived = subprocess.Popen(
        [*exec_, "keepalived", "-n", "-l", "-D", "-P", "-f", str(conf),
         "-p", str(folder / "k.pid"), "-r", str(folder / "v.pid")],
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        assert _wait(netns, True), (folder / "log").read_text()
        server.terminate()
        server.wait(10)
        assert _wait(netns, False), (folder / "log").read_text()
        logged = (folder / "log").read_text()
        assert "VRRP_Script(lbgen_alive) failed" in logged
        assert "Entering FAULT STATE" in logged
    finally:
        for process in (server, keepalived):
            process.terminate()
            process.wait(15)
        log.close()
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


# --- includes: keepalived -t skips a missing one and exits 0; lbgen's check does not ------------

#: A script block for an included file (keepalived -t accepts it).
INCLUDED = 'vrrp_script extra {\n    script "/bin/true"\n    interval 2\n}\n'


def keepalived_check_file(netns: str, path: Path) -> tuple[bool, str]:
    """lbgen's local check of the file ``path`` itself, run inside ``netns``."""
    result = LocalRunner(command_prefix=["ip", "netns", "exec", netns]).check(
        path.read_bytes(), "keepalived", path=path
    )
    return result.ok, result.output


@pytest.mark.parametrize(
    "include",
    ["/nonexistent-lbgen/vs.conf", "/nonexistent-lbgen/conf.d/*.conf", "missing/vs.conf"],
)
def test_a_missing_include_fails_the_check(netns: str, tmp_path: Path, include: str) -> None:
    """keepalived -t reports "Config files missing" and still exits 0 (it runs without the
    file); the check adds -e, keepalived's own "error if any configuration file missing"."""
    text = render(load_spec(EXAMPLE), "keepalived", node="lb1").text
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text + f"include {include}\n")
    plain = subprocess.run(
        ["ip", "netns", "exec", netns, "keepalived", "-t", "-l", "-f", str(conf)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "Config files missing" in plain.stdout + plain.stderr
    ok, output = keepalived_check_file(netns, conf)
    assert not ok and "Config files missing" in output, output
    ok, output = keepalived_check(netns, conf.read_text())
    assert not ok and "Config files missing" in output, output


def test_a_relative_include_is_read_beside_the_checked_file(netns: str, tmp_path: Path) -> None:
    """keepalived reads a relative include against the folder of the file naming it, so the
    file is checked where it is; the example's non-root script_user sends keepalived 2.2.7's
    check to the fallback copy, whose relative includes still name the files beside it."""
    text = render(load_spec(EXAMPLE), "keepalived", node="lb1").text
    assert "script_user nobody" in text
    folder = tmp_path / "etc"
    (folder / "conf.d").mkdir(parents=True)
    (folder / "conf.d" / "vs.conf").write_text(INCLUDED)
    conf = folder / "keepalived.conf"
    conf.write_text(text + "include conf.d/*.conf\n")
    before = sorted(p.name for p in folder.rglob("*"))
    ok, output = keepalived_check_file(netns, conf)
    assert ok, output
    (folder / "conf.d" / "vs.conf").write_text(INCLUDED.replace("interval", "intervalx"))
    ok, output = keepalived_check_file(netns, conf)
    assert not ok and "intervalx" in output, output
    assert sorted(p.name for p in folder.rglob("*")) == before, "nothing written beside the file"


def test_the_fallback_copy_names_relative_includes_by_the_original_folder() -> None:
    from lbgen.keepalived.command import check_fallback

    text = 'global_defs {\n    script_user nobody\n}\ninclude a/*.conf\n  include "q.conf"\n'
    copy = check_fallback(text, include_folder="/etc/keepalived/")
    assert copy == (
        "global_defs {\n    script_user root\n}\ninclude /etc/keepalived/a/*.conf\n"
        '  include /etc/keepalived/"q.conf"\n'
    )
    assert check_fallback("include /abs/x.conf\nscript_user nobody\n", include_folder="/e") == (
        "include /abs/x.conf\nscript_user root\n"
    )
    assert check_fallback(text) == text.replace("nobody", "root")
    assert check_fallback("include a.conf\n", include_folder="/e") is None


# --- a frontend on the port of an API server that runs on a node of the tier ------------------

CONTROL_PLANE_LBS = """\
version: 1
global:
  health: {bind: ":8081", path: /healthz}
frontends:
  api: {bind: ["192.0.2.100:PORT"], pool: cp}
pools:
  cp: {servers: {cp1: "192.0.2.11:6443", cp2: "192.0.2.12:6443"}}
vip:
  addresses: [192.0.2.100/24]
  interface: eth0
  virtual_router_id: 51
  nodes:
    - {name: lb1, address: 192.0.2.11}
    - {name: lb2, address: 192.0.2.12}
"""

#: kube-apiserver's listener without --bind-address: Go's ":6443", one dual-stack socket.
API_SERVER = """\
import socket, sys, time
listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
listener.bind(("::", 6443))
listener.listen()
print("listening", flush=True)
time.sleep(600)
"""


def test_a_frontend_on_a_tier_nodes_api_server_port_is_warned() -> None:
    codes = [
        (d.code, d.line, d.col)
        for d in load(CONTROL_PLANE_LBS.replace("PORT", "6443").encode()).diagnostics
    ]
    assert codes == [("vip-api-server-port", 5, 16)]
    assert load(CONTROL_PLANE_LBS.replace("PORT", "8443").encode()).diagnostics == []
    # API servers elsewhere (the example: nodes .11-.13, servers .21-.23) are no clash.
    assert load(EXAMPLE).diagnostics == []


@pytest.mark.parametrize(("port", "starts"), [(6443, False), (8443, True)])
def test_haproxy_cannot_bind_beside_the_api_server_where_the_warning_says(
    port: int, starts: bool, tmp_path: Path
) -> None:
    """The warning's oracle: on node lb1 (nonlocal bind, as the README asks) with an API server
    listening as kube-apiserver does, the real haproxy fails to bind the VIP on 6443 and starts on
    8443."""
    if os.geteuid() != 0:
        pytest.fail("needs root (a network namespace)")
    spec = load_spec(CONTROL_PLANE_LBS.replace("PORT", str(port)).encode())
    config = tmp_path / "haproxy.cfg"
    config.write_text(render(spec, "haproxy").text)
    with node_namespace("apiport", nonlocal_bind=True) as namespace:
        exec_in = ["ip", "netns", "exec", namespace]
        api = subprocess.Popen(
            [*exec_in, sys.executable, "-c", API_SERVER], stdout=subprocess.PIPE, text=True
        )
        try:
            assert api.stdout is not None and api.stdout.readline() == "listening\n"
            exited, output = run_briefly([*exec_in, "haproxy", "-db", "-f", str(config)])
            assert exited is not starts, output
            if not starts:
                assert f"cannot bind socket (Address already in use) for [192.0.2.100:{port}]" in (
                    output
                ), output
        finally:
            api.terminate()
            api.wait(10)


# --- a VIP that is the broadcast address of its prefix -----------------------------------------


def test_the_broadcast_address_of_the_vips_prefix_is_refused() -> None:
    vip = GOOD_VIP.replace("192.0.2.100/24", "192.0.2.255/24")
    assert errors(spec_with(vip)) == {("address", 9, 15)}
    # Neither /31 nor /32 has one; the network address is a host's on Linux (the oracle below).
    for fine in ("192.0.2.255/32", "192.0.2.0/24", "192.0.2.1/31"):
        assert load(spec_with(GOOD_VIP.replace("192.0.2.100/24", fine)).encode()).diagnostics == []


LISTEN_ON = """\
import socket, sys, time
listener = socket.socket()
listener.bind((sys.argv[1], 7777))
listener.listen()
print("listening", flush=True)
time.sleep(600)
"""

CONNECT_TO = """\
import socket, sys
client = socket.socket()
client.settimeout(5)
try:
    client.connect((sys.argv[1], 7777))
    print("connected")
except OSError as error:
    print(error.strerror)
"""


@pytest.mark.parametrize(
    ("vip", "reached"),
    [("192.0.2.255/24", "Network is unreachable"), ("192.0.2.100/24", "connected"),
     ("192.0.2.0/24", "connected")],
)  # fmt: skip
def test_a_client_on_the_link_cannot_reach_a_broadcast_vip(vip: str, reached: str) -> None:
    """The check's oracle: the VIP on the holder's eth0, a listener on it, and a client on the
    same /24 in a namespace of its own, connecting."""
    host = vip.split("/")[0]
    with joined_namespaces("bcast", {"lb": "192.0.2.11", "client": "192.0.2.12"}) as names:
        subprocess.run(["ip", "-n", names["lb"], "addr", "add", vip, "dev", "eth0"], check=True)
        exec_in = {name: ["ip", "netns", "exec", ns] for name, ns in names.items()}
        listener = subprocess.Popen(
            [*exec_in["lb"], sys.executable, "-c", LISTEN_ON, host],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert listener.stdout is not None and listener.stdout.readline() == "listening\n"
            client = subprocess.run(
                [*exec_in["client"], sys.executable, "-c", CONNECT_TO, host],
                capture_output=True, text=True, timeout=30, check=True,
            )  # fmt: skip
            assert client.stdout.strip() == reached
        finally:
            listener.terminate()
            listener.wait(10)
