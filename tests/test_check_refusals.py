"""``render --check`` exits 2, with render's own one-line message, wherever render would refuse
to write: ``--check`` said "out of date" (exit 1) for a dangling ``-o`` symlink, a folder target
under a regular file or a dangling folder link, a file nobody may write. CI then asked for a
render that could only fail. Each case through the real CLI: the check first (nothing on disk
changes), then render itself, whose message the check must have printed word for word.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

#: Addresses from the documentation ranges only: rendering needs no name lookup.
SPEC = """\
version: 1
name: check-refusals
global:
  health:
    bind: ":8081"
frontends:
  api:
    bind: ["192.0.2.100:6443"]
    pool: cp
pools:
  cp:
    servers:
      m1: 192.0.2.21:6443
vip:
  addresses: [192.0.2.100/24]
  interface: eth0
  virtual_router_id: 51
  nodes:
    - {name: lb1, address: 192.0.2.11}
    - {name: lb2, address: 192.0.2.12}
"""

NOBODY = 65534
OPS = 4321  # a group id no account needs to have

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chattr, setpriv)")


def lbgen(*args: str, user: int | None = None, groups: tuple[int, ...] = ()) -> tuple[int, str]:
    """``python -m lbgen ARGS`` in a fresh process (as ``user`` when given): exit code, stderr."""
    command = [sys.executable, "-m", "lbgen", *args]
    if user is not None:
        who = [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", *who, *command]
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, lines[-1] if lines else ""


def tree(folder: Path) -> dict[str, tuple[int, int, bytes | str]]:
    """Every entry under ``folder`` (symlinks not followed): mode, inode, bytes or link."""
    out: dict[str, tuple[int, int, bytes | str]] = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            content: bytes | str = os.readlink(path)
        elif path.is_file():
            content = path.read_bytes()
        else:
            content = b""
        out[str(path.relative_to(folder))] = (info.st_mode, info.st_ino, content)
    return out


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder every user may write into and reach (tmp_path's parents are root's 0700),
    holding the spec."""
    folder = Path(tempfile.mkdtemp(prefix="lbgen-check-refusals-"))
    folder.chmod(0o777)
    (folder / "spec.yaml").write_text(SPEC)
    (folder / "spec.yaml").chmod(0o644)
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-R", "-i", str(folder)], capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def file_args(shared: Path, output: Path) -> list[str]:
    return ["render", str(shared / "spec.yaml"), "-t", "haproxy", "-o", str(output)]


def pods_args(shared: Path, output: Path) -> list[str]:
    args = ["render", str(shared / "spec.yaml"), "-t", "kubeadm-static-pods", "--node", "lb1"]
    return [*args, "-o", str(output)]


def check_then_render(shared: Path, args: list[str], **who: object) -> str:
    """Run ``args --check`` then ``args``: both exit 2 with the same line, and neither changes
    anything under ``shared``. The line."""
    before = tree(shared)
    check_code, check_line = lbgen(*args, "--check", **who)  # type: ignore[arg-type]
    assert tree(shared) == before
    render_code, render_line = lbgen(*args, **who)  # type: ignore[arg-type]
    assert tree(shared) == before
    assert render_code == 2, render_line
    assert (check_code, check_line) == (2, render_line)
    return check_line


def _chattr(flag: str, path: Path) -> None:
    result = subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip("this file system has no immutable attribute")


# --- one file -----------------------------------------------------------------------------------


def test_a_dangling_symlink(shared: Path) -> None:
    link = shared / "dangling.cfg"
    link.symlink_to(shared / "nowhere" / "nonexist.cfg")
    line = check_then_render(shared, file_args(shared, link))
    assert line == f"lbgen: cannot write {link}: a dangling symlink: its target does not exist"
    assert not (shared / "nowhere").exists()


def test_a_missing_folder(shared: Path) -> None:
    out = shared / "nofolder" / "x.cfg"
    line = check_then_render(shared, file_args(shared, out))
    assert line.endswith("(its folder does not exist)")


def test_a_folder_that_is_a_file(shared: Path) -> None:
    (shared / "afile").write_text("")
    out = shared / "afile" / "x.cfg"
    line = check_then_render(shared, file_args(shared, out))
    assert line.endswith(f" {out}: Not a directory")  # the comparison already refuses it


@needs_root
def test_a_file_nobody_may_write(shared: Path) -> None:
    out = shared / "locked.cfg"
    out.write_text("old\n")
    _chattr("+i", out)
    line = check_then_render(shared, file_args(shared, out))
    assert line == f"lbgen: cannot write {out}: Permission denied"


@needs_root
def test_a_new_file_in_a_folder_nobody_may_write(shared: Path) -> None:
    folder = shared / "locked"
    folder.mkdir()
    _chattr("+i", folder)
    out = folder / "new.cfg"
    line = check_then_render(shared, file_args(shared, out))
    assert line == f"lbgen: cannot write {out}: Permission denied"


