"""The shell entry points of the README (``scripts/test``, ``scripts/demo``), run for real.

What they install or start is not run here (apt, dockerd, images: ``.ci/run`` and the compose
integration test do that); here: their help works anywhere and touches nothing, and the README's
Quick start commands need nothing a fresh root shell lacks (sudo).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: What a script needs to print its help: a shell and the tools of its first lines.
HELP_TOOLS = ("bash", "env", "dirname", "cat")
#: What printing help must never run: package managers, sudo, the venv, linters, Docker.
SPIED = ("apt-get", "apt", "dpkg-query", "sudo", "python3", "id", "docker", "dockerd", "ruff")


def sandbox_path(tmp_path: Path) -> tuple[str, Path]:
    """A PATH of the help tools plus spies that log any call into the returned file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for tool in HELP_TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run the scripts"
        (bin_dir / tool).symlink_to(found)
    for tool in SPIED:
        spy = bin_dir / tool
        spy.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\nexit 99\n')
        spy.chmod(0o755)
    return str(bin_dir), log


@pytest.mark.parametrize(
    ("script", "flag"),
    [("test", "--help"), ("test", "-h"), ("demo", "--help"), ("demo", "-h")],
)
def test_script_help_prints_usage_and_runs_nothing(script: str, flag: str, tmp_path: Path) -> None:
    """``scripts/X --help``: usage on stdout, exit 0, and not one call to apt, sudo, python."""
    path, log = sandbox_path(tmp_path)
    result = subprocess.run(
        [str(REPO / "scripts" / script), flag],
        env={"PATH": path, "HOME": str(tmp_path)}, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"usage: scripts/{script}"), result.stdout
    assert result.stderr == ""
    assert not log.exists(), f"--help ran: {log.read_text()}"


def test_script_help_wins_over_other_arguments(tmp_path: Path) -> None:
    """``scripts/test -k golden --help`` is help too (pytest never sees it)."""
    path, log = sandbox_path(tmp_path)
    result = subprocess.run(
        [str(REPO / "scripts" / "test"), "-k", "golden", "--help"],
        env={"PATH": path, "HOME": str(tmp_path)}, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and "usage: scripts/test" in result.stdout
    assert not log.exists()


def quick_start_commands() -> list[str]:
    """The commands of the README's Quick start code block, comments stripped."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the Quick start has a sh block"
    commands = [line.split("#", 1)[0].strip() for line in block[1].splitlines()]
    return [command for command in commands if command]


def test_quick_start_commands_need_no_sudo() -> None:
    """Each Quick start command is one of our scripts, run as written: as root on a machine
    without sudo (containers, CI) a ``sudo`` prefix fails with "command not found"; the scripts
    call sudo themselves, and only when not root."""
    commands = quick_start_commands()
    assert len(commands) == 2, commands
    for command in commands:
        program = command.split()[0]
        assert program.startswith("scripts/"), command
        assert os.access(REPO / program, os.X_OK), command
    for script in ("test", "venv", "demo"):
        text = (REPO / "scripts" / script).read_text(encoding="utf-8")
        # sudo only through sudo_cmd, which is empty for root: no command starts with sudo.
        assert not re.findall(r"^\s*(?:\S+=\S+\s+)*sudo\s", text, re.MULTILINE), script


def fake_debian(tmp_path: Path, *, uid: int, installed: tuple[str, ...]) -> tuple[str, Path]:
    """A PATH where ``id -u`` says ``uid``, dpkg knows only ``installed``, and apt-get, sudo, tee,
    chmod and rm log their arguments instead of changing this machine (sudo runs nothing, so an
    ``apt-get`` line in the log is one that ran without sudo)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for tool in ("bash", "env", "dirname", "basename", "grep", "printf"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    scripts = {
        "id": f'[ "$1" = -u ] && echo {uid}',
        "dpkg-query": 'for p in "$@"; do :; done\ncase " '
        + " ".join(installed)
        + ' " in *" $p "*) echo "install ok installed";; *) exit 1;; esac',
    }
    for tool in ("apt-get", "sudo", "tee", "chmod", "rm"):
        # Each reads its input, as the real ones do (printf | tee must not die of SIGPIPE).
        scripts[tool] = f'echo "{tool} $*" >> "{log}"\nwhile read -r _; do :; done'
    for tool, body in scripts.items():
        (bin_dir / tool).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / tool).chmod(0o755)
    return str(bin_dir), log


def ensure_packages(path: str, *packages: str) -> subprocess.CompletedProcess[str]:
    """``scripts/ensure-packages PACKAGES`` with ``path`` as PATH."""
    return subprocess.run(
        [str(REPO / "scripts" / "ensure-packages"), *packages],
        env={"PATH": path}, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


def test_packages_as_root_without_sudo_use_apt_directly(tmp_path: Path) -> None:
    """Root on a machine without sudo (a container): apt-get runs itself, sudo never."""
    path, log = fake_debian(tmp_path, uid=0, installed=("haproxy",))
    (Path(path) / "sudo").unlink()  # no sudo on this machine
    result = ensure_packages(path, "haproxy", "nginx", "debootstrap")
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert "apt-get update -qq" in calls
    installs = [call for call in calls if call.startswith("apt-get install")]
    # Only what dpkg does not know is installed.
    assert installs == ["apt-get install -y -qq --no-install-recommends nginx debootstrap"]
    assert not any(call.startswith("sudo") for call in calls)


def test_packages_as_a_user_go_through_sudo(tmp_path: Path) -> None:
    """A user: every apt-get goes through sudo, with the noninteractive frontend inside it."""
    path, log = fake_debian(tmp_path, uid=1000, installed=())
    result = ensure_packages(path, "nginx")
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert "sudo apt-get update -qq" in calls
    assert (
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        "nginx" in calls
    )
    assert not any(call.startswith(("apt-get", "tee")) for call in calls), calls


def test_packages_all_installed_touch_nothing(tmp_path: Path) -> None:
    path, log = fake_debian(tmp_path, uid=1000, installed=("haproxy", "nginx"))
    result = ensure_packages(path, "haproxy", "nginx")
    assert result.returncode == 0, result.stderr
    assert not log.exists()
