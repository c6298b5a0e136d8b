"""What HAProxy does, held against the real engine: the settings the effective model treats as
ignored (``lbgen.haproxy.table.IGNORED``), the engine defaults it fills in, and the stats/health
frontends a diff matches by role.

The ignore list cannot drift from the engine: every ``tcp`` row is proved on HAProxy itself,
either by the warning ``haproxy -c`` prints (and does not print in ``mode http``), or, where the
engine says nothing, by running it on loopback: the proxy in ``mode tcp`` behaves the same with
and without the setting, while in ``mode http`` the same probe tells the two apart.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lbgen.directives import Directive
from lbgen.effective import effective
from lbgen.effective.differ import differences, pair_roles
from lbgen.effective.model import Config
from lbgen.haproxy import table
from lbgen.haproxy.syntax import parse_haproxy
from tests import corpus_engines
from tests.support import free_port, listening, run_lbgen, show_stat

HAPROXY = shutil.which("haproxy")
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")

TCP_ROWS = [row for row in table.IGNORED if row.when == "tcp"]


def hap(text: str) -> Config:
    return effective(parse_haproxy(text, "t.cfg"))


def haproxy_check(text: str) -> tuple[int, str]:
    """``haproxy -c`` on ``text`` (read from standard input): its exit status and its output,
    stdout and stderr together; messages name the file ``/dev/stdin``."""
    assert HAPROXY is not None
    done = subprocess.run(
        [HAPROXY, "-c", "-f", "/dev/stdin"], input=text, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


# --- the real engine: a tiny HTTP server and an HAProxy in front of it -------------------------


@dataclass
class Upstream:
    """A keep-alive HTTP/1.1 server on loopback: answers every request ``ok``, counts the
    connections it accepts and keeps the request lines it reads."""

    port: int = 0
    connections: int = 0
    request_lines: list[str] = field(default_factory=list)
    _sock: socket.socket | None = None

    def start(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()

    def _accept(self) -> None:
        assert self._sock is not None
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    self.request_lines.append(head.split(b"\r\n")[0].decode())
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


@contextmanager
def running(config: str, tmp_path: Path, port: int) -> Iterator[None]:
    """HAProxy in the foreground with ``config``, until it accepts on ``port``."""
    path = tmp_path / f"haproxy-{port}.cfg"
    path.write_text(config)
    assert HAPROXY is not None
    process = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        for _ in range(200):
            if listening(port):
                break
            assert process.poll() is None, process.communicate()[0].decode()
            time.sleep(0.05)
        else:
            raise AssertionError(f"haproxy did not listen on 127.0.0.1:{port} within 10 s")
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def read_responses(conn: socket.socket, wanted: int) -> bytes:
    """What arrives until ``wanted`` ``ok`` bodies, the connection's close, or 5 s of silence."""
    conn.settimeout(5)
    data = b""
    while data.count(b"\r\n\r\nok") < wanted:
        try:
            chunk = conn.recv(4096)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return data


REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
IDLE = 1.0
"""Seconds a probe stays idle: well beyond the 200 ms the probed timeouts are set to."""


def probe_error_page(port: int, upstream: Upstream) -> object:
    """A request to a backend without servers: what comes back (an error page, or nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(REQUEST)
        return read_responses(conn, 1)


def probe_late_request(port: int, upstream: Upstream) -> object:
    """Idle, then one request: the status line that comes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        time.sleep(IDLE)
        conn.sendall(REQUEST)
        return read_responses(conn, 1).split(b"\r\n")[0]


def probe_second_request(port: int, upstream: Upstream) -> object:
    """A request, idle, a second request on the same connection: how many answers arrive."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(REQUEST)
        first = read_responses(conn, 1)
        time.sleep(IDLE)
        try:
            conn.sendall(REQUEST)
        except OSError:
            return first.count(b"\r\n\r\nok")
        return first.count(b"\r\n\r\nok") + read_responses(conn, 1).count(b"\r\n\r\nok")


def probe_server_connections(port: int, upstream: Upstream) -> object:
    """Two requests on one client connection: how many connections the server accepted."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(REQUEST)
        read_responses(conn, 1)
        conn.sendall(REQUEST)
        read_responses(conn, 1)
    return upstream.connections


@dataclass(frozen=True)
class Probe:
    """How to show one setting's effect: the line(s) to add, whether the backend has a server."""

    lines: str
    run: Callable[[int, Upstream], object]
    with_server: bool = True


# One probe per tcp row HAProxy does not warn about (the others are proved by the warning).
PROBES: dict[str, Probe] = {
    "errorfile": Probe("errorfile 503 {errors}/503.http", probe_error_page, with_server=False),
    "timeout http-request": Probe("timeout http-request 200ms", probe_late_request),
    "timeout http-keep-alive": Probe("timeout http-keep-alive 200ms", probe_second_request),
    "option http-server-close": Probe("option http-server-close", probe_server_connections),
}


def config_for(mode: str, port: int, upstream: Upstream, lines: str, *, with_server: bool) -> str:
    server = f"    server s 127.0.0.1:{upstream.port}\n" if with_server else ""
    return (
        "global\n    maxconn 100\n"
        f"defaults\n    mode {mode}\n    timeout connect 2s\n    timeout client 10s\n"
        f"    timeout server 10s\n    {lines}\n"
        f"frontend f\n    bind 127.0.0.1:{port}\n    default_backend b\n"
        f"backend b\n{server}"
    )


