"""The wheel carries its templates: install it (not editable) in a fresh venv, render elsewhere."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding lbgen's wheel; its dependencies come from the test run's own environment.

    ``system_site_packages`` would expose the *base* interpreter's site-packages, not the test
    venv's, so a ``.pth`` file adds the running interpreter's purelib/platlib instead (``.pth``
    files inside those folders are not processed, so the editable lbgen stays invisible).
    """
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(work / "dist"), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, f"building the wheel failed:\n{build.stdout}\n{build.stderr}"
    wheel = next((work / "dist").glob("lbgen-*.whl"))
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    own_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(own_site) / "lbgen-test-deps.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return env_dir


def test_wheel_holds_templates(installed: Path) -> None:
    python = installed / "bin" / "python"
    where = subprocess.run(
        [str(python), "-c", "import lbgen.rendering as r; print(r.packaged_templates())"],
        capture_output=True, text=True, check=True, cwd="/", timeout=60,
    ).stdout.strip()  # fmt: skip
    assert where.startswith(str(installed)), where
    assert (Path(where) / "haproxy" / "haproxy.cfg.j2").is_file()
    assert (Path(where) / "nginx" / "stream-body.conf.j2").is_file()


@pytest.mark.parametrize(
    ("target", "marker"),
    [("haproxy", "backend control-plane"), ("nginx", "upstream control-plane {")],
)
def test_console_script_renders_from_another_folder(
    installed: Path, tmp_path: Path, target: str, marker: str
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text((ROOT / "examples" / "local-demo.yaml").read_text())
    result = subprocess.run(
        [str(installed / "bin" / "lbgen"), "render", "spec.yaml", "-t", target],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout


def test_python_dash_m(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(installed / "bin" / "python"), "-m", "lbgen", "--version"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.startswith("lbgen ")


def test_wheel_is_typed_for_its_users(installed: Path, tmp_path: Path) -> None:
    """PEP 561: the wheel carries ``py.typed``, so a user's mypy checks calls into lbgen's API
    against its annotations (without it mypy refuses to look: "missing library stubs")."""
    user = tmp_path / "user.py"
    user.write_text("import lbgen\n\ncount: int = lbgen.load_spec('spec.yaml')\n")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--python-executable", str(installed / "bin" / "python"), str(user)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert "py.typed" not in result.stdout, result.stdout
    assert 'expression has type "Spec", variable has type "int"' in result.stdout, result.stdout
