"""The loader's messages word the problem as the file shows it, at the place it is written.

Keys that are not strings (``1:``, ``true:``, ``~:``, ``1.5:``, ``[a, b]:``, ``2001-01-01:``),
duplicate keys spelt two ways, text after the end of a document, and JSON's own mistakes: each
is one exact line, ``FILE:LINE:COL: error [CODE] PATH: MESSAGE``, and exit code 2, through the
real command line. A YAML spec of 16 KiB or more is read by libyaml's composer first
(:mod:`lbgen.spec.fastload`): each YAML case is also run padded past that size, with the same
lines expected.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lbgen.cli import app
from lbgen.spec import fastload
from lbgen.spec.load import kind_of, parse_positional
from lbgen.spec.source import SpecSource, dotted
from tests.test_bad_specs import BAD, run_lbgen

#: The bad-spec corpus cases of this module -> every line ``validate`` prints for them.
EXPECTED: dict[str, list[str]] = {
    "key-integer": [
        "10:7: error [type] pools.cp.servers.1: a key must be a string (got an integer)",
    ],
    "key-boolean": [
        "10:7: error [type] pools.cp.servers.true: a key must be a string (got a boolean)",
    ],
    "key-number-list-date": [
        "12:7: error [type] pools.cp.servers.1.5: a key must be a string (got a number)",
        '13:7: error [type] pools.cp.servers["[a, b]"]: a key must be a string (got a list)',
        "14:7: error [type] pools.cp.servers.2001-01-01: a key must be a string (got a date)",
    ],
    "key-top-level-integer": ["3:1: error [type] 1: a key must be a string (got an integer)"],
    "key-false-and-zero": [
        "11:7: error [type] pools.cp.servers.false: a key must be a string (got a boolean)",
        "12:7: error [type] pools.cp.servers.0: a key must be a string (got an integer)",
    ],
    "duplicate-key-null-spellings": [
        "11:7: error [duplicate-key] duplicate key 'null' (first at line 10, as '~'): a second "
        "value would silently replace the first",
    ],
    "duplicate-key-nested": [
        "12:7: error [duplicate-key] duplicate key 'm1' (first at line 10): a second value "
        "would silently replace the first",
    ],
    "document-trailing-text": [
        "8:1: error [yaml-syntax] found '{' after the end of the document (a spec is one YAML "
        "document)",
    ],
    "weight-anchored-boolean": [
        '10:13: error [type] pools.cp.weight: weight must be an integer or a percentage like "10%"'
        " (got a boolean)",
    ],
}

#: Comment lines that take a spec past the size where libyaml's composer reads it first.
PADDING = ("# " + "p" * 76 + "\n") * (fastload.FAST_YAML_MIN // 79 + 1)


def _errors(output: str, path: Path) -> list[str]:
    prefix = f"{path}:"
    return [line.removeprefix(prefix) for line in output.splitlines() if line.startswith(prefix)]


def _validate(path: Path) -> list[str]:
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return _errors(result.output, path)


@pytest.mark.parametrize("size", ["small", "16KiB"])
@pytest.mark.parametrize("name", list(EXPECTED))
def test_yaml_messages(name: str, size: str, tmp_path: Path) -> None:
    text = (BAD / f"{name}.yaml").read_text(encoding="utf-8")
    if size != "small":
        text += PADDING
        assert len(text.encode()) >= fastload.FAST_YAML_MIN
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    assert _validate(path) == EXPECTED[name]


def test_the_libyaml_path_reads_an_anchored_boolean_as_a_boolean() -> None:
    """The case above where libyaml's composer takes the padded file (the others it declines):
    ruamel's anchored ``true`` (an int subclass) was read as 1, libyaml's as True."""
    text = (BAD / "weight-anchored-boolean.yaml").read_text(encoding="utf-8") + PADDING
    fast = fastload.compose_yaml(text, SpecSource("s"))
    assert fast is not None
    slow, _ = parse_positional(text, "s")
    assert fast["pools"]["cp"]["weight"] is True and slow["pools"]["cp"]["weight"] is True
    data, _ = parse_positional("a: &x true\nb: *x\nc: &y 7\n", "s")
    assert [(type(v), v) for v in data.values()] == [(bool, True), (bool, True), (int, 7)]


def test_a_real_process_prints_one_line_per_key(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes((BAD / "key-number-list-date.yaml").read_bytes())
    proc = run_lbgen(["validate", str(path)])
    assert proc.returncode == 2
    assert _errors(proc.stderr, path) == EXPECTED["key-number-list-date"]
    assert proc.stderr.count("\n") == 3, proc.stderr


# --- JSON ---------------------------------------------------------------------------------

SPEC_JSON = """{
  "version": 1,
  "frontends": {"api": {"bind": ["0.0.0.0:6443"], "pool": "cp"}},
  "pools": {"cp": {"servers": {"m1": "10.0.0.1:6443"}, "maxconn": 1000}}
}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SPEC_JSON + "{}\n",
         "6:1: error [json-syntax] not valid JSON: more text after the end of the top-level "
         "object"),
        (SPEC_JSON + "// the end\n",
         "6:1: error [json-syntax] not valid JSON: more text after the end of the top-level "
         "object (JSON has no comments)"),
        ("// a spec\n" + SPEC_JSON,
         "1:1: error [json-syntax] not valid JSON: expected a value (JSON has no comments)"),
        (SPEC_JSON.replace('"pool": "cp"', '"pool": "cp" "mode": "tcp"'),
         "3:64: error [json-syntax] not valid JSON: expecting ',' delimiter"),
        (SPEC_JSON.replace("1000", "9" * 80),
         "4:67: error [json-syntax] an integer of 80 characters is too large (at most 64)"),
        # The YAML parser takes these two; a .json file is JSON.
        (SPEC_JSON.replace('"maxconn": 1000}', '"maxconn": 1000,}'),
         "4:71: error [json-syntax] not valid JSON: a comma before the closing '}' (JSON allows "
         "no trailing comma)"),
        (SPEC_JSON.replace('["0.0.0.0:6443"]', '["0.0.0.0:6443", ]'),
         "3:48: error [json-syntax] not valid JSON: a comma before the closing ']' (JSON allows "
         "no trailing comma)"),
        (SPEC_JSON.replace('"version"', "version"),
         "2:3: error [json-syntax] not valid JSON: expecting property name enclosed in double "
         "quotes"),
    ],
    ids=["trailing-object", "trailing-comment", "leading-comment", "missing-comma", "long-int",
         "trailing-comma-object", "trailing-comma-list", "unquoted-key"],
)  # fmt: skip
def test_json_messages(text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(text, encoding="utf-8")
    assert _validate(path) == [expected]


def test_a_trailing_comma_is_yaml_but_not_json(tmp_path: Path) -> None:
    """The same text passes as ``.yaml`` (YAML's flow style allows the comma), so the refusal is
    the ``.json`` name's: the file must be what other JSON tools can read."""
    text = SPEC_JSON.replace('"maxconn": 1000}', '"maxconn": 1000,}')
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    assert run_lbgen(["validate", str(path)]).returncode == 0
    path = path.rename(tmp_path / "spec.JSON")
    assert _validate(path) == [
        "4:71: error [json-syntax] not valid JSON: a comma before the closing '}' (JSON allows "
        "no trailing comma)"
    ]


def test_json_text_in_a_yaml_file_keeps_yaml_terms(tmp_path: Path) -> None:
    """Only a ``.json`` file is read as JSON: the same text as ``.yaml`` gets the YAML message
    (without the tuple ruamel printed: ``but found ('{',)``)."""
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC_JSON + "{}\n", encoding="utf-8")
    assert _validate(path) == [
        "6:1: error [yaml-syntax] found '{' after the end of the document (a spec is one YAML "
        "document)"
    ]


# --- the wording helpers ------------------------------------------------------------------


def test_kind_of_names_yaml_types_not_python_classes() -> None:
    import datetime

    from ruamel.yaml import YAML

    loaded = YAML(typ="rt", pure=True).load(
        "f: 1.5\nb: &t true\nd: 2001-01-01\nt: 2001-12-14t21:59:43.10-05:00\nl: [a]\nm: {a: 1}\n"
    )
    assert {key: kind_of(value) for key, value in loaded.items()} == {
        "f": "a number", "b": "a boolean", "d": "a date", "t": "a timestamp", "l": "a list",
        "m": "a mapping",
    }  # fmt: skip
    assert [kind_of(v) for v in (None, 1, True, "x", (1,), datetime.date(2001, 1, 1))] == [
        "null", "an integer", "a boolean", "a string", "a list", "a date"
    ]  # fmt: skip


def test_dotted_shows_a_boolean_as_a_key_not_a_list_index() -> None:
    assert dotted(("pools", "cp", "servers", True)) == "pools.cp.servers.true"
    assert dotted(("frontends", "api", "bind", 0)) == "frontends.api.bind[0]"
