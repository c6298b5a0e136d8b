"""lbgen import: existing configs into specs, the round trip over every golden case, and the
well-known setups."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from typer.testing import CliRunner

import lbgen
from lbgen.cli import app
from lbgen.compare import DiffResult, diff_config
from lbgen.diagnostics import Diagnostic, Level, SpecError
from lbgen.importer import (
    KEPT,
    LOSSY,
    RENDER_OPTION,
    SKIPPED,
    UNMAPPED,
    ImportResult,
    import_config,
    import_file,
)
from tests.engine_check import engine_check
from tests.support import run_lbgen

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "cases"
CONFIGS = ROOT / "tests" / "fixtures" / "configs"
runner = CliRunner()


def data(result: ImportResult) -> Any:
    return YAML(typ="safe").load(result.yaml_text)


def redo(result: ImportResult, path: Path, target: str) -> DiffResult:
    """Diff of the imported spec, rendered for ``target``, against the original config."""
    spec = lbgen.load_spec(result.yaml_text.encode(), filename="imported.yaml")
    return diff_config(spec, target, path.read_text(), str(path))


def warned_lines(diagnostics: list[Diagnostic]) -> set[int | None]:
    codes = {UNMAPPED, SKIPPED, LOSSY}
    return {d.line for d in diagnostics if d.code in codes and d.level is Level.WARNING}


def messages(result: ImportResult) -> str:
    return "\n".join(d.message for d in result.diagnostics)


# --- round trip: import(render(spec)) renders to an equivalent config ---------------------------


def _round_trips() -> list[tuple[str, str, str]]:
    """(case, target, layout) for every golden case and every target it renders to without
    errors: haproxy, and nginx in its stream (default) and full layouts."""
    out = []
    for case in sorted(p for p in CASES.iterdir() if (p / "spec.yaml").is_file()):
        spec = lbgen.load_spec(case / "spec.yaml")
        for target, layout in (("haproxy", "full"), ("nginx", "stream"), ("nginx", "full")):
            if lbgen.render(spec, target, layout=layout, allow_errors=True).ok:
                out.append((case.name, target, layout))
    return out


ROUND_TRIPS = _round_trips()


def test_the_round_trip_covers_every_golden_case() -> None:
    cases = {p.name for p in CASES.iterdir() if (p / "spec.yaml").is_file()}
    assert len(cases) >= 30
    assert {c for c, t, _ in ROUND_TRIPS if t == "haproxy"} == cases
    # nginx refuses only what its translation rejects (balance first, backup with hashing).
    refused = cases - {c for c, t, layout in ROUND_TRIPS if t == "nginx" and layout == "stream"}
    for name in refused:
        rendered = lbgen.render(
            lbgen.load_spec(CASES / name / "spec.yaml"), "nginx", allow_errors=True
        )
        assert any(
            d.code.startswith("nginx-") for d in rendered.diagnostics if d.level.name == "ERROR"
        )


@pytest.mark.parametrize(("case", "target", "layout"), ROUND_TRIPS,
                         ids=[f"{c}-{t}-{lay}" for c, t, lay in ROUND_TRIPS])  # fmt: skip
def test_round_trip(case: str, target: str, layout: str) -> None:
    spec = lbgen.load_spec(CASES / case / "spec.yaml")
    first = lbgen.render(spec, target, layout=layout).text
    engine = "haproxy" if target == "haproxy" else "nginx"
    imported = import_config(first, f"{case}.{target}", engine)
    # A rendering holds nothing the spec cannot say: no warning at all (extras are notes).
    assert [d for d in imported.diagnostics if d.code != KEPT] == []
    again = lbgen.load_spec(imported.yaml_text.encode(), filename="imported.yaml")
    result = diff_config(again, target, first, f"{case}.{target}", layout=layout)
    assert result.changes == (), result.text()
    # The rendering names the original spec's digest: drift exactly when the import differs.
    original, imported_digest = lbgen.resolve.spec_digest(spec), lbgen.resolve.spec_digest(again)
    if imported_digest == original:
        assert result.drift is None
    else:
        assert result.drift is not None
        assert f"sha256 {original}, this spec is {imported_digest}" in result.drift.setting
    # Rendering the import for the same target gives the same config once more.
    twice = import_config(lbgen.render(again, target, layout=layout).text, "again", engine)
    assert data(twice) == {**data(imported)}


def _plus_round_trips() -> list[str]:
    """Golden cases whose NGINX Plus rendering has an active check (without one, an NGINX Plus
    config cannot be told from an nginx OSS one, and imports as that)."""
    out = []
    for case in sorted(p for p in CASES.iterdir() if (p / "spec.yaml").is_file()):
        rendered = lbgen.render(
            lbgen.load_spec(case / "spec.yaml"), "nginx-plus", allow_errors=True
        )
        if rendered.ok and "health_check " in rendered.text:
            out.append(case.name)
    return out


PLUS_ROUND_TRIPS = _plus_round_trips()


def test_plus_round_trips_exist() -> None:
    assert len(PLUS_ROUND_TRIPS) >= 20


@pytest.mark.parametrize("case", PLUS_ROUND_TRIPS)
def test_round_trip_nginx_plus(case: str) -> None:
    first = lbgen.render(lbgen.load_spec(CASES / case / "spec.yaml"), "nginx-plus").text
    imported = import_config(first, f"{case}.nginx-plus", "nginx")
    assert [d for d in imported.diagnostics if d.code != KEPT] == []
    again = lbgen.load_spec(imported.yaml_text.encode(), filename="imported.yaml")
    result = diff_config(again, "nginx-plus", first, case)
    assert result.changes == (), result.text()


def test_round_trip_keeps_names_and_explicit_nulls() -> None:
    spec = lbgen.load_spec(CASES / "classic-nginx" / "spec.yaml")
    imported = data(import_config(lbgen.render(spec, "nginx").text, "nginx.conf", "nginx"))
    assert imported["name"] == "classic-nginx"  # from the provenance header
    assert list(imported["frontends"]) == list(spec.frontends)  # from "# frontend NAME"
    assert imported["defaults"]["health"]["rise"] is None
    assert imported["defaults"]["timeouts"]["client_fin"] is None


# --- the well-known setups -----------------------------------------------------------------------


def test_kubespray_haproxy() -> None:
    path = CONFIGS / "haproxy" / "kubespray-localhost.cfg"
    result = import_file(path)
    spec = data(result)
    defaults = spec["defaults"]
    assert defaults["balance"] == "leastconn"
    assert defaults["health"] == {
        "check": "https", "path": "/healthz", "expect": [200], "interval": "15s",
        "fast_interval": None, "down_interval": "15s", "rise": 2, "fall": 2, "timeout": "30s",
    }  # fmt: skip
    assert (defaults["slowstart"], defaults["maxconn"], defaults["maxqueue"]) == ("1m", 1000, 256)
    assert (defaults["weight"], defaults["retries"], defaults["redispatch"]) == (100, 5, True)
    assert defaults["timeouts"]["server"] == "15m"
    assert spec["frontends"] == {
        "kube_api_frontend": {"bind": ["127.0.0.1:6443"], "pool": "kube_api_backend"}
    }
    assert spec["global"] == {
        "maxconn": 4000,
        "log": "udp://127.0.0.1:514",
        # the liveness endpoint inherits its defaults' client timeout: kept, not lbgen's 5s
        "health": {
            "bind": "127.0.0.1:8081",
            "path": "/healthz",
            "timeout": "30s",
            "ready_path": None,
        },
    }
    assert list(spec["pools"]["kube_api_backend"]["servers"]) == ["node1", "node2", "node3"]
    text = messages(result)
    kept = ["option httplog", "option http-server-close", "timeout http-request 5m",
            "timeout http-keep-alive 30s", "maxconn 4000"]  # fmt: skip
    for directive in kept:
        assert f"{directive}: no spec field; kept verbatim in defaults.extra.haproxy" in text
    # Kept verbatim, in the config's order, where HAProxy read them: the defaults section.
    assert spec["defaults"]["extra"] == {"haproxy": kept}
    # What still differs is exactly what the warnings name.
    changes = redo(result, path, "haproxy").changes
    assert {c.origin.line for c in changes if c.origin} <= warned_lines(result.diagnostics)
    replaced = (
        "frontend healthz: becomes global.health; lbgen renders its own frontend lbgen-health"
    )
    assert replaced in messages(result)


def test_kubeadm_haproxy() -> None:
    path = CONFIGS / "haproxy" / "kubeadm-style.cfg"
    result = import_file(path)
    defaults = data(result)["defaults"]
    # "http-check connect ssl" is an https check; no inter/rise/fall: HAProxy's own defaults.
    assert defaults["health"] == {
        "check": "https", "path": "/healthz", "expect": [200], "interval": None,
        "fast_interval": None, "down_interval": None, "rise": None, "fall": None,
        "timeout": "10s",
    }  # fmt: skip
    assert (defaults["weight"], defaults["retries"]) == (None, 1)
    assert "interval: null" in result.yaml_text
    # The HTTP-mode settings of its defaults have no spec field: kept verbatim, so the
    # imported spec renders them again and nothing differs.
    assert set(defaults["extra"]["haproxy"]) == {
        "option http-server-close", "option httplog", "timeout http-keep-alive 10s",
        "timeout http-request 10s",
    }  # fmt: skip
    assert redo(result, path, "haproxy").changes == ()


def test_target_less_logging_imports_as_written_and_is_equivalent(tmp_path: Path) -> None:
    """No global section, so ``log global`` logs nowhere and ``option dontlognull`` is moot
    (wangjun1974/ocp_advanced_deployment_resources writes this): the import keeps
    dontlognull as the config asks for it (the spec's default, so not written; it once wrote
    ``dontlognull: false``), and nothing differs, neither in the import's self-check nor in
    diff (both once reported ``log global: removed`` on every proxy)."""
    path = tmp_path / "haproxy.cfg"
    path.write_text(
        "defaults\n    mode tcp\n    log global\n    option tcplog\n    option dontlognull\n"
        "    timeout connect 10s\n    timeout client 1h\n    timeout server 1h\n"
        "frontend api\n    bind 127.0.0.1:6443\n    default_backend cp\n"
        "backend cp\n    server m1 192.0.2.11:6443 check\n"
    )
    result = import_file(path)
    assert result.ok, messages(result)
    assert "log global" not in messages(result)
    spec = data(result)
    assert spec["global"]["log"] is None
    assert "dontlognull" not in spec.get("defaults", {})
    assert redo(result, path, "haproxy").changes == ()


@pytest.mark.parametrize(("written", "imported"), [("30", "30s"), ("30s", "30s"), ("1500ms", "2s")])
def test_a_stats_refresh_imports_as_the_seconds_the_page_reloads_after(
    written: str, imported: str, tmp_path: Path
) -> None:
    """``stats refresh 30`` is 30 seconds (a bare number is seconds here, unlike HAProxy's
    timeouts: tests/test_haproxy_semantics.py reads the real page's header); it once imported
    as ``refresh: 30ms``. The rendering of the imported spec is no difference."""
    path = tmp_path / "haproxy.cfg"
    path.write_text(
        "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1h\n"
        "    timeout server 1h\n"
        f"listen stats\n    bind 127.0.0.1:8404\n    mode http\n    stats uri /stats\n"
        f"    stats refresh {written}\n"
        "frontend api\n    bind 127.0.0.1:6443\n    default_backend cp\n"
        "backend cp\n    server m1 192.0.2.11:6443 check\n"
    )
    result = import_file(path)
    assert result.ok, messages(result)
    assert data(result)["global"]["stats"]["refresh"] == imported
    assert "stats refresh" not in messages(result)


#: The api-server listen of openshift/openshift-docs
#: (modules/installation-load-balancing-user-infra.adoc, documentation addresses), with more
#: lines of one side (HAProxy's keyword matrix) and of both.
LISTEN = """\
defaults
  mode tcp
  timeout connect 10s
  timeout client 1h
  timeout server 1h
listen api-server-6443
  bind *:6443
  mode tcp
  option  httpchk GET /readyz HTTP/1.0
  option  log-health-checks
  fullconn 1000
  hash-type consistent
  maxconn 2000
  option clitcpka
  option tcpka
  tcp-request inspect-delay 5s
  balance roundrobin
  server master0 192.0.2.11:6443 weight 1 verify none check check-ssl inter 10s fall 2 rise 3
  server master1 192.0.2.12:6443 weight 1 verify none check check-ssl inter 10s fall 2 rise 3
"""


def test_a_listen_sections_lines_go_to_the_side_they_work_on(tmp_path: Path) -> None:
    """A listen is a frontend and a backend: its backend-only lines become the pool's extras
    (they were all the frontend's, where HAProxy ignores them: "has no backend capability"),
    its frontend-only lines the frontend's, lines of both sides both; nothing differs."""
    path = tmp_path / "haproxy.cfg"
    path.write_text(LISTEN)
    result = import_file(path)
    assert result.ok, messages(result)
    spec = data(result)
    frontend = spec["frontends"]["api-server-6443"]["extra"]["haproxy"]
    pool = spec["pools"]["api-server-6443"]["extra"]["haproxy"]
    both = ["option tcpka", "tcp-request inspect-delay 5s"]
    assert sorted(frontend) == sorted(["maxconn 2000", "option clitcpka", *both])
    assert sorted(pool) == sorted(
        ["option log-health-checks", "fullconn 1000", "hash-type consistent", *both]
    )
    assert redo(result, path, "haproxy").changes == ()
    rendered = lbgen.render(
        lbgen.load_spec(result.yaml_text.encode(), filename="imported.yaml"), "haproxy"
    )
    checked = engine_check(rendered.text, "haproxy", strict=False)
    assert checked.ok, checked.output
    assert "capability" not in checked.output, checked.output
    assert "capability" in engine_check(LISTEN.replace("listen", "frontend"), "haproxy").output


def test_openshift_haproxy_is_equivalent() -> None:
    path = CONFIGS / "haproxy" / "openshift-style.cfg"
    result = import_file(path)
    assert result.diagnostics == []
    spec = data(result)
    api = spec["pools"]["api"]
    assert api["health"] == {
        "check": "https", "path": "/readyz", "expect": [200], "interval": "5s", "rise": 1,
        "fall": 3,
    }  # fmt: skip
    assert api["servers"]["bootstrap"] == {"address": "192.168.50.9:6443", "backup": True}
    assert spec["pools"]["machine-config-server"]["health"]["check"] == "tcp"
    assert spec["defaults"]["timeouts"] == {
        "connect": "10s", "client": "1m", "server": "1m", "tunnel": "1h", "client_fin": "10s",
        "server_fin": "10s",
    }  # fmt: skip
    assert spec["defaults"]["health"]["timeout"] == "10s"
    assert redo(result, path, "haproxy").equivalent


def test_kubespray_nginx_round_trip() -> None:
    path = CONFIGS / "nginx" / "kubespray-stream.conf"
    result = import_file(path)
    spec = data(result)
    defaults = spec["defaults"]
    assert defaults["balance"] == "leastconn"
    assert defaults["timeouts"] == {
        "connect": "1s", "client": "10m", "server": "10m", "tunnel": "10m", "client_fin": None,
        "server_fin": None,
    }  # fmt: skip
    assert defaults["health"]["check"] == "tcp" and defaults["health"]["fall"] is None
    assert spec["global"]["maxconn"] == 16384  # events { worker_connections }
    assert spec["frontends"] == {
        "kube_apiserver": {"bind": ["127.0.0.1:6443"], "pool": "kube_apiserver"}
    }
    # The http {} server answering 200 on /healthz is the load balancer's liveness endpoint;
    # its stub_status page stays in it (global.health.extra: lbgen then writes an http server).
    assert spec["global"]["health"] == {
        "bind": ":8081", "path": "/healthz", "ready_path": None,
        "extra": {"nginx": ["location /stub_status { stub_status on; access_log off; }"]},
    }  # fmt: skip
    text = messages(result)
    for directive in ("worker_processes 2", "error_log"):
        assert directive in text
    # The events block's other lines go into the one lbgen writes (they were left out).
    assert spec["global"]["extra"]["nginx_sections"]["events"] == ["multi_accept on;", "use epoll;"]
    # The rest of the http {} block is kept verbatim, beside lbgen's own liveness endpoint.
    assert "aio threads;" in spec["global"]["extra"]["nginx_sections"]["http"]
    assert redo(result, path, "nginx").equivalent


def test_classic_configs_import_to_the_classic_examples() -> None:
    haproxy = data(import_file(CONFIGS / "classic" / "haproxy.cfg"))
    example = YAML(typ="safe").load((ROOT / "examples" / "classic-haproxy.yaml").read_text())
    for key, value in example["defaults"]["health"].items():
        assert haproxy["defaults"]["health"][key] == value, key
    nginx = import_file(CONFIGS / "classic" / "nginx.conf")
    pools = data(nginx)["pools"]
    assert pools["kubernetes-api"]["servers"] == {
        "192.168.2.1": "192.168.2.1:6443", "192.168.2.2": "192.168.2.2:6443",
    }  # fmt: skip
    assert data(nginx)["defaults"]["health"]["interval"] == "10s"  # 30s / max_fails 3
    assert redo(nginx, CONFIGS / "classic" / "nginx.conf", "nginx").equivalent


# --- our own fixtures ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "engine"), [("two-endpoints.cfg", "haproxy"),
                                              ("nginx-full.conf", "nginx")])  # fmt: skip
