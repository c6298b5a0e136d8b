"""Let the real engines judge a config and run it: locally or in Docker.

A :class:`Runner` runs an engine's own check (``haproxy -c``, ``nginx -t``) somewhere:
:class:`lbgen.runners.local.LocalRunner` uses the binaries on this machine,
:class:`lbgen.runners.docker.DockerRunner` (same interface) runs them in an image.
:func:`check_config` picks one (``auto``: a local binary when there is one, else Docker) and
returns a :class:`CheckResult`; an engine that cannot be run at all raises
:class:`EngineUnavailable` (exit code 4 in the CLI), a config the engine rejects is
``CheckResult.ok == False`` (exit 3). :func:`start_engine` runs an engine with a config
(a :class:`RunningEngine`). Both runners build their command lines from the engine package's
``command`` module.

Layout: :mod:`lbgen.runners.base` holds what both runners share, :mod:`lbgen.runners.local` and
:mod:`lbgen.runners.docker` import it (never each other), and this module chooses between them.
The Docker runner is imported only when it is used (``pip install 'lbgen[docker]'``).
"""

from __future__ import annotations

import os

from lbgen.runners.base import (
    ENGINES,
    CheckResult,
    EngineUnavailable,
    Runner,
    RunningEngine,
    first_problem,
)
from lbgen.runners.local import LocalEngine, LocalRunner

RUNNER_NAMES = ("auto", "local", "docker")

__all__ = [
    "ENGINES",
    "RUNNER_NAMES",
    "CheckResult",
    "EngineUnavailable",
    "LocalEngine",
    "LocalRunner",
    "Runner",
    "RunningEngine",
    "check_config",
    "first_problem",
    "get_runner",
    "start_engine",
]


def get_runner(name: str, engine: str, *, image: str | None = None) -> Runner:
    """The runner called ``name``; ``auto`` prefers a local binary and falls back to Docker."""
    if name not in RUNNER_NAMES:
        raise ValueError(f"unknown runner {name!r}; choose one of {', '.join(RUNNER_NAMES)}")
    if name == "local" or (name == "auto" and image is None and LocalRunner().available(engine)):
        return LocalRunner()
    try:
        from lbgen.runners.docker import DockerRunner
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
    path: str | os.PathLike[str] | None = None,
) -> CheckResult:
    """Let ``engine`` check ``config`` (its exact bytes; text is UTF-8) with the chosen runner.

    ``strict``: engine warnings are failures (``haproxy -dW``, nginx ``[warn]``). ``filename``
    names the config in the engine's messages (default ``path``, else ``<config>``). ``path``:
    the file ``config`` was read from (its bytes must be ``config``); the local runner then
    checks haproxy and a full nginx config on that file itself, so that its relative
    ``include``s name the files beside it (``nginx -t -c FILE`` reads them there); the Docker
    runner checks a copy.
    """
    return get_runner(runner, engine, image=image).check(
        config, engine, strict=strict, filename=filename, path=path
    )


def start_engine(
    config_text: str, engine: str, *, runner: str = "local", image: str | None = None
) -> RunningEngine:
    """A started engine running ``config_text``, locally or in Docker (``runner``)."""
    running: RunningEngine
    if runner == "local":
        running = LocalEngine(config_text, engine)
    elif runner == "docker":
        from lbgen.runners.docker import DockerEngine

        running = DockerEngine(config_text, engine, image=image)
    else:
        raise ValueError(f"unknown runner {runner!r}; choose local or docker")
    running.start()
    return running
