"""The nginx directive table (lbgen/nginx/table.py): each row is one two-way mapping.

- every row with a codec reads back what it writes (``parse(render(v)) == v``, hypothesis);
- every field nginx OSS cannot express yields the row's warning, code and text, when a spec sets
  it, and NGINX Plus expresses the ones its rows replace;
- the row names are directives nginx accepts where the row says: crossplane's own directive
  table for the directives, the real ``nginx -t`` for the ``server`` parameters.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import crossplane.analyzer as analyzer
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lbgen
from lbgen.directives import Codec, Directive, DirectiveTable
from lbgen.nginx import ENGINE, PLUS_ENGINE
from lbgen.nginx.table import (
    BALANCE_METHODS,
    PLUS_TABLE,
    TABLE,
    BodyExpect,
    FailTimeout,
    Integer,
    Method,
    OnOff,
    StatusExpect,
    Time,
    Tries,
    Zone,
)
from lbgen.spec.grammar import EXPECT_BODY
from tests.engine_check import engine_check

CASES = Path(__file__).parent / "cases"
_MS = 1_000
_S = 1_000_000

# Whole milliseconds (nginx's finest unit) up to a century.
_TIMES = st.integers(0, 100 * 365 * 86_400 * 1_000).map(lambda ms: ms * _MS)


@st.composite
def _fail_windows(draw: st.DrawFn) -> tuple[int, int]:
    """``(interval, fall)`` that fail_timeout represents exactly: ``interval`` whole ms and
    ``interval * fall`` whole seconds (fail_timeout has seconds resolution)."""
    fall = draw(st.integers(1, 1_000))
    step = fall // math.gcd(fall, 1_000)  # total seconds must be a multiple of this
    seconds = step * draw(st.integers(0, 10**6))
    return seconds * 1_000 // fall * _MS, fall


_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    Integer: st.integers(0, 2**63 - 1),
    Time: _TIMES,
    FailTimeout: _fail_windows(),
    Tries: st.integers(0, 2**62),
    OnOff: st.booleans(),
    # static-rr has no nginx method of its own (the view says so): it renders as round robin.
    Method: st.sampled_from([b for b in BALANCE_METHODS if b != "static-rr"]),
    StatusExpect: st.lists(st.integers(100, 599), min_size=1, unique=True).map(
        lambda codes: tuple(sorted(codes))
    ),
    BodyExpect: st.from_regex(EXPECT_BODY.pattern, fullmatch=True),
    Zone: st.tuples(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,30}", fullmatch=True), st.integers(1, 2**40)
    ),
}

CODEC_ROWS = [
    pytest.param(table, row, id=f"{table.engine}:{row.name}:{row.contexts[0]}")
    for table in (TABLE, PLUS_TABLE)
    for row in table
    if row.codec is not None
]


def _round_trip(row: Directive, codec: Codec, value: Any) -> Any:
    """What reading back the rendered text gives, in the row's own terms."""
    text = codec.render(value)
    if isinstance(codec, FailTimeout):
        # The window is read; the interval is solved from it with fall (read from max_fails).
        return FailTimeout.interval(codec.parse(text), value[1]), value[1]
    return codec.parse(text)


@pytest.mark.parametrize(("table", "row"), CODEC_ROWS)
def test_every_codec_row_reads_back_what_it_writes(table: DirectiveTable, row: Directive) -> None:
    codec = row.codec
    assert codec is not None
    strategy = _STRATEGIES[type(codec)]  # a new codec needs a strategy here
    if isinstance(codec, Integer):
        strategy = st.integers(codec.minimum, 2**63 - 1)

    @settings(max_examples=150, deadline=None)
    @given(strategy)
    def check(value: Any) -> None:
        assert _round_trip(row, codec, value) == value

    check()


def test_codecs_refuse_what_nginx_refuses() -> None:
    """parse is the inverse on the values nginx accepts and refuses the rest."""
    for codec, text in ((Integer(1), "0"), (Integer(), "-1"), (Time(), "5x"), (Tries(), "0"),
                        (OnOff(), "yes"), (Method(), "ip_hash"), (Zone(), "z")):  # fmt: skip
        with pytest.raises(ValueError):
            codec.parse(text)
    assert FailTimeout().render((1_500 * _MS, 3)) == "5s"  # 4.5 s rounds up to whole seconds
    assert Tries().render(2) == "3"  # the first attempt counts


