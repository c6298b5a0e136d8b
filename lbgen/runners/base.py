"""What the local and the Docker runner share: results, errors, the two protocols, the check folder.

A :class:`Runner` runs an engine's own config check somewhere and returns a :class:`CheckResult`;
an engine that cannot be run at all raises :class:`EngineUnavailable` (exit code 4 in the CLI), a
config the engine rejects is ``CheckResult.ok == False`` (exit 3). A :class:`RunningEngine` runs an
engine with a config. The engine's command lines come from its package's ``command`` module
(:class:`CommandLine`), the same for both runners; :mod:`lbgen.runners.local` and
:mod:`lbgen.runners.docker` import this module and never each other.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Protocol

from lbgen.frozen import record
from lbgen.haproxy import command as haproxy_command
from lbgen.keepalived import command as keepalived_command
from lbgen.nginx import command as nginx_command

CHECK_TIMEOUT_SECONDS = 60


class CommandLine(Protocol):
    """What a runner needs from an engine package's ``command`` module (a module is the value).

    See :mod:`lbgen.haproxy.command` and :mod:`lbgen.nginx.command` for what each one means.
    """

    PROGRAM: str
    OFFICIAL_IMAGE: str
    RELOAD_SIGNAL: str

    def check_arguments(
        self, config_path: str, *, strict: bool, folder: str, config_text: str
    ) -> list[str]: ...

    def run_arguments(self, config_text: str, folder: str, config_path: str) -> list[str]: ...

    def accepted(self, status: int, output: str, *, strict: bool) -> bool: ...

    def check_wrapper(
        self, config_text: str, config_path: str, folder: str, *, module_line: str | None
    ) -> str | None: ...

    def check_fallback(
        self, config_text: str, *, include_folder: str | None = None
    ) -> str | None: ...

    def running_config(
        self, config_text: str, folder: str, *, stream_module: str | None
    ) -> str: ...

    def needs_stream_module(self, config_text: str, output: str) -> bool: ...

    def stream_module_for(self, binary: str) -> str | None: ...

    def container_script(self, folder: str) -> str: ...


#: Each engine binary lbgen runs, and its command lines.
COMMANDS: Mapping[str, CommandLine] = {
    "haproxy": haproxy_command,
    "nginx": nginx_command,
    "keepalived": keepalived_command,
}

ENGINES = tuple(COMMANDS)


def command_line(engine: str) -> CommandLine:
    """The command lines of ``engine`` (``haproxy``, ``nginx``); ValueError for another name."""
    try:
        return COMMANDS[engine]
    except KeyError:
        raise ValueError(f"unknown engine {engine!r}") from None


class EngineUnavailable(Exception):
    """The engine cannot be run here: no binary, no Docker, no image."""


@record
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
            f"nginx {where} loads stream as a dynamic module: the config needs "
            f"'load_module {self.load_module};' at its top (lbgen render writes it with "
            f"--load-module {self.load_module})"
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


def accepted(engine: str, status: int, output: str, *, strict: bool) -> bool:
    """The engine's verdict on a check: see each ``command`` module's ``accepted``."""
    return command_line(engine).accepted(status, output, strict=strict)


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
        path: str | os.PathLike[str] | None = None,
    ) -> CheckResult:
        """Check ``config`` (its exact bytes; text is UTF-8) with ``engine``.

        ``strict``: engine warnings are failures. ``filename`` names the config in the
        engine's messages (default: ``path``). ``path``: the file ``config`` was read from, which
        a runner that sees it may check where it is (:func:`checks_in_place`). Raise
        EngineUnavailable if the engine cannot run.
        """
        ...


# --- what a check runs -------------------------------------------------------------------------
# The local and the Docker runner check the same way: the user's bytes go unchanged into
# CONFIG_NAME in a folder; haproxy and a full nginx config are checked as they are; a stream or
# upstreams file is *included* by a small wrapper (so the engine reports the user's own line
# numbers), and the folder's paths in the engine's messages are replaced by the user's file name.
# The local runner checks haproxy and a full nginx config read from a file on that file instead
# (see "checking a file where it is" below).

#: The file holding the user's exact bytes.
CONFIG_NAME = "config"
#: The complete config around the user's file, when the engine needs one.
WRAPPER_NAME = "lbgen-wrapper.conf"
#: How a config without a file name is called in the engine's messages.
DEFAULT_FILENAME = "<config>"


def as_bytes(config: str | bytes) -> bytes:
    """A config's exact bytes (text is UTF-8)."""
    return config.encode("utf-8") if isinstance(config, str) else config


def as_text(config: bytes) -> str:
    """A config's bytes as text, only for looking at it: every byte maps to one character
    (latin-1), nothing is refused."""
    return config.decode("latin-1")


def check_files(
    config: bytes, engine: str, folder: str, *, module_line: str | None
) -> dict[str, bytes]:
    """The files a check puts in ``folder``: the user's bytes, and the wrapper when needed.

    ``module_line`` (e.g. ``load_module PATH;``) heads the wrapper of a stream/upstreams file
    that does not load the stream module itself; a full config is never changed.
    """
    files = {CONFIG_NAME: config}
    wrapper = command_line(engine).check_wrapper(
        as_text(config), f"{folder}/{CONFIG_NAME}", folder, module_line=module_line
    )
    if wrapper is not None:
        files[WRAPPER_NAME] = wrapper.encode("utf-8")
    return files


