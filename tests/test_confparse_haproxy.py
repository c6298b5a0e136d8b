"""The HAProxy parser: words, quoting (manual §2.2), sections, errors, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbgen.confparse import CODE_SYNTAX, CODE_UNREADABLE, parse_config_file
from lbgen.confparse.tree import COMMENT, ConfigTree, Node
from lbgen.diagnostics import SpecError
from lbgen.haproxy.syntax import SECTIONS, parse_haproxy, quote_word, split_line, write_haproxy

FIXTURES = Path(__file__).parent / "fixtures" / "configs"
HAPROXY_FIXTURES = sorted((FIXTURES / "haproxy").glob("*.cfg")) + sorted(
    (FIXTURES / "lint").glob("*.cfg")
)
GOLDEN = sorted(Path(__file__).parent.glob("cases/*/haproxy.cfg"))


def words(line: str) -> list[str]:
    return [w for w, _ in split_line(line).words]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("server s1 10.0.0.1:6443 check", ["server", "s1", "10.0.0.1:6443", "check"]),
        ("  \tbind\t:6443  ", ["bind", ":6443"]),
        # backslash escapes outside quotes
        (r"log-format %t\ %s", ["log-format", "%t %s"]),
        (r"a \#b \\ \' \"", ["a", "#b", "\\", "'", '"']),
        (r"a\x41\x4a b\n", ["aAJ", "b\n"]),
        (r"regsub(\1)", ["regsub(\\1)"]),  # unknown escapes stay as written
        # weak quoting: spaces, '#' and single quotes protected, escapes still processed
        ('log-format "%t %s # x \' y"', ["log-format", "%t %s # x ' y"]),
        (r'x "a\"b\\c\$d"', ["x", 'a"b\\c$d']),
        # environment variables are left as text for HAProxy to expand
        ('log "${LOG_TARGET}" local0', ["log", "${LOG_TARGET}", "local0"]),
        ("user $HOME", ["user", "$HOME"]),
        # strong quoting: nothing is interpreted
        (r"x 'a\b #c \"'", ["x", 'a\\b #c \\"']),
        # quoted parts glue to their word; an empty pair is an empty word
        ("log-format \"%{+Q}o %t\"' %s'\\ %{-Q}r", ["log-format", "%{+Q}o %t %s %{-Q}r"]),
        ('a "" b', ["a", "", "b"]),
        # '#' starts a comment anywhere outside quotes, even inside a word
        ("server s1 1.2.3.4:80 check#weight 5", ["server", "s1", "1.2.3.4:80", "check"]),
        ("# only a comment", []),
    ],
)
def test_split_line_follows_the_manual(line: str, expected: list[str]) -> None:
    assert words(line) == expected


def test_split_line_keeps_the_comment_and_its_column() -> None:
    parsed = split_line("  server s1 1.2.3.4:80 check#weight 5 backup")
    assert parsed.comment == "weight 5 backup"
    assert parsed.comment_col == 29
    assert [c for _, c in parsed.words] == [3, 10, 13, 24]


@pytest.mark.parametrize("line", ['bind "1.2.3.4:80', "acl x path 'oops"])
def test_unterminated_quote_is_an_error(line: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_haproxy(f"global\n  {line}\n", "q.cfg")
    (diag,) = caught.value.diagnostics
    assert (diag.file, diag.line, diag.code) == ("q.cfg", 2, CODE_SYNTAX)
    assert "unterminated" in diag.message


SAMPLE = """\
# provenance line
global
    log stdout format raw local0

defaults base
    mode tcp
    timeout connect 5s

defaults  # anonymous, resets everything
    mode tcp

backend cp from base  # uses the named one
    server m1 10.0.0.1:6443 check  # first master

resolvers dns
    nameserver ns1 10.0.0.53:53

userlist admins
    user admin insecure-password 'x y'
