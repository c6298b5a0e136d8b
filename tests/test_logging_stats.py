"""global.log entries (facility, levels, format, several targets), defaults.log_format and
dontlognull, and the stats page's fields: rendered for HAProxy, accepted by the real haproxy,
imported back to the same spec, and equivalent under diff."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lbgen.importer import import_config
from tests.corpus_engines import STREAM_MODULE
from tests.support import run_lbgen

HAPROXY = shutil.which("haproxy")

SPEC = """\
version: 1
global:
  log:
    - syslog
    - {target: "udp://127.0.0.1:514", facility: local1, level: notice, min_level: alert,
       format: rfc5424}
  stats:
    bind: 127.0.0.1:8404
    uri: /haproxy_stats
    refresh: 30s
    auth: ["admin:s3cret", "ops:pw"]
    admin: true
    hide_version: true
    monitor_uri: /healthz
defaults:
  log_format: none
  dontlognull: false
frontends:
  api: {bind: ["127.0.0.1:6443"], pool: cp}
pools:
  cp: {servers: {m1: "127.0.0.1:7001"}}
"""


def _render(tmp_path: Path) -> Path:
    spec = tmp_path / "lb.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "haproxy.cfg"
    result = run_lbgen("render", str(spec), "-t", "haproxy", "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_log_entries_and_stats_fields_are_rendered(tmp_path: Path) -> None:
    text = _render(tmp_path).read_text()
    assert "    log /dev/log local0\n" in text
    assert "    log 127.0.0.1:514 format rfc5424 local1 notice alert\n" in text
    assert "option tcplog" not in text and "option dontlognull" not in text
    for line in ("stats uri /haproxy_stats", "stats refresh 30s", "stats auth admin:s3cret",
                 "stats auth ops:pw", "stats admin if TRUE", "stats hide-version",
                 "monitor-uri /healthz"):  # fmt: skip
        assert f"    {line}\n" in text, line


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")
def test_haproxy_accepts_the_output(tmp_path: Path) -> None:
    assert HAPROXY is not None
    cfg = _render(tmp_path)
    check = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_import_of_the_output_is_equivalent(tmp_path: Path) -> None:
    cfg = _render(tmp_path)
    result = import_config(cfg.read_text(), str(cfg), "haproxy")
    assert result.ok, result.diagnostics
    assert not result.diagnostics, [str(d) for d in result.diagnostics]
    spec = tmp_path / "imported.yaml"
    spec.write_text(result.yaml_text)
    diff = run_lbgen("diff", str(spec), "-t", "haproxy", "--against", str(cfg))
    assert diff.returncode == 0, diff.stdout + diff.stderr


def test_a_real_log_line_keeps_its_facility_and_level() -> None:
    config = (
        "global\n  log /dev/log local0\n  log /dev/log local1 notice\n"
        "defaults\n  mode tcp\n  log global\n  option dontlognull\n"
        "frontend api\n  bind :6443\n  default_backend cp\n"
        "backend cp\n  server m1 10.0.0.1:6443\n"
    )
    text = import_config(config, "kind.cfg", "haproxy").yaml_text
    assert "log: [syslog, {target: syslog, facility: local1, level: notice}]" in text
    assert "log_format: none" in text  # no option tcplog: HAProxy's minimal line


def test_min_level_without_level_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(SPEC.replace("level: notice, ", ""))
    result = run_lbgen("validate", str(spec))
    assert result.returncode == 2
    assert f"{spec}:5:68: error [value] global.log[1].min_level: min_level needs level" in (
        result.stderr
    )


NGINX_SPEC = """\
version: 1
global:
  log:
    - {target: "udp://127.0.0.1:514", facility: cron2, level: warning, format: rfc5424}
    - stdout
frontends:
  api: {bind: ["127.0.0.1:6443"], pool: cp}
pools:
  cp: {servers: {m1: "127.0.0.1:7001"}}
