"""The compose demo comes up with the local engine images and serves kubectl through both LBs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from .clients import kubectl
from .conftest import REQUIRE_DOCKER, Figures
from .demo import (
    DEFAULT_SPEC,
    NGINX_PORT_SHIFT,
    REPO,
    compose_command,
    compose_env,
    demo_images,
    down,
    up,
)
from .dockerd import DockerEngine
from .images import configured_builds, our_image

pytestmark = pytest.mark.integration


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_kubectl(port: int, ca: Path, home: Path, limit: float = 60.0) -> str:
    """kubectl /version through ``port`` until it answers (the stack starts asynchronously)."""
    deadline = time.monotonic() + limit
    last = ""
    while time.monotonic() < deadline:
        out = kubectl(port, "/version", ca, home)
        if out.returncode == 0:
            return out.stdout
        last = out.stderr.strip()
        time.sleep(0.5)
    raise AssertionError(f"kubectl through 127.0.0.1:{port} never answered: {last}")


def test_compose_demo(
    mode: str, docker_engine: DockerEngine | None, tmp_path: Path, kube_home: Path,
    figures: Figures, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """What ``scripts/demo up`` / ``down`` run (``demo.up`` and ``demo.down``): the stack comes
    up (three fake API servers, haproxy, nginx) with images built from Debian, kubectl /version
    answers through both load balancers, and ``down`` removes every container."""
    if mode != "docker" or docker_engine is None:
        pytest.skip("the compose demo needs Docker")
    compose = compose_command()
    if compose is None:
        message = "neither 'docker compose' nor 'docker-compose' is installed"
        if REQUIRE_DOCKER:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    # The images the test session has already made (ours by default, as the demo's default).
    builds = configured_builds()
    for engine in ("haproxy", "nginx"):
        image = next(b.image for b in builds if b.engine == engine)
        monkeypatch.setenv(f"LBGEN_{engine.upper()}_IMAGE", image)
    if not os.environ.get("LBGEN_DEMO_PYTHON_IMAGE"):
        monkeypatch.setenv("LBGEN_DEMO_PYTHON_IMAGE", our_image("bookworm"))

    demo_dir = tmp_path / "demo"
    spec = yaml_ports(DEFAULT_SPEC)
    busy = [port for port in spec if not _port_free(port)]
    assert not busy, f"the demo's ports are taken on this machine: {busy}"

    project = f"lbgen-demo-test-{uuid.uuid4().hex[:8]}"
    env = compose_env(demo_dir, demo_images())
    base = [*compose, "-f", str(REPO / "compose.yaml"), "-p", project]
    started = time.monotonic()
    try:
        info = up(demo_dir, project)
        ready_after = time.monotonic() - started
        names = {s["name"] for s in info["apiservers"]}
        answers = {}
        for engine in ("haproxy", "nginx"):
            port = info[engine][0]
            answers[engine] = json.loads(_wait_kubectl(port, demo_dir / "ca.pem", kube_home))
            assert answers[engine]["fakeServer"] in names, answers[engine]
        running = subprocess.run([*base, "ps", "-q"], capture_output=True, text=True, env=env,
                                 cwd=REPO, timeout=120, check=True)  # fmt: skip
        assert len(running.stdout.split()) == 5, running.stdout
    finally:
        logs = subprocess.run([*base, "logs", "--no-color"], capture_output=True, text=True,
                              env=env, cwd=REPO, timeout=120, check=False)  # fmt: skip
        done = down(demo_dir, project)
    assert done == ["demo containers removed"], done  # the test's dockerd is not the demo's
    left = subprocess.run([*base, "ps", "-q"], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=120, check=True)  # fmt: skip
    assert left.stdout.split() == [], left.stdout
    figures.add(
        "compose demo",
        f"{' '.join(compose)}: both LBs answered {ready_after:.1f}s after 'up' "
        f"(haproxy -> {answers['haproxy']['fakeServer']}, "
        f"nginx -> {answers['nginx']['fakeServer']})",
    )
    assert "Traceback" not in logs.stdout, logs.stdout[-3000:]


def yaml_ports(spec_path: Path) -> list[int]:
    """Every port the demo listens on: haproxy's, nginx's (shifted) and the API servers'."""
    from ruamel.yaml import YAML

    spec = YAML(typ="safe").load(spec_path.read_text(encoding="utf-8"))
    binds = [b for fe in spec["frontends"].values() for b in fe["bind"]]
    ports = [int(b.rpartition(":")[2]) for b in binds]
    servers = [s for pool in spec["pools"].values() for s in pool["servers"].values()]
    addresses = [s if isinstance(s, str) else s["address"] for s in servers]
    return [*ports, *(p + NGINX_PORT_SHIFT for p in ports),
            *(int(a.rpartition(":")[2]) for a in addresses)]  # fmt: skip


def test_compose_file_names_overridable_images() -> None:
    """Image names in compose.yaml come from environment variables (official ones by default)."""
    text = (REPO / "compose.yaml").read_text(encoding="utf-8")
    for variable, default in (("LBGEN_HAPROXY_IMAGE", "haproxy:latest"),
                              ("LBGEN_NGINX_IMAGE", "nginx:latest")):  # fmt: skip
        assert f"${{{variable}:-{default}}}" in text
    # Host networking everywhere: the x-apiserver anchor (three servers), haproxy and nginx.
    assert text.count("network_mode: host") == 3
