"""The library as the README shows it: the example runs as written, and an error-level rendering
cannot reach ``lbgen.check`` by mistake."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import lbgen

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / "examples" / "local-demo.yaml"


def readme_library_example() -> str:
    """The Python block of the README's Library section."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("### Library", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README's Library section has no python example"
    return match.group(1)


def run_example(folder: Path, spec_text: str) -> subprocess.CompletedProcess[str]:
    (folder / "cluster.yaml").write_text(spec_text, encoding="utf-8")
    (folder / "example.py").write_text(readme_library_example(), encoding="utf-8")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    return subprocess.run(
        [sys.executable, "example.py"], capture_output=True, text=True, cwd=folder, env=env,
        timeout=120, check=False,
    )  # fmt: skip


def test_readme_example_renders_and_checks(tmp_path: Path) -> None:
    result = run_example(tmp_path, LOCAL.read_text(encoding="utf-8"))
    assert result.returncode == 0, result.stderr
    assert "nginx (local) accepted the config" in result.stdout
    assert "nginx-unsupported" in result.stdout  # the warnings are shown, the text is used


def test_readme_example_stops_at_an_error_level_rendering(tmp_path: Path) -> None:
    spec = LOCAL.read_text(encoding="utf-8").replace("balance: roundrobin", "balance: first")
    assert "balance: first" in spec
    result = run_example(tmp_path, spec)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "nginx-balance-first" in result.stdout
    assert "accepted the config" not in result.stdout  # never handed to the engine


def test_render_raises_with_every_diagnostic_unless_errors_are_allowed() -> None:
    spec = lbgen.load_spec(LOCAL.read_bytes().replace(b"balance: roundrobin", b"balance: first"))
    with pytest.raises(lbgen.RenderError) as raised:
        lbgen.render(spec, "nginx")
    assert isinstance(raised.value, lbgen.SpecError)
    codes = [d.code for d in raised.value.diagnostics]
    assert "nginx-balance-first" in codes and "nginx-unsupported" in codes  # errors and warnings
    assert "nginx-balance-first" in str(raised.value)
    rendered = lbgen.render(spec, "nginx", allow_errors=True)
    assert not rendered.ok and rendered.diagnostics == raised.value.diagnostics
    assert raised.value.rendered == rendered
    assert lbgen.render(spec, "haproxy").ok  # HAProxy has `balance first`: no error there


def test_specs_compare_by_their_settings_not_by_where_they_were_loaded_from(tmp_path: Path) -> None:
    """Two loads of one spec are equal (pydantic's own comparison recursed forever through the
    loader's record); a changed setting makes them differ, whatever the file."""
    text = LOCAL.read_text(encoding="utf-8")
    copy = tmp_path / "copy.yaml"
    copy.write_text(text, encoding="utf-8")
    assert lbgen.load_spec(LOCAL) == lbgen.load_spec(copy)
    changed = tmp_path / "changed.yaml"
    changed.write_text(text.replace("name: local-demo", "name: renamed"), encoding="utf-8")
    assert lbgen.load_spec(LOCAL) != lbgen.load_spec(changed)
