"""``lbgen diff SPEC -t keepalived --node N --against keepalived.conf``: keepalived.conf read back
(tokenizer, blocks, comments, quotes) into the effective VRRP model and compared with the node's
rendering; ``import`` refuses a keepalived.conf by name."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import lbgen
from lbgen.compare import diff_config
from lbgen.confparse.tree import ParseError
from lbgen.diagnostics import SpecError
from lbgen.keepalived.effective import read_effective
from lbgen.keepalived.syntax import parse_keepalived, tokenize, unquote
from lbgen.runners.local import LocalRunner
from tests.support import node_namespace, run_lbgen

ROOT = Path(__file__).resolve().parents[1]
TIER = ROOT / "examples" / "ha-tier.yaml"
SPEC = lbgen.load_spec(TIER)

VARIANTS = {
    "example": TIER.read_text(encoding="utf-8"),
    "v2-auth-nopreempt-multicast": TIER.read_text(encoding="utf-8").replace(
        "  virtual_router_id: 51\n",
        "  virtual_router_id: 51\n  version: 2\n  advert_interval: 1s\n  auth_pass: s3cret\n"
        "  preempt: false\n  unicast: false\n",
    ),
    "dual-stack": TIER.read_text(encoding="utf-8")
    .replace("addresses: [192.0.2.100/24]", "addresses: [192.0.2.100/24, 2001:db8::100/64]")
    .replace("address: 192.0.2.11}", "address: [192.0.2.11, 2001:db8::11]}")
    .replace("address: 192.0.2.12}", "address: [192.0.2.12, 2001:db8::12]}")
    .replace("address: 192.0.2.13}", "address: [192.0.2.13, 2001:db8::13]}"),
}


def rendered(node: str = "lb1", spec: lbgen.Spec = SPEC) -> str:
    return lbgen.render(spec, "keepalived", node=node).text


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    """A network namespace with an eth0, where ``keepalived -t`` judges the configs (it checks
    them for the machine it runs on: the instance's interface must exist)."""
    if os.geteuid() != 0:
        pytest.fail("the keepalived checks need root (network namespaces)")
    with node_namespace("kdiff") as name:
        yield name


def keepalived_says(netns: str, text: str) -> tuple[bool, str]:
    """``keepalived -t`` on ``text`` inside ``netns``, through lbgen's own local check (which
    checks a copy with ``script_user root`` when keepalived 2.2.7 kills its own check of a
    non-root script user): whether it accepts the config, and what it says."""
    result = LocalRunner(command_prefix=["ip", "netns", "exec", netns]).check(
        text, "keepalived", filename="keepalived.conf"
    )
    return result.ok, result.output


def accepted(netns: str, *texts: str) -> None:
    """keepalived accepts each of ``texts``: a config people can have, not a syntax error."""
    for text in texts:
        ok, output = keepalived_says(netns, text)
        assert ok, f"{output}\n{text}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_nodes_rendering_is_equivalent_to_itself_and_differs_from_the_others(
    variant: str,
) -> None:
    spec = lbgen.load_spec(VARIANTS[variant].encode())
    assert spec.vip is not None
    texts = {node.name: rendered(node.name, spec) for node in spec.vip.nodes}
    for name, text in texts.items():
        result = diff_config(spec, "keepalived", text, "k.conf", node=name)
        assert result.equivalent and result.drift is None, result.text()
        for other in texts:
            if other != name:
                result = diff_config(spec, "keepalived", text, "k.conf", node=other)
                assert not result.equivalent
                assert f"global_defs: router_id {name} → {other} (k.conf:8)" in result.text()


