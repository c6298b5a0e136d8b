"""What ``-o`` must never do, through the real CLI and real files: replace the file a shell
redirected the standard output to (``-o /dev/stdout``), replace a file this user may not write
or hand it to another owner, leave a static-pods folder half-updated, read a huge file into
memory to compare it, or take ``new/`` for a file name. Plus :func:`lbgen.output.same_file`.

The promise for each: one line, exit 2 (``--check``: 1 for a difference), nothing written,
nothing lost. The tests that run lbgen as another user (``setpriv``) need root to switch to it.
"""

from __future__ import annotations

import os
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from lbgen import output
from lbgen.output import WriteStatus

ROOT = Path(__file__).resolve().parents[1]

#: Addresses from the documentation ranges only: rendering needs no name lookup.
SPEC = """\
version: 1
name: output-safety

global:
  health:
    bind: ":8081"
    path: /healthz

frontends:
  api:
    bind: ["192.0.2.100:6443"]
    pool: cp

pools:
  cp:
    servers:
      m1: 192.0.2.21:6443
      m2: 192.0.2.22:6443

vip:
  addresses: [192.0.2.100/24]
  interface: eth0
  virtual_router_id: 51
  nodes:
    - {name: lb1, address: 192.0.2.11}
    - {name: lb2, address: 192.0.2.12}
"""

#: The static-pods folder's files, in the order lbgen writes them.
FOLDER_FILES = [
    "haproxy.cfg",
    "keepalived.conf",
    "lbgen-vip.nft",
    "lbgen-haproxy.yaml",
    "lbgen-keepalived.yaml",
]

NOBODY = 65534
OPS = 4321  # a group id no account needs to have

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


