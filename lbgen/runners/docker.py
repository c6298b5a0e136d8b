"""Run haproxy and nginx inside a Docker image: config checks and running engines.

The docker SDK is imported on first use (``pip install 'lbgen[docker]'``); without it, or without a
reachable Docker engine, or without the image, every entry point raises
:class:`lbgen.runners.base.EngineUnavailable` with one clear line (exit code 4 in the CLI).

Configs go into the container with ``put_archive`` rather than a bind mount, so the runner also
works against a Docker engine on another machine (``DOCKER_HOST``). Containers use the host's
network (the engine binds exactly what the config says) and are always removed, also on error.

The same runner works with the official images (``haproxy`` in /usr/local/sbin, nginx with the
stream module built in) and with Debian-based images (``haproxy`` in /usr/sbin, nginx's stream
module as ``/usr/lib/nginx/modules/ngx_stream_module.so``): a small shell prologue inside the
container (the engine's ``container_script``) finds the binary and, for a stream/upstreams file or
a running engine, loads the stream module only when that nginx needs it. A full nginx config is
checked exactly as written (see :mod:`lbgen.runners.base`): if it lacks the ``load_module`` this
image needs, the check fails and says which path to render with. The command lines are the
engine's own (its ``command`` module), the same as the local runner's.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import time
import uuid
from typing import Any

from lbgen.nginx.command import LOADS_STREAM_MODULE, MODULES_FILE
from lbgen.runners.base import (
    CHECK_TIMEOUT_SECONDS,
    DEFAULT_FILENAME,
    CheckResult,
    EngineUnavailable,
    accepted,
    as_bytes,
    check_arguments,
    check_files,
    command_line,
    display_name,
    fallback_files,
    map_output,
    needs_stream_module,
    wait_until_listening,
)

#: Where the config lives inside the container.
CONTAINER_DIR = "/tmp/lbgen"
#: Label put on every container this module creates, so that leftovers are recognisable.
LABEL = "org.lbgen.runner"


def default_image(engine: str) -> str:
    """The image for ``engine``: ``LBGEN_HAPROXY_IMAGE``/``LBGEN_NGINX_IMAGE``/
    ``LBGEN_KEEPALIVED_IMAGE`` or the official one; EngineUnavailable when there is none
    (keepalived)."""
    variable = f"LBGEN_{engine.upper().replace('-', '_')}_IMAGE"
    configured = os.environ.get(variable, "").strip()
    if configured:
        return configured
    official = command_line(engine).OFFICIAL_IMAGE
    if not official:
        raise EngineUnavailable(
            f"{engine} has no official image: pass --image IMAGE (one with {engine} in it, e.g. "
            f"lbgen-engine:bookworm from python -m tests.integration.images) or set {variable}"
        )
    return official


def _one_line(exc: BaseException) -> str:
    """An exception as one short line (docker's messages span lines and repeat themselves)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def docker_client() -> Any:
    """A docker SDK client whose engine answers; EngineUnavailable otherwise."""
    try:
        import docker
    except ImportError as exc:
        raise EngineUnavailable(
            "the Docker runner needs the docker Python package: pip install 'lbgen[docker]'"
        ) from exc
    try:
        client = docker.from_env(timeout=CHECK_TIMEOUT_SECONDS)
        client.ping()
    except Exception as exc:
        where = os.environ.get("DOCKER_HOST") or "the default socket"
        raise EngineUnavailable(
            f"no Docker engine reachable at {where} (is dockerd running?): {_one_line(exc)}"
        ) from exc
    return client


def require_image(client: Any, image: str) -> None:
    """Make sure ``image`` is present, pulling it once if it is not; EngineUnavailable if not."""
    import docker.errors

    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise EngineUnavailable(f"cannot inspect image {image}: {_one_line(exc)}") from exc
    try:
        client.images.pull(image)
    except Exception as exc:
        raise EngineUnavailable(
            f"image {image} is not present and cannot be pulled: {_one_line(exc)}"
        ) from exc


def _archive(files: dict[str, str] | dict[str, bytes]) -> bytes:
    """A tar holding ``CONTAINER_DIR`` (world-writable: some images run as a non-root user)."""
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo(CONTAINER_DIR.lstrip("/"))
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o1777, now
        tar.addfile(folder)
        for name, content in files.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            info = tarfile.TarInfo(f"{CONTAINER_DIR.lstrip('/')}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _read_from_container(container: Any, path: str) -> str:
    """The text of one file in a (running or stopped) container, or '' when it is missing."""
    try:
        stream, _ = container.get_archive(path)
        data = b"".join(stream)
    except Exception:
        return ""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.next()
        handle = tar.extractfile(member) if member is not None else None
        return handle.read().decode("utf-8", "replace") if handle is not None else ""


def config_files(config_text: str, engine: str) -> tuple[str, dict[str, str]]:
    """The config file name and the files to put in the container for ``engine``."""
    if engine == "haproxy":
        return "haproxy.cfg", {"haproxy.cfg": config_text}
    wrapped = command_line(engine).running_config(config_text, CONTAINER_DIR, stream_module=None)
    if not LOADS_STREAM_MODULE.search(config_text):
        # Filled in by the container script inside the container, where we know which nginx it is.
        wrapped = f"include {CONTAINER_DIR}/{MODULES_FILE};\n" + wrapped
    return "nginx.conf", {"nginx.conf": wrapped, MODULES_FILE: ""}


def engine_command(engine: str, config_text: str) -> list[str]:
    """The container command that runs the engine in the foreground with ``config_text``."""
    name, _ = config_files(config_text, engine)
    command = command_line(engine)
    args = command.run_arguments(config_text, CONTAINER_DIR, f"{CONTAINER_DIR}/{name}")
    return ["sh", "-c", command.container_script(CONTAINER_DIR), engine, *args]


def check_command(
    engine: str, config: bytes, *, strict: bool
) -> tuple[list[str], dict[str, bytes]]:
    """The container command and files that check ``config``'s exact bytes.

    The same files and arguments as the local runner (:func:`lbgen.runners.base.check_files`);
    a stream/upstreams wrapper includes ``modules.conf``, which the prologue fills in.
    """
    module_line = f"include {CONTAINER_DIR}/{MODULES_FILE};" if engine == "nginx" else None
    files = check_files(config, engine, CONTAINER_DIR, module_line=module_line)
    if engine == "nginx":
        files[MODULES_FILE] = b""
    args = check_arguments(engine, config, CONTAINER_DIR, strict=strict, files=files)
    # The container script checks it when the check as written is killed by SIGTERM.
    files.update(fallback_files(engine, config))
    script = command_line(engine).container_script(CONTAINER_DIR)
    return ["sh", "-c", script, engine, *args], files


def container_check_result(
    engine: str,
    config: bytes,
    status: int,
    output: str,
    modules_conf: str,
    *,
    runner: str,
    command: list[str],
    strict: bool,
    filename: str | None,
) -> CheckResult:
    """Judge what :func:`check_command` printed (``output``) and left in ``modules.conf``."""
    output = map_output(output.strip(), CONTAINER_DIR, filename or DEFAULT_FILENAME)
    # modules.conf holds "load_module PATH;" when this image's nginx needs the module.
    words = modules_conf.split()
    path = words[1].rstrip(";") if len(words) >= 2 and words[0] == "load_module" else None
    return CheckResult(
        ok=accepted(engine, status, output, strict=strict),
        engine=engine,
        runner=runner,
        output=output,
        command=tuple(command[:2] + command[3:]),
        load_module=path if needs_stream_module(engine, config, output) else None,
    )


def _create(
    client: Any, image: str, command: list[str], files: dict[str, str] | dict[str, bytes], name: str
) -> Any:
    """Create (not start) a host-network container with the config files in place."""
    try:
        container = client.containers.create(
            image,
            command=command,
            entrypoint=[],  # official images have an entrypoint script; run our command as is
            network_mode="host",
            labels={LABEL: "1"},
            name=name,
            detach=True,
        )
    except Exception as exc:
        raise EngineUnavailable(
            f"cannot create a container from {image}: {_one_line(exc)}"
        ) from exc
    try:
        container.put_archive("/", _archive(files))
    except Exception as exc:
        _remove(container)
        raise EngineUnavailable(f"cannot copy the config into {image}: {_one_line(exc)}") from exc
    return container


def _remove(container: Any) -> None:
    """Remove one container we created, whatever state it is in."""
    with contextlib.suppress(Exception):
        container.remove(force=True)


class DockerRunner:
    """Runs ``haproxy -c`` / ``nginx -t`` inside a Docker image (same interface as LocalRunner)."""

    name = "docker"

    def __init__(self, *, image: str | None = None) -> None:
        self._image = image

    def image_for(self, engine: str) -> str:
        """The image used for ``engine``: the one given, else the configured default."""
        return self._image or default_image(engine)

    def check(
        self,
        config: str | bytes,
        engine: str,
        *,
        strict: bool = False,
        filename: str | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> CheckResult:
        """Check ``config``'s exact bytes in a throwaway container; EngineUnavailable if it
        cannot run.

        ``path`` (the file ``config`` was read from) only names the config in the messages when
        ``filename`` does not: the container gets a copy, never the file itself, since the
        Docker engine may run on another machine (``DOCKER_HOST``) and a bind mount would show it
        that machine's file, or none. A relative ``include`` thus names a file beside the copy,
        inside the image.
        """
        command_line(engine)  # ValueError for an unknown engine
        data = as_bytes(config)
        image = self.image_for(engine)
        client = docker_client()
        module = ""
        try:
            require_image(client, image)
            command, files = check_command(engine, data, strict=strict)
            name = f"lbgen-check-{engine}-{uuid.uuid4().hex[:10]}"
            container = _create(client, image, command, files, name)
            try:
                container.start()
                status = container.wait(timeout=CHECK_TIMEOUT_SECONDS)
                output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
                if engine == "nginx":
                    module = _read_from_container(container, f"{CONTAINER_DIR}/{MODULES_FILE}")
            except Exception as exc:
                raise EngineUnavailable(
                    f"{engine} check in {image} failed to run: {_one_line(exc)}"
                ) from exc
            finally:
                _remove(container)
        finally:
            client.close()
        code = int(status.get("StatusCode", 1))
        if code in (126, 127):  # the shell could not find or run the binary
            raise EngineUnavailable(f"image {image} has no runnable {engine}: {output.strip()}")
        return container_check_result(
            engine, data, code, output, module, runner=f"{self.name}:{image}",
            command=command, strict=strict, filename=display_name(filename, path),
        )  # fmt: skip


class DockerEngine:
    """An engine running in a container (see :class:`lbgen.runners.base.RunningEngine`).

    ``start()`` creates and starts the container; ``reload(text)`` swaps the config and signals
    the master (SIGUSR2 for haproxy in master-worker mode, SIGHUP for nginx); ``stop()`` removes
    the container. Only the container this object created is ever touched.
    """

    def __init__(self, config_text: str, engine: str, *, image: str | None = None) -> None:
        self._command = command_line(engine)  # ValueError for an unknown engine
        self.engine = engine
        self.image = image or default_image(engine)
        self.config_text = config_text
        self._client: Any = None
        self._container: Any = None

    @property
    def container_id(self) -> str | None:
        """Id of the running container, if any."""
        return self._container.id if self._container is not None else None

    def start(self) -> None:
        """Create and start the container; EngineUnavailable if Docker or the image is missing."""
        if self._container is not None:
            raise RuntimeError("engine already started")
        self._client = docker_client()
        try:
            require_image(self._client, self.image)
            _, files = config_files(self.config_text, self.engine)
            command = engine_command(self.engine, self.config_text)
            name = f"lbgen-run-{self.engine}-{uuid.uuid4().hex[:10]}"
            self._container = _create(self._client, self.image, command, files, name)
            self._container.start()
        except BaseException:
            self.stop()
            raise

    def running(self) -> bool:
        """True while the container runs."""
        if self._container is None:
            return False
        try:
            self._container.reload()
        except Exception:
            return False
        return bool(self._container.status == "running")

    def wait_listening(self, host: str, port: int, timeout: float = 15.0) -> None:
        """Block until ``host:port`` accepts a TCP connection; RuntimeError with logs if not."""
        wait_until_listening(host, port, timeout, alive=self.running, logs=self.logs)

    def logs(self) -> str:
        """What the engine printed, plus nginx's error log file."""
        if self._container is None:
            return ""
        try:
            raw: bytes = self._container.logs(stdout=True, stderr=True)
            text = raw.decode("utf-8", "replace")
        except Exception as exc:
            text = f"(container logs unavailable: {_one_line(exc)})"
        if self.engine == "nginx":
            text += _read_from_container(self._container, f"{CONTAINER_DIR}/error.log")
        return text

    def _worker_pids(self) -> set[str]:
        """PIDs of the master's children (workers) as docker top reports them."""
        try:
            top = self._container.top(ps_args="-o pid,ppid")
        except Exception:
            return set()
        rows = top.get("Processes") or []
        pids = {row[0] for row in rows}
        # The master is the process whose parent is outside the container (PID 1 inside).
        masters = {row[0] for row in rows if row[1] not in pids}
        return {row[0] for row in rows if row[1] in masters}

    def reload(self, config_text: str, timeout: float = 15.0) -> None:
        """Swap in a new config and reload; RuntimeError if no new worker takes over in time."""
        if self._container is None:
            raise RuntimeError("engine not started")
        before = self._worker_pids()
        _, files = config_files(config_text, self.engine)
        files.pop(MODULES_FILE, None)  # written at start; keep what the prologue decided
        self._container.put_archive("/", _archive(files))
        self.config_text = config_text
        self._container.kill(signal=self._command.RELOAD_SIGNAL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._worker_pids() - before:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.engine} did not load the new config:\n{self.logs()[-2000:]}")

    def stop(self) -> None:
        """Stop and remove the container (idempotent)."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.stop(timeout=5)
            _remove(self._container)
            self._container = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def __enter__(self) -> DockerEngine:
        if self._container is None:  # start_engine() hands out started engines; both uses are fine
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