def behaviour(mode: str, lines: str, probe: Probe, tmp_path: Path) -> object:
    upstream = Upstream()
    upstream.start()
    port = free_port()
    try:
        text = config_for(mode, port, upstream, lines, with_server=probe.with_server)
        with running(text, tmp_path, port):
            return probe.run(port, upstream)
    finally:
        upstream.stop()


@needs_haproxy
@pytest.mark.parametrize("row", TCP_ROWS, ids=lambda r: r.keyword)
def test_haproxy_ignores_the_setting_in_a_tcp_proxy(row: table.Ignored, tmp_path: Path) -> None:
    if row.warning is not None:
        assert row.keyword not in PROBES
        for mode, warned in (("tcp", True), ("http", False)):
            text = (
                f"defaults\n    mode {mode}\n    timeout connect 1s\n    timeout client 1s\n"
                f"    timeout server 1s\n    {row.keyword}\n"
                "frontend f\n    bind 127.0.0.1:1\n    default_backend b\n"
                "backend b\n    server s 127.0.0.1:2\n"
            )
            status, output = haproxy_check(text)
            assert status == 0, output
            assert (row.warning in output) is warned, output
        return
    assert row.keyword in PROBES, f"{row.keyword}: no warning and no probe proves it is ignored"
    probe = PROBES[row.keyword]
    errors = tmp_path / "errors"
    errors.mkdir()
    (errors / "503.http").write_bytes(
        b"HTTP/1.0 503 Custom\r\nContent-Type: text/plain\r\n\r\ncustom error page\n"
    )
    lines = probe.lines.format(errors=errors)
    without = "option dontlognull"  # a line that changes nothing here, to keep the layout
    # The probe tells the setting apart where HAProxy honours it...
    assert behaviour("http", lines, probe, tmp_path) != behaviour("http", without, probe, tmp_path)
    # ...and cannot where the model says HAProxy ignores it.
    assert behaviour("tcp", lines, probe, tmp_path) == behaviour("tcp", without, probe, tmp_path)


@needs_haproxy
@pytest.mark.parametrize(
    ("lines", "explicit"),
    [
        ("option httpchk GET /probe", "option httpchk GET /probe HTTP/1.0"),
        (
            "option httpchk\n    http-check send meth GET uri /probe",
            "option httpchk\n    http-check send meth GET uri /probe ver HTTP/1.0",
        ),
    ],
)
def test_an_http_check_without_a_version_is_http_1_0(
    lines: str, explicit: str, tmp_path: Path
) -> None:
    upstream = Upstream()
    upstream.start()
    port = free_port()
    text = (
        "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n"
        f"    timeout server 10s\nfrontend f\n    bind 127.0.0.1:{port}\n    default_backend b\n"
        f"backend b\n    {lines}\n    server s 127.0.0.1:{upstream.port} check inter 100ms\n"
    )
    try:
        with running(text, tmp_path, port):
            for _ in range(100):
                if upstream.request_lines:
                    break
                time.sleep(0.05)
    finally:
        upstream.stop()
    assert upstream.request_lines[0] == f"GET /probe {table.HTTP_CHECK_VERSION}"
    health = hap(text).backends["b"].health
    assert health.version == table.HTTP_CHECK_VERSION
    assert health == hap(text.replace(lines, explicit)).backends["b"].health


# --- which side a proxy keyword works on -------------------------------------------------------

