"""``lbgen explain``: per field, what it became in the engine or why it was dropped.

explain derives its answers by probing the real translation, so these tests hold it against an
independent statement of the mapping: DESIGN §2's tables, written out here by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lbgen
from lbgen.diagnostics import Level
from lbgen.explain import Explanation, FieldReport, Outcome, explain, format_explanation
from lbgen.rendering import TargetError
from tests.support import run_lbgen

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "kubernetes-api.yaml"
CASES = sorted((ROOT / "tests" / "cases").glob("*/spec.yaml"))
CP = "pools.control-plane"


def explained(target: str, spec: Path = EXAMPLE, layout: str | None = None) -> Explanation:
    """explain() of a spec file."""
    return explain(lbgen.load_spec(spec), target, layout=layout)


def spec_file(tmp_path: Path, text: str) -> Path:
    """Write a spec into tmp_path."""
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def codes(report: FieldReport) -> list[str]:
    """The diagnostic codes attached to a field."""
    return [d.code for d in report.diagnostics]


# --- the example, per engine -------------------------------------------------------------------


def test_haproxy_writes_every_field_of_the_example() -> None:
    e = explained("haproxy")
    assert {r.outcome for r in e.fields()} == {Outcome.WRITTEN}
    assert e.field(f"{CP}.health.fall").output == ("default-server … fall 3",)
    assert e.field(f"{CP}.health.interval").output == ("default-server inter 2s",)
    assert e.field(f"{CP}.health.path").output == ("http-check … uri /readyz",)
    assert e.field(f"{CP}.timeouts.server_fin").output == ("timeout server-fin 10s",)
    assert e.field(f"{CP}.slowstart").output == ("default-server … slowstart 1m",)
    check = e.field(f"{CP}.health.check").output
    assert "option httpchk" in check
    assert "server … check check-ssl verify none  (4 lines)" in check
    assert "option ssl-hello-chk" not in "\n".join(check)
    master2 = e.field(f"{CP}.servers.k8s-master2.weight")
    assert (master2.value, master2.origin, master2.line) == (
        50,
        f"{CP}.servers.k8s-master2.weight",
        40,
    )
    assert master2.output == ("server k8s-master2 … weight 50",)
    assert e.field("frontends.kubernetes-api.bind[1]").output == ("bind [::]:6443 v4v6",)


def test_nginx_says_where_each_dropped_field_went() -> None:
    e = explained("nginx")
    rise = e.field(f"{CP}.health.rise")
    assert (rise.outcome, rise.origin, rise.line) == (Outcome.DROPPED, "defaults.health.rise", 19)
    assert codes(rise) == ["nginx-unsupported"]
    assert "no equivalent" in rise.diagnostics[0].message
    for name in ("fast_interval", "down_interval", "timeout", "path", "expect"):
        assert e.field(f"{CP}.health.{name}").outcome is Outcome.DROPPED, name
    for name in ("slowstart", "maxqueue", "timeouts.server_fin"):
        report = e.field(f"{CP}.{name}")
        assert (report.outcome, codes(report)) == (Outcome.DROPPED, ["nginx-unsupported"]), name
    stats = e.field("global.stats.bind")
    assert (stats.outcome, codes(stats)) == (Outcome.DROPPED, ["nginx-no-stats"])
    maxconn = e.field("global.maxconn")
    assert (maxconn.outcome, codes(maxconn)) == (Outcome.DROPPED, ["nginx-maxconn-layout"])
    health_path = e.field("global.health.path")
    assert (health_path.outcome, codes(health_path)) == (Outcome.DROPPED, ["nginx-health-any-path"])


def test_nginx_maxconn_is_written_in_the_full_layout() -> None:
    e = explained("nginx", layout="full")
    assert e.field("global.maxconn").output == ("worker_connections 20000;",)


def test_nginx_plus_expresses_the_active_check() -> None:
    e = explained("nginx-plus")
    # The rendered line is "health_check interval=2s fails=3 passes=2;": each field its part.
    assert e.field(f"{CP}.health.interval").output == ("health_check interval=2s",)
    assert e.field(f"{CP}.health.fall").output == ("health_check … fails=3",)
    assert e.field(f"{CP}.health.rise").output == ("health_check … passes=2",)
    assert e.field(f"{CP}.health.timeout").output == ("health_check_timeout 3s;",)
    assert e.field(f"{CP}.slowstart").output == ("server … slow_start=1m  (4 lines)",)
    assert codes(e.field(f"{CP}.health.check")) == ["nginx-unsupported"]  # https -> TCP connect


# --- DESIGN §2's nginx table, field by field ---------------------------------------------------

TABLE_SPEC = """\
version: 1
name: table
defaults:
  health: {interval: 5s, fall: 3}
  timeouts: {connect: 4s, client: 30m, server: 2h, tunnel: 1h}
  retries: 2
