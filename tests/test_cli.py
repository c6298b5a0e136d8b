"""The command line: exit codes, messages, writing semantics; typer's runner and real processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lbgen.cli import app
from tests.support import run_lbgen

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "kubernetes-api.yaml"
LOCAL = ROOT / "examples" / "local-demo.yaml"
runner = CliRunner()


def test_version() -> None:
    from lbgen import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"lbgen {__version__}"


def test_validate_ok_and_bad(tmp_path: Path) -> None:
    assert runner.invoke(app, ["validate", str(EXAMPLE)]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nfrontends: {a: {bind: [':1'], pool: p}}\npools:\n  p:\n"
                   "    servers: {m1: {address: '1.2.3.4:6443', weight: 300}}\n")  # fmt: skip
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:5:53: error [weight] pools.p.servers.m1.weight: must be 0..256 (got 300)" in (
        result.output
    )


def test_validate_collects_errors_from_several_files(tmp_path: Path) -> None:
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text("version: 1\nfrontends: {}\npools: {}\nextra: 1\n")
    two.write_text("- a list\n")
    result = runner.invoke(app, ["validate", str(one), str(two)])
    assert result.exit_code == 2
    assert f"{one}:4:1: error [unknown-field]" in result.output
    assert f"{two}:1:1: error [not-mapping]" in result.output


def test_validate_with_target_reports_translation(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLE), "-t", "nginx", "--strict"])
    assert result.exit_code == 2
    assert "error [nginx-unsupported] defaults.slowstart" in result.output


def test_render_to_stdout_matches_library() -> None:
    import lbgen

    result = run_lbgen("render", str(EXAMPLE), "-t", "haproxy")
    assert result.returncode == 0, result.stderr
    assert result.stdout == lbgen_module_render(EXAMPLE, "haproxy")
    assert lbgen.__version__ in result.stdout.splitlines()[0]


def lbgen_module_render(
    path: Path, target: str, layout: str | None = None, *, load_module: str | None = None
) -> str:
    import lbgen

    options = {"load_module": load_module} if load_module else {}
    return lbgen.render(lbgen.load_spec(path), target, layout=layout, **options).text


def test_render_reads_stdin() -> None:
    result = run_lbgen(
        "render", "-", "-t", "nginx", "--layout", "upstreams", stdin=EXAMPLE.read_text()
    )
    assert result.returncode == 0, result.stderr
    assert "upstream control-plane {" in result.stdout
    assert "<stdin>:" in result.stderr  # diagnostics name the stdin source


def test_render_bad_spec_writes_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(EXAMPLE.read_text().replace("weight: 50", "weight: 500"))
    out = tmp_path / "haproxy.cfg"
    result = runner.invoke(app, ["render", str(spec), "-t", "haproxy", "-o", str(out)])
    assert result.exit_code == 2
    assert "error [weight]" in result.output
    assert not out.exists()


def test_render_strict_turns_warnings_into_errors(tmp_path: Path) -> None:
    out = tmp_path / "nginx.conf"
    result = runner.invoke(app, ["render", str(EXAMPLE), "-t", "nginx", "--strict", "-o", str(out)])
    assert result.exit_code == 2
    assert not out.exists()
    lenient = runner.invoke(app, ["render", str(EXAMPLE), "-t", "nginx", "-o", str(out)])
    assert lenient.exit_code == 0
    assert "warning [nginx-unsupported]" in lenient.output
    assert out.exists()


def test_render_unknown_layout_for_haproxy() -> None:
    result = runner.invoke(app, ["render", str(EXAMPLE), "-t", "haproxy", "--layout", "stream"])
    assert result.exit_code == 2
    assert "target haproxy has no layout 'stream'" in result.output


def test_check_needs_output() -> None:
    result = runner.invoke(app, ["render", str(EXAMPLE), "-t", "haproxy", "--check"])
    assert result.exit_code == 2
    assert "--check needs --output" in result.output


# --- writing -----------------------------------------------------------------------------------


def test_write_creates_then_leaves_unchanged_file_alone(tmp_path: Path) -> None:
    out = tmp_path / "haproxy.cfg"
    first = runner.invoke(app, ["render", str(LOCAL), "-t", "haproxy", "-o", str(out)])
    assert first.exit_code == 0 and "created" in first.output
    os.utime(out, (1_000_000, 1_000_000))
    inode = out.stat().st_ino
    second = runner.invoke(app, ["render", str(LOCAL), "-t", "haproxy", "-o", str(out)])
    assert second.exit_code == 0 and "unchanged" in second.output
    assert out.stat().st_mtime == 1_000_000
    assert out.stat().st_ino == inode


def test_write_replaces_atomically_keeping_mode(tmp_path: Path) -> None:
    out = tmp_path / "haproxy.cfg"
    out.write_text("old\n")
    out.chmod(0o640)
    old_inode = out.stat().st_ino
    result = runner.invoke(app, ["render", str(LOCAL), "-t", "haproxy", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert out.stat().st_ino != old_inode  # renamed into place, not rewritten in place
    assert out.read_text() == lbgen_module_render(LOCAL, "haproxy")
    assert [p.name for p in tmp_path.iterdir()] == ["haproxy.cfg"]  # no temp file left


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_write_keeps_owner(tmp_path: Path) -> None:
    out = tmp_path / "haproxy.cfg"
    out.write_text("old\n")
    os.chown(out, 65534, 65534)
    result = runner.invoke(app, ["render", str(LOCAL), "-t", "haproxy", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (out.stat().st_uid, out.stat().st_gid) == (65534, 65534)


def test_check_mode_exit_codes(tmp_path: Path) -> None:
    out = tmp_path / "haproxy.cfg"
    missing = runner.invoke(app, ["render", str(LOCAL), "-t", "haproxy", "-o", str(out), "--check"])
    assert missing.exit_code == 1 and not out.exists()
    out.write_text("stale\n")
    stale = runner.invoke(app, ["render", str(LOCAL), "-t", "haproxy", "-o", str(out), "--check"])
    assert stale.exit_code == 1 and "out of date" in stale.output
    assert out.read_text() == "stale\n"
    out.write_text(lbgen_module_render(LOCAL, "haproxy"))
    fresh = runner.invoke(app, ["render", str(LOCAL), "-t", "haproxy", "-o", str(out), "--check"])
    assert fresh.exit_code == 0


def test_validate_rejection_leaves_old_file(tmp_path: Path) -> None:
    # A template override that produces a config HAProxy refuses: the engine must say no
    # before the old file is touched.
    templates = tmp_path / "templates" / "haproxy"
    templates.mkdir(parents=True)
    packaged = ROOT / "templates" / "haproxy" / "haproxy.cfg.j2"
    (templates / "haproxy.cfg.j2").write_text(packaged.read_text() + "    no-such-keyword 1\n")
    out = tmp_path / "haproxy.cfg"
    out.write_text("old config\n")
    os.utime(out, (1_000_000, 1_000_000))
    result = runner.invoke(app, [
        "render", str(LOCAL), "-t", "haproxy", "-o", str(out), "--validate",
        "--templates", str(tmp_path / "templates"),
    ])  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "rejected" in result.output and "nothing written" in result.output
    assert out.read_text() == "old config\n"
    assert out.stat().st_mtime == 1_000_000


def test_validate_accepts_and_writes(tmp_path: Path) -> None:
    out = tmp_path / "nginx.conf"
    result = runner.invoke(app, [
        "render", str(LOCAL), "-t", "nginx", "--layout", "stream", "-o", str(out), "--validate",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("# Generated by lbgen")


def _binary(engine: str) -> str:
    from lbgen.runners import LocalRunner

    binary = LocalRunner.binary(engine)
    assert binary is not None, f"{engine} is not installed"
    return binary


def _engine_verdict(engine: str, path: Path) -> subprocess.CompletedProcess[str]:
    """The real engine on the file itself, as an operator runs it: haproxy -c -f / nginx -t -c."""
    args = ["-c", "-f"] if engine == "haproxy" else ["-t", "-c"]
    cmd = [_binary(engine), *args, str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


DEBIAN_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
#: Every layout that an engine can check on its own (stream/upstreams files are included by a
#: bigger config), for nginx with and without the module path Debian's nginx needs.
STANDALONE = [
    pytest.param("haproxy", [], id="haproxy"),
    pytest.param("nginx", ["--layout", "full"], id="nginx-full"),
    pytest.param(
        "nginx", ["--layout", "full", "--load-module", DEBIAN_STREAM_MODULE],
        id="nginx-full-load-module",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("target", "options"), STANDALONE)
def test_render_validate_agrees_with_the_engine_on_the_written_file(
    tmp_path: Path, target: str, options: list[str]
) -> None:
    """``render --validate -o FILE`` says yes exactly when ``nginx -t -c FILE`` (``haproxy -c
    -f FILE``) on the same machine does: lbgen checks the bytes it writes, adding nothing."""
    out = tmp_path / "lb.conf"
    args = ["render", str(LOCAL), "-t", target, *options, "--strict-engine"]
    rendered = run_lbgen(*args)  # what --validate -o would write, to let the engine judge it
    assert rendered.returncode == 0, rendered.stderr
    probe = tmp_path / "probe.conf"
    probe.write_text(rendered.stdout, encoding="utf-8")
    engine = _engine_verdict(target, probe)
    result = run_lbgen(*args, "--validate", "-o", str(out))
    assert result.returncode == (0 if engine.returncode == 0 else 3), (engine, result.stderr)
    if result.returncode == 0:
        assert out.read_bytes() == probe.read_bytes()
        assert _engine_verdict(target, out).returncode == 0
    else:
        assert not out.exists()  # nothing written
        assert "Traceback" not in result.stderr
        if target == "nginx" and "--load-module" not in options:
            assert (
                "nginx here loads stream as a dynamic module: the config needs 'load_module "
                in result.stderr
            )
            assert "(lbgen render writes it with --load-module " in result.stderr
            assert 'unknown directive "stream"' in engine.stderr


@pytest.mark.parametrize(
    ("target", "layout", "old", "new", "message"),
    [
        ("haproxy", "full", "balance roundrobin", "balance nonsense",
         "parsing [{file}:{line}] : balance only supports"),
        ("nginx", "stream", "proxy_pass ", "proxy_pas ",
         'unknown directive "proxy_pas" in {file}:{line}'),
        ("nginx", "upstreams", "proxy_pass ", "proxy_pas ",
         'unknown directive "proxy_pas" in {file}:{line}'),
    ],
)  # fmt: skip
def test_engine_messages_name_the_users_file_and_line_once(
    tmp_path: Path, target: str, layout: str, old: str, new: str, message: str
) -> None:
    """A rejected config: each engine message names the user's file and its own line (also for
    a stream/upstreams file, which is wrapped), once; no temp path is shown."""
    conf = tmp_path / f"mine.{layout}.conf"
    text = lbgen_module_render(LOCAL, target, layout).replace(old, new, 1)
    conf.write_text(text, encoding="utf-8")
    line = next(n for n, s in enumerate(text.splitlines(), 1) if new in s)
    result = run_lbgen(
        "check", str(conf), "--engine", "haproxy" if target == "haproxy" else "nginx"
    )
    assert result.returncode == 3, result.stderr
    expected = message.format(file=conf, line=line)
    assert result.stderr.count(expected) == 1, result.stderr  # the complaint, not repeated
    assert "lbgen-check-" not in result.stderr and "lbgen-wrapper" not in result.stderr


def test_check_passes_bytes_that_are_not_utf8_to_the_engine(tmp_path: Path) -> None:
    """A Latin-1 comment is the engine's business: haproxy accepts it, so does lbgen check."""
    conf = tmp_path / "haproxy.cfg"
    data = lbgen_module_render(LOCAL, "haproxy").encode("utf-8")
    conf.write_bytes(data.replace(b"# change the spec", b"# caf\xe9: change the spec", 1))
    assert _engine_verdict("haproxy", conf).returncode == 0
    result = run_lbgen("check", str(conf), "--engine", "haproxy", "--strict-engine")
    assert result.returncode == 0, result.stderr
    assert "haproxy (local) accepted the config" in result.stderr


