"""lbgen diff: the rendered spec against an existing config, compared by what the engine does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import lbgen
from lbgen.cli import app
from lbgen.compare import diff_config
from lbgen.diagnostics import SpecError
from tests.engine_check import engine_check
from tests.support import run_lbgen

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CLASSIC = ROOT / "tests" / "fixtures" / "configs" / "classic"
CLASSIC_HAPROXY_SPEC = EXAMPLES / "classic-haproxy.yaml"
CLASSIC_NGINX_SPEC = EXAMPLES / "classic-nginx.yaml"
runner = CliRunner()


def diff(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["diff", *args])
    return result.exit_code, result.stdout, result.stderr


def edited(tmp_path: Path, source: Path, *replacements: tuple[str, str]) -> Path:
    """A copy of ``source`` with each ``old`` replaced by ``new`` (each must be there)."""
    text = source.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    copy = tmp_path / source.name
    copy.write_text(text)
    return copy


# --- the classic setups come out equivalent ------------------------------------------------------


@pytest.mark.parametrize("engine", ["haproxy", "nginx"])
def test_classic_fixtures_are_configs_the_engine_accepts(engine: str) -> None:
    name = "haproxy.cfg" if engine == "haproxy" else "nginx.conf"
    result = engine_check((CLASSIC / name).read_text(), engine)
    assert result.ok, result.output


def test_classic_haproxy_is_equivalent() -> None:
    code, out, _ = diff(str(CLASSIC_HAPROXY_SPEC), "-t", "haproxy",
                        "--against", str(CLASSIC / "haproxy.cfg"))  # fmt: skip
    assert (code, out) == (0, "equivalent\n")


def test_classic_nginx_is_equivalent() -> None:
    code, out, _ = diff(str(CLASSIC_NGINX_SPEC), "-t", "nginx",
                        "--against", str(CLASSIC / "nginx.conf"))  # fmt: skip
    assert (code, out) == (0, "equivalent\n")


def test_classic_haproxy_in_a_real_process() -> None:
    result = run_lbgen("diff", str(CLASSIC_HAPROXY_SPEC), "-t", "haproxy",
                       "--against", str(CLASSIC / "haproxy.cfg"))  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (0, "equivalent\n", "")


def test_the_hand_written_file_really_differs_in_text() -> None:
    """Equivalence is not textual equality: the unified diff of the same pair is long."""
    code, out, _ = diff(str(CLASSIC_HAPROXY_SPEC), "-t", "haproxy", "--format", "unified",
                        "--against", str(CLASSIC / "haproxy.cfg"))  # fmt: skip
    assert code == 0
    assert out.startswith(f"--- {CLASSIC / 'haproxy.cfg'}\n+++ {CLASSIC_HAPROXY_SPEC} (rendered")
    assert "-    timeout server          1h\n" in out
    assert "+default-server" not in out  # rendered text is indented like the file
    assert "+    default-server inter 10s downinter 5s rise 2 fall 2 slowstart 1m" in out


# --- edits in a copy give exact lines ------------------------------------------------------------


def test_haproxy_weight_timeout_and_server_changes(tmp_path: Path) -> None:
    config = edited(
        tmp_path, CLASSIC / "haproxy.cfg",
        ("    server k8s-master2 192.168.2.2:6443 check\n",
         "    server k8s-master2 192.168.2.2:6443 check weight 50\n"
         "    server k8s-master3 192.168.2.3:6443 check\n"),
        ("timeout server          1h", "timeout server          30s"),
        ("downinter 5s", "downinter 2s"),
    )  # fmt: skip
    code, out, _ = diff(str(CLASSIC_HAPROXY_SPEC), "-t", "haproxy", "--against", str(config))
    assert code == 1
    assert out.splitlines() == [
        f"backend kubernetes-api: timeout server 30s → 1h ({config}:24)",
        f"backend kubernetes-api: server k8s-master1: downinter 2s → 5s ({config}:41)",
        f"backend kubernetes-api: server k8s-master2: weight 50 → 100 ({config}:43)",
        f"backend kubernetes-api: server k8s-master2: downinter 2s → 5s ({config}:41)",
        f"backend kubernetes-api: server k8s-master3: removed (192.168.2.3:6443) ({config}:44)",
    ]


def test_haproxy_server_only_in_the_spec_and_changed_check(tmp_path: Path) -> None:
    config = edited(
        tmp_path, CLASSIC / "haproxy.cfg",
        ("    server k8s-master2 192.168.2.2:6443 check\n", ""),
        ("    balance     roundrobin\n",
         "    balance     roundrobin\n    option httpchk GET /healthz\n"),
    )  # fmt: skip
    code, out, _ = diff(str(CLASSIC_HAPROXY_SPEC), "-t", "haproxy", "--against", str(config))
    assert code == 1
    assert out.splitlines() == [
        f"backend kubernetes-api: health check http → tcp ({config}:41)",
        f"backend kubernetes-api: check method GET → unset ({config}:41)",
        f"backend kubernetes-api: check path /healthz → unset ({config}:41)",
        f"backend kubernetes-api: check version HTTP/1.0 → unset ({config}:41)",
        f"backend kubernetes-api: server k8s-master2: added (192.168.2.2:6443) ({config}:39)",
    ]


def test_logging_options_are_named_where_they_are_set(tmp_path: Path) -> None:
    # (httplog would not do here: in a tcp frontend HAProxy falls back to tcplog.)
    swap = ("option                  tcplog", "option                  dontlog-normal")
    config = edited(tmp_path, CLASSIC / "haproxy.cfg", swap)
    code, out, _ = diff(str(CLASSIC_HAPROXY_SPEC), "-t", "haproxy", "--against", str(config))
    assert code == 1
    assert out.splitlines() == [
        f"frontend kubernetes-api: option dontlog-normal: removed ({config}:18)",
        f"frontend kubernetes-api: option tcplog: added ({config}:32)",
    ]


def test_httplog_in_a_tcp_frontend_is_tcplog(tmp_path: Path) -> None:
    swap = ("option                  tcplog", "option                  httplog")
    config = edited(tmp_path, CLASSIC / "haproxy.cfg", swap)
    code, out, _ = diff(str(CLASSIC_HAPROXY_SPEC), "-t", "haproxy", "--against", str(config))
    assert (code, out.strip()) == (0, "equivalent")


def test_nginx_weight_timeout_and_server_changes(tmp_path: Path) -> None:
    config = edited(
        tmp_path, CLASSIC / "nginx.conf",
        ("server 192.168.2.2:6443 weight=5 max_fails=3 fail_timeout=30s;",
         "server 192.168.2.2:6443 weight=3 max_fails=3 fail_timeout=30s;\n"
         "        server 192.168.2.3:6443 weight=5 max_fails=3 fail_timeout=30s;"),
        ("proxy_timeout 3s", "proxy_timeout 10m"),
    )  # fmt: skip
    code, out, _ = diff(str(CLASSIC_NGINX_SPEC), "-t", "nginx", "--against", str(config))
    assert code == 1
    assert out.splitlines() == [
        f"frontend kubernetes-api: proxy_timeout 10m → 3s ({config}:15)",
        f"upstream kubernetes-api: server 192.168.2.2:6443: weight 3 → 5 ({config}:7)",
        f"upstream kubernetes-api: server 192.168.2.3:6443: removed ({config}:8)",
    ]


def test_nginx_plus_changed_health_check_is_reported_once(tmp_path: Path) -> None:
    """A changed NGINX Plus ``health_check`` is read onto the upstream's servers; the server
    block must not report the same directive again as an unmodelled extra."""
    spec = ROOT / "tests" / "cases" / "check-http-expect-codes" / "spec.yaml"
    rendered = tmp_path / "rendered.conf"
    rendered.write_text(lbgen.render(lbgen.load_spec(spec), "nginx-plus").text)
    config = edited(
        tmp_path, rendered,
        ("health_check interval=3s", "health_check interval=7s"),
        ("health_check_timeout 3s;", "health_check_timeout 4s;"),
    )  # fmt: skip
    code, out, _ = diff(str(spec), "-t", "nginx-plus", "--against", str(config))
    assert code == 1
    assert out.splitlines() == [
        f"upstream web: health_check_timeout 4s → 3s ({config}:30)",
        f"upstream web: inter 7s → 3s ({config}:29)",
    ]


def test_nginx_plus_health_check_change_is_said_once_not_per_server(tmp_path: Path) -> None:
    """One ``health_check`` line gives every server of the upstream its ``passes``: a changed
    value is one change on the upstream, not the same line once per server; a server that sets
    its own value (its own line) is still named."""
    spec = ROOT / "tests" / "cases" / "check-http-expect-codes" / "spec.yaml"
    rendered = tmp_path / "rendered.conf"
    rendered.write_text(lbgen.render(lbgen.load_spec(spec), "nginx-plus").text)
    config = edited(
        tmp_path, rendered,
        ("passes=1", "passes=5"),
        ("(200|204|401)", "(200|401)"),
        ("server 10.0.0.2:8080 weight=100;", "server 10.0.0.2:8080 weight=50;"),
    )  # fmt: skip
    code, out, _ = diff(str(spec), "-t", "nginx-plus", "--against", str(config))
    assert code == 1
    assert out.splitlines() == [
        f"upstream web: check expect status 200,401 → 200,204,401 ({config}:29)",
        f"upstream web: rise 5 → 1 ({config}:29)",
        f"upstream web: server 10.0.0.2:8080: weight 50 → 100 ({config}:13)",
    ]


def test_nginx_blocks_pair_up_when_listen_and_upstream_name_change(tmp_path: Path) -> None:
    config = edited(tmp_path, CLASSIC / "nginx.conf",
                    ("listen 6443;", "listen 127.0.0.1:6443;"),
                    ("upstream kubernetes-api {", "upstream apiservers {"),
                    ("proxy_pass kubernetes-api;", "proxy_pass apiservers;"))  # fmt: skip
    code, out, _ = diff(str(CLASSIC_NGINX_SPEC), "-t", "nginx", "--against", str(config))
    assert code == 1
    assert out.splitlines() == [
        f"frontend kubernetes-api: listen 127.0.0.1:6443 → 0.0.0.0:6443 ({config}:11)",
        f"frontend kubernetes-api: proxy_pass apiservers → kubernetes-api ({config}:12)",
        f"upstream kubernetes-api: name apiservers → kubernetes-api ({config}:5)",
    ]


# --- what does not count -----------------------------------------------------------------------


def test_spellings_inheritance_and_order_do_not_count(tmp_path: Path) -> None:
    """Per-server ``inter 10000`` for ``default-server inter 10s``, ms for s, servers swapped,
    a named defaults section, comments and indentation."""
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "global\n  log stdout format raw local0\n"
        "defaults tcp\n  mode tcp\n  log global\n  option tcplog\n  option dontlognull\n"
        "  timeout connect 5000\n  timeout client 3600000ms\n  timeout server 60m\n"
        "  timeout tunnel 1h\n  timeout client-fin 10000\n  timeout server-fin 10s\n"
        "frontend kubernetes-api from tcp\n  default_backend kubernetes-api\n  bind 0.0.0.0:6443\n"
        "backend kubernetes-api from tcp\n  option redispatch\n  retries 3\n"
        "  # second server first\n"
        "  server k8s-master2 192.168.2.2:6443 weight 100 maxqueue 256 maxconn 250 "
        "slowstart 60000 fall 2 rise 2 downinter 5000 inter 10000 check\n"
        "  server k8s-master1 192.168.2.1:6443 check inter 10s downinter 5s rise 2 fall 2 "
        "slowstart 1m maxconn 250 maxqueue 256 weight 100\n"
    )
    code, out, _ = diff(str(CLASSIC_HAPROXY_SPEC), "-t", "haproxy", "--against", str(config))
    assert (code, out) == (0, "equivalent\n")


def test_an_nginx_zone_does_not_count(tmp_path: Path) -> None:
    """A shared-memory zone is the workers' run-time state, not configuration: the classic
    block is equivalent with or without one (and whether lbgen writes one or not)."""
    zone = ("upstream kubernetes-api {", "upstream kubernetes-api {\n        zone k 1m;")
    config = edited(tmp_path, CLASSIC / "nginx.conf", zone)
    code, out, _ = diff(str(CLASSIC_NGINX_SPEC), "-t", "nginx", "--against", str(config))
    assert (code, out) == (0, "equivalent\n")


def test_connect_ssl_rule_equals_check_ssl_on_the_servers(tmp_path: Path) -> None:
    """kubeadm's ``http-check connect ssl`` + ``check verify none`` is lbgen's
    ``check check-ssl verify none``: the check speaks TLS either way."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nglobal: {log: null}\n"
        "defaults:\n  health: {path: /healthz, interval: null, fast_interval: null,"
        " down_interval: null, rise: null, fall: null, timeout: null}\n"
        "  weight: null\n  retries: null\n  redispatch: null\n"
        "  timeouts: {connect: 5s, client: 35s, server: 35s, tunnel: null, client_fin: null,"
        " server_fin: null}\n"
        "frontends:\n  api: {bind: [':8443'], pool: cp}\n"
        "pools:\n  cp:\n    servers: {cp-1: '10.20.0.11:6443', cp-2: '10.20.0.12:6443'}\n"
    )
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "defaults\n  mode tcp\n  option dontlognull\n  timeout connect 5s\n"
        "  timeout client 35s\n  timeout server 35s\n"
        "frontend api\n  bind *:8443\n  default_backend cp\n"
        "backend cp\n  option httpchk\n  http-check connect ssl\n"
        "  http-check send meth GET uri /healthz\n  http-check expect status 200\n"
        "  server cp-1 10.20.0.11:6443 check verify none\n"
        "  server cp-2 10.20.0.12:6443 check verify none\n"
    )
    code, out, _ = diff(str(spec), "-t", "haproxy", "--against", str(config))
    assert (code, out) == (0, "equivalent\n")