frontends:
  api: {bind: ["127.0.0.1:6443"], pool: lc}
  api2: {bind: ["127.0.0.1:7443"], pool: src}
  api3: {bind: ["127.0.0.1:8443"], pool: rnd}
  api4: {bind: ["127.0.0.1:9443"], pool: srr}
pools:
  lc:
    balance: leastconn
    servers:
      a: {address: "10.0.0.1:6443", maxconn: 100}
      b: {address: "10.0.0.2:6443", disabled: true}
      c: {address: "10.0.0.3:6443", weight: 0}
  src: {balance: source, servers: {a: "10.0.1.1:6443"}}
  rnd: {balance: random, servers: {a: "10.0.2.1:6443"}}
  srr: {balance: static-rr, servers: {a: "10.0.3.1:6443"}}
"""


def test_explain_reproduces_the_nginx_table(tmp_path: Path) -> None:
    e = explained("nginx", spec_file(tmp_path, TABLE_SPEC))
    fall = e.field("pools.lc.health.fall").output
    assert fall == ("server … max_fails=3 fail_timeout=15s  (3 lines)",)  # fall -> max_fails
    interval = e.field("pools.lc.health.interval").output
    assert interval == ("server … fail_timeout=15s  (3 lines)",)  # interval x fall -> fail_timeout
    assert e.field("pools.lc.servers.b.disabled").output == ("server 10.0.0.2:6443 … down",)
    assert e.field("pools.lc.servers.a.maxconn").output == ("server 10.0.0.1:6443 … max_conns=100",)
    assert e.field("pools.lc.balance").output == ("least_conn;",)
    assert e.field("pools.src.balance").output == ("hash $remote_addr consistent;",)
    assert e.field("pools.rnd.balance").output == ("random two least_conn;",)
    static = e.field("pools.srr.balance")
    assert (static.outcome, codes(static)) == (Outcome.ENGINE_DEFAULT, ["nginx-static-rr"])
    zero = e.field("pools.lc.servers.c.weight")
    assert zero.output == ("server 10.0.0.3:6443 … down",) and codes(zero) == ["nginx-weight-zero"]
    assert e.field("pools.lc.retries").output == (
        "proxy_next_upstream on;",
        "proxy_next_upstream_tries 3;",
    )
    assert e.field("pools.lc.timeouts.connect").output == ("proxy_connect_timeout 4s;",)
    # One idle timeout, the largest of client, server and tunnel: server's 2h wins.
    assert e.field("pools.lc.timeouts.server").output == ("proxy_timeout 2h;",)
    client = e.field("frontends.api.timeouts.client")  # 30m: shorter, so it changes nothing
    assert (client.outcome, codes(client)) == (Outcome.DROPPED, ["nginx-one-idle-timeout"])


def test_balance_first_is_an_error_in_nginx(tmp_path: Path) -> None:
    text = TABLE_SPEC.replace("balance: static-rr", "balance: first")
    e = explained("nginx", spec_file(tmp_path, text))
    assert not e.ok
    assert codes(e.field("pools.srr.balance")) == ["nginx-balance-first"]
    assert "the translation has errors" in format_explanation(e)


def test_roundrobin_is_nginx_default_and_null_writes_nothing(tmp_path: Path) -> None:
    text = TABLE_SPEC.replace("balance: leastconn", "balance: roundrobin").replace(
        "retries: 2", "retries: null"
    )
    e = explained("nginx", spec_file(tmp_path, text))
    assert e.field("pools.lc.balance").outcome is Outcome.ENGINE_DEFAULT
    assert e.field("pools.lc.retries").outcome is Outcome.NULL
    assert e.field("pools.lc.retries").origin == "defaults.retries"


# --- properties over every golden case ---------------------------------------------------------


@pytest.mark.parametrize("target", ["haproxy", "nginx", "nginx-plus"])
@pytest.mark.parametrize("case", CASES, ids=[p.parent.name for p in CASES])
def test_every_case_is_explained_without_hiding_a_diagnostic(case: Path, target: str) -> None:
    spec = lbgen.load_spec(case)
    rendered = lbgen.render(spec, target, allow_errors=True)
    e = explain(spec, target)
    assert list(e.diagnostics) == rendered.diagnostics
    attached = {d for r in e.fields() for d in r.diagnostics}
    assert set(rendered.diagnostics) == attached | set(e.unattached)
    # Translation warnings point at a field, so each one lands on a field, not in "other".
    assert not [d for d in e.unattached if d.level is Level.WARNING and d.path.count(".") > 1]
    words = set(rendered.text.replace(";", " ; ").split())
    for report in e.fields():
        for fragment in report.output:
            shown = fragment.split("  (")[0].replace(";", " ;").split()
            assert set(shown) - {"…"} <= words, (report.path, fragment)


# --- the command -------------------------------------------------------------------------------


def test_cli_text_and_json() -> None:
    text = run_lbgen("explain", "examples/kubernetes-api.yaml", "-t", "nginx")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    at = lines.index("  health.rise = 2  (line 19, from defaults.health.rise)")
    assert lines[at + 1] == "      x dropped: none of null, 3, 1 changes the output"
    assert lines[at + 2].startswith("      ! warning [nginx-unsupported] nginx OSS has no active")
    assert "  balance = leastconn  (line 37)" in lines
    assert "      -> least_conn;" in lines
    assert lines[-1] == "43 fields: 22 written, 0 left to the engine's default, 21 dropped"

    as_json = run_lbgen("explain", "examples/kubernetes-api.yaml", "-t", "haproxy", "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert (data["target"], data["layout"], data["ok"]) == ("haproxy", "full", True)
    fields = {f["path"]: f for s in data["sections"] for f in s["fields"]}
    assert fields[f"{CP}.health.fall"]["output"] == ["default-server … fall 3"]
    assert fields[f"{CP}.health.fall"]["origin"] == "defaults.health.fall"


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    bad = spec_file(tmp_path, EXAMPLE.read_text().replace("weight: 50}", "weight: 300}"))
    result = run_lbgen("explain", str(bad), "-t", "nginx")
    assert result.returncode == 2
    assert f"{bad}:40:56: error [weight]" in result.stderr
    assert result.stdout == ""
    layout = run_lbgen(
        "explain", "examples/kubernetes-api.yaml", "-t", "haproxy", "--layout", "stream"
    )
    assert layout.returncode == 2
    assert "target haproxy has no layout 'stream'" in layout.stderr


def test_library_rejects_unknown_target() -> None:
    with pytest.raises(TargetError):
        explain(lbgen.load_spec(EXAMPLE), "envoy")


def test_names_with_dots_keep_their_fields(tmp_path: Path) -> None:
    text = (
        "version: 1\nfrontends:\n  api.v1: {bind: [':6443'], pool: cp.main}\npools:\n"
        "  cp.main:\n    servers:\n      m1.example: {address: 127.0.0.1:7001, weight: 0}\n"
    )
    e = explained("nginx", spec_file(tmp_path, text))
    report = e.field("pools.cp.main.servers.m1.example.weight")
    assert codes(report) == ["nginx-weight-zero"]


def test_dropped_defaults_note_names_its_fields_and_explain_uses_them() -> None:
    """The translation's summary note carries the fields it lists; explain attaches it to
    exactly those fields (no reading of the message text): the frontend's note lists its pool's
    timeouts.server_fin too."""
    from lbgen.diagnostics import format_json

    spec = lbgen.load_spec(ROOT / "tests" / "cases" / "check-http-expect-codes" / "spec.yaml")
    rendered = lbgen.render(spec, "nginx")
    notes = {d.path: d for d in rendered.diagnostics if d.code == "nginx-defaults-dropped"}
    assert notes["pools.web"].fields == (
        "health.fast_interval", "health.down_interval", "health.timeout"
    )  # fmt: skip
    assert notes["frontends.api"].fields == ("timeouts.client_fin", "timeouts.server_fin")
    e = explain(spec, "nginx")
    attached = {
        r.path for r in e.fields() for d in r.diagnostics if d.code == "nginx-defaults-dropped"
    }
    assert attached == {
        "frontends.api.timeouts.client_fin",
        "pools.web.timeouts.server_fin",
        "pools.web.health.fast_interval",
        "pools.web.health.down_interval",
        "pools.web.health.timeout",
    }
    rows = json.loads(format_json(rendered.diagnostics))
    assert {tuple(r.get("fields", ())) for r in rows} >= {
        (),
        ("timeouts.client_fin", "timeouts.server_fin"),
    }


# --- keepalived: the vip fields of one node's config ------------------------------------------

TIER = ROOT / "examples" / "ha-tier.yaml"


def test_keepalived_explains_each_vip_field_of_one_node() -> None:
    """Against the README's keepalived mapping table: each vip field, for node lb2 of the example
    (priority 105 from the order), becomes the directive the table names."""
    explanation = explain(lbgen.load_spec(TIER), "keepalived", node="lb2")
    expected = {
        "vip.addresses": "192.0.2.100/24 dev eth0",
        "vip.interface": "interface eth0",
        "vip.virtual_router_id": "virtual_router_id 51",
        "vip.advert_interval": "advert_int 0.2",
        "vip.version": "vrrp_version 3",
        "vip.unicast": "unicast_src_ip 192.0.2.12",
        "vip.preempt_delay": "preempt_delay 1",
        "vip.track.weight": "weight -20",
        "vip.track.fall": "fall 2",
        "vip.track.rise": "rise 2",
        "vip.nodes[1].name": "router_id lb2",
        "vip.nodes[1].priority": "priority 105",
        "vip.nodes[1].address": "unicast_src_ip 192.0.2.12",
        "vip.nodes[0].address": "192.0.2.11",
        "vip.nodes[2].address": "192.0.2.13",
    }
    for path, fragment in expected.items():
        report = explanation.field(path)
        assert report.outcome is Outcome.WRITTEN, (path, report)
        assert fragment in report.output, (path, report.output)
    assert explanation.field("vip.virtual_router_id").line == 31
    # Of the other nodes only the addresses (this node's peers) reach lb2's config.
    with pytest.raises(KeyError):
        explanation.field("vip.nodes[0].name")
    assert not any(r.outcome is Outcome.DROPPED for r in explanation.fields())
    text = format_explanation(explanation)
    assert "priority = 105  (from the order of vip.nodes)" in text


def test_keepalived_preempt_true_is_the_engine_default(tmp_path: Path) -> None:
    """preempt: true writes no nopreempt (keepalived preempts by itself), only preempt_delay."""
    text = TIER.read_text(encoding="utf-8").replace(
        "  virtual_router_id: 51\n", "  virtual_router_id: 51\n  preempt_delay: 0s\n"
    )
    report = explain(lbgen.load_spec(spec_file(tmp_path, text)), "keepalived", node="lb1").field(
        "vip.preempt"
    )
    assert report.outcome is Outcome.ENGINE_DEFAULT, report


DUAL_STACK_TIER = """\
version: 1
name: ds
global: {health: {bind: ":8081", path: /healthz}}
frontends: {api: {bind: [":6443", "[::]:6443"], pool: cp}}
pools: {cp: {servers: {cp1: "192.0.2.21:6443"}}}
vip:
  addresses: [192.0.2.100/24, "2001:db8::100/64"]
  interface: eth0
  virtual_router_id: 51
  nodes:
    - {name: lb1, address: [192.0.2.11, "2001:db8::11"]}
    - {name: lb2, address: [192.0.2.12, "2001:db8::12"]}
