"""``global.health.extra``: the liveness endpoint's other statements (kubespray's http health
server with ``location /stub_status``) survive import, render inside lbgen's own endpoint, and
``diff`` sees them change. Checked with the real engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lbgen
from lbgen.compare import diff_config
from lbgen.importer import KEPT, UNMAPPED, import_config
from lbgen.spec.models import Spec

from .engine_check import engine_check

REAL = Path(__file__).parent / "corpus" / "real"
STUB = "location /stub_status { stub_status on; access_log off; }"

BASE: dict[str, Any] = {
    "version": 1,
    "frontends": {"api": {"bind": ["127.0.0.1:6443"], "pool": "cp"}},
    "pools": {"cp": {"servers": {"m1": "127.0.0.1:7001"}}},
}


def _spec(health: dict[str, Any], **more: Any) -> Spec:
    return Spec.model_validate({**BASE, "global": {"health": health, **more}})


def _nginx_ok(text: str) -> None:
    check = engine_check(text, "nginx", strict=False)
    if check.load_module:
        check = engine_check(f"load_module {check.load_module};\n{text}", "nginx")
    assert check.ok, check.output


def test_kubespray_health_server_round_trips_with_its_stub_status() -> None:
    for name in ("kubespray-nginx.conf", "kubespray-nginx-dualstack.conf"):
        text = (REAL / name).read_text()
        result = import_config(text, name, "nginx")
        spec = lbgen.load_spec(result.yaml_text.encode(), filename="k.yaml")
        assert spec.global_.health is not None
        assert spec.global_.health.extra.nginx == [STUB]
        # lbgen's http endpoint writes the health location's "access_log off" itself.
        assert not [d for d in result.diagnostics if d.code == UNMAPPED and "healthz" in d.message]
        assert any(d.code == KEPT and "global.health.extra.nginx" in d.message
                   for d in result.diagnostics)  # fmt: skip
        assert diff_config(spec, "nginx", text, name).changes == (), name
        rendered = lbgen.render(spec, "nginx", layout="full")
        # One http block: the endpoint goes inside the spec's http section.
        assert rendered.text.count("\nhttp {") == 1
        assert f"        {STUB}\n" in rendered.text
        _nginx_ok(rendered.text)
        # A changed or deleted stub_status location is a difference.
        changed = text.replace("stub_status on;", "stub_status off;")
        assert diff_config(spec, "nginx", changed, name).changes != ()
        start = text.index("    location /stub_status")
        deleted = text[:start] + text[text.index("}", start) + 1 :]
        kinds = [c.kind for c in diff_config(spec, "nginx", deleted, name).changes]
        assert kinds == ["added"], kinds


def test_http_endpoint_without_an_http_section_gets_its_own_block() -> None:
    spec = _spec({"bind": ["127.0.0.1:8081", "[::1]:8081"], "path": "/livez",
                  "extra": {"nginx": [STUB, "server_tokens off"]}})  # fmt: skip
    rendered = lbgen.render(spec, "nginx", layout="full")
    assert rendered.text.count("\nhttp {") == 1
    assert "location /livez {" in rendered.text and "        server_tokens off;\n" in rendered.text
    assert [d.code for d in rendered.diagnostics if d.code.startswith("nginx-health")] == [
        "nginx-health-http"
    ]
    _nginx_ok(rendered.text)
    # It reads back as the endpoint with the same statements: equivalent to itself.
    assert diff_config(spec, "nginx", rendered.text, "n.conf").changes == ()
    # Without the extras lbgen's stream listener is not the same endpoint.
    plain = _spec({"bind": ["127.0.0.1:8081", "[::1]:8081"], "path": "/livez"})
    assert diff_config(plain, "nginx", rendered.text, "n.conf").changes != ()


def test_other_layouts_and_engines_warn_and_bad_items_are_errors() -> None:
    spec = _spec({"bind": ":8081", "extra": {"nginx": [STUB]}})
    stream = lbgen.render(spec, "nginx", layout="stream")
    assert [d.path for d in stream.diagnostics if d.code == "nginx-extra-layout"] == [
        "global.health.extra.nginx"
    ]
    assert "stub_status" not in stream.text and 'return "HTTP/1.0 200' in stream.text
    haproxy = lbgen.render(spec, "haproxy")
    assert [d.path for d in haproxy.diagnostics if d.code == "extra-other-engine"] == [
        "global.health.extra.nginx"
    ]
    bad = _spec({"bind": ":8081", "extra": {"nginx": ["upstream x { server 127.0.0.1:1; }"]}})
    result = lbgen.render(bad, "nginx", layout="full", allow_errors=True)
    assert [d.path for d in result.diagnostics if d.code == "extra-nginx"] == [
        "global.health.extra.nginx[0]"
    ]
    assert not result.ok


def test_haproxy_lines_go_inside_the_health_frontend() -> None:
    line = "http-request deny if { src 192.0.2.0/24 }"
    spec = _spec({"bind": "127.0.0.1:8081", "extra": {"haproxy": [line]}})
    rendered = lbgen.render(spec, "haproxy")
    section = rendered.text[rendered.text.index("frontend lbgen-health") :]
    assert f"    {line}\n" in section.split("\n\n")[0]
    check = engine_check(rendered.text, "haproxy")
    assert check.ok, check.output
    changed = rendered.text.replace("192.0.2.0/24", "198.51.100.0/24")
    assert len(diff_config(spec, "haproxy", changed, "h.cfg").changes) == 2


def test_a_health_server_from_an_included_file_stays_in_it(tmp_path: Path) -> None:
    (tmp_path / "health.conf").write_text(
        "server {\n  listen 127.0.0.1:8081;\n"
        "  location /healthz { return 200; }\n  location /stub_status { stub_status; }\n}\n"
    )
    main = tmp_path / "nginx.conf"
    main.write_text(
        "events {}\nstream {\n  upstream cp { server 127.0.0.1:7001; }\n"
        "  server { listen 127.0.0.1:6443; proxy_pass cp; }\n}\n"
        f"http {{\n  include {tmp_path / 'health.conf'};\n}}\n"
    )
    result = import_config(main.read_text(), str(main), "nginx")
    spec = lbgen.load_spec(result.yaml_text.encode(), filename="i.yaml")
    # Not lbgen's endpoint: the kept include brings the server in, once.
    assert spec.global_.health is None
    assert "from an included file stays there" in result.yaml_text
    assert spec.global_.extra.nginx_sections == {"http": [f"include {tmp_path / 'health.conf'};"]}
    assert diff_config(spec, "nginx", main.read_text(), str(main)).changes == ()