def test_import_fixtures_are_configs_the_engine_accepts(name: str, engine: str) -> None:
    result = engine_check((CONFIGS / "import" / name).read_text(), engine)
    assert result.ok, result.output


def test_shared_values_are_hoisted_and_exceptions_kept() -> None:
    path = CONFIGS / "import" / "two-endpoints.cfg"
    result = import_file(path)
    spec = data(result)
    defaults = spec["defaults"]
    # Both pools: named "defaults base" + identical balance -> the spec's defaults.
    assert defaults["balance"] == "leastconn"
    assert defaults["health"] == {
        "interval": "3s", "fast_interval": None, "down_interval": None, "rise": 2, "fall": 3,
        "timeout": "2s",
    }  # fmt: skip
    assert (defaults["maxconn"], defaults["weight"], defaults["retries"]) == (500, 100, 2)
    internal, external = spec["pools"]["internal-api"], spec["pools"]["external-api"]
    assert internal["health"] == {"check": "https", "path": "/readyz", "expect": [200]}
    assert external["health"] == {"check": "tcp"}
    assert internal["servers"]["m3"] == {"address": "10.0.1.3:6443", "weight": 50}
    m3 = spec["pools"]["external-api"]["servers"]["m3"]
    assert m3["extra"] == {"haproxy": ["send-proxy-v2"]}
    assert "weight" not in internal and "maxconn" not in internal
    # No "stats refresh" in the config: the page does not reload (the spec's default is 10s).
    # Its client timeout is its defaults' (30m), not lbgen's 30s.
    assert spec["global"]["stats"] == {"bind": "127.0.0.1:9000", "prometheus": False,
                                       "refresh": None, "timeout": "30m"}  # fmt: skip
    assert spec["global"]["log"] == "syslog"
    text = messages(result)
    assert "frontend web: mode http" in text
    assert "option log-health-checks: no spec field" in text
    assert "send-proxy-v2: no spec field" in text
    assert "nbthread 4: no spec field" in text
    # The comment sits with the server it belongs to.
    assert "send-proxy-v2: no spec field; kept verbatim in pools.external-api.servers.m3" in text
    changes = redo(result, path, "haproxy").changes
    assert {c.origin.line for c in changes if c.origin} <= warned_lines(result.diagnostics)


