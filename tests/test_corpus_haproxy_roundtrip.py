"""The last HAProxy round-trip differences of the real-world corpus (issue 10): the stats page's
and liveness endpoint's client timeouts, ``stats uri`` without ``stats enable``,
``option ssl-hello-chk``, ``http-check expect string`` and ``init-addr``. Each is imported from a
real config and the imported spec, rendered again, is equivalent to it under ``lbgen diff``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

import lbgen
from lbgen.compare import diff_config
from lbgen.effective import effective
from lbgen.haproxy.syntax import parse_haproxy
from lbgen.importer import ImportResult, import_config, import_file
from tests.test_haproxy_semantics import Upstream, running

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "corpus" / "real"
HAPROXY = shutil.which("haproxy")


def _data(result: ImportResult) -> Any:
    return YAML(typ="safe").load(result.yaml_text)


def _changes(result: ImportResult, path: Path) -> list[str]:
    spec = lbgen.load_spec(result.yaml_text.encode(), filename="imported.yaml")
    return [str(c) for c in diff_config(spec, "haproxy", path.read_text(), str(path)).changes]


def _haproxy_accepts(text: str, tmp_path: Path) -> None:
    if HAPROXY is None:
        pytest.skip("haproxy is not installed")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    check = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


# --- 1. the stats page's and liveness endpoint's client timeouts ------------------------------


@pytest.mark.parametrize(
    ("name", "block", "timeout"),
    [
        ("cluster-api-capd-haproxy.cfg", "stats", "50s"),  # from its defaults
        ("ocp4-helpernode-haproxy.cfg", "stats", "4h"),
        ("kubekey-haproxy.cfg", "health", "30s"),
        ("kubespray-haproxy.cfg", "health", "5m"),
        ("openshift-mco-onprem-haproxy.cfg", "health", "1d"),
        ("openshift-mco-onprem-haproxy.cfg", "stats", "1d"),
    ],
)
def test_own_listeners_keep_their_client_timeout(name: str, block: str, timeout: str) -> None:
    path = REAL / name
    result = import_file(path)
    assert _data(result)["global"][block]["timeout"] == timeout
    assert _changes(result, path) == []


def test_own_listener_timeouts_render_and_default_to_lbgen_values(tmp_path: Path) -> None:
    base = (
        "version: 1\nglobal:\n  stats: {{bind: '127.0.0.1:8404'{s}}}\n"
        "  health: {{bind: '127.0.0.1:8081'{h}}}\n"
        "frontends:\n  api: {{bind: ['127.0.0.1:6443'], pool: cp}}\n"
        "pools:\n  cp: {{servers: {{m1: '127.0.0.1:7001'}}}}\n"
    )
    plain = lbgen.render(lbgen.load_spec(base.format(s="", h="").encode()), "haproxy").text
    assert "    timeout client 30s\n    stats enable\n" in plain
    assert "    timeout client 5s\n    monitor-uri /healthz\n" in plain
    spec = base.format(s=", timeout: 1h", h=", timeout: 50s")
    text = lbgen.render(lbgen.load_spec(spec.encode()), "haproxy").text
    assert "    timeout client 1h\n    stats enable\n" in text
    assert "    timeout client 50s\n    monitor-uri /healthz\n" in text
    _haproxy_accepts(text, tmp_path)
    back = _data(import_config(text, "lb.cfg", "haproxy"))["global"]
    assert (back["stats"]["timeout"], back["health"]["timeout"]) == ("1h", "50s")
    warned = lbgen.render(lbgen.load_spec(spec.encode()), "nginx").diagnostics
    assert any(d.path == "global.health.timeout" for d in warned)


# --- 2. "stats uri" (and every other stats keyword of a proxy) turns the page on -------------

_PAGE = (
    "defaults\n    mode http\n    timeout client 5s\n    timeout connect 5s\n"
    "    timeout server 5s\n"
    "listen stats\n    bind 127.0.0.1:{port}\n{lines}"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("line", ["stats uri /haproxy_stats", "stats auth admin:admin"])
def test_a_stats_line_without_stats_enable_serves_the_page(tmp_path: Path, line: str) -> None:
    """The real engine serves the page without ``stats enable``, and the effective model says
    so: the section equals the one that writes ``stats enable`` too."""
    if HAPROXY is None:
        pytest.skip("haproxy is not installed")
    port = _free_port()
    config = _PAGE.format(port=port, lines=f"    {line}\n")
    uri = "/haproxy_stats" if "uri" in line else "/haproxy?stats"
    with running(config, tmp_path, port), socket.create_connection(("127.0.0.1", port), 5) as c:
        c.sendall(f"GET {uri} HTTP/1.0\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\n\r\n".encode())
        c.settimeout(5)
        answer = b""
        while chunk := c.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"Statistics Report" in answer
    plain = effective(parse_haproxy(config, "a.cfg")).frontends["stats"]
    enabled = config.replace(f"    {line}\n", f"    stats enable\n    {line}\n")
    assert plain == effective(parse_haproxy(enabled, "b.cfg")).frontends["stats"]
    assert "stats enable" in plain.extras


def test_a_frontend_without_stats_lines_gets_no_stats_enable() -> None:
    config = _PAGE.format(port=9000, lines="    monitor-uri /healthz\n")
    assert "stats enable" not in effective(parse_haproxy(config, "a.cfg")).frontends["stats"].extras


def test_k8s_ha_autoinstall_stats_page_round_trips() -> None:
    path = REAL / "k8s-ha-autoinstall-haproxy.cfg"
    assert _changes(import_file(path), path) == []


# --- 3. option ssl-hello-chk -------------------------------------------------------------------

_SSL_HELLO_SPEC = """\
version: 1
frontends:
  api: {bind: ["127.0.0.1:6443"], pool: cp}