"""


def test_keepalived_explains_both_halves_of_a_dual_stack_tier(tmp_path: Path) -> None:
    """Each address of a list owns its lines: the IPv6 VIP and node addresses too (explain once
    probed only the first address, so the IPv6 instance's lines were nobody's)."""
    spec = lbgen.load_spec(spec_file(tmp_path, DUAL_STACK_TIER))
    explanation = explain(spec, "keepalived", node="lb1")
    expected = {
        "vip.addresses": ("192.0.2.100/24 dev eth0", "2001:db8::100/64 dev eth0"),
        "vip.nodes[0].address": ("unicast_src_ip 192.0.2.11", "unicast_src_ip 2001:db8::11"),
        "vip.nodes[1].address": ("192.0.2.12", "2001:db8::12"),
    }
    for path, fragments in expected.items():
        output = explanation.field(path).output
        for fragment in fragments:
            assert fragment in output, (path, output)


def test_keepalived_explain_through_the_cli() -> None:
    result = run_lbgen("explain", str(TIER), "-t", "keepalived", "--node", "lb1")
    assert result.returncode == 0, result.stderr
    assert "  virtual_router_id = 51  (line 31)\n      -> virtual_router_id 51\n" in result.stdout
    result = run_lbgen("explain", str(TIER), "-t", "keepalived")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("name it with --node (lb1, lb2, lb3)"), result.stderr
    result = run_lbgen("explain", str(TIER), "-t", "keepalived", "--node", "lb9")
    assert result.returncode == 2 and "no node 'lb9' in vip.nodes" in result.stderr


# --- values as the spec writes them, and plain JSON --------------------------------------------

LOG_SPEC = """\
version: 1
global:
  log: LOG
  extra:
    haproxy_sections: {"resolvers docker": ["nameserver dns 127.0.0.11:53"]}