@needs_root
def test_a_file_whose_owner_cannot_be_kept(shared: Path) -> None:
    """root:ops 0664 in a setgid ops folder: a member of ops may write it, but a rename would
    make it the member's."""
    folder = shared / "ops"
    folder.mkdir()
    os.chown(folder, 0, OPS)
    folder.chmod(0o2777)
    out = folder / "haproxy.cfg"
    out.write_text("the team's\n")
    os.chown(out, 0, OPS)
    out.chmod(0o664)
    line = check_then_render(shared, file_args(shared, out), user=NOBODY, groups=(OPS,))
    assert line.startswith(f"lbgen: cannot write {out}: its owner root:")
    assert "cannot be kept" in line


def test_out_of_date_and_up_to_date_files(shared: Path) -> None:
    out = shared / "haproxy.cfg"
    args = file_args(shared, out)
    assert lbgen(*args, "--check") == (1, f"lbgen: {out} is out of date (render would change it)")
    assert not out.exists()
    assert lbgen(*args)[0] == 0
    assert lbgen(*args, "--check") == (0, f"{out} is up to date")
    out.write_text("old\n")
    assert lbgen(*args, "--check")[0] == 1
    assert out.read_text() == "old\n"


# --- a folder target ----------------------------------------------------------------------------


def test_a_folder_under_a_regular_file(shared: Path) -> None:
    (shared / "afile").write_text("")
    out = shared / "afile" / "pods"
    line = check_then_render(shared, pods_args(shared, out))
    assert line == f"lbgen: cannot write {out}: Not a directory"


def test_a_folder_that_is_a_dangling_symlink(shared: Path) -> None:
    link = shared / "dangdir"
    link.symlink_to(shared / "nowhere" / "x")
    line = check_then_render(shared, pods_args(shared, link))
    assert line == f"lbgen: cannot write {link}: a dangling symlink: its target does not exist"
    assert not (shared / "nowhere").exists()


def test_a_folder_below_a_dangling_symlink(shared: Path) -> None:
    (shared / "dangdir").symlink_to(shared / "nowhere" / "x")
    out = shared / "dangdir" / "pods"
    line = check_then_render(shared, pods_args(shared, out))
    assert line == f"lbgen: cannot write {out}: a dangling symlink: its target does not exist"
    assert not (shared / "nowhere").exists()


def test_a_folder_under_dev(shared: Path) -> None:
    out = Path("/dev/shm") / f"lbgen-check-refusals-{os.getpid()}"
    try:
        line = check_then_render(shared, pods_args(shared, out))
        assert line.startswith(f"lbgen: cannot write {out}: a path through /dev or /proc")
        assert not out.exists()
    finally:
        shutil.rmtree(out, ignore_errors=True)


@needs_root
def test_a_folder_file_nobody_may_write(shared: Path) -> None:
    out = shared / "lb1"
    assert lbgen(*pods_args(shared, out))[0] == 0
    locked = out / "keepalived.conf"
    locked.write_text("old\n")
    _chattr("+i", locked)
    line = check_then_render(shared, pods_args(shared, out))
    assert line == f"lbgen: cannot write {out}: keepalived.conf: Permission denied"


@needs_root
def test_a_new_folder_in_a_folder_nobody_may_write(shared: Path) -> None:
    folder = shared / "locked"
    folder.mkdir()
    _chattr("+i", folder)
    out = folder / "lb1"
    line = check_then_render(shared, pods_args(shared, out))
    assert line == f"lbgen: cannot write {out}: Permission denied"


def test_out_of_date_and_up_to_date_folders(shared: Path) -> None:
    out = shared / "lb1"
    args = pods_args(shared, out)
    assert lbgen(*args, "--check") == (1, f"lbgen: {out} is out of date (render would create it)")
    assert not out.exists()
    assert lbgen(*args)[0] == 0
    assert lbgen(*args, "--check") == (0, f"{out} is up to date")
    (out / "haproxy.cfg").write_text("old\n")
    code, line = lbgen(*args, "--check")
    assert (code, line) == (
        1,
        f"lbgen: {out / 'haproxy.cfg'} is out of date (render would change it)",
    )
    assert (out / "haproxy.cfg").read_text() == "old\n"


# --- make_folders: what render-all (which makes an output's folders) needs ----------------------


def test_plan_write_with_folders_to_make(tmp_path: Path) -> None:
    from lbgen import output
    from lbgen.output import WriteStatus

    out = tmp_path / "new" / "sub" / "x.cfg"
    assert output.plan_write(out, "x\n", make_folders=True) is WriteStatus.CREATED
    assert not (tmp_path / "new").exists()
    with pytest.raises(OSError, match="its folder does not exist"):
        output.plan_write(out, "x\n")
    (tmp_path / "afile").write_text("")
    (tmp_path / "dangdir").symlink_to(tmp_path / "nowhere" / "x")
    for blocked, message in [
        (tmp_path / "afile" / "sub" / "x.cfg", "Not a directory"),
        (tmp_path / "dangdir" / "sub" / "x.cfg", "a dangling symlink: its target does not exist"),
    ]:
        for call in (output.plan_write, output.write_atomic):
            with pytest.raises(OSError) as caught:
                call(blocked, "x\n", make_folders=True)
            assert caught.value.strerror == message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "dangdir"]
    assert output.write_atomic(out, "x\n", make_folders=True).status is WriteStatus.CREATED
    assert out.read_text() == "x\n"
    assert output.plan_write(out, "x\n", make_folders=True) is WriteStatus.UNCHANGED
