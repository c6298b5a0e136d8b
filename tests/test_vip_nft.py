"""``render -t keepalived --layout nft``: the rule holding SYNs to the VIP while no proxy listens.

The rendered ruleset passes the real ``nft -c`` (in a throw-away network namespace), and, loaded
in a namespace standing in for a node, does what it says: a connection to VIP:port without a
listener waits (its SYN is dropped, TCP retries it) instead of being refused; with a listener it
connects; other ports and addresses are refused as before; loading it again replaces it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lbgen.keepalived.view import vip_ports
from lbgen.rendering import render
from lbgen.resolve import resolve_spec
from lbgen.spec.load import load_spec
from tests.support import figure, node_namespace, run_lbgen

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ha-tier.yaml"
#: Both families, frontends on the VIP itself, on an IPv4 wildcard and on a dual-stack [::].
DUAL = (
    EXAMPLE.read_text()
    .replace("addresses: [192.0.2.100/24]", 'addresses: [192.0.2.100/24, "2001:db8::100"]')
    .replace("address: 192.0.2.11}", 'address: [192.0.2.11, "2001:db8::11"]}')
    .replace("address: 192.0.2.12}", 'address: [192.0.2.12, "2001:db8::12"]}')
    .replace("address: 192.0.2.13}", 'address: [192.0.2.13, "2001:db8::13"]}')
    .replace(
        'bind: ["192.0.2.100:6443"]',
        'bind: ["192.0.2.100:6443", "[2001:db8::100]:6443"]\n    pool: control-plane\n'
        '  other:\n    bind: [":8443", "[::]:9443"]',
    )
)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="nft and namespaces need root")


def nft_text(spec: str | Path, node: str = "lb1") -> str:
    loaded = load_spec(spec if isinstance(spec, Path) else spec.encode())
    rendered = render(loaded, "keepalived", layout="nft", node=node)
    assert rendered.ok, rendered.diagnostics
    return rendered.text


def test_ports_on_the_vip_follow_the_binds() -> None:
    resolved = resolve_spec(load_spec(DUAL.encode()))
    # 6443 on the address itself, 8443 on the IPv4 wildcard, 9443 on [::] (dual-stack).
    assert vip_ports(resolved, "192.0.2.100/24") == (6443, 8443, 9443)
    assert vip_ports(resolved, "2001:db8::100") == (6443, 9443)
    v6only = DUAL.replace('"[::]:9443"]', '"[::]:9443"]\n    v6only: true')
    resolved = resolve_spec(load_spec(v6only.encode()))
    assert vip_ports(resolved, "192.0.2.100/24") == (6443, 8443)
    text = nft_text(DUAL)
    assert "ip daddr 192.0.2.100 tcp dport { 6443, 8443, 9443 }" in text
    assert "ip6 daddr 2001:db8::100 tcp dport { 6443, 9443 }" in text
    assert "node: lb1" in text and "layout nft" in text


def test_a_vip_without_a_frontend_is_a_warning() -> None:
    spec = EXAMPLE.read_text().replace('bind: ["192.0.2.100:6443"]', 'bind: ["127.0.0.1:6443"]')
    rendered = render(load_spec(spec.encode()), "keepalived", layout="nft", node="lb1")
    assert [d.code for d in rendered.diagnostics] == ["vip-no-frontend"]
    assert "daddr" not in rendered.text


def test_cli_layout_nft_needs_a_node_and_keepalived_has_no_other_layouts() -> None:
    done = run_lbgen("render", str(EXAMPLE), "-t", "keepalived", "--layout", "nft")
    assert done.returncode == 2 and "--node" in done.stderr, done.stderr
    done = run_lbgen("render", str(EXAMPLE), "-t", "keepalived", "--layout", "stream", "--node",
                     "lb1")  # fmt: skip
    assert done.returncode == 2 and "full, nft" in done.stderr, done.stderr
    done = run_lbgen("render", str(EXAMPLE), "-t", "haproxy", "--layout", "nft")
    assert done.returncode == 2, done.stderr
    done = run_lbgen("render", str(EXAMPLE), "-t", "keepalived", "--layout", "nft", "--node",
                     "lb1", "--validate")  # fmt: skip
    assert done.returncode == 2 and "nft -c -f" in done.stderr, done.stderr
    done = run_lbgen("render", str(EXAMPLE), "-t", "keepalived", "--layout", "nft", "--node", "lb2")
    assert done.returncode == 0 and done.stdout == nft_text(EXAMPLE, "lb2"), done.stderr


@needs_root
@pytest.mark.parametrize("spec", [EXAMPLE, DUAL], ids=["example", "dual"])
def test_nft_checks_the_rendered_ruleset(spec: str | Path, tmp_path: Path) -> None:
    path = tmp_path / "vip.nft"
    path.write_text(nft_text(spec))
    # nft -c asks the kernel; in a namespace of its own the host's ruleset is never involved.
    done = subprocess.run(["unshare", "--net", "nft", "-c", "-f", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    broken = tmp_path / "broken.nft"
    broken.write_text(path.read_text().replace("tcp dport {", "tcp dprt {"))
    done = subprocess.run(["unshare", "--net", "nft", "-c", "-f", str(broken)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0, "nft -c accepted a broken ruleset: the check proves nothing"


PROBE = """
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
if sys.argv[3] == "listen":
    server = socket.socket(family)
    server.bind((sys.argv[1], int(sys.argv[2])))
    server.listen()
