"""The nginx parser (crossplane underneath), includes, errors, round trip, engine detection."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbgen.confparse import (
    CODE_ENGINE,
    CODE_INCLUDE,
    CODE_SYNTAX,
    CODE_UNREADABLE,
    detect_engine,
    parse_config,
    parse_config_file,
)
from lbgen.confparse.tree import COMMENT, INCLUDE, ConfigTree
from lbgen.diagnostics import SpecError
from lbgen.nginx.syntax import parse_nginx, quote_arg, write_nginx

FIXTURES = Path(__file__).parent / "fixtures" / "configs"
INCLUDE_MAIN = FIXTURES / "nginx" / "with-include" / "nginx.conf"
NGINX_FIXTURES = [
    *sorted((FIXTURES / "nginx").glob("*.conf")),
    *sorted((FIXTURES / "lint").glob("*.conf")),
    INCLUDE_MAIN,
]
GOLDEN = sorted(p for p in Path(__file__).parent.glob("cases/*/nginx*.conf"))


def test_stream_block_upstream_and_server_params() -> None:
    tree = parse_config_file(FIXTURES / "nginx" / "classic-stream.conf", "nginx")
    assert tree.engine == "nginx"
    assert [n.keyword for n in tree.nodes] == [COMMENT, COMMENT, "stream"]
    upstream = tree.nodes[2].children[0]
    assert upstream.words() == ("upstream", "kubernetes")
    first = upstream.children[0]
    assert first.words() == (
        "server",
        "192.168.10.11:6443",
        "weight=5",
        "max_fails=3",
        "fail_timeout=30s",
    )
    assert (first.line, first.col) == (5, 9)
    assert first.raw is not None and first.raw.strip().startswith("server 192.168.10.11")


def test_comments_are_kept_and_trailing_ones_attach_to_their_line() -> None:
    text = "# head\nstream {\n    upstream u {  # pool\n        server a:1;  # first\n    }\n}\n"
    tree = parse_nginx(text, "c.conf")
    assert tree.leading_comments() == [" head"]
    upstream = tree.nodes[1].children[0]
    assert upstream.children[0].keyword == COMMENT  # "# pool" opens the block's body
    assert upstream.children[1].comment == " first"


def test_upstreams_layout_and_bare_stream_block() -> None:
    upstreams = parse_config_file(FIXTURES / "nginx" / "upstreams-only.conf", "nginx")
    assert [n.keyword for n in upstreams.directives()] == ["upstream", "server"]
    bare = parse_nginx("stream {\n    upstream u {\n        server a:1;\n    }\n}\n")
    assert [n.keyword for n in bare.directives()] == ["stream"]


def test_includes_are_resolved_with_their_own_file_names() -> None:
    tree = parse_config_file(INCLUDE_MAIN, "nginx")
    stream = next(n for n in tree.directives() if n.keyword == "stream")
    include = next(n for n in stream.children if n.keyword == INCLUDE)
    assert include.args == ("conf.d/*.conf",)
    upstream = next(n for n in include.children if n.keyword == "upstream")
    assert upstream.file is not None and upstream.file.endswith("conf.d/upstreams.conf")
    assert upstream.line == 2
    # Node.directives() expands includes in place
    assert [n.keyword for n in stream.directives()][:3] == [
        "proxy_connect_timeout",
        "proxy_timeout",
        "upstream",
    ]
    assert len(tree.files) == 2


def test_a_glob_include_matching_nothing_is_fine(tmp_path: Path) -> None:
    main = tmp_path / "nginx.conf"
    main.write_text("stream {\n    include missing.d/*.conf;\n}\n")
    tree = parse_config_file(main, "nginx")
    assert tree.nodes[0].children[0].children == ()


def test_missing_include_is_a_diagnostic_at_the_include_line(tmp_path: Path) -> None:
    main = tmp_path / "nginx.conf"
    main.write_text("events {}\nstream {\n    include upstreams.conf;\n}\n")
    with pytest.raises(SpecError) as caught:
        parse_config_file(main, "nginx")
    (diag,) = caught.value.diagnostics
    assert (diag.code, diag.file, diag.line) == (CODE_INCLUDE, str(main), 3)


def test_an_include_cycle_is_a_diagnostic(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("include b.conf;\n")
    (tmp_path / "b.conf").write_text("include a.conf;\n")
    with pytest.raises(SpecError) as caught:
        parse_config_file(tmp_path / "a.conf", "nginx")
    assert caught.value.diagnostics[0].code == CODE_INCLUDE
    assert "includes itself" in caught.value.diagnostics[0].message


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("stream {\n    upstream u {\n        server a:1;\n    }\n", 4, "unexpected end of file"),
        ("stream {\n}\n}\n", 3, 'unexpected "}"'),
        ("stream {\n    proxy_timeout;\n}\n", 2, "invalid number of arguments"),
    ],
)
def test_syntax_errors_are_diagnostics(text: str, line: int, needle: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_nginx(text, "bad.conf")
    diag = caught.value.diagnostics[0]
    assert (diag.code, diag.file, diag.line) == (CODE_SYNTAX, "bad.conf", line)
    assert needle in diag.message


@pytest.mark.parametrize(
    ("text", "line", "directive"),
    [
        # full and stream layouts: crossplane's own context table, from the main context
        ("stream {\n    upstream u {\n        proxy_pass u;\n    }\n}\n", 3, "proxy_pass"),
        ("events {}\nstream {\n    listen 1;\n}\n", 3, "listen"),
        ("proxy_timeout 5s;\nstream {\n}\n", 1, "proxy_timeout"),
        # the upstreams layout: its top level is read inside stream {}
        ("upstream u {\n    server a:1;\n    listen 1;\n}\n", 3, "listen"),
        ("upstream u {\n    server a:1;\n}\nworker_processes 2;\n", 4, "worker_processes"),
    ],
)
def test_directives_out_of_their_context_are_errors(text: str, line: int, directive: str) -> None:
    """crossplane's context checks apply in the context each statement is really read in."""
    with pytest.raises(SpecError) as caught:
        parse_nginx(text, "bad.conf")
    diag = caught.value.diagnostics[0]
    assert (diag.code, diag.line) == (CODE_SYNTAX, line)
    assert diag.message == f'"{directive}" directive is not allowed here'


