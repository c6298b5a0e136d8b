"""HAProxy lint rules held to the real engine: what ``haproxy -c`` prints (LB107's missing
timeouts, LB114's HTTP-only keywords, LB120's removed ``option http-tunnel``) and what a running
HAProxy's ``show stat`` says (LB105 on tracking servers, LB115's static weights)."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lbgen.haproxy import table
from lbgen.lint import lint_text
from tests.support import free_port, show_stat

HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
)
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")


def haproxy_check(text: str) -> str:
    """What ``haproxy -c`` prints about ``text`` (stdout and stderr together)."""
    assert HAPROXY is not None
    done = subprocess.run(
        [HAPROXY, "-c", "-f", "/dev/stdin"], input=text, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip
    return done.stdout + done.stderr


def lint(text: str, code: str) -> list[str]:
    """The messages of ``code``'s findings on ``text``, each up to its first ': '."""
    found = lint_text(text, "t.cfg", "haproxy", engine_version=(2, 6))
    return [d.message.split(": ")[0] for d in found if d.code == code]


# --- LB107: the proxies HAProxy says lack timeouts ------------------------------------------

HEAD = "global\n    maxconn 100\n"

TIMEOUT_VARIANTS = {
    "backend-without-server-timeout": """
defaults
    mode tcp
frontend api
    bind 127.0.0.1:16443
    timeout client 1h
    default_backend api
backend api
    timeout connect 5s
    server cp1 127.0.0.1:6443 check
backend stats
    mode http
    stats enable
    stats uri /
frontend st
    bind 127.0.0.1:18404
    mode http
    timeout client 10s
    default_backend stats
""",
    "zeros-and-a-tcp-tunnel": """
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend api
    bind 127.0.0.1:16443
    timeout client 0
    default_backend api
backend api
    timeout tunnel 1h
    timeout server 0
    server cp1 127.0.0.1:6443 check
backend noconnect
    timeout connect 0
    server cp1 127.0.0.1:6443 check
""",
    "tunnel-covers-tcp-not-http": """
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
frontend api
    bind 127.0.0.1:16443
    default_backend api
backend api
    timeout tunnel 1h
    server cp1 127.0.0.1:6443 check
backend web
    mode http
    timeout tunnel 1h
    server w1 127.0.0.1:8080
backend tcp0
    timeout tunnel 0
    server cp1 127.0.0.1:6443
""",
    "listen-sections": """
defaults
    mode tcp
listen api
    bind 127.0.0.1:16443
    server cp1 127.0.0.1:6443 check
listen half
    bind 127.0.0.1:16444
    timeout client 1h
    timeout connect 5s
    server cp1 127.0.0.1:6443 check
listen st
    bind 127.0.0.1:18404
    mode http
    stats enable
    stats uri /
listen ok
    bind 127.0.0.1:16445
    timeout client 1h
    timeout connect 5s
    timeout server 1h
    server cp1 127.0.0.1:6443 check
""",
    "templates-and-disabled-proxies": """
defaults
    mode tcp
frontend off
    disabled
    bind 127.0.0.1:16443
    default_backend tmpl
backend tmpl
    timeout connect 5s
    timeout server 5s
    server-template cp 2 127.0.0.1:6443 check
backend tmplnoto
    server-template cp 2 127.0.0.1:6443 check
backend off
    disabled
    server cp1 127.0.0.1:6443
backend empty
    mode tcp
frontend on
    bind 127.0.0.1:16444
    timeout client 1h
    default_backend tmpl
""",
    "everything-set-in-defaults": """
defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend api
    bind 127.0.0.1:16443
    default_backend api
backend api
    server cp1 127.0.0.1:6443 check
""",
}
"""Configs whose proxies HAProxy 2.6 does and does not warn about (each one accepted)."""