def test_timeout_check_without_checked_servers_does_not_count(tmp_path: Path) -> None:
    spec = lbgen.load_spec(
        b"version: 1\nglobal: {log: null}\ndefaults:\n  health: {check: none}\n"
        b"  weight: null\n  retries: null\n  redispatch: null\n"
        b"  timeouts: {connect: null, client: null, server: null, tunnel: null,"
        b" client_fin: null, server_fin: null}\n"
        b"frontends: {f: {bind: [':1'], pool: p}}\npools: {p: {servers: {s: '10.0.0.1:1'}}}\n",
        filename="spec.yaml",
    )
    text = (
        "defaults\n  mode tcp\n  option dontlognull\n  timeout check 5s\n"
        "frontend f\n  bind :1\n  default_backend p\nbackend p\n  server s 10.0.0.1:1\n"
    )
    assert diff_config(spec, "haproxy", text, "haproxy.cfg").equivalent


# --- provenance drift ----------------------------------------------------------------------------


def test_a_file_rendered_from_another_spec_is_drift_first(tmp_path: Path) -> None:
    rendered = tmp_path / "haproxy.cfg"
    rendered.write_text(lbgen.render(lbgen.load_spec(CLASSIC_HAPROXY_SPEC), "haproxy").text)
    other = edited(tmp_path, CLASSIC_HAPROXY_SPEC, ("  maxconn: 250", "  maxconn: 300"))
    theirs = lbgen.resolve.spec_digest(lbgen.load_spec(CLASSIC_HAPROXY_SPEC))
    ours = lbgen.resolve.spec_digest(lbgen.load_spec(other))
    code, out, _ = diff(str(other), "-t", "haproxy", "--against", str(rendered))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        f"generated from another spec: sha256 {theirs}, this spec is {ours} ({rendered}:4)"
    )
    assert lines[1].startswith("backend kubernetes-api: server k8s-master1: maxconn 250 → 300")
    assert len(lines) == 3


