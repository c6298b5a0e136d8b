"""The field registry (lbgen/spec/fields.py) and the pydantic models agree, in both directions.

The models are walked here on their own (type hints, recursively, leaves being annotations that
are not models), and the kinds are checked against an independent statement of which spec type
each kind is declared with, so a field added to the models without a registry row, a row left
behind after a rename, or a row with the wrong kind fails with the field named.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import pytest
from pydantic import BaseModel

from lbgen import resolve
from lbgen.spec import fields, models, vip
from lbgen.spec.fields import FIELDS, Kind, Scope

#: Where the walk enters another scope: (model, attribute) -> (scope, path prefix). ``global``
#: keeps its prefix (paths there are spelt ``global.maxconn``); the named maps start afresh.
SCOPE_ENTRIES: dict[tuple[type[BaseModel], str], tuple[Scope, str]] = {
    (models.Spec, "global_"): (Scope.GLOBAL, "global."),
    (models.Spec, "defaults"): (Scope.DEFAULTS, ""),
    (models.Spec, "frontends"): (Scope.FRONTEND, ""),
    (models.Spec, "pools"): (Scope.POOL, ""),
    (models.Pool, "servers"): (Scope.SERVER, ""),
    (models.Spec, "vip"): (Scope.VIP, "vip."),
}

#: The spec type each kind is declared with in lbgen.spec.models (CHOICE: any Literal).
KIND_TYPES: dict[Kind, Any] = {
    Kind.DURATION: models.Duration,
    Kind.COUNT: models.Count,
    Kind.AT_LEAST_ONE: models.AtLeastOne,
    Kind.BOOL: bool,
    Kind.WEIGHT: models.Weight,
    Kind.SERVER_ADDRESS: models.ServerAddress,
    Kind.BIND_ADDRESS: models.BindAddress,
    Kind.NAME: models.Name,
    Kind.HTTP_PATH: models.HttpPath,
    Kind.CERT_PATH: models.CertPath,
    Kind.EXPECT_BODY: models.ExpectBody,
    Kind.DNS_NAME: models.DnsName,
    Kind.LOG_TARGET: models.LogTarget,
    Kind.LOG_TARGETS: models.LogTargets,
    Kind.NODE_NAME: vip.NodeName,
    Kind.INTERFACE: vip.Interface,
    Kind.AUTH_PASS: vip.AuthPass,
    Kind.INTEGER: int,
    Kind.BIND_ADDRESS_OR_LIST: models.BindAddress,
    Kind.EXTRA_SECTIONS: models.ExtraSections,
}
#: Kinds declared as a non-empty list of one spec type.
LIST_KINDS: dict[Kind, Any] = {
    Kind.STATUS_CODES: models.StatusCode,
    Kind.BIND_ADDRESSES: models.BindAddress,
    Kind.VIP_ADDRESSES: vip.VipAddress,
    Kind.NODE_ADDRESSES: vip.NodeAddress,
    Kind.STATS_AUTHS: models.StatsAuth,
    Kind.EXTRA: models.ExtraItem,
}


def _without_none(hint: Any) -> Any:
    """``X | None`` -> ``X``."""
    if get_origin(hint) in (Union, types.UnionType):
        rest = [a for a in get_args(hint) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return hint


def _bare(hint: Any) -> Any:
    """The type under ``Annotated[...]``."""
    while get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    return hint


def _model(hint: Any) -> type[BaseModel] | None:
    bare = _bare(hint)
    return bare if isinstance(bare, type) and issubclass(bare, BaseModel) else None


def walk(model: type[BaseModel], scope: Scope, prefix: str) -> Iterator[tuple[Scope, str, Any]]:
    """Every leaf of ``model`` as (scope, dotted path, type hint without ``| None``)."""
    hints = get_type_hints(model, include_extras=True)
    for name in model.model_fields:
        hint = _without_none(hints[name])
        if (model, name) in SCOPE_ENTRIES:
            inner_scope, inner_prefix = SCOPE_ENTRIES[model, name]
            inner = _bare(hint)
            if get_origin(inner) is dict:
                inner = get_args(inner)[1]  # a named map: its entries are the blocks
            child = _model(inner)
            assert child is not None, f"{model.__name__}.{name} is not a block"
            yield from walk(child, inner_scope, inner_prefix)
        elif (child := _model(hint)) is not None:
            yield from walk(child, scope, f"{prefix}{name}.")
        elif get_origin(_bare(hint)) is list and (child := _model(get_args(_bare(hint))[0])):
            yield from walk(child, scope, f"{prefix}{name}.")  # a list of blocks: vip.nodes
        else:
            yield scope, prefix + name, hint


LEAVES = list(walk(models.Spec, Scope.SPEC, ""))


def test_the_walk_sees_the_whole_spec() -> None:
    # Guards the walk itself: a leaf of every scope and every depth is found.
    paths = {(str(scope), path) for scope, path, _ in LEAVES}
    assert {
        ("spec", "version"),
        ("global", "global.stats.prometheus"),
        ("defaults", "health.sni"),
        ("defaults", "timeouts.client"),
        ("pool", "timeouts.queue"),
        ("server", "address"),
        ("frontend", "bind"),
    } <= paths
    assert len(LEAVES) == len(paths) > 60


def test_registry_and_models_name_the_same_fields() -> None:
    from_models = {(scope, path) for scope, path, _ in LEAVES}
    from_registry = {(scope, f.path) for f in FIELDS for scope in f.scopes}
    missing = sorted(f"{s}: {p}" for s, p in from_models - from_registry)
    extra = sorted(f"{s}: {p}" for s, p in from_registry - from_models)
    assert not missing, f"fields of the models without a registry row (scope: path): {missing}"
    assert not extra, f"registry rows (scope: path) no model declares: {extra}"


def test_every_path_names_one_field() -> None:
    paths = [f.path for f in FIELDS]
    assert len(paths) == len(set(paths)), sorted(p for p in paths if paths.count(p) > 1)
    assert len(fields.BY_PATH) == len(FIELDS)


@pytest.mark.parametrize("scope,path,hint", LEAVES, ids=[f"{s}:{p}" for s, p, _ in LEAVES])
def test_kind_agrees_with_the_annotation(scope: Scope, path: str, hint: Any) -> None:
    row = fields.field(path)
    if row.kind is Kind.CHOICE:
        assert get_origin(hint) is Literal, f"{path}: {hint} is not a Literal"
        assert row.choices == get_args(hint), f"{path}: choices {row.choices} != {hint}"
    elif row.kind in LIST_KINDS:
        assert get_origin(_bare(hint)) is list, f"{path}: {hint} is not a list"
        assert get_args(_bare(hint)) == (LIST_KINDS[row.kind],), f"{path}: {hint}"
    else:
        declared = KIND_TYPES[row.kind]
        if row.kind is Kind.INTEGER:
            assert _bare(hint) is int, f"{path}: kind {row.kind} but declared {hint}"
        elif row.kind is Kind.BIND_ADDRESS_OR_LIST:
            one, many = get_args(hint)
            assert one == models.BindAddress, f"{path}: {hint}"
            assert get_args(_bare(many)) == (models.BindAddress,), f"{path}: {hint}"
        else:
            accepted = declared if isinstance(declared, tuple) else (declared,)
            assert hint in accepted, f"{path}: kind {row.kind} but declared {hint}"
        assert not row.choices or row.kind is Kind.LOG_TARGETS, f"{path}: choices on a non-choice"
    assert (row.unit == "us") == (row.kind is Kind.DURATION), f"{path}: unit {row.unit}"


def test_log_choices_are_what_the_log_check_accepts() -> None:
    row = fields.field("global.log")
    for word in row.choices:
        assert models.Global.model_validate({"log": word}).log == word
    assert "udp://127.0.0.1:514" not in row.choices


@pytest.mark.parametrize("row", FIELDS, ids=[f.path for f in FIELDS])
def test_every_field_has_its_model_docstring(row: fields.Field) -> None:
    assert row.doc and len(row.doc) > 10, row.path


def test_locate_maps_full_spec_paths_to_scope_and_field() -> None:
    cases = {
        ("pools", "cp", "servers", "m1", "weight"): (Scope.SERVER, "weight"),
        ("pools", "cp", "weight"): (Scope.POOL, "weight"),
        ("defaults", "weight"): (Scope.DEFAULTS, "weight"),
        ("pools", "cp", "health", "expect", 0): (Scope.POOL, "health.expect"),
        ("frontends", "api", "bind", 1): (Scope.FRONTEND, "bind"),
        ("frontends", "api", "timeouts", "client"): (Scope.FRONTEND, "timeouts.client"),
        ("defaults", "timeouts", "client"): (Scope.DEFAULTS, "timeouts.client"),
        ("global", "health", "path"): (Scope.GLOBAL, "global.health.path"),
        ("name",): (Scope.SPEC, "name"),
    }
    for path, (scope, field_path) in cases.items():
        assert fields.locate(path) == (scope, fields.field(field_path)), path
    for path in [
        ("pools", "cp"),
        ("pools", "cp", "servers", "m1"),
        ("pools", "cp", "timeouts", "client"),  # a frontend timeout: no pool sets it
        ("frontends", "api", "weight"),
        ("global", "stats"),
        (),
    ]:
        assert fields.locate(path) is None, path


def test_resolve_lists_come_from_the_registry() -> None:
    # The lists resolve and explain iterate: the model's fields, in the order explain shows.
    assert tuple(models.Health.model_fields) == resolve.HEALTH_FIELDS
    assert set(resolve.POOL_TIMEOUTS) == set(models.PoolTimeouts.model_fields)
    assert set(resolve.FRONTEND_TIMEOUTS) == set(models.FrontendTimeouts.model_fields)
    assert set(resolve.SERVER_PARAMS) == set(models.ServerParams.model_fields)
    assert set(resolve.POOL_SETTINGS) == (
        set(models.PoolParams.model_fields) - set(models.ServerParams.model_fields) - {"health"}
    )
