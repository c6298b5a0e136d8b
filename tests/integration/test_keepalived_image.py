"""keepalived in the project's engine images: ``lbgen check --engine keepalived --runner docker``
checks a rendered keepalived.conf with the image's keepalived (exit 0) and refuses a broken one
with keepalived's own message (exit 3). Without Docker (local mode) the same checks run the host's
keepalived, so the test measures the same behaviour on a laptop.

keepalived checks a config for the machine it runs on and the container shares the host's
network, so the spec names an interface this host has (``keepalived -t`` refuses ``lo``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import lbgen

from .conftest import integration_mode
from .dockerd import DockerEngine
from .images import ImageUnavailable, configured_builds, ensure_images, suite_of
from .test_cli_runner import lbgen_cli

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _targets() -> list[str]:
    """Our images (the ones that carry keepalived) in Docker mode, ``local`` otherwise."""
    if integration_mode() != "docker":
        return ["local"]
    ours = sorted({b.image for b in configured_builds() if suite_of(b.image) is not None})
    return ours or ["lbgen-engine:bookworm"]


def _host_interface() -> str:
    """A non-loopback interface of this host (the default route's when there is one)."""
    routes = Path("/proc/net/route").read_text().splitlines()[1:]
    for line in routes:
        fields = line.split()
        if len(fields) > 1 and fields[1] == "00000000":
            return fields[0]
    names = sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name != "lo")
    assert names, "this host has no interface but lo"
    return names[0]


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest, docker_engine: DockerEngine | None) -> Iterator[str]:
    """The image (present or built) or ``local``."""
    name: str = request.param
    if name == "local":
        if shutil.which("keepalived", path="/usr/sbin:/usr/bin:/sbin") is None:
            pytest.skip("no Docker and no local keepalived")
        yield name
        return
    assert docker_engine is not None
    problem = ""
    try:
        ensure_images(docker_engine.client, [name])
    except ImageUnavailable as exc:
        problem = str(exc)
    if problem:
        pytest.fail(f"engine image unavailable: {problem}", pytrace=False)
    yield name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One run per image that carries keepalived."""
    if "target" in metafunc.fixturenames:
        names = _targets()
        metafunc.parametrize("target", names, ids=names, indirect=True, scope="module")


def test_keepalived_check_in_the_image(target: str, tmp_path: Path) -> None:
    """A rendered node config passes (0); a VRID out of range is refused (3) with keepalived's
    message naming the line; no image and no LBGEN_KEEPALIVED_IMAGE is one line and exit 4."""
    spec_text = (REPO / "examples" / "ha-tier.yaml").read_text(encoding="utf-8")
    spec = lbgen.load_spec(
        spec_text.replace("interface: eth0", f"interface: {_host_interface()}").encode()
    )
    text = lbgen.render(spec, "keepalived", node="lb1").text
    good = tmp_path / "keepalived.conf"
    good.write_text(text, encoding="utf-8")
    assert "virtual_router_id 51\n" in text
    bad = tmp_path / "bad.conf"
    bad.write_text(text.replace("virtual_router_id 51", "virtual_router_id 300"), encoding="utf-8")
    line = text[: text.index("virtual_router_id 51")].count("\n") + 1
    runner = (
        ["--runner", "local"] if target == "local" else ["--runner", "docker", "--image", target]
    )

    result = lbgen_cli("check", "--engine", "keepalived", *runner, str(good), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "accepted the config" in result.stderr, result.stderr

    result = lbgen_cli("check", "--engine", "keepalived", *runner, str(bad), cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert f"Line {line}) number '300' outside range [1, 255]" in result.stderr, result.stderr
    assert "rejected the config" in result.stderr, result.stderr

    if target != "local":
        env = {k: v for k, v in os.environ.items() if k != "LBGEN_KEEPALIVED_IMAGE"}
        result = lbgen_cli(
            "check", "--engine", "keepalived", "--runner", "docker", str(good), cwd=tmp_path,
            env=env,
        )  # fmt: skip
        assert result.returncode == 4, result.stderr
        assert "keepalived has no official image" in result.stderr, result.stderr