_BOTH_OPTIONS = (
    "forwardfor", "http-keep-alive", "http-server-close", "httpclose", "independent-streams",
    "nolinger", "originalto", "splice-auto", "tcpka",
)  # fmt: skip
#: A line for each phrase of table.FRONTEND_ONLY and table.BACKEND_ONLY, and for keywords of both
#: sides, valid where the keyword is.
SIDE_SAMPLES = {
    # one side
    "backlog": "backlog 10", "bind": "bind 127.0.0.1:5",
    "capture": "capture request header Host len 10", "clitcpka-cnt": "clitcpka-cnt 3",
    "clitcpka-idle": "clitcpka-idle 10s", "clitcpka-intvl": "clitcpka-intvl 10s",
    "declare capture": "declare capture request len 10", "default_backend": "default_backend b",
    "error-log-format": "error-log-format %ci", "log-format": "log-format %ci",
    "log-format-sd": "log-format-sd %ci", "maxconn": "maxconn 10",
    "monitor": "monitor fail if FALSE", "monitor-uri": "monitor-uri /x",
    "rate-limit": "rate-limit sessions 10",
    "tcp-request connection": "tcp-request connection accept",
    "tcp-request session": "tcp-request session accept", "timeout client": "timeout client 1s",
    "timeout client-fin": "timeout client-fin 1s", "unique-id-format": "unique-id-format %ci",
    "unique-id-header": "unique-id-header X", "use_backend": "use_backend b if FALSE",
    "balance": "balance roundrobin", "cookie": "cookie SRV insert",
    "default-server": "default-server check", "dispatch": "dispatch 127.0.0.1:4",
    "external-check": "external-check path /bin", "force-persist": "force-persist if FALSE",
    "fullconn": "fullconn 10", "hash-type": "hash-type consistent",
    "http-check": "http-check expect status 200", "http-reuse": "http-reuse never",
    "http-send-name-header": "http-send-name-header X", "ignore-persist": "ignore-persist if FALSE",
    "load-server-state-from-file": "load-server-state-from-file none",
    "max-keep-alive-queue": "max-keep-alive-queue 1", "persist rdp-cookie": "persist rdp-cookie",
    "retries": "retries 3", "retry-on": "retry-on conn-failure", "server": "server s9 127.0.0.1:9",
    "server-state-file-name": "server-state-file-name x",
    "server-template": "server-template t 2 127.0.0.1:9", "source": "source 0.0.0.0",
    "srvtcpka-cnt": "srvtcpka-cnt 3", "srvtcpka-idle": "srvtcpka-idle 10s",
    "srvtcpka-intvl": "srvtcpka-intvl 10s", "stick": "stick on src",
    "tcp-check": "tcp-check connect", "tcp-response": "tcp-response inspect-delay 5s",
    "timeout check": "timeout check 1s", "timeout connect": "timeout connect 1s",
    "timeout queue": "timeout queue 1s", "timeout server": "timeout server 1s",
    "timeout server-fin": "timeout server-fin 1s", "timeout tunnel": "timeout tunnel 1s",
    "transparent": "transparent", "use-fcgi-app": "use-fcgi-app x",
    "use-server": "use-server s if FALSE",
    # an option's phrase is its line (pgsql-check needs a user)
    **{
        phrase: phrase + (" user u" if phrase == "option pgsql-check" else "")
        for phrase in table.FRONTEND_ONLY | table.BACKEND_ONLY
        if phrase.startswith("option ")
    },
    **{f"option {name}": f"option {name}" for name in _BOTH_OPTIONS},
    # both sides
    "acl": "acl x src 10.0.0.1", "compression": "compression algo gzip",
    "description": "description x", "errorfile": "errorfile 503 /dev/null", "log": "log global",
    "log-tag": "log-tag x", "redirect": "redirect location /x if FALSE",
    "stats enable": "stats enable", "stick-table": "stick-table type ip size 10",
    "tcp-request content": "tcp-request content accept",
    "tcp-request inspect-delay": "tcp-request inspect-delay 5s",
    "timeout http-request": "timeout http-request 1s", "timeout tarpit": "timeout tarpit 1s",
}  # fmt: skip
#: Rows only the manual's matrix decides: HAProxy takes these on the other side without a word.
MANUAL_ONLY = {
    "external-check", "option external-check", "persist rdp-cookie", "transparent",
    "unique-id-format", "unique-id-header",
}  # fmt: skip
_REFUSED_HERE = re.compile(
    r"capability|is not a (?:frontend|backend)|ignored in (?:frontends|backends)"
    r"|only (?:allowed|available) in"
)


@needs_haproxy
def test_each_keyword_works_on_the_side_the_table_says() -> None:
    """Every line of every sample in a frontend and in a backend, one ``haproxy -c``: a line
    HAProxy refuses or ignores for want of the other capability is of the other side only."""
    assert set(table.FRONTEND_ONLY | table.BACKEND_ONLY) <= set(SIDE_SAMPLES)
    samples = list(SIDE_SAMPLES.items())
    head = [
        "global", "    log 127.0.0.1:514 local0", "defaults", "    mode http",
        "    timeout connect 1s", "    timeout client 1s", "    timeout server 1s",
        "frontend f", "    bind 127.0.0.1:1", "    default_backend b",
    ]  # fmt: skip
    backend = ["backend b", "    server s 127.0.0.1:2"]
    first_f = len(head) + 1
    first_b = first_f + len(samples) + len(backend)
    lines = [*head, *(f"    {line}" for _, line in samples), *backend]
    lines += [f"    {line}" for _, line in samples]
    _, output = haproxy_check("\n".join(lines) + "\n")
    refused: set[int] = set()
    for message in output.splitlines():
        where = re.search(r"\[/dev/stdin:(\d+)\]", message)
        if where and _REFUSED_HERE.search(message):
            refused.add(int(where.group(1)))
    wrong = {}
    for index, (phrase, line) in enumerate(samples):
        in_frontend, in_backend = first_f + index in refused, first_b + index in refused
        engine = "backend" if in_frontend else "frontend" if in_backend else None
        assert not (in_frontend and in_backend), phrase
        side = table.proxy_side(tuple(line.split()))
        if engine is None and phrase in MANUAL_ONLY:
            assert side is not None, phrase
        elif side != engine:
            wrong[phrase] = (side, engine)
    assert not wrong, f"(table, engine): {wrong}"


# --- the model ---------------------------------------------------------------------------------

LOGGED = "global\n    log 127.0.0.1:514 local0\n"
HTTPISH = """\
    option httplog
    option forwardfor
    option http-server-close
    timeout http-request 10s
    timeout http-keep-alive 10s
    errorfile 503 /etc/haproxy/errors/503.http
"""


def proxies(mode: str, defaults: str = "", frontend: str = "", head: str = LOGGED) -> str:
    return (
        f"{head}defaults\n    log global\n    mode {mode}\n    timeout connect 5s\n"
        f"    timeout client 1m\n    timeout server 1m\n{defaults}"
        f"frontend f\n    bind :6443\n{frontend}    default_backend b\n"
        "backend b\n    server s 1.1.1.1:6443 check\n"
        "listen l\n    bind :7000\n    server s 1.1.1.1:6443\n"
    )


def test_http_only_settings_mean_nothing_in_tcp_proxies() -> None:
    plain = hap(proxies("tcp", "    option tcplog\n"))
    assert hap(proxies("tcp", HTTPISH)) == plain
    # a frontend's own tcplog overrides the httplog it inherits: still the same
    assert hap(proxies("tcp", HTTPISH, frontend="    option tcplog\n")) == plain
    assert "option tcplog" in plain.frontends["f"].extras