def test_nginx_full_config() -> None:
    path = CONFIGS / "import" / "nginx-full.conf"
    result = import_file(path)
    spec = data(result)
    assert spec["global"] == {
        "maxconn": 4096,
        "log": "udp://10.0.0.5:514",
        "health": {"bind": "127.0.0.1:8081", "path": "/healthz"},
        # Not what lbgen writes for that log target: kept, beside lbgen's own error_log.
        "extra": {"nginx": ["error_log stderr;"]},
    }
    defaults = spec["defaults"]
    assert defaults["health"]["fall"] == 2 and defaults["health"]["interval"] == "5s"
    assert defaults["timeouts"]["connect"] == "2s" and defaults["timeouts"]["tunnel"] == "1h"
    internal, external = spec["pools"]["internal_api"], spec["pools"]["external_api"]
    assert (internal["balance"], internal["retries"]) == ("leastconn", 2)  # tries 3
    assert (external["balance"], external["retries"]) == ("source", None)
    assert internal["servers"]["10.0.1.3"] == {"address": "10.0.1.3:6443", "weight": 2}
    assert internal["servers"]["10.0.1.9"] == {"address": "10.0.1.9:6443", "backup": True}
    text = messages(result)
    assert "listen options so_keepalive=on: no spec field" in text
    assert "log_format basic" in text
    changes = redo(result, path, "nginx").changes
    # Each remaining difference is on a line a warning names, or (error_log stderr, kept
    # beside the error_log lbgen writes for global.log) the note of a line kept verbatim.
    kept = {d.line for d in result.diagnostics if d.code == KEPT}
    assert (
        changes
        and {c.origin.line for c in changes if c.origin} <= warned_lines(result.diagnostics) | kept
    )
    # The stream module's load_module is a render option, not a spec field: a note names it
    # (the import once dropped it without a word), and rendering with it writes the line.
    module = "/usr/lib/nginx/modules/ngx_stream_module.so"
    (note,) = [d for d in result.diagnostics if d.code == RENDER_OPTION]
    assert (note.level, note.line, note.col) == (Level.NOTE, 3, 1)
    assert note.message.endswith(f"rendered with --layout full --load-module {module}")
    spec_text = result.yaml_text.encode()
    rendered = lbgen.render(
        lbgen.load_spec(spec_text), "nginx", layout="full", load_module=module
    ).text
    assert f"load_module {module};" in rendered.splitlines()


