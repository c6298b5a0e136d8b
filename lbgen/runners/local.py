"""Let the real engines judge a config: ``haproxy -c`` and ``nginx -t``.

A :class:`Runner` knows how to run an engine's own check somewhere: :class:`LocalRunner` uses the
binaries on this machine; a Docker runner (same interface) runs them in an image. ``check_config``
picks one (``auto``: a local binary when there is one, else Docker) and returns a
:class:`CheckResult`; an engine that cannot be run at all raises :class:`EngineUnavailable`
(exit code 4 in the CLI), a config the engine rejects is ``CheckResult.ok == False`` (exit 3).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
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
    """What the engine said about a config.

    ``output`` is the engine's own output with the temporary paths replaced by the name of the
    checked file (``filename``), so that each message points at the user's file and line.
    ``load_module`` is set when a full nginx config was rejected because this nginx loads the
    stream module dynamically and the config does not load it: the path to render with
    (``--load-module``).
    """

    ok: bool
    engine: str
    runner: str
    output: str
    command: Sequence[str] = field(default_factory=tuple)
    load_module: str | None = None

    @property
    def hint(self) -> str:
        """What to do about a rejection lbgen recognises, or ''."""
        if self.load_module is None:
            return ""
        where = "here" if self.runner == "local" else f"in {self.runner.removeprefix('docker:')}"
        return (
            f"nginx {where} loads stream as a dynamic module: render with --load-module "
            f"{self.load_module}"
        )

    def verdict(self) -> str:
        """The engine's verdict and lbgen's hint, without repeating the engine's messages."""
        verdict = "accepted" if self.ok else "rejected"
        hint = f": {self.hint}" if self.hint else ""
        return f"{self.engine} ({self.runner}) {verdict} the config{hint}"

    def summary(self) -> str:
        """One line: the engine's verdict and its first complaint (or lbgen's hint)."""
        if self.ok or self.hint:
            return self.verdict()
        problem = first_problem(self.output)
        tail = f": {problem}" if problem else ""
        return f"{self.verdict()}{tail}"


def first_problem(output: str) -> str:
    """The first line of engine output that reads like an error or warning."""
    for line in output.splitlines():
        if re.search(r"\[(ALERT|WARNING)\]|\[emerg\]|\[alert\]|\[warn\]|error", line, re.I):
            return line.strip()
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[0] if lines else ""


def nginx_check_flags(strict: bool) -> list[str]:
    """``nginx -t`` flags: quiet unless ``strict``, which needs the warnings to judge them."""
    return ["-t"] if strict else ["-t", "-q"]


def accepted(engine: str, status: int, output: str, *, strict: bool) -> bool:
    """The engine's verdict: exit status 0, and under ``strict`` no nginx ``[warn]`` either.

    (HAProxy makes its warnings fatal itself with ``-dW``; nginx has no such switch.)
    """
    if status != 0:
        return False
    return not (strict and engine == "nginx" and "[warn]" in output)


class Runner(Protocol):
    """Runs an engine's own config check; implementations: local binaries, Docker images."""

    name: str

    def check(
        self,
        config: str | bytes,
        engine: str,
        *,
        strict: bool = False,
        filename: str | None = None,
    ) -> CheckResult:
        """Check ``config`` (its exact bytes; text is UTF-8) with ``engine``.

        ``strict``: engine warnings are failures. ``filename`` names the config in the
        engine's messages. Raise EngineUnavailable if the engine cannot run.
        """
        ...


# --- nginx layouts -----------------------------------------------------------------------------

_TOP_LEVEL_BLOCK = re.compile(r"^\s*(events|stream|http)\s*\{", re.M)
#: A config that loads the stream module itself needs no help (loading it twice is an error).
LOADS_STREAM_MODULE = re.compile(r"^\s*load_module\s+\S*ngx_stream_module\.so", re.M)


def nginx_layout_of(text: str) -> str:
    """Guess the layout of an nginx text: ``full``, ``stream`` or ``upstreams``."""
    blocks = set(_TOP_LEVEL_BLOCK.findall(text))
    if "events" in blocks:
        return "full"
    if "stream" in blocks:
        return "stream"
    return "upstreams"


def wrap_nginx(text: str, *, stream_module: str | None, workdir: str) -> str:
    """Turn any lbgen nginx layout into a complete nginx.conf that a *running* nginx can use.

    A ``stream`` or ``upstreams`` layout is wrapped into ``events {}`` + ``stream {}``; the
    stream module is loaded when the engine needs it and the text does not load it already
    (also for a full config: the integration tests and the demo run every layout). Checks do
    not use this: they judge the exact bytes, see :func:`check_files`.
    """
    layout = nginx_layout_of(text)
    head = []
    if stream_module and not LOADS_STREAM_MODULE.search(text):
        head.append(f"load_module {stream_module};")
    if layout == "full":
        body = text
    else:
        head.append(f"error_log {workdir}/error.log;")
        head.append("events {}")
        body = text if layout == "stream" else "stream {\n" + text + "\n}\n"
    return "\n".join(head) + ("\n" if head else "") + body