"""


def test_nginx_writes_the_facility_and_level_and_warns_for_the_rest(tmp_path: Path) -> None:
    spec = tmp_path / "lb.yaml"
    spec.write_text(NGINX_SPEC)
    out = tmp_path / "nginx.conf"
    result = run_lbgen("render", str(spec), "-t", "nginx", "--layout", "full", "--validate",
                       "--load-module", STREAM_MODULE,
                       "-o", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    # HAProxy's cron2 is facility 15, which nginx calls cron; warning is nginx's warn.
    assert "error_log syslog:server=127.0.0.1:514,facility=cron warn;\n" in text
    assert "access_log syslog:server=127.0.0.1:514,facility=cron lbgen;\n" in text
    warning = [line for line in result.stderr.splitlines() if "nginx-unsupported" in line]
    assert len(warning) == 1 and warning[0].startswith(f"{spec}:4:5: warning"), result.stderr
    for lost in ("stdout (lbgen writes nginx one log target", "level warning for the access log",
                 "format rfc5424"):  # fmt: skip
        assert lost in warning[0], warning[0]


def test_nginx_import_reads_the_facility_back() -> None:
    config = (
        "stream {\n  access_log syslog:server=10.0.0.9:514,facility=intern;\n"
        "  upstream cp { server 10.0.0.1:6443; }\n"
        "  server { listen 6443; proxy_pass cp; }\n}\n"
    )
    result = import_config(config, "nginx.conf", "nginx")
    assert "target: udp://10.0.0.9:514\n    facility: syslog\n" in result.yaml_text, (
        result.yaml_text
    )
    assert not [d for d in result.diagnostics if "access_log" in d.message]


def test_admin_without_auth_is_warned(tmp_path: Path) -> None:
    spec = tmp_path / "lb.yaml"
    spec.write_text(SPEC.replace('    auth: ["admin:s3cret", "ops:pw"]\n', ""))
    result = run_lbgen("render", str(spec), "-t", "haproxy", "-o", str(tmp_path / "h.cfg"))
    assert result.returncode == 0, result.stderr
    assert f"{spec}:11:12: warning [stats-admin-open] global.stats.admin:" in result.stderr, (
        result.stderr
    )
    spec.write_text(SPEC)
    result = run_lbgen("render", str(spec), "-t", "haproxy", "-o", str(tmp_path / "h.cfg"))
    assert "stats-admin-open" not in result.stderr


NGINX_LOG_SPEC = """\
version: 1
name: logs
global:
  log: LOG
frontends:
  api: {bind: ["127.0.0.1:16443"], pool: cp}
pools:
  cp: {servers: {m1: "127.0.0.1:7001"}}