sock = socket.socket(family)
sock.settimeout(1.5)
try:
    sock.connect((sys.argv[1], int(sys.argv[2])))
    print("connected")
except ConnectionRefusedError:
    print("refused")
except TimeoutError:
    print("held")
"""


def probe(netns: str, address: str, port: int, *, listen: bool = False) -> str:
    argv = [sys.executable, "-c", PROBE, address, str(port), "listen" if listen else "-"]
    done = subprocess.run(["ip", "netns", "exec", netns, *argv],
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return done.stdout.strip()


@needs_root
def test_the_loaded_rule_holds_syns_only_while_nothing_listens(tmp_path: Path) -> None:
    path = tmp_path / "vip.nft"
    path.write_text(nft_text(DUAL))
    with node_namespace("nft", nonlocal_bind=True) as netns:
        ns = ["ip", "-n", netns]
        subprocess.run([*ns, "addr", "add", "192.0.2.100/24", "dev", "eth0"], check=True)
        subprocess.run([*ns, "addr", "add", "2001:db8::100/128", "dev", "eth0", "nodad"],
                       check=True)  # fmt: skip
        before = {vip: probe(netns, vip, 6443) for vip in ("192.0.2.100", "2001:db8::100")}
        assert before == {"192.0.2.100": "refused", "2001:db8::100": "refused"}
        for _ in range(2):  # loading it again replaces the table: no duplicate, no error
            subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", str(path)],
                           check=True, timeout=60)  # fmt: skip
        listed = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "ruleset"],
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert listed.count("table inet lbgen_vip") == 1 and listed.count("jump hold_syn") == 2
        figures = {
            "VIP4:6443 no listener": probe(netns, "192.0.2.100", 6443),
            "VIP4:8443 no listener": probe(netns, "192.0.2.100", 8443),
            "VIP6:9443 no listener": probe(netns, "2001:db8::100", 9443),
            "VIP4:6443 listener": probe(netns, "192.0.2.100", 6443, listen=True),
            "VIP6:6443 listener": probe(netns, "2001:db8::100", 6443, listen=True),
            "VIP4:7000 (no frontend)": probe(netns, "192.0.2.100", 7000),
            "node 192.0.2.11:6443": probe(netns, "192.0.2.11", 6443),
        }
        figure("test_vip_nft", f"\n[vip-nft] {figures}")
        assert figures == {
            "VIP4:6443 no listener": "held",
            "VIP4:8443 no listener": "held",
            "VIP6:9443 no listener": "held",
            "VIP4:6443 listener": "connected",
            "VIP6:6443 listener": "connected",
            "VIP4:7000 (no frontend)": "refused",
            "node 192.0.2.11:6443": "refused",
        }