def test_comments_cannot_inject_yaml(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        'global\n    setenv X "a\\nglobal: {maxconn: 1}\\r\\n- x"\n'
        "frontend f\n  bind :1\n  default_backend b\nbackend b\n  server s 10.0.0.1:1\n"
    )
    result = import_file(config)
    loaded = data(result)
    assert "maxconn" not in loaded["global"]
    # Kept verbatim as HAProxy reads it (escapes quoted again), one YAML string.
    assert loaded["global"]["extra"]["haproxy"] == ['setenv X "a\\nglobal: {maxconn: 1}\\r\\n- x"']


def test_mixed_checks_and_odd_values_are_warned(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "defaults\n  mode tcp\n"
        "frontend f\n  bind :1\n  default_backend b\n"
        "backend b\n  balance uri\n  option mysql-check\n"
        "  server s1 10.0.0.1:1 check inter 2s\n  server s2 10.0.0.2:1 check inter 4s\n"
        "  server s3 10.0.0.3:1\n"
    )
    result = import_file(config)
    text = messages(result)
    assert "balance uri: the spec's balance cannot say this" in text
    assert "servers without check (s3)" in text
    assert "option mysql-check check: the spec has no such check; imported as tcp" in text
    assert "inter: servers of backend b differ" in text
    assert data(result)["defaults"]["health"]["check"] == "tcp"


