"""Determinism: the same spec renders byte-identical output every time, in one process and in
separate processes (different hash seeds), for every target and layout; output order follows
spec order."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lbgen
from lbgen.diagnostics import format_text
from lbgen.view import LAYOUTS

ROOT = Path(__file__).parent.parent
CASES = ROOT / "tests" / "cases"
TARGET_LAYOUTS = [(t, layout) for t, layouts in LAYOUTS.items() for layout in layouts]
#: Cases rendered by separate processes (a process per target/layout is slow; these between
#: them have several frontends/pools, IPv6, DNS names, percentages and every diagnostic kind).
PROCESS_CASES = ["kubernetes-api", "multiple-frontends-pools", "percent-weights"]


def case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if (p / "spec.yaml").is_file())


def render_text(spec_path: Path, target: str, layout: str) -> tuple[str, str]:
    """Rendered text and the diagnostics as text, from a fresh load of the file."""
    spec = lbgen.load_spec(spec_path)
    rendered = lbgen.render(spec, target, layout=layout, allow_errors=True)
    return rendered.text, format_text(rendered.diagnostics)


def run_render(spec_path: Path, target: str, layout: str, seed: str) -> str:
    """``python -m lbgen render`` in a new process with its own hash seed; its stdout."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONHASHSEED": seed, "NO_COLOR": "1", "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, "-m", "lbgen", "render", str(spec_path), "-t", target, "--layout", layout],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("name", case_names())
def test_rendering_twice_in_process_is_identical(name: str) -> None:
    spec_path = CASES / name / "spec.yaml"
    for target, layout in TARGET_LAYOUTS:
        first = render_text(spec_path, target, layout)
        second = render_text(spec_path, target, layout)
        assert first == second, f"{name} {target}/{layout} differs between two renders"
        # one loaded spec rendered twice, too
        spec = lbgen.load_spec(spec_path)
        assert lbgen.render(spec, target, layout=layout, allow_errors=True) == lbgen.render(
            spec, target, layout=layout, allow_errors=True
        )


@pytest.mark.parametrize(("target", "layout"), TARGET_LAYOUTS)
@pytest.mark.parametrize("name", PROCESS_CASES)
def test_two_processes_render_identical_bytes(name: str, target: str, layout: str) -> None:
    spec_path = CASES / name / "spec.yaml"
    first = run_render(spec_path, target, layout, seed="1")
    second = run_render(spec_path, target, layout, seed="4242")
    assert first == second
    assert first == render_text(spec_path, target, layout)[0]
    assert "spec-sha256: " in first
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", first), "no timestamp in the output"


# --- order ---------------------------------------------------------------------------------

ORDERED = """\
version: 1
name: order
frontends:
  fe-one:
    bind: ["0.0.0.0:6443"]
    pool: pool-a
  fe-two:
    bind: ["0.0.0.0:7443"]
    pool: pool-b
pools:
  pool-a:
    servers:
      srv-x: 10.0.0.1:6443
      srv-y: 10.0.0.2:6443
  pool-b:
    servers:
      srv-z: 10.0.1.1:6443
"""
FRONTENDS_SWAPPED = ORDERED.replace(
    '  fe-one:\n    bind: ["0.0.0.0:6443"]\n    pool: pool-a\n'
    '  fe-two:\n    bind: ["0.0.0.0:7443"]\n    pool: pool-b\n',
    '  fe-two:\n    bind: ["0.0.0.0:7443"]\n    pool: pool-b\n'
    '  fe-one:\n    bind: ["0.0.0.0:6443"]\n    pool: pool-a\n',
)
POOLS_SWAPPED = ORDERED.replace(
    "  pool-a:\n    servers:\n      srv-x: 10.0.0.1:6443\n      srv-y: 10.0.0.2:6443\n"
    "  pool-b:\n    servers:\n      srv-z: 10.0.1.1:6443\n",
    "  pool-b:\n    servers:\n      srv-z: 10.0.1.1:6443\n"
    "  pool-a:\n    servers:\n      srv-x: 10.0.0.1:6443\n      srv-y: 10.0.0.2:6443\n",
)
SERVERS_SWAPPED = ORDERED.replace(
    "      srv-x: 10.0.0.1:6443\n      srv-y: 10.0.0.2:6443\n",
    "      srv-y: 10.0.0.2:6443\n      srv-x: 10.0.0.1:6443\n",
)

#: What marks each item in each engine's output.
MARKERS = {
    "haproxy": {
        "fe-one": "\nfrontend fe-one\n", "fe-two": "\nfrontend fe-two\n",
        "pool-a": "\nbackend pool-a\n", "pool-b": "\nbackend pool-b\n",
        "srv-x": "server srv-x ", "srv-y": "server srv-y ",
    },
    "nginx": {
        "fe-one": "# frontend fe-one", "fe-two": "# frontend fe-two",
        "pool-a": "upstream pool-a {", "pool-b": "upstream pool-b {",
        "srv-x": "server 10.0.0.1:6443", "srv-y": "server 10.0.0.2:6443",
    },
}  # fmt: skip


def order_of(text: str, engine: str, first: str, second: str) -> bool:
    """True when ``first`` comes before ``second`` in ``text``."""
    a, b = text.index(MARKERS[engine][first]), text.index(MARKERS[engine][second])
    return a < b


@pytest.mark.parametrize(("target", "layout"), TARGET_LAYOUTS)
@pytest.mark.parametrize(
    ("swapped", "first", "second"),
    [
        (FRONTENDS_SWAPPED, "fe-one", "fe-two"),
        (POOLS_SWAPPED, "pool-a", "pool-b"),
        (SERVERS_SWAPPED, "srv-x", "srv-y"),
    ],
    ids=["frontends", "pools", "servers"],
)
def test_output_order_follows_spec_order(
    swapped: str, first: str, second: str, target: str, layout: str
) -> None:
    assert swapped != ORDERED
    engine = "haproxy" if target == "haproxy" else "nginx"
    before = lbgen.render(lbgen.load_spec(ORDERED.encode()), target, layout=layout).text
    after = lbgen.render(lbgen.load_spec(swapped.encode()), target, layout=layout).text
    assert order_of(before, engine, first, second)
    assert not order_of(after, engine, first, second)