def test_check_and_render_check_see_a_carriage_return(tmp_path: Path) -> None:
    """HAProxy ignores what follows a CR on a line: lbgen check judges those bytes, not a
    newline-normalised copy, and render --check calls the file out of date."""
    conf = tmp_path / "haproxy.cfg"
    assert run_lbgen("render", str(LOCAL), "-t", "haproxy", "-o", str(conf)).returncode == 0
    assert (
        run_lbgen("render", str(LOCAL), "-t", "haproxy", "-o", str(conf), "--check").returncode == 0
    )
    data = conf.read_bytes()
    assert b"    mode tcp\n" in data
    # The bogus keyword hides behind the CR: the engine never sees it.
    conf.write_bytes(data.replace(b"    mode tcp\n", b"    mode tcp\r    bogus-keyword 1\n", 1))
    assert _engine_verdict("haproxy", conf).returncode == 0
    checked = run_lbgen("check", str(conf), "--engine", "haproxy")
    assert checked.returncode == 0, checked.stderr
    # A CR for an LF, nothing else: the rendering differs from the file.
    conf.write_bytes(data.replace(b"    mode tcp\n", b"    mode tcp\r", 1))
    stale = run_lbgen("render", str(LOCAL), "-t", "haproxy", "-o", str(conf), "--check")
    assert stale.returncode == 1, stale.stderr
    assert "out of date" in stale.stderr
    rewritten = run_lbgen("render", str(LOCAL), "-t", "haproxy", "-o", str(conf))
    assert rewritten.returncode == 0 and "written" in rewritten.stderr
    assert conf.read_bytes() == data


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may write into: mode 0555, and immutable when we are root."""
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "haproxy.cfg").write_text("old config\n")
    folder.chmod(0o555)
    immutable = os.geteuid() == 0
    if immutable:  # root ignores modes; the immutable attribute stops root too
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    try:
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_read_only_folder_is_a_clear_error(read_only_folder: Path) -> None:
    out = read_only_folder / "haproxy.cfg"
    result = run_lbgen("render", str(LOCAL), "-t", "haproxy", "-o", str(out))
    assert result.returncode == 2, result.stderr
    assert f"lbgen: cannot write {out}:" in result.stderr
    assert "Traceback" not in result.stderr
    assert out.read_text() == "old config\n"
    assert sorted(p.name for p in read_only_folder.iterdir()) == ["haproxy.cfg"]


def test_output_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = run_lbgen("render", str(LOCAL), "-t", "haproxy", "-o", str(blocker / "haproxy.cfg"))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("Not a directory")
    assert "Traceback" not in result.stderr


def test_templates_override_one_file(tmp_path: Path) -> None:
    folder = tmp_path / "nginx"
    folder.mkdir()
    (folder / "stream-body.conf.j2").write_text(
        "{% for up in upstreams %}upstream {{ up.name }} { # custom\n}\n{% endfor %}"
    )
    result = runner.invoke(app, [
        "render", str(LOCAL), "-t", "nginx", "--layout", "upstreams", "--templates", str(tmp_path),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "upstream control-plane { # custom" in result.output
    assert "# Generated by lbgen" in result.output  # the packaged outer template is still used


def test_broken_template_override_is_bad_input(tmp_path: Path) -> None:
    folder = tmp_path / "haproxy"
    folder.mkdir()
    (folder / "haproxy.cfg.j2").write_text("{% for x in %}")
    result = run_lbgen("render", str(LOCAL), "-t", "haproxy", "--templates", str(tmp_path))
    assert result.returncode == 2
    assert "template error" in result.stderr
    assert "Traceback" not in result.stderr


# --- check --------------------------------------------------------------------------------------


def test_check_command_accepts_and_rejects(tmp_path: Path) -> None:
    good = tmp_path / "haproxy.cfg"
    good.write_text(lbgen_module_render(LOCAL, "haproxy"))
    assert (
        runner.invoke(app, ["check", str(good), "--engine", "haproxy", "--strict"]).exit_code == 0
    )
    bad = tmp_path / "bad.cfg"
    bad.write_text(good.read_text().replace("balance roundrobin", "balance nonsense"))
    result = runner.invoke(app, ["check", str(bad), "--engine", "haproxy"])
    assert result.exit_code == 3
    assert "rejected" in result.output


def test_check_and_lint_detect_haproxy_despite_semicolon_comments(tmp_path: Path) -> None:
    """One engine detector: comments ending in ``;`` (alone or after a statement) do not make
    a haproxy.cfg look like nginx, neither for check (haproxy must judge it) nor for lint."""
    conf = tmp_path / "lb.config"  # a name that gives no hint
    text = lbgen_module_render(LOCAL, "haproxy")
    text = text.replace("    mode tcp\n", "    mode tcp  # plain TCP;\n", 1)
    conf.write_text("# generated; do not edit;\n" + text)
    assert _engine_verdict("haproxy", conf).returncode == 0
    checked = run_lbgen("check", str(conf))
    assert checked.returncode == 0, checked.stderr
    assert "haproxy (local) accepted the config" in checked.stderr
    linted = run_lbgen("lint", str(conf), "--format", "json", "--fail-on", "error")
    assert linted.returncode == 0, linted.stderr
    assert "nginx" not in linted.stdout


@pytest.mark.parametrize("name", ["keepalived.conf", "lb.conf"])
def test_check_detects_a_keepalived_conf(name: str, tmp_path: Path) -> None:
    """A keepalived.conf goes to keepalived, whatever its name (``.conf`` once sent it to nginx:
    "unknown directive global_defs"); the misspelt keyword makes keepalived itself refuse it."""
    conf = tmp_path / name
    conf.write_text(
        "global_defs {\n    router_id lb1\n}\n"
        "vrrp_instance v {\n    state BACKUP\n    interface lo\n    virtual_router_id 51\n"
        "    priority 100\n    advert_intx 1\n    virtual_ipaddress {\n        192.0.2.100/32\n"
        "    }\n}\n"
    )
    result = run_lbgen("check", str(conf))
    assert result.returncode == 3, result.stderr
    assert "keepalived (local) rejected the config" in result.stderr
    assert "Unknown keyword 'advert_intx'" in result.stderr


def test_check_without_a_detectable_engine_is_invalid_input(tmp_path: Path) -> None:
    conf = tmp_path / "empty.txt"
    conf.write_text("# nothing here;\n")
    result = run_lbgen("check", str(conf))
    assert result.returncode == 2, result.stderr
    assert "--engine" in result.stderr


@pytest.mark.parametrize("layout", ["full", "stream", "upstreams"])
def test_check_command_nginx_layouts(tmp_path: Path, layout: str) -> None:
    from lbgen.runners import LocalRunner

    conf = tmp_path / "nginx.conf"
    text = lbgen_module_render(LOCAL, "nginx", layout)
    # A full config needs load_module on an nginx with a dynamic stream module (Debian's).
    module = LocalRunner().check(text, "nginx").load_module if layout == "full" else None
    if module:
        text = lbgen_module_render(LOCAL, "nginx", layout, load_module=module)
    conf.write_text(text)
    result = runner.invoke(app, ["check", str(conf)])  # engine guessed from the text
    assert result.exit_code == 0, result.output
    conf.write_text(conf.read_text().replace("least_conn", "").replace("proxy_pass", "proxy_pas"))
    assert runner.invoke(app, ["check", str(conf), "--engine", "nginx"]).exit_code == 3


def test_check_gives_a_full_nginx_config_nginxs_own_prefix(tmp_path: Path) -> None:
    """Debian's stock nginx.conf loads the stream module by a path relative to nginx's prefix
    (modules-enabled/50-mod-stream.conf: ``modules/ngx_stream_module.so``): ``lbgen check``
    judges a full config as ``nginx -t -c FILE`` does (it once checked it from its temp folder
    as the prefix, and rejected the stock config)."""
    if not Path("/usr/share/nginx/modules/ngx_stream_module.so").exists():
        pytest.skip("no stream module under Debian's nginx prefix")
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "load_module modules/ngx_stream_module.so;\nerror_log stderr;\nevents {}\n"
        "stream {\n    upstream u {\n        server 127.0.0.1:6443;\n    }\n}\n"
    )
    assert _engine_verdict("nginx", conf).returncode == 0
    result = run_lbgen("check", str(conf))
    assert result.returncode == 0, result.stderr
    conf.write_text(conf.read_text().replace("modules/", "no-such-folder/"))
    assert _engine_verdict("nginx", conf).returncode != 0
    assert run_lbgen("check", str(conf)).returncode == 3
    stock = ROOT / "tests" / "corpus" / "real" / "debian-stock-nginx-kthw-lb.conf"
    engine = _engine_verdict("nginx", stock)
    checked = run_lbgen("check", str(stock))
    assert (checked.returncode == 0) == (engine.returncode == 0), (checked.stderr, engine.stderr)


def test_missing_engine_exit_4(tmp_path: Path) -> None:
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(lbgen_module_render(LOCAL, "haproxy"))
    env = {**os.environ, "PATH": str(tmp_path)}  # no haproxy anywhere on PATH
    result = subprocess.run(
        [sys.executable, "-c",
         "import lbgen.runners.local as e, sys; "
         "e.LocalRunner.binary = staticmethod(lambda n: None); "
         "from lbgen.cli import main; sys.argv=['lbgen','check',sys.argv[1],'--runner','local'];"
         " main()", str(conf)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert "haproxy is not installed here" in result.stderr
    assert "Traceback" not in result.stderr


def test_schema_is_json_with_builtin_defaults() -> None:
    import json

    result = run_lbgen("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["$defs"]["Health"]["properties"]["path"]["default"] == "/readyz"
    assert schema["$defs"]["Timeouts"]["properties"]["tunnel"]["default"] == "1h"


def test_no_traceback_for_missing_spec_file(tmp_path: Path) -> None:
    result = run_lbgen("render", str(tmp_path / "nope.yaml"), "-t", "haproxy")
    assert result.returncode == 2
    assert "nope.yaml: error [io] cannot read: No such file or directory" in result.stderr


@pytest.mark.parametrize(
    ("args", "absent"),
    [
        (["validate", str(EXAMPLE)], {"docker", "crossplane", "jinja2"}),
        (["render", str(EXAMPLE), "-t", "haproxy"], {"docker", "crossplane"}),
    ],
)
def test_commands_import_only_what_they_need(args: list[str], absent: set[str]) -> None:
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['lbgen', *{args!r}]\n"
        "try:\n    runpy.run_module('lbgen', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    loaded = set(result.stderr.strip().splitlines()[-1].split())
    assert "lbgen" in loaded
    assert not absent & loaded


def _modules_after(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    """Every module (full dotted names) that ``lbgen ARGS`` imported, run in a new process."""
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['lbgen', *{args!r}]\n"
        "try:\n    runpy.run_module('lbgen', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    return set(result.stderr.strip().splitlines()[-1].split())


@pytest.mark.parametrize(
    "args", [["validate", str(EXAMPLE)], ["render", str(EXAMPLE), "-t", "haproxy"]]
)
def test_commands_skip_plugin_discovery(args: list[str]) -> None:
    # pydantic's plugin loader would import importlib.metadata (and email, zipfile) to find
    # plugins the command has disabled; a tenth of the start-up.
    loaded = _modules_after(args)
    assert "lbgen.spec.models" in loaded
    assert not {"importlib.metadata", "email", "zipfile"} & loaded


def test_validate_leaves_the_resolver_and_the_renderer_alone() -> None:
    # Without a percentage weight, validating needs neither (render does; percent-weight specs
    # in tests/bad still get their diagnostics through the resolver).
    loaded = _modules_after(["validate", str(EXAMPLE)])
    assert "lbgen.spec.checks" in loaded
    assert not {"lbgen.resolve", "lbgen.rendering", "lbgen.view", "yaml"} & loaded


def test_haproxy_render_leaves_nginx_and_the_sandbox_alone(tmp_path: Path) -> None:
    # The nginx view is only needed for --load-module or an nginx target, Jinja's sandbox only
    # for --templates overrides: an haproxy render with the built-in templates imports neither.
    loaded = _modules_after(["render", str(EXAMPLE), "-t", "haproxy"])
    assert "lbgen.rendering" in loaded
    assert not {m for m in loaded if m.startswith("lbgen") and "nginx" in m}
    assert "jinja2.sandbox" not in loaded
    # An override template still gets the sandbox.
    (tmp_path / "haproxy").mkdir()
    (tmp_path / "haproxy" / "haproxy.cfg.j2").write_text("global\n", encoding="utf-8")
    args = ["render", str(EXAMPLE), "-t", "haproxy", "--templates", str(tmp_path)]
    assert "jinja2.sandbox" in _modules_after(args)


@pytest.mark.parametrize("command", ["validate", "render", "lint"])
def test_garbage_collector_rests_only_during_start_up(command: str) -> None:
    # main() stops the cyclic collector while the command starts (its objects live until the
    # process ends); by the time the input is read it runs again, start-up's objects frozen out
    # of its walks, and a caller in the same process gets it back when main() returns.
    args = {
        "validate": ["validate", str(EXAMPLE)],
        "render": ["render", str(EXAMPLE), "-t", "haproxy"],
        "lint": ["lint", str(ROOT / "tests" / "cases" / "balance-first" / "haproxy.cfg")],
    }[command]
    probe = (
        "import gc, sys\n"
        "import lbgen.inputs as inputs\n"
        "seen = []\n"
        "real = inputs.read_input\n"
        "def read_input(*a, **k):\n"
        "    seen.append((gc.isenabled(), gc.get_freeze_count() > 0))\n"
        "    return real(*a, **k)\n"
        "inputs.read_input = read_input\n"
        "from lbgen.cli import main\n"
        f"sys.argv = ['lbgen', *{args!r}]\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        "print(seen, gc.isenabled(), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.stderr.strip().splitlines()[-1] == "[(True, True)] True", result.stderr


def test_plugin_discovery_runs_when_plugins_are_enabled() -> None:
    # A user who names the plugins to disable (not all of them) keeps pydantic's discovery.
    loaded = _modules_after(["validate", str(EXAMPLE)], {"PYDANTIC_DISABLE_PLUGINS": "some"})
    assert "importlib.metadata" in loaded


def test_disabled_plugin_loader_hands_over_when_plugins_come_back() -> None:
    # The stand-in loader answers "no plugins" only while they are disabled; enabled again in
    # the same process, the real loader (and its entry-point discovery) takes over.
    probe = (
        "import os, sys\n"
        "os.environ['PYDANTIC_DISABLE_PLUGINS'] = '__all__'\n"
        "from lbgen import cli\n"
        "cli._skip_plugin_discovery()\n"
        "from pydantic.plugin import _loader\n"
        "print(tuple(_loader.get_plugins()), 'importlib.metadata' in sys.modules)\n"
        "del os.environ['PYDANTIC_DISABLE_PLUGINS']\n"
        "print(type(_loader.get_plugins()).__name__, 'importlib.metadata' in sys.modules)\n"
        "print(sys.modules['pydantic.plugin._loader'].__doc__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "() False", result.stderr
    assert lines[1] == "dict_values True"
    assert lines[2] != "lbgen: plugins disabled"


def test_strict_nginx_check_fails_on_warnings(tmp_path: Path) -> None:
    # A network with host bits set: nginx -t warns ("low address bits ... are meaningless")
    # and still passes, unless the check is strict.
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "upstream u { server 127.0.0.1:7001; }\n"
        "server { listen 127.0.0.1:16500; allow 127.0.0.1/8; proxy_pass u; }\n"
    )
    lenient = runner.invoke(app, ["check", str(conf), "--engine", "nginx"])
    strict = runner.invoke(app, ["check", str(conf), "--engine", "nginx", "--strict-engine"])
    assert (lenient.exit_code, strict.exit_code) == (0, 3), (lenient.output, strict.output)
    assert "[warn]" in strict.output
    # check has no translation: its --strict is the same switch.
    alias = runner.invoke(app, ["check", str(conf), "--engine", "nginx", "--strict"])
    assert alias.exit_code == 3, alias.output


# --- --strict (translation) and --strict-engine (the engine's warnings) --------------------------


def _offline(tmp_path: Path) -> list[str]:
    """A command prefix whose process sees a resolver that answers nothing (127.0.0.1, where no
    DNS server listens): an unresolvable name stays unresolvable without any traffic leaving."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(resolv)]


