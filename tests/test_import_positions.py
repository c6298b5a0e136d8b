"""lbgen import: an imported spec that does not render is an error at the config line its
failing field was read from (``import-invalid``), in the config's words, where the engine itself
points. A config the engine refuses outright is the reader's error, at the line the engine names
(here nginx's "balancing method does not support parameter backup")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lbgen.cli import app
from lbgen.diagnostics import Diagnostic, Level, SpecError
from lbgen.importer import INVALID, import_config
from lbgen.nginx.effective import BACKUP_REFUSED
from lbgen.runners import LocalRunner
from tests.engine_check import engine_check

# opsnull/follow-me-install-kubernetes-cluster's nginx proxy (loopback addresses): consistent
# hashing with two backup servers, which nginx refuses.
BACKUP_WITH_HASH = """\
stream {
    upstream backend {
        hash $remote_addr consistent;
        server 127.0.0.1:17001          max_fails=3 fail_timeout=30s;
        server 127.0.0.2:17001         max_fails=3 fail_timeout=30s backup;
        server 127.0.0.3:17001        max_fails=3 fail_timeout=30s backup;
    }

    server {
        listen 127.0.0.1:16443;
        proxy_connect_timeout 1s;
        proxy_pass backend;
    }
}
"""
FIRST_BACKUP = 5
#: The same upstream with its method line after the servers: nginx accepts it.
HASH_AFTER = BACKUP_WITH_HASH.replace("        hash $remote_addr consistent;\n", "").replace(
    "backup;\n    }", "backup;\n        hash $remote_addr consistent;\n    }"
)
#: Every server a backup: the reader takes it, nginx refuses it ("no servers in upstream", at
#: the upstream's line), and so does the imported spec's rendering.
ALL_BACKUP = BACKUP_WITH_HASH.replace("        hash $remote_addr consistent;\n", "").replace(
    "fail_timeout=30s;\n", "fail_timeout=30s backup;\n"
)
UPSTREAM_LINE = 2


def _invalid(text: str, name: str = "lb.conf") -> list[Diagnostic]:
    result = import_config(text, name, "nginx")
    assert not result.ok
    return [d for d in result.diagnostics if d.code == INVALID]


def _needs_nginx() -> None:
    if not LocalRunner().available("nginx"):
        pytest.fail("nginx is not installed (scripts/test installs it)")


def test_backups_after_a_hash_line_are_the_readers_error_at_each_backup() -> None:
    with pytest.raises(SpecError) as caught:
        import_config(BACKUP_WITH_HASH, "lb.conf", "nginx")
    found = [(d.code, d.line, d.col) for d in caught.value.diagnostics]
    assert found == [(BACKUP_REFUSED, FIRST_BACKUP, 9), (BACKUP_REFUSED, FIRST_BACKUP + 1, 9)]
    assert "is backup after 'hash $remote_addr consistent' (line 3)" in (
        caught.value.diagnostics[0].message
    )


def test_nginx_refuses_the_same_line_and_accepts_the_method_after_the_servers() -> None:
    """The oracle: nginx -t names the first backup server's line, and takes the same upstream
    with its method line last, which the reader reads without an error."""
    _needs_nginx()
    result = engine_check(BACKUP_WITH_HASH, "nginx")
    assert not result.ok
    assert 'does not support parameter "backup"' in result.output
    lines = {int(n) for n in re.findall(r":(\d+)\b", result.output.split("backup", 1)[1])}
    assert FIRST_BACKUP in lines, result.output
    assert engine_check(HASH_AFTER, "nginx").ok
    assert not [d for d in import_config(HASH_AFTER, "lb.conf", "nginx").diagnostics
                if d.code == BACKUP_REFUSED]  # fmt: skip


def test_an_imported_spec_that_does_not_render_points_at_the_config() -> None:
    _needs_nginx()
    assert "no servers in upstream" in engine_check(ALL_BACKUP, "nginx").output
    found = _invalid(ALL_BACKUP)
    assert [(d.level, d.file, d.line, d.col) for d in found] == [
        (Level.ERROR, "lb.conf", UPSTREAM_LINE, 5)
    ]
    assert found[0].message.startswith("the imported spec does not render servers: every server")


def test_a_renamed_upstream_is_still_traced() -> None:
    # The spec refuses the name: the pool is found by its servers' addresses.
    text = ALL_BACKUP.replace("upstream backend", 'upstream "cp~api"').replace(
        "proxy_pass backend", 'proxy_pass "cp~api"'
    )
    assert [(d.line, d.col) for d in _invalid(text)] == [(UPSTREAM_LINE, 5)]


def test_the_command_line_shows_file_line_col(tmp_path: Path) -> None:
    config = tmp_path / "all-backup.conf"
    config.write_text(ALL_BACKUP)
    result = CliRunner().invoke(app, ["import", str(config)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{config}:{UPSTREAM_LINE}:5: error [import-invalid] the imported spec" in result.stderr
    config.write_text(BACKUP_WITH_HASH)
    result = CliRunner().invoke(app, ["import", str(config)])
    assert result.exit_code == 2
    assert f"{config}:{FIRST_BACKUP}:9: error [{BACKUP_REFUSED}] upstream backend" in result.stderr


# A server value HAProxy takes but wraps (maxconn past its 32-bit integer): the reader reads it,
# the imported spec refuses it (haproxy-range), at that server's line.
WRAPPED_MAXCONN = """\
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend api
    bind 127.0.0.1:16443
    default_backend cp
backend cp
    server m1 127.0.0.1:6443 check
    server m2 127.0.0.1:6443 check maxconn 3000000000
"""


def test_a_servers_field_is_traced_to_its_line_among_servers_of_one_address() -> None:
    """Both servers have one address: the second, whose maxconn fails, is the one named."""
    if LocalRunner().available("haproxy"):
        assert engine_check(WRAPPED_MAXCONN, "haproxy").ok  # HAProxy starts (and wraps it)
    result = import_config(WRAPPED_MAXCONN, "haproxy.cfg", "haproxy")
    found = [(d.line, d.col) for d in result.diagnostics if d.code == INVALID]
    assert found == [(11, 5)]
    assert any("maxconn" in d.message for d in result.diagnostics if d.code == INVALID)