def test_http_only_settings_count_in_http_proxies() -> None:
    found = {d.path[:2] for d in differences(hap(proxies("http")), hap(proxies("http", HTTPISH)))}
    assert {("frontends", "f"), ("backends", "b"), ("frontends", "l"), ("backends", "l")} <= found
    extras = hap(proxies("http", HTTPISH)).frontends["f"].extras
    assert "option httplog" in extras and "timeout http-request 10s" in extras


LOGS = "    option dontlognull\n    option tcplog\n    log-format %ci\n"


@pytest.mark.parametrize(
    "head",
    [
        "",  # no global log: "log global" logs nowhere
        "global\n    daemon\n",
    ],
)
def test_log_options_without_a_log_target_mean_nothing(head: str) -> None:
    assert hap(proxies("tcp", LOGS, head=head)) == hap(proxies("tcp", head=head))


@pytest.mark.parametrize(("head", "counts"), [("", False), (LOGGED, True)])
def test_log_global_without_global_log_targets_means_nothing(head: str, counts: bool) -> None:
    """``log global`` copies the global section's targets: with none it adds none, so a config
    with it and one without are the same (diff once reported "log global: removed" against
    a spec without logs). HAProxy says so itself: ``option tcplog`` beside a target-less
    ``log global`` is "ignored ... since it has no log address"."""
    with_it = proxies("tcp", "    option tcplog\n", head=head)
    without = with_it.replace("    log global\n", "")
    assert (hap(with_it) != hap(without)) is counts
    if HAPROXY is None:
        return
    status, output = haproxy_check(with_it)
    assert status == 0, output
    assert ("has no log address" in output) is not counts


def test_no_log_drops_the_inherited_log_target() -> None:
    muted = "    no log\n"
    assert (
        hap(proxies("tcp", LOGS, frontend=muted)).frontends["f"]
        == (hap(proxies("tcp", frontend=muted)).frontends["f"])
    )


def test_log_options_with_a_log_target_count() -> None:
    assert hap(proxies("tcp", LOGS)) != hap(proxies("tcp"))
    direct = "    log 10.0.0.1:514 local0\n"
    assert hap(proxies("tcp", LOGS + direct, head="")) != hap(proxies("tcp", direct, head=""))


def test_the_last_log_format_option_wins() -> None:
    later = hap(proxies("http", "    option tcplog\n", frontend="    option httplog\n"))
    only = hap(proxies("http", frontend="    option httplog\n"))
    assert later.frontends["f"] == only.frontends["f"]
    assert "option tcplog" not in later.frontends["f"].extras


STATS = "listen {name}\n    bind :9000\n    mode http\n    stats enable\n    stats uri {uri}\n"
HEALTH = "frontend {name}\n    bind :8081\n    mode http\n    monitor-uri {uri}\n"
BODY = "defaults\n    mode tcp\n    timeout client 30s\n    timeout connect 1s\n"


def test_stats_and_health_frontends_are_matched_by_role() -> None:
    theirs = hap(
        BODY + STATS.format(name="stats", uri="/") + HEALTH.format(name="healthz", uri="/healthz")
    )
    ours = hap(
        BODY
        + STATS.format(name="lbgen-stats", uri="/")
        + HEALTH.format(name="lbgen-health", uri="/healthz")
    )
    assert theirs.frontends["stats"].role == "stats"
    assert theirs.frontends["healthz"].role == "health"
    # a listen section that only serves its stats page has no backend half to compare
    assert "stats" not in theirs.backends and theirs.frontends["stats"].backend is None
    assert differences(theirs, ours)  # by name: one removed, one added
    assert differences(pair_roles(theirs, ours), ours) == []


def test_frontends_matched_by_role_still_compare_their_contents() -> None:
    theirs = hap(BODY + STATS.format(name="stats", uri="/"))
    ours = hap(BODY + STATS.format(name="lbgen-stats", uri="/stats"))
    found = differences(pair_roles(theirs, ours), ours)
    assert [d.path[:2] for d in found] == [("frontends", "lbgen-stats")]
    assert "stats uri /" in found[0].old and "stats uri /stats" in found[0].new


def test_an_ssl_server_checks_over_tls_unless_its_checks_go_elsewhere() -> None:
    def server(words: str) -> object:
        text = f"defaults\n    mode tcp\nbackend b\n    server s 1.1.1.1:6443 {words}\n"
        return hap(text).backends["b"].servers["s"]

    assert server("check ssl verify none") == server("check ssl check-ssl verify none")
    assert server("check ssl verify none port 8080") != server(
        "check ssl check-ssl verify none port 8080"
    )
    # verify means nothing on a server that speaks no TLS at all
    assert server("check verify none") == server("check")


# --- server order -------------------------------------------------------------------------------


def _first_server_share(balance_lines: str, order: tuple[str, str], tmp_path: Path) -> list[int]:
    """Connections each of two servers (a, b) takes, of 6 one after the other, through a real
    HAProxy whose backend lists them in ``order``."""
    upstreams = {"a": Upstream(), "b": Upstream()}
    for upstream in upstreams.values():
        upstream.start()
    port = free_port()
    servers = "".join(f"    server {n} 127.0.0.1:{upstreams[n].port}\n" for n in order)
    text = (
        "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n"
        f"    timeout server 10s\nfrontend f\n    bind 127.0.0.1:{port}\n    default_backend b\n"
        f"backend b\n{balance_lines}{servers}"
    )
    try:
        with running(text, tmp_path, port):
            for _ in range(6):
                with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                    conn.sendall(REQUEST)
                    read_responses(conn, 1)
        return [upstreams["a"].connections, upstreams["b"].connections]
    finally:
        for upstream in upstreams.values():
            upstream.stop()


