"""The real-world corpus (tests/corpus/real): provenance, size, and acceptance by the real engines.

Every file is a kube-apiserver load-balancer config from a public project, rendered by hand where
it is a template (see tests/corpus/real/SOURCES.md). A file the real engine refuses is not a config
anyone runs, so each one is checked with ``haproxy -c`` / ``nginx -t`` here.

The engines run in a private network and mount namespace set up by tests/corpus_engines.py
(loopback up with the listen addresses, a private /etc/hosts for the server names, etc.); only a
temporary copy of the file is changed, and only where this machine differs from the one the
config was written for (see that module's docstring).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from tests.corpus_engines import (
    CORPUS,
    FILES,
    binary,
    can_isolate,
    check_command,
    engine_of,
    isolated,
    prepare,
)

SOURCES = CORPUS / "SOURCES.md"
SOURCE_LINE = re.compile(r"^# source: [A-Za-z0-9][\w.-]*/[\w.-]+:\S+")


def project_of(path: Path) -> str:
    """The owner/repo the file's first line names (the project it comes from)."""
    match = re.match(r"# source: ([^:\s]+):", path.read_text().splitlines()[0])
    assert match, path.name
    return match.group(1)


def sources_rows() -> dict[str, list[str]]:
    """SOURCES.md's table rows by file name (cells stripped of backticks)."""
    rows = {}
    for line in SOURCES.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0].endswith((".cfg", ".conf")):
            rows[cells[0]] = cells
    return rows


def test_every_file_names_its_source() -> None:
    assert FILES, "no corpus files"
    bad = [p.name for p in FILES if not SOURCE_LINE.match(p.read_text().splitlines()[0])]
    assert bad == []


def test_sources_table_lists_exactly_the_files() -> None:
    rows = sources_rows()
    assert sorted(rows) == [p.name for p in FILES]
    for path in FILES:
        row = rows[path.name]
        assert row[1] == engine_of(path), path.name
        # The table's source path is the one the file's first line names.
        assert row[3] in path.read_text().splitlines()[0], path.name


def test_corpus_size() -> None:
    projects = {project_of(p) for p in FILES}
    engines = [engine_of(p) for p in FILES]
    print(
        f"\ncorpus: {len(FILES)} files ({engines.count('haproxy')} haproxy, "
        f"{engines.count('nginx')} nginx) from {len(projects)} projects"
    )
    assert len(FILES) >= 30
    assert len(projects) >= 15
    assert engines.count("haproxy") >= 10 and engines.count("nginx") >= 10


@pytest.mark.skipif(not can_isolate(), reason="needs root, unshare, ip and ss")
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_real_engine_accepts(path: Path) -> None:
    engine = engine_of(path)
    if binary(engine) is None:
        pytest.fail(f"{engine} is not installed: the corpus must be checked by the real engine")
    with tempfile.TemporaryDirectory(prefix="lbgen-corpus-") as name:
        folder = Path(name)
        copy, addresses, names = prepare(path, folder)
        result = isolated(check_command(engine, copy), addresses, names, folder)
    assert result.returncode == 0, f"{engine} refused {path.name}:\n{result.stdout}{result.stderr}"