def test_drift_alone_is_reported_but_equivalent(tmp_path: Path) -> None:
    """An explicit value equal to the built-in changes the hash, not the config."""
    rendered = tmp_path / "haproxy.cfg"
    rendered.write_text(lbgen.render(lbgen.load_spec(CLASSIC_HAPROXY_SPEC), "haproxy").text)
    other = edited(
        tmp_path, CLASSIC_HAPROXY_SPEC, ("  weight: 100\n", "  weight: 100\n  retries: 3\n")
    )
    code, out, _ = diff(str(other), "-t", "haproxy", "--against", str(rendered), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["kind"] for r in rows] == ["drift"]
    assert (rows[0]["file"], rows[0]["line"]) == (str(rendered), 4)
    code, out, _ = diff(str(other), "-t", "haproxy", "--against", str(rendered))
    assert out.splitlines()[-1] == "equivalent"
    assert out.startswith("generated from another spec: sha256 ")


def test_the_same_spec_has_no_drift(tmp_path: Path) -> None:
    rendered = tmp_path / "nginx.conf"
    rendered.write_text(lbgen.render(lbgen.load_spec(CLASSIC_NGINX_SPEC), "nginx").text)
    assert lbgen.diff(lbgen.load_spec(CLASSIC_NGINX_SPEC), "nginx", rendered).text() == (
        "equivalent\n"
    )