@needs_haproxy
@pytest.mark.parametrize(
    ("lines", "ordered"),
    [
        ("    balance first\n", True),  # the lowest id (position) first
        ("    balance roundrobin\n", False),
    ],
)
def test_server_order_is_compared_where_haproxy_acts_on_it(
    lines: str, ordered: bool, tmp_path: Path
) -> None:
    """Swapping two server lines: with ``balance first`` the other server takes every
    connection (the real HAProxy shows it), so the models differ; with round robin each takes
    half either way, and they do not."""
    forward, backward = ("a", "b"), ("b", "a")
    shares = {o: _first_server_share(lines, o, tmp_path) for o in (forward, backward)}
    if ordered:
        assert shares == {forward: [6, 0], backward: [0, 6]}
    else:
        assert shares == {forward: [3, 3], backward: [3, 3]}

    def model(order: tuple[str, str]) -> Config:
        servers = "".join(f"    server {n} 127.0.0.1:{7000 + ord(n)}\n" for n in order)
        return hap(f"backend b\n    mode tcp\n{lines}{servers}")

    assert bool(differences(model(forward), model(backward))) is ordered


def test_the_order_of_backups_is_compared_unless_all_backups_serve() -> None:
    """Without ``option allbackups`` the first usable backup takes all traffic."""

    def model(order: str, extra: str = "") -> Config:
        servers = "".join(f"    server {n} 127.0.0.1:{7000 + ord(n)} backup\n" for n in order)
        return hap(f"backend b\n    mode tcp\n{extra}    server m 127.0.0.1:6999\n{servers}")

    assert differences(model("xy"), model("yx"))
    assert not differences(
        model("xy", "    option allbackups\n"), model("yx", "    option allbackups\n")
    )


# --- what HAProxy does without the line ----------------------------------------------------------

_DEFAULTED = (
    "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\n"
    "frontend f\n    bind 127.0.0.1:1\n    default_backend b\n"
    "backend b\n    balance source\n{line}    server m1 127.0.0.1:6443 check{server}\n"
)


@pytest.mark.parametrize(
    ("line", "server", "same"),
    [
        # off unless a line turns it on: "no option X" says what its absence says
        ("    no option abortonclose\n", "", True),
        ("    no option prefer-last-server\n", "", True),
        ("    option prefer-last-server\n", "", False),
        # "option http-keep-alive" is on by default (the default mode of an HTTP proxy)
        ("    no option http-keep-alive\n", "", False),
        # "timeout queue": "if unspecified, the same value as ... 'timeout connect'"
        ("    timeout queue 5s\n", "", True),
        ("    timeout queue 10s\n", "", False),
        # "The default hash type is map-based"
        ("    hash-type map-based\n", "", True),
        ("    hash-type consistent\n", "", False),
        # a check goes to the server's own port unless "port" says another
        ("", " port 6443", True),
        ("", " port 6444", False),
    ],
)
def test_a_line_that_says_haproxys_default_is_no_difference(
    line: str, server: str, same: bool
) -> None:
    """Each line against the config without it, as the configuration manual of HAProxy 2.6
    describes the default; every config is one ``haproxy -c`` accepts."""
    plain, written = (
        _DEFAULTED.format(line="", server=""),
        _DEFAULTED.format(line=line, server=server),
    )
    assert (not differences(hap(plain), hap(written))) is same
    if HAPROXY is not None:
        for text in (plain, written):
            status, output = haproxy_check(text)
            assert status == 0, output


# --- one setting, two spellings: what the real engine does with each is the oracle -------------

_SPELLED = (
    "global\n{global_}"
    "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\n"
    "frontend f\n    bind {bind}\n    default_backend b\n"
    "backend b\n    balance roundrobin\n{servers}"
)


def spelled(
    *, bind: str = "127.0.0.1:6443", servers: str = "", global_: str = "", tail: str = ""
) -> str:
    """A small config with one spelling of a setting in it (``tail`` ends it)."""
    text = _SPELLED.format(
        bind=bind, servers=servers or "    server x 127.0.0.1:6444\n", global_=global_
    )
    return text + tail


@pytest.mark.parametrize(
    ("plain", "prefixed", "same"),
    [
        ("127.0.0.1:16441", "ipv4@127.0.0.1:16441", True),
        (":16441", "ipv4@:16441", True),
        (":::16441", "ipv6@:16441", True),
        ("[::1]:16441", "ipv6@[::1]:16441", True),
        ("[::1]:16441", "ipv6@::1:16441", True),
        (":16441", "ipv6@:16441", False),
        (":::16441", "ipv4@:16441", False),
    ],
)
def test_an_address_family_prefix_the_address_implies_is_no_difference(
    plain: str, prefixed: str, same: bool, tmp_path: Path
) -> None:
    """``bind`` and ``server`` addresses with and without ``ipv4@``/``ipv6@``; the oracle is
    the set of sockets the real HAProxy listens on, in a network namespace of its own."""
    configs = [spelled(bind=bind) for bind in (plain, prefixed)]
    assert (not differences(hap(configs[0]), hap(configs[1]))) is same
    server_address = prefixed.removeprefix("ipv4@").removeprefix("ipv6@")
    if server_address.split(":")[0] not in ("", "*"):  # a server needs a host
        servers = [f"    server x {address}\n" for address in (server_address, prefixed)]
        assert not differences(hap(spelled(servers=servers[0])), hap(spelled(servers=servers[1])))
    if HAPROXY is None or not corpus_engines.can_isolate():
        return
    sockets = []
    for index, text in enumerate(configs):
        folder = tmp_path / str(index)
        folder.mkdir()
        listened = corpus_engines.listening("haproxy", text, folder)
        assert not listened.error, listened.error
        sockets.append(listened.sockets)
    assert (sockets[0] == sockets[1]) is same, sockets