def lbgen(
    *args: str,
    user: int | None = None,
    groups: Sequence[int] = (),
    stdout: IO[bytes] | int = subprocess.PIPE,
    stderr: IO[bytes] | int = subprocess.PIPE,
    memory: int | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """``python -m lbgen ARGS`` in a fresh process, as the README's user runs it: as ``user``
    (uid and gid, with only ``groups`` besides) when given, within ``memory`` bytes of address
    space when given."""
    command = [sys.executable, "-m", "lbgen", *args]
    if user is not None:
        listed = ",".join(map(str, groups))
        who = [f"--groups={listed}"] if groups else ["--clear-groups"]
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", *who, *command]

    def limit() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        command, stdout=stdout, stderr=stderr, cwd=ROOT, timeout=120, check=False,
        preexec_fn=limit, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip


def one_line(text: bytes) -> str:
    """The single line of a refusal (asserting there is exactly one, and no traceback)."""
    lines = [line for line in text.decode().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], text
    return lines[0]


def snapshot(folder: Path) -> dict[str, tuple[int, bytes, int, int, int]]:
    """Every entry of ``folder``: inode, bytes, mode, owner, group."""
    out = {}
    for path in sorted(folder.iterdir()):
        info = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(info.st_mode) else b""
        out[path.name] = (info.st_ino, data, info.st_mode, info.st_uid, info.st_gid)
    return out


def _chattr(flag: str, path: Path) -> bool:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder every user may write into (0777), reachable by every user (pytest's tmp_path
    is not: its parents are root's 0700), holding the spec."""
    folder = Path(tempfile.mkdtemp(prefix="lbgen-output-safety-"))
    folder.chmod(0o777)
    (folder / "spec.yaml").write_text(SPEC)
    (folder / "spec.yaml").chmod(0o644)
    yield folder
    for path in folder.rglob("*"):
        if not path.is_symlink():
            _chattr("-i", path)
    shutil.rmtree(folder)


@pytest.fixture
def rendered(shared: Path) -> bytes:
    """What the spec renders to for haproxy (stdout, ``-o -``)."""
    result = lbgen("render", str(shared / "spec.yaml"), "-t", "haproxy", "-o", "-")
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- bug 1: -o /dev/stdout replaced the file the stream was redirected to ----------------------


@pytest.mark.parametrize("check", [[], ["--check"]], ids=["write", "check"])
@pytest.mark.parametrize(
    ("option", "stream"),
    [
        ("/dev/stdout", "stdout"),
        ("/dev/stderr", "stderr"),
        ("/dev/fd/1", "stdout"),
        ("/proc/self/fd/1", "stdout"),
        ("link-to-dev-stdout", "stdout"),
    ],
)
def test_a_stream_path_never_replaces_the_file_it_is_redirected_to(
    shared: Path, option: str, stream: str, check: list[str]
) -> None:
    """``lbgen render ... -o /dev/stdout >> log.txt`` replaced log.txt (a new inode, its lines
    gone), exit 0: /dev/stdout resolves through /proc/self/fd/1 to log.txt itself."""
    (shared / "link-to-dev-stdout").symlink_to("/dev/stdout")
    log = shared / "log.txt"
    log.write_bytes(b"important\n")
    inode = log.stat().st_ino
    target = str(shared / option) if option.startswith("link") else option
    with log.open("ab") as appended:
        redirect: dict[str, Any] = {stream: appended}
        result = lbgen("render", str(shared / "spec.yaml"), "-t", "haproxy", "-o", target,
                       *check, **redirect)  # fmt: skip
    assert result.returncode == 2
    assert log.stat().st_ino == inode
    data = log.read_bytes()
    message = result.stderr if stream == "stdout" else data[len(b"important\n") :]
    assert data.startswith(b"important\n")
    if stream == "stdout":
        assert data == b"important\n"
    line = one_line(message)
    assert line.startswith(f"lbgen: cannot use {target}: ")
    assert "-o - for standard output" in line
    assert not [p for p in shared.iterdir() if p.name.endswith(".lbgen-tmp")]


def test_import_to_dev_stdout_is_refused_too(shared: Path, rendered: bytes) -> None:
    config = shared / "haproxy.cfg"
    config.write_bytes(rendered)
    log = shared / "spec-out.yaml"
    log.write_bytes(b"important\n")
    with log.open("ab") as appended:
        result = lbgen("import", str(config), "-o", "/dev/stdout", stdout=appended)
    assert result.returncode == 2
    assert log.read_bytes() == b"important\n"
    assert "-o - for standard output" in one_line(result.stderr)


def test_a_device_keeps_its_own_message(shared: Path) -> None:
    """/dev/null is a device before it is a path under /dev: the message says what it is."""
    result = lbgen("render", str(shared / "spec.yaml"), "-t", "haproxy", "-o", "/dev/null")
    assert result.returncode == 2
    assert "a character device, not a regular file" in one_line(result.stderr)


def test_a_stream_path_is_refused_by_the_library(shared: Path) -> None:
    """The walk sees /proc behind a symlink and behind a relative ``..`` path alike."""
    log = shared / "log.txt"
    log.write_bytes(b"important\n")
    (shared / "fd").symlink_to("/proc/self/fd")
    with log.open("ab") as appended:
        fd = appended.fileno()
        up = os.path.relpath(f"/proc/self/fd/{fd}", shared)  # ../../proc/... from the folder
        paths = [shared / "fd" / str(fd), shared / up, Path("/dev/shm/lbgen-never.cfg")]
        for path in paths:
            with pytest.raises(OSError, match="through /dev or /proc"):
                output.write_atomic(path, "x\n")
            with pytest.raises(OSError, match="through /dev or /proc"):
                output.compare(path, b"x\n")
    assert log.read_bytes() == b"important\n"
    assert not Path("/dev/shm/lbgen-never.cfg").exists()


# --- bug 2: a file this user may not write, an owner the new file cannot keep ------------------


@needs_root
def test_a_file_this_user_may_not_write_is_refused(shared: Path) -> None:
    """root's 0644 file in a folder everyone may write: the rename would have replaced it,
    and the file became nobody's (exit 0)."""
    target = shared / "haproxy.cfg"
    target.write_bytes(b"root's\n")
    target.chmod(0o644)
    before = snapshot(shared)
    result = lbgen("render", str(shared / "spec.yaml"), "-t", "haproxy", "-o", str(target),
                   user=NOBODY)  # fmt: skip
    assert result.returncode == 2
    assert one_line(result.stderr) == f"lbgen: cannot write {target}: Permission denied"
    assert snapshot(shared) == before


@needs_root
def test_an_owner_the_new_file_cannot_keep_is_refused(shared: Path) -> None:
    """A group-writable root:ops 0664 file in a setgid ops folder: a member of ops may write
    it, but a rename would make it the member's (user:ops)."""
    folder = shared / "ops"
    folder.mkdir()
    os.chown(folder, 0, OPS)
    folder.chmod(0o2777)
    target = folder / "haproxy.cfg"
    target.write_bytes(b"the team's\n")
    os.chown(target, 0, OPS)
    target.chmod(0o664)
    before = snapshot(folder)
    result = lbgen("render", str(shared / "spec.yaml"), "-t", "haproxy", "-o", str(target),
                   user=NOBODY, groups=[OPS])  # fmt: skip
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith(f"lbgen: cannot write {target}: its owner root:")
    assert "cannot be kept" in line and "run as the file's owner or root" in line
    assert snapshot(folder) == before


@needs_root
def test_setuid_and_setgid_bits_survive_the_owner_change(shared: Path, rendered: bytes) -> None:
    """chown after chmod cleared them: a 6755 file came back 0755."""
    target = shared / "haproxy.cfg"
    target.write_bytes(b"old\n")
    os.chown(target, 1234, OPS)
    target.chmod(0o6755)
    result = lbgen("render", str(shared / "spec.yaml"), "-t", "haproxy", "-o", str(target))
    assert result.returncode == 0, result.stderr
    info = target.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o6755, 1234, OPS)
    assert target.read_bytes() == rendered


@needs_root
def test_a_users_own_file_is_still_replaced(shared: Path, rendered: bytes) -> None:
    target = shared / "haproxy.cfg"
    target.write_bytes(b"old\n")
    os.chown(target, NOBODY, NOBODY)
    target.chmod(0o640)
    inode = target.stat().st_ino
    result = lbgen("render", str(shared / "spec.yaml"), "-t", "haproxy", "-o", str(target),
                   user=NOBODY)  # fmt: skip
    assert result.returncode == 0, result.stderr
    info = target.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o640, NOBODY, NOBODY)
    assert info.st_ino != inode and target.read_bytes() == rendered