# --- formats ------------------------------------------------------------------------------------


def test_json_lists_each_change_with_its_location(tmp_path: Path) -> None:
    config = edited(tmp_path, CLASSIC / "haproxy.cfg",
                    ("192.168.2.2:6443 check", "192.168.2.2:6443 check weight 50"))  # fmt: skip
    code, out, _ = diff(str(CLASSIC_HAPROXY_SPEC), "-t", "haproxy", "--against", str(config),
                        "--format", "json")  # fmt: skip
    assert code == 1
    assert json.loads(out) == [
        {
            "kind": "changed",
            "scope": "backend kubernetes-api: server k8s-master2",
            "setting": "weight",
            "config": "50",
            "spec": "100",
            "file": str(config),
            "line": 43,
            "path": ["backends", "kubernetes-api", "servers", "k8s-master2", "weight"],
            "text": f"backend kubernetes-api: server k8s-master2: weight 50 → 100 ({config}:43)",
        }
    ]


def test_json_of_an_equivalent_config_is_an_empty_list() -> None:
    code, out, _ = diff(str(CLASSIC_NGINX_SPEC), "-t", "nginx", "--format", "json",
                        "--against", str(CLASSIC / "nginx.conf"))  # fmt: skip
    assert (code, json.loads(out)) == (0, [])


