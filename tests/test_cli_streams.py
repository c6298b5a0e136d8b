"""The command line against a failing or unusual environment: standard streams that are closed,
unbuffered or full, output that is the input, SIGTERM, and usage errors.

The promise: bad input or a failing environment gives one clear line and a documented exit
code; nothing is written or lost; never a traceback or "internal error". Everything here is
about the process (its descriptors, signals, environment), so each case runs the real CLI in a
process of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ROOT_ONLY = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("setpriv") is None,
    reason="needs root (a private mount namespace, dropped capabilities); CI runs as root",
)


def spec_text(servers: int, *, weight: int = 100) -> str:
    """A spec (IP literals only) whose haproxy.cfg grows with ``servers`` (3000: 185 KB)."""
    lines = [f"      cp{i}: 10.{i // 250}.{i % 250}.1:6443" for i in range(servers)]
    lines[0] = f"      cp0: {{address: 10.0.0.1:6443, weight: {weight}}}"
    return (
        "version: 1\nname: streams\nfrontends:\n  api:\n"
        '    bind: ["0.0.0.0:6443"]\n    pool: cp\n'
        "pools:\n  cp:\n    servers:\n" + "\n".join(lines) + "\n"
    )


def environment(**extra: str | None) -> dict[str, str]:
    """The test's environment, lbgen importable; ``NAME=None`` removes NAME."""
    env = {k: v for k, v in os.environ.items() if k not in ("LBGEN_TRACEBACK", "NO_COLOR")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def lbgen(
    *args: str, cwd: Path, stdin: Path | None = None, **env: str | None
) -> subprocess.CompletedProcess[str]:
    """``python -m lbgen ARGS`` with stdout and stderr on pipes."""
    with open(stdin or os.devnull, "rb") as source:
        return subprocess.run(
            [sys.executable, "-m", "lbgen", *args],
            stdin=source, capture_output=True, text=True, cwd=cwd, env=environment(**env),
            timeout=120, check=False,
        )  # fmt: skip


def lbgen_in_shell(redirect: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """lbgen started by sh with ``redirect`` (``>&-``: stdout closed, as a shell script may)."""
    script = f'exec "$0" -m lbgen "$@" {redirect}'
    return subprocess.run(
        ["sh", "-c", script, sys.executable, *args],
        capture_output=True, text=True, cwd=cwd, env=environment(), timeout=120, check=False,
    )  # fmt: skip


def stderr_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_line(result: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    """Exit ``code`` with exactly one stderr line holding ``says``."""
    assert result.returncode == code, result.stderr
    lines = stderr_lines(result)
    assert len(lines) == 1 and says in lines[0], result.stderr


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder with spec.yaml (3 servers) and err.yaml (one error)."""
    (tmp_path / "spec.yaml").write_text(spec_text(3))
    (tmp_path / "err.yaml").write_text(spec_text(3, weight=300))
    return tmp_path


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Inputs of large outputs, read only: big.yaml (185 KB as haproxy.cfg), mid.yaml (400
    servers: explain is slow), nocheck.cfg (3000 servers without health checks: 3000 lint
    findings) and small.cfg (3 servers)."""
    folder = tmp_path_factory.mktemp("large")
    (folder / "big.yaml").write_text(spec_text(3000))
    (folder / "mid.yaml").write_text(spec_text(400))
    (folder / "small.yaml").write_text(spec_text(3))
    for spec, config in (("big.yaml", "nocheck.cfg"), ("small.yaml", "small.cfg")):
        rendered = lbgen("render", spec, "-t", "haproxy", cwd=folder)
        assert rendered.returncode == 0, rendered.stderr
        (folder / config).write_text(rendered.stdout.replace(" check check-ssl verify none", ""))
    return folder


# --- 1. an unbuffered stdout (PYTHONUNBUFFERED=1) loses nothing without a word -----------------

#: Commands whose output is larger than a pipe's buffer (64 KiB) or the small disk below.
BIG_OUTPUTS = {
    "render": ["render", "big.yaml", "-t", "haproxy"],  # 185 KB
    "explain": ["explain", "mid.yaml", "-t", "haproxy", "--json"],  # 177 KB
    "schema": ["schema"],  # 76 KB of JSON, through typer.echo before
    "lint-json": ["lint", "nocheck.cfg", "--format", "json"],  # 800 KB of diagnostics
    "diff": ["diff", "big.yaml", "-t", "haproxy", "--against", "small.cfg", "--format", "unified"],
    "import": ["import", "nocheck.cfg"],  # 89 KB of YAML
}


def _closing_reader(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run lbgen into a pipe whose reader takes one byte and leaves (``| head -c1``): the
    kernel takes part of a large write, then refuses the rest (EPIPE)."""
    reader, writer = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "lbgen", *args], stdout=writer, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, cwd=cwd, env=env, text=True,
    )  # fmt: skip
    os.close(writer)
    os.read(reader, 1)  # blocks until lbgen's first write(): then the pipe is full
    time.sleep(0.2)
    os.close(reader)
    _, err = process.communicate(timeout=120)
    return process.returncode, err


@pytest.mark.parametrize("unbuffered", ["1", None], ids=["unbuffered", "buffered"])
@pytest.mark.parametrize("command", list(BIG_OUTPUTS))
def test_a_reader_that_leaves_is_exit_2_buffered_or_not(
    large: Path, command: str, unbuffered: str | None
) -> None:
    """Was exit 0 with PYTHONUNBUFFERED=1 (CI images, .ci/run): an unbuffered stdout makes one
    write() and took its short count for success."""
    code, err = _closing_reader(
        BIG_OUTPUTS[command], large, environment(PYTHONUNBUFFERED=unbuffered)
    )
    assert code == 2, err
    assert err.splitlines()[-1] == "lbgen: cannot write the standard output: Broken pipe", err
    assert "internal error" not in err


@ROOT_ONLY
@pytest.mark.parametrize("command", ["render", "schema", "lint-json"])
def test_a_full_disk_under_an_unbuffered_stdout_is_exit_2(
    large: Path, tmp_path: Path, command: str
) -> None:
    """``> file`` on a disk that fills up: was exit 0 and a file cut at what fitted. The disk is
    a 64 KiB tmpfs in a mount namespace of the test's own, gone with it."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = (
        'mount -t tmpfs -o size=64k lbgen-test "$0" || exit 99\n'
        '"$@" > "$0/out"; code=$?\n'
        'umount "$0"\n'
        "exit $code\n"
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, str(mount), sys.executable, "-m", "lbgen",
         *BIG_OUTPUTS[command]],
        capture_output=True, text=True, cwd=large, env=environment(PYTHONUNBUFFERED="1"),
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode != 99, done.stderr
    assert_one_line(done, 2, "lbgen: cannot write the standard output: No space left on device")


# --- 2. an output that is the input is refused before anything is written ----------------------


def test_render_refuses_to_overwrite_its_spec(work: Path) -> None:
    spec = work / "spec.yaml"
    before = spec.read_bytes()
    (work / "link.yaml").symlink_to("spec.yaml")
    os.link(spec, work / "hard.yaml")
    for output in ("spec.yaml", "link.yaml", "hard.yaml", "./spec.yaml"):
        for check in ([], ["--check"]):
            result = lbgen("render", "spec.yaml", "-t", "haproxy", "-o", output, *check, cwd=work)
            assert_one_line(result, 2, f"-o {Path(output)} is the spec being rendered")
            assert spec.read_bytes() == before
    assert result.stdout == ""


def test_render_refuses_to_overwrite_the_spec_it_reads_on_stdin(work: Path) -> None:
    spec = work / "spec.yaml"
    before = spec.read_bytes()
    result = lbgen("render", "-", "-t", "haproxy", "-o", "/dev/stdin", cwd=work, stdin=spec)
    assert_one_line(result, 2, "is the spec being rendered (read from the standard input)")
    result = lbgen("render", "-", "-t", "haproxy", "-o", "spec.yaml", cwd=work, stdin=spec)
    assert_one_line(result, 2, "-o spec.yaml is the spec being rendered")
    assert spec.read_bytes() == before
    # stdin from another file: -o elsewhere is fine.
    result = lbgen("render", "-", "-t", "haproxy", "-o", "out.cfg", cwd=work, stdin=spec)
    assert result.returncode == 0, result.stderr


def test_render_refuses_a_folder_whose_file_is_the_spec(work: Path) -> None:
    (work / "tier.yaml").write_text(
        spec_text(3)
        + 'global:\n  health: {bind: ":8081", path: /healthz}\n'
        + "vip:\n  addresses: [192.0.2.100/24]\n  interface: eth0\n  virtual_router_id: 51\n"
        "  nodes:\n    - {name: lb1, address: 192.0.2.11}\n    - {name: lb2, address: 192.0.2.12}\n"
    )
    before = (work / "tier.yaml").read_bytes()
    (work / "pods").mkdir()
    (work / "pods" / "keepalived.conf").symlink_to("../tier.yaml")
    result = lbgen(
        "render", "tier.yaml", "-t", "kubeadm-static-pods", "--node", "lb1", "-o", "pods",
        cwd=work,
    )  # fmt: skip
    assert_one_line(result, 2, "-o pods/keepalived.conf is the spec being rendered")
    assert (work / "tier.yaml").read_bytes() == before
    assert sorted(p.name for p in (work / "pods").iterdir()) == ["keepalived.conf"]


def test_import_refuses_to_overwrite_its_config(work: Path) -> None:
    config = work / "x.cfg"
    config.write_text(lbgen("render", "spec.yaml", "-t", "haproxy", cwd=work).stdout)
    before = config.read_bytes()
    result = lbgen("import", "x.cfg", "-o", "x.cfg", cwd=work)
    assert_one_line(result, 2, "-o x.cfg is the config being imported")
    assert_one_line(
        lbgen("import", "-", "-o", "/dev/stdin", cwd=work, stdin=config),
        2, "is the config being imported (read from the standard input)",
    )  # fmt: skip
    assert config.read_bytes() == before
    assert lbgen("import", "x.cfg", "-o", "spec2.yaml", cwd=work).returncode == 0


# --- 3. closed standard streams ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["render", "spec.yaml", "-t", "haproxy", "-o", "out.cfg"],
        ["render", "spec.yaml", "-t", "nginx", "-o", "out.cfg"],
        ["validate", "spec.yaml", "-t", "nginx"],
    ],
)
@pytest.mark.parametrize("closed", [">&-", "2>&-"])
def test_a_closed_stdout_or_stderr_that_nothing_needs_is_no_failure(
    work: Path, args: list[str], closed: str
) -> None:
    """Was exit 70 "internal error (AttributeError: 'NoneType' object has no attribute
    'flush')" with stdout closed, and a silent exit 1 with stderr closed (nginx: a note)."""
    result = lbgen_in_shell(closed, *args, cwd=work)
    assert result.returncode == 0, result.stderr
    assert "internal error" not in result.stderr
    if "-o" in args:
        rendered = lbgen(*args[:-2], cwd=work).stdout
        assert (work / "out.cfg").read_text() == rendered
        # And --check, which only reports, is as happy.
        check = lbgen_in_shell(closed, *args, "--check", cwd=work)
        assert check.returncode == 0, check.stderr


def test_a_closed_stdout_where_output_is_needed_is_exit_2(work: Path) -> None:
    result = lbgen_in_shell(">&-", "render", "spec.yaml", "-t", "haproxy", cwd=work)
    assert_one_line(result, 2, "lbgen: cannot write the standard output: it is closed")
    result = lbgen_in_shell(">&-", "schema", cwd=work)
    assert_one_line(result, 2, "lbgen: cannot write the standard output: it is closed")


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "-"],
        ["render", "-", "-t", "haproxy"],
        ["check", "-"],
        ["import", "-"],
        ["diff", "spec.yaml", "-t", "haproxy", "--against", "-"],
        ["lint", "-"],
    ],
)
def test_a_closed_stdin_read_as_dash_is_one_line_and_exit_2(work: Path, args: list[str]) -> None:
    """Was exit 70: "'NoneType' object has no attribute 'buffer'"."""
    result = lbgen_in_shell("<&-", *args, cwd=work)
    assert_one_line(result, 2, "the standard input is closed")