"""


def test_sections_children_and_positions() -> None:
    tree = parse_haproxy(SAMPLE, "s.cfg")
    assert tree.engine == "haproxy"
    assert [n.keyword for n in tree.nodes] == [
        COMMENT,
        "global",
        "defaults",
        "defaults",
        "backend",
        "resolvers",
        "userlist",
    ]
    assert tree.leading_comments() == [" provenance line"]
    backend = tree.nodes[4]
    assert backend.args == ("cp", "from", "base")
    assert backend.comment == " uses the named one"
    (server,) = backend.children
    assert server.words() == ("server", "m1", "10.0.0.1:6443", "check")
    assert (server.file, server.line, server.col) == ("s.cfg", 13, 5)
    assert server.comment == " first master"
    assert server.raw == "    server m1 10.0.0.1:6443 check  # first master"
    # opaque sections are kept with their lines
    assert tree.nodes[5].children[0].words() == ("nameserver", "ns1", "10.0.0.53:53")
    assert tree.nodes[6].children[0].args == ("admin", "insecure-password", "x y")


def test_equality_ignores_positions_not_content() -> None:
    a = parse_haproxy("global\n    maxconn 10\n", "a.cfg")
    b = parse_haproxy("\n\nglobal\n\tmaxconn   10\n", "b.cfg")
    c = parse_haproxy("global\n    maxconn 11\n", "a.cfg")
    assert a == b
    assert a != c


def test_crlf_line_endings_are_read_like_lf() -> None:
    assert parse_haproxy("global\r\n    maxconn 10\r\n") == parse_haproxy("global\n maxconn 10\n")


def test_conditional_blocks_are_kept_as_lines() -> None:
    tree = parse_haproxy(".if defined(X)\nglobal\n    .if 1\n    maxconn 1\n    .endif\n.endif\n")
    # conditionals may stand outside sections; inside one they are its lines
    assert tree.nodes[0].words() == (".if", "defined(X)")
    assert [n.keyword for n in tree.nodes[1].children] == [".if", "maxconn", ".endif", ".endif"]
    assert parse_haproxy(write_haproxy(tree)) == tree


def test_unknown_section_before_any_section() -> None:
    with pytest.raises(SpecError) as caught:
        parse_haproxy("fronted api\n    bind :6443\n", "u.cfg")
    diags = caught.value.diagnostics
    assert [(d.line, d.code) for d in diags] == [(1, CODE_SYNTAX), (2, CODE_SYNTAX)]
    assert "unknown section 'fronted'" in diags[0].message


def test_misspelt_section_header_inside_an_indented_file() -> None:
    text = "global\n    maxconn 10\n\nfronted api\n    bind :6443\n"
    with pytest.raises(SpecError) as caught:
        parse_haproxy(text, "m.cfg")
    (diag,) = caught.value.diagnostics
    assert (diag.line, diag.col) == (4, 1)
    assert "fronted" in diag.message


def test_every_error_is_reported_not_only_the_first() -> None:
    text = "bogus\nglobal\n    log 'x\n    maxconn \"1\n"
    with pytest.raises(SpecError) as caught:
        parse_haproxy(text, "e.cfg")
    assert [d.line for d in caught.value.diagnostics] == [1, 3, 4]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"global\n\x00\x01\x02binary", "binary"),
        (b"global\n    description caf\xe9\n", "UTF-8"),
    ],
)
def test_unreadable_bytes_are_diagnostics(tmp_path: Path, data: bytes, needle: str) -> None:
    path = tmp_path / "bad.cfg"
    path.write_bytes(data)
    with pytest.raises(SpecError) as caught:
        parse_config_file(path, "haproxy")
    (diag,) = caught.value.diagnostics
    assert diag.code == CODE_UNREADABLE
    assert diag.line == 2
    assert needle in diag.message


def test_missing_file_is_a_diagnostic(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        parse_config_file(tmp_path / "nope.cfg", "haproxy")
    assert caught.value.diagnostics[0].code == CODE_UNREADABLE


# --- round trip --------------------------------------------------------------------------------


def _round_trip(tree: ConfigTree) -> None:
    text = write_haproxy(tree)
    again = parse_haproxy(text, tree.file)
    assert again == tree
    assert write_haproxy(again) == text  # the canonical form is a fixed point


@pytest.mark.parametrize(
    "path", HAPROXY_FIXTURES + GOLDEN, ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_round_trip_of_every_fixture(path: Path) -> None:
    _round_trip(parse_config_file(path, "haproxy"))


def test_round_trip_keeps_comments_quotes_and_env_references() -> None:
    tree = parse_config_file(FIXTURES / "haproxy" / "quoting.cfg", "haproxy")
    text = write_haproxy(tree)
    assert 'log "${LOG_TARGET}" format raw local0  #' in text
    assert "check  #weight 5" in text
    _round_trip(tree)


_WORD = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
    max_size=20,
)


@given(st.lists(_WORD, min_size=1, max_size=6))
def test_quote_word_round_trips_any_word(items: list[str]) -> None:
    line = "kw " + " ".join(quote_word(w) for w in items)
    assert words(line) == ["kw", *items]


_KEYWORD = st.from_regex(r"[a-z][a-z0-9_.-]{0,10}", fullmatch=True).filter(
    lambda k: k not in SECTIONS
)
_LINE = st.builds(
    lambda k, a, c: Node(k, tuple(a), comment=c),
    _KEYWORD,
    st.lists(_WORD, max_size=4),
    st.none() | st.text(alphabet="abc #'\"\\", max_size=8),
)


@given(st.lists(_LINE, max_size=6))
def test_written_trees_parse_back_equal(lines: list[Node]) -> None:
    tree = ConfigTree("haproxy", "h.cfg", (Node("backend", ("b",), tuple(lines)),))
    assert parse_haproxy(write_haproxy(tree), "h.cfg") == tree


# --- the engine agrees with the fixtures -------------------------------------------------------


@pytest.mark.parametrize("path", sorted((FIXTURES / "haproxy").glob("*.cfg")), ids=lambda p: p.name)
def test_style_fixtures_are_configs_haproxy_accepts(path: Path) -> None:
    engines = pytest.importorskip("lbgen.runners")
    if not engines.LocalRunner().available("haproxy"):
        pytest.skip("haproxy is not installed")
    text = path.read_text()
    result = engines.check_config(text, "haproxy", runner="local")
    assert result.ok, result.output
    # and the canonical rewrite means the same to HAProxy
    rewritten = write_haproxy(parse_haproxy(text, str(path)))
    assert engines.check_config(rewritten, "haproxy", runner="local").ok