frontends: {a: {bind: [":6443"], pool: p}}
pools: {p: {servers: {s: "10.0.0.1:6443"}}}
"""


@pytest.mark.parametrize("target", ["haproxy", "nginx"])
@pytest.mark.parametrize(
    ("log", "shown", "as_json"),
    [
        ("{target: syslog}", "{target: syslog}", {"target": "syslog"}),
        (
            '[stdout, "udp://127.0.0.1:514"]',
            '[stdout, "udp://127.0.0.1:514"]',
            ["stdout", "udp://127.0.0.1:514"],
        ),
        (
            "[{target: stdout, format: short}, syslog]",
            "[{target: stdout, format: short}, syslog]",
            [{"target": "stdout", "format": "short"}, "syslog"],
        ),
    ],
)
def test_log_mappings_and_lists_are_plain_json_and_shown_as_written(
    tmp_path: Path, target: str, log: str, shown: str, as_json: object
) -> None:
    """--json once crashed on a global.log mapping or list (pydantic models handed to
    json.dumps); the text showed them as {target: stdout}, and extra sections as a Python dict."""
    path = spec_file(tmp_path, LOG_SPEC.replace("LOG", log))
    result = run_lbgen("explain", str(path), "-t", target, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    values = {f["path"]: f["value"] for s in data["sections"] for f in s["fields"]}
    assert values["global.log"] == as_json
    assert values["global.extra.haproxy_sections"] == {
        "resolvers docker": ["nameserver dns 127.0.0.11:53"]
    }
    text = format_explanation(explained(target, path))
    assert f"  log = {shown}  (line 3)" in text
    assert '  extra.haproxy_sections = {resolvers docker: ["nameserver dns 127.0.0.11:53"]}' in text


# --- probes that must be valid, and must not meet a neighbour ----------------------------------


def test_a_list_of_health_binds_is_probed_with_valid_lists(tmp_path: Path) -> None:
    """A list-form global.health.bind was probed with null and [..., 299], both invalid: it was
    reported dropped although its bind is written."""
    text = (
        "version: 1\nglobal:\n  health: {bind: ['127.0.0.1:8081', '127.0.0.2:8082']}\n"
        "frontends: {a: {bind: [':6443'], pool: p}}\npools: {p: {servers: {s1: 10.0.0.1:6443}}}\n"
    )
    path = spec_file(tmp_path, text)
    for target in ("haproxy", "nginx"):
        report = explained(target, path).field("global.health.bind")
        assert report.outcome is Outcome.WRITTEN, (target, report)
        assert any("127.0.0.1:8081" in o for o in report.output), (target, report.output)
        assert any("127.0.0.2:8082" in o for o in report.output), (target, report.output)


NEIGHBOURS = """\
version: 1
defaults: {health: {check: tcp}}
frontends:
  a: {bind: ["[::]:6443"], pool: p}
  b: {bind: ["127.0.0.1:6443"], pool: q}
  c: {bind: ["0.0.0.0:7000", "[::]:7000"], pool: q}
  d: {bind: ["[::]:7001"], pool: p}
  e: {bind: ["127.0.0.1:7002"], pool: p}
