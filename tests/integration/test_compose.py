"""The compose demo comes up with the local engine images and serves kubectl through both LBs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from .clients import kubectl
from .conftest import REQUIRE_DOCKER, Figures
from .demo import REPO, prepare
from .dockerd import DockerEngine
from .images import configured_builds, ensure_image, our_image

pytestmark = pytest.mark.integration


def compose_command() -> list[str] | None:
    """``docker compose`` (v2 plugin) or ``docker-compose`` (v1), whichever works here."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


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
    figures: Figures,
) -> None:  # fmt: skip
    """``compose up`` the demo (three fake API servers, haproxy, nginx), kubectl /version through
    both load balancers, ``compose down``."""
    if mode != "docker" or docker_engine is None:
        pytest.skip("the compose demo needs Docker")
    compose = compose_command()
    if compose is None:
        message = "neither 'docker compose' nor 'docker-compose' is installed"
        if REQUIRE_DOCKER:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    builds = configured_builds()
    haproxy = next(b.image for b in builds if b.engine == "haproxy")
    nginx = next(b.image for b in builds if b.engine == "nginx")
    python_image = os.environ.get("LBGEN_DEMO_PYTHON_IMAGE") or our_image("bookworm")
    for image in (haproxy, nginx, python_image):
        ensure_image(docker_engine.client, image)

    demo_dir = tmp_path / "demo"
    info = prepare(out=demo_dir)
    ports = [*info["haproxy"], *info["nginx"]]
    ports += [int(s["address"].rpartition(":")[2]) for s in info["apiservers"]]
    busy = [port for port in ports if not _port_free(port)]
    assert not busy, f"the demo's ports are taken on this machine: {busy}"

    env = dict(os.environ, LBGEN_HAPROXY_IMAGE=haproxy, LBGEN_NGINX_IMAGE=nginx,
               LBGEN_DEMO_PYTHON_IMAGE=python_image, LBGEN_DEMO_DIR=str(demo_dir))  # fmt: skip
    project = f"lbgen-demo-test-{uuid.uuid4().hex[:8]}"
    base = [*compose, "-f", str(REPO / "compose.yaml"), "-p", project]
    started = time.monotonic()
    try:
        up = subprocess.run([*base, "up", "-d"], capture_output=True, text=True, env=env,
                            cwd=REPO, timeout=300, check=False)  # fmt: skip
        assert up.returncode == 0, up.stdout + up.stderr
        names = {s["name"] for s in info["apiservers"]}
        answers = {}
        for engine in ("haproxy", "nginx"):
            port = info[engine][0]
            answers[engine] = json.loads(_wait_kubectl(port, demo_dir / "ca.pem", kube_home))
            assert answers[engine]["fakeServer"] in names, answers[engine]
        ready_after = time.monotonic() - started
    finally:
        logs = subprocess.run([*base, "logs", "--no-color"], capture_output=True, text=True,
                              env=env, cwd=REPO, timeout=120, check=False)  # fmt: skip
        down = subprocess.run([*base, "down", "-t", "5", "--remove-orphans"], capture_output=True,
                              text=True, env=env, cwd=REPO, timeout=300, check=False)  # fmt: skip
    assert down.returncode == 0, down.stdout + down.stderr
    figures.add(
        "compose demo",
        f"{' '.join(compose)}: both LBs answered {ready_after:.1f}s after 'up' "
        f"(haproxy -> {answers['haproxy']['fakeServer']}, "
        f"nginx -> {answers['nginx']['fakeServer']})",
    )
    assert "Traceback" not in logs.stdout, logs.stdout[-3000:]


def test_compose_file_names_overridable_images() -> None:
    """Image names in compose.yaml come from environment variables (official ones by default)."""
    text = (REPO / "compose.yaml").read_text(encoding="utf-8")
    for variable, default in (("LBGEN_HAPROXY_IMAGE", "haproxy:latest"),
                              ("LBGEN_NGINX_IMAGE", "nginx:latest")):  # fmt: skip
        assert f"${{{variable}:-{default}}}" in text
    # Host networking everywhere: the x-apiserver anchor (three servers), haproxy and nginx.
    assert text.count("network_mode: host") == 3