# --- what a check runs -------------------------------------------------------------------------
# The local and the Docker runner check the same way: the user's bytes go unchanged into
# CONFIG_NAME in a folder; haproxy and a full nginx config are checked as they are; a stream or
# upstreams file is *included* by a small wrapper (so the engine reports the user's own line
# numbers), and the folder's paths in the engine's messages are replaced by the user's file name.

#: The file holding the user's exact bytes.
CONFIG_NAME = "config"
#: The complete nginx.conf around a stream/upstreams file.
WRAPPER_NAME = "lbgen-wrapper.conf"
#: How a config without a file name is called in the engine's messages.
DEFAULT_FILENAME = "<config>"

_PID = re.compile(r"^\s*pid\s", re.M)


def _as_bytes(config: str | bytes) -> bytes:
    return config.encode("utf-8") if isinstance(config, str) else config


def _as_text(config: bytes) -> str:
    # Only for guessing the layout: every byte maps to one character, nothing is refused.
    return config.decode("latin-1")


def check_files(
    config: bytes, engine: str, folder: str, *, module_line: str | None
) -> dict[str, bytes]:
    """The files a check puts in ``folder``: the user's bytes, and the wrapper when needed.

    ``module_line`` (e.g. ``load_module PATH;``) heads the wrapper of a stream/upstreams file
    that does not load the stream module itself; a full config is never changed.
    """
    files = {CONFIG_NAME: config}
    text = _as_text(config)
    if engine == "nginx" and nginx_layout_of(text) != "full":
        user = f"{folder}/{CONFIG_NAME}"
        lines = []
        if module_line and not LOADS_STREAM_MODULE.search(text):
            lines.append(module_line)
        lines.append(f"error_log {folder}/error.log;")
        # A stream file may load its module itself: that has to come before events {}.
        if nginx_layout_of(text) == "stream":
            lines.append(f"include {user};")
        else:
            lines.append(f"stream {{ include {user}; }}")
        lines.append("events {}")
        files[WRAPPER_NAME] = ("\n".join(lines) + "\n").encode("utf-8")
    return files


def check_arguments(
    engine: str, config: bytes, folder: str, *, strict: bool, files: dict[str, bytes]
) -> list[str]:
    """The engine's arguments for checking the ``files`` of :func:`check_files` in ``folder``."""
    main = f"{folder}/{WRAPPER_NAME if WRAPPER_NAME in files else CONFIG_NAME}"
    if engine == "haproxy":
        return ["-c", *(["-dW"] if strict else []), "-f", main]
    args = [*nginx_check_flags(strict), "-p", f"{folder}/", "-c", main]
    if not _PID.search(_as_text(config)):
        args += ["-g", f"pid {folder}/nginx.pid;"]
    return args


_DAEMON = re.compile(r"^\s*daemon\s", re.M)


def run_arguments(engine: str, config_text: str, folder: str, config: str) -> list[str]:
    """The engine's arguments for running ``config`` (in ``folder``) in the foreground.

    The one command line of a running engine, for the local and the Docker runner alike:
    haproxy ``-W -db -f CFG`` (master-worker, so SIGUSR2 reloads; ``-db`` stays in the
    foreground), nginx ``-p DIR/ -c CFG -g 'pid DIR/nginx.pid; daemon off;'`` (SIGHUP reloads),
    each ``-g`` setting only when the config does not set it itself.
    """
    if engine == "haproxy":
        return ["-W", "-db", "-f", config]
    extra = []
    if not _PID.search(config_text):
        extra.append(f"pid {folder}/nginx.pid;")
    if not _DAEMON.search(config_text):
        extra.append("daemon off;")
    args = ["-p", f"{folder}/", "-c", config]
    if extra:
        args += ["-g", " ".join(extra)]
    return args


def map_output(output: str, folder: str, filename: str) -> str:
    """The engine's output with the check folder's files named as the user knows them."""
    wrapper = f"{folder}/{WRAPPER_NAME}"
    output = output.replace(f"{folder}/{CONFIG_NAME}", filename)
    # nginx ends with "configuration file WRAPPER test failed": that verdict is about the file.
    output = output.replace(f"configuration file {wrapper} ", f"configuration file {filename} ")
    return output.replace(wrapper, f"lbgen's wrapper of {filename}")