def test_unified_follows_the_semantic_exit_code(tmp_path: Path) -> None:
    config = edited(tmp_path, CLASSIC / "nginx.conf", ("proxy_timeout 3s", "proxy_timeout 1h"))
    code, out, _ = diff(str(CLASSIC_NGINX_SPEC), "-t", "nginx", "--format", "unified",
                        "--against", str(config))  # fmt: skip
    assert code == 1
    assert "-        proxy_timeout 1h;\n" in out
    assert "+        proxy_timeout 3s;\n" in out


def test_layout_is_passed_to_the_renderer() -> None:
    config = str(CLASSIC / "nginx.conf")
    code, out, _ = diff(str(CLASSIC_NGINX_SPEC), "-t", "nginx", "--layout", "full",
                        "--format", "unified", "--against", config)  # fmt: skip
    # A stream file says nothing of the workers: the full rendering's are no difference.
    assert code == 0
    assert "+worker_processes auto;" in out


# --- bad input: exit 2, no traceback -------------------------------------------------------------


def test_missing_config_is_exit_2(tmp_path: Path) -> None:
    code, out, err = diff(str(CLASSIC_HAPROXY_SPEC), "-t", "haproxy",
                          "--against", str(tmp_path / "nope.cfg"))  # fmt: skip
    assert code == 2
    assert f"{tmp_path / 'nope.cfg'}: error [CONF001] cannot read config" in err
    assert out == ""


def test_invalid_spec_is_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nfrontends: {}\n")
    code, _, err = diff(str(spec), "-t", "haproxy", "--against", str(CLASSIC / "haproxy.cfg"))
    assert code == 2
    assert "error" in err and "Traceback" not in err


def test_config_of_the_other_engine_is_exit_2() -> None:
    code, _, err = diff(str(CLASSIC_HAPROXY_SPEC), "-t", "nginx",
                        "--against", str(CLASSIC / "haproxy.cfg"))  # fmt: skip
    assert code == 2
    assert "[diff-engine] this looks like an haproxy config, but target nginx renders nginx" in err


@pytest.mark.parametrize("name", ["haproxy.cfg", "nginx.conf"])
@pytest.mark.parametrize("text", ["", "# nothing here yet\n"])
@pytest.mark.parametrize("target", ["haproxy", "nginx"])
def test_a_config_without_directives_is_compared_whatever_its_name(
    name: str, text: str, target: str, tmp_path: Path
) -> None:
    """Only the text says which engine a config is for: an empty or comment-only file (once
    "this looks like an haproxy config" for any ``.cfg``) has none of the rendering yet."""
    config = tmp_path / name
    config.write_text(text)
    code, out, err = diff(str(CLASSIC_HAPROXY_SPEC), "-t", target, "--against", str(config))
    assert code == 1, err
    assert "diff-engine" not in err
    assert "frontend" in out and "added" in out


