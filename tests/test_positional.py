"""The positional loader parses with ruamel's plain scanner and parser under its round-trip
constructor (the round-trip scanner's comment gathering was a quarter of a hand-sized spec's
parse). The oracle: ruamel's whole round-trip pipeline, as the loader used before. On every
YAML file in the repository (specs with comments, the bad-spec corpus with its syntax errors)
and on comment-heavy snippets, both give the same data, the same positions, the same error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml.parser import RoundTripParser
from ruamel.yaml.scanner import RoundTripScanner

from lbgen.diagnostics import SpecError
from lbgen.spec import load

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(
    p for p in [*ROOT.glob("examples/**/*.yaml"), *ROOT.glob("tests/**/*.yaml")]
    if "integration" not in p.parts
)  # fmt: skip
SNIPPETS = [
    "# top\nversion: 1  # trailing\n# between\nname: x\n",
    "pools:\n  cp:  # the pool\n    servers:\n      # a line\n      m1: 10.0.0.1:6443 # here\n",
    "frontends: {api: {bind: [':6443'], # in flow\n  pool: cp}}\n",
    "a: |\n  # not a comment\n  text\nb: 'x # y'\n",
    "a: b #c\n#d\n  - e\n",
    "key: # comment\n  value\n",
    "- a\n# c\n- b\n",
    "a: &x {b: 1} # anchor\nc: *x\n",
    "a: 1\n  # indented comment\nb: 2\n",
    "a:\n  - 1\n  # c\n  -2\n",
    # errors
    "a: {b: 1  # unclosed\nc: 2\n",
    "a: 1\n b: 2 # bad indentation\n",
    "a: 1 # first\na: 2 # again\n",
    "a:\n\t- 1\n",
    "a: [1, 2\n# comment\n",
    "a: 'unclosed # quote\n",
    "a: !!python/name:os.system x\n",
    "- a\nb: c # mixed\n",
]


def _round_trip(text: str, filename: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        patch.setattr(load, "Scanner", RoundTripScanner)
        patch.setattr(load, "Parser", RoundTripParser)
        return _outcome(text, filename)


def _outcome(text: str, filename: str) -> Any:
    try:
        document, source = load.parse_positional(text, filename)
    except SpecError as exc:
        return ("error", [(d.code, d.message, d.line, d.col) for d in exc.diagnostics])
    return ("data", document, dict(source.keys), dict(source.values))


@pytest.mark.parametrize(
    "text", [p.read_text(errors="replace") for p in FILES] + SNIPPETS,
    ids=[str(p.relative_to(ROOT)) for p in FILES] + [f"snippet{i}" for i in range(len(SNIPPETS))],
)  # fmt: skip
def test_same_as_the_round_trip_pipeline(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load.Scanner is not RoundTripScanner
    assert _outcome(text, "spec.yaml") == _round_trip(text, "spec.yaml", monkeypatch)


def test_the_corpus_holds_comments_and_errors() -> None:
    """The comparison above means something: most files have comments, some fail to parse."""
    texts = [p.read_text(errors="replace") for p in FILES]
    assert len(texts) > 100
    assert sum("#" in t for t in texts) > 100
    assert sum(_outcome(t, "x")[0] == "error" for t in [*texts, *SNIPPETS]) >= 10