def needs_stream_module(engine: str, config: bytes, output: str) -> bool:
    """True when a full nginx config was rejected for want of the stream module."""
    return (
        engine == "nginx"
        and 'unknown directive "stream"' in output
        and nginx_layout_of(_as_text(config)) == "full"
        and not LOADS_STREAM_MODULE.search(_as_text(config))
    )


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


def local_stream_module(nginx: str | None = None) -> str | None:
    """The ``load_module`` path a full config needs on this machine's nginx (``nginx``, else the
    one on PATH), or None (no nginx, or stream built in)."""
    nginx = nginx or LocalRunner.binary("nginx")
    if nginx and _nginx_needs_stream_module(nginx) and Path(DEBIAN_STREAM_MODULE).exists():
        return DEBIAN_STREAM_MODULE
    return None


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
        return self._stream_module or local_stream_module(nginx)

    def check(
        self,
        config: str | bytes,
        engine: str,
        *,
        strict: bool = False,
        filename: str | None = None,
    ) -> CheckResult:
        """Write the config's exact bytes to a temp folder and run the engine's check on it."""
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}")
        binary = self.binary(engine)
        if binary is None:
            raise EngineUnavailable(
                f"{engine} is not installed here (no '{engine}' binary on PATH); "
                f"install it or use --runner docker"
            )
        data = _as_bytes(config)
        module = self._stream_module_for(binary) if engine == "nginx" else None
        with tempfile.TemporaryDirectory(prefix="lbgen-check-") as workdir:
            line = f"load_module {module};" if module else None
            files = check_files(data, engine, workdir, module_line=line)
            for name, content in files.items():
                (Path(workdir) / name).write_bytes(content)
            command = [binary, *check_arguments(engine, data, workdir, strict=strict, files=files)]
            result = run_check_command(
                [*self._command_prefix, *command], engine=engine, runner=self.name, strict=strict
            )
            output = map_output(result.output, workdir, filename or DEFAULT_FILENAME)
        missing = module if needs_stream_module(engine, data, output) else None
        return replace(result, output=output, load_module=missing)


def run_check_command(
    command: list[str], *, engine: str, runner: str, strict: bool = False
) -> CheckResult:
    """Run an engine's check command and judge it with :func:`accepted`."""
    try:
        proc = subprocess.run(command, capture_output=True, timeout=CHECK_TIMEOUT_SECONDS)
    except FileNotFoundError as exc:
        raise EngineUnavailable(f"cannot run {command[0]}: {exc.strerror}") from exc
    except subprocess.TimeoutExpired as exc:
        raise EngineUnavailable(f"{engine} check did not finish in {exc.timeout}s") from exc
    # The engines may quote the config's own bytes, which need not be UTF-8.
    output = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()
    return CheckResult(
        ok=accepted(engine, proc.returncode, output, strict=strict),
        engine=engine, runner=runner, output=output, command=command,
    )  # fmt: skip


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
    config: str | bytes,
    engine: str,
    *,
    runner: str = "auto",
    image: str | None = None,
    strict: bool = False,
    filename: str | None = None,
) -> CheckResult:
    """Let ``engine`` check ``config`` (its exact bytes; text is UTF-8) with the chosen runner.

    ``strict``: engine warnings are failures (``haproxy -dW``, nginx ``[warn]``). ``filename``
    names the config in the engine's messages (default ``<config>``).
    """
    return get_runner(runner, engine, image=image).check(
        config, engine, strict=strict, filename=filename
    )


# --- running an engine -------------------------------------------------------------------------
# Integration tests and demos need the engine *running* with a config, not only checking it.
# A RunningEngine starts it in the foreground, waits until it listens, shows its logs, reloads
# it with a new config and stops it; implementations: LocalEngine (processes on this machine)
# and lbgen.docker_runner.DockerEngine (a container). Each stops only what it started.


class RunningEngine(Protocol):
    """An engine running with a config; also a context manager that stops it."""

    engine: str

    def start(self) -> None:
        """Start the engine; EngineUnavailable when it cannot run here."""
        ...

    def wait_listening(self, host: str, port: int, timeout: float = 15.0) -> None:
        """Block until ``host:port`` accepts connections; RuntimeError (with logs) if not."""
        ...

    def logs(self) -> str:
        """Everything the engine has printed so far."""
        ...

    def reload(self, config_text: str, timeout: float = 15.0) -> None:
        """Load a new config without stopping; RuntimeError if the engine does not take it."""
        ...

    def stop(self) -> None:
        """Stop the engine and clean up (idempotent)."""
        ...

    def __enter__(self) -> RunningEngine: ...

    def __exit__(self, *exc_info: object) -> None: ...


