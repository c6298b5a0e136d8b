"""Let the real engines judge a config: ``haproxy -c`` and ``nginx -t``.

A :class:`Runner` knows how to run an engine's own check somewhere: :class:`LocalRunner` uses the
binaries on this machine; a Docker runner (same interface) runs them in an image. ``check_config``
picks one (``auto``: a local binary when there is one, else Docker) and returns a
:class:`CheckResult`; an engine that cannot be run at all raises :class:`EngineUnavailable`
(exit code 4 in the CLI), a config the engine rejects is ``CheckResult.ok == False`` (exit 3).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

ENGINES = ("haproxy", "nginx")

#: Where Debian's libnginx-mod-stream puts the dynamic stream module.
DEBIAN_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"

CHECK_TIMEOUT_SECONDS = 60


class EngineUnavailable(Exception):
    """The engine cannot be run here: no binary, no Docker, no image."""


@dataclass(frozen=True)
class CheckResult:
    """What the engine said about a config."""

    ok: bool
    engine: str
    runner: str
    output: str
    command: Sequence[str] = field(default_factory=tuple)

    def summary(self) -> str:
        """One line for the CLI: the engine's verdict and its first complaint."""
        verdict = "accepted" if self.ok else "rejected"
        problem = first_problem(self.output) if not self.ok else ""
        tail = f": {problem}" if problem else ""
        return f"{self.engine} ({self.runner}) {verdict} the config{tail}"


def first_problem(output: str) -> str:
    """The first line of engine output that reads like an error or warning."""
    for line in output.splitlines():
        if re.search(r"\[(ALERT|WARNING)\]|\[emerg\]|\[alert\]|\[warn\]|error", line, re.I):
            return line.strip()
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[0] if lines else ""


class Runner(Protocol):
    """Runs an engine's own config check; implementations: local binaries, Docker images."""

    name: str

    def check(self, config_text: str, engine: str, *, strict: bool = False) -> CheckResult:
        """Check ``config_text`` with ``engine``; raise EngineUnavailable if it cannot run."""
        ...


# --- nginx layouts -----------------------------------------------------------------------------

_TOP_LEVEL_BLOCK = re.compile(r"^\s*(events|stream|http)\s*\{", re.M)
_LOAD_STREAM = re.compile(r"^\s*load_module\s+\S*ngx_stream_module\.so", re.M)


def nginx_layout_of(text: str) -> str:
    """Guess the layout of an nginx text: ``full``, ``stream`` or ``upstreams``."""
    blocks = set(_TOP_LEVEL_BLOCK.findall(text))
    if "events" in blocks:
        return "full"
    if "stream" in blocks:
        return "stream"
    return "upstreams"


def wrap_nginx(text: str, *, stream_module: str | None, workdir: str) -> str:
    """Turn any lbgen nginx layout into a complete nginx.conf that ``nginx -t`` can read.

    A ``stream`` or ``upstreams`` layout is wrapped into ``events {}`` + ``stream {}``; the
    stream module is loaded when the engine needs it and the text does not load it already.
    """
    layout = nginx_layout_of(text)
    head = []
    if stream_module and not _LOAD_STREAM.search(text):
        head.append(f"load_module {stream_module};")
    if layout == "full":
        body = text
    else:
        head.append(f"error_log {workdir}/error.log;")
        head.append("events {}")
        if layout == "stream":
            body = text
        else:
            body = "stream {\n" + text + "\n}\n"
    return "\n".join(head) + ("\n" if head else "") + body


# --- local runner ------------------------------------------------------------------------------


def _nginx_needs_stream_module(nginx: str) -> bool:
    """True when this nginx was built with the stream module as a dynamic module (Debian)."""
    try:
        out = subprocess.run(
            [nginx, "-V"], capture_output=True, text=True, timeout=CHECK_TIMEOUT_SECONDS
        )
    except OSError:
        return False
    info = out.stdout + out.stderr
    return "--with-stream=dynamic" in info or "--with-stream" not in info