global: {stats: {bind: "127.0.0.1:7003"}, health: {bind: ["127.0.0.1:7004"]}}
pools:
  p: {servers: {s1: 10.0.0.1:6443}}
  q: {servers: {s1: 10.0.0.2:6443}}
"""


@pytest.mark.parametrize("target", ["haproxy", "nginx"])
def test_a_bind_probe_moves_to_a_port_no_listener_uses(tmp_path: Path, target: str) -> None:
    """Moving c's 0.0.0.0:7000 to 7001 made d's [::]:7001 dual-stack line change in nginx, and
    c's bind was credited with d's line: the probe port is one no listener of the spec uses."""
    e = explained(target, spec_file(tmp_path, NEIGHBOURS))
    for name in ("a", "b", "c", "d", "e"):
        for index in range(2 if name == "c" else 1):
            report = e.field(f"frontends.{name}.bind[{index}]")
            own = report.value
            assert report.outcome is Outcome.WRITTEN, report
            assert all(own in fragment for fragment in report.output), (report.path, report.output)
    assert not any("7001" in o for o in e.field("frontends.c.bind[0]").output)


# --- what a dropped field's probes were ---------------------------------------------------------


def test_a_dropped_field_says_which_values_were_probed(tmp_path: Path) -> None:
    """ "no value of this field changes the output" was claimed after two probes: client 30m
    beside server 2h changes nothing, but client 3h would."""
    e = explained("nginx", spec_file(tmp_path, TABLE_SPEC))
    client = e.field("frontends.api.timeouts.client")
    assert client.outcome is Outcome.DROPPED
    assert client.probed == (None, "1h")
    text = format_explanation(e)
    assert "      x dropped: neither null nor 1h changes the output\n" in text
    assert "no value of this field changes the output" not in text
    assert e.field("pools.lc.health.rise").probed == (None, 3, 1)
    assert "      x dropped: none of null, 3, 1 changes the output\n" in text


# --- a server's value equal to what it inherits ------------------------------------------------

EVERY_LEVEL = ROOT / "tests" / "cases" / "server-params-every-level" / "spec.yaml"


def test_a_server_value_equal_to_its_pools_is_reported_as_inherited() -> None:
    """same-as-pool sets weight 10 and maxconn 250, the values it inherits: nothing is written on
    its line because default-server says so (HAProxy's own default weight is 1, not 10)."""
    e = explained("haproxy", EVERY_LEVEL)
    same = "pools.cp.servers.same-as-pool"
    weight = e.field(f"{same}.weight")
    assert (weight.outcome, weight.inherits) == (Outcome.INHERITED, "pools.cp.weight")
    assert e.field(f"{same}.maxconn").inherits == "pools.cp.maxconn"
    text = format_explanation(e)
    assert (
        "  weight = 10  (line 22)\n"
        "      = nothing written on its line: it equals the value inherited from pools.cp.weight"
        " (line 10, from defaults.weight), written as default-server … weight 10\n"
    ) in text
    assert "HAProxy's own default is this value" not in text
    data = json.loads(format_json_of(e))
    fields = {f["path"]: f for s in data["sections"] for f in s["fields"]}
    assert fields[f"{same}.weight"]["outcome"] == "inherited"
    assert fields[f"{same}.weight"]["inherits"] == "pools.cp.weight"


def format_json_of(e: Explanation) -> str:
    from lbgen.explain import format_json

    return format_json(e)


# --- an explicit null is probed too ------------------------------------------------------------

SERVER_NULLS = """\
version: 1
global: {stats: {bind: "127.0.0.1:8404", uri: null}}
defaults: {health: {check: tcp}}
frontends: {a: {bind: [":6443"], pool: p}}
pools:
  p:
    weight: 50
    slowstart: 10s
    maxconn: 100
    maxqueue: 10
    servers:
      s1: {address: 10.0.0.1:6443, weight: null, slowstart: null, maxconn: null, maxqueue: null}
      s2: {address: 10.0.0.2:6443}
"""


def test_a_null_that_writes_something_says_what(tmp_path: Path) -> None:
    """A server's null under a pool that sets the field writes HAProxy's own value on the server
    line (over default-server); stats.uri null still writes stats uri /stats. The null owns those
    lines, and the pool's value is not credited with them."""
    e = explained("haproxy", spec_file(tmp_path, SERVER_NULLS))
    expected = {"weight": "weight 1", "slowstart": "slowstart 0us", "maxconn": "maxconn 0",
                "maxqueue": "maxqueue 0"}  # fmt: skip
    for name, written in expected.items():
        server = e.field(f"pools.p.servers.s1.{name}")
        assert server.outcome is Outcome.WRITTEN, server
        assert server.output == (f"server s1 … {written}",), server.output
        pool = e.field(f"pools.p.{name}")
        assert not any("s1" in o for o in pool.output), pool.output
        assert any(o.startswith("default-server") for o in pool.output), pool.output
    uri = e.field("global.stats.uri")
    assert (uri.outcome, uri.output) == (Outcome.WRITTEN, ("stats uri /stats",))
    nulls = explained(
        "nginx", spec_file(tmp_path, TABLE_SPEC.replace("retries: 2", "retries: null"))
    )
    assert nulls.field("pools.lc.retries").outcome is Outcome.NULL


# --- lines a probe shrinks ---------------------------------------------------------------------


def test_a_probe_that_shrinks_a_line_credits_only_the_changed_tokens(tmp_path: Path) -> None:
    """check none leaves "default-server weight 100" of the whole default-server line: the
    weight is the weight field's, not health.check's (the lines were paired only when at least
    half their tokens matched)."""
    text = (
        "version: 1\ndefaults: {health: {check: tcp}}\nfrontends: {a: {bind: [':6443'], pool: p}}\n"
        "pools:\n  p:\n    servers:\n      s1: 10.0.0.1:6443\n"
        "      s2: {address: 10.0.0.2:6443, weight: 100}\n"
    )
    e = explained("haproxy", spec_file(tmp_path, text))
    check = e.field("pools.p.health.check").output
    assert "default-server inter 2s fastinter 1s downinter 2s rise 2 fall 3" in check, check
    assert not any("weight" in o for o in check), check


def test_a_server_named_like_a_keyword_keeps_its_name(tmp_path: Path) -> None:
    text = (
        "version: 1\nfrontends: {a: {bind: [':6443'], pool: p}}\npools:\n  p:\n    servers:\n"
        "      big: {address: 10.0.0.1:6443, weight: 50}\n      small-one: 10.0.0.2:6443\n"
    )
    e = explained("haproxy", spec_file(tmp_path, text))
    assert e.field("pools.p.servers.big.weight").output == ("server big … weight 50",)
    assert e.field("pools.p.servers.small-one.address").output == (
        "server small-one 10.0.0.2:6443",
    )


# --- a value the engine refuses, notes on another object, fields never enumerated --------------


def test_a_value_that_is_an_error_is_not_the_engines_default(tmp_path: Path) -> None:
    """nginx has no balance first: render writes nothing, so "nginx's own default is this value"
    (its default is weighted round robin) was false. A field whose own value is an error is
    dropped, with its error, whatever its probes changed."""
    text = TABLE_SPEC.replace("balance: static-rr", "balance: first")
    e = explained("nginx", spec_file(tmp_path, text))
    first = e.field("pools.srr.balance")
    assert (first.outcome, codes(first)) == (Outcome.DROPPED, ["nginx-balance-first"])
    assert first.diagnostics[0].level is Level.ERROR
    shown = format_explanation(e)
    at = shown.index("  balance = first  (line 21)\n")
    block = shown[at:].split("\n")[1:3]
    refused = "      x dropped: nginx cannot take this value: render refuses the spec"
    assert block[0] == refused, block
    assert block[1].startswith("      ! error [nginx-balance-first]"), block
    assert "nginx's own default is this value" not in shown
    data = json.loads(format_json_of(e))
    fields = {f["path"]: f for s in data["sections"] for f in s["fields"]}
    assert fields["pools.srr.balance"]["outcome"] == "dropped"


def test_a_note_on_a_frontend_naming_a_pool_field_is_attached_to_it() -> None:
    """nginx's nginx-defaults-dropped note on a frontend lists timeouts.server_fin, a field of
    the frontend's pool: the pool's server_fin said "the translation gives no reason"."""
    spec = lbgen.load_spec(ROOT / "tests" / "cases" / "check-http-expect-codes" / "spec.yaml")
    e = explain(spec, "nginx")
    server_fin = e.field("pools.web.timeouts.server_fin")
    assert (server_fin.outcome, codes(server_fin)) == (
        Outcome.DROPPED,
        ["nginx-defaults-dropped"],
    )
    assert server_fin.diagnostics[0].path == "frontends.api"
    text = format_explanation(e)
    at = text.index("  timeouts.server_fin = 10s  (built-in default)\n")
    assert "the translation gives no reason" not in text[at:].split("\n")[1]
    assert not e.unattached


V6ONLY = """\
version: 1
global: {stats: {bind: "127.0.0.1:8404"}, health: {bind: "127.0.0.1:8081"}}
defaults: {health: {check: tcp}, log_format: tcplog, dontlognull: true}
frontends:
  api: {bind: ["[::]:6443"], v6only: true, pool: cp}
pools:
  cp:
    servers:
      m1: 10.0.0.1:6443
      m2: cp2.example.internal:6443
"""


def test_fields_that_write_lines_are_explained_and_not_credited_to_others(tmp_path: Path) -> None:
    """v6only's "v6only", log_format's "option tcplog" and dontlognull's "option dontlognull"
    were credited to bind[0] and global.log only: those fields were never enumerated. Written
    built-ins were not listed either (stats uri and refresh, the stats and health listeners'
    timeouts, a pool's start_unresolved)."""
    e = explained("haproxy", spec_file(tmp_path, V6ONLY))
    v6only = e.field("frontends.api.v6only")
    assert (v6only.outcome, v6only.output, v6only.line) == (
        Outcome.WRITTEN,
        ("bind [::]:6443 v6only",),
        5,
    )
    log_format = e.field("defaults.log_format")
    assert (log_format.outcome, log_format.output) == (Outcome.WRITTEN, ("option tcplog",))
    assert "option tcplog" in e.field("global.log").output  # global.log none writes neither
    dontlognull = e.field("defaults.dontlognull")
    assert (dontlognull.outcome, dontlognull.output) == (Outcome.WRITTEN, ("option dontlognull",))
    builtins = {
        "global.stats.uri": ("/stats", "stats uri /stats"),
        "global.stats.refresh": ("10s", "stats refresh 10s"),
        "global.stats.timeout": ("30s", "timeout client 30s"),
        "global.health.timeout": ("5s", "timeout client 5s"),
        "pools.cp.start_unresolved": (True, "init-addr last,libc,none"),
    }
    for path, (value, written) in builtins.items():
        report = e.field(path)
        assert (report.value, report.origin, report.outcome) == (value, None, Outcome.WRITTEN), (
            report
        )
        assert any(written in o for o in report.output), report.output
    text = format_explanation(e)
    assert "  stats.uri = /stats  (built-in default)\n      -> stats uri /stats\n" in text
    assert "defaults\n  log_format = tcplog  (line 3)\n      -> option tcplog\n" in text
    # An unset log_format is the built-in tcplog; nginx has no equivalent of these fields.
    unset = V6ONLY.replace(", log_format: tcplog, dontlognull: true", "")
    e = explained("haproxy", spec_file(tmp_path, unset))
    assert e.field("defaults.log_format").value == "tcplog"
    assert e.field("defaults.dontlognull").output == ("option dontlognull",)
    nginx = explained("nginx", spec_file(tmp_path, unset))
    assert nginx.field("frontends.api.v6only").outcome is Outcome.ENGINE_DEFAULT
    for path in ("global.stats.timeout", "global.health.timeout"):
        with pytest.raises(KeyError):
            nginx.field(path)  # nginx has no built-in value for them: nothing to explain
