"""Golden cases: every spec under tests/cases/ renders byte-for-byte to its expected outputs,
and every expected output is accepted by the real engine (haproxy -c -dW, nginx -t).

Regenerate after an intended change with:  pytest tests/test_golden.py --update-golden
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

import lbgen
from lbgen.diagnostics import SpecError, format_text
from lbgen.rendering import Rendered
from tests.engine_check import engine_check

CASES = Path(__file__).parent / "cases"
#: (target, layout, expected file name); nginx-plus output is compared but no OSS engine can
#: check its Plus-only directives (health_check, match), so it is not engine-validated.
OUTPUTS = [
    ("haproxy", "full", "haproxy.cfg"),
    ("nginx", "stream", "nginx.stream.conf"),
    ("nginx", "full", "nginx.full.conf"),
    ("nginx", "upstreams", "nginx.upstreams.conf"),
    ("nginx-plus", "stream", "nginx-plus.stream.conf"),
]
ENGINE = {"haproxy": "haproxy", "nginx": "nginx"}
REGENERATE = "pytest tests/test_golden.py --update-golden"


def case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if (p / "spec.yaml").is_file())


def render_case(name: str, target: str, layout: str, load_module: str | None = None) -> Rendered:
    spec_path = CASES / name / "spec.yaml"
    spec = lbgen.load_spec(spec_path.read_bytes(), filename=f"{name}/spec.yaml")
    options = {"load_module": load_module} if load_module else {}
    return lbgen.render(spec, target, layout=layout, allow_errors=True, **options)


def golden_text(rendered: Rendered) -> tuple[str | None, str]:
    """The output (None when the translation has errors) and the diagnostics listing."""
    listing = format_text(rendered.diagnostics)
    return (rendered.text if rendered.ok else None), (listing + "\n" if listing else "")


def compare(expected_path: Path, actual: str | None, update: bool) -> None:
    """Assert ``actual`` equals the file (absent when None); rewrite it under --update-golden."""
    if update:
        if actual is None:
            expected_path.unlink(missing_ok=True)
        else:
            expected_path.write_text(actual, encoding="utf-8")
        return
    expected = expected_path.read_text(encoding="utf-8") if expected_path.exists() else None
    if expected == actual:
        return
    if expected is None or actual is None:
        state = "missing" if expected is None else "expected no output (translation errors)"
        pytest.fail(f"{expected_path}: {state}; to regenerate run: {REGENERATE}")
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True), actual.splitlines(keepends=True),
            fromfile=str(expected_path), tofile="rendered",
        )
    )  # fmt: skip
    pytest.fail(
        f"{expected_path} differs from the rendered text:\n{diff}\nregenerate: {REGENERATE}"
    )


PARAMS = [
    pytest.param(name, target, layout, filename, id=f"{name}-{filename}")
    for name in case_names()
    for target, layout, filename in OUTPUTS
]


@pytest.mark.parametrize(("name", "target", "layout", "filename"), PARAMS)
def test_golden_output(
    name: str, target: str, layout: str, filename: str, update_golden: bool
) -> None:
    rendered = render_case(name, target, layout)
    text, listing = golden_text(rendered)
    folder = CASES / name
    compare(folder / filename, text, update_golden)
    compare(folder / f"{filename}.diagnostics", listing or None, update_golden)


@pytest.mark.parametrize(
    ("name", "target", "layout", "filename"),
    [p for p in PARAMS if p.values[1] in ENGINE],
)
def test_golden_output_accepted_by_engine(
    name: str, target: str, layout: str, filename: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = CASES / name / filename
    if not expected.exists():
        # The translation itself has errors: the diagnostics file is the expectation.
        assert (CASES / name / f"{filename}.diagnostics").read_text().count(" error ") >= 1
        return
    monkeypatch.chdir(CASES / name)  # client_cert paths in specs are relative to the case
    result = engine_check(expected.read_bytes(), ENGINE[target], strict=True)
    if result.load_module:
        # A full nginx config as rendered without --load-module, on an nginx that loads stream
        # dynamically: the check says so (and only then); render it as the hint says.
        assert layout == "full" and not result.ok, result.output
        text = render_case(name, target, layout, load_module=result.load_module).text
        result = engine_check(text, ENGINE[target], strict=True)
    assert result.ok, f"{target} rejected {expected}:\n{result.output}"


def test_there_are_enough_cases() -> None:
    assert len(case_names()) >= 20


@pytest.mark.parametrize("name", case_names())
def test_case_spec_is_valid(name: str) -> None:
    try:
        lbgen.load_spec(CASES / name / "spec.yaml")
    except SpecError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(format_text(exc.diagnostics))