class LocalRunner:
    """Runs the engine binaries found on PATH (or /usr/sbin)."""

    name = "local"

    def __init__(
        self, *, stream_module: str | None = None, command_prefix: Sequence[str] = ()
    ) -> None:
        # command_prefix runs the engine under a wrapper, e.g. ``unshare`` with a private
        # /etc/hosts so that a config naming DNS servers can be checked on a machine without them.
        self._stream_module = stream_module
        self._command_prefix = list(command_prefix)

    @staticmethod
    def binary(engine: str) -> str | None:
        """Path of the engine's binary, or None."""
        search = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/usr/local/sbin:/sbin"
        return shutil.which(engine, path=search)

    def available(self, engine: str) -> bool:
        """True when the engine's binary is installed."""
        return self.binary(engine) is not None

    def _stream_module_for(self, nginx: str) -> str | None:
        if self._stream_module:
            return self._stream_module
        if _nginx_needs_stream_module(nginx) and Path(DEBIAN_STREAM_MODULE).exists():
            return DEBIAN_STREAM_MODULE
        return None

    def check(self, config_text: str, engine: str, *, strict: bool = False) -> CheckResult:
        """Write the config to a temp folder and run the engine's check on it."""
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}")
        binary = self.binary(engine)
        if binary is None:
            raise EngineUnavailable(
                f"{engine} is not installed here (no '{engine}' binary on PATH); "
                f"install it or use --runner docker"
            )
        with tempfile.TemporaryDirectory(prefix="lbgen-check-") as workdir:
            config = Path(workdir) / f"{engine}.conf"
            if engine == "haproxy":
                config.write_text(config_text, encoding="utf-8")
                command = [binary, "-c", "-f", str(config)]
                if strict:
                    command.insert(2, "-dW")
            else:
                wrapped = wrap_nginx(
                    config_text, stream_module=self._stream_module_for(binary), workdir=workdir
                )
                config.write_text(wrapped, encoding="utf-8")
                command = [
                    binary, "-t", "-q", "-p", workdir, "-c", str(config),
                    "-g", f"pid {workdir}/nginx.pid;",
                ]  # fmt: skip
            return run_check_command(
                [*self._command_prefix, *command], engine=engine, runner=self.name
            )


def run_check_command(command: list[str], *, engine: str, runner: str) -> CheckResult:
    """Run an engine's check command; exit status 0 means accepted."""
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=CHECK_TIMEOUT_SECONDS
        )
    except FileNotFoundError as exc:
        raise EngineUnavailable(f"cannot run {command[0]}: {exc.strerror}") from exc
    except subprocess.TimeoutExpired as exc:
        raise EngineUnavailable(f"{engine} check did not finish in {exc.timeout}s") from exc
    output = (proc.stdout + proc.stderr).strip()
    return CheckResult(
        ok=proc.returncode == 0, engine=engine, runner=runner, output=output, command=command
    )


# --- choosing a runner -------------------------------------------------------------------------

RUNNER_NAMES = ("auto", "local", "docker")


def get_runner(name: str, engine: str, *, image: str | None = None) -> Runner:
    """The runner called ``name``; ``auto`` prefers a local binary and falls back to Docker."""
    if name not in RUNNER_NAMES:
        raise ValueError(f"unknown runner {name!r}; choose one of {', '.join(RUNNER_NAMES)}")
    if name == "local" or (name == "auto" and image is None and LocalRunner().available(engine)):
        return LocalRunner()
    try:
        from lbgen.docker_runner import DockerRunner
    except ImportError as exc:  # the Docker runner is optional: pip install lbgen[docker]
        raise EngineUnavailable(
            f"no local {engine} binary and the Docker runner is not installed ({exc})"
        ) from exc
    return DockerRunner(image=image)


def check_config(
    text: str, engine: str, *, runner: str = "auto", image: str | None = None, strict: bool = False
) -> CheckResult:
    """Let ``engine`` check ``text`` with the chosen runner."""
    return get_runner(runner, engine, image=image).check(text, engine, strict=strict)
