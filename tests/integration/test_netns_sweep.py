"""Labs left behind by a killed test run are swept by the next lab; live labs never are.

A lab's tag names its creator (PID, start time, PID namespace: tests/integration/netns.py
``Creator``). The name tests need no privileges; the lab tests are root only (network
namespaces), like tests/test_netns_lab.py. Each lab test holds a lab in a child process of its
own, and cleans up exactly what that child made, by name and by PID, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.netns import (
    PREFIX,
    RUN_DIR,
    Creator,
    Lab,
    abandoned,
    lab_creator,
    lab_namespaces,
)
from tests.support import ROOT, alive

pytestmark = pytest.mark.integration
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="network namespaces need root (the CI is root)"
)

#: A child that builds a lab (as a Tier would: a folder in /run, a process in a node), reports
#: it as one JSON line and holds it until its stdin closes or SIGTERM; then it cleans up.
HOLDER = """
import json, shutil, signal, sys, time
from pathlib import Path
from tests.integration.netns import PREFIX, RUN_DIR, Lab

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with Lab(["a"]) as lab:
    folder = RUN_DIR / f"{PREFIX}{lab.tag}"
    folder.mkdir(mode=0o700)
    try:
        (folder / "a.log").write_text("a file of the lab's\\n")
        sleeper = lab.popen("a", ["sleep", "600"])
        # Popen returns once `ip netns exec` runs: the sleeper is inside once it is sleep.
        deadline = time.monotonic() + 30
        while Path(f"/proc/{sleeper.pid}/comm").read_text() != "sleep\\n":
            if time.monotonic() > deadline:
                raise SystemExit("the sleeper did not start")
            time.sleep(0.01)
        print(json.dumps({"tag": lab.tag, "netns": [lab.switch, lab.netns("a")],
                          "folder": str(folder), "sleeper": sleeper.pid}), flush=True)
        sys.stdin.readline()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
"""


@dataclass
class Held:
    """A lab held by a child process, as the child reported it."""

    process: subprocess.Popen[str]
    tag: str
    netns: list[str]
    folder: Path
    sleeper: Creator
    """The ``sleep 600`` inside node ``a``: started by the child, hence by this test."""


@pytest.fixture
def dead_creator() -> Creator:
    """A process of this test's that has exited and been reaped."""
    process = subprocess.Popen(["sleep", "600"])
    try:
        creator = Creator.of(process.pid)
    finally:
        process.kill()
        process.wait(10)
    return creator


def _report(process: subprocess.Popen[str], timeout: float = 60.0) -> dict[str, object]:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if readable else ""
    if not line:
        raise AssertionError(f"the lab holder reported nothing within {timeout}s")
    report: dict[str, object] = json.loads(line)
    return report


def _stop(process: subprocess.Popen[str]) -> None:
    """End the holder: EOF on stdin (it cleans up), then SIGTERM (so does it), then SIGKILL."""
    with contextlib.suppress(OSError, ValueError):
        if process.stdin is not None:
            process.stdin.close()
    for signum in (None, signal.SIGTERM, signal.SIGKILL):
        if signum is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(30)
            break
    if process.stdout is not None:
        process.stdout.close()


def _remove_leftovers(held: Held) -> None:
    """Whatever of the held lab is still there: its sleeper (if that PID is still it), its
    namespaces and its folder, each by its own name."""
    with contextlib.suppress(ProcessLookupError):
        if Creator.of(held.sleeper.pid) == held.sleeper:  # still that process, not a reused PID
            os.kill(held.sleeper.pid, signal.SIGKILL)
    left = set(lab_namespaces())
    for netns in reversed(held.netns):
        if netns in left:
            subprocess.run(["ip", "netns", "delete", netns], check=False, timeout=30)
    if held.folder.name.startswith(PREFIX) and held.folder.is_dir():
        shutil.rmtree(held.folder, ignore_errors=True)