def test_strict_is_the_translation_and_agrees_with_validate(tmp_path: Path) -> None:
    """The README example names a DNS server: --strict makes its warning an error in validate
    and render --validate alike (the engine is not even asked), naming the server once."""
    line = (
        f"{EXAMPLE}:42:30: error [haproxy-dns-at-start] "
        "pools.control-plane.servers.k8s-master4.address: HAProxy resolves cp4.example.internal"
    )
    validated = run_lbgen("validate", str(EXAMPLE), "-t", "haproxy", "--strict")
    out = tmp_path / "haproxy.cfg"
    rendered = run_lbgen("render", str(EXAMPLE), "-t", "haproxy", "--strict", "--validate",
                         "-o", str(out))  # fmt: skip
    assert (validated.returncode, rendered.returncode) == (2, 2), (validated, rendered)
    assert validated.stderr.count(line) == 1 and rendered.stderr.count(line) == 1
    assert not out.exists()
    # Without --strict it is a warning in both, and validate says ok.
    lenient = run_lbgen("validate", str(EXAMPLE), "-t", "haproxy")
    assert lenient.returncode == 0 and line.replace(": error ", ": warning ") in lenient.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a private /etc/resolv.conf")
def test_strict_engine_is_the_engines_warnings_only(tmp_path: Path) -> None:
    """--strict-engine alone: translation warnings stay warnings, the engine's warnings fail
    (exit 3) exactly when haproxy -c -dW on the written file fails; without it the engine's
    warnings pass exactly when haproxy -c does."""
    offline = _offline(tmp_path)
    out = tmp_path / "haproxy.cfg"
    plain = run_lbgen("render", str(EXAMPLE), "-t", "haproxy")
    probe = tmp_path / "probe.cfg"
    probe.write_text(plain.stdout)
    haproxy = _binary("haproxy")

    def engine(*flags: str) -> int:
        cmd = [*offline, haproxy, "-c", *flags, "-f", str(probe)]
        return subprocess.run(cmd, capture_output=True, timeout=60, check=False).returncode

    def lbgen(*flags: str) -> subprocess.CompletedProcess[str]:
        cmd = [*offline, sys.executable, "-m", "lbgen", "render", str(EXAMPLE), "-t", "haproxy",
               "--validate", "-o", str(out), *flags]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)

    strict_engine = lbgen("--strict-engine")
    assert strict_engine.returncode == (0 if engine("-dW") == 0 else 3), strict_engine.stderr
    assert "error [haproxy-dns-at-start]" not in strict_engine.stderr  # still a warning
    assert "warning [haproxy-dns-at-start]" in strict_engine.stderr
    lenient = lbgen()
    assert lenient.returncode == (0 if engine() == 0 else 3), lenient.stderr
    print(f"haproxy -c: {engine()}, -c -dW: {engine('-dW')}; render --validate: "
          f"{lenient.returncode}, --strict-engine: {strict_engine.returncode}")  # fmt: skip