def test_a_spec_the_target_cannot_render_is_exit_2() -> None:
    spec = ROOT / "tests" / "cases" / "balance-first" / "spec.yaml"
    code, _, err = diff(str(spec), "-t", "nginx", "--against", str(CLASSIC / "nginx.conf"))
    assert code == 2
    assert "error [nginx-balance-first]" in err


def test_broken_config_values_are_exit_2(tmp_path: Path) -> None:
    broken = ("timeout server          1h", "timeout server          1 hour")
    config = edited(tmp_path, CLASSIC / "haproxy.cfg", broken)
    code, _, err = diff(str(CLASSIC_HAPROXY_SPEC), "-t", "haproxy", "--against", str(config))
    assert code == 2
    assert f"{config}:24:5: error [CONF103] timeout server: expects one duration" in err


def test_binary_config_in_a_real_process(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_bytes(b"global\n\x00\x01\x02")
    result = run_lbgen("diff", str(CLASSIC_HAPROXY_SPEC), "-t", "haproxy", "--against", str(config))
    assert result.returncode == 2
    assert "binary data" in result.stderr and "Traceback" not in result.stderr


def test_library_raises_spec_error_for_unreadable_configs(tmp_path: Path) -> None:
    with pytest.raises(SpecError):
        lbgen.diff(lbgen.load_spec(CLASSIC_HAPROXY_SPEC), "haproxy", tmp_path / "missing.cfg")


def test_a_stats_listener_is_compared_with_lbgen_stats_by_role(tmp_path: Path) -> None:
    config = ROOT / "tests" / "corpus" / "real" / "debian-stock-k0s-docs.cfg"
    spec = tmp_path / "k0s.yaml"
    done = run_lbgen("import", str(config), "--from", "haproxy", "-o", str(spec))
    assert done.returncode == 0, done.stderr
    text = spec.read_text(encoding="utf-8")
    assert "    uri: /\n" in text  # the page's own uri, imported
    # the two pages are matched by role, and then compared setting by setting
    spec.write_text(text.replace("    uri: /\n", "    uri: /stats\n"), encoding="utf-8")
    code, out, _ = diff(str(spec), "-t", "haproxy", "--against", str(config))
    assert code == 1
    lines = [line.split(" (")[0] for line in out.splitlines()]
    # the config's "listen stats" and lbgen's frontend lbgen-stats are one stats page on :9000
    assert not [line for line in lines if line.endswith(("removed", "added"))
                and line.startswith(("frontend stats", "backend stats", "frontend lbgen-stats:"))
                and line.count(":") == 1]  # fmt: skip
    assert "frontend lbgen-stats: stats uri /: removed" in lines
    assert "frontend lbgen-stats: stats uri /stats: added" in lines
    # the k0s proxies are tcp: their inherited errorfile/httplog lines mean nothing
    assert not [line for line in lines if line.startswith(("frontend kubeAPI", "backend kubeAPI"))]


def test_a_statements_own_semicolon_does_not_end_up_before_the_colon() -> None:
    """``events: multi_accept on: removed``, not ``multi_accept on;: removed``."""
    from lbgen.compare import Change

    change = Change("removed", "events", "multi_accept on;", None, None)
    assert change.text() == "events: multi_accept on: removed"


def test_a_process_setting_names_its_line(tmp_path: Path) -> None:
    """``global: maxconn … (FILE:LINE)``: a global difference ends with its line, as every
    other one does (it had none)."""
    import lbgen

    rendered = tmp_path / "rendered.cfg"
    spec = EXAMPLES / "kubernetes-api.yaml"
    rendered.write_text(lbgen.render(lbgen.load_spec(spec), "haproxy").text)
    line = next(i for i, t in enumerate(rendered.read_text().splitlines(), 1) if "maxconn" in t)
    config = edited(tmp_path, rendered, ("maxconn 20000", "maxconn 4096"))
    code, out, _ = diff(str(spec), "-t", "haproxy", "--against", str(config))
    assert code == 1
    assert f"global: maxconn 4096 → 20000 ({config}:{line})" in out.splitlines()
