"""Where ``render -o`` writes, through the real CLI: folders it cannot write, symlinks, devices,
FIFOs, concurrent writers, ``kill -9`` in the middle, and ``--check`` on exact bytes.

The promise: a write either leaves the old file intact or puts the complete new one in place; a
symlink is followed to its target (like ``cp``); a device, FIFO or dangling link is refused with
exit 2 and one line, never replaced, never waited on.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adversarial.measure import ROOT

SPEC_A = """\
version: 1
frontends:
  api:
    bind: [":6443"]
    pool: cp
pools:
  cp:
    servers:
      m1: 10.0.0.1:6443
"""
SPEC_B = SPEC_A + "      m2: 10.0.0.2:6443\n"


def _without_dac_override() -> None:
    """In the child before exec: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
    bounding set, so that root, too, is stopped by a folder's permissions."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def lbgen(
    *args: str, cwd: Path = ROOT, timeout: float = 60, unprivileged: bool = False
) -> subprocess.CompletedProcess[bytes]:
    """``python -m lbgen`` in a fresh process; bytes out, so that exact output is compared."""
    drop = _without_dac_override if unprivileged and os.geteuid() == 0 else None
    return subprocess.run(
        [sys.executable, "-m", "lbgen", *args],
        capture_output=True, cwd=cwd, timeout=timeout, check=False, preexec_fn=drop,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip


def one_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """The single stderr line of a refusal (asserting there is exactly one, no traceback)."""
    lines = [line for line in result.stderr.decode().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], result.stderr
    return lines[0]


@pytest.fixture
def work() -> Iterator[Path]:
    """A scratch folder with the two specs."""
    folder = Path(tempfile.mkdtemp(prefix="lbgen-writes-"))
    folder.chmod(0o755)
    (folder / "a.yaml").write_text(SPEC_A)
    (folder / "b.yaml").write_text(SPEC_B)
    (folder / "a.yaml").chmod(0o644)
    (folder / "b.yaml").chmod(0o644)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder)


@pytest.fixture
def rendered(work: Path) -> dict[str, bytes]:
    """What the two specs render to, from stdout (``-o -``)."""
    out = {}
    for name in ("a", "b"):
        result = lbgen("render", str(work / f"{name}.yaml"), "-t", "haproxy", "-o", "-")
        assert result.returncode == 0, result.stderr
        out[name] = result.stdout
    assert out["a"] != out["b"]
    return out


