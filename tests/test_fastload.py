"""The loader's fast paths (lbgen.spec.fastload) give exactly what the positional loader gives:
the same data, the same positions, and — through recovered positions — the same diagnostics.

The reference is the positional loader itself (``parse_positional``, or ``load`` with the fast
paths switched off), over the golden cases, the examples, the bad-spec corpus (as YAML and
converted to JSON) and generated documents.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbgen.diagnostics import SpecError
from lbgen.spec import fastload
from lbgen.spec.load import LoadedSpec, load, parse_positional
from lbgen.spec.source import SpecSource

ROOT = Path(__file__).parent.parent
GOLDEN = sorted((ROOT / "tests" / "cases").glob("*/spec.yaml"))
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
BAD = sorted((ROOT / "tests" / "bad").glob("*.yaml"))


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.fixture
def every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the libyaml path take small documents too (it normally starts at 16 KiB)."""
    monkeypatch.setattr(fastload, "FAST_YAML_MIN", 0)


def _typed(value: Any) -> Any:
    """Data with every scalar's type spelt out, so that True != 1 and "1" != 1 in comparisons."""
    if isinstance(value, dict):
        return [(_typed(k), _typed(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, str):  # ruamel keeps a quoted or block key as a str subclass
        return ("str", str(value))
    return (type(value).__name__, value)


def _same_as_positional(text: str) -> bool:
    """Whether the libyaml path took ``text``; when it did, it matches the positional loader."""
    fast_source = SpecSource("s")
    fast = fastload.compose_yaml(text, fast_source)
    if fast is None:
        assert not fast_source.keys and not fast_source.values, "declining leaves no positions"
        return False
    slow, slow_source = parse_positional(text, "s")
    assert _typed(fast) == _typed(slow)
    assert fast_source.keys == slow_source.keys
    assert fast_source.values == slow_source.values
    return True


@pytest.mark.usefixtures("every_size")
@pytest.mark.parametrize("path", GOLDEN + EXAMPLES, ids=_id)
def test_libyaml_path_takes_and_matches_good_specs(path: Path) -> None:
    assert _same_as_positional(path.read_text(encoding="utf-8"))


@pytest.mark.usefixtures("every_size")
@pytest.mark.parametrize("path", BAD, ids=_id)
def test_libyaml_path_matches_or_declines_bad_specs(path: Path) -> None:
    _same_as_positional(path.read_text(encoding="utf-8"))


@pytest.mark.usefixtures("every_size")
@pytest.mark.parametrize(
    "text",
    [
        "a: &x {b: 1}\nc: *x\n",  # alias
        "base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n",  # merge key
        "a: !!str 5\n",  # explicit tag
        "a: 1\na: 2\n",  # duplicate key
        "a: 1.5\n",  # float
        "a: 2001-12-14\n",  # timestamp
        "a: 012\n",  # not plain decimal
        "a: 0x1f\n",
        "1: x\n",  # a non-string key
        "%YAML 1.1\n---\na: yes\n",  # directive
        "a: b\tc\n",  # tab
        "a: '\u2028'\n",  # a YAML 1.1 line break
        '"a": "\\ud800"\n',  # lone surrogate
        "a: [" * 40 + "]" * 40 + "\n",  # deep
        "- a\n- b\n",  # not a mapping
        "a: b\n---\nc: d\n",  # two documents
        "a: [1, 2\n",  # syntax error
    ],
)
def test_libyaml_path_declines_what_it_cannot_be_sure_of(text: str) -> None:
    assert fastload.compose_yaml(text, SpecSource("s")) is None


def _json_of(path: Path) -> str | None:
    try:
        data, _ = parse_positional(path.read_text(encoding="utf-8"), "s")
    except SpecError:
        return None
    if not isinstance(data, dict):
        return None
    return json.dumps(data, indent=2, ensure_ascii=False)


def _load(text: str, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> LoadedSpec | SpecError:
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(fastload, "parse_json", lambda text: None)
            patch.setattr(fastload, "FAST_YAML_MIN", 1 << 60)
        try:
            return load(text.encode("utf-8", "surrogatepass"), filename="s.json")
        except SpecError as exc:
            return exc


def _outcome(result: LoadedSpec | SpecError) -> Any:
    if isinstance(result, SpecError):
        return ("error", [(d.level, d.code, d.line, d.col, d.path, d.message)
                          for d in result.diagnostics])  # fmt: skip
    return (
        "ok",
        result.spec.model_dump(mode="json"),
        [(d.level, d.code, d.line, d.col, d.path, d.message) for d in result.diagnostics],
    )


#: Every golden and bad spec that has a JSON form (a bad one may not even be YAML).
JSON_FORMS = {path: text for path in GOLDEN + BAD if (text := _json_of(path)) is not None}


@pytest.mark.parametrize("path", list(JSON_FORMS), ids=_id)
def test_json_path_gives_the_same_spec_and_diagnostics(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = JSON_FORMS[path]
    if path in GOLDEN:
        assert fastload.parse_json(text) is not None, "the JSON path must take a golden case"
    fast, slow = (
        _load(text, fast=True, monkeypatch=monkeypatch),
        _load(text, fast=False, monkeypatch=monkeypatch),
    )
    assert _outcome(fast) == _outcome(slow)
    if isinstance(fast, LoadedSpec) and isinstance(slow, LoadedSpec):
        for table in ("keys", "values"):
            for spot in getattr(slow.source, table):
                key = table == "keys"
                assert fast.source.position(spot, key=key) == slow.source.position(spot, key=key)


def test_json_positions_are_recovered_only_when_needed() -> None:
    text = (ROOT / "tests" / "cases" / "minimal-builtins" / "spec.yaml").read_text()
    data, _ = parse_positional(text, "s")
    loaded = load(json.dumps(data, indent=2).encode(), filename="s.json")
    assert loaded.source.recover is not None and not loaded.source.values
    line, col = loaded.source.position(("pools",))
    assert loaded.source.recover is None and (line, col) != (1, 1)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',
        '{"a": 1.5}',
        '{"a": NaN}',
        '{"a": "\\ud800"}',
        '{"a": ' + "[" * 40 + "]" * 40 + "}",
        '["a"]',
        "{a: 1}",  # YAML flow, not JSON
        '\ufeff{"a": 1}',
        '{"a":\t1}',
        '{"a": ' + "9" * 80 + "}",
    ],
)
def test_json_path_declines_what_it_cannot_be_sure_of(text: str) -> None:
    assert fastload.parse_json(text) is None


# --- generated documents ----------------------------------------------------------------------

_KEYS = st.text(string.ascii_letters + string.digits + "_-.", min_size=1, max_size=8)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=12),
    st.sampled_from(["5s", "10.0.0.1:6443", "[::1]:6443", "true", "null", "~", "0o7", "1e3",
                     "yes", "on", "- x", "a: b", "#c", "'q'", '"d"', "", " ", "012"]),
)  # fmt: skip
_DOCS = st.dictionaries(
    _KEYS,
    st.recursive(
        _SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)
        ),
        max_leaves=20,
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.usefixtures("every_size")
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=_DOCS, flow=st.booleans())
def test_generated_yaml_is_read_alike(doc: dict[str, Any], flow: bool) -> None:
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = flow
    yaml.allow_unicode = True
    out = io.StringIO()
    yaml.dump(doc, out)
    _same_as_positional(out.getvalue())


@settings(max_examples=150, deadline=None)
@given(doc=_DOCS, indent=st.sampled_from([None, 2]))
def test_generated_json_is_read_alike(doc: dict[str, Any], indent: int | None) -> None:
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    fast = fastload.parse_json(text)
    if fast is None:
        return
    try:
        slow, _ = parse_positional(text, "s")
    except SpecError as exc:
        raise AssertionError(f"the JSON path took what YAML refuses: {exc}") from None
    assert _typed(fast) == _typed(slow)