"""


@pytest.mark.parametrize(
    ("log", "reported"),
    [
        ("udp://127.0.0.1:514", None),
        ("stdout", "global: access_log syslog:server=127.0.0.1:514 → /dev/stdout"),
        ("none", "global: access_log syslog:server=127.0.0.1:514 → unset"),
        ("udp://127.0.0.2:514", "→ syslog:server=127.0.0.2:514"),
    ],
)
def test_nginx_diff_compares_where_the_stream_level_logs(
    tmp_path: Path, log: str, reported: str | None
) -> None:
    """``global.log`` is the stream level's ``access_log``: a config rendered with one log
    target differs from a spec with another (it used to be "equivalent")."""
    rendered_from = tmp_path / "before.yaml"
    rendered_from.write_text(NGINX_LOG_SPEC.replace("LOG", "udp://127.0.0.1:514"))
    config = tmp_path / "stream.conf"
    result = run_lbgen("render", str(rendered_from), "-t", "nginx", "-o", str(config))
    assert result.returncode == 0, result.stderr
    spec = tmp_path / "after.yaml"
    spec.write_text(NGINX_LOG_SPEC.replace("LOG", log))
    result = run_lbgen("diff", str(spec), "--against", str(config), "-t", "nginx")
    if reported is None:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "equivalent" in result.stdout
    else:
        assert result.returncode == 1, result.stdout + result.stderr
        assert reported in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("log", "reported"),
    [
        ("{target: stdout, level: warning}", None),
        ("{target: stdout, level: info}", "global: error_log stderr warn → stderr info"),
        ("{target: stdout}", "global: error_log stderr warn → stderr ("),
        ("none", "global: error_log stderr warn → unset"),
    ],
)
def test_nginx_diff_compares_the_main_contexts_error_log(
    tmp_path: Path, log: str, reported: str | None
) -> None:
    """In a whole nginx.conf, ``global.log`` also writes the main context's ``error_log``, level
    and all: a config rendered with one level differs from a spec with another (only the
    provenance digest told them apart before, and that alone exits 0)."""
    rendered_from = tmp_path / "before.yaml"
    rendered_from.write_text(NGINX_LOG_SPEC.replace("LOG", "{target: stdout, level: warning}"))
    config = tmp_path / "nginx.conf"
    args = ("-t", "nginx", "--layout", "full")
    result = run_lbgen("render", str(rendered_from), *args, "-o", str(config))
    assert result.returncode == 0, result.stderr
    assert "\nerror_log stderr warn;\n" in config.read_text()
    spec = tmp_path / "after.yaml"
    spec.write_text(NGINX_LOG_SPEC.replace("LOG", log))
    result = run_lbgen("diff", str(spec), "--against", str(config), *args)
    if reported is None:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "equivalent" in result.stdout
    else:
        assert result.returncode == 1, result.stdout + result.stderr
        assert reported in result.stdout + "\n", result.stdout


def test_nginx_diff_reads_an_error_log_only_in_the_main_context(tmp_path: Path) -> None:
    """An ``error_log`` inside the stream block is the stream level's own statement (an extra),
    not the main context's: it is reported as an extra, never as ``global: error_log``."""
    spec = tmp_path / "lb.yaml"
    spec.write_text(NGINX_LOG_SPEC.replace("LOG", "stdout"))
    config = tmp_path / "stream.conf"
    result = run_lbgen("render", str(spec), "-t", "nginx", "-o", str(config))
    assert result.returncode == 0, result.stderr
    text = config.read_text()
    config.write_text(text.replace("stream {\n", "stream {\n    error_log stderr info;\n", 1))
    result = run_lbgen("diff", str(spec), "--against", str(config), "-t", "nginx")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error_log stderr info" in result.stdout, result.stdout
    assert "global: error_log" not in result.stdout, result.stdout
    config.write_text("error_log stderr info;\n" + text)
    result = run_lbgen("diff", str(spec), "--against", str(config), "-t", "nginx")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "global: error_log stderr info → unset" in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("written", "same"),
    [
        ("error_log syslog:server=192.0.2.5:514 error;", True),  # error is the default level
        ("error_log syslog:server=192.0.2.5;", True),  # 514 is the default port
        ("error_log syslog:server=192.0.2.5:514 warn;", False),
        ("error_log syslog:server=192.0.2.5:1514;", False),
    ],
)
def test_nginx_log_lines_that_say_its_default_are_no_difference(written: str, same: bool) -> None:
    """nginx's core module docs: an error_log's level defaults to ``error``, and a syslog server
    without a port is sent to on UDP 514. The real nginx accepts every spelling."""
    from lbgen.effective import effective
    from lbgen.effective.differ import differences
    from lbgen.nginx.syntax import parse_nginx
    from lbgen.runners import LocalRunner
    from lbgen.runners.local import local_stream_module
    from tests.engine_check import can_isolate, isolated_check

    body = (
        "events {}\nstream {\n    upstream u {\n        server 127.0.0.1:6443;\n    }\n"
        "    server {\n        listen 127.0.0.1:7443;\n        proxy_pass u;\n    }\n}\n"
    )
    plain = "error_log syslog:server=192.0.2.5:514;\n" + body
    edited = f"{written}\n" + body

    def model(text: str) -> object:
        return effective(parse_nginx(text, "nginx.conf"))

    assert (not differences(model(plain), model(edited))) is same  # type: ignore[arg-type]
    if can_isolate() and LocalRunner().available("nginx"):
        # Only in a namespace of its own: no packet to the syslog server can leave it.
        module = local_stream_module()
        text = f"load_module {module};\n{edited}" if module else edited
        checked = isolated_check(text, "nginx", strict=False)
        assert checked.ok, checked.output


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ("admin:s3cr et", "the entry of user 'admin'"),
        ("s3cr3t-no-user", "the entry (no ':' in it)"),
    ],
)
def test_a_bad_stats_auth_entry_is_reported_without_its_password(
    entry: str, named: str, tmp_path: Path
) -> None:
    """The message reaches CI and Ansible logs, where a vault-encrypted password would be shown
    decrypted: it names the entry and the user, never the password."""
    spec = tmp_path / "lb.yaml"
    spec.write_text(SPEC.replace('auth: ["admin:s3cret", "ops:pw"]', f'auth: ["{entry}"]'))
    result = run_lbgen("validate", str(spec))
    assert result.returncode == 2
    assert f"lb.yaml:11:12: error [value] global.stats.auth[0]: {named} is not" in result.stderr
    assert "s3cr" not in result.stdout + result.stderr