# --- bug 3: -t kubeadm-static-pods half-updated the folder --------------------------------------


def _pods(shared: Path, *extra: str, user: int | None = None) -> subprocess.CompletedProcess[bytes]:
    args = ["render", str(shared / "spec.yaml"), "-t", "kubeadm-static-pods", "--node", "lb1"]
    return lbgen(*args, "-o", str(shared / "lb1"), *extra, user=user)


def _stale_folder(shared: Path, user: int | None = None) -> Path:
    """A rendered lb1 folder whose every file then went out of date (same owner and mode)."""
    first = _pods(shared, user=user)
    assert first.returncode == 0, first.stderr
    folder = shared / "lb1"
    assert sorted(p.name for p in folder.iterdir()) == sorted(FOLDER_FILES)
    for path in folder.iterdir():
        path.write_bytes(b"old\n")
    return folder


@needs_root
def test_a_folder_file_that_cannot_be_written_leaves_every_old_file(shared: Path) -> None:
    """The last file's owner cannot be kept: the four before it were already replaced, and
    the message named the folder. Now the temp files are written first, renamed only when all
    are, so nothing changes; the message names the file."""
    folder = _stale_folder(shared, user=NOBODY)
    last = folder / FOLDER_FILES[-1]
    os.chown(last, 0, 0)
    last.chmod(0o666)  # nobody may write it, but not make it theirs
    before = snapshot(folder)
    result = _pods(shared, user=NOBODY)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith(f"lbgen: cannot write {folder}: {FOLDER_FILES[-1]}: its owner root:")
    assert snapshot(folder) == before  # no file replaced, no temp file left