# --- bad input -----------------------------------------------------------------------------------


def test_broken_configs_raise_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        import_config("backend b\n  timeout server 1 hour\n  server s 1.1.1.1:1\n", "x.cfg")
    assert info.value.diagnostics[0].code == "CONF103"
    with pytest.raises(SpecError):
        import_file(tmp_path / "missing.cfg")
    with pytest.raises(SpecError):
        import_config("just some words\n", "notes.txt")


def test_nothing_to_import_is_an_error() -> None:
    result = import_config("http {\n  server {\n    listen 80;\n  }\n}\n", "nginx.conf", "nginx")
    assert not result.ok
    assert any(d.code == "import-empty" for d in result.diagnostics)


def test_a_config_nginx_itself_refuses_does_not_import() -> None:
    with pytest.raises(SpecError) as caught:
        import_file(CONFIGS / "lint" / "LB112-bad.conf")
    assert {d.code for d in caught.value.diagnostics} == {"CONF107"}


# --- command line --------------------------------------------------------------------------------


def test_cli_writes_yaml_to_stdout_and_warnings_to_stderr() -> None:
    path = CONFIGS / "haproxy" / "kubeadm-style.cfg"
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"# Imported by lbgen from {path} (haproxy).\n")
    assert f"{path}:4:5: note [import-extra] daemon: no spec field; kept verbatim" in result.stderr
    lbgen.load_spec(result.stdout.encode(), filename="stdout.yaml")


