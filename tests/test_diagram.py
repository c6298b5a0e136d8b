"""The README's diagrams are rendered from their text sources: each committed ``docs/*.svg`` says
what ``dot -Tsvg`` makes of its ``docs/*.dot`` (``scripts/diagram`` regenerates them).

Compared: every node's and edge's title and every label, in order, not the coordinates, which
differ between Graphviz versions; so the test holds on any machine with ``dot`` (scripts/test
installs Debian's graphviz) and fails when a source is edited without regenerating its SVG.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "docs").glob("*.dot"))
SVG = "{http://www.w3.org/2000/svg}"

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")


def content(svg: bytes) -> list[tuple[str, str]]:
    """The titles (nodes, edges, clusters) and the label texts of an SVG, in document order."""
    root = ET.fromstring(svg)
    return [
        (element.tag.removeprefix(SVG), (element.text or "").strip())
        for element in root.iter()
        if element.tag in (f"{SVG}title", f"{SVG}text")
    ]


def test_there_is_a_diagram_and_the_readme_shows_it() -> None:
    assert [p.name for p in SOURCES] == ["vip-tier.dot"]
    assert "![" in (readme := (ROOT / "README.md").read_text(encoding="utf-8"))
    assert "(docs/vip-tier.svg)" in readme


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_each_committed_svg_is_what_its_source_renders_to(source: Path) -> None:
    fresh = subprocess.run(
        ["dot", "-Tsvg", str(source)], capture_output=True, check=True, timeout=60
    ).stdout
    committed = source.with_suffix(".svg").read_bytes()
    found = content(committed)
    assert ("title", "ka1->ka2") in found  # the VRRP adverts between the nodes
    assert found == content(fresh), f"{source.name} changed: run scripts/diagram"
