"""lbgen import: an imported spec that does not render is an error at the config line its
failing field was read from (``import-invalid``), in the config's words, where nginx itself
points."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lbgen.cli import app
from lbgen.diagnostics import Diagnostic, Level
from lbgen.importer import INVALID, import_config
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


def _invalid(text: str, name: str = "lb.conf") -> list[Diagnostic]:
    result = import_config(text, name, "nginx")
    assert not result.ok
    return [d for d in result.diagnostics if d.code == INVALID]


def test_the_error_points_at_each_backup_server() -> None:
    found = _invalid(BACKUP_WITH_HASH)
    assert [(d.level, d.file, d.line, d.col) for d in found] == [
        (Level.ERROR, "lb.conf", FIRST_BACKUP, 9),
        (Level.ERROR, "lb.conf", FIRST_BACKUP + 1, 9),
    ]
    for d in found:
        # nginx's own directive, not the spec's "balance source".
        assert d.message == (
            "the imported spec does not render backup: nginx rejects 'backup' servers with "
            "hash $remote_addr consistent"
        )
        assert "balance source" not in d.message


def test_nginx_refuses_the_same_line() -> None:
    # The oracle: nginx -t names the first backup server's line.
    if not LocalRunner().available("nginx"):
        pytest.skip("nginx is not installed")
    result = engine_check(BACKUP_WITH_HASH, "nginx")
    assert not result.ok
    assert 'does not support parameter "backup"' in result.output
    lines = {int(n) for n in re.findall(r":(\d+)\b", result.output.split("backup", 1)[1])}
    assert FIRST_BACKUP in lines, result.output
    assert _invalid(BACKUP_WITH_HASH)[0].line == FIRST_BACKUP


def test_a_renamed_upstream_is_still_traced() -> None:
    # The spec refuses the name: the pool is found by its servers' addresses.
    text = BACKUP_WITH_HASH.replace("upstream backend", 'upstream "cp~api"').replace(
        "proxy_pass backend", 'proxy_pass "cp~api"'
    )
    assert [(d.line, d.col) for d in _invalid(text)] == [(FIRST_BACKUP, 9), (FIRST_BACKUP + 1, 9)]


def test_repeated_addresses_are_told_apart() -> None:
    # nginx allows one address twice; the second entry is the backup.
    text = BACKUP_WITH_HASH.replace("127.0.0.2:17001", "127.0.0.1:17001")
    assert [(d.line, d.col) for d in _invalid(text)] == [(FIRST_BACKUP, 9), (FIRST_BACKUP + 1, 9)]


def test_the_command_line_shows_file_line_col(tmp_path: Path) -> None:
    config = tmp_path / "opsnull.conf"
    config.write_text(BACKUP_WITH_HASH)
    result = CliRunner().invoke(app, ["import", str(config)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert (
        f"{config}:{FIRST_BACKUP}:9: error [import-invalid] the imported spec does not render "
        "backup: nginx rejects 'backup' servers with hash $remote_addr consistent"
    ) in result.stderr
