"""lbgen import of HAProxy configs with several ``defaults`` sections: each proxy takes the
settings of one of them (the last before it, or the one its ``from`` names), and the import
keeps only those, where they act (HAProxy manual, section 4: "Those default parameters are reset
by the next 'defaults' section")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

import lbgen
from lbgen.compare import DiffResult, diff_config
from lbgen.diagnostics import Diagnostic, Level
from lbgen.importer import KEPT, LOSSY, NOT_IN_EFFECT, ImportResult, import_config
from lbgen.runners import LocalRunner
from tests.engine_check import engine_check

# Debian's stock haproxy.cfg, shortened, with a defaults section appended for the API server.
STOCK_THEN_APPENDED = """\
global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option httplog
    option log-health-checks
    option tcpka
    default-server on-marked-down shutdown-sessions
    timeout connect 5s
    timeout client 30s
    timeout server 30s
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend f
    bind 127.0.0.1:16443
    default_backend b
backend b
    server m1 127.0.0.1:17001 check
"""

# Two defaults sections, each taken by the proxies after it.
SPLIT = """\
defaults
    mode tcp
    option splice-auto
    option log-health-checks
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend f1
    bind 127.0.0.1:16443
    no option splice-auto
    default_backend b1
backend b1
    server m1 127.0.0.1:17001 check
defaults
    mode tcp
    option tcpka
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend f2
    bind 127.0.0.1:16444
    default_backend b2
backend b2
    server m2 127.0.0.1:17002 check
"""

# HAProxy 2.6's named defaults: the proxies name theirs with "from", a later section does not
# replace it for them; "child" starts from "base".
NAMED = """\
defaults base
    mode tcp
    option tcpka
    timeout connect 5s
    timeout client 1h
    timeout server 1h
defaults child from base
    option splice-auto
defaults unused
    mode tcp
    option log-health-checks
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend f from child
    bind 127.0.0.1:16443
    default_backend b
backend b from child
    server m1 127.0.0.1:17001 check