@needs_root
def test_an_immutable_folder_file_stops_the_write_before_any_rename(shared: Path) -> None:
    """``chattr +i`` on the fourth file: the first three were replaced, exit 2."""
    folder = _stale_folder(shared)
    locked = folder / FOLDER_FILES[3]
    if not _chattr("+i", locked):
        pytest.skip("this file system has no immutable attribute")
    before = snapshot(folder)
    result = _pods(shared)
    _chattr("-i", locked)
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        f"lbgen: cannot write {folder}: {FOLDER_FILES[3]}: Permission denied"
    )
    assert snapshot(folder) == before


def test_a_rename_failing_midway_says_which_files_were_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rename cannot be undone: the third one fails after two succeeded. The error says
    which two hold their new text; the rest keep their old text, and no temp file is left."""
    files = {name: f"new {name}\n" for name in FOLDER_FILES}
    for name in FOLDER_FILES:
        (tmp_path / name).write_text("old\n")
    real_replace = os.replace
    calls: list[str] = []

    def replace(source: Any, destination: Any) -> None:
        calls.append(str(destination))
        if len(calls) == 3:
            raise OSError(28, os.strerror(28))
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError) as caught:
        output.write_folder(tmp_path, files)
    monkeypatch.undo()
    assert caught.value.filename == str(tmp_path / FOLDER_FILES[2])
    assert caught.value.strerror == (
        f"{FOLDER_FILES[2]}: No space left on device; already replaced: "
        f"{FOLDER_FILES[0]}, {FOLDER_FILES[1]} (the other files are as they were)"
    )
    contents = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert contents == {
        name: files[name] if name in FOLDER_FILES[:2] else "old\n" for name in FOLDER_FILES
    }


def test_a_fifo_in_the_folder_is_named(tmp_path: Path) -> None:
    """--check of a folder names the file in the way, not just the folder."""
    os.mkfifo(tmp_path / "keepalived.conf")
    files = {"haproxy.cfg": "x\n", "keepalived.conf": "y\n"}
    for call in (output.stale_files, output.write_folder):
        with pytest.raises(OSError) as caught:
            call(tmp_path, files)
        assert str(caught.value.strerror).startswith("keepalived.conf: a FIFO, not a regular file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keepalived.conf"]


# --- bug 4: a huge file in the way was read whole to compare it ---------------------------------

#: More than the address space the runs below get: reading it whole is a MemoryError.
HUGE = 3 << 30
MEMORY = 2 << 30


def _huge(path: Path) -> None:
    with path.open("wb") as handle:  # sparse: no disk space used
        handle.truncate(HUGE)


def test_folder_check_and_write_do_not_read_a_huge_file(shared: Path) -> None:
    """``truncate -s 3G lb1/haproxy.cfg; (ulimit -v 2000000; lbgen render ... --check)`` was
    exit 70 (MemoryError): a file of another size differs, unread."""
    assert _pods(shared).returncode == 0
    huge = shared / "lb1" / "haproxy.cfg"
    _huge(huge)
    args = ["render", str(shared / "spec.yaml"), "-t", "kubeadm-static-pods", "--node", "lb1"]
    check = lbgen(*args, "-o", str(shared / "lb1"), "--check", memory=MEMORY)
    assert check.returncode == 1, check.stderr
    assert one_line(check.stderr) == f"lbgen: {huge} is out of date (render would change it)"
    write = lbgen(*args, "-o", str(shared / "lb1"), memory=MEMORY)
    assert write.returncode == 0, write.stderr
    assert huge.stat().st_size < 1 << 20


def test_write_atomic_does_not_read_a_huge_file(shared: Path, rendered: bytes) -> None:
    target = shared / "haproxy.cfg"
    _huge(target)
    program = (
        "import sys; from pathlib import Path; from lbgen import output; "
        "path = Path(sys.argv[1]); "
        "print(output.compare(path, b'x').value); "
        "print(output.write_atomic(path, sys.stdin.read()).status.value)"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, str(target)], input=rendered, capture_output=True,
        cwd=ROOT, timeout=120, check=False,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY)),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [b"written", b"written"]
    assert target.read_bytes() == rendered


def test_compare_reads_only_a_file_of_the_same_size(tmp_path: Path) -> None:
    target = tmp_path / "haproxy.cfg"
    assert output.compare(target, b"abc\n") is WriteStatus.CREATED
    target.write_bytes(b"abc\n")
    assert output.compare(target, b"abc\n") is WriteStatus.UNCHANGED
    assert output.compare(target, b"abd\n") is WriteStatus.WRITTEN
    assert output.compare(target, b"abc\n\n") is WriteStatus.WRITTEN
    assert output.compare(target, b"") is WriteStatus.WRITTEN
    big = bytes(range(256)) * 9000  # several read chunks
    target.write_bytes(big)
    assert output.compare(target, big) is WriteStatus.UNCHANGED
    assert output.compare(target, big[:-1] + b"\x00") is WriteStatus.WRITTEN


def test_render_check_of_a_huge_file(shared: Path) -> None:
    target = shared / "haproxy.cfg"
    _huge(target)
    args = ["render", str(shared / "spec.yaml"), "-t", "haproxy", "-o", str(target)]
    check = lbgen(*args, "--check", memory=MEMORY)
    assert check.returncode == 1, check.stderr
    write = lbgen(*args, memory=MEMORY)
    assert write.returncode == 0, write.stderr


# --- bug 5: a file target ending in '/' ---------------------------------------------------------


def test_a_file_path_ending_with_a_slash_is_refused(tmp_path: Path) -> None:
    """``Path("new/")`` is ``new``: the text must be looked at before it becomes a Path."""
    text = f"{tmp_path}/newfile/"
    for call in (
        lambda: output.file_path(text),
        lambda: output.write_atomic(text, "x\n"),
        lambda: output.compare(text, b"x\n"),
        lambda: output.read_existing(text),
    ):
        with pytest.raises(IsADirectoryError, match="ends with '/'"):
            call()
    assert list(tmp_path.iterdir()) == []
    assert output.file_path(f"{tmp_path}/newfile") == tmp_path / "newfile"


def test_render_to_a_path_ending_with_a_slash_is_refused(shared: Path) -> None:
    result = lbgen("render", str(shared / "spec.yaml"), "-t", "haproxy", "-o", f"{shared}/new/")
    assert result.returncode == 2
    assert not (shared / "new").exists()


def test_import_says_what_happened(shared: Path, rendered: bytes) -> None:
    config = shared / "haproxy.cfg"
    config.write_bytes(rendered)
    target = shared / "imported.yaml"
    first = lbgen("import", str(config), "-o", str(target))
    again = lbgen("import", str(config), "-o", str(target))
    assert one_line(first.stderr) == f"{target} created"
    assert one_line(again.stderr) == f"{target} unchanged"


# --- same_file ----------------------------------------------------------------------------------


def test_same_file(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    (tmp_path / "link.yaml").symlink_to("spec.yaml")
    os.link(spec, tmp_path / "hard.yaml")
    (tmp_path / "other.yaml").write_text(SPEC)
    assert output.same_file(spec, spec)
    assert output.same_file(str(spec), tmp_path / "link.yaml")
    assert output.same_file(tmp_path / "hard.yaml", spec)
    assert not output.same_file(spec, tmp_path / "other.yaml")  # same bytes, another file
    assert not output.same_file(spec, tmp_path / "missing.yaml")
    assert not output.same_file(tmp_path / "missing.yaml", tmp_path / "missing.yaml")
    assert not output.same_file("-", spec)
    assert not output.same_file("-", "-")
    assert not output.same_file(spec, "bad\0name")


def test_check_of_a_file_in_a_missing_folder_is_not_out_of_date(shared: Path) -> None:
    """``--check`` against a path whose folder does not exist: render would fail to write it
    (exit 2), so the check says that, not "out of date" (exit 1); a new file in an existing
    folder is out of date."""
    args = ["render", str(shared / "spec.yaml"), "-t", "haproxy", "--check", "-o"]
    missing = lbgen(*args, str(shared / "nofolder" / "x.cfg"))
    assert missing.returncode == 2
    assert one_line(missing.stderr).endswith("(its folder does not exist)")
    assert lbgen(*args, str(shared / "new.cfg")).returncode == 1
    assert lbgen("render", *args[1:4], "-o", str(shared / "nofolder" / "x.cfg")).returncode == 2
