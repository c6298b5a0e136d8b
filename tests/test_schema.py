"""`lbgen schema` describes exactly what the loader accepts, for every example spec."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

import lbgen
from lbgen.spec.schema import spec_schema

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "examples").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "cases").glob("*/spec.yaml")
)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_specs_validate_against_schema(path: Path) -> None:
    data = YAML(typ="safe", pure=True).load(path.read_text())
    jsonschema.Draft202012Validator(spec_schema()).validate(data)
    lbgen.load_spec(path)  # and the loader agrees


def test_schema_rejects_what_the_loader_rejects() -> None:
    validator = jsonschema.Draft202012Validator(spec_schema())
    base = {"version": 1, "frontends": {"a": {"bind": [":6443"], "pool": "p"}},
            "pools": {"p": {"servers": {"m1": "127.0.0.1:6443"}}}}  # fmt: skip
    assert validator.is_valid(base)
    assert not validator.is_valid({**base, "extra": 1})
    assert not validator.is_valid({**base, "version": 2})
    bad_duration = {**base, "defaults": {"timeouts": {"connect": 5}}}
    assert not validator.is_valid(bad_duration)
    bad_name = {**base, "pools": {"p x": {"servers": {"m1": "127.0.0.1:6443"}}}}
    assert not validator.is_valid(bad_name)


def test_builtin_defaults_are_in_the_schema() -> None:
    from lbgen.resolve import BUILTIN_DEFAULTS

    defs = spec_schema()["$defs"]
    assert defs["Defaults"]["properties"]["balance"]["default"] == BUILTIN_DEFAULTS.balance
    assert defs["Health"]["properties"]["check"]["default"] == "https"
    assert defs["Health"]["properties"]["fall"]["default"] == 3


def _properties(node: object, where: str = "") -> list[tuple[str, dict[str, object]]]:
    """Every ``properties`` entry of the schema, with where it sits."""
    found = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            found.append((f"{where}.{name}", prop))
        for key, value in node.items():
            found += _properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for value in node:
            found += _properties(value, where)
    return found


def test_every_property_has_a_description() -> None:
    found = _properties(spec_schema())
    assert len(found) > 50
    for where, prop in found:
        description = prop.get("description")
        assert isinstance(description, str) and len(description) > 10, where
        assert "\n" not in description and "``" not in description, where


def test_descriptions_are_the_field_docstrings() -> None:
    from lbgen.spec.models import Health, Spec

    schema = spec_schema()
    interval = schema["$defs"]["Health"]["properties"]["interval"]["description"]
    assert interval == Health.model_fields["interval"].description
    assert "inter" in interval
    assert schema["properties"]["global"]["description"].startswith("Settings of the engine")
    assert Spec.model_fields["pools"].description == schema["properties"]["pools"]["description"]


SPEC_TEXT = """\
version: 1
name: with-schema
frontends:
  api: {bind: [":6443"], pool: cp}
pools:
  cp:
    servers: {m1: 127.0.0.1:6443}
"""


@pytest.mark.parametrize("target", ["haproxy", "nginx"])
def test_a_spec_may_name_its_schema(tmp_path: Path, target: str) -> None:
    """``$schema`` (YAML or JSON) is accepted, and changes nothing in the output or its hash."""
    import json

    from tests.support import run_lbgen

    data = YAML(typ="safe", pure=True).load(SPEC_TEXT)
    plain = tmp_path / "plain.yaml"
    plain.write_text(SPEC_TEXT)
    with_yaml = tmp_path / "with.yaml"
    with_yaml.write_text(
        "# yaml-language-server: $schema=./lbgen.schema.json\n"
        "$schema: ./lbgen.schema.json\n" + SPEC_TEXT
    )
    with_json = tmp_path / "with.json"
    with_json.write_text(json.dumps({"$schema": "./lbgen.schema.json", **data}, indent=2))
    validator = jsonschema.Draft202012Validator(spec_schema())
    validator.validate({"$schema": "./lbgen.schema.json", **data})
    assert not validator.is_valid({"$schema": 5, **data})
    outputs = []
    for path in (plain, with_yaml, with_json):
        result = run_lbgen("render", str(path), "-t", target)
        assert result.returncode == 0, result.stderr
        assert "schema" not in result.stderr, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    assert "spec-sha256" in outputs[0]