EXPECTED_WARNINGS = {
    "backend-without-server-timeout": {"api"},
    "zeros-and-a-tcp-tunnel": {"api", "noconnect"},  # the frontend api, by its client 0
    "tunnel-covers-tcp-not-http": {"web", "tcp0"},  # a tunnel timeout of 0 is none
    "listen-sections": {"api", "half", "st"},
    "templates-and-disabled-proxies": {"tmplnoto"},
    "everything-set-in-defaults": set(),
}


def _engine_warned(text: str) -> set[str]:
    out = haproxy_check(text)
    assert "Configuration file is valid" in out, out
    return set(re.findall(r"missing timeouts for (?:frontend|backend|proxy) '([^']+)'", out))


def _lint_warned(text: str) -> set[str]:
    return {message.split()[1] for message in lint(text, "LB107")}


@pytest.mark.parametrize("name", TIMEOUT_VARIANTS)
def test_lb107_reports_the_proxies_haproxy_warns_about(name: str) -> None:
    """LB107's findings are, proxy by proxy, the "missing timeouts" warnings of haproxy -c."""
    text = HEAD + TIMEOUT_VARIANTS[name]
    assert _lint_warned(text) == EXPECTED_WARNINGS[name]
    if HAPROXY is not None:
        assert _engine_warned(text) == EXPECTED_WARNINGS[name]


def test_lb107_says_what_is_missing_and_points_at_a_zero() -> None:
    text = HEAD + TIMEOUT_VARIANTS["zeros-and-a-tcp-tunnel"]
    found = [d for d in lint_text(text, "t.cfg", "haproxy") if d.code == "LB107"]
    by_subject = {d.message.split(": ")[0]: (d.message.split(": ")[1], d.line) for d in found}
    assert by_subject == {
        "frontend api": ("timeout client 0", 11),
        "backend noconnect": ("timeout connect 0", 18),
    }
    listen = HEAD + TIMEOUT_VARIANTS["listen-sections"]
    messages = {d.message.split(": ")[0]: d.message.split(": ")[1] for d in
                lint_text(listen, "t.cfg", "haproxy") if d.code == "LB107"}  # fmt: skip
    assert messages == {
        "listen api": "no timeout client, no timeout connect, no timeout server (nor timeout "
        "tunnel)",
        "listen half": "no timeout server (nor timeout tunnel)",
        "listen st": "no timeout client",
    }


# --- LB114: HTTP-only keywords in a tcp proxy ------------------------------------------------

EXAMPLES = {
    "cookie": "cookie SRV insert indirect nocache",
    "monitor-uri": "monitor-uri /healthz",
    "http-request": "http-request deny if { src 10.0.0.1 }",
    "http-response": "http-response del-header Server",
    "http-after-response": "http-after-response set-header X-A b",
    "redirect": "redirect location /x if { src 10.0.0.1 }",
    "stats": "stats uri /stats",
}
"""A line for each :data:`table.HTTP_ONLY` row that is more than its keyword."""


def _proxy_with(line: str, mode: str) -> str:
    return (
        f"{HEAD}defaults\n    mode {mode}\n    timeout connect 5s\n    timeout client 1h\n"
        f"    timeout server 1h\nlisten api\n    bind 127.0.0.1:16443\n    {line}\n"
        "    server cp1 127.0.0.1:6443 check\n"
    )


@pytest.mark.parametrize("row", table.HTTP_ONLY, ids=lambda row: row.keyword)
def test_lb114_reports_every_http_only_keyword_in_mode_tcp(row: table.HttpOnly) -> None:
    """Each row: LB114 in mode tcp, not in mode http; where the row says HAProxy warns, haproxy
    -c prints that warning in mode tcp, and not in mode http."""
    line = EXAMPLES.get(row.keyword, row.keyword)
    tcp, http = _proxy_with(line, "tcp"), _proxy_with(line, "http")
    # one finding, naming the side(s) of the listen section the keyword works on
    assert re.fullmatch(
        rf"{re.escape(row.keyword)} in mode tcp \((frontend api|backend api|frontend api, "
        r"backend api)\)",
        " ".join(lint(tcp, "LB114")),
    ), lint(tcp, "LB114")
    assert lint(http, "LB114") == []
    if HAPROXY is not None and row.warning is not None:
        assert row.warning in haproxy_check(tcp)
        assert row.warning not in haproxy_check(http)