def _stats_refresh_header(text: str, port: int, tmp_path: Path) -> str:
    """The ``Refresh`` header of the stats page that ``text`` serves on ``port``."""
    with running(text, tmp_path, port), socket.create_connection(("127.0.0.1", port), 10) as conn:
        conn.sendall(b"GET /stats HTTP/1.0\r\n\r\n")
        head = read_responses(conn, 1).split(b"\r\n\r\n")[0].decode()
    return next(line for line in head.split("\r\n") if line.lower().startswith("refresh:"))


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [("30", "30s", True), ("1500ms", "2s", True), ("30", "30ms", False), ("1m", "60", True)],
)
def test_stats_refresh_spellings_that_send_one_header_are_no_difference(
    one: str, other: str, same: bool, tmp_path: Path
) -> None:
    """``stats refresh``: a bare number is seconds and the page's header is whole seconds,
    rounded up; the oracle is that header, from the real HAProxy's stats page."""
    port = free_port()
    page = "listen stats\n    bind 127.0.0.1:{port}\n    mode http\n    stats uri /stats\n"
    configs = [
        spelled(tail=page.format(port=port) + f"    stats refresh {delay}\n")
        for delay in (one, other)
    ]
    assert (not differences(hap(configs[0]), hap(configs[1]))) is same
    if HAPROXY is not None:
        headers = [_stats_refresh_header(text, port, tmp_path) for text in configs]
        assert (headers[0] == headers[1]) is same, headers


def _show_stat(text: str, tmp_path: Path, column: str) -> list[tuple[str, str]]:
    """(name, ``column``) of backend b's servers, as the real HAProxy's ``show stat`` says."""
    sock = tmp_path / "stats.sock"
    port = free_port()
    text = text.replace("global\n", f"global\n    stats socket {sock}\n", 1).replace(
        "127.0.0.1:6443", f"127.0.0.1:{port}"
    )
    with running(text, tmp_path, port):
        # The listener can be up before the stats socket is: wait for that too (generously).
        deadline = time.monotonic() + 30
        while True:
            try:
                rows = show_stat(sock)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    return [(row["svname"], row[column]) for row in rows]


@pytest.mark.parametrize(
    ("ids", "same"),
    [
        (("1", "", ""), True),
        (("", "2", "3"), True),
        (("1", "2", "3"), True),
        (("", "1", ""), False),  # x takes 2, and z 4
        (("2", "1", ""), False),
        (("7", "", ""), False),
    ],
)
def test_server_ids_equal_to_their_positions_are_no_difference(
    ids: tuple[str, str, str], same: bool, tmp_path: Path
) -> None:
    """``id`` on servers against none; the oracle is the ids the real HAProxy gives them."""
    lines = [
        "".join(
            f"    server {name} 127.0.0.1:{6444 + n}{f' id {i}' if i and given else ''}\n"
            for n, (name, i) in enumerate(zip("xyz", ids, strict=True))
        )
        for given in (False, True)
    ]
    configs = [spelled(servers=text) for text in lines]
    assert (not differences(hap(configs[0]), hap(configs[1]))) is same
    if HAPROXY is not None:
        assigned = [_show_stat(text, tmp_path, "sid") for text in configs]
        assert (assigned[0] == assigned[1]) is same, assigned


def _log_datagrams(log_line: str, tmp_path: Path) -> list[bytes]:
    """What the real HAProxy sends with global ``log <log_line>`` (``T`` stands for the target:
    a unix socket when the line says ``unix``, else a UDP port on 127.0.0.1) for one
    connection through a frontend with ``option tcplog``, digits masked (times, PIDs, ports)."""
    port = free_port()
    if "unix" in log_line:
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        target = str(tmp_path / f"log-{port}.sock")
        receiver.bind(target)
    else:
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        target = f"127.0.0.1:{receiver.getsockname()[1]}"
    text = spelled(
        bind=f"127.0.0.1:{port}",
        global_=f"    log {log_line.replace('T', target).replace('unix ', '')}\n",
        servers="    log global\n    retries 0\n    server x 127.0.0.1:1\n",
    ).replace("frontend f\n", "frontend f\n    log global\n    option tcplog\n")
    received: list[bytes] = []
    with receiver:
        # The line is sent as the connection ends, which the client below waits for.
        receiver.settimeout(3)
        with running(text, tmp_path, port):
            # Wait for HAProxy to give up on the refusing server and close: the log line's
            # termination state is then always the same ("SC").
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.recv(1)
            try:
                while True:
                    received.append(re.sub(rb"\d", b"0", receiver.recv(65536)))
                    receiver.settimeout(0.5)  # the one line came; any other follows at once
            except TimeoutError:
                pass
    return received


