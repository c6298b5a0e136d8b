"""Let the engines on this machine judge a config, and run them: ``haproxy -c``, ``nginx -t``.

:class:`LocalRunner` runs the engine's own check with the binaries found on PATH (or /usr/sbin);
:class:`LocalEngine` runs an engine in the foreground with a config (integration tests,
benchmarks, the demo). The command lines come from the engine's ``command`` module, the same
ones the Docker runner uses (:mod:`lbgen.runners.base`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from lbgen.nginx import command as nginx_command
from lbgen.runners.base import (
    CHECK_TIMEOUT_SECONDS,
    KILLED_BY_SIGTERM,
    CheckResult,
    EngineUnavailable,
    accepted,
    as_bytes,
    check_arguments,
    check_files,
    checks_in_place,
    command_line,
    display_name,
    fallback_files,
    in_place_arguments,
    in_place_path,
    map_in_place_output,
    map_output,
    needs_stream_module,
    wait_until_listening,
)

# --- checking ------------------------------------------------------------------------------------


def local_stream_module(nginx: str | None = None) -> str | None:
    """The ``load_module`` path a full config needs on this machine's nginx (``nginx``, else the
    one on PATH), or None (no nginx, or stream built in)."""
    nginx = nginx or LocalRunner.binary("nginx")
    return nginx_command.stream_module_for(nginx) if nginx else None


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

    def stream_module_for(self, engine: str, binary: str) -> str | None:
        """The module a config needs loaded on ``engine`` at ``binary``: the one this runner was
        given, else what the binary reports (nginx's dynamic stream module), else None."""
        return self._stream_module or command_line(engine).stream_module_for(binary)

    def check(
        self,
        config: str | bytes,
        engine: str,
        *,
        strict: bool = False,
        filename: str | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> CheckResult:
        """Run the engine's check on the config's exact bytes, copied to a temp folder.

        ``path``: the file ``config`` was read from (its bytes must be ``config``). haproxy and a
        full nginx config are then checked on that file itself instead (``nginx -t -c /abs/PATH``,
        ``haproxy -c -f /abs/PATH``), so that a relative ``include`` names the file beside it,
        as for the engine run by hand; nothing is written beside it. ``filename`` names the
        config in the engine's messages (default: ``path``, else ``<config>``).
        """
        command_line(engine)  # ValueError for an unknown engine
        binary = self.binary(engine)
        if binary is None:
            raise EngineUnavailable(
                f"{engine} is not installed here (no '{engine}' binary on PATH); "
                f"install it or use --runner docker"
            )
        data = as_bytes(config)
        name = display_name(filename, path)
        module = self.stream_module_for(engine, binary)
        if path is not None and checks_in_place(engine, data):
            result = self._check_in_place(data, engine, binary, path, strict=strict, filename=name)
        else:
            result = self._check_copy(data, engine, binary, module, strict=strict, filename=name)
        missing = module if needs_stream_module(engine, data, result.output) else None
        return replace(result, load_module=missing)

    def _check_in_place(
        self, data: bytes, engine: str, binary: str, path: str | os.PathLike[str], *,
        strict: bool, filename: str,
    ) -> CheckResult:  # fmt: skip
        """The engine's check of the file ``path`` (holding ``data``) where it is."""
        target = in_place_path(path)
        # The folder only takes what the check itself writes (nginx -t creates its pid file),
        # and the fallback copy, whose relative includes still name the files beside ``path``.
        with tempfile.TemporaryDirectory(prefix="lbgen-check-") as workdir:
            command = [binary, *in_place_arguments(engine, data, target, workdir, strict=strict)]
            result, status = _run_check(
                [*self._command_prefix, *command], engine=engine, runner=self.name, strict=strict
            )
            fallback = fallback_files(engine, data, include_folder=str(Path(target).parent))
            if status in KILLED_BY_SIGTERM and fallback:
                result = self._check_fallback(
                    data, engine, binary, workdir, fallback, strict=strict
                )
                result = replace(result, output=map_output(result.output, workdir, filename))
        return replace(result, output=map_in_place_output(result.output, target, filename))

    def _check_copy(
        self, data: bytes, engine: str, binary: str, module: str | None, *, strict: bool,
        filename: str,
    ) -> CheckResult:  # fmt: skip
        """The engine's check of a copy of ``data`` in a temp folder: a stream/upstreams file is
        included by a wrapper that loads ``module`` (the stream module) when it does not."""
        with tempfile.TemporaryDirectory(prefix="lbgen-check-") as workdir:
            line = f"load_module {module};" if module else None
            files = check_files(data, engine, workdir, module_line=line)
            for name, content in files.items():
                (Path(workdir) / name).write_bytes(content)
            command = [binary, *check_arguments(engine, data, workdir, strict=strict, files=files)]
            result, status = _run_check(
                [*self._command_prefix, *command], engine=engine, runner=self.name, strict=strict
            )
            fallback = fallback_files(engine, data)
            if status in KILLED_BY_SIGTERM and fallback:
                result = self._check_fallback(
                    data, engine, binary, workdir, {**files, **fallback}, strict=strict
                )
            output = map_output(result.output, workdir, filename)
        return replace(result, output=output)

    def _check_fallback(
        self, data: bytes, engine: str, binary: str, workdir: str, files: dict[str, bytes], *,
        strict: bool,
    ) -> CheckResult:  # fmt: skip
        """The check of the fallback copy among ``files``, written to ``workdir``: after the
        engine's known self-kill (keepalived 2.2.7) its verdict is the copy's."""
        for name, content in files.items():
            (Path(workdir) / name).write_bytes(content)
        command = [binary, *check_arguments(engine, data, workdir, strict=strict, files=files)]
        result, _ = _run_check(
            [*self._command_prefix, *command], engine=engine, runner=self.name, strict=strict
        )
        return result


def run_check_command(
    command: list[str], *, engine: str, runner: str, strict: bool = False
) -> CheckResult:
    """Run an engine's check command and judge it with :func:`accepted`."""
    return _run_check(command, engine=engine, runner=runner, strict=strict)[0]


def _run_check(
    command: list[str], *, engine: str, runner: str, strict: bool = False
) -> tuple[CheckResult, int]:
    """:func:`run_check_command`, and the command's exit status."""
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
    ), proc.returncode  # fmt: skip


# --- running an engine -----------------------------------------------------------------------

#: prctl(2) option: the signal the calling process gets when its parent exits (Linux).
PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``sig`` when this process exits, or None
    (not Linux, or no libc to call).

    SIGTERM rather than SIGKILL: the engine's master then stops its workers itself. The signal
    comes when the *thread* that started the child exits, so start engines from a thread that
    lives as long as they should. The setting survives the engine's exec.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork, not in the child
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the prctl: nobody would signal us
            os.kill(os.getpid(), sig)

    return preexec


def child_pids(pid: int) -> set[int]:
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
        self._command = command_line(engine)  # ValueError for an unknown engine
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
        module = LocalRunner(stream_module=self._stream_module).stream_module_for(
            self.engine, binary
        )
        text = self._command.running_config(text, str(workdir), stream_module=module)
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
        command = [binary, *self._command.run_arguments(self.config_text, workdir, config)]
        with open(Path(workdir) / "engine.log", "wb") as log:
            # A session of its own: Ctrl-C in the terminal must not reach the engine first, and
            # stop() can end the whole group it created if the master leaves workers behind.
            # The engine also dies with this process (a killed benchmark leaves no engine).
            self._proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=die_with_parent(),
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
        before = child_pids(self._proc.pid)
        self._write_config(config_text, binary)
        self.config_text = config_text
        self._proc.send_signal(signal.Signals[self._command.RELOAD_SIGNAL])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child_pids(self._proc.pid) - before:
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
