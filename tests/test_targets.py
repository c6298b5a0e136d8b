"""Target views: decisions that golden files cannot show on their own."""

from __future__ import annotations

import pytest

import lbgen
from lbgen.diagnostics import Level
from lbgen.haproxy.effective import CHECK_OPTIONS

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
    with pytest.raises(lbgen.RenderError) as raised:  # the library refuses to hand out the text
        lbgen.render(spec, "haproxy", strict=True)
    errors = [d for d in raised.value.diagnostics if d.code.startswith("haproxy")]
    assert errors and all(d.level is Level.ERROR for d in errors)
    rendered = lbgen.render(spec, "haproxy", strict=True, allow_errors=True)
    assert not rendered.ok
    assert rendered.diagnostics == raised.value.diagnostics


@pytest.mark.parametrize(
    ("check", "expected"),
    [("none", []), ("tcp", []), ("tls", ["tcp-check"]), ("http", ["httpchk"]),
     ("https", ["httpchk"])],
)  # fmt: skip
def test_haproxy_never_emits_ssl_hello_or_two_check_options(
    check: str, expected: list[str]
) -> None:
    """Every check-type option counts (``option tcp-check`` too, not only ``...chk``)."""
    spec = lbgen.load_spec(
        BASE.replace(
            "timeouts: {connect: null, client: null}", f"health: {{check: {check}}}"
        ).encode()
    )
    text = lbgen.render(spec, "haproxy").text
    assert "ssl-hello-chk" not in text
    backend = text.split("backend cp", 1)[1]
    options = [
        line.split()[1] for line in backend.splitlines() if line.strip().startswith("option ")
    ]
    assert [option for option in options if option in CHECK_OPTIONS] == expected


PLUS_HTTP = """\
version: 1
defaults:
  health: {check: http, path: /readyz, expect: EXPECT}
frontends:
  api: {bind: ["127.0.0.1:16443"], pool: cp}
pools:
  cp:
    servers: {a: 127.0.0.1:17001}
"""


def test_nginx_plus_match_follows_expect() -> None:
    listed = lbgen.render(lbgen.load_spec(PLUS_HTTP.replace("EXPECT", "[200, 204]").encode()),
                          "nginx-plus").text  # fmt: skip
    assert 'expect ~ "^HTTP/1\\.[01] (200|204) ";' in listed
    unset = lbgen.render(lbgen.load_spec(PLUS_HTTP.replace("EXPECT", "null").encode()),
                         "nginx-plus").text  # fmt: skip
    assert "match lbgen_cp {" in unset
    assert "expect" not in unset.split("match lbgen_cp {", 1)[1].split("}", 1)[0]


def test_nginx_plus_match_without_expect_imports_back() -> None:
    from lbgen.compare import diff_config
    from lbgen.importer import import_config

    spec = lbgen.load_spec(PLUS_HTTP.replace("EXPECT", "null").encode())
    text = lbgen.render(spec, "nginx-plus").text
    imported = import_config(text, "plus.conf")
    again = lbgen.load_spec(imported.yaml_text.encode())
    assert diff_config(again, "nginx-plus", text, "plus.conf").equivalent


def test_backup_servers_may_keep_a_plain_weight_in_a_percent_pool() -> None:
    spec = lbgen.load_spec(
        b"version: 1\nfrontends: {api: {bind: [':6443'], pool: cp}}\npools:\n  cp:\n"
        b"    servers:\n      a: {address: 127.0.0.1:7001, weight: '30%'}\n"
        b"      b: {address: 127.0.0.1:7002, weight: '70%'}\n"
        b"      c: {address: 127.0.0.1:7003, backup: true}\n"
    )
    text = lbgen.render(spec, "haproxy").text
    assert "server a 127.0.0.1:7001 check check-ssl verify none weight 30" in text
    assert "server c 127.0.0.1:7003 check check-ssl verify none backup" in text


def test_log_host_name_is_warned_for_both_engines() -> None:
    rest = (
        b"frontends: {api: {bind: [':6443'], pool: cp}}\n"
        b"pools: {cp: {servers: {a: 127.0.0.1:7001}}}\n"
    )
    spec = lbgen.load_spec(b"version: 1\nglobal: {log: 'udp://logs.example.internal:514'}\n" + rest)
    for target in ("haproxy", "nginx"):
        codes = {(d.code, d.path) for d in lbgen.render(spec, target).diagnostics}
        assert ("log-host-at-start", "global.log") in codes
    ip_spec = lbgen.load_spec(b"version: 1\nglobal: {log: 'udp://127.0.0.1:514'}\n" + rest)
    assert "log-host-at-start" not in {d.code for d in lbgen.render(ip_spec, "haproxy").diagnostics}


def test_dns_named_servers_are_warned_for_both_engines() -> None:
    spec = lbgen.load_spec(
        b"version: 1\nfrontends: {api: {bind: [':6443'], pool: cp}}\n"
        b"pools: {cp: {servers: {a: 127.0.0.1:7001, b: 'cp2.example.internal:6443'}}}\n",
        filename="s.yaml",
    )
    expected = {"haproxy": "haproxy-dns-at-start", "nginx": "nginx-dns-at-start"}
    for target, code in expected.items():
        found = [d for d in lbgen.render(spec, target).diagnostics if d.code == code]
        # One warning, at the address that names the host (server a is an IP: none).
        assert [(d.path, d.line, d.col, d.level) for d in found] == [
            ("pools.cp.servers.b.address", 3, 46, Level.WARNING)
        ], found
        assert "cp2.example.internal once at start" in found[0].message


def test_names_the_readers_rely_on_come_from_one_module() -> None:
    """The templates get lbgen's own names from the view, the importer from lbgen.names."""
    from pathlib import Path

    from lbgen.importer import import_config
    from lbgen.names import HEALTH_FRONTEND, LOG_FORMAT, STATS_FRONTEND

    templates = Path(__file__).resolve().parents[1] / "templates"
    for template in templates.rglob("*.j2"):
        text = template.read_text()
        assert STATS_FRONTEND not in text and HEALTH_FRONTEND not in text, template
        assert f"log_format {LOG_FORMAT} " not in text, template
    spec = lbgen.load_spec(
        BASE.replace(
            "defaults:",
            'global:\n  stats: {bind: "127.0.0.1:8404"}\n  health: {bind: "127.0.0.1:8081"}\n'
            "  log: stdout\ndefaults:",
        ).encode()
    )
    haproxy = lbgen.render(spec, "haproxy").text
    assert f"frontend {STATS_FRONTEND}\n" in haproxy and f"frontend {HEALTH_FRONTEND}\n" in haproxy
    assert import_config(haproxy, "h.cfg", "haproxy").diagnostics == []
    nginx = lbgen.render(spec, "nginx", layout="stream").text
    assert f"log_format {LOG_FORMAT} " in nginx
    assert import_config(nginx, "n.conf", "nginx").diagnostics == []
