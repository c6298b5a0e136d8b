"""Get a Docker engine for the integration tests: use a running one, or start one and stop it later.

A dockerd is started only when none answers, only as root, and only with ``--bridge=none
--iptables=false``: the tests use host networking, so the daemon needs no network of its own and
must not touch the machine's firewall. The daemon we start is stopped by its PID, never by name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_DIR = Path(os.environ.get("LBGEN_CACHE_DIR", Path.home() / ".cache" / "lbgen"))
START_TIMEOUT_SECONDS = 45.0


class DockerUnavailable(Exception):
    """No Docker engine answers and none can be started here (the message says why)."""


@dataclass
class DockerEngine:
    """A reachable Docker engine; ``started_pid`` is set when this module started the daemon."""

    client: Any
    started_pid: int | None = None
    storage_driver: str = ""

    def stop(self) -> None:
        """Stop the dockerd this module started (by PID); leave any other daemon alone."""
        with contextlib.suppress(Exception):
            self.client.close()
        if self.started_pid is None:
            return
        _stop_pid(self.started_pid)
        self.started_pid = None


def _client_or_none() -> Any:
    """A docker SDK client whose ping works, or None."""
    try:
        import docker
    except ImportError as exc:
        raise DockerUnavailable(f"the docker Python SDK is not installed ({exc})") from exc
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception:
        return None
    return client


def _stop_pid(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM one process, wait for it, SIGKILL it if it lingers."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child: poll its existence instead
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            done = 0
        if done:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _start_dockerd(
    storage_driver: str, log_path: Path, *, detach: bool = False
) -> tuple[subprocess.Popen[bytes], Any]:
    """Start one dockerd with ``storage_driver``; return it and a client once it answers.

    ``detach`` puts it in a session of its own, so it outlives the terminal that started it
    (``scripts/demo up`` returns while the daemon keeps running)."""
    dockerd = shutil.which("dockerd", path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin")
    if dockerd is None:
        raise DockerUnavailable("no Docker engine answers and dockerd is not installed")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        dockerd,
        "--bridge=none",
        "--iptables=false",
        f"--storage-driver={storage_driver}",
    ]
    with log_path.open("ab") as log:
        log.write(f"\n--- lbgen: {' '.join(command)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        client = _client_or_none()
        if client is not None:
            return proc, client
        time.sleep(0.5)
    if proc.poll() is None:
        _stop_pid(proc.pid)
    raise DockerUnavailable(
        f"dockerd --storage-driver={storage_driver} did not come up (see {log_path})"
    )


def get_docker_engine(*, detach: bool = False) -> DockerEngine:
    """A running Docker engine: the one already answering, else one started here (root only;
    ``detach``: in a session of its own, to outlive this process)."""
    client = _client_or_none()
    if client is not None:
        return DockerEngine(client=client, storage_driver=client.info().get("Driver", ""))
    if os.geteuid() != 0:
        raise DockerUnavailable("no Docker engine answers and only root may start dockerd here")
    if Path("/var/run/docker.pid").exists():
        # A daemon that is starting or wedged owns the default socket: do not fight it.
        pid_text = Path("/var/run/docker.pid").read_text().strip()
        if pid_text.isdigit() and Path(f"/proc/{pid_text}").exists():
            raise DockerUnavailable(
                f"a dockerd (pid {pid_text}) runs but does not answer; not starting another"
            )
    log_path = CACHE_DIR / "dockerd.log"
    errors: list[str] = []
    for driver in ("overlay2", "vfs"):  # overlay2 is fast; vfs works on any filesystem
        try:
            proc, client = _start_dockerd(driver, log_path, detach=detach)
        except DockerUnavailable as exc:
            errors.append(str(exc))
            continue
        return DockerEngine(client=client, started_pid=proc.pid, storage_driver=driver)
    raise DockerUnavailable("; ".join(errors))