@needs_haproxy
def test_haproxy_warns_about_no_http_only_keyword_the_table_misses() -> None:
    """Every ``option`` the 2.6 manual lists that haproxy -c says needs HTTP mode in a tcp
    proxy is a row (the rows without a warning are silent ones, proven by behaviour)."""
    assert HAPROXY is not None
    manual = Path("/usr/share/doc/haproxy/configuration.txt.gz")
    if not manual.exists():
        pytest.skip("the HAProxy manual is not installed")
    import gzip

    names = set(re.findall(r"^(?:no )?option ([a-z0-9-]+)", gzip.decompress(
        manual.read_bytes()).decode(), re.MULTILINE))  # fmt: skip
    warned = set()
    for name in sorted(names):
        out = haproxy_check(_proxy_with(f"option {name}", "tcp"))
        if "requires HTTP mode" in out or "(needs 'mode http')" in out:
            warned.add(f"option {name}")
    rows = {row.keyword for row in table.HTTP_ONLY if row.warning is not None}
    assert warned == {k for k in rows if k.startswith("option ")}


# --- LB120: option http-tunnel ----------------------------------------------------------------


def test_lb120_option_http_tunnel_is_refused() -> None:
    text = _proxy_with("option http-tunnel", "http")
    found = [d for d in lint_text(text, "t.cfg", "haproxy", (2, 6)) if d.code == "LB120"]
    assert [d.line for d in found] == [10]
    assert found[0].message.startswith("'option http-tunnel' was removed in HAProxy 2.1")
    if HAPROXY is not None:
        out = haproxy_check(text)
        assert "'http-tunnel' is not supported any more since HAProxy 2.1" in out
        assert "Configuration file is valid" not in out


# --- running HAProxy: LB105 with track, LB115's static weights --------------------------------


@contextmanager
def _running(text: str, tmp_path: Path) -> Iterator[Path]:
    """HAProxy running ``text`` with a stats socket in ``tmp_path``: yields the socket."""
    from lbgen.runners.local import LocalEngine

    sock = tmp_path / "stats.sock"
    text = text.replace("global\n", f"global\n    stats socket {sock}\n", 1)
    with LocalEngine(text, "haproxy"):
        deadline = time.monotonic() + 30
        while True:
            try:
                show_stat(sock)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield sock


