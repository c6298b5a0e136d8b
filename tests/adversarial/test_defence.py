"""The rendering defence: a value that would change a config's structure raises, never renders.

Validation refuses such values first, so these tests go around it (``model_copy`` does not
validate, and an override template can print anything) to reach the defence itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import lbgen
from lbgen.cli import app
from lbgen.haproxy.view import unsafe_in_config as haproxy_unsafe
from lbgen.nginx.view import unsafe_in_config as nginx_unsafe
from lbgen.rendering import UnsafeValueError, render
from lbgen.spec.models import Spec
from lbgen.view import LAYOUTS

SPEC = """\
version: 1
name: defence
global:
  log: udp://127.0.0.1:514
  stats: {bind: "127.0.0.1:8404"}
  health: {bind: "127.0.0.1:8081", path: /healthz}
defaults:
  health: {check: http, path: /readyz, sni: api.example, client_cert: client.pem}
frontends:
  api: {bind: ["127.0.0.1:6443"], pool: cp}
pools:
  cp:
    servers: {m1: "127.0.0.1:7001", m2: "127.0.0.1:7002"}
"""

TARGET_LAYOUTS = [(t, layout) for t, layouts in LAYOUTS.items() for layout in layouts]
INJECTION = "x\n    server evil 203.0.113.66:6443"


def base_spec() -> Spec:
    return lbgen.load_spec(SPEC.encode(), filename="defence.yaml")


def renamed_pool(spec: Spec, name: str) -> Spec:
    """The spec with pool ``cp`` renamed, past validation."""
    pools = {name: spec.pools["cp"]}
    frontends = {"api": spec.frontends["api"].model_copy(update={"pool": name})}
    return spec.model_copy(update={"pools": pools, "frontends": frontends})


def with_health(spec: Spec, **fields: Any) -> Spec:
    """The spec with ``defaults.health`` fields replaced, past validation."""
    health = spec.defaults.health.model_copy(update=fields)
    return spec.model_copy(update={"defaults": spec.defaults.model_copy(update={"health": health})})


def with_log(spec: Spec, log: str) -> Spec:
    return spec.model_copy(update={"global_": spec.global_.model_copy(update={"log": log})})


@pytest.mark.parametrize(("target", "layout"), TARGET_LAYOUTS)
def test_the_base_spec_renders(target: str, layout: str) -> None:
    assert render(base_spec(), target, layout=layout).ok


@pytest.mark.parametrize(("target", "layout"), TARGET_LAYOUTS)
@pytest.mark.parametrize(
    "payload", [INJECTION, "cp\r", "cp\u2028", "cp#", "cp}", "cp;listen", "cp'", "c\x00p"]
)
def test_a_pool_name_past_validation_raises(target: str, layout: str, payload: str) -> None:
    spec = renamed_pool(base_spec(), payload)
    if target == "haproxy" and payload in ("cp;listen",):
        # ';' means nothing to HAProxy: the name stays one word of its line.
        assert "backend cp;listen" in render(spec, target, layout=layout).text
        return
    with pytest.raises(UnsafeValueError) as caught:
        render(spec, target, layout=layout)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "unsafe-value"
    assert diagnostic.file == "defence.yaml"
    assert "refusing to render" in diagnostic.message


@pytest.mark.parametrize(
    ("target", "change"),
    [
        ("haproxy", {"path": "/readyz\n    server evil 203.0.113.66:6443"}),
        ("haproxy", {"path": "/readyz #"}),
        ("haproxy", {"check": "https", "client_cert": 'c.pem"x'}),
        ("haproxy", {"check": "https", "sni": "a.example\\"}),
        ("haproxy", {"check": "tls", "sni": "a.example }"}),
        ("nginx-plus", {"path": '/readyz" ; health_check'}),  # closes the send string
        ("nginx-plus", {"path": "/x\x85"}),
    ],
)
def test_a_health_field_past_validation_raises(target: str, change: dict[str, str]) -> None:
    with pytest.raises(UnsafeValueError):
        render(with_health(base_spec(), **change), target)


@pytest.mark.parametrize(("target", "layout"), TARGET_LAYOUTS)
def test_a_log_target_past_validation_raises(target: str, layout: str) -> None:
    with pytest.raises(UnsafeValueError):
        render(with_log(base_spec(), "udp://127.0.0.1:514\n}\nhttp {"), target, layout=layout)


@pytest.mark.parametrize(
    "value",
    [
        "server a 1.2.3.4:1 check inter 5s",
        "stdout format raw local0",
        "http-check expect rstatus ^(200|204)$",
        "a;b",
        "uri /readyz?x=1&y=%41",
    ],
)
def test_haproxy_values_lbgen_prints_pass(value: str) -> None:
    assert haproxy_unsafe(value) is None


@pytest.mark.parametrize(
    "value",
    ["a\nb", "a\rb", "a#b", "'a", '"a"', "a\\ b", "{", "}", "a\x00", "a\u2028", "\ufeff", "\x85"],
)
def test_haproxy_syntax_is_refused(value: str) -> None:
    assert haproxy_unsafe(value)


@pytest.mark.parametrize(
    "value",
    [
        "hash $remote_addr consistent",
        "'$remote_addr [$time_local] $protocol \"$upstream_addr\"'",
        '"GET /readyz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n"',
        '~ "^HTTP/1\\.[01] (200|204) "',
        '"a \\" b"',
        "proxy_timeout 1h",
    ],
)
def test_nginx_values_lbgen_prints_pass(value: str) -> None:
    assert nginx_unsafe(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "a;",
        "a {",
        "}",
        "# x",
        "a\\;",
        '"open',
        "'open",
        '"a"b',
        'a"b',
        '"a\\"',
        "a\nb",
        '"a\nb"',
        "a\r",
        "a\u2029",
    ],
)
def test_nginx_syntax_is_refused(value: str) -> None:
    assert nginx_unsafe(value)


def test_the_cli_turns_the_defence_into_one_line_and_exit_2(tmp_path: Path) -> None:
    # An override template that prints a line break: the one way to reach the defence from the
    # command line, since validation stops every spec value before it.
    folder = tmp_path / "templates" / "haproxy"
    folder.mkdir(parents=True)
    (folder / "haproxy.cfg.j2").write_text(
        "global\n    log {{ 'stdout\\nlisten evil' }}\n", encoding="utf-8"
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    out = tmp_path / "haproxy.cfg"
    args = ["render", str(spec), "-t", "haproxy", "--templates", str(tmp_path / "templates")]
    result = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"{spec}: error [unsafe-value] "), lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()


def test_plain_text_is_safe_for_every_engine() -> None:
    """The guard's shortcut: what ``_PLAIN`` clears without asking the engines' checkers, each
    checker clears too. Every character alone, then strings mixing the shortcut's characters."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from lbgen.keepalived.view import unsafe_in_config as keepalived_unsafe
    from lbgen.rendering import _PLAIN

    checkers = (haproxy_unsafe, nginx_unsafe, keepalived_unsafe)
    plain = [chr(c) for c in range(0x3000) if _PLAIN.fullmatch(chr(c))]
    for char in map(chr, range(0x3000)):
        if char in plain:
            assert all(check(char) is None for check in checkers), repr(char)
    # The characters that carry syntax in some engine are not in the shortcut.
    assert not set("\"'#;{}\\$!\n\r\t") & set(plain)

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=plain, max_size=60))
    def mixed(text: str) -> None:
        assert all(check(text) is None for check in checkers), repr(text)

    mixed()
