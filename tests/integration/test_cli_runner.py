"""``lbgen check`` and ``lbgen render --validate`` through the runner of this run (Docker in CI),
as a user runs them: a real subprocess, exit codes 0 (accepted), 3 (rejected), 4 (unavailable)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lbgen.runners import first_problem

from .conftest import Figures, make_spec, render_for
from .images import EngineBuild

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

#: A one-word change per engine that the templates render and the engine refuses.
BREAK = {"haproxy": ("mode tcp", "mode tcpx"), "nginx": ("proxy_pass ", "proxy_passx ")}


def lbgen_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m lbgen ARGS`` in a subprocess, using this checkout."""
    environment = dict(env if env is not None else os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [environment.get("PYTHONPATH")])]
    )
    return subprocess.run(
        [sys.executable, "-m", "lbgen", *args],
        capture_output=True, text=True, cwd=cwd, env=environment, timeout=180, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def runner_args(build: EngineBuild, mode: str) -> list[str]:
    """``--runner docker --image IMG`` in Docker mode, ``--runner local`` otherwise."""
    return (
        ["--runner", "docker", "--image", build.image]
        if mode == "docker"
        else ["--runner", "local"]
    )


def broken_templates(engine: str, folder: Path) -> Path:
    """A --templates folder whose copies of the engine's templates render a refused config."""
    source = REPO / "templates" / engine
    target = folder / engine
    shutil.copytree(source, target)
    old, new = BREAK[engine]
    changed = 0
    for path in target.glob("*.j2"):
        text = path.read_text(encoding="utf-8")
        if old in text:
            path.write_text(text.replace(old, new), encoding="utf-8")
            changed += 1
    assert changed, f"no template of {engine} contains {old!r}"
    return folder


def test_check_and_render_validate_exit_codes(
    build: EngineBuild, mode: str, engine_ready: EngineBuild, tmp_path: Path, figures: Figures
) -> None:
    """check: good config 0, rejected 3; render --validate: good 0 (file written), a template
    override that renders a refused config 3 (old file untouched)."""
    spec = make_spec("it-cli", {"a": "127.0.0.1:27101", "b": "127.0.0.1:27102"})
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    target = build.engine
    runner = runner_args(build, mode)

    good = tmp_path / f"good.{target}"
    # nginx: the stream layout (render's default), which the check wraps; a full one would need
    # the --load-module of this build (test_engine covers that).
    layout = "full" if target == "haproxy" else "stream"
    good.write_text(render_for(spec, target, layout=layout).text, encoding="utf-8")
    old, new = BREAK[target]
    bad = tmp_path / f"bad.{target}"
    bad.write_text(good.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")

    ok = lbgen_cli("check", str(good), "--engine", target, *runner, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    rejected = lbgen_cli("check", str(bad), "--engine", target, *runner, cwd=tmp_path)
    assert rejected.returncode == 3, rejected.stderr
    assert "Traceback" not in rejected.stderr

    out = tmp_path / "out.cfg"
    written = lbgen_cli("render", str(spec_file), "-t", target, "-o", str(out), "--validate",
                       *runner, cwd=tmp_path)  # fmt: skip
    assert written.returncode == 0, written.stderr
    before = out.read_bytes()
    overrides = broken_templates(target, tmp_path / "templates")
    spec["pools"]["cp"]["servers"]["c"] = "127.0.0.1:27103"  # a change, so render would write
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    refused = lbgen_cli("render", str(spec_file), "-t", target, "-o", str(out), "--validate",
                        "--templates", str(overrides), *runner, cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 3, refused.stderr
    assert out.read_bytes() == before, "a refused config replaced the file"
    complaint = first_problem(rejected.stderr)
    figures.add("cli", f"check 0/{rejected.returncode}, render --validate 0/{refused.returncode}")
    figures.add("cli rejection", complaint)


@pytest.mark.skipif(shutil.which("docker") is None and not os.environ.get("LBGEN_REQUIRE_DOCKER"),
                    reason="no docker client here")  # fmt: skip
def test_docker_runner_unavailable_exits_4(tmp_path: Path) -> None:
    """No Docker engine reachable: exit 4, one clear line, no traceback."""
    config = tmp_path / "haproxy.cfg"
    config.write_text("defaults\n    mode tcp\n", encoding="utf-8")
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/no-docker-here.sock")
    out = lbgen_cli("check", str(config), "--engine", "haproxy", "--runner", "docker",
                    cwd=tmp_path, env=env)  # fmt: skip
    assert out.returncode == 4, out.stderr
    assert "Traceback" not in out.stderr
    assert "Docker" in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_missing_image_exits_4(mode: str, tmp_path: Path) -> None:
    """An image that is neither present nor pullable: exit 4 naming the image."""
    if mode != "docker":
        pytest.skip("needs Docker")
    config = tmp_path / "haproxy.cfg"
    config.write_text("defaults\n    mode tcp\n", encoding="utf-8")
    image = "lbgen-engine:no-such-release"
    out = lbgen_cli("check", str(config), "--engine", "haproxy", "--runner", "docker",
                    "--image", image, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 4, out.stderr
    assert image in out.stderr and "Traceback" not in out.stderr
