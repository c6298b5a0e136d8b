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