def test_the_engines_carry_their_tables() -> None:
    assert ENGINE.table is TABLE and PLUS_ENGINE.table is PLUS_TABLE
    assert ENGINE.default_layout == "stream" == PLUS_ENGINE.default_layout
    assert lbgen.render(lbgen.load_spec(CASES / "classic-nginx" / "spec.yaml"), "nginx").layout == (
        ENGINE.default_layout
    )


# --- what nginx cannot express -----------------------------------------------------------------

#: Where a spec sets each field and a value for it, with the check it needs to be meaningful.
_SETTINGS: dict[str, tuple[str, str, str]] = {
    # field: (check, the YAML under pools.cp, under frontends.api)
    "health.rise": ("tcp", "health: {rise: 4}", ""),
    "health.fast_interval": ("tcp", "health: {fast_interval: 1s}", ""),
    "health.down_interval": ("tcp", "health: {down_interval: 9s}", ""),
    "health.timeout": ("tcp", "health: {timeout: 2s}", ""),
    "health.port": ("tcp", "health: {port: 6444}", ""),
    "health.path": ("http", "health: {path: /livez}", ""),
    "health.expect": ("http", "health: {expect: [200]}", ""),
    # alone (expect: null): an NGINX Plus match block has one expect
    "health.expect_body": ("http", "health: {expect: null, expect_body: ok}", ""),
    "health.sni": ("tls", "health: {sni: api.example}", ""),
    "health.client_cert": ("tls", "health: {client_cert: client.pem}", ""),
    "maxqueue": ("tcp", "maxqueue: 7", ""),
    "slowstart": ("tcp", "slowstart: 30s", ""),
    "timeouts.server_fin": ("tcp", "timeouts: {server_fin: 3s}", ""),
    "timeouts.queue": ("tcp", "timeouts: {queue: 3s}", ""),
    "timeouts.client_fin": ("tcp", "", "timeouts: {client_fin: 3s}"),
    "global.health.timeout": ("tcp", "", ""),
}

#: The ``global:`` block of a field set there (the YAML under ``global``).
_GLOBAL_SETTINGS: dict[str, str] = {
    "global.health.timeout": 'health: {bind: "127.0.0.1:8081", timeout: 50s}',
}


def _spec_setting(tmp_path: Path, field: str) -> Path:
    check, pool_yaml, frontend_yaml = _SETTINGS[field]
    shutil.copy(CASES / "check-https-client-cert" / "client.pem", tmp_path / "client.pem")
    lines = [
        "version: 1",
        *(["global:", f"  {_GLOBAL_SETTINGS[field]}"] if field in _GLOBAL_SETTINGS else []),
        "defaults:",
        f"  health: {{check: {check}}}",
        "frontends:",
        "  api:",
        '    bind: ["127.0.0.1:6443"]',
        "    pool: cp",
        *([f"    {frontend_yaml}"] if frontend_yaml else []),
        "pools:",
        "  cp:",
        *([f"    {pool_yaml.replace('health: {', f'health: {{check: {check}, ')}"]
          if pool_yaml else []),
        "    servers:",
        "      m1: 10.0.0.1:6443",
        "      m2: 10.0.0.2:6443",
    ]  # fmt: skip
    path = tmp_path / "spec.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_every_lost_field_has_a_setting_here() -> None:
    assert {row.field for row in TABLE.unsupported()} == set(_SETTINGS)