"""


def _import(text: str, name: str = "lb.cfg") -> ImportResult:
    return import_config(text, name, "haproxy")


def _redo(result: ImportResult, text: str) -> DiffResult:
    spec = lbgen.load_spec(result.yaml_text.encode(), filename="imported.yaml")
    return diff_config(spec, "haproxy", text, "lb.cfg")


def _data(result: ImportResult) -> Any:
    return YAML(typ="safe").load(result.yaml_text)


def _extra(block: dict[str, Any]) -> list[str]:
    return list(block.get("extra", {}).get("haproxy", []))


def _codes(result: ImportResult, code: str) -> list[Diagnostic]:
    return [d for d in result.diagnostics if d.code == code]


def _haproxy() -> None:
    if not LocalRunner().available("haproxy"):
        pytest.skip("haproxy is not installed")


def test_a_replaced_defaults_section_is_left_out_with_one_note() -> None:
    result = _import(STOCK_THEN_APPENDED)
    assert result.ok
    data = _data(result)
    assert "extra" not in data["defaults"]
    assert data["pools"]["b"]["servers"]["m1"] == "127.0.0.1:17001"  # no default-server words
    for line in ("httplog", "log-health-checks", "tcpka", "on-marked-down"):
        assert line not in result.yaml_text
    (note,) = _codes(result, NOT_IN_EFFECT)
    assert (note.level, note.file, note.line, note.col) == (Level.NOTE, "lb.cfg", 3, 1)
    for line in ("log global", "option httplog", "option log-health-checks", "option tcpka",
                 "default-server on-marked-down shutdown-sessions"):  # fmt: skip
        assert line in note.message
    assert "lb.cfg:13 replaces it" in note.message
    assert "\n" not in note.message
    # Nothing of the replaced section is named as kept, and the import is exact.
    assert not [d for d in _codes(result, KEPT) if d.line is not None and 3 <= d.line <= 12]
    assert not _codes(result, LOSSY)
    assert _redo(result, STOCK_THEN_APPENDED).equivalent


def test_the_engine_accepts_the_rendered_import_as_it_accepts_the_original() -> None:
    # The oracle: haproxy -c -dW (warnings are fatal) accepts the original, whose replaced
    # defaults' "option httplog" acts on nothing. Copied into lbgen's one defaults section,
    # it would act on the tcp frontend, and HAProxy warns that it falls back to tcplog.
    _haproxy()
    assert engine_check(STOCK_THEN_APPENDED, "haproxy").ok
    spec = lbgen.load_spec(_import(STOCK_THEN_APPENDED).yaml_text.encode(), filename="x.yaml")
    rendered = lbgen.render(spec, "haproxy")
    result = engine_check(rendered.text, "haproxy")
    assert result.ok, result.output


@pytest.mark.parametrize("text", [SPLIT, NAMED], ids=["split", "named"])
def test_the_engine_accepts_both_sides(text: str) -> None:
    _haproxy()
    assert engine_check(text, "haproxy").ok
    spec = lbgen.load_spec(_import(text).yaml_text.encode(), filename="x.yaml")
    result = engine_check(lbgen.render(spec, "haproxy").text, "haproxy")
    assert result.ok, result.output


def test_no_log_keeps_a_proxy_silent_when_its_defaults_section_does_not_log() -> None:
    # global.log makes lbgen write "log global" in its defaults; the config's proxies take
    # a defaults section without it (the one with it was replaced): they log nothing.
    data = _data(_import(STOCK_THEN_APPENDED))
    assert data["global"]["log"] == "stdout"
    assert _extra(data["frontends"]["f"]) == ["no log"]
    assert _extra(data["pools"]["b"]) == ["no log"]


def test_lines_of_a_section_only_some_proxies_take_go_to_those_proxies() -> None:
    result = _import(SPLIT)
    assert result.ok
    data = _data(result)
    assert "extra" not in data.get("defaults", {})
    # Before the proxy's own lines, as HAProxy applies them: f1's "no option splice-auto"
    # still wins.
    assert _extra(data["frontends"]["f1"]) == ["option splice-auto", "no option splice-auto"]
    assert _extra(data["pools"]["b1"]) == ["option splice-auto", "option log-health-checks"]
    assert _extra(data["frontends"]["f2"]) == ["option tcpka"]
    assert _extra(data["pools"]["b2"]) == ["option tcpka"]
    assert not _codes(result, LOSSY)
    assert not _codes(result, NOT_IN_EFFECT)
    assert _redo(result, SPLIT).equivalent


def test_named_defaults_and_from() -> None:
    result = _import(NAMED)
    assert result.ok
    data = _data(result)
    # Every imported proxy takes child, and through it base.
    assert _extra(data["defaults"]) == ["option tcpka", "option splice-auto"]
    (note,) = _codes(result, NOT_IN_EFFECT)
    assert (note.line, note.col) == (9, 1)
    assert note.message.startswith("defaults unused: no imported proxy takes its settings")
    assert "option log-health-checks" in note.message
    assert not _codes(result, LOSSY)
    assert _redo(result, NAMED).equivalent


def test_a_backend_only_line_of_a_section_only_frontends_take_is_left_out() -> None:
    text = SPLIT.replace("    default_backend b1\n", "    default_backend b2\n").replace(
        "backend b1\n    server m1 127.0.0.1:17001 check\n", ""
    )
    # b2 takes the second section: the first one's log-health-checks acts on no pool.
    result = _import(text)
    (note,) = _codes(result, NOT_IN_EFFECT)
    assert note.line == 1
    assert "option log-health-checks: no imported proxy that takes this section acts on it" in (
        note.message
    )
    assert "option log-health-checks" not in result.yaml_text
    assert not _codes(result, LOSSY)
    assert _redo(result, text).equivalent


def test_the_bug_hunt_repro(tmp_path: Path) -> None:
    # lbgen import then lbgen diff against the original, as the report ran them.
    from typer.testing import CliRunner

    from lbgen.cli import app

    config = tmp_path / "t-twodefaults.cfg"
    config.write_text(STOCK_THEN_APPENDED)
    spec = tmp_path / "x.yaml"
    runner = CliRunner()
    imported = runner.invoke(app, ["import", str(config), "-o", str(spec)])
    assert imported.exit_code == 0, imported.output
    diffed = runner.invoke(app, ["diff", str(spec), "-t", "haproxy", "--against", str(config)])
    assert diffed.exit_code == 0, diffed.output
    assert diffed.stdout.strip() == "equivalent"
