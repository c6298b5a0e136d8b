"""The escape hatch (``extra``): diff sees extras as directives, import keeps what the spec cannot
say, and what lbgen writes itself is not written twice. Checked with the real engines."""

from __future__ import annotations

from typing import Any

import lbgen
from lbgen.compare import diff_config
from lbgen.importer import KEPT, UNMAPPED, import_config
from lbgen.spec.models import Spec

from .engine_check import engine_check

BASE: dict[str, Any] = {
    "version": 1,
    "frontends": {"api": {"bind": ["127.0.0.1:6443"], "pool": "cp"}},
    "pools": {"cp": {"servers": {"m1": "127.0.0.1:7001"}}},
}

KIND = """\
global
  log /dev/log local0
  nbthread 2
  tune.bufsize 32768
resolvers docker
  nameserver dns 127.0.0.11:53
defaults
  mode tcp
  timeout connect 5s
  timeout client 50s
  timeout server 50s
  default-server init-addr none
frontend control-plane
  bind 127.0.0.1:6443
  tcp-request inspect-delay 5s
  default_backend kube-apiservers
backend kube-apiservers
  fullconn 100
  server c1 127.0.0.1:16443 check resolvers docker resolve-prefer ipv4
"""


def _spec(**extra: Any) -> Spec:
    doc: dict[str, Any] = {**BASE, **extra}
    return Spec.model_validate(doc)


def test_haproxy_import_keeps_every_line_and_diff_sees_a_deleted_one() -> None:
    result = import_config(KIND, "kind.cfg", "haproxy")
    assert [d for d in result.diagnostics if d.code == UNMAPPED] == []
    kept = {d.message.split(":")[0] for d in result.diagnostics if d.code == KEPT}
    assert {"nbthread 2", "tune.bufsize 32768", "resolvers docker", "fullconn 100"} <= kept
    spec = lbgen.load_spec(result.yaml_text.encode(), filename="kind.yaml")
    assert spec.global_.extra.haproxy_sections == {
        "resolvers docker": ["nameserver dns 127.0.0.11:53"]
    }
    server = spec.pools["kube-apiservers"].servers["c1"]
    # One item per keyword with its argument; default-server words land on the server.
    assert server.extra.haproxy == ["resolvers docker", "resolve-prefer ipv4", "init-addr none"]
    rendered = lbgen.render(spec, "haproxy")
    assert engine_check(rendered.text, "haproxy", strict=False).ok
    # Left aside: the logging lines lbgen adds to its defaults for global.log (their own fields).
    kept_changes = [c for c in diff_config(spec, "haproxy", KIND, "kind.cfg").changes
                    if "log" not in c.setting]  # fmt: skip
    assert kept_changes == []
    # Deleting one from the running config is a difference, named at its section.
    for line, scope in [("  tune.bufsize 32768\n", "global"), ("  fullconn 100\n", "backend"),
                        ("  nameserver dns 127.0.0.11:53\n", "resolvers docker")]:  # fmt: skip
        changes = diff_config(spec, "haproxy", KIND.replace(line, ""), "kind.cfg").changes
        found = [(c.kind, c.scope, c.setting) for c in changes if line.strip() in c.setting]
        assert found and found[0][0] == "added" and found[0][1].startswith(scope), changes


def test_nginx_http_block_round_trips_and_its_deletion_is_seen() -> None:
    config = (
        "worker_processes 2;\nevents {}\n"
        "stream {\n  upstream cp { server 127.0.0.1:7001; }\n"
        "  server { listen 127.0.0.1:6443; proxy_pass cp; tcp_nodelay on; }\n}\n"
        "http {\n  server_tokens off;\n"
        "  server { listen 127.0.0.1:8080; location /stub_status { stub_status; } }\n}\n"
    )
    result = import_config(config, "nginx.conf", "nginx")
    spec = lbgen.load_spec(result.yaml_text.encode(), filename="n.yaml")
    assert spec.global_.extra.nginx == ["worker_processes 2;"]
    assert spec.global_.extra.nginx_sections is not None
    assert "server_tokens off;" in spec.global_.extra.nginx_sections["http"]
    assert spec.frontends["cp"].extra.nginx == ["tcp_nodelay on;"]
    assert diff_config(spec, "nginx", config, "nginx.conf").changes == ()
    rendered = lbgen.render(spec, "nginx", layout="full")
    # The config's worker_processes replaces lbgen's "auto": nginx refuses a duplicate.
    assert rendered.text.count("worker_processes") == 1
    check = engine_check(rendered.text, "nginx", strict=False)
    if check.load_module:
        check = engine_check(f"load_module {check.load_module};\n{rendered.text}", "nginx")
    assert check.ok, check.output
    without = config.replace("  server_tokens off;\n", "")
    changes = diff_config(spec, "nginx", without, "nginx.conf").changes
    assert [(c.kind, c.scope, c.setting) for c in changes] == [
        ("added", "http", "server_tokens off;")
    ]