def test_hand_edits_are_reported_with_their_lines() -> None:
    text = rendered()
    edited = (
        text.replace("priority 110", "priority 120")
        .replace("advert_int 0.2", "advert_int 1")
        .replace("192.0.2.100/24 dev eth0", "192.0.2.101/24 dev eth0")
        .replace("192.0.2.13\n", "192.0.2.14\n")
        .replace("    weight -20", "    weight -5")
        .replace("    nopreempt\n", "")
        .replace("preempt_delay 1", "preempt_delay 3")
    )
    result = diff_config(SPEC, "keepalived", edited, "k.conf", node="lb1")
    assert result.text().splitlines() == [
        f"vrrp_script lbgen_ready: weight -5 → -20 (k.conf:{line_of(edited, 'weight -5')})",
        f"vrrp_instance lbgen_ipv4: priority 120 → 110 (k.conf:{line_of(edited, 'priority 120')})",
        f"vrrp_instance lbgen_ipv4: advert_int 1 → 0.2 (k.conf:{line_of(edited, 'advert_int 1')})",
        "vrrp_instance lbgen_ipv4: preempt_delay 3 → 1 "
        f"(k.conf:{line_of(edited, 'preempt_delay 3')})",
        "vrrp_instance lbgen_ipv4: unicast_peer {192.0.2.12, 192.0.2.14} → "
        f"{{192.0.2.12, 192.0.2.13}} (k.conf:{line_of(edited, '192.0.2.14')})",
        "vrrp_instance lbgen_ipv4: virtual_ipaddress {192.0.2.101/24 dev eth0} → "
        f"{{192.0.2.100/24 dev eth0}} (k.conf:{line_of(edited, '192.0.2.101')})",
    ]


def test_spellings_comments_and_layout_do_not_count() -> None:
    """What keepalived reads the same is the same: comments (# and !), a brace on the next
    line, a quoted router_id, a one-line block, 0.20 for 0.2, a VIP without dev on the
    instance's interface, a value written twice (the last wins), the order of the peers."""
    text = rendered()
    start = text.index("vrrp_instance")
    instance = text[start:]
    reformatted = (
        text[:start]
        .replace("global_defs {", "! the globals\nglobal_defs\n{")
        .replace("router_id lb1", 'router_id "lb1"')
        + "# the instance\n"
        + instance.replace("advert_int 0.2", "advert_int 0.20  # five a second")
        .replace(
            "    virtual_ipaddress {\n        192.0.2.100/24 dev eth0\n    }",
            "    virtual_ipaddress { 192.0.2.100/24 }",
        )
        .replace("    state BACKUP\n", "    state BACKUP\n    priority 90\n")
        .replace(
            "    unicast_peer {\n        192.0.2.12\n        192.0.2.13\n    }",
            "    unicast_peer {\n        192.0.2.13\n        192.0.2.12\n    }",
        )
    )
    assert reformatted != text
    tree = parse_keepalived(reformatted, "k.conf")
    assert read_effective(tree) == read_effective(parse_keepalived(text, "x"))
    result = diff_config(SPEC, "keepalived", reformatted, "k.conf", node="lb1")
    assert result.equivalent, result.text()


def test_auth_pass_is_cut_to_eight_characters_as_keepalived_does() -> None:
    spec = lbgen.load_spec(VARIANTS["v2-auth-nopreempt-multicast"].encode())
    text = rendered("lb2", spec)
    assert "auth_pass s3cret\n" in text and "nopreempt" in text
    longer = text.replace("auth_pass s3cret", "auth_pass s3cret12xyz")
    line = line_of(longer, "auth_pass")
    assert diff_config(spec, "keepalived", longer, "k.conf", node="lb2").text().splitlines() == [
        f"vrrp_instance lbgen_ipv4: auth_pass s3cret12 → s3cret (k.conf:{line})"
    ]
    preempting = text.replace("    nopreempt\n", "")
    result = diff_config(spec, "keepalived", preempting, "k.conf", node="lb2")
    assert result.text().startswith("vrrp_instance lbgen_ipv4: nopreempt no → yes (k.conf:")


def test_the_tokenizer_keeps_quoted_strings_whole() -> None:
    (tokens,) = tokenize('script "/bin/x \\"a # b\\" {}" ! comment', "k.conf")
    assert [t.text for t in tokens] == ["script", '"/bin/x \\"a # b\\" {}"']
    assert unquote(tokens[1].text) == '/bin/x "a # b" {}'
    with pytest.raises(ParseError, match="unclosed double quote"):
        tokenize('router_id "lb1', "k.conf")