@contextlib.contextmanager
def lab_in_child() -> Iterator[Held]:
    """A lab built and held by a child process; everything of it is gone afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    held: Held | None = None
    try:
        report = _report(process)
        netns = report["netns"]
        sleeper = report["sleeper"]
        assert isinstance(netns, list) and isinstance(sleeper, int)
        held = Held(
            process,
            str(report["tag"]),
            [str(n) for n in netns],
            Path(str(report["folder"])),
            Creator.of(sleeper),
        )
        yield held
    finally:
        _stop(process)
        if held is not None:
            _remove_leftovers(held)


# --- names ---------------------------------------------------------------------------------


def test_a_labs_tag_names_the_process_that_made_it() -> None:
    """The default tag parses back to this process, from every namespace name of the lab."""
    lab = Lab(["lb1", "client"])  # not built: no namespace is made
    me = Creator.of(os.getpid())
    assert Creator.from_tag(lab.tag) == me
    assert lab_creator(lab.switch) == me
    assert lab_creator(f"{PREFIX}{lab.tag}-lb1") == me
    assert Lab(["a"]).tag != lab.tag  # two labs of one process


def test_a_live_creator_reads_as_alive() -> None:
    """This process, and a running child, are alive: their labs are not abandoned."""
    me = Creator.of(os.getpid())
    assert me.alive() is True
    assert not abandoned(f"{PREFIX}{me.tag()}-sw")
    child = subprocess.Popen(["sleep", "600"])
    try:
        creator = Creator.of(child.pid)
        assert creator.alive() is True
        assert not abandoned(f"{PREFIX}{creator.tag()}-a")
    finally:
        child.kill()
        child.wait(10)


def test_a_reused_pid_with_another_start_time_reads_as_dead() -> None:
    """The PID runs, but it is another process than the one that made the lab."""
    me = Creator.of(os.getpid())
    for start in (me.start + 1, me.start - 1):
        reused = Creator(me.pid, start, me.pidns)
        assert reused.alive() is False
        assert abandoned(f"{PREFIX}{reused.tag()}-sw")


def test_an_exited_creator_reads_as_dead_zombie_or_reaped() -> None:
    """Killed, a creator is dead already as a zombie (its cleanup can no longer run)."""
    child = subprocess.Popen(["sleep", "600"])
    try:
        creator = Creator.of(child.pid)
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # a zombie, not reaped
        assert creator.alive() is False
    finally:
        child.kill()
        child.wait(10)
    assert creator.alive() is False
    assert abandoned(f"{PREFIX}{creator.tag()}-sw")


def test_a_creator_of_another_pid_namespace_cannot_be_told(dead_creator: Creator) -> None:
    """Its PID means nothing here: the lab is left alone, even though that PID is gone here."""
    other = Creator(dead_creator.pid, dead_creator.start, dead_creator.pidns ^ 1)
    assert other.alive() is None
    assert not abandoned(f"{PREFIX}{other.tag()}-sw")


@pytest.mark.parametrize(
    "name",
    [
        "lbgen-9106bb-sw",  # an older lab's
        "lbgen-9106bb-lb1",
        "lbgen-vip-4242",  # tests.support.node_namespace
        "lbgen-",
        "lbgen-sw",
        "{tag}",  # no role
        "{tag}-",
        "{tag}-toolongrole",
        "{tag}-a_b",
        "{tag}-sw\n",
        "{tag}x-sw",
        "lbgen-0.1a.effffffc.abcdef-sw",  # PID 0
        "lbgen-42.1A.effffffc.abcdef-sw",  # upper case
        "lbgen-42.1a.effffffc.abcde-sw",  # 5 random digits
        "lbgen-42.1a.effffffc.abcdef.0-sw",
        "lbgen-42.1a.abcdef-sw",
        "other-{bare}-sw",
        "LBGEN-{bare}-sw",
    ],
)
def test_names_in_any_other_format_are_left_alone(name: str, dead_creator: Creator) -> None:
    """Only the current format is read; anything else is not guessed at (even with a dead PID)."""
    tag = dead_creator.tag()
    name = name.format(tag=f"{PREFIX}{tag}", bare=tag)
    assert abandoned(f"{PREFIX}{tag}-sw")  # the same creator, named properly
    assert lab_creator(name) is None
    assert not abandoned(name)


# --- labs ----------------------------------------------------------------------------------


@needs_root
def test_a_lab_whose_creator_was_killed_is_swept_by_the_next_lab() -> None:
    """SIGKILL the holder: its namespaces, process and folder stay; the next lab removes them."""
    with lab_in_child() as held:
        os.kill(held.process.pid, signal.SIGKILL)
        held.process.wait(10)
        # No cleanup ran: everything is still there.
        assert set(held.netns) <= set(lab_namespaces())
        assert held.sleeper.alive()
        assert (held.folder / "a.log").is_file()
        assert all(abandoned(netns) for netns in held.netns)
        with Lab(["b"]) as lab:
            left = set(lab_namespaces())
            assert lab.switch in left
            assert not set(held.netns) & left, f"not swept: {set(held.netns) & left}"
        assert not alive(held.sleeper.pid), "the process inside the dead lab still runs"
        assert not held.folder.exists()


@needs_root
def test_a_lab_whose_creator_runs_is_not_swept() -> None:
    """A lab held by a live process survives another lab's build; its holder cleans it up."""
    with lab_in_child() as held:
        with Lab(["b"]):
            assert set(held.netns) <= set(lab_namespaces())
            assert held.sleeper.alive()
            assert (held.folder / "a.log").is_file()
        assert not any(abandoned(netns) for netns in held.netns)
        assert held.process.stdin is not None
        held.process.stdin.close()  # the holder leaves its lab the normal way
        assert held.process.wait(60) == 0
        assert not set(held.netns) & set(lab_namespaces())
        assert not alive(held.sleeper.pid)
        assert not held.folder.exists()


@needs_root
def test_names_in_other_formats_survive_a_sweep(dead_creator: Creator) -> None:
    """An older lab's namespace and folder, and a lab of another PID namespace, are kept."""
    old = f"{PREFIX}{secrets.token_hex(3)}"
    foreign = Creator(dead_creator.pid, dead_creator.start, dead_creator.pidns ^ 1).tag()
    names = [f"{old}-sw", f"{PREFIX}{foreign}-sw"]
    folders = [RUN_DIR / old, RUN_DIR / f"{PREFIX}{foreign}"]
    made: list[str] = []
    made_folders: list[Path] = []
    try:
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
            made.append(name)
        for folder in folders:
            folder.mkdir(mode=0o700)
            made_folders.append(folder)
        with Lab(["b"]):
            assert set(names) <= set(lab_namespaces())
            assert all(folder.is_dir() for folder in folders)
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "delete", name], check=False, timeout=30)
        for folder in made_folders:
            if folder.is_dir():
                folder.rmdir()