@pytest.mark.parametrize(
    ("plain", "written", "same"),
    [
        ("T local0", "T len 1024 local0", True),
        ("T local0", "T format local local0", True),
        ("T local0", "T local0 debug", True),
        ("T local0", "T len 1024 format local local0 debug emerg", True),
        ("unix T local0", "unix unix@T local0", True),
        ("T local0", "T format rfc3164 local0", False),  # adds the host name
        ("T local0", "T local0 notice", False),  # tcplog lines are info: none sent
    ],
)
def test_log_line_defaults_are_no_difference(
    plain: str, written: str, same: bool, tmp_path: Path
) -> None:
    """Global ``log`` lines with and without HAProxy's defaults; the oracle is the datagrams
    the real HAProxy sends for one logged connection."""
    lines = [line.replace("unix ", "") for line in (plain, written)]
    targets = ["/dev/log" if "unix" in plain else "127.0.0.1:514"] * 2
    configs = [
        spelled(global_=f"    log {line.replace('T', target)}\n")
        for line, target in zip(lines, targets, strict=True)
    ]
    assert (not differences(hap(configs[0]), hap(configs[1]))) is same
    if HAPROXY is not None:
        datagrams = [_log_datagrams(line, tmp_path) for line in (plain, written)]
        assert datagrams[0], "HAProxy sent no log line"
        assert (datagrams[0] == datagrams[1]) is same, datagrams


# --- what HAProxy refuses, the reader refuses: a diff of such a config is bad input (exit 2) -----

_SERVER_VALUE_ROWS = [row for row in table.TABLE.rows if "server" in row.contexts and row.codec]


def _refused_by_reader(text: str) -> bool:
    return any(d.level.name == "ERROR" for d in hap(text).diagnostics)


@pytest.mark.parametrize("row", _SERVER_VALUE_ROWS, ids=lambda row: row.name)
def test_a_server_keyword_without_its_value_is_an_error_where_haproxy_refuses_it(
    row: Directive,
) -> None:
    """Each server keyword that takes a value, written last without one: the reader's error
    where ``haproxy -c`` refuses the config (:data:`table.VALUELESS_ACCEPTED` are the ones it
    takes, reading a number as 0)."""
    text = spelled(servers=f"    server x 127.0.0.1:6444 check {row.name}\n")
    assert _refused_by_reader(text) is (row.name not in table.VALUELESS_ACCEPTED)
    if HAPROXY is not None:
        assert (haproxy_check(text)[0] == 1) is _refused_by_reader(text), haproxy_check(text)


@pytest.mark.parametrize(
    ("server", "bind"),
    [
        *((f"check {option}", "127.0.0.1:6443") for option in (
            "rise 0", "rise 1", "fall 0", "fall 1", "weight 0", "weight 256", "weight 257",
            "inter 0", "inter 1", "inter 500us", "fastinter 0", "downinter 0", "slowstart 0",
            # HAProxy's largest timer, 2147483647 ms; a microsecond value is rounded up to ms.
            "inter 2147483647", "inter 2147483648", "slowstart 24d", "slowstart 25d",
            "inter 2147483647000us", "inter 2147483647001us",
        )),
        ("", "127.0.0.1:65535"), ("", "127.0.0.1:65536"), ("", ":0"), ("", ":1"),
    ],
)  # fmt: skip
def test_a_value_haproxy_refuses_is_an_error(server: str, bind: str) -> None:
    """Bounds at their edges: the reader's error exactly where ``haproxy -c`` refuses."""
    text = spelled(bind=bind, servers=f"    server x 127.0.0.1:6444 {server}\n")
    if HAPROXY is not None:
        assert (haproxy_check(text)[0] == 1) is _refused_by_reader(text), haproxy_check(text)
    else:
        refused = (" 0", " 257", " 2147483648", " 25d", "001us")
        assert _refused_by_reader(text) is (server.endswith(refused) or bind[-1] in "06")


@pytest.mark.parametrize("value", ["24d", "25d", "2147483647", "2147483648"])
def test_a_timeout_past_haproxys_largest_timer_is_an_error(value: str) -> None:
    text = spelled(tail=f"    timeout server {value}\n")
    refused = value in ("25d", "2147483648")
    assert _refused_by_reader(text) is refused
    if HAPROXY is not None:
        assert (haproxy_check(text)[0] == 1) is refused, haproxy_check(text)


@pytest.mark.parametrize("port", [0, 65535, 65536, 99999])
def test_a_server_port_haproxy_refuses_is_an_error(port: int) -> None:
    text = spelled(servers=f"    server x 127.0.0.1:{port}\n")
    assert _refused_by_reader(text) is (port > 65535)
    if HAPROXY is not None:
        assert (haproxy_check(text)[0] == 1) is (port > 65535), haproxy_check(text)


def test_weight_without_a_value_is_weight_0_as_haproxy_reads_it(tmp_path: Path) -> None:
    """``weight`` last on a server line: HAProxy takes it and the server gets weight 0 (no
    traffic), which the model says too, with a warning; ``show stat`` is the oracle."""
    text = spelled(servers="    server x 127.0.0.1:6444 weight\n    server y 127.0.0.1:6445\n")
    config = hap(text)
    assert [s.weight for s in config.backends["b"].servers.values()] == [0, 1]
    assert [d.message for d in config.diagnostics] == ["weight without a value: HAProxy reads 0"]
    if HAPROXY is not None:
        assert [w for _, w in _show_stat(text, tmp_path, "weight")] == ["0", "1"]