pools:
  cp:
    health: {check: ssl-hello}
    servers: {m1: "127.0.0.1:7001", m2: "127.0.0.1:7002"}
"""


def test_ssl_hello_chk_imports_as_itself() -> None:
    path = REAL / "kubeadm-ha-considerations.cfg"
    result = import_file(path)
    assert _data(result)["defaults"]["health"]["check"] == "ssl-hello"
    assert not [d for d in result.diagnostics if "ssl-hello" in d.message]
    assert _changes(result, path) == []


def test_ssl_hello_renders_for_haproxy_and_is_lossy_on_nginx(tmp_path: Path) -> None:
    spec = lbgen.load_spec(_SSL_HELLO_SPEC.encode())
    out = lbgen.render(spec, "haproxy")
    assert "    option ssl-hello-chk\n" in out.text
    assert "    server m1 127.0.0.1:7001 check\n" in out.text  # no check-ssl, no verify
    assert [d.code for d in out.diagnostics] == ["haproxy-ssl-hello"]
    _haproxy_accepts(out.text, tmp_path)
    assert "check: ssl-hello" in import_config(out.text, "lb.cfg", "haproxy").yaml_text
    for target in ("nginx", "nginx-plus"):
        found = [d.message for d in lbgen.render(spec, target).diagnostics]
        assert any("ssl-hello" in m for m in found), (target, found)


def test_ssl_hello_notes_the_fields_it_does_not_use() -> None:
    text = _SSL_HELLO_SPEC.replace(
        "{check: ssl-hello}", "{check: ssl-hello, sni: api.example, client_cert: c.pem}"
    )
    rendered = lbgen.render(lbgen.load_spec(text.encode()), "haproxy")
    unused = [d for d in rendered.diagnostics if d.code == "health-unused"]
    assert [d.fields for d in unused] == [("health.client_cert", "health.sni")]
    assert "sni" not in rendered.text.split("backend cp", 1)[1]
    assert "crt" not in rendered.text.split("backend cp", 1)[1]


# --- 4. http-check expect string ---------------------------------------------------------------

_BODY_SPEC = """\
version: 1
frontends:
  api: {{bind: ["127.0.0.1:{port}"], pool: cp}}
pools:
  cp:
    health: {{check: http, path: /readyz, interval: 100ms, rise: 1, fall: 1{extra}}}
    servers: {{m1: "127.0.0.1:{upstream}"}}
