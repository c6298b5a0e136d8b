"""Lint over the real-world corpus (issue 10): every finding labelled, zero false positives.

tests/corpus/lint-labels.yaml labels each finding of ``lbgen lint`` on tests/corpus/real as a
true or false positive (``findings``), and keeps the false positives lint used to report before
they were fixed (``fixed``). The findings table (per code: total, true, false) is printed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from lbgen.lint import lint_path

CORPUS = Path(__file__).parent / "corpus"
REAL = CORPUS / "real"
Key = tuple[str, int, str, str]


def _labels() -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = YAML(typ="safe").load(
        (CORPUS / "lint-labels.yaml").read_text(encoding="utf-8")
    )
    return data


def _key(label: dict[str, Any]) -> Key:
    return (str(label["file"]), int(label["line"]), str(label["code"]), str(label["subject"]))


def _findings() -> list[Key]:
    found: list[Key] = []
    for path in sorted(p for p in REAL.iterdir() if p.suffix in (".cfg", ".conf")):
        # 2.6 (the version the corpus is checked with): no dependence on the local binary
        for diag in lint_path(path, engine_version=(2, 6)):
            found.append((path.name, diag.line or 0, diag.code, diag.message.split(": ")[0]))
    return found


def test_every_corpus_finding_is_labelled_and_true() -> None:
    labels = _labels()
    by_key = {_key(label): label for label in labels["findings"]}
    found = _findings()
    table: dict[str, Counter[str]] = {}
    for key in found:
        verdict = by_key.get(key, {}).get("verdict")
        table.setdefault(key[2], Counter())["true" if verdict is True else "false"] += 1
    print("\nlint over tests/corpus/real: code  total  true  false")
    for code in sorted(table):
        counts = table[code]
        print(f"  {code}  {counts.total():5}  {counts['true']:4}  {counts['false']:5}")
    print(f"  all    {len(found):5}  {sum(c['true'] for c in table.values()):4}  "
          f"{sum(c['false'] for c in table.values()):5}")  # fmt: skip
    print(f"  false positives fixed (kept in 'fixed'): {len(labels['fixed'])}")
    unlabelled = [key for key in found if key not in by_key]
    assert unlabelled == [], f"findings without a label: {unlabelled}"
    stale = [key for key in by_key if key not in set(found)]
    assert stale == [], f"labels matching no finding: {stale}"
    false = [key for key in found if by_key[key]["verdict"] is not True]
    assert false == [], f"false positives: {false}"
    assert all(str(label["reason"]).strip() for label in labels["findings"])


def test_fixed_false_positives_stay_gone() -> None:
    labels = _labels()
    found = set(_findings())
    fixed = [_key(label) for label in labels["fixed"]]
    assert all(label["verdict"] is False for label in labels["fixed"])
    assert fixed, "the fixed false positives are the regression fixture"
    back = [key for key in fixed if key in found]
    assert back == [], f"false positives reported again: {back}"