def test_diff_of_a_config_haproxy_refuses_is_bad_input(tmp_path: Path) -> None:
    """``lbgen diff`` against a config with ``rise 0``: exit 2 and the line, not a verdict on a
    config HAProxy would not start."""
    rendered = tmp_path / "haproxy.cfg"
    done = run_lbgen("render", "examples/kubernetes-api.yaml", "-t", "haproxy", "-o", str(rendered))
    assert done.returncode == 0, done.stderr
    lines = rendered.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("server "))
    lines[at] = lines[at].rstrip("\n") + " rise 0\n"
    rendered.write_text("".join(lines))
    done = run_lbgen(
        "diff", "examples/kubernetes-api.yaml", "-t", "haproxy", "--against", str(rendered)
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{rendered}:{at + 1}:5: error [CONF104] rise 0: has to be at least 1" in done.stderr


def test_a_servers_null_weight_and_maxconn_are_haproxys_own_as_in_nginx(tmp_path: Path) -> None:
    """A server's ``weight: null`` under a pool with ``weight: 10``: HAProxy's own weight (1),
    as nginx's is, not the pool's default-server value (the server line once said nothing, so
    HAProxy gave it 10 and nginx 1); ``show stat`` is the oracle."""
    import lbgen

    spec = lbgen.load_spec(
        b"version: 1\n"
        b"frontends: {api: {bind: ['127.0.0.1:6443'], pool: cp}}\n"
        b"pools:\n  cp:\n    weight: 10\n    maxconn: 500\n    health: {check: tcp}\n"
        b"    servers:\n      m1: 127.0.0.1:7001\n"
        b"      m2: {address: 127.0.0.1:7002, weight: null, maxconn: null}\n",
        filename="null.yaml",
    )
    text = lbgen.render(spec, "haproxy").text
    assert "server m2 127.0.0.1:7002 check maxconn 0 weight 1" in text
    stream = lbgen.render(spec, "nginx").text
    assert "server 127.0.0.1:7002 " in stream and "127.0.0.1:7002 weight" not in stream
    if HAPROXY is not None:
        assert _show_stat(text, tmp_path, "weight") == [("m1", "10"), ("m2", "1")]
        assert _show_stat(text, tmp_path, "slim") == [("m1", "500"), ("m2", "")]


@pytest.mark.parametrize(
    ("extra", "init_addr", "warned"),
    [
        ([], "init-addr last,libc,none", True),
        (["resolvers dns"], "init-addr last,libc,none", False),
        (["resolvers dns", "init-addr none"], "init-addr none", False),
        (["init-addr libc,none"], "init-addr libc,none", True),
    ],
)
def test_a_dns_servers_own_resolvers_and_init_addr_count(
    extra: list[str], init_addr: str, warned: bool
) -> None:
    """The README's extra example wrote ``init-addr last,libc,none ... init-addr none`` and still
    warned that HAProxy does not follow the name; ``haproxy -c`` accepts each rendering."""
    import json

    import lbgen

    spec = lbgen.load_spec(
        json.dumps({
            "version": 1,
            "global": {"extra": {"haproxy_sections": {
                "resolvers dns": ["nameserver ns1 127.0.0.53:53"]}}},
            "frontends": {"api": {"bind": ["127.0.0.1:6443"], "pool": "cp"}},
            "pools": {"cp": {"health": {"check": "tcp"}, "servers": {
                "m1": {"address": "localhost:7001", **({"extra": {"haproxy": extra}} if extra
                                                       else {})}}}},
        }).encode(),
        filename="dns.json",
    )  # fmt: skip
    rendered = lbgen.render(spec, "haproxy")
    line = next(x for x in rendered.text.splitlines() if x.strip().startswith("server m1"))
    assert line.count("init-addr") == 1 and init_addr in line, line
    codes = [d.code for d in rendered.diagnostics]
    assert ("haproxy-dns-at-start" in codes) is warned
    if HAPROXY is not None:
        status, output = haproxy_check(rendered.text)
        assert status != 1, output


#: One line of each removed keyword, and the section it was written in.
_REMOVED_LINES = {
    "clitimeout": ("defaults", "clitimeout 50000"),
    "contimeout": ("defaults", "contimeout 5000"),
    "srvtimeout": ("defaults", "srvtimeout 50000"),
    "redispatch": ("backend", "redispatch"),
    "block": ("frontend", "block if TRUE"),
    "monitor-net": ("frontend", "monitor-net 192.0.2.0/24"),
    "option forceclose": ("defaults", "option forceclose"),
    "option http-tunnel": ("defaults", "option http-tunnel"),
    "reqadd": ("frontend", r"reqadd X-Forwarded-Proto:\ https"),
    "nbproc": ("global", "nbproc 1"),
    "tune.chksize": ("global", "tune.chksize 32768"),
    "bind-process": ("frontend", "bind-process 1"),
}


def _with_line(section: str, line: str) -> str:
    text = spelled()
    header = {"global": "global\n", "defaults": "defaults\n", "frontend": "frontend f\n",
              "backend": "backend b\n"}[section]  # fmt: skip
    return text.replace(header, f"{header}    {line}\n", 1)


@pytest.mark.parametrize("what", sorted(_REMOVED_LINES))
def test_a_keyword_every_target_refuses_is_an_error(what: str) -> None:
    """Keywords removed in HAProxy 2.4 or before (the oldest lbgen writes for): the reader's
    error at the line, and ``haproxy -c`` refuses them. Later removals (``nbproc``,
    ``bind-process``) depend on the version that runs the config: only lint judges them."""
    section, line = _REMOVED_LINES[what]
    text = _with_line(section, line)
    assert table.removed_keyword(tuple(line.split())) == what
    since, _ = table.removed_since(what)
    refused = since <= table.OLDEST_TARGET
    assert _refused_by_reader(text) is refused
    if refused and HAPROXY is not None:
        assert haproxy_check(text)[0] == 1, haproxy_check(text)
