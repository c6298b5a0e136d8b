"""`lbgen schema` describes exactly what the loader accepts, for every example spec."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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
    from lbgen.spec.layers import BUILTIN_DEFAULTS

    defs = spec_schema()["$defs"]
    assert defs["Defaults"]["properties"]["balance"]["default"] == BUILTIN_DEFAULTS.balance
    assert defs["Health"]["properties"]["check"]["default"] == "https"
    assert defs["Health"]["properties"]["fall"]["default"] == 3
    # The built-ins the resolver and the HAProxy view fill in, not the models' "unset" null.
    shown = {(d, f): defs[d]["properties"][f]["default"] for d, f in [
        ("Global", "log"), ("Stats", "uri"), ("Stats", "refresh"), ("Stats", "timeout"),
        ("LbHealth", "timeout"), ("Defaults", "log_format"), ("Defaults", "dontlognull"),
        ("Defaults", "start_unresolved"), ("LogEntry", "facility"),
    ]}  # fmt: skip
    assert shown == {
        ("Global", "log"): "stdout", ("Stats", "uri"): "/stats", ("Stats", "refresh"): "10s",
        ("Stats", "timeout"): "30s", ("LbHealth", "timeout"): "5s",
        ("Defaults", "log_format"): "tcplog", ("Defaults", "dontlognull"): True,
        ("Defaults", "start_unresolved"): True, ("LogEntry", "facility"): "local0",
    }  # fmt: skip
    # A pool inherits it from defaults: the built-in is in its description, not its default.
    pool_start = defs["Pool"]["properties"]["start_unresolved"]
    assert "default" not in pool_start
    assert pool_start["description"].endswith(
        "Left out: inherits defaults.start_unresolved; built in: true."
    )
    # Leaving a block out is writing it empty, not writing each of its fields as null.
    assert defs["Defaults"]["properties"]["health"]["default"] == {}
    assert spec_schema()["properties"]["defaults"]["default"] == {}


#: A spec with every block the schema describes, each with only the fields it requires, so that
#: whatever a probe leaves out is left out on every level above it too.
PROBE: dict[str, Any] = {
    "version": 1,
    "global": {
        "log": [{"target": "udp://127.0.0.1:514"}],
        "stats": {"bind": "127.0.0.1:8404"},
        "health": {"bind": "127.0.0.1:8081", "extra": {}},
        "extra": {},
    },
    "defaults": {"health": {}, "timeouts": {}, "extra": {}},
    "frontends": {"api": {"bind": ["127.0.0.1:6443"], "pool": "cp", "timeouts": {}, "extra": {}}},
    "pools": {
        "cp": {
            "health": {}, "timeouts": {}, "extra": {},
            "servers": {"m1": {"address": "127.0.0.1:7001", "extra": {}}},
        },
    },
    "vip": {
        "addresses": ["192.0.2.100/24"], "interface": "eth0", "virtual_router_id": 51,
        "nodes": [{"name": "lb1", "address": "192.0.2.11"},
                  {"name": "lb2", "address": "192.0.2.12"}],
        "track": {},
    },
}  # fmt: skip

#: Defaults that are HAProxy's built-in, where an engine keeps its own default (the field's
#: description says so): rendered the same by every other engine, not by these.
ENGINE_OWN_DEFAULT = {("LogEntry", "facility"): {"nginx", "nginx-plus"}}


def _blocks(node: Any, defs: dict[str, Any], path: tuple[Any, ...], base: Any) -> Any:
    """``(def name, path)`` of every model block of the schema where ``base`` holds one (a
    mapping), following each alternative (``global.log``'s entry in its list form)."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if isinstance(base, dict):
            yield name, path
        node = defs[name]
    for alternative in node.get("anyOf", []) + node.get("oneOf", []):
        yield from _blocks(alternative, defs, path, base)
    if not isinstance(base, dict | list):
        return
    if isinstance(base, list):
        if "items" in node and base:
            yield from _blocks(node["items"], defs, (*path, 0), base[0])
        return
    for name, child in node.get("properties", {}).items():
        yield from _blocks(child, defs, (*path, name), base.get(name))
    for child in node.get("patternProperties", {}).values():
        for key, value in base.items():
            yield from _blocks(child, defs, (*path, key), value)


def _rendered(doc: dict[str, Any]) -> dict[str, str]:
    """Every engine's config of ``doc`` (each layout; keepalived for each node), without the
    provenance line that hashes the spec's text; the errors when the spec is refused (``vip``
    without ``global.health``)."""
    from lbgen.diagnostics import SpecError
    from lbgen.engine import ENTRIES

    try:
        spec = lbgen.load_spec(json.dumps(doc).encode(), filename="probe.json")
    except SpecError as exc:
        return {"refused": "\n".join(f"{d.code} {d.message}" for d in exc.diagnostics)}
    out = {}
    for target, entry in ENTRIES.items():
        if entry.per_node and spec.vip is None:
            continue  # keepalived renders a vip tier only
        nodes = [n.name for n in spec.vip.nodes] if entry.per_node and spec.vip else [None]
        for layout in entry.layouts:
            for node in nodes:
                text = lbgen.render(spec, target, layout=layout, node=node).text
                lines = [line for line in text.splitlines() if "spec-sha256" not in line]
                out[f"{target}/{layout}/{node}"] = "\n".join(lines)
    return out


def _with_defaults(**health: Any) -> dict[str, Any]:
    """:data:`PROBE` whose ``defaults`` block sets every field a pool, server or frontend
    inherits to a value that is not the built-in: a schema ``default`` on an inheriting field
    (the built-in, which an editor inserts) then overrides ``defaults`` and renders otherwise."""
    doc: dict[str, Any] = json.loads(json.dumps(PROBE))
    doc["defaults"].update({
        "balance": "leastconn", "weight": 50, "slowstart": "60s", "maxconn": 100, "maxqueue": 10,
        "retries": 5, "redispatch": False, "start_unresolved": False,
        "health": {
            "check": "https", "path": "/healthz", "expect": [204], "expect_body": "ok",
            "interval": "7s", "fast_interval": "3s", "down_interval": "9s", "rise": 4, "fall": 5,
            "timeout": "4s", "client_cert": "/etc/lbgen/check.pem", "sni": "api.example.internal",
            "port": 8443, **health,
        },
        "timeouts": {
            "connect": "6s", "server": "2h", "tunnel": "3h", "server_fin": "11s", "queue": "7s",
            "client": "2h", "client_fin": "12s",
        },
    })  # fmt: skip
    return doc


#: The specs the table invariant is held on: nothing in ``defaults``, and ``defaults`` setting
#: every inherited field (its check https, where every health field shows, and tcp, which is
#: not the built-in check).
BASES = {
    "empty-defaults": PROBE,
    "set-defaults": _with_defaults(),
    "set-defaults-tcp": _with_defaults(check="tcp", path=None, expect=None, expect_body=None),
}


def _schema_defaults(base: dict[str, Any] = PROBE) -> list[tuple[str, tuple[Any, ...], str, Any]]:
    """``(def name, block path, key, default)`` for every property with a ``default``, at
    every place of ``base`` where its block is."""
    schema = spec_schema()
    defs = schema["$defs"]
    places = [("Spec", ()), *_blocks(schema, defs, (), base)]
    found = []
    for name, path in dict.fromkeys(places):
        node = schema if name == "Spec" else defs[name]
        for key, prop in node.get("properties", {}).items():
            if "default" in prop:
                found.append((name, path, key, prop["default"]))
    return found


@pytest.mark.parametrize("base_name", list(BASES))
def test_every_schema_default_is_what_leaving_the_field_out_gives(base_name: str) -> None:
    """The table invariant: for every optional field that has a ``default``, at every level of
    the spec, a spec without the field and one that sets it to the schema's ``default`` render
    the same config for every engine, layout and node. A default that says ``null`` where lbgen
    uses a built-in (null emits nothing), a built-in changed without the schema, or a default
    on a field that inherits (which overrides what ``defaults`` or the pool set) fails here."""
    import copy

    base = BASES[base_name]
    assert "refused" not in _rendered(base)
    defaults = _schema_defaults(base)
    covered = {name for name, *_ in defaults}
    described = {name for name, node in spec_schema()["$defs"].items()
                 if any("default" in p for p in node.get("properties", {}).values())}  # fmt: skip
    assert described <= covered, f"PROBE holds no block of {sorted(described - covered)}"
    assert len(defaults) > 80
    cache: dict[str, dict[str, str]] = {}

    def rendered(doc: dict[str, Any]) -> dict[str, str]:
        key = json.dumps(doc, sort_keys=True)
        if key not in cache:
            cache[key] = _rendered(doc)
        return cache[key]

    wrong = []
    for name, path, key, default in defaults:
        without: Any = copy.deepcopy(base)
        block = without
        for part in path:
            block = block[part]
        block.pop(key, None)
        with_default = copy.deepcopy(without)
        block = with_default
        for part in path:
            block = block[part]
        block[key] = default
        left_out, written = rendered(without), rendered(with_default)
        for engine in sorted(left_out.keys() | written.keys()):
            if engine.split("/")[0] in ENGINE_OWN_DEFAULT.get((name, key), ()):
                continue
            if written.get(engine) != left_out.get(engine):
                where = ".".join(str(p) for p in (*path, key))
                wrong.append(f"{name}.{key} at {where}: {default!r} ({engine})")
    assert not wrong, "schema defaults that are not what leaving the field out gives:\n" + (
        "\n".join(wrong)
    )


def test_an_engines_own_default_is_only_where_the_description_says() -> None:
    """The exceptions above are real (that engine renders the field's default differently) and
    documented (the field's description names the engine)."""
    defs = spec_schema()["$defs"]
    places = {(name, key): (path, default) for name, path, key, default in _schema_defaults()}
    for (name, key), engines in ENGINE_OWN_DEFAULT.items():
        description = defs[name]["properties"][key]["description"]
        assert all(engine.removesuffix("-plus") in description for engine in engines)
        path, default = places[(name, key)]
        doc: Any = json.loads(json.dumps(PROBE))
        block = doc
        for part in path:
            block = block[part]
        assert key not in block
        block[key] = default
        left_out, written = _rendered(PROBE), _rendered(doc)
        differ = {e.split("/")[0] for e in left_out if left_out[e] != written.get(e)}
        assert differ == engines, differ


def _node(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node``, or the ``$defs`` entry it refers to."""
    if "$ref" in node:
        return dict(schema["$defs"][node["$ref"].rsplit("/", 1)[-1]])
    return node


def _property(schema: dict[str, Any], model: str, path: str) -> dict[str, Any]:
    """The property of ``$defs[model]`` at the dotted ``path`` (``health.interval``)."""
    node = schema["$defs"][model]
    *blocks, name = path.split(".")
    for block in blocks:
        node = _node(schema, node["properties"][block])
    prop: dict[str, Any] = node["properties"][name]
    return prop


def _built_in(value: Any) -> str:
    if value is None:
        return "no built-in"
    return "built in: " + (value if isinstance(value, str) else json.dumps(value))


def test_an_inheriting_field_has_no_default_and_names_what_it_inherits() -> None:
    """A pool's field left out is ``defaults``' value, a server's its pool's, a frontend's
    timeout ``defaults``': no one value is "what leaving the field out gives", so such a field
    has no ``default`` (an editor that inserts it would override ``defaults``, silently). Its
    description names what it inherits and the built-in at the end of the chain, which is
    ``defaults``' own ``default`` (kept). The fields come from the registry's scopes; verbatim
    ``extra`` directives belong to their block and are not inherited."""
    from lbgen.spec.fields import FIELDS, Kind, Scope

    schema = spec_schema()
    models = {Scope.POOL: "Pool", Scope.SERVER: "Server", Scope.FRONTEND: "Frontend"}
    checked = []
    for field in FIELDS:
        if field.kind is Kind.EXTRA or len(field.scopes) < 2:
            continue
        own = _property(schema, "Defaults", field.path)
        assert "default" in own, f"defaults.{field.path} lost its default"
        built_in = _built_in(own["default"])
        for parent, scope in itertools.pairwise(field.scopes):
            prop = _property(schema, models[scope], field.path)
            where = f"{scope}.{field.path}"
            assert "default" not in prop, f"{where} inherits, yet has a default"
            if parent is Scope.DEFAULTS:
                source = f"defaults.{field.path}"
            else:
                assert parent is Scope.POOL
                source = f"its pool's {field.path}, then defaults.{field.path}"
            said = f"Left out: inherits {source}; {built_in}."
            assert str(prop["description"]).endswith(" " + said), (where, prop["description"])
            checked.append(where)
    # Every pool setting, health and timeout field; the server's four; the frontend's two.
    assert len(checked) == 32, checked
    weight = _property(schema, "Pool", "weight")["description"]
    assert weight.endswith("Left out: inherits defaults.weight; built in: 100.")
    assert _property(schema, "Defaults", "weight")["default"] == 100
    assert _property(schema, "Defaults", "health.interval")["default"] == "2s"
    # The pool's health block is not the one ``defaults`` has (whose fields keep defaults).
    assert (
        _property(schema, "Pool", "health")["$ref"]
        != _property(schema, "Defaults", "health")["$ref"]
    )


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
    import ast
    import inspect

    from lbgen.spec import models

    # The docstrings as the source holds them, found independently of lbgen.spec.schema.
    source = {
        (cls.name, stmt.target.id): " ".join(inspect.cleandoc(nxt.value.value).split())
        for cls in ast.parse(Path(models.__file__).read_text()).body
        if isinstance(cls, ast.ClassDef)
        for stmt, nxt in zip(cls.body, cls.body[1:], strict=False)
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
        and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
    }  # fmt: skip
    schema = spec_schema()
    interval = schema["$defs"]["Health"]["properties"]["interval"]["description"]
    assert interval == source[("Health", "interval")]
    assert "inter" in interval
    assert schema["properties"]["global"]["description"].startswith("Settings of the engine")
    assert schema["properties"]["pools"]["description"] == source[("Spec", "pools")]
    # Inherited fields carry the docstring of the class that declares them (and, where the
    # field inherits its value, what from); a field's own docstring wins over its type's
    # description (ServerAddress has one).
    assert (
        schema["$defs"]["Defaults"]["properties"]["weight"]["description"]
        == (source[("ServerParams", "weight")])
    )
    assert schema["$defs"]["Pool"]["properties"]["weight"]["description"] == (
        source[("ServerParams", "weight")] + " Left out: inherits defaults.weight; built in: 100."
    )
    assert (
        schema["$defs"]["Server"]["properties"]["address"]["description"]
        == (source[("Server", "address")])
    )


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


#: Strings at the edges of the grammars, tried at every string place (on top of the injection
#: payloads, which are built from each place's valid value).
EDGES = [
    "0.0.0.0:1", "[::]:65535", ":6443", "[::ffff:1.2.3.4]:1", "[1:2:3:4:5:6:7::]:1", "1.2.3.4:0",
    "1.2.3.4:65536", "1.2.3.4:06443", "01.2.3.4:1", "a-.b:1", "x" * 63 + ".example:1",
    "udp://[::1]:514", "udp://log.example:65535", "udp://1.2.3.4:0", "/", "/%41", "/%4", "/a b",
    "100%", "0%", "101%", "010%", "0s", "999999999999999999us", "1" * 19 + "s", "-5s", "a" * 63,
    "a" * 64, "-a", "a_b.c-d", "1.2.3", "api.example.", "syslog", "none", "roundrobin", "tls",
]  # fmt: skip


def _tricky_values() -> list[tuple[Any, str]]:
    from tests.adversarial import injection as inj

    out = []
    for place in inj.string_places():
        values = [p.value for p in inj.payloads_for(inj.benign_value(place))] + EDGES
        out += [(place, value) for value in values]
    return out


def test_schema_and_loader_agree_on_tricky_strings() -> None:
    """Every string place, every payload and edge string: the JSON Schema (searched with
    Python's re by jsonschema, where "$" also matches before a final newline) accepts exactly
    what the models accept."""
    from pydantic import ValidationError

    from lbgen.spec.models import Spec
    from tests.adversarial import injection as inj

    validator = jsonschema.Draft202012Validator(spec_schema())
    base = inj.with_payload(inj.BASE, inj.Place(("defaults", "health", "client_cert")), "c.pem")
    assert validator.is_valid(base)
    disagreements = []
    tried = 0
    for place, value in _tricky_values():
        doc = inj.with_payload(base, place, value)
        try:
            Spec.model_validate(doc)
            loader = True
        except ValidationError:
            loader = False
        tried += 1
        if validator.is_valid(doc) != loader:
            disagreements.append(f"{place} {value[:80]!r}: loader {loader}")
    assert tried > 3000
    assert not disagreements, "\n".join(disagreements[:20])


def test_schema_patterns_mean_the_same_in_ecma_262() -> None:
    """The patterns as an ECMA-262 engine (node's RegExp, with and without the u flag) reads
    them agree with the loader's grammars on the tricky strings."""
    import json
    import shutil
    import subprocess

    from lbgen.spec import grammar

    node = shutil.which("node") or shutil.which("nodejs")
    assert node is not None, "node is the ECMA-262 oracle: scripts/test installs Debian's nodejs"
    rules = [grammar.NAME, grammar.DURATION, grammar.PERCENT, grammar.SERVER_ADDRESS,
             grammar.BIND_ADDRESS, grammar.LOG_TARGET, grammar.HTTP_PATH, grammar.CERT_PATH,
             grammar.DNS_NAME]  # fmt: skip
    strings = sorted({value for _, value in _tricky_values() if len(value) < 2000})
    script = (
        "const [rules, strings] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(rules.map(p => [new RegExp(p, 'u'), new RegExp(p)]"
        ".map(r => strings.map(s => r.test(s))))));"
    )
    data = json.dumps([[r.pattern for r in rules], strings])
    proc = subprocess.run([node, "-e", script], input=data, capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    results = json.loads(proc.stdout)
    for rule, per_flag in zip(rules, results, strict=True):
        expected = [rule.matches(s) for s in strings]
        for flagged in per_flag:
            wrong = [s for s, got, want in zip(strings, flagged, expected, strict=True)
                     if got != want]  # fmt: skip
            assert not wrong, (rule.pattern, wrong[:5])


def test_schema_and_loader_agree_on_extra_directives() -> None:
    """The ``extra`` lists (left out of the injection walk: their items are whole directives)
    at every level, with every payload and edge string: schema and models agree."""
    import copy

    from pydantic import ValidationError

    from lbgen.spec.models import Spec
    from tests.adversarial import injection as inj

    validator = jsonschema.Draft202012Validator(spec_schema())
    base: dict[str, Any] = {
        "version": 1,
        "frontends": {"api": {"bind": [":6443"], "pool": "cp"}},
        "pools": {"cp": {"servers": {"m1": {"address": "127.0.0.1:7001"}}}},
    }
    values = [p.value for p in inj.payloads_for("maxconn 10")] + EDGES + ["x" * 4097, " "]

    def places(value: str) -> list[dict[str, Any]]:
        docs = []
        for where in ("global", "defaults", "frontend", "pool", "server", "section"):
            doc: Any = copy.deepcopy(base)
            block = {"haproxy": [value]}
            if where == "global":
                doc["global"] = {"extra": block}
            elif where == "section":
                doc["global"] = {"extra": {"haproxy_sections": {value: ["x"]}}}
            elif where == "defaults":
                doc["defaults"] = {"extra": block}
            elif where == "frontend":
                doc["frontends"]["api"]["extra"] = block
            elif where == "pool":
                doc["pools"]["cp"]["extra"] = block
            else:
                doc["pools"]["cp"]["servers"]["m1"]["extra"] = block
            docs.append(doc)
        return docs

    disagreements, accepted = [], 0
    for value in values:
        for doc in places(value):
            try:
                Spec.model_validate(doc)
                loader = True
            except ValidationError:
                loader = False
            accepted += loader
            if validator.is_valid(doc) != loader:
                disagreements.append(f"{value[:60]!r}: loader {loader}")
    assert accepted > 100, accepted  # both sides of the grammar were exercised
    assert not disagreements, "\n".join(disagreements[:20])


def _parser_accepts(text: str, allow_empty_host: bool) -> bool:
    from lbgen.units import AddressError, parse_host_port

    try:
        parse_host_port(text, allow_empty_host=allow_empty_host)
    except AddressError:
        return False
    return True


ADDRESS_PARTS = [
    "[", "]", ":", "::", ".", "%", "-", "0", "1", "01", "25", "255", "256", "6443", "65535",
    "65536", "ffff", "fd00", "1.2.3.4", "a", "x-y", "example", "\n", " ",
]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(ADDRESS_PARTS), max_size=12))
def test_address_parser_is_the_address_grammar(parts: list[str]) -> None:
    """parse_host_port checks an address part by part, without the whole-address grammar (not
    compiled at start-up): it must accept exactly what SERVER_ADDRESS and BIND_ADDRESS match."""
    from lbgen.spec import grammar

    text = "".join(parts)
    assert _parser_accepts(text, False) == grammar.SERVER_ADDRESS.matches(text), text
    assert _parser_accepts(text, True) == grammar.BIND_ADDRESS.matches(text), text


def test_address_parser_is_the_address_grammar_on_tricky_strings() -> None:
    """The same on every payload and edge string of the schema tests, and on their parts."""
    from lbgen.spec import grammar

    texts = {value for _, value in _tricky_values() if isinstance(value, str)}
    texts |= {f"{text}:6443" for text in list(texts)} | {f"[{text}]:1" for text in list(texts)}
    accepted = 0
    for text in sorted(texts):
        server = _parser_accepts(text, False)
        assert server == grammar.SERVER_ADDRESS.matches(text), text
        assert _parser_accepts(text, True) == grammar.BIND_ADDRESS.matches(text), text
        accepted += server
    assert accepted > 20  # the set holds real addresses too, not only refusals
