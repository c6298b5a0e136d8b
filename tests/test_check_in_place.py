"""``lbgen check FILE`` runs the engine on FILE itself, so that relative includes resolve as they do
for ``nginx -t -c FILE``: nginx reads a relative ``include`` beside its ``-c`` file (haproxy
under ``default-path config`` beside its ``-f`` file), so a copy in a temp folder would look for
it there. The engine itself is the oracle: lbgen's verdict must be its own, on the same file.

Every config names only loopback addresses, sets its pid file and error log inside tmp_path (so
a check as root touches neither /run nor /var), and keeps them out of the folder of the config,
which must not change.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import lbgen
from lbgen.cli import app
from lbgen.runners import LocalRunner
from lbgen.runners.base import map_in_place_output
from lbgen.runners.local import local_stream_module
from tests.support import run_lbgen

NGINX = LocalRunner.binary("nginx")
HAPROXY = LocalRunner.binary("haproxy")
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")

runner = CliRunner()

GOOD_SERVER = "server {\n    listen 127.0.0.1:16531;\n    proxy_pass 127.0.0.1:16532;\n}\n"
#: The same server with a directive nginx does not know, on line 3 of the included file.
BAD_SERVER = GOOD_SERVER.replace("proxy_pass", "proxy_pas")


def full_config(tmp_path: Path, include: str, *, extra: str = "") -> str:
    """A full nginx.conf whose stream block includes ``include`` (relative), with its pid file
    and error log in tmp_path/run and tmp_path/logs, outside the config's folder."""
    for folder in ("run", "logs"):
        (tmp_path / folder).mkdir(exist_ok=True)
    module = local_stream_module(NGINX)
    lines = [f"load_module {module};"] if module else []
    lines += [
        f"pid {tmp_path}/run/nginx.pid;",
        f"error_log {tmp_path}/logs/error.log;",
        "events {}",
        "stream {",
        f"    include {include};",
        "}",
    ]
    return "\n".join(lines) + "\n" + extra


def write_conf(tmp_path: Path, text: str, included: str | None = None) -> Path:
    """tmp_path/conf/nginx.conf holding ``text``, and conf/extra/a.conf holding ``included``."""
    conf = tmp_path / "conf" / "nginx.conf"
    conf.parent.mkdir(exist_ok=True)
    conf.write_text(text, encoding="utf-8")
    if included is not None:
        (conf.parent / "extra").mkdir(exist_ok=True)
        (conf.parent / "extra" / "a.conf").write_text(included, encoding="utf-8")
    return conf


