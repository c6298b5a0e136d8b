"""Fixtures of the integration suite: engine builds, Docker, fake API servers, load balancers.

Where the engines run:

- ``LBGEN_REQUIRE_DOCKER=1`` (CI): in Docker, and every test fails when Docker cannot be had.
- otherwise, ``LBGEN_INTEGRATION_RUNNER=docker|local`` decides; unset (``auto``) means Docker
  when an engine answers or this user may start one (root with dockerd installed), else the
  local haproxy/nginx binaries (a laptop without Docker runs the same behaviour tests).

Docker mode tests every image of ``LBGEN_HAPROXY_IMAGES`` / ``LBGEN_NGINX_IMAGES`` (default: our
``lbgen-engine:bookworm`` and ``lbgen-engine:trixie``, built from Debian when missing, see
``images.py``). Measured figures of every behaviour are printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trustme

import lbgen
from lbgen.diagnostics import Level
from lbgen.runners import EngineUnavailable, LocalRunner, RunningEngine, start_engine

from .dockerd import DockerEngine, DockerUnavailable, get_docker_engine
from .fake_apiserver import FakeAPIServer, free_port, server_context
from .images import EngineBuild, ImageUnavailable, configured_builds, ensure_images

if TYPE_CHECKING:
    from lbgen.rendering import Rendered

REQUIRE_DOCKER = os.environ.get("LBGEN_REQUIRE_DOCKER", "") not in ("", "0", "false", "no")

#: Health settings short enough for quick behaviour tests (DESIGN's defaults are for production).
FAST_HEALTH: dict[str, Any] = {
    "check": "https",
    "path": "/readyz",
    "interval": "1s",
    "fast_interval": "500ms",
    "down_interval": "1s",
    "rise": 2,
    "fall": 2,
    "timeout": "1s",
}
TIMEOUTS: dict[str, Any] = {"connect": "1s", "client": "60s", "server": "60s", "tunnel": "60s"}


def _docker_possible() -> bool:
    """Cheap guess at collection time: a Docker engine answers, or root may start dockerd."""
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
        return True
    except Exception:
        pass
    return os.geteuid() == 0 and shutil.which("dockerd", path="/usr/sbin:/usr/bin") is not None


def integration_mode() -> str:
    """``docker`` or ``local``: where this run starts the engines (see the module docstring)."""
    if REQUIRE_DOCKER:
        return "docker"
    wanted = os.environ.get("LBGEN_INTEGRATION_RUNNER", "auto").strip() or "auto"
    if wanted in ("docker", "local"):
        return wanted
    return "docker" if _docker_possible() else "local"


def _builds(mode: str) -> list[EngineBuild]:
    if mode == "docker":
        return configured_builds()
    return [EngineBuild("haproxy", "local"), EngineBuild("nginx", "local")]


def pytest_configure(config: pytest.Config) -> None:
    """Decide the mode once per run; collect figures for the summary."""
    config.stash[_MODE] = integration_mode()
    config.stash[_FIGURES] = []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test that takes ``build`` over the engine builds of this run."""
    if "build" not in metafunc.fixturenames:
        return
    builds = _builds(metafunc.config.stash[_MODE])
    metafunc.parametrize("build", builds, ids=[b.id for b in builds], scope="session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything collected from this folder as integration."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print every measured figure, so CI output shows what the behaviours looked like."""
    figures: list[tuple[str, str]] = config.stash.get(_FIGURES, [])
    if not figures:
        return
    terminalreporter.section("lbgen integration figures")
    terminalreporter.write_line(f"mode: {config.stash.get(_MODE, '?')}")
    for test_id, text in figures:
        terminalreporter.write_line(f"{test_id}: {text}")


_MODE = pytest.StashKey[str]()
_FIGURES = pytest.StashKey[list[tuple[str, str]]]()


# --- figures ------------------------------------------------------------------------------------


@dataclass
class Figures:
    """Records measured figures of one test for the end-of-run summary and the junit XML."""

    test_id: str
    sink: list[tuple[str, str]]
    record_property: Callable[[str, object], None]

    def add(self, label: str, text: str) -> None:
        """Record one figure, e.g. ``add("down after", "1.62s (bound 3.5s)")``."""
        self.sink.append((self.test_id, f"{label}: {text}"))
        self.record_property(label, text)
        print(f"[figure] {self.test_id}: {label}: {text}")


@pytest.fixture
def figures(request: pytest.FixtureRequest, record_property: Any) -> Figures:
    """A recorder for this test's measured figures."""
    return Figures(
        request.node.nodeid.split("::", 1)[-1], request.config.stash[_FIGURES], record_property
    )


# --- Docker and images -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mode(request: pytest.FixtureRequest) -> str:
    """``docker`` or ``local``."""
    return request.config.stash[_MODE]


@pytest.fixture(scope="session")
def docker_engine(mode: str) -> Iterator[DockerEngine | None]:
    """The Docker engine of this run (started here if none ran; stopped again at the end)."""
    if mode != "docker":
        yield None
        return
    problem = ""
    try:
        engine = get_docker_engine()
    except DockerUnavailable as exc:
        problem = str(exc)
    if problem:  # outside the except: the report shows one line, not a chained traceback
        # Fail, never skip: CI asked for Docker (or auto mode saw that it should be possible).
        pytest.fail(f"Docker is required for this run but cannot be had: {problem}", pytrace=False)
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def build_seconds(
    mode: str, docker_engine: DockerEngine | None, request: pytest.FixtureRequest
) -> dict[str, float]:
    """Make every configured image available (building ours from Debian); seconds per image."""
    if docker_engine is None:
        return {}
    images = [b.image for b in _builds(mode)]
    problem = ""
    try:
        seconds = ensure_images(docker_engine.client, images)
    except ImageUnavailable as exc:
        problem = str(exc)
    if problem:
        pytest.fail(f"engine image unavailable: {problem}", pytrace=False)
    sink = request.config.stash[_FIGURES]
    for image, spent in seconds.items():
        sink.append(("images", f"{image}: {'present' if not spent else f'built in {spent:.1f}s'}"))
    return seconds


@pytest.fixture(scope="session")
def engine_ready(build: EngineBuild, mode: str, build_seconds: dict[str, float]) -> EngineBuild:
    """The build, with its image present (Docker) or its binary installed (local)."""
    if mode == "local" and LocalRunner.binary(build.engine) is None:
        pytest.skip(f"no local {build.engine} binary and no Docker")
    return build


# --- TLS and fake API servers ------------------------------------------------------------------


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """The test CA that signs every fake API server's certificate."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CA certificate as a PEM file (for kubectl and curl)."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A client TLS context that trusts the test CA and checks the server name."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture(scope="session")
def tls_server_context(ca: trustme.CA) -> ssl.SSLContext:
    """One server context shared by every fake API server."""
    return server_context(ca)


@pytest.fixture
def apiservers(tls_server_context: ssl.SSLContext) -> Iterator[Callable[..., list[FakeAPIServer]]]:
    """Factory: ``apiservers(3)`` starts servers ``a``, ``b``, ``c``; all stopped after the test."""
    started: list[FakeAPIServer] = []

    def make(
        count: int, *, host: str = "127.0.0.1", watch_interval: float = 0.5
    ) -> list[FakeAPIServer]:
        servers = []
        for _ in range(count):
            name = "abcdefghij"[len(started)]
            server = FakeAPIServer(
                name, tls_server_context, host=host, watch_interval=watch_interval
            )
            started.append(server.start())
            servers.append(server)
        return servers

    yield make
    for server in started:
        server.stop()


# --- specs and load balancers ------------------------------------------------------------------


def make_spec(
    name: str,
    servers: dict[str, Any],
    *,
    port: int | None = None,
    binds: list[str] | None = None,
    pool: dict[str, Any] | None = None,
    health: dict[str, Any] | None = None,
    timeouts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A one-frontend, one-pool spec with the quick test health settings."""
    binds = binds or [f"127.0.0.1:{port or free_port()}"]
    return {
        "version": 1,
        "name": name,
        "defaults": {
            "health": {**FAST_HEALTH, **(health or {})},
            "timeouts": {**TIMEOUTS, **(timeouts or {})},
        },
        "frontends": {"api": {"bind": binds, "pool": "cp"}},
        "pools": {"cp": {**(pool or {}), "servers": servers}},
    }


def render_for(
    spec: dict[str, Any], engine: str, *, layout: str = "full", load_module: str | None = None
) -> Rendered:
    """Load and render a spec dict; fail the test on any error diagnostic."""
    loaded = lbgen.load_spec(json.dumps(spec).encode())
    options = {"load_module": load_module} if load_module else {}
    rendered = lbgen.render(loaded, engine, layout=layout, allow_errors=True, **options)
    errors = [d for d in rendered.diagnostics if d.level is Level.ERROR]
    assert not errors, f"spec did not render for {engine}: {errors}"
    return rendered


def bind_port(bind: str) -> tuple[str, int]:
    """``127.0.0.1:8443`` / ``[::1]:8443`` → host, port."""
    host, _, port = bind.rpartition(":")
    return host.strip("[]"), int(port)


@dataclass
class LoadBalancer:
    """A running engine with a rendered spec."""

    engine: RunningEngine
    rendered: Rendered
    spec: dict[str, Any]
    binds: list[tuple[str, int]] = field(default_factory=list)

    @property
    def port(self) -> int:
        """Port of the first bind."""
        return self.binds[0][1]

    def warnings(self) -> list[str]:
        """Render warnings as ``path: message``."""
        return [
            f"{d.path}: {d.message}" for d in self.rendered.diagnostics if d.level is Level.WARNING
        ]


@pytest.fixture
def lb(engine_ready: EngineBuild, mode: str) -> Iterator[Callable[[dict[str, Any]], LoadBalancer]]:
    """Factory: render a spec for this build's engine, run it, wait until every bind listens."""
    running: list[RunningEngine] = []

    def start(spec: dict[str, Any]) -> LoadBalancer:
        rendered = render_for(spec, engine_ready.engine)
        image = engine_ready.image if mode == "docker" else None
        try:
            engine = start_engine(rendered.text, engine_ready.engine, runner=mode, image=image)
        except EngineUnavailable as exc:
            problem = str(exc)
        else:
            problem = ""
        if problem:
            pytest.fail(f"cannot run {engine_ready.id}: {problem}", pytrace=False)
        running.append(engine)
        binds = [bind_port(b) for fe in spec["frontends"].values() for b in fe["bind"]]
        for host, port in binds:
            engine.wait_listening(host, port)
        return LoadBalancer(engine, rendered, spec, binds)

    yield start
    for engine in running:
        # Shown by pytest only when the test failed: what the engine said while it ran.
        print(f"--- {engine_ready.id} log (tail) ---\n{engine.logs()[-4000:]}")
        engine.stop()


@pytest.fixture
def kube_home(tmp_path: Path) -> Path:
    """A throwaway HOME for kubectl and curl."""
    home = tmp_path / "home"
    home.mkdir()
    return home