@pytest.mark.parametrize("fd", [0, 1, 2])
def test_a_closed_descriptor_is_held_on_dev_null(work: Path, fd: int) -> None:
    """A file lbgen opens must never take the number of a closed standard stream: whatever
    still wrote there would land in it."""
    probe = (
        "import os, sys\n"
        "from lbgen.cli import _hold_standard_fds\n"
        "_hold_standard_fds()\n"
        f"target = os.readlink('/proc/self/fd/{fd}')\n"
        "opened = os.open('spec.yaml', os.O_RDONLY)\n"
        "os.write(3, f'{target} {opened}'.encode())\n"
    )
    result = subprocess.run(
        ["sh", "-c", f'exec "$0" -c "$1" {fd}>&- 3>report', sys.executable, probe],
        cwd=work, env=environment(), timeout=60, check=False, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    target, opened = (work / "report").read_text().split()
    assert target == "/dev/null" and int(opened) > 3


# --- 4. a stderr that cannot be written never turns success into failure ------------------------


def test_a_full_stderr_keeps_the_outcome(work: Path) -> None:
    """``2>/dev/full``: was exit 2 "cannot write the standard output" after writing the file."""

    def run(*args: str) -> int:
        with open("/dev/full", "w") as full:
            return subprocess.run(
                [sys.executable, "-m", "lbgen", *args], stdout=subprocess.DEVNULL, stderr=full,
                cwd=work, env=environment(), timeout=120, check=False,
            ).returncode  # fmt: skip

    assert run("render", "spec.yaml", "-t", "haproxy", "-o", "out.cfg") == 0
    assert (work / "out.cfg").exists()
    assert run("render", "spec.yaml", "-t", "haproxy", "-o", "out.cfg", "--check") == 0
    assert run("validate", "spec.yaml", "-t", "nginx") == 0
    assert run("render", "spec.yaml", "-t", "nginx", "-o", "out.cfg", "--check") == 1
    assert run("validate", "err.yaml") == 2
    assert run("render", "spec.yaml", "-t", "apache") == 2


# --- 5. validate reports every spec, a target problem as one more diagnostic -------------------


def test_validate_reports_every_spec_and_the_target_problem(work: Path) -> None:
    """Was only "spec.yaml: target keepalived needs a vip section": err.yaml's own error was
    never shown, and --format json printed nothing."""
    result = lbgen("validate", "err.yaml", "spec.yaml", "-t", "keepalived", cwd=work)
    assert result.returncode == 2
    assert stderr_lines(result) == [
        "err.yaml:10:45: error [weight] pools.cp.servers.cp0.weight: must be 0..256 (got 300)",
        "spec.yaml: error [target] target keepalived needs a vip section",
    ]
    import json

    result = lbgen(
        "validate", "err.yaml", "spec.yaml", "-t", "keepalived", "--format", "json", cwd=work
    )
    assert result.returncode == 2
    found = [(d["file"], d["code"]) for d in json.loads(result.stdout)]
    assert found == [("err.yaml", "weight"), ("spec.yaml", "target")]


# --- 6. SIGTERM cleans up like Ctrl-C -----------------------------------------------------------

#: lbgen's main() in a process whose disk is slow: fsync of the temp file waits, so that a
#: signal can arrive while the write is under way (and the test knows when).
SLOW_DISK = """
import os, sys, time
from pathlib import Path

marker = Path(sys.argv.pop(1))
real_fsync = os.fsync

def slow_fsync(fd):
    if os.readlink(f"/proc/self/fd/{fd}").endswith(".lbgen-tmp"):
        marker.touch()
        time.sleep(60)
    real_fsync(fd)

os.fsync = slow_fsync
sys.argv[0] = "lbgen"
from lbgen.cli import main
main()
"""


def test_sigterm_during_a_write_leaves_no_temp_file(work: Path) -> None:
    """Was exit 143 with ``.out.cfg.xxxx.lbgen-tmp`` left beside the output: no handler, so
    write_atomic's cleanup never ran."""
    (work / "out.cfg").write_text("old\n")
    marker = work / "writing"
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_DISK, str(marker), "render", "spec.yaml", "-t", "haproxy",
         "-o", "out.cfg"],
        cwd=work, env=environment(), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), "the write never started"
    assert list(work.glob(".out.cfg.*.lbgen-tmp")), "the temp file should exist by now"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert err == "lbgen: terminated\n"
    assert list(work.glob("*.lbgen-tmp")) == []
    assert (work / "out.cfg").read_text() == "old\n"