def nginx_verdict(conf: Path) -> subprocess.CompletedProcess[str]:
    """The oracle: ``nginx -t -c FILE``, as an operator runs it on the file."""
    assert NGINX is not None
    return subprocess.run(
        [NGINX, "-t", "-c", str(conf)], capture_output=True, text=True, timeout=60, check=False
    )


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``folder`` (the folder too): its mtime and size."""
    entries = {".": folder.stat()}
    entries.update({str(p.relative_to(folder)): p.stat() for p in sorted(folder.rglob("*"))})
    return {name: (st.st_mtime_ns, st.st_size) for name, st in entries.items()}


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    """Run in tmp_path, so that a relative FILE argument is relative to it."""
    before = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(before)


# --- nginx ---------------------------------------------------------------------------------------


@needs_nginx
def test_a_relative_include_is_read_beside_the_file(tmp_path: Path) -> None:
    """``include extra/*.conf;`` names conf/extra/, beside the user's file: its valid server is
    accepted and its unknown directive rejected with the included file's path and line, exactly
    as ``nginx -t -c FILE`` says."""
    conf = write_conf(tmp_path, full_config(tmp_path, "extra/*.conf"), GOOD_SERVER)
    assert nginx_verdict(conf).returncode == 0
    good = run_lbgen("check", str(conf))
    assert good.returncode == 0, good.stderr
    assert f"{conf}: nginx (local) accepted the config" in good.stderr

    (conf.parent / "extra" / "a.conf").write_text(BAD_SERVER, encoding="utf-8")
    engine = nginx_verdict(conf)
    complaint = f'unknown directive "proxy_pas" in {conf.parent}/extra/a.conf:3'
    assert engine.returncode != 0 and complaint in engine.stderr
    bad = run_lbgen("check", str(conf))
    assert bad.returncode == 3, bad.stderr
    assert bad.stderr.count(complaint) == 1, bad.stderr
    assert bad.stderr.count(f"configuration file {conf} test failed") == 1, bad.stderr
    assert "lbgen-check-" not in bad.stderr


@needs_nginx
@pytest.mark.parametrize(
    ("include", "accepted"),
    [
        pytest.param("extra/a.conf", True, id="file-beside-it"),
        pytest.param("missing.conf", False, id="missing-file"),
        pytest.param("missing/*.conf", True, id="glob-matching-nothing"),
    ],
)
def test_the_verdict_is_nginxs_own(tmp_path: Path, include: str, accepted: bool) -> None:
    """lbgen check FILE says what ``nginx -t -c FILE`` says: a missing file is an error, a glob
    matching nothing is not. (From a temp copy, ``extra/a.conf`` would be missing too.)"""
    conf = write_conf(tmp_path, full_config(tmp_path, include), GOOD_SERVER)
    engine = nginx_verdict(conf)
    assert (engine.returncode == 0) is accepted, engine.stderr
    result = run_lbgen("check", str(conf), "--engine", "nginx")
    assert result.returncode == (0 if accepted else 3), (result.stderr, engine.stderr)
    if not accepted:
        missing = f'open() "{conf.parent}/{include}" failed (2: No such file or directory)'
        assert missing in engine.stderr
        assert result.stderr.count(missing) == 1, result.stderr


@needs_nginx
def test_the_folder_of_the_file_is_left_alone(tmp_path: Path) -> None:
    """Nothing is written beside a file checked in place, accepted or rejected, even when the
    config names no pid file (``nginx -t`` creates one: lbgen points it at a temp folder)."""
    text = full_config(tmp_path, "extra/*.conf")
    conf = write_conf(tmp_path, text, GOOD_SERVER)
    before = snapshot(conf.parent)
    assert run_lbgen("check", str(conf)).returncode == 0
    assert snapshot(conf.parent) == before
    conf.write_text(text.replace(f"pid {tmp_path}/run/nginx.pid;\n", ""), encoding="utf-8")
    (conf.parent / "extra" / "a.conf").write_text(BAD_SERVER, encoding="utf-8")
    before = snapshot(conf.parent)
    assert run_lbgen("check", str(conf)).returncode == 3
    assert snapshot(conf.parent) == before


@needs_nginx
def test_messages_name_the_file_as_given_once(in_tmp: Path) -> None:
    """An error in the file itself names it as the user wrote it (relative here) and its line,
    once; the absolute path lbgen gives nginx does not show."""
    text = full_config(in_tmp, "extra/*.conf", extra="bogus_directive on;\n")
    conf = write_conf(in_tmp, text, GOOD_SERVER)
    line = text.splitlines().index("bogus_directive on;") + 1
    result = runner.invoke(app, ["check", "conf/nginx.conf"])
    assert result.exit_code == 3, result.output
    expected = f'unknown directive "bogus_directive" in conf/nginx.conf:{line}'
    assert result.output.count(expected) == 1, result.output
    assert result.output.count("configuration file conf/nginx.conf test failed") == 1
    assert str(conf) not in result.output
    assert "conf/nginx.conf: nginx (local) rejected the config" in result.output


@needs_nginx
def test_stdin_is_checked_from_a_temp_copy(tmp_path: Path) -> None:
    """``lbgen check -`` has no file to check in place: the text goes to a temp folder, where a
    relative include names a file beside that copy, not beside the user's file (README)."""
    text = full_config(tmp_path, "extra/*.conf")
    conf = write_conf(tmp_path, text, BAD_SERVER)
    assert nginx_verdict(conf).returncode != 0
    assert run_lbgen("check", str(conf)).returncode == 3
    # The glob matches nothing beside the copy: accepted, although conf/extra/a.conf is wrong.
    piped = run_lbgen("check", "-", "--engine", "nginx", stdin=text)
    assert piped.returncode == 0, piped.stderr
    assert "<stdin>: nginx (local) accepted the config" in piped.stderr
    # A named file beside the user's file is missing beside the copy: rejected, naming the copy.
    named = full_config(tmp_path, "extra/a.conf")
    piped = run_lbgen("check", "-", "--engine", "nginx", stdin=named)
    assert piped.returncode == 3, piped.stderr
    assert "extra/a.conf" in piped.stderr and "No such file or directory" in piped.stderr
    assert "<stdin>: nginx (local) rejected the config" in piped.stderr
    # The engine is still detected from the text.
    detected = run_lbgen("check", "-", stdin=text)
    assert detected.returncode == 0, detected.stderr


@needs_nginx
def test_the_library_checks_in_place_only_when_given_the_path(tmp_path: Path) -> None:
    """``lbgen.check(data, "nginx", path=FILE)`` is the in-place check; without ``path`` the
    bytes are checked from a copy, as before."""
    conf = write_conf(tmp_path, full_config(tmp_path, "extra/a.conf"), GOOD_SERVER)
    data = conf.read_bytes()
    in_place = lbgen.check(data, "nginx", runner="local", path=conf)
    assert in_place.ok, in_place.output
    assert str(conf) in in_place.command
    copy = lbgen.check(data, "nginx", runner="local")
    assert not copy.ok
    assert "<config>" in copy.output and str(conf) not in copy.command


@needs_nginx
def test_a_stream_file_is_still_wrapped(tmp_path: Path) -> None:
    """A stream/upstreams file is no complete config: it is included by lbgen's wrapper in a
    temp folder, given a path or not, and its messages still name the user's file."""
    conf = tmp_path / "nginx-stream.conf"
    conf.write_text("stream {\n" + BAD_SERVER + "}\n", encoding="utf-8")
    result = LocalRunner().check(conf.read_bytes(), "nginx", path=conf)
    assert not result.ok
    assert result.output.count(f'unknown directive "proxy_pas" in {conf}:4') == 1, result.output
    assert any("lbgen-wrapper.conf" in arg for arg in result.command)


# --- haproxy -------------------------------------------------------------------------------------

HAPROXY_CFG = """global
    default-path config
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
    errorfile 503 errors/503.http
frontend f
    bind 127.0.0.1:16533
    default_backend b
backend b
    server s1 127.0.0.1:16534
"""


@needs_haproxy
def test_haproxy_default_path_config_is_read_beside_the_file(tmp_path: Path) -> None:
    """Under ``default-path config`` haproxy reads relative paths beside its ``-f`` file: the
    errorfile beside the user's file is found, as ``haproxy -c -f FILE`` finds it."""
    assert HAPROXY is not None
    conf = tmp_path / "conf" / "haproxy.cfg"
    (conf.parent / "errors").mkdir(parents=True)
    (conf.parent / "errors" / "503.http").write_bytes(
        b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
    )
    conf.write_text(HAPROXY_CFG, encoding="utf-8")
    for present in (True, False):
        if not present:
            (conf.parent / "errors" / "503.http").unlink()
        engine = subprocess.run(
            [HAPROXY, "-c", "-f", str(conf)], capture_output=True, text=True, timeout=60
        )
        assert (engine.returncode == 0) is present, engine.stderr
        before = snapshot(conf.parent)
        result = run_lbgen("check", str(conf), "--engine", "haproxy")
        assert result.returncode == (0 if present else 3), (result.stderr, engine.stderr)
        assert snapshot(conf.parent) == before
        if not present:
            complaint = f"parsing [{conf}:8] : errorfile : error opening file 'errors/503.http'"
            assert result.stderr.count(complaint) == 1, result.stderr


# --- naming the file -----------------------------------------------------------------------------


def test_only_the_whole_path_of_the_file_is_renamed() -> None:
    """The checked file's absolute path becomes the name the user gave; a longer path that
    contains it (a folder beside it, a parent of the same name) keeps the engine's name."""
    output = (
        "[emerg] unknown directive in /x/nginx.conf:3\n"
        "[emerg] open() /x/nginx.conf.d/a.conf failed in /x/nginx.conf:5\n"
        "[emerg] in /srv/x/nginx.conf:1\n"
        "nginx: configuration file /x/nginx.conf test failed"
    )
    assert map_in_place_output(output, "/x/nginx.conf", "nginx.conf") == (
        "[emerg] unknown directive in nginx.conf:3\n"
        "[emerg] open() /x/nginx.conf.d/a.conf failed in nginx.conf:5\n"
        "[emerg] in /srv/x/nginx.conf:1\n"
        "nginx: configuration file nginx.conf test failed"
    )
