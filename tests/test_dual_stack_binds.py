"""Issue 10 items 5 (dual-stack binds) and 6 (the reader accepts what HAProxy accepts)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lbgen.haproxy.syntax import parse_haproxy
from tests.support import run_lbgen

HEAD = """\
global
  log stdout format raw local0
defaults
  mode tcp
  timeout connect 5s
  timeout client 50s
  timeout server 50s
"""
TAIL = "backend api\n  server a 192.0.2.11:6443 id 7\n"


def _import(tmp_path: Path, text: str, name: str = "in.cfg") -> tuple[str, str]:
    config = tmp_path / name
    config.write_text(text)
    out = tmp_path / "spec.yaml"
    result = run_lbgen("import", str(config), "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out.read_text(), result.stderr


def _render(tmp_path: Path, spec: str, target: str) -> str:
    path = tmp_path / "r.yaml"
    path.write_text(spec)
    result = run_lbgen("render", str(path), "-t", target, "-o", "-")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_unindented_body_keywords_are_body_lines() -> None:
    text = (
        "global\n    maxconn 10\nulimit-n 4096\ntune.bufsize 16384\n\nprogram x\n"
        "command /bin/true\n"
    )
    tree = parse_haproxy(text)
    assert [n.keyword for n in tree.nodes[0].children] == ["maxconn", "ulimit-n", "tune.bufsize"]
    assert [n.keyword for n in tree.nodes[1].children] == ["command"]


def test_bind_with_stray_semicolon_is_read_as_haproxy_reads_it(tmp_path: Path) -> None:
    spec, _ = _import(
        tmp_path, HEAD + "frontend api\n  bind :::6443;\n  default_backend api\n" + TAIL
    )
    assert 'bind: ["[::]:6443"]' in spec
    assert "HAProxy ignores ';'" in spec
    assert "bind [::]:6443 v4v6" in _render(tmp_path, spec, "haproxy")


def test_v4v6_stays_dual_stack_and_v6only_stays_v6only(tmp_path: Path) -> None:
    spec, _ = _import(
        tmp_path, HEAD + "frontend api\n  bind :::6443 v4v6\n  default_backend api\n" + TAIL
    )
    assert "v6only" not in spec
    assert "bind [::]:6443 v4v6" in _render(tmp_path, spec, "haproxy")
    assert "listen [::]:6443 ipv6only=off;" in _render(tmp_path, spec, "nginx")
    spec, _ = _import(
        tmp_path, HEAD + "frontend api\n  bind :::6443 v6only\n  default_backend api\n" + TAIL
    )
    assert "v6only: true" in spec
    assert "bind [::]:6443 v6only" in _render(tmp_path, spec, "haproxy")
    assert "listen [::]:6443;" in _render(tmp_path, spec, "nginx")


def test_ipv4_and_ipv6_wildcards_on_one_port(tmp_path: Path) -> None:
    spec, _ = _import(
        tmp_path,
        HEAD + "frontend api\n  bind *:6443\n  bind :::6443\n  default_backend api\n" + TAIL,
    )
    haproxy = _render(tmp_path, spec, "haproxy")
    # HAProxy binds with SO_REUSEPORT: both sockets listen, as in the original.
    assert "bind :6443\n    bind [::]:6443 v4v6" in haproxy
    nginx = _render(tmp_path, spec, "nginx")
    # nginx does not: beside "listen 6443" the IPv6 socket must be IPv6-only or bind() collides.
    assert "listen 6443;\n        listen [::]:6443;" in nginx
    conf = tmp_path / "n.conf"
    conf.write_text("load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n" + nginx)
    assert "ipv6only=off" not in nginx


def test_redundant_overlapping_bind_is_no_spec_bind_but_keeps_listening(tmp_path: Path) -> None:
    """The spec refuses a bind beside the wildcard of its port; HAProxy listens on both, so the
    line stays verbatim in the frontend's extra (no socket lost) and is named in a note. Shared
    with another address on one line it cannot be kept alone: dropped with a warning."""
    spec, stderr = _import(
        tmp_path,
        HEAD
        + "frontend api\n  bind *:16444\n  bind 127.0.0.1:16444\n  default_backend api\n"
        + TAIL,
    )
    assert 'bind: [":16444"]' in spec
    assert "- bind 127.0.0.1:16444" in spec
    assert "bind 127.0.0.1:16444: redundant beside bind :16444" in stderr
    assert "kept verbatim in frontends.api.extra.haproxy" in stderr
    spec, stderr = _import(
        tmp_path,
        HEAD
        + "frontend api\n  bind *:16444\n  bind 127.0.0.1:16444,127.0.0.2:16444\n"
        + "  default_backend api\n"
        + TAIL,
    )
    assert "- bind 127.0.0.1" not in spec
    assert "bind 127.0.0.1:16444: redundant beside bind :16444" in stderr and "dropped" in stderr


def test_health_frontend_with_two_binds_is_global_health(tmp_path: Path) -> None:
    health = (
        "frontend healthz\n  bind 0.0.0.0:8081\n  bind :::8081\n  mode http\n"
        "  monitor-uri /healthz\n"
    )
    spec, stderr = _import(
        tmp_path, HEAD + health + "frontend api\n  bind :6443\n  default_backend api\n" + TAIL
    )
    assert 'bind: [":8081", "[::]:8081"]' in spec
    assert "mode http" not in stderr
    haproxy = _render(tmp_path, spec, "haproxy")
    assert "bind :8081\n    bind [::]:8081 v4v6\n" in haproxy


def test_nginx_http_health_server_is_global_health(tmp_path: Path) -> None:
    text = (
        "events {}\nstream {\n  upstream api { server 192.0.2.11:6443; }\n"
        "  server { listen 6443; proxy_pass api; }\n}\n"
        "http {\n  server_tokens off;\n  server {\n    listen 8081;\n    location /livez {\n"
        "      access_log off;\n      return 200;\n    }\n  }\n}\n"
    )
    spec, stderr = _import(tmp_path, text, "n.conf")
    assert 'bind: ":8081"' in spec and "path: /livez" in spec
    # The rest of the http {} block is kept verbatim; what is inside the health server is named.
    assert "http:\n        - server_tokens off;" in spec
    assert "location /livez { access_log off }" in stderr
    assert "listen 8081;" in _render(tmp_path, spec, "nginx")


def test_unmapped_server_keyword_is_one_warning_with_its_argument(tmp_path: Path) -> None:
    _, stderr = _import(
        tmp_path, HEAD + "frontend api\n  bind :6443\n  default_backend api\n" + TAIL
    )
    assert stderr.count("id 7: no spec field") == 1


def test_rendered_dual_stack_configs_start(tmp_path: Path) -> None:
    spec, _ = _import(
        tmp_path,
        HEAD + "frontend api\n  bind *:6443\n  bind :::6443\n  default_backend api\n" + TAIL,
    )
    cfg = tmp_path / "h.cfg"
    cfg.write_text(_render(tmp_path, spec, "haproxy"))
    check = subprocess.run(
        ["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr


def test_a_dual_stack_bind_beside_an_ipv4_address_on_its_port_starts_in_nginx(
    tmp_path: Path,
) -> None:
    """``[::]:P`` in one frontend, ``127.0.0.1:P`` in another: HAProxy listens on both (it sets
    SO_REUSEPORT); nginx did not start ("bind() to 127.0.0.1:P failed (98: Address already in
    use)") behind ``ipv6only=off``. The IPv6 socket is IPv6-only there now, with a warning that
    says what IPv4 clients lose; the oracle is the sockets the real nginx listens on, in a
    network namespace of its own."""
    import lbgen
    from tests import corpus_engines

    spec = lbgen.load_spec(
        b"version: 1\nfrontends:\n  a: {bind: ['[::]:26443'], pool: cp}\n"
        b"  b: {bind: ['127.0.0.1:26443'], pool: cp}\n"
        b"pools: {cp: {servers: {m1: 127.0.0.1:6443}}}\n",
        filename="ds.yaml",
    )
    rendered = lbgen.render(spec, "nginx", layout="full")
    assert "listen [::]:26443;" in rendered.text and "ipv6only=off" not in rendered.text
    warning = next(d for d in rendered.diagnostics if d.code == "nginx-single-stack")
    assert (warning.line, warning.col) == (3, 14), warning
    if corpus_engines.can_isolate() and corpus_engines.binary("nginx") is not None:
        listened = corpus_engines.listening("nginx", rendered.text, tmp_path)
        assert not listened.error, listened.error
        assert listened.sockets == {"127.0.0.1:26443", "[::]:26443"}