#: Directives of other modules that configs put in a stream context: http's upstream method, and
#: NGINX Plus's zone_sync, which belongs in a stream server.
_MISPLACED = [
    ("upstream u {\n    ip_hash;\n    server 127.0.0.1:1;\n}\n", 2, "ip_hash"),
    ("zone_sync;\nupstream u {\n    server 127.0.0.1:1;\n}\n", 1, "zone_sync"),
]


@pytest.mark.parametrize(("body", "line", "directive"), _MISPLACED)
def test_directives_nginx_refuses_in_a_stream_context_are_errors(
    body: str, line: int, directive: str
) -> None:
    """The reader refuses what nginx refuses (it once read both as if nginx took them), and the
    real nginx is the oracle: ``nginx -t`` fails on the same text."""
    text = "events {}\nstream {\n" + body + "    server {\n        listen 127.0.0.1:7443;\n"
    text += "        proxy_pass u;\n    }\n}\n"
    with pytest.raises(SpecError) as caught:
        parse_nginx(text, "bad.conf")
    diag = caught.value.diagnostics[0]
    assert (diag.code, diag.line) == (CODE_SYNTAX, line + 2)
    assert diag.message == f'"{directive}" directive is not allowed here'
    engines = pytest.importorskip("lbgen.runners")
    if not engines.LocalRunner().available("nginx"):
        pytest.skip("nginx is not installed")
    result = engines.check_config(text, "nginx", runner="local")
    if result.load_module:
        text = f"load_module {result.load_module};\n{text}"
        result = engines.check_config(text, "nginx", runner="local")
    assert not result.ok and directive in result.output, result.output


def test_an_included_file_is_checked_in_the_context_of_its_include(tmp_path: Path) -> None:
    (tmp_path / "ups.conf").write_text("upstream u {\n    server a:1;\n}\n")
    (tmp_path / "bad.conf").write_text("proxy_pass u;\n")
    main = tmp_path / "nginx.conf"
    main.write_text(
        "events {}\nstream {\n    include ups.conf;\n    server {\n        listen 1;\n"
        "        proxy_pass u;\n    }\n}\n"
    )
    assert parse_config_file(main, "nginx").nodes  # upstream inside stream {}: fine
    main.write_text("events {}\nstream {\n    include bad.conf;\n}\n")
    with pytest.raises(SpecError) as caught:
        parse_config_file(main, "nginx")
    diag = caught.value.diagnostics[0]
    assert (diag.file, diag.line) == (str(tmp_path / "bad.conf"), 1)
    assert "not allowed here" in diag.message


def test_binary_and_non_utf8_input_are_diagnostics(tmp_path: Path) -> None:
    binary = tmp_path / "bin.conf"
    binary.write_bytes(b"stream {\n\x00\xff\xfe}\n")
    with pytest.raises(SpecError) as caught:
        parse_config_file(binary, "nginx")
    assert caught.value.diagnostics[0].code == CODE_UNREADABLE
    # ... also inside an included file, reported against that file
    (tmp_path / "inc.conf").write_bytes(b"upstream u {\n    server caf\xe9:1;\n}\n")
    main = tmp_path / "nginx.conf"
    main.write_text("stream {\n    include inc.conf;\n}\n")
    with pytest.raises(SpecError) as caught:
        parse_config_file(main, "nginx")
    diag = caught.value.diagnostics[0]
    assert (diag.code, diag.line) == (CODE_UNREADABLE, 2)
    assert diag.file is not None and diag.file.endswith("inc.conf")