def _render_with_cache(cache: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lbgen", "render", str(EXAMPLE), *extra],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
        env={**os.environ, "LBGEN_CACHE_DIR": cache},
    )  # fmt: skip


@pytest.mark.parametrize("target", ["haproxy", "nginx"])
def test_compiled_templates_are_reused_and_render_the_same(tmp_path: Path, target: str) -> None:
    uncached = _render_with_cache("", "-t", target)
    assert uncached.returncode == 0, uncached.stderr
    cache = tmp_path / "cache"
    for _ in range(2):  # the first run fills the cache, the second reads it
        cached = _render_with_cache(str(cache), "-t", target)
        assert cached.stdout == uncached.stdout
    entries = list(cache.glob("templates-*/*.cache"))
    assert entries
    assert stat.S_IMODE(entries[0].parent.stat().st_mode) == 0o700
    for entry in entries:  # a damaged cache is a miss, never a broken rendering
        entry.write_bytes(b"not compiled code")
    damaged = _render_with_cache(str(cache), "-t", target)
    assert (damaged.returncode, damaged.stdout) == (0, uncached.stdout)


def test_override_templates_are_never_cached(tmp_path: Path) -> None:
    override = tmp_path / "override" / "haproxy"
    override.mkdir(parents=True)
    source = (ROOT / "templates" / "haproxy" / "haproxy.cfg.j2").read_text()
    (override / "haproxy.cfg.j2").write_text("# overridden\n" + source)
    cache = tmp_path / "cache"
    result = _render_with_cache(str(cache), "-t", "haproxy", "--templates", str(override.parent))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# overridden\n")
    assert not cache.exists()