def check_arguments(
    engine: str, config: bytes, folder: str, *, strict: bool, files: dict[str, bytes]
) -> list[str]:
    """The engine's arguments for checking the ``files`` of :func:`check_files` in ``folder``."""
    main = f"{folder}/{WRAPPER_NAME if WRAPPER_NAME in files else CONFIG_NAME}"
    return command_line(engine).check_arguments(
        main, strict=strict, folder=folder, config_text=as_text(config)
    )


def fallback_files(
    engine: str, config: bytes, *, include_folder: str | None = None
) -> dict[str, bytes]:
    """The config to check instead when the first check is killed by SIGTERM (the engine's
    :func:`check_fallback`), as a file of the check folder; empty for most configs.

    ``include_folder``: the folder the config was read from, against which the copy's relative
    ``include`` lines are to resolve (they would name the check folder's files otherwise)."""
    fallback = command_line(engine).check_fallback(as_text(config), include_folder=include_folder)
    return {} if fallback is None else {WRAPPER_NAME: fallback.encode("utf-8")}


#: How a check killed by SIGTERM ends: the status a local run sees, and a shell's (Docker).
KILLED_BY_SIGTERM = (-15, 143)


def map_output(output: str, folder: str, filename: str) -> str:
    """The engine's output with the check folder's files named as the user knows them."""
    wrapper = f"{folder}/{WRAPPER_NAME}"
    output = output.replace(f"{folder}/{CONFIG_NAME}", filename)
    # nginx ends with "configuration file WRAPPER test failed": that verdict is about the file.
    output = output.replace(f"configuration file {wrapper} ", f"configuration file {filename} ")
    return output.replace(wrapper, f"lbgen's wrapper of {filename}")


def display_name(filename: str | None, path: str | os.PathLike[str] | None) -> str:
    """How the engine's messages name the checked config: ``filename``, else the file it was
    read from, else :data:`DEFAULT_FILENAME`."""
    if filename:
        return filename
    return os.fspath(path) if path is not None else DEFAULT_FILENAME


# --- checking a file where it is ---------------------------------------------------------------
# A copy in a temp folder answers for a relative path only where the engine resolves it against
# its working directory. nginx resolves a relative include (and the other files it reads while
# parsing) against the folder of its -c file, haproxy under `default-path config` against the
# folder of its -f file: from a copy, `include conf.d/*.conf;` names the temp folder's conf.d
# (rejected, or worse, a glob matching nothing and accepted). So a config read from a file that
# the engine takes as written (no wrapper) is checked in place when the runner sees the file.
# keepalived reads a relative include against the folder of the file that names it, too; when
# its check falls back to a changed copy (check_fallback, written to the check folder), the copy's
# relative includes are made absolute so that they still name the files beside the original.

#: The engines whose config file is checked where it is.
IN_PLACE_ENGINES = ("haproxy", "nginx", "keepalived")


def checks_in_place(engine: str, config: bytes) -> bool:
    """True when ``config``, read from a file, is checked on that file itself: ``engine`` takes it
    as written (a full nginx config, an haproxy.cfg; a stream/upstreams file needs a wrapper)."""
    if engine not in IN_PLACE_ENGINES:
        return False
    wrapper = command_line(engine).check_wrapper(
        as_text(config), CONFIG_NAME, ".", module_line=None
    )
    return wrapper is None


def in_place_path(path: str | os.PathLike[str]) -> str:
    """The absolute path the engine is given: nginx reads a relative ``-c`` against its prefix,
    not the working directory. Not normalised (``..`` after a symlink means what the kernel says,
    as for ``nginx -t -c "$PWD/FILE"``)."""
    return str(Path(path).absolute())


def in_place_arguments(
    engine: str, config: bytes, path: str, folder: str, *, strict: bool
) -> list[str]:
    """The engine's arguments for checking the file ``path`` (its bytes are ``config``) itself;
    what the check writes goes to ``folder`` (the pid file ``nginx -t`` creates, unless the config
    names its own), never beside the file."""
    return command_line(engine).check_arguments(
        path, strict=strict, folder=folder, config_text=as_text(config)
    )


def map_in_place_output(output: str, path: str, filename: str) -> str:
    """The engine's output with the checked file ``path`` named ``filename``; other files (the
    ones it includes) keep the names the engine gives them."""
    # Whole paths only: neither /x/nginx.conf.d/a.conf nor /srv/x/nginx.conf is /x/nginx.conf.
    pattern = re.compile(rf"(?<![\w./-]){re.escape(path)}(?![\w./-])")
    return pattern.sub(lambda _: filename, output)


def needs_stream_module(engine: str, config: bytes, output: str) -> bool:
    """True when a full nginx config was rejected for want of the stream module."""
    return command_line(engine).needs_stream_module(as_text(config), output)


# --- running an engine -------------------------------------------------------------------------
# Integration tests and demos need the engine *running* with a config, not only checking it.
# A RunningEngine starts it in the foreground, waits until it listens, shows its logs, reloads
# it with a new config and stops it; implementations: lbgen.runners.local.LocalEngine (processes
# on this machine) and lbgen.runners.docker.DockerEngine (a container). Each stops only what it
# started.


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