def _wait_for(sock: Path, done: Callable[[list[dict[str, str]]], bool]) -> list[dict[str, str]]:
    deadline = time.monotonic() + 30
    while True:
        rows = show_stat(sock)
        if done(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


@needs_haproxy
def test_lb105_a_tracking_server_follows_the_tracked_ones_state(tmp_path: Path) -> None:
    """A server with ``track`` and no ``check`` is DOWN when the server it tracks is (the
    engine), so LB105 leaves it alone; a server with neither stays UP: LB105's finding."""
    dead = free_port()  # nothing listens there: the checked servers go DOWN
    text = f"""{HEAD}defaults
    mode tcp
    timeout connect 1s
    timeout client 1h
    timeout server 1h
backend api
    server cp1 127.0.0.1:{dead} track api2/cp1
    server cp2 127.0.0.1:{dead} track api2/cp2
    server cp3 127.0.0.1:{dead}
backend api2
    default-server inter 200ms rise 1 fall 1
    server cp1 127.0.0.1:{dead} check
    server cp2 127.0.0.1:{dead} check
"""
    (finding,) = [d.message for d in lint_text(text, "t.cfg") if d.code == "LB105"]
    assert finding.startswith("backend api: server cp3 has no 'check'")
    with _running(text, tmp_path) as sock:
        rows = _wait_for(sock, lambda rows: all(
            r["status"] == "DOWN" for r in rows if r["pxname"] == "api2"))  # fmt: skip
    status = {r["svname"]: r["status"] for r in rows if r["pxname"] == "api"}
    assert status["cp1"] == status["cp2"] == "DOWN", status
    assert status["cp3"] != "DOWN", status


SLOWSTART_BACKENDS = {
    # name: (mode, balance lines)
    "rr": ("tcp", "balance roundrobin"),
    "lc": ("tcp", "balance leastconn"),
    "rnd": ("tcp", "balance random"),
    "srr": ("tcp", "balance static-rr"),
    "first": ("tcp", "balance first"),
    "src": ("tcp", "balance source"),
    "srccons": ("tcp", "balance source\n    hash-type consistent"),
    "srcmap": ("tcp", "balance source\n    hash-type map-based sdbm"),
    "rdp": ("tcp", "balance rdp-cookie"),
    "hash": ("tcp", "balance hash src"),
    "hashcons": ("tcp", "balance hash src\n    hash-type consistent"),
    "uri": ("http", "balance uri"),
    "uricons": ("http", "balance uri whole\n    hash-type consistent sdbm avalanche"),
    "urlp": ("http", "balance url_param id"),
    "hdr": ("http", "balance hdr(host)"),
}


def _slowstart_config(port: int) -> str:
    backends = "".join(
        f"backend {name}\n    mode {mode}\n    {balance}\n"
        f"    server cp1 127.0.0.1:{port} check\n    server cp2 127.0.0.1:{port} check\n"
        for name, (mode, balance) in SLOWSTART_BACKENDS.items()
    )
    return (
        f"{HEAD}defaults\n    timeout connect 1s\n    timeout client 1h\n    timeout server 1h\n"
        "    default-server inter 200ms rise 1 fall 1 slowstart 60s weight 100\n" + backends
    )


@contextmanager
def _listener(port: int) -> Iterator[None]:
    """Accept (and close) connections on 127.0.0.1:``port``: health checks pass."""
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
        server.close()


def test_lb115_knows_which_algorithms_keep_weights_static() -> None:
    flagged = {m.split()[1] for m in lint(_slowstart_config(6443), "LB115")}
    assert flagged == {"srr", "first", "src", "srcmap", "rdp", "hash", "uri", "urlp", "hdr"}


def test_lb115_leaves_a_server_with_maxconn_alone() -> None:
    """slowstart also ramps a server's maxconn, whatever the algorithm (the manual)."""
    text = _slowstart_config(6443).replace("weight 100\n", "weight 100 maxconn 50\n")
    assert lint(text, "LB115") == []


@needs_haproxy
def test_lb115_static_weights_do_not_ramp_on_the_engine(tmp_path: Path) -> None:
    """Servers come back up (their check port starts listening) with slowstart 60s: two
    seconds later ``show stat`` gives the dynamic algorithms' servers a fraction of their weight
    100, the static ones all of it. LB115 reports exactly the static ones."""
    port = free_port()
    text = _slowstart_config(port)
    with _running(text, tmp_path) as sock:
        _wait_for(sock, lambda rows: all(r["status"] == "DOWN" for r in rows))
        with _listener(port):
            _wait_for(sock, lambda rows: all(r["status"] != "DOWN" for r in rows))
            time.sleep(2)
            rows = show_stat(sock)
    weights = {r["pxname"]: int(r["weight"]) for r in rows if r["svname"] == "cp1"}
    assert set(weights) == set(SLOWSTART_BACKENDS)
    static = {name for name, weight in weights.items() if weight == 100}
    assert all(weights[name] < 50 for name in set(weights) - static), weights
    # "first" ramps the weight too, but never reads it ("This algorithm ignores the server
    # weight", the manual): slowstart changes nothing there either (without maxconn).
    assert "first" not in static
    assert static | {"first"} == {m.split()[1] for m in lint(text, "LB115")}, weights
