"""An engine oracle for lost listeners (issue 10, item 3).

Every corpus file is imported with the CLI, the spec rendered back for the same engine, and both
configs are started with the real engine, each in its own network namespace (see
tests/corpus_engines.py); the TCP sockets each one listens on (``ss -ltnH``) must be the same set.
``*:P`` (dual-stack wildcard), ``[::]:P`` (IPv6 only) and ``0.0.0.0:P`` are different listeners:
turning the first into the second loses every IPv4 client.

The oracle itself is checked first, on configs written here: that it reads each bind spelling as
the engine listens on it, and that it reports a listener lost when one is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.corpus_engines import (
    FILES,
    binary,
    can_isolate,
    compare,
    listening,
    round_trip,
    table,
)

pytestmark = pytest.mark.skipif(not can_isolate(), reason="needs root, unshare, ip and ss")


class _Figures:
    """Figures printed in the terminal summary whatever ``-s`` says (as tests/adversarial does)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("lbgen corpus listener figures")
            for node, text in self.lines:
                terminalreporter.write_line(f"{node}: {text}")


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Callable[[str], None]]:
    """``figures("text")`` records a line for the summary (and prints it)."""
    plugins = request.config.pluginmanager
    sink = plugins.get_plugin("lbgen-corpus-listener-figures")
    if sink is None:
        sink = _Figures()
        plugins.register(sink, "lbgen-corpus-listener-figures")

    def record(text: str) -> None:
        print(text)
        sink.lines.append((request.node.nodeid, text))

    yield record


@pytest.fixture(autouse=True)
def _engines_installed() -> None:
    for engine in ("haproxy", "nginx"):
        if binary(engine) is None:
            pytest.fail(f"{engine} is not installed: the oracle needs the real engine")


HAPROXY_HEAD = """\
global
  log stdout format raw local0
defaults
  mode tcp
  timeout connect 5s
  timeout client 50s
  timeout server 50s
"""
HAPROXY_TAIL = "  default_backend api\nbackend api\n  server a 192.0.2.11:6443\n"


def haproxy(*binds: str) -> str:
    """An haproxy config with one frontend holding ``binds``."""
    return HAPROXY_HEAD + "frontend api\n" + "".join(f"  bind {b}\n" for b in binds) + HAPROXY_TAIL


def nginx(*listens: str, http: str = "") -> str:
    """An nginx config with one stream server holding ``listens`` (and an ``http`` block)."""
    lines = "".join(f"    listen {item};\n" for item in listens)
    return (
        "events {}\nerror_log stderr;\n"
        f"stream {{\n  server {{\n{lines}    proxy_pass 192.0.2.11:6443;\n  }}\n}}\n{http}"
    )


def test_haproxy_bind_spellings_as_the_engine_listens(tmp_path: Any) -> None:
    got = listening(
        "haproxy",
        haproxy(
            ":7001",
            "*:7002",
            ":::7003",
            ":::7004 v4v6",
            ":::7005 v6only",
            ":::7006;",
            "127.0.0.1:7007",
            "::1:7008",
            "192.0.2.10:7009",
            "2001:db8::10:7010",
        ),
        tmp_path,
    )
    assert got.error == ""
    assert got.sockets == {
        "0.0.0.0:7001",
        "0.0.0.0:7002",
        "*:7003",  # bind :::P is dual-stack on Linux (net.ipv6.bindv6only=0)
        "*:7004",
        "[::]:7005",  # v6only: IPv4 clients are not served
        "*:7006",  # HAProxy ignores the stray ';'
        "127.0.0.1:7007",
        "[::1]:7008",
        "192.0.2.10:7009",  # added to lo in the namespace
        "[2001:db8::10]:7010",
    }


def test_nginx_listen_spellings_as_the_engine_listens(tmp_path: Any) -> None:
    got = listening(
        "nginx",
        nginx(
            "7001",
            "[::]:7002",
            "[::]:7003 ipv6only=off",
            "127.0.0.1:7004",
            "192.0.2.10:7005",
            "[2001:db8::10]:7006",
        ),
        tmp_path,
    )
    assert got.error == ""
    assert got.sockets == {
        "0.0.0.0:7001",
        "[::]:7002",  # nginx sets ipv6only=on by default
        "*:7003",
        "127.0.0.1:7004",
        "192.0.2.10:7005",
        "[2001:db8::10]:7006",
    }


def test_oracle_reports_lost_and_added_listeners() -> None:
    # What lbgen did to `bind :::6443 v4v6` and to a second (health) frontend when issue 10 was
    # filed: the dual-stack listener became IPv6-only and the health port went.
    health = "frontend health\n  bind 0.0.0.0:8081\n  default_backend api\n"
    original = haproxy(":::6443 v4v6").replace("frontend api", health + "frontend api")
    rendered = haproxy(":::6443 v6only")
    result = compare("haproxy", original, rendered)
    assert result.original.sockets == {"*:6443", "0.0.0.0:8081"}
    assert result.lost == {"*:6443", "0.0.0.0:8081"}
    assert result.added == {"[::]:6443"}


def test_oracle_reports_lost_nginx_http_listener() -> None:
    health = "http {\n  server {\n    listen 8081;\n    location /healthz { return 200; }\n  }\n}\n"
    result = compare("nginx", nginx("127.0.0.1:6443", http=health), nginx("127.0.0.1:6443"))
    assert result.lost == {"0.0.0.0:8081"}
    assert result.added == set()


def test_oracle_finds_nothing_lost_when_the_same_sockets_listen() -> None:
    # Different spellings, same sockets: not a difference.
    result = compare("haproxy", haproxy(":::6443", "*:8081"), haproxy(":::6443 v4v6", ":8081"))
    assert result.original.sockets == {"*:6443", "0.0.0.0:8081"}
    assert (result.lost, result.added) == (set(), set())


def test_a_rendering_the_engine_will_not_start_loses_every_listener() -> None:
    result = compare("haproxy", haproxy("*:6443"), haproxy("*:6443") + "backend api\n")
    assert result.rendered.error != ""
    assert result.lost == {"0.0.0.0:6443"}


def test_no_listener_lost_on_the_corpus(figures: Callable[[str], None]) -> None:
    rows = [round_trip(sys.executable, path) for path in FILES]
    for line in table(rows):
        figures(line)
    # Every original must start and listen: otherwise the comparison below proves nothing.
    assert {r.name: r.original.error for r in rows if r.original.error} == {}
    assert [r.name for r in rows if not r.original.sockets] == []
    measured = [r for r in rows if r.rendered is not None]
    assert len(measured) >= len(rows) // 2, "most files must import for the oracle to mean much"
    lost = {r.name: sorted(r.lost) for r in measured if r.lost}
    # Nothing is lost: k8sclass-terraform-nginx.conf's http {} reverse proxy on :80 is kept in
    # global.extra.nginx_sections, linuxwt's 127.0.0.1:16444 beside *:16444 (a bind the spec
    # refuses as overlapping) as a verbatim line of its frontend.
    expected: dict[str, list[str]] = {}
    assert lost == expected, f"listeners lost by import + render: {lost}"