# --- 7. usage errors: one line and a hint --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["render"], "lbgen: missing argument 'SPEC'"),
        (["render", "spec.yaml"],
         "lbgen: missing -t/--target: choose haproxy, nginx, nginx-plus, keepalived, "
         "kubeadm-static-pods"),
        (["render", "spec.yaml", "-t", "apache"],
         "lbgen: invalid value 'apache' for -t/--target: choose haproxy, nginx, nginx-plus, "
         "keepalived, kubeadm-static-pods"),
        (["render", "spec.yaml", "-t", "HAProxy"],
         "lbgen: invalid value 'HAProxy' for -t/--target: choose haproxy, nginx, nginx-plus, "
         "keepalived, kubeadm-static-pods (did you mean 'haproxy'?)"),
        (["render", "spec.yaml", "-t", "haproxy", "-t", "nginx"],
         "lbgen: -t/--target is given more than once: it takes one value"),
        (["render", "spec.yaml", "-t", "haproxy", "-o", "a.cfg", "--output", "b.cfg"],
         "lbgen: -o/--output is given more than once: it takes one value"),
        (["validate", "spec.yaml", "--formt", "json"],
         "lbgen: no such option: --formt (did you mean --format?)"),
        (["render", "a.yaml", "b.yaml", "-t", "haproxy"],
         "lbgen: got unexpected extra argument(s) (b.yaml)"),
        (["valdate", "spec.yaml"], "lbgen: no such command 'valdate' (did you mean 'validate'?)"),
    ],
)  # fmt: skip
def test_a_usage_error_is_one_line_and_a_hint(work: Path, args: list[str], says: str) -> None:
    """Were four lines: Usage, Try, a blank line, and ``Error: ...``."""
    result = lbgen(*args, cwd=work)
    assert result.returncode == 2
    assert result.stdout == ""
    command = "" if args[0] == "valdate" else f" {args[0]}"
    assert result.stderr.splitlines() == [
        says,
        f"Try 'python -m lbgen{command} --help' for help.",
    ], result.stderr