def test_an_edited_template_is_compiled_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jinja2

    from lbgen import rendering

    monkeypatch.setenv("LBGEN_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "t.j2").write_text("one {{ x }}\n")
    seen = []
    for text in ("one {{ x }}\n", "two {{ x }}\n", "two {{ x }}\n"):
        (tmp_path / "t.j2").write_text(text)
        options = rendering._options([str(tmp_path)])
        cache = rendering._bytecode_cache(options)
        assert cache is not None
        environment = jinja2.Environment(**options, bytecode_cache=cache)
        seen.append(environment.get_template("t.j2").render(x=1))
    assert seen == ["one 1\n", "two 1\n", "two 1\n"]


def test_no_template_cache_in_a_folder_others_can_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lbgen import rendering

    shared = tmp_path / "shared"
    shared.mkdir()
    options = rendering._options([str(ROOT / "templates")])
    monkeypatch.setenv("LBGEN_CACHE_DIR", str(shared))
    assert rendering._bytecode_cache(options) is not None
    for folder in shared.iterdir():
        folder.chmod(0o777)
    assert rendering._bytecode_cache(options) is None


@pytest.mark.parametrize(
    ("target", "layout"), [("haproxy", "full"), ("nginx", "stream"), ("nginx-plus", "upstreams")]
)
def test_load_module_where_no_nginx_conf_is_written_is_refused(
    tmp_path: Path, target: str, layout: str
) -> None:
    """--load-module only has a place in nginx's full layout; elsewhere it used to be dropped
    without a word. One line, exit 2, nothing written."""
    out = tmp_path / "out.conf"
    result = run_lbgen(
        "render", str(EXAMPLE), "-t", target, "--layout", layout,
        "--load-module", DEBIAN_STREAM_MODULE, "-o", str(out),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"--load-module goes into nginx's --layout full (nginx.conf); target {target}" in (
        result.stderr
    )
    assert not out.exists()


def _command_names() -> list[str]:
    import typer

    return [
        info.name or typer.main.get_command_name(info.callback.__name__)
        for info in app.registered_commands
        if info.callback is not None
    ]


@pytest.mark.parametrize("name", _command_names())
@pytest.mark.parametrize(
    "rest", [["--help"], [], ["--no-such-option"], ["-t"], ["missing.yaml", "-t", "apache"]]
)
def test_a_command_alone_behaves_as_in_the_whole_tree(name: str, rest: list[str]) -> None:
    """``main`` builds only the command a command line names: help, usage errors and choices
    read exactly as they do with every command built."""
    from lbgen.cli import _app_for

    args = [name, *rest]
    alone = _app_for(args)
    assert [info.callback for info in alone.registered_commands] == [
        info.callback for info in app.registered_commands if info.callback is not None
        and (info.name or info.callback.__name__.replace("_", "-")) == name
    ]  # fmt: skip
    ours, whole = runner.invoke(alone, args), runner.invoke(app, args)
    assert (ours.exit_code, ours.output) == (whole.exit_code, whole.output)


@pytest.mark.parametrize("args", [[], ["--help"], ["--version"], ["valdate"], ["-h", "render"]])
def test_anything_but_a_command_name_first_gets_every_command(args: list[str]) -> None:
    from lbgen.cli import _app_for

    assert _app_for(args) is app


def test_shell_completion_gets_every_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from lbgen.cli import _app_for

    assert _app_for(["render"]) is not app
    monkeypatch.setenv("_LBGEN_COMPLETE", "bash_complete")
    assert _app_for(["render"]) is app


# --- an output that cannot be written is not a bug in lbgen ------------------------------------


def test_a_full_disk_on_stdout_is_one_line_and_exit_2() -> None:
    """``> /dev/full``: was "internal error (OSError: [Errno 28] ...); this is a bug", exit 70."""
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "lbgen", "render", "examples/kubernetes-api.yaml", "-t",
             "haproxy"],
            stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "lbgen: cannot write the standard output: No space left on device"
    )
    assert "internal error" not in done.stderr


def test_a_closed_pipe_on_stdout_is_one_line_and_exit_2() -> None:
    """A reader that went away: was a silent exit 1, which means "differences" to a script."""
    done = subprocess.run(
        [sys.executable, "-c",
         "import os, subprocess, sys\n"
         "r, w = os.pipe()\n"
         "os.close(r)\n"  # nobody reads: the first write fails with EPIPE
         "p = subprocess.run([sys.executable, '-m', 'lbgen', 'schema'], stdout=w,"
         " stderr=subprocess.PIPE, text=True)\n"
         "print(p.returncode)\n"
         "print(p.stderr.strip().splitlines()[-1])\n"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert done.stdout.splitlines() == [
        "2",
        "lbgen: cannot write the standard output: Broken pipe",
    ], done.stdout + done.stderr
