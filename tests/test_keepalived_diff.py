"""``lbgen diff SPEC -t keepalived --node N --against keepalived.conf``: keepalived.conf read back
(tokenizer, blocks, comments, quotes) into the effective VRRP model and compared with the node's
rendering; ``import`` refuses a keepalived.conf by name."""

from __future__ import annotations

from pathlib import Path

import pytest

import lbgen
from lbgen.compare import diff_config
from lbgen.confparse.tree import ParseError
from lbgen.diagnostics import SpecError
from lbgen.keepalived.effective import read_effective
from lbgen.keepalived.syntax import parse_keepalived, tokenize, unquote
from tests.support import run_lbgen

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
    line, a one-line block, 0.20 for 0.2, a VIP without dev on the instance's interface, a
    value written twice (the last wins), the order of the peers."""
    text = rendered()
    start = text.index("vrrp_instance")
    instance = text[start:]
    reformatted = (
        text[:start].replace("global_defs {", "! the globals\nglobal_defs\n{")
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
