"""The round trip on the real-world corpus (issue 10): ``import`` every config of
tests/corpus/real, then ``diff`` the imported spec against the original; the engine would behave
the same, so the answer must be ``equivalent``.

The few configs that cannot come back equivalent are listed in :data:`EXCEPTIONS` with the reason
(the README's corpus paragraph gives the same list). An exception that starts to round-trip
fails too, so the list stays true. The figures are printed in the test output, as
``scripts/corpus-report`` prints them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import lbgen
from lbgen.importer import import_config
from tests.corpus_engines import FILES, engine_of
from tests.support import figure

#: Corpus files whose import is not equivalent to the original, with the reason.
EXCEPTIONS: dict[str, str] = {}

_RESULTS: dict[str, list[str]] = {}


def round_trip(path: Path, tmp_path: Path) -> list[str]:
    """The differences ``diff`` finds between ``path`` and what its import renders."""
    engine = engine_of(path)
    imported = import_config(path.read_text(encoding="utf-8"), str(path), engine)
    assert imported.ok, [d.message for d in imported.diagnostics]
    spec_file = tmp_path / f"{path.stem}.yaml"
    spec_file.write_text(imported.yaml_text, encoding="utf-8")
    spec = lbgen.load_spec(spec_file)
    result = lbgen.diff(spec, imported.target, path)
    return [change.text() for change in result.changes]


@pytest.fixture(scope="module", autouse=True)
def _print_figures() -> Iterator[None]:
    yield
    if not _RESULTS:
        return
    by_engine: dict[str, list[bool]] = {}
    for name, changes in _RESULTS.items():
        by_engine.setdefault(engine_of(Path(name)), []).append(not changes)
    total = sum(sum(flags) for flags in by_engine.values())
    parts = ", ".join(f"{e} {sum(f)}/{len(f)}" for e, f in sorted(by_engine.items()))
    figure(
        "test_corpus_round_trip",
        f"\n[corpus round trip] equivalent: {total}/{len(_RESULTS)} ({parts})",
    )
    for name, changes in sorted(_RESULTS.items()):
        if changes:
            figure(
                "test_corpus_round_trip",
                f"[corpus round trip] {name}: {len(changes)} differences: {changes[0]}",
            )


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_import_then_diff_is_equivalent(path: Path, tmp_path: Path) -> None:
    changes = round_trip(path, tmp_path)
    _RESULTS[path.name] = changes
    if path.name in EXCEPTIONS:
        assert changes, f"{path.name} round-trips now: drop it from EXCEPTIONS and the README"
    else:
        assert not changes, "\n".join(changes)


def test_every_exception_is_a_corpus_file_with_a_reason() -> None:
    names = {p.name for p in FILES}
    assert set(EXCEPTIONS) <= names
    assert all(len(reason) > 20 for reason in EXCEPTIONS.values())