def test_symlink_is_followed_to_its_target(work: Path, rendered: dict[str, bytes]) -> None:
    (work / "etc").mkdir()
    target = work / "etc" / "haproxy.cfg"
    target.write_bytes(b"old\n")
    target.chmod(0o640)
    link = work / "current.cfg"
    link.symlink_to("etc/haproxy.cfg")
    result = lbgen("render", str(work / "a.yaml"), "-t", "haproxy", "-o", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == "etc/haproxy.cfg"
    assert target.read_bytes() == rendered["a"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the target's mode is kept
    assert sorted(p.name for p in (work / "etc").iterdir()) == ["haproxy.cfg"]  # no temp left
    again = lbgen("render", str(work / "a.yaml"), "-t", "haproxy", "-o", str(link), "--check")
    assert again.returncode == 0, again.stderr


def test_dangling_symlink_is_refused(work: Path) -> None:
    link = work / "dangling.cfg"
    link.symlink_to(work / "nowhere" / "haproxy.cfg")
    result = lbgen("render", str(work / "a.yaml"), "-t", "haproxy", "-o", str(link))
    assert result.returncode == 2
    assert "dangling symlink" in one_line(result)
    assert link.is_symlink() and not (work / "nowhere").exists()


def _character_device(work: Path) -> Path:
    """A character device to write to: a private copy of /dev/null when we may make one."""
    node = work / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        return Path("/dev/null")  # unprivileged: lbgen could not replace it anyway
    return node


def test_device_is_never_replaced(work: Path) -> None:
    device = _character_device(work)
    before = device.lstat()
    for extra in ([], ["--check"]):
        result = lbgen("render", str(work / "a.yaml"), "-t", "haproxy", "-o", str(device), *extra)
        assert result.returncode == 2
        assert "a character device, not a regular file" in one_line(result)
    after = device.lstat()
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino
    # A symlink to the device is refused too: following links never reaches a device.
    (work / "to-null").symlink_to(device)
    result = lbgen("render", str(work / "a.yaml"), "-t", "haproxy", "-o", str(work / "to-null"))
    assert result.returncode == 2 and "character device" in one_line(result)
    imported = lbgen("import", str(work / "a.cfg"), "-o", str(device))
    assert imported.returncode == 2  # (a.cfg is missing: nothing reaches the device either)


def test_fifo_is_refused_without_hanging(work: Path) -> None:
    fifo = work / "fifo"
    os.mkfifo(fifo)
    for extra in ([], ["--check"]):
        # No reader and no writer on the FIFO: opening it plainly would block forever.
        result = lbgen(
            "render", str(work / "a.yaml"), "-t", "haproxy", "-o", str(fifo), *extra, timeout=30
        )
        assert result.returncode == 2
        assert "a FIFO, not a regular file" in one_line(result)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_stdout_is_asked_for_with_a_dash(work: Path, rendered: dict[str, bytes]) -> None:
    result = lbgen("render", str(work / "a.yaml"), "-t", "haproxy", "-o", "-")
    assert result.returncode == 0 and result.stdout == rendered["a"]
    assert not (work / "-").exists()
    check = lbgen("render", str(work / "a.yaml"), "-t", "haproxy", "-o", "-", "--check")
    assert check.returncode == 2 and "--check" in one_line(check)


@pytest.mark.parametrize("name", ["a" * 251 + ".cfg", "é" * 125 + "x.cfg"])
def test_a_name_as_long_as_a_file_name_may_be_is_written(
    name: str, work: Path, rendered: dict[str, bytes]
) -> None:
    """255 bytes (one with two-byte characters): the temp file beside it once took the whole
    name and 18 characters more ("File name too long")."""
    assert len(name.encode()) == 255
    target = work / name
    target.write_bytes(b"old\n")
    result = lbgen("render", str(work / "a.yaml"), "-t", "haproxy", "-o", str(target))
    assert result.returncode == 0, one_line(result)
    assert target.read_bytes() == rendered["a"]
    assert not [p for p in work.iterdir() if p.name.endswith(".lbgen-tmp")]


def test_read_only_folder_keeps_the_old_file(work: Path, rendered: dict[str, bytes]) -> None:
    folder = work / "ro"
    folder.mkdir()
    target = folder / "haproxy.cfg"
    target.write_bytes(rendered["a"])
    target.chmod(0o644)
    folder.chmod(0o555)
    # root writes anywhere: as root, the render runs without the capability that allows it.
    result = lbgen(
        "render", str(work / "b.yaml"), "-t", "haproxy", "-o", str(target), unprivileged=True
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot write" in one_line(result) and "Permission denied" in one_line(result)
    assert target.read_bytes() == rendered["a"]
    assert sorted(p.name for p in folder.iterdir()) == ["haproxy.cfg"]


def test_check_compares_exact_bytes(work: Path, rendered: dict[str, bytes]) -> None:
    """A newline that became a carriage return (HAProxy then drops the rest of the line), a
    CRLF file, a non-UTF-8 byte: each is a difference, none a crash."""
    target = work / "haproxy.cfg"
    text = rendered["a"]
    first_newline = text.index(b"\n")
    variants = {
        "cr-for-lf": text[:first_newline] + b"\r" + text[first_newline + 1 :],
        "crlf": text.replace(b"\n", b"\r\n"),
        "latin1-comment": text + b"# caf\xe9\n",
        "missing-final-newline": text.rstrip(b"\n"),
    }
    target.write_bytes(text)
    same = lbgen("render", str(work / "a.yaml"), "-t", "haproxy", "-o", str(target), "--check")
    assert same.returncode == 0, same.stderr
    for name, data in variants.items():
        target.write_bytes(data)
        result = lbgen(
            "render", str(work / "a.yaml"), "-t", "haproxy", "-o", str(target), "--check"
        )
        assert result.returncode == 1, (name, result.stderr)
        assert "out of date" in one_line(result)
        assert target.read_bytes() == data  # --check writes nothing
        written = lbgen("render", str(work / "a.yaml"), "-t", "haproxy", "-o", str(target))
        assert written.returncode == 0 and target.read_bytes() == text, name


def test_concurrent_writers_leave_one_complete_file(work: Path, rendered: dict[str, bytes]) -> None:
    """20 renders of two different specs into one file at once: the file is one of the two
    renderings, whole, and no temporary file is left."""
    target = work / "out" / "haproxy.cfg"
    target.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lbgen",
                "render",
                str(work / f"{'ab'[i % 2]}.yaml"),
                "-t",
                "haproxy",
                "-o",
                str(target),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(20)
    ]
    failures = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failures.append(err.decode())
    print(f"\nconcurrent writers: 20 started / {20 - len(failures)} succeeded")
    assert failures == []
    assert target.read_bytes() in (rendered["a"], rendered["b"])
    assert [p.name for p in target.parent.iterdir()] == ["haproxy.cfg"]


def test_kill_9_during_write_never_tears_the_file(work: Path, rendered: dict[str, bytes]) -> None:
    """``kill -9`` at a random moment of ``render -o``, repeatedly: the file is always the old
    or the new rendering, whole."""
    target = work / "haproxy.cfg"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    chooser = random.Random(9)
    # Kill around the moment a render writes: between 50% and 110% of a full run's duration.
    started = time.monotonic()
    timing = lbgen("render", str(work / "a.yaml"), "-t", "haproxy", "-o", str(target))
    assert timing.returncode == 0, timing.stderr
    full_run = time.monotonic() - started
    outcomes = {"killed": 0, "finished": 0, "old": 0, "new": 0, "torn": 0}
    for attempt in range(12):
        old, new = ("a", "b") if attempt % 2 == 0 else ("b", "a")
        target.write_bytes(rendered[old])
        proc = subprocess.Popen(
            [sys.executable, "-m", "lbgen", "render", str(work / f"{new}.yaml"),
             "-t", "haproxy", "-o", str(target)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(chooser.uniform(0.5, 1.1) * full_run)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            outcomes["killed"] += 1
        else:
            outcomes["finished"] += 1
        proc.wait(timeout=60)
        data = target.read_bytes()
        key = "old" if data == rendered[old] else "new" if data == rendered[new] else "torn"
        outcomes[key] += 1
    print(f"\nkill -9 during -o: {outcomes}")
    assert outcomes["torn"] == 0
