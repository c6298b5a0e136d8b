"""Target views: decisions that golden files cannot show on their own."""

from __future__ import annotations

import lbgen
from lbgen.diagnostics import Level

BASE = """\
version: 1
defaults:
  timeouts: {connect: null, client: null}
frontends:
  api: {bind: ["127.0.0.1:16443"], pool: cp}
pools:
  cp:
    servers: {a: 127.0.0.1:17001}
"""


def test_null_haproxy_timeouts_are_warned_with_their_location() -> None:
    rendered = lbgen.render(lbgen.load_spec(BASE.encode(), filename="s.yaml"), "haproxy")
    found = {(d.code, d.line, d.col, d.path) for d in rendered.diagnostics}
    assert ("haproxy-missing-timeout", 3, 23, "defaults.timeouts.connect") in found
    assert ("haproxy-missing-timeout", 3, 37, "defaults.timeouts.client") in found
    assert "timeout connect" not in rendered.text
    assert rendered.ok  # a warning: the engine default is what the user asked for


def test_strict_makes_translation_warnings_errors() -> None:
    spec = lbgen.load_spec(BASE.encode(), filename="s.yaml")
    rendered = lbgen.render(spec, "haproxy", strict=True)
    assert not rendered.ok
    assert all(d.level is Level.ERROR for d in rendered.diagnostics if d.code.startswith("haproxy"))


def test_haproxy_never_emits_ssl_hello_or_two_check_options() -> None:
    for check in ("none", "tcp", "tls", "http", "https"):
        spec = lbgen.load_spec(
            BASE.replace(
                "timeouts: {connect: null, client: null}", f"health: {{check: {check}}}"
            ).encode()
        )
        text = lbgen.render(spec, "haproxy").text
        assert "ssl-hello-chk" not in text
        backend = text.split("backend cp", 1)[1]
        assert sum(line.strip().startswith("option ") and line.strip().endswith("chk")
                   for line in backend.splitlines()) <= 1  # fmt: skip