def test_repeatable_options_stay_repeatable(work: Path) -> None:
    result = lbgen("validate", "spec.yaml", "-t", "haproxy", "-t", "nginx", cwd=work)
    assert result.returncode == 0, result.stderr
    result = lbgen("validate", "spec.yaml", "--strict", "--strict", cwd=work)
    assert result.returncode == 0, result.stderr


@ROOT_ONLY
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["check", "unread"], "lbgen: cannot read unread: Permission denied"),
        (["lint", "unread"], "unread: error [CONF001] cannot read config: Permission denied"),
        (["render", "spec.yaml", "-t", "haproxy", "-o", "unread"], "unread"),
        (["render", "spec.yaml", "-t", "haproxy", "--templates", "closed"],
         "lbgen: --templates closed: cannot read: Permission denied"),
        (["render-all", "--manifest", "unread"], "unread"),
    ],
)  # fmt: skip
def test_an_unreadable_path_is_the_commands_own_one_line(
    work: Path, args: list[str], says: str
) -> None:
    """click's ``Path(readable=True)`` answered first, in four lines of usage error. Run
    without the capabilities that let root read anything."""
    (work / "unread").write_text("x\n")
    (work / "unread").chmod(0)
    (work / "closed").mkdir()
    (work / "closed").chmod(0)
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    result = subprocess.run(
        [*drop, sys.executable, "-m", "lbgen", *args],
        capture_output=True, text=True, cwd=work, env=environment(), timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = stderr_lines(result)
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "not readable" not in result.stderr and "Usage:" not in result.stderr


# --- 8. "-" for stdin: lint reads it, and nobody reads it twice ---------------------------------


def test_lint_reads_stdin(work: Path) -> None:
    config = work / "x.cfg"
    rendered = lbgen("render", "spec.yaml", "-t", "haproxy", cwd=work).stdout
    config.write_text(rendered.replace(" check check-ssl verify none", ""))  # LB: no checks
    from_file = lbgen("lint", "x.cfg", "--format", "json", cwd=work)
    from_stdin = lbgen("lint", "-", "--format", "json", cwd=work, stdin=config)
    assert from_file.returncode == from_stdin.returncode == 1, from_stdin.stderr
    assert from_stdin.stdout == from_file.stdout.replace('"x.cfg"', '"<stdin>"')


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "-", "-"],
        ["validate", "-", "spec.yaml", "-"],
        ["lint", "-", "-"],
        ["diff", "-", "-t", "haproxy", "--against", "-"],
    ],
)
def test_stdin_given_twice_is_refused(work: Path, args: list[str]) -> None:
    """``validate - -`` was the second reading's "the spec is empty"."""
    result = lbgen(*args, cwd=work, stdin=work / "spec.yaml")
    assert_one_line(result, 2, "lbgen: - (the standard input) is given twice")