"""


def test_expect_string_imports_as_expect_body() -> None:
    path = REAL / "openshift-install-configs-upi.cfg"
    result = import_file(path)
    health = _data(result)["pools"]["api-server-6443"]["health"]
    assert (health["expect"], health["expect_body"]) == (None, "ok")
    assert not [c for c in _changes(result, path) if "expect" in c]


def _server_state(sock_path: Path) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(sock_path))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    rows = [line.split(",") for line in data.decode().splitlines() if line.startswith("cp,m1,")]
    return rows[0][17]  # the "status" column


@pytest.mark.parametrize(("body", "state"), [("ok", "UP"), ("nope", "DOWN")])
def test_haproxy_runs_the_status_and_the_string_rule(tmp_path: Path, body: str, state: str) -> None:
    """Both rules run on the answer (200 with body "ok"): the string one decides."""
    if HAPROXY is None:
        pytest.skip("haproxy is not installed")
    upstream = Upstream()
    upstream.start()
    try:
        port = _free_port()
        spec = _BODY_SPEC.format(port=port, upstream=upstream.port, extra=f", expect_body: {body}")
        text = lbgen.render(lbgen.load_spec(spec.encode()), "haproxy").text
        assert f"    http-check expect status 200\n    http-check expect string {body}\n" in text
        sock_path = tmp_path / "stats.sock"
        text = text.replace("global\n", f"global\n    stats socket {sock_path}\n", 1)
        seen = ""
        with running(text, tmp_path, port):
            for _ in range(100):  # generous: checks run every 100 ms
                seen = _server_state(sock_path)
                if seen in ("UP", "DOWN") and seen == state:
                    break
                time.sleep(0.1)
        assert seen == state
    finally:
        upstream.stop()


def test_expect_body_on_nginx(tmp_path: Path) -> None:
    spec = lbgen.load_spec(
        _BODY_SPEC.format(
            port=6443, upstream=7001, extra=", expect: null, expect_body: ok"
        ).encode()
    )
    plus = lbgen.render(spec, "nginx-plus")
    assert '    expect ~ "ok";\n' in plus.text
    assert not [d for d in plus.diagnostics if d.path.endswith("expect_body")]
    oss = lbgen.render(spec, "nginx").diagnostics
    assert [d.path for d in oss if d.path.endswith("expect_body")] == [
        "pools.cp.health.expect_body"
    ]
    both = _BODY_SPEC.format(port=6443, upstream=7001, extra=", expect_body: ok")
    lost = lbgen.render(lbgen.load_spec(both.encode()), "nginx-plus").diagnostics
    assert [d.path for d in lost if d.path.endswith("expect_body")] == [
        "pools.cp.health.expect_body"
    ]


# --- 5. init-addr: start_unresolved ------------------------------------------------------------

_DNS_SPEC = """\
version: 1
defaults: {{health: {{check: tcp}}{extra}}}
frontends:
  api: {{bind: ["127.0.0.1:16443"], pool: cp}}
pools:
  cp:
    servers: {{m1: "m1.lbgen-test.invalid:6443"}}
"""


def _starts_without_dns(text: str, tmp_path: Path) -> bool:
    """``haproxy -c`` in a network namespace of its own, where no name resolves."""
    if HAPROXY is None or shutil.which("unshare") is None:
        pytest.skip("haproxy or unshare is missing")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    check = subprocess.run(
        ["unshare", "-n", HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True
    )
    if "unshare" in check.stderr and check.returncode != 0 and "haproxy" not in check.stderr:
        pytest.skip(f"cannot make a network namespace: {check.stderr.strip()}")
    return check.returncode == 0


@pytest.mark.parametrize(("extra", "starts"), [("", True), (", start_unresolved: false", False)])
def test_start_unresolved_decides_whether_haproxy_starts(
    tmp_path: Path, extra: str, starts: bool
) -> None:
    spec = lbgen.load_spec(_DNS_SPEC.format(extra=extra).encode())
    text = lbgen.render(spec, "haproxy").text
    assert ("init-addr last,libc,none" in text) is starts
    assert _starts_without_dns(text, tmp_path) is starts
    # and import reads the choice back from the config
    back = _data(import_config(text, "lb.cfg", "haproxy"))
    assert back["defaults"].get("start_unresolved") is (None if starts else False)


def test_a_config_without_init_addr_imports_start_unresolved_false() -> None:
    path = REAL / "openshift-install-configs-upi.cfg"
    result = import_file(path)
    assert _data(result)["defaults"]["start_unresolved"] is False
    assert _changes(result, path) == []