def wait_until_listening(
    host: str,
    port: int,
    timeout: float,
    *,
    alive: Callable[[], bool],
    logs: Callable[[], str],
) -> None:
    """Poll ``host:port`` with TCP connects until one succeeds, the engine dies, or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            pass
        if not alive():
            raise RuntimeError(f"engine exited before listening on {host}:{port}:\n{logs()}")
        if time.monotonic() >= deadline:
            raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s:\n{logs()}")
        time.sleep(0.05)


def _child_pids(pid: int) -> set[int]:
    """PIDs whose parent is ``pid`` (Linux /proc)."""
    children: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields and int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


class LocalEngine:
    """An engine binary on this machine, running in the foreground in its own temp folder.

    haproxy runs as ``haproxy -W -db -f CFG`` (master-worker, so SIGUSR2 reloads), nginx as
    ``nginx -p DIR -c CFG -g 'daemon off; pid DIR/nginx.pid;'`` (SIGHUP reloads), with a
    ``stream``/``upstreams`` layout wrapped into a full config like the local check does.
    """

    def __init__(self, config_text: str, engine: str, *, stream_module: str | None = None) -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}")
        self.engine = engine
        self.config_text = config_text
        self._stream_module = stream_module
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """PID of the engine's master process while it runs."""
        return self._proc.pid if self._proc is not None else None

    def _config_path(self) -> Path:
        assert self._workdir is not None
        return Path(self._workdir.name) / f"{self.engine}.conf"

    def _write_config(self, text: str, binary: str) -> None:
        workdir = Path(self._config_path().parent)
        if self.engine == "nginx":
            module = LocalRunner(stream_module=self._stream_module)._stream_module_for(binary)
            text = wrap_nginx(text, stream_module=module, workdir=str(workdir))
        partial = workdir / "config.partial"
        partial.write_text(text, encoding="utf-8")
        partial.replace(self._config_path())  # the master re-reads the file on reload

    def start(self) -> None:
        """Start the engine in the background; its output goes to a log file."""
        if self._proc is not None:
            raise RuntimeError("engine already started")
        binary = LocalRunner.binary(self.engine)
        if binary is None:
            raise EngineUnavailable(f"{self.engine} is not installed here (no binary on PATH)")
        self._workdir = tempfile.TemporaryDirectory(prefix=f"lbgen-run-{self.engine}-")
        workdir = self._workdir.name
        self._write_config(self.config_text, binary)
        config = str(self._config_path())
        command = [binary, *run_arguments(self.engine, self.config_text, workdir, config)]
        with open(Path(workdir) / "engine.log", "wb") as log:
            # A session of its own: Ctrl-C in the terminal must not reach the engine first, and
            # stop() can end the whole group it created if the master leaves workers behind.
            self._proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip

    def running(self) -> bool:
        """True while the master process runs."""
        return self._proc is not None and self._proc.poll() is None

    def wait_listening(self, host: str, port: int, timeout: float = 15.0) -> None:
        """Block until ``host:port`` accepts a TCP connection; RuntimeError with logs if not."""
        wait_until_listening(host, port, timeout, alive=self.running, logs=self.logs)

    def logs(self) -> str:
        """The engine's output and, for nginx, its error log."""
        if self._workdir is None:
            return ""
        text = ""
        for name in ("engine.log", "error.log"):
            path = Path(self._workdir.name) / name
            if path.exists():
                text += path.read_text(encoding="utf-8", errors="replace")
        return text

    def reload(self, config_text: str, timeout: float = 15.0) -> None:
        """Write the new config, signal the master, wait until a new worker runs."""
        if self._proc is None or not self.running():
            raise RuntimeError("engine not running")
        binary = LocalRunner.binary(self.engine) or self.engine
        before = _child_pids(self._proc.pid)
        self._write_config(config_text, binary)
        self.config_text = config_text
        self._proc.send_signal(signal.SIGUSR2 if self.engine == "haproxy" else signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _child_pids(self._proc.pid) - before:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.engine} did not load the new config:\n{self.logs()[-2000:]}")

    def stop(self) -> None:
        """Stop the master (SIGTERM, then SIGKILL to its group) and remove the temp folder."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # the group this object created
                proc.wait(timeout=10)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> LocalEngine:
        if self._proc is None:  # start_engine() hands out started engines; both uses are fine
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_engine(
    config_text: str, engine: str, *, runner: str = "local", image: str | None = None
) -> RunningEngine:
    """A started engine running ``config_text``, locally or in Docker (``runner``)."""
    running: RunningEngine
    if runner == "local":
        running = LocalEngine(config_text, engine)
    elif runner == "docker":
        from lbgen.docker_runner import DockerEngine

        running = DockerEngine(config_text, engine, image=image)
    else:
        raise ValueError(f"unknown runner {runner!r}; choose local or docker")
    running.start()
    return running