def test_crossplane_is_not_imported_by_lbgen_itself() -> None:
    for name in [m for m in sys.modules if m == "crossplane" or m.startswith("crossplane.")]:
        del sys.modules[name]
    import importlib

    import lbgen
    import lbgen.confparse
    import lbgen.lint

    importlib.reload(lbgen)
    assert "crossplane" not in sys.modules


# --- round trip --------------------------------------------------------------------------------


def _round_trip(tree: ConfigTree) -> None:
    text = write_nginx(tree)
    again = parse_nginx(text, tree.file)  # same name: relative includes resolve the same way
    assert again == tree
    assert write_nginx(again) == text


@pytest.mark.parametrize("path", NGINX_FIXTURES + GOLDEN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_round_trip_of_every_fixture(path: Path) -> None:
    _round_trip(parse_config_file(path, "nginx"))


def test_inlined_includes_give_one_self_contained_file() -> None:
    tree = parse_config_file(INCLUDE_MAIN, "nginx")
    text = write_nginx(tree, inline_includes=True)
    assert "include" not in text
    assert "random two least_conn;" in text
    flat = parse_nginx(text, "flat.conf")
    assert [n.keyword for n in flat.nodes[-1].directives()] == [
        n.keyword for n in tree.nodes[-1].directives()
    ]


_ARG = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\\'\"{};#$"
    )
    | st.sampled_from(list(" ;{}'\"#")),
    min_size=1,
    max_size=12,
)


@given(st.lists(_ARG, min_size=1, max_size=5))
def test_quote_arg_round_trips(args: list[str]) -> None:
    text = "stream {\n    x " + " ".join(quote_arg(a) for a in args) + ";\n}\n"
    tree = parse_nginx(text, "q.conf")
    assert tree.nodes[0].children[0].args == tuple(args)


# --- the engine agrees with the fixtures -------------------------------------------------------


@pytest.mark.parametrize(
    "path", [*sorted((FIXTURES / "nginx").glob("*.conf")), INCLUDE_MAIN], ids=lambda p: p.name
)
def test_style_fixtures_are_configs_nginx_accepts(path: Path) -> None:
    engines = pytest.importorskip("lbgen.runners")
    if not engines.LocalRunner().available("nginx"):
        pytest.skip("nginx is not installed")
    tree = parse_config_file(path, "nginx")
    # includes inlined: the engine check runs in a temporary folder
    text = write_nginx(tree, inline_includes=True)
    result = engines.check_config(text, "nginx", runner="local")
    if result.load_module:
        # A full nginx.conf is checked as written; Debian's own loads the dynamic stream module
        # through modules-enabled/, which these fixtures leave out: put that line back.
        text = f"load_module {result.load_module};\n{text}"
        result = engines.check_config(text, "nginx", runner="local")
    assert result.ok, result.output


# --- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [*sorted(FIXTURES.glob("*/*.c*")), INCLUDE_MAIN, *GOLDEN],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_engine_detection_on_every_fixture(path: Path) -> None:
    expected = "haproxy" if path.suffix == ".cfg" else "nginx"
    # the name must not be what decides: detect from the text alone
    assert detect_engine(path.read_text(), None) == expected
    assert parse_config_file(path).engine == expected


def test_undetectable_text_is_a_diagnostic() -> None:
    assert detect_engine("", None) is None
    with pytest.raises(SpecError) as caught:
        parse_config("", "empty")
    assert caught.value.diagnostics[0].code == CODE_ENGINE
    # an explicit engine is used as given
    assert parse_config("", "empty", "nginx").nodes == ()
    with pytest.raises(SpecError):
        parse_config("", "empty", "varnish")


def test_an_haproxy_file_read_as_nginx_gets_a_message() -> None:
    from lbgen.confparse import parse_config_file
    from lbgen.diagnostics import SpecError

    path = Path(__file__).parent / "fixtures" / "configs" / "classic" / "haproxy.cfg"
    with pytest.raises(SpecError) as caught:
        parse_config_file(path, engine="nginx")
    messages = [d.message for d in caught.value.diagnostics]
    assert messages and all(m.strip() for m in messages)


@pytest.mark.parametrize(("depth", "refused"), [(64, False), (65, True), (100_000, True)])
def test_blocks_nested_past_the_limit_are_an_error_at_their_line(depth: int, refused: bool) -> None:
    """crossplane's parser recurses once per block and gave up at Python's recursion limit with
    no position; the reader refuses the 65th level at its own line first."""
    text = "x {\n" * depth + "}\n" * depth
    try:
        parse_nginx(text, "deep.conf")
        errors: list[tuple[str, int | None]] = []
    except SpecError as exc:
        errors = [(d.message, d.line) for d in exc.diagnostics]
    deep = [e for e in errors if "nested deeper" in e[0]]
    assert deep == ([("blocks nested deeper than 64 levels", 65)] if refused else [])