@pytest.mark.parametrize(
    ("broken", "where", "message"),
    [
        (("priority 110", "priority high"), "priority", "priority: 'high' is not a valid value"),
        (("advert_int 0.2", "advert_int -1"), "advert_int", "advert_int: '-1' is not a valid"),
        (("    192.0.2.12\n", "    192.0.2.x\n"), "192.0.2.x", "'192.0.2.x' is not an IP address"),
        (("vrrp_instance lbgen_ipv4 {", "vrrp_instance lbgen_ipv4 {{"), "vrrp_instance", "'{'"),
        (("router_id lb1", 'router_id "lb1'), "router_id", "unclosed double quote"),
    ],
)
def test_a_broken_file_is_one_error_line_and_exit_2(
    tmp_path: Path, broken: tuple[str, str], where: str, message: str
) -> None:
    text = rendered().replace(*broken)
    assert text != rendered()
    path = tmp_path / "keepalived.conf"
    path.write_text(text, encoding="utf-8")
    result = run_lbgen(
        "diff", str(TIER), "-t", "keepalived", "--node", "lb1", "--against", str(path)
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{path}:{line_of(text, where)}:"), lines[0]
    assert message in lines[0], lines[0]


def test_an_unclosed_block_names_where_it_opens() -> None:
    text = rendered()
    cut = text[: text.rindex("}")]
    with pytest.raises(SpecError) as caught:
        parse_keepalived(cut, "k.conf")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.line == line_of(text, "vrrp_instance")
    assert "'vrrp_instance' opened here is never closed" in diagnostic.message


def test_cli_exit_codes_and_refusals(tmp_path: Path) -> None:
    good = tmp_path / "keepalived.conf"
    good.write_text(rendered(), encoding="utf-8")
    args = ("diff", str(TIER), "-t", "keepalived", "--against", str(good))
    result = run_lbgen(*args, "--node", "lb1")
    assert result.returncode == 0 and result.stdout == "equivalent\n", result.stderr
    result = run_lbgen(*args, "--node", "lb3")
    assert result.returncode == 1
    assert f"vrrp_instance lbgen_ipv4: priority 110 → 100 ({good}:" in result.stdout
    result = run_lbgen(*args)
    assert result.returncode == 2 and "name it with --node" in result.stderr
    # A proxy target against a keepalived.conf, keepalived against a spec: named, exit 2.
    result = run_lbgen("diff", str(TIER), "-t", "haproxy", "--against", str(good))
    assert result.returncode == 2 and "looks like a keepalived config" in result.stderr
    result = run_lbgen(*args[:-1], str(TIER), "--node", "lb1")
    assert result.returncode == 2 and "does not look like a keepalived config" in result.stderr
    # import: a keepalived.conf lacks the proxy part of a spec.
    result = run_lbgen("import", str(good))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "a keepalived.conf cannot be imported" in result.stderr


def test_lint_refuses_a_keepalived_conf_by_name(tmp_path: Path) -> None:
    """lint has no keepalived rules: one line naming what to use instead, exit 2 (read as nginx
    it used to come out as a list of misplaced-directive errors)."""
    conf = tmp_path / "keepalived.conf"
    conf.write_text(rendered(), encoding="utf-8")
    result = run_lbgen("lint", str(conf))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "lint-keepalived" in lines[0] and "-t keepalived" in lines[0], lines[0]
    assert "LB1" not in lines[0]


# --- lines the model has no field for, and keepalived's own defaults ----------------------------

MULTICAST = TIER.read_text(encoding="utf-8").replace(
    "  virtual_router_id: 51\n", "  virtual_router_id: 51\n  unicast: false\n  preempt_delay: 0s\n"
)
"""The example without unicast peers and preempt_delay, which keepalived's strict mode refuses."""


def test_lines_the_model_does_not_read_are_differences_at_their_lines(netns: str) -> None:
    """A line lbgen does not write changes what keepalived does, so it is a difference, not
    skipped: ``vrrp_strict`` (keepalived.conf(5): strict VRRP, which implies no_accept: its
    own sample config has it), ``no_accept`` (the VIP drops what is sent to it), a script's
    ``user`` and ``init_fail``, a ``static_ipaddress`` block. keepalived accepts each edit."""
    spec = lbgen.load_spec(MULTICAST.encode())
    text = rendered("lb1", spec)
    edited = (
        text.replace("    script_user nobody\n", "    script_user nobody\n    vrrp_strict\n")
        .replace("    timeout 1\n    fall 2\n", "    timeout 1\n    user root\n    fall 2\n")
        .replace("    rise 1\n", "    rise 1\n    init_fail\n")
        .replace("    state BACKUP\n", "    state BACKUP\n    no_accept\n")
        + "\nstatic_ipaddress {\n    198.51.100.1/24 dev eth0\n}\n"
    )
    accepted(netns, text, edited)
    result = diff_config(spec, "keepalived", edited, "k.conf", node="lb1")
    assert result.text().splitlines() == [
        f"global_defs: vrrp_strict: removed (k.conf:{line_of(edited, 'vrrp_strict')})",
        f"vrrp_script lbgen_ready: user root: removed (k.conf:{line_of(edited, 'user root')})",
        f"vrrp_script lbgen_alive: init_fail: removed (k.conf:{line_of(edited, 'init_fail')})",
        f"vrrp_instance lbgen_ipv4: no_accept: removed (k.conf:{line_of(edited, 'no_accept')})",
        f"static_ipaddress: removed (k.conf:{line_of(edited, 'static_ipaddress')})",
    ]
    # The same lines spelled and ordered otherwise are the same lines.
    respelled = (
        edited.replace("    vrrp_strict\n", "")
        .replace("    router_id lb1\n", '    vrrp_strict\n    router_id "lb1"\n')
        .replace("    198.51.100.1/24 dev eth0\n", '    "198.51.100.1/24"  dev   eth0\n')
    )
    assert respelled != edited
    assert read_effective(parse_keepalived(respelled, "k.conf")) == read_effective(
        parse_keepalived(edited, "x")
    )


def test_lines_outside_the_vrrp_blocks_are_differences_too() -> None:
    """Top-level lines and blocks lbgen does not write: one change each, at its line."""
    text = rendered() + (
        "\ninclude /etc/keepalived/extra.conf\n"
        "virtual_server 192.0.2.100 6443 {\n    delay_loop 6\n}\n"
    )
    result = diff_config(SPEC, "keepalived", text, "k.conf", node="lb1")
    assert result.text().splitlines() == [
        f"include /etc/keepalived/extra.conf: removed (k.conf:{line_of(text, 'include')})",
        f"virtual_server 192.0.2.100 6443: removed (k.conf:{line_of(text, 'virtual_server')})",
    ]


def test_a_script_without_timeout_times_out_after_its_interval(netns: str) -> None:
    """keepalived runs a script with ``vscript->timeout ? vscript->timeout : vscript->interval``
    (vrrp_scheduler.c; keepalived.conf(5) of later releases: "timeout ... (default =
    interval)"): no ``timeout`` is a timeout of the interval, which lbgen writes as 1."""
    text = rendered()
    without = text.replace("    timeout 1\n", "")
    accepted(netns, text, without)
    result = diff_config(SPEC, "keepalived", without, "k.conf", node="lb1")
    assert result.equivalent, result.text()
    slower = without.replace("    interval 1\n", "    interval 3\n", 1)
    line = line_of(slower, "interval 3")
    assert diff_config(SPEC, "keepalived", slower, "k.conf", node="lb1").text().splitlines() == [
        f"vrrp_script lbgen_ready: interval 3 → 1 (k.conf:{line})",
        f"vrrp_script lbgen_ready: timeout 3 → 1 (k.conf:{line_of(slower, 'vrrp_script')})",
    ]


def test_an_ipv6_instance_without_a_version_runs_vrrpv3(netns: str) -> None:
    """keepalived.conf(5): ``vrrp_version`` is the default "but IPv6 instances will always
    use version 3"; vrrp.c (vrrp_complete_instance): an instance given no ``version`` runs
    VRRPv3 when it is IPv6, else the global ``vrrp_version``. keepalived -t shows which one it
    runs: a 0.2 s ``advert_int`` exists in VRRPv3 only, and for a VRRPv2 instance it says
    "(NAME) VRRPv2 advertisement interval 0.200000s must be an integer"."""
    spec = lbgen.load_spec(VARIANTS["dual-stack"].encode())
    text = rendered("lb2", spec)
    # The global version moved into the IPv4 instance; the IPv6 one has none.
    moved = text.replace("    vrrp_version 3\n", "").replace(
        "vrrp_instance lbgen_ipv4 {\n", "vrrp_instance lbgen_ipv4 {\n    version 3\n"
    )
    # A global vrrp_version 2 is the IPv4 instances' default only.
    global_two = moved.replace("    router_id lb2\n", "    router_id lb2\n    vrrp_version 2\n")
    for config in (text, moved, global_two):
        ok, output = keepalived_says(netns, config)
        assert ok and "VRRPv2" not in output, output
        result = diff_config(spec, "keepalived", config, "k.conf", node="lb2")
        assert result.equivalent, result.text()
    # Without its version the IPv4 instance runs the global 2: keepalived and the diff say so.
    ipv4_two = global_two.replace("    version 3\n", "")
    ok, output = keepalived_says(netns, ipv4_two)
    assert "(lbgen_ipv4) VRRPv2 advertisement interval" in output, output
    assert "(lbgen_ipv6) VRRPv2" not in output, output
    line = line_of(ipv4_two, "vrrp_version 2")
    result = diff_config(spec, "keepalived", ipv4_two, "k.conf", node="lb2")
    assert result.text().splitlines() == [
        f"vrrp_instance lbgen_ipv4: vrrp_version 2 → 3 (k.conf:{line})"
    ]
    # A version 2 given to an IPv6 instance before its first address is kept (vrrp_parser.c
    # refuses it only once the instance is IPv6).
    start = text.index("vrrp_instance lbgen_ipv6")
    early = text[:start] + text[start:].replace(
        "    state BACKUP\n", "    state BACKUP\n    version 2\n"
    )
    ok, output = keepalived_says(netns, early)
    assert "(lbgen_ipv6) VRRPv2 advertisement interval" in output, output
    assert (
        read_effective(parse_keepalived(early, "k.conf")).vrrp_instance["lbgen_ipv6"].vrrp_version
        == 2
    )


def test_weight_reverse_is_part_of_the_weight(netns: str) -> None:
    """``weight N reverse`` (keepalived.conf(5), vrrp_script and track_script) applies the
    weight while the script succeeds instead of while it fails: a difference, not an
    unreadable file. A track_script entry without ``reverse``/``noreverse`` takes the script's
    (vrrp_track.c alloc_track_script)."""
    text = rendered()
    reverse = text.replace("    weight -20\n", "    weight -20 reverse\n")
    tracked_reverse = text.replace(
        "        lbgen_ready\n", "        lbgen_ready weight -20 reverse\n"
    )
    noreverse = text.replace("        lbgen_ready\n", "        lbgen_ready weight -20 noreverse\n")
    accepted(netns, reverse, tracked_reverse, noreverse)
    result = diff_config(SPEC, "keepalived", reverse, "k.conf", node="lb1")
    line = line_of(reverse, "weight -20 reverse")
    assert result.text().splitlines() == [
        f"vrrp_script lbgen_ready: weight -20 reverse → -20 (k.conf:{line})"
    ]
    result = diff_config(SPEC, "keepalived", tracked_reverse, "k.conf", node="lb1")
    line = line_of(tracked_reverse, "lbgen_ready weight")
    assert result.text().splitlines() == [
        "vrrp_instance lbgen_ipv4: track_script {lbgen_alive, lbgen_ready weight -20 reverse} → "
        f"{{lbgen_alive, lbgen_ready}} (k.conf:{line})"
    ]
    assert diff_config(SPEC, "keepalived", noreverse, "k.conf", node="lb1").equivalent
    # Inherited: the script says reverse, the entry gives a weight only.
    both = reverse.replace("        lbgen_ready\n", "        lbgen_ready weight -20\n")
    model = read_effective(parse_keepalived(both, "k.conf"))
    assert (
        model.vrrp_instance["lbgen_ipv4"]
        == read_effective(parse_keepalived(reverse, "k.conf")).vrrp_instance["lbgen_ipv4"]
    )


def test_a_track_script_weight_is_compared_as_the_weight_keepalived_applies(netns: str) -> None:
    """keepalived.conf(5), vrrp_instance track_script: "an unspecified weight means that the
    default weight declared in the script will be used". An entry that gives the script's own
    weight applies what an entry without one does; another weight is a difference."""
    text = rendered()
    same = text.replace("        lbgen_ready\n", "        lbgen_ready weight -20\n")
    other = text.replace("        lbgen_ready\n", "        lbgen_ready weight -10\n")
    accepted(netns, text, same, other)
    result = diff_config(SPEC, "keepalived", same, "k.conf", node="lb1")
    assert result.equivalent, result.text()
    result = diff_config(SPEC, "keepalived", other, "k.conf", node="lb1")
    assert result.text().splitlines() == [
        "vrrp_instance lbgen_ipv4: track_script {lbgen_alive, lbgen_ready weight -10} → "
        f"{{lbgen_alive, lbgen_ready}} (k.conf:{line_of(other, 'lbgen_ready weight')})"
    ]