def test_cli_output_file_and_explicit_engine(tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    path = CONFIGS / "nginx" / "kubespray-stream.conf"
    result = runner.invoke(app, ["import", str(path), "--from", "nginx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    spec = lbgen.load_spec(out)
    # The health server's stub_status page is kept in global.health.extra.nginx.
    assert lbgen.diff(spec, "nginx", path).equivalent


def test_diff_sees_the_http_health_server_and_its_deletion(tmp_path: Path) -> None:
    # An http {} server is part of what nginx does: the liveness endpoint a static pod probes
    # compares with lbgen's stream listener, and a config without it is not equivalent.
    original = (CONFIGS / "nginx" / "kubespray-stream.conf").read_text()
    without_status = re.sub(r"\n    location /stub_status \{[^}]*\}", "", original)
    assert without_status != original
    path = tmp_path / "lb.conf"
    path.write_text(without_status)
    spec = lbgen.load_spec(import_file(path).yaml_text.encode(), filename="imported.yaml")
    assert lbgen.diff(spec, "nginx", path).equivalent
    path.write_text(re.sub(r"\nhttp \{.*\n\}\n", "\n", without_status, flags=re.S))
    changes = lbgen.diff(spec, "nginx", path).changes
    # The listener, and the rest of the http {} block the import kept verbatim.
    assert ("added", "server {listen 0.0.0.0:8081}") in [(c.kind, c.scope) for c in changes]
    assert {(c.kind, c.scope) for c in changes} == {
        ("added", "server {listen 0.0.0.0:8081}"), ("added", "http")
    }  # fmt: skip


def test_cli_wrong_engine_and_unreadable_input(tmp_path: Path) -> None:
    haproxy = CONFIGS / "haproxy" / "openshift-style.cfg"
    wrong = runner.invoke(app, ["import", str(haproxy), "--from", "nginx"])
    assert wrong.exit_code == 2 and "error [CONF" in wrong.stderr
    missing = runner.invoke(app, ["import", str(tmp_path / "none.cfg")])
    assert missing.exit_code == 2 and "cannot read config" in missing.stderr
    empty = runner.invoke(app, ["import", str(CONFIGS / "lint" / "LB112-bad.conf")])
    assert empty.exit_code == 2 and empty.stdout == ""


def test_real_process_from_stdin() -> None:
    text = (CONFIGS / "classic" / "nginx.conf").read_text()
    result = run_lbgen("import", "-", stdin=text)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "192.168.2.1: 192.168.2.1:6443" in result.stdout


def test_real_process_garbage_is_exit_2() -> None:
    result = run_lbgen("import", "-", stdin="\x00\x01binary")
    assert result.returncode == 2
    assert "binary data" in result.stderr and "Traceback" not in result.stderr
    result = run_lbgen("import", "-", stdin="stream {\n  upstream x {\n")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_real_process_import_then_diff(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    path = CONFIGS / "haproxy" / "openshift-style.cfg"
    assert run_lbgen("import", str(path), "-o", str(spec)).returncode == 0
    result = run_lbgen("diff", str(spec), "-t", "haproxy", "--against", str(path))
    assert (result.returncode, result.stdout) == (0, "equivalent\n")


# --- the README shows real output --------------------------------------------------------------


def test_documented_outputs_are_what_lbgen_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rerun the documented commands on the same files; every line they print must be in the
    doc, so the doc cannot drift from the code."""
    doc = (ROOT / "README.md").read_text()
    copies = {
        "classic-haproxy.yaml": ROOT / "examples" / "classic-haproxy.yaml",
        "classic-nginx.yaml": ROOT / "examples" / "classic-nginx.yaml",
        "nginx.conf": CONFIGS / "classic" / "nginx.conf",
        "kubespray.cfg": CONFIGS / "haproxy" / "kubespray-localhost.cfg",
        "old-kubeadm.cfg": CONFIGS / "haproxy" / "k8s-docs-classic.cfg",
        "guide-nginx.conf": CONFIGS / "nginx" / "classic-stream.conf",
    }
    for name, source in copies.items():
        (tmp_path / name).write_text(source.read_text())
    haproxy = (CONFIGS / "classic" / "haproxy.cfg").read_text()
    haproxy = haproxy.replace("timeout server          1h", "timeout server          30s")
    haproxy = haproxy.replace(
        "    server k8s-master2 192.168.2.2:6443 check\n",
        "    server k8s-master2 192.168.2.2:6443 check weight 50\n"
        "    server k8s-master3 192.168.2.3:6443 check\n",
    )
    (tmp_path / "haproxy.cfg").write_text(haproxy)
    nginx_10m = (CONFIGS / "classic" / "nginx.conf").read_text()
    (tmp_path / "nginx-10m.conf").write_text(
        nginx_10m.replace("proxy_timeout 3s", "proxy_timeout 10m")
    )
    v2 = (tmp_path / "classic-nginx.yaml").read_text().replace("weight: 5", "weight: 10")
    (tmp_path / "classic-nginx-v2.yaml").write_text(v2)
    monkeypatch.chdir(tmp_path)
    commands = [
        ["render", "classic-nginx.yaml", "-t", "nginx", "-o", "rendered-nginx.conf"],
        ["diff", "classic-haproxy.yaml", "-t", "haproxy", "--against", "haproxy.cfg"],
        ["diff", "classic-nginx.yaml", "-t", "nginx", "--against", "guide-nginx.conf"],
        ["diff", "classic-nginx-v2.yaml", "-t", "nginx", "--against", "rendered-nginx.conf"],
        ["diff", "classic-nginx.yaml", "-t", "nginx", "--against", "nginx-10m.conf",
         "--format", "unified"],
        ["diff", "classic-haproxy.yaml", "-t", "haproxy", "--against", "haproxy.cfg",
         "--format", "json"],
        ["import", "kubespray.cfg", "-o", "kubespray.yaml"],
        ["diff", "kubespray.yaml", "-t", "haproxy", "--against", "kubespray.cfg"],
        ["import", "guide-nginx.conf"],
        ["lint", "old-kubeadm.cfg"],
        ["lint", "nginx.conf", "--format", "github"],
        ["lint", "--list-rules"],
    ]  # fmt: skip
    doc_lines = {line.rstrip() for line in doc.splitlines()}
    for command in commands:
        result = runner.invoke(app, command)
        assert result.exit_code in (0, 1), (command, result.output)
        printed = result.stdout.splitlines() + result.stderr.splitlines()
        if command[0] == "import" and "-o" in command:
            printed += (tmp_path / "kubespray.yaml").read_text().splitlines()
        if "json" in command:
            printed = printed[:18]  # the doc shows the first object
        missing = [line for line in printed if line.rstrip() not in doc_lines]
        assert not missing, (command, missing)


# --- any input: diagnostics, never a traceback ----------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        " ", "\t", "\n", "#", ";", "{", "}", '"', "\\", "=", ":", "x", "1", "\x00", "é",
        "global\n", "  log stdout\n", "  maxconn 99\n", "defaults base\n", "  mode http\n",
        "frontend f\n", "frontend g from base\n", "backend b\n", "listen l\n", "  bind :6443\n",
        "  bind [::]:6443 v6only\n", "  default_backend b\n", "  mode tcp\n",
        "  server s 1.2.3.4:6443 check", " check-ssl verify none", " weight 300", " inter 5s",
        " backup", " disabled", " send-proxy", "  server t host.example:1 check\n",
        "  server u 1.2.3.4\n", "  default-server inter 1s fall 2\n",
        "  option httpchk GET /healthz\n", "  option ssl-hello-chk\n", "  balance first\n",
        "  balance uri\n", "  timeout client 1s\n", "  timeout check 2s\n",
        "  http-check expect status 200\n", "  http-check connect ssl\n", "  stats enable\n",
        "  monitor-uri /h\n", "stream {\n", "upstream u {\n", "server {\n", "  listen 6443;\n",
        "  listen 127.0.0.1:81 udp;\n", "  proxy_pass u;\n", "  return ok;\n",
        "  server 10.0.0.1:1 max_fails=0;\n", "  server a:1 weight=0 backup;\n",
        "  server 10.0.0.2:1 max_fails=2 fail_timeout=7s weight=1000;\n", "  least_conn;\n",
        "  hash $remote_addr consistent;\n", "  proxy_timeout 3s;\n",
        "  proxy_next_upstream_tries 1;\n", "  health_check interval=5s fails=2;\n",
        "  zone z 64k;\n", "events {\n", "  worker_connections 10;\n", "}\n",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=40), st.sampled_from([None, "haproxy", "nginx"]))
def test_any_input_imports_or_gives_diagnostics(
    tmp_path_factory: pytest.TempPathFactory, parts: list[str], engine: str | None
) -> None:
    name = str(tmp_path_factory.mktemp("fuzz") / "lb.conf")
    text = "".join(parts)
    try:
        result = import_config(text, name, engine)
    except SpecError as exc:
        assert exc.diagnostics and all(d.level is Level.ERROR for d in exc.diagnostics)
        return
    assert all(isinstance(d, Diagnostic) for d in result.diagnostics)
    if not result.ok:
        return
    # A usable import is a valid spec whose rendering compares with the input.
    spec = lbgen.load_spec(result.yaml_text.encode(), filename="imported.yaml")
    target = "haproxy" if result.engine == "haproxy" else "nginx"
    try:
        diff_config(spec, target, text, name)
    except SpecError as exc:
        assert exc.diagnostics


_HAPROXY_PROXY_LINES = [
    "mode tcp", "mode http", "balance leastconn", "balance source", "balance uri",
    "balance static-rr", "retries 0", "retries 7", "option redispatch", "no option redispatch",
    "option httpchk", "option httpchk GET /readyz", "option tcp-check", "option ssl-hello-chk",
    "http-check send meth GET uri /livez", "http-check expect status 200,401",
    "http-check expect string ok", "http-check connect ssl", "tcp-check connect ssl sni a.b",
    "timeout connect 3s", "timeout client 90000", "timeout server 1h", "timeout tunnel 2h",
    "timeout client-fin 1s", "timeout server-fin 1s", "timeout queue 5s", "timeout check 500ms",
    "timeout http-request 5s", "option tcplog", "option httplog", "log global", "maxconn 10",
    "default-server inter 3s fastinter 1s downinter 4s rise 3 fall 1 slowstart 10s weight 7",
    "default-server maxconn 5 maxqueue 6 check-ssl verify none", "option log-health-checks",
]  # fmt: skip
_HAPROXY_SERVER_PARAMS = [
    "check", "check-ssl", "verify none", "weight 0", "weight 50", "inter 1s", "fall 5",
    "rise 1", "backup", "disabled", "maxconn 3", "slowstart 1m", "send-proxy", "ssl",
    "check-sni x.example", "crt /c.pem", "init-addr last,libc,none", "port 8443", "agent-check",
]  # fmt: skip
_NGINX_SERVER_PARAMS = [
    "weight=3", "weight=300", "max_fails=0", "max_fails=2", "fail_timeout=7s", "max_conns=9",
    "backup", "down", "slow_start=10s", "resolve",
]  # fmt: skip
_NGINX_PROXY_LINES = [
    "proxy_connect_timeout 2s;", "proxy_timeout 10m;", "proxy_timeout 90;",
    "proxy_next_upstream off;", "proxy_next_upstream_tries 3;", "proxy_next_upstream_tries 1;",
    "proxy_protocol on;", "health_check interval=2s fails=2 passes=3;",
    "health_check_timeout 1s;", "ssl_preread on;",
]  # fmt: skip


@st.composite
def haproxy_configs(draw: st.DrawFn) -> str:
    """Structurally valid haproxy.cfg text with random settings."""
    lines = ["global"] + [f"    {x}" for x in draw(st.lists(st.sampled_from(
        ["log stdout format raw local0", "log /dev/log local0", "maxconn 100", "nbthread 2"]),
        max_size=3))]  # fmt: skip
    named = draw(st.booleans())
    lines.append("defaults base" if named else "defaults")
    lines += [f"    {x}" for x in draw(st.lists(st.sampled_from(_HAPROXY_PROXY_LINES), max_size=6))]
    pools = draw(st.integers(1, 3))
    suffix = " from base" if named else ""
    for i in range(draw(st.integers(1, 3))):
        lines.append(f"frontend f{i}{suffix}")
        lines.append(f"    bind {draw(st.sampled_from([':', '127.0.0.1:', '[::]:']))}{6000 + i}")
        lines.append(f"    default_backend b{draw(st.integers(0, pools))}")
        lines += [f"    {x}" for x in draw(st.lists(st.sampled_from(_HAPROXY_PROXY_LINES),
                                                    max_size=3))]  # fmt: skip
    for i in range(pools):
        lines.append(f"{draw(st.sampled_from(['backend', 'listen']))} b{i}{suffix}")
        lines += [f"    {x}" for x in draw(st.lists(st.sampled_from(_HAPROXY_PROXY_LINES),
                                                    max_size=5))]  # fmt: skip
        for j in range(draw(st.integers(0, 4))):
            params = draw(st.lists(st.sampled_from(_HAPROXY_SERVER_PARAMS), max_size=5))
            host = draw(st.sampled_from(["10.0.0.1", "[fd00::1]", "api.example", "10.0.0.2"]))
            lines.append(f"    server s{j} {host}:{6443 + j} {' '.join(params)}".rstrip())
    return "\n".join(lines) + "\n"


@st.composite
def nginx_configs(draw: st.DrawFn) -> str:
    """Structurally valid nginx stream text with random settings."""
    lines = ["stream {"]
    lines += draw(st.lists(st.sampled_from(
        ["access_log /dev/stdout;", "access_log off;", "proxy_timeout 1h;",
         "proxy_buffer_size 16k;"]),
        max_size=2))  # fmt: skip
    pools = draw(st.integers(1, 3))
    for i in range(pools):
        lines.append(f"upstream u{i} {{")
        lines += draw(st.lists(st.sampled_from(
            ["least_conn;", "hash $remote_addr consistent;", "random;", "zone z 64k;"]),
            max_size=2))  # fmt: skip
        for j in range(draw(st.integers(1, 3))):
            params = draw(st.lists(st.sampled_from(_NGINX_SERVER_PARAMS), max_size=4))
            lines.append(f"server 10.0.{i}.{j}:6443 {' '.join(params)};".replace(" ;", ";"))
        lines.append("}")
    for i in range(draw(st.integers(1, 3))):
        lines.append("server {")
        lines.append(f"listen {draw(st.sampled_from(['', '127.0.0.1:', '[::]:']))}{7000 + i};")
        if draw(st.booleans()):
            lines.append(f"proxy_pass u{draw(st.integers(0, pools))};")
        else:
            lines.append('return "ok";')
        lines += draw(st.lists(st.sampled_from(_NGINX_PROXY_LINES), max_size=4))
        lines.append("}")
    lines.append("}")
    return "\n".join(lines) + "\n"


@settings(max_examples=400, deadline=None)
@given(st.one_of(haproxy_configs(), nginx_configs()))
def test_structured_configs_import_and_compare(text: str) -> None:
    """Valid-shaped configs: the import is a valid spec, and every difference its rendering
    still has is on a line a warning names (or the config is refused with diagnostics)."""
    try:
        result = import_config(text, "lb.conf")
    except SpecError as exc:
        assert exc.diagnostics and all(d.level is Level.ERROR for d in exc.diagnostics)
        return
    if not result.ok:
        assert any(d.level is Level.ERROR for d in result.diagnostics)
        return
    spec = lbgen.load_spec(result.yaml_text.encode(), filename="imported.yaml")
    compared = diff_config(spec, result.target, text, "lb.conf")
    warned = {d.line for d in result.diagnostics if d.level is Level.WARNING}
    unexplained = [c.text() for c in compared.changes if c.origin and c.origin.line not in warned]
    assert not unexplained
    assert not unexplained or any(d.code == LOSSY for d in result.diagnostics), [
        c.text() for c in unexplained
    ]


def test_defaults_server_words_and_http_backends_are_named(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "defaults\n  mode tcp\n  default-server inter 2s agent-check\n"
        "frontend f\n  bind :1\n  default_backend b\n"
        "backend b\n  server s 10.0.0.1:1 check\n"
        "backend web\n  mode http\n  server w 10.0.0.9:80\n"
    )
    result = import_file(config)
    found = {(d.line, d.code, d.message.split(":")[0]) for d in result.diagnostics}
    assert (3, KEPT, "agent-check") in found  # on each server the default-server line reaches
    assert data(result)["pools"]["b"]["servers"]["s"]["extra"] == {"haproxy": ["agent-check"]}
    assert (9, SKIPPED, "backend web") in found
    # The server's agent-check comes from the default-server line: named there, not again.
    assert not [d for d in result.diagnostics if d.line == 8]
    # Kept on the server, it renders again: no difference left.
    changes = redo(result, config, "haproxy").changes
    assert [c.text() for c in changes if "agent-check" in c.setting] == []


def test_a_redispatch_interval_the_spec_cannot_say_is_kept_verbatim(tmp_path: Path) -> None:
    """``option redispatch 3`` (every third retry): redispatch true plus the line as an extra,
    so the rendering says it again; -1 and 0 are the spec's true and false."""
    path = tmp_path / "haproxy.cfg"
    for line, redispatch, extra in (
        ("option redispatch 3", True, ["option redispatch 3"]),
        ("option redispatch 0", False, None),
        ("option redispatch -1", True, None),
    ):
        path.write_text(
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n"
            "  timeout server 1h\nfrontend api\n  bind :6443\n  default_backend cp\n"
            f"backend cp\n  {line}\n  server m1 192.0.2.11:6443 check\n"
        )
        result = import_file(path)
        assert result.ok, messages(result)
        spec = data(result)
        pool = spec["pools"]["cp"]
        assert spec["defaults"].get("redispatch", pool.get("redispatch")) is redispatch, line
        assert pool.get("extra", {}).get("haproxy") == extra, line
        assert redo(result, path, "haproxy").changes == (), line