@pytest.mark.parametrize(
    ("target", "row"),
    [
        pytest.param(e.name, row, id=f"{e.name}:{row.field}")
        for e in (ENGINE, PLUS_ENGINE)
        for row in e.table.unsupported()
    ],
)
def test_every_unsupported_row_is_the_warning_when_its_field_is_set(
    tmp_path: Path, target: str, row: Directive
) -> None:
    """Set the field in a spec: the rendering warns with the row's code and text, at the line
    that sets it; with the field unset there is no such warning."""
    assert row.field is not None and row.code is not None
    spec = lbgen.load_spec(_spec_setting(tmp_path, row.field))
    found = [
        d for d in lbgen.render(spec, target).diagnostics
        if d.code == row.code and d.message.endswith(row.unsupported or "")
    ]  # fmt: skip
    assert [d.path.rsplit(".", 1)[-1] for d in found] == [row.field.rsplit(".", 1)[-1]]
    plain = lbgen.load_spec(_spec_setting(tmp_path, "health.rise").read_text()
                            .replace("health: {check: tcp, rise: 4}", "health: {check: tcp}")
                            .encode())  # fmt: skip
    assert not [d for d in lbgen.render(plain, target).diagnostics if d.code == row.code]


def test_plus_expresses_what_its_rows_replace(tmp_path: Path) -> None:
    """The Plus table is the OSS table with Plus rows in place of the OSS ``unsupported`` rows
    for active checks and slow start; what neither can express stays unsupported in both."""
    oss_lost = {row.field for row in TABLE.unsupported()}
    plus_lost = {row.field for row in PLUS_TABLE.unsupported()}
    assert plus_lost < oss_lost
    expressed = {
        "health.rise", "health.timeout", "health.path", "health.expect", "health.expect_body",
        "health.port", "slowstart",
    }  # fmt: skip
    for field in expressed:
        assert any(row.expressible for row in PLUS_TABLE.for_field(field)), field
        assert not any(row.expressible for row in TABLE.for_field(field)), field
    for field in expressed:
        spec = lbgen.load_spec(_spec_setting(tmp_path, field))
        rendered = lbgen.render(spec, "nginx-plus")
        assert not [d for d in rendered.diagnostics if d.path.endswith(field.split(".")[-1])]
    # The OSS rows that are not Plus's are the check details (sni, client_cert: lost with a
    # check kind NGINX Plus does not run, as the view says per check kind).
    assert oss_lost - plus_lost - expressed == {"health.sni", "health.client_cert"}


# --- the names are nginx's ---------------------------------------------------------------------

_CROSSPLANE_CONTEXT = {
    "stream": ("stream",),
    "server": ("stream", "server"),
    "upstream": ("stream", "upstream"),
}


@pytest.mark.parametrize("table", [TABLE, PLUS_TABLE], ids=lambda t: t.engine)
def test_directive_rows_are_directives_crossplane_allows_there(table: DirectiveTable) -> None:
    """crossplane's own directive table (``DIRECTIVES`` masks against ``CONTEXTS``) accepts every
    row's name in every context it lists. ``match`` blocks are NGINX Plus's: crossplane has no
    stream ``match`` context, so their ``send``/``expect`` rows are left to the golden cases."""
    checked = 0
    for row in table:
        for context in row.contexts:
            if context not in _CROSSPLANE_CONTEXT:
                continue
            masks = analyzer.DIRECTIVES.get(row.name, [])
            allowed = [m for m in masks if m & analyzer.CONTEXTS[_CROSSPLANE_CONTEXT[context]]]
            assert allowed, f"crossplane: {row.name} is not allowed in {context}"
            checked += 1
    assert checked >= 10


def test_server_parameter_rows_are_accepted_by_nginx() -> None:
    """Every OSS ``server`` parameter row, written by its codec, passes the real ``nginx -t``."""
    params = []
    for row in TABLE:
        if row.contexts != ("upstream server",):
            continue
        if row.codec is None:
            params.append(row.name)
        elif isinstance(row.codec, FailTimeout):
            params.append(f"{row.name}={row.codec.render((10 * _S, 3))}")
        else:
            params.append(f"{row.name}={row.codec.render(5)}")
    assert {"weight", "max_fails", "fail_timeout", "max_conns", "backup", "down"} <= {
        p.partition("=")[0] for p in params
    }
    text = (
        "stream {\n    upstream u {\n        zone u 64k;\n        server 127.0.0.1:9;\n"
        f"        server 127.0.0.1:10 {' '.join(params)};\n    }}\n"
        "    server {\n        listen 127.0.0.1:19999;\n        proxy_pass u;\n    }\n}\n"
    )
    result = engine_check(text, "nginx")
    assert result.ok, result.output