def test_the_events_block_and_the_workers_are_compared_and_round_trip() -> None:
    """A whole nginx.conf's events block (worker_connections and the rest) and its worker count
    are compared: diff once skipped the events block entirely, and called an absent
    worker_processes (one worker) the same as lbgen's "auto". Import keeps both, the events
    lines in the events block lbgen writes."""
    config = (
        "events {\n  worker_connections 768;\n  multi_accept on;\n}\n"
        "stream {\n  upstream cp { server 127.0.0.1:7001; }\n"
        "  server { listen 127.0.0.1:6443; proxy_pass cp; }\n}\n"
    )
    result = import_config(config, "nginx.conf", "nginx")
    spec = lbgen.load_spec(result.yaml_text.encode(), filename="n.yaml")
    assert spec.global_.maxconn == 768
    assert spec.global_.extra.nginx == ["worker_processes 1;"]
    assert spec.global_.extra.nginx_sections == {"events": ["multi_accept on;"]}
    assert diff_config(spec, "nginx", config, "nginx.conf").changes == ()
    rendered = lbgen.render(spec, "nginx", layout="full")
    events = rendered.text.split("events {\n", 1)[1].split("}", 1)[0]
    assert events.split() == ["worker_connections", "768;", "multi_accept", "on;"]
    check = engine_check(rendered.text, "nginx", strict=False)
    if check.load_module:
        check = engine_check(f"load_module {check.load_module};\n{rendered.text}", "nginx")
    assert check.ok, check.output
    for edited, setting in (
        (config.replace("768", "1024"), "worker_connections"),
        (config.replace("  multi_accept on;\n", ""), "multi_accept on;"),
        ("worker_processes auto;\n" + config, "worker_processes"),
    ):
        changes = diff_config(spec, "nginx", edited, "nginx.conf").changes
        assert [c.setting for c in changes] == [setting], changes


def test_extras_for_the_other_engine_warn_once_per_list_and_strict_fails() -> None:
    spec = _spec(
        defaults={"extra": {"nginx": ["proxy_buffer_size 32k"]}},
        frontends={"api": {"bind": ["127.0.0.1:6443"], "pool": "cp",
                           "extra": {"nginx": ["tcp_nodelay on", "tcp_nodelay off"]}}},
    )  # fmt: skip
    rendered = lbgen.render(spec, "haproxy")
    warned = [d.path for d in rendered.diagnostics if d.code == "extra-other-engine"]
    assert warned == ["defaults.extra.nginx", "frontends.api.extra.nginx"]
    assert "tcp_nodelay" not in rendered.text
    strict = lbgen.render(spec, "haproxy", strict=True, allow_errors=True)
    assert not strict.ok


def test_a_server_or_pool_list_for_the_other_engine_warns_in_any_pool() -> None:
    # The view passes over pools and servers without such a list: one in the last server of
    # the last pool, or in a pool's own block, must still be found, in spec order.
    servers = {f"s{i}": f"10.0.0.{i + 1}:6443" for i in range(3)}
    last = {**servers, "s3": {"address": "10.0.0.9:6443", "extra": {"nginx": ["max_conns=5"]}}}
    spec = _spec(
        frontends={"api": {"bind": ["127.0.0.1:6443"], "pool": "b"}},
        pools={"a": {"servers": servers, "extra": {"nginx": ["zone a 64k"]}},
               "b": {"servers": last}},
    )  # fmt: skip
    rendered = lbgen.render(spec, "haproxy")
    warned = [d.path for d in rendered.diagnostics if d.code == "extra-other-engine"]
    assert warned == ["pools.a.extra.nginx", "pools.b.servers.s3.extra.nginx"]
    for engine in ("nginx", "nginx-plus"):
        assert not [d for d in lbgen.render(spec, engine).diagnostics
                    if d.code == "extra-other-engine"]  # fmt: skip


def test_the_render_guard_passes_checked_statements_but_never_a_line_break() -> None:
    import pytest

    from lbgen.rendering import UnsafeValueError, make_environment
    from lbgen.view import Verbatim

    template = make_environment().from_string("{{ v }}")
    # Syntax characters of a statement the engine's parser has checked pass as they are...
    assert template.render(v=Verbatim("server { listen 80; }")) == "server { listen 80; }"
    # ...the same text as a plain value does not, and a line break never does.
    with pytest.raises(UnsafeValueError):
        template.render(v="server { listen 80; }")
    with pytest.raises(UnsafeValueError):
        template.render(v=Verbatim("maxconn 1\nbackend evil"))


def test_an_nginx_extra_crossplane_cannot_read_is_said_so() -> None:
    """Not import's hint for a whole file ("is it an haproxy.cfg? try --from haproxy")."""
    spec = lbgen.load_spec(
        b"version: 1\n"
        b"frontends: {api: {bind: [':6443'], pool: cp,\n"
        b"  extra: {nginx: ['proxy_timeout 1s # } {']}}}\n"
        b"pools: {cp: {servers: {m1: 10.0.0.1:6443}}}\n",
        filename="x.yaml",
    )
    rendered = lbgen.render(spec, "nginx", allow_errors=True)
    [error] = [d for d in rendered.diagnostics if d.code == "extra-nginx"]
    assert error.message.endswith(
        "crossplane cannot split it into nginx statements (a brace or quote unbalanced?)"
    )
    assert "haproxy" not in error.message
