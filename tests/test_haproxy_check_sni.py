"""The TLS a health check speaks and the SNI it sends, held against the real HAProxy.

HAProxy 2.6 opens each check with a ``connect`` step: the implicit ``connect default`` when the
check rules name none. A step with ``default`` uses the server line's check settings (TLS from
``check-ssl``, or from ``ssl`` when no ``port``/``addr`` is set; the SNI from ``check-sni``); a
step without it uses only its own words (``ssl``, ``sni``). So ``tcp-check connect ssl sni X``
and ``check-ssl check-sni X`` send the same SNI, and ``tcp-check connect ssl`` ignores every
server's ``check-sni``. The effective model must say what the engine sends: each case below runs
HAProxy on loopback in front of a TLS server that records the SNI of every hello it receives,
and compares that with what :mod:`lbgen.haproxy.effective` says the check sends.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import lbgen
from lbgen.effective.model import Config
from lbgen.importer import import_config
from lbgen.lint import lint_text
from tests.support import free_port, show_stat
from tests.test_haproxy_semantics import HAPROXY, hap, haproxy_check, running

needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")

#: What a check sends: ``None`` for no TLS at all, else ``("tls", sni)`` (sni None: no SNI).
Sent = tuple[str, str | None] | None


class HelloRecorder:
    """A TLS server on a loopback address: keeps the SNI of each client hello (None when the
    hello has none). A connection that sends no TLS hello is not recorded."""

    def __init__(self, host: str) -> None:
        import trustme

        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        trustme.CA().issue_cert("localhost", host).configure_cert(self.context)
        self.context.sni_callback = self._on_sni
        self.snis: list[str | None] = []
        self._current: list[str | None] = []
        self._sock = socket.create_server((host, 0))
        self.address = f"{host}:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _on_sni(self, _sock: object, name: str | None, _context: object) -> None:
        self._current.append(name)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            conn.settimeout(2)
            self._current = []
            try:
                with self.context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()
            self.snis += self._current  # the callback runs only for a TLS client hello

    def close(self) -> None:
        self._sock.close()


CONFIG = """\
global
    log stdout format raw local0
    stats socket {sock}
defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout check 1s
frontend f
    bind 127.0.0.1:{port}
    default_backend b
backend b
{lines}    server m1 {address} check inter 100ms {words}
"""


def _config(lines: str, words: str, address: str, port: int = 0, sock: str = "s") -> str:
    body = "".join(f"    {line.strip()}\n" for line in lines.splitlines() if line.strip())
    return CONFIG.format(sock=sock, port=port, lines=body, address=address, words=words)


def _check_status(sock: Path) -> str:
    """Server m1's ``check_status`` in HAProxy's ``show stat`` ("" before its first check)."""
    return next(row for row in show_stat(sock, 5) if row["svname"] == "m1")["check_status"]


@contextmanager
def _recorder(host: str) -> Iterator[HelloRecorder]:
    recorder = HelloRecorder(host)
    try:
        yield recorder
    finally:
        recorder.close()


def engine_sends(text: str, recorder: HelloRecorder, tmp_path: Path) -> set[Sent]:
    """What the real HAProxy's checks of server m1 send to ``recorder``, once it has run at
    least three of them: each hello's SNI, or None when no check spoke TLS."""
    port = free_port()
    sock = tmp_path / f"stats-{port}.sock"
    text = text.replace("bind 127.0.0.1:0", f"bind 127.0.0.1:{port}").replace(
        "stats socket s\n", f"stats socket {sock}\n"
    )
    with running(text, tmp_path, port):
        deadline = time.monotonic() + 20
        while not sock.exists() or _check_status(sock) in ("", "INI"):
            assert time.monotonic() < deadline, "no check completed within 20 s"
            time.sleep(0.05)
        time.sleep(0.4)  # inter 100ms: at least three more checks
        status = _check_status(sock)
    received = set(recorder.snis)
    if not received:
        assert not status.startswith("L6"), status  # no TLS layer (L6OK, L6RSP, L6TOUT)
        return {None}
    return {("tls", sni) for sni in received}


def model_sends(config: Config) -> Sent:
    """What lbgen's effective model says server m1's first check step sends."""
    backend = config.backends["b"]
    server = backend.servers["m1"]
    # The check kind says whether a tcp/http check speaks TLS; the server's check_ssl whether
    # it is set up for it, which the other kinds (ssl-hello) run on when nothing overrides it.
    kind = backend.health.check
    if not (kind in ("tls", "https") or (kind not in ("tcp", "http") and server.check_ssl)):
        return None
    return ("tls", backend.health.sni if backend.health.sni is not None else server.check_sni)


# (check rules of backend b, parameters of server m1 after "check inter 100ms", what is sent)
CASES = [
    pytest.param("option tcp-check", "check-ssl check-sni localhost verify none",
                 ("tls", "localhost"), id="implicit-connect-takes-check-sni"),
    pytest.param("", "check-ssl check-sni localhost verify none",
                 ("tls", "localhost"), id="no-check-option-takes-check-sni"),
    pytest.param("option tcp-check\ntcp-check connect ssl sni localhost", "verify none",
                 ("tls", "localhost"), id="connect-ssl-sni"),
    pytest.param("option tcp-check\ntcp-check connect ssl",
                 "check-ssl check-sni localhost verify none",
                 ("tls", None), id="connect-ssl-ignores-check-sni"),
    pytest.param("option tcp-check\ntcp-check connect ssl sni a.example",
                 "check-ssl check-sni localhost verify none",
                 ("tls", "a.example"), id="connect-sni-wins-over-check-sni"),
    pytest.param("option tcp-check\ntcp-check connect default",
                 "check-ssl check-sni localhost verify none",
                 ("tls", "localhost"), id="connect-default-takes-check-sni"),
    pytest.param("option tcp-check\ntcp-check connect ssl default",
                 "check-sni localhost verify none",
                 ("tls", "localhost"), id="connect-ssl-default-takes-check-sni"),
    pytest.param("option tcp-check\ntcp-check connect", "check-ssl check-sni localhost verify none",
                 None, id="plain-connect-ignores-check-ssl"),
    pytest.param("option tcp-check\ntcp-check connect sni localhost", "verify none",
                 None, id="connect-sni-without-ssl-is-plain"),
    pytest.param("option httpchk GET /", "check-ssl check-sni localhost verify none",
                 ("tls", "localhost"), id="httpchk-implicit-connect-takes-check-sni"),
    pytest.param("option httpchk\nhttp-check connect ssl\nhttp-check send meth GET uri /",
                 "check-ssl check-sni localhost verify none",
                 ("tls", None), id="http-check-connect-ssl-ignores-check-sni"),
    pytest.param("option httpchk\nhttp-check connect ssl sni localhost\n"
                 "http-check send meth GET uri /", "verify none",
                 ("tls", "localhost"), id="http-check-connect-ssl-sni"),
    pytest.param("option httpchk\nhttp-check connect default\nhttp-check send meth GET uri /",
                 "check-ssl check-sni localhost verify none",
                 ("tls", "localhost"), id="http-check-connect-default-takes-check-sni"),
    pytest.param("option httpchk\nhttp-check connect\nhttp-check send meth GET uri /",
                 "check-ssl check-sni localhost verify none",
                 None, id="http-check-plain-connect-ignores-check-ssl"),
    pytest.param("option tcp-check", "ssl check-sni localhost verify none",
                 ("tls", "localhost"), id="ssl-server-checks-over-tls"),
    pytest.param("option tcp-check", "ssl check-sni localhost verify none port {port}",
                 None, id="ssl-server-with-its-own-port-checks-plain"),
    pytest.param("option tcp-check", "ssl check-sni localhost verify none addr {host}",
                 None, id="ssl-server-with-addr-checks-plain"),
    pytest.param("option tcp-check", "ssl no-check-ssl check-sni localhost verify none",
                 None, id="no-check-ssl"),
    pytest.param("option tcp-check", "ssl sni str(traffic.example) verify none",
                 ("tls", None), id="server-sni-is-not-for-checks"),
    pytest.param("option ssl-hello-chk", "check-ssl check-sni localhost verify none",
                 ("tls", "localhost"), id="ssl-hello-chk-over-check-ssl"),
]  # fmt: skip


@pytest.mark.parametrize(("lines", "words", "sent"), CASES)
def test_the_model_says_what_the_checks_send(lines: str, words: str, sent: Sent) -> None:
    host, port = "127.0.0.41", 7443
    words = words.format(host=host, port=port)
    assert model_sends(hap(_config(lines, words, f"{host}:{port}"))) == sent


@needs_haproxy
@pytest.mark.parametrize(("lines", "words", "sent"), CASES)
def test_the_real_haproxy_sends_what_the_cases_say(
    lines: str, words: str, sent: Sent, tmp_path: Path
) -> None:
    with _recorder("127.0.0.41") as recorder:
        host, port = recorder.address.split(":")
        words = words.format(host=host, port=port)
        text = _config(lines, words, recorder.address)
        assert engine_sends(text, recorder, tmp_path) == {sent}
        assert model_sends(hap(text)) == sent


# --- diff and import ----------------------------------------------------------------------------

SPEC = """\
version: 1
frontends:
  api: {{bind: ["127.0.0.1:{port}"], pool: cp}}
pools:
  cp:
    health: {{check: tls, sni: localhost, interval: 100ms}}
    servers:
      m1: {address}
"""

HAND = """\
global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    option dontlognull
frontend api
    bind 127.0.0.1:{port}
    timeout client 1h
    timeout client-fin 10s
    default_backend cp
backend cp
    balance roundrobin
    option tcp-check
    retries 3
    option redispatch
    timeout connect 5s
    timeout server 1h
    timeout tunnel 1h
    timeout server-fin 10s
    timeout check 3s
    default-server inter 100ms fastinter 1s downinter 2s rise 2 fall 3 weight 100
    server m1 {address} check check-ssl check-sni localhost verify none
"""


def test_check_sni_on_the_servers_is_the_tls_checks_sni(tmp_path: Path) -> None:
    """``health: {check: tls, sni: localhost}`` renders ``tcp-check connect ssl sni
    localhost``; the hand-written ``check-ssl check-sni localhost`` under ``option tcp-check``
    sends the same SNI (the real engine, when installed), so diff calls them equivalent."""
    with _recorder("127.0.0.42") as recorder:
        port = free_port()
        spec = lbgen.load_spec(SPEC.format(port=port, address=recorder.address).encode())
        hand = tmp_path / "hand.cfg"
        hand.write_text(HAND.format(port=port, address=recorder.address))
        result = lbgen.diff(spec, "haproxy", hand)
        assert result.equivalent, result.text()
        if HAPROXY is None:
            return
        sent = []
        for text in (lbgen.render(spec, "haproxy").text, hand.read_text()):
            recorder.snis.clear()
            text = text.replace("global\n", "global\n    stats socket s\n", 1)
            text = text.replace(f"127.0.0.1:{port}", "127.0.0.1:0")
            sent.append(engine_sends(text, recorder, tmp_path))
        assert sent == [{("tls", "localhost")}] * 2


IGNORED_CHECK_SNI = """\
global
    log stdout format raw local0
defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
frontend f
    bind 127.0.0.8:16443
    default_backend a
backend a
    option tcp-check
    tcp-check connect ssl
    server m1 127.0.0.7:7443 check check-ssl check-sni localhost verify none inter 1s
"""


def test_a_check_sni_the_connect_rule_ignores_is_not_imported() -> None:
    """Under ``tcp-check connect ssl`` HAProxy sends no SNI whatever the servers' check-sni
    (case ``connect-ssl-ignores-check-sni``): the import says no ``sni``, warns about nothing
    SNI-related, and renders a config diff calls equivalent."""
    result = import_config(IGNORED_CHECK_SNI, "c.cfg", "haproxy")
    assert result.ok
    assert "sni" not in result.yaml_text
    assert not [d for d in result.diagnostics if "sni" in d.message]
    spec = lbgen.load_spec(result.yaml_text.encode(), filename="c.yaml")
    config = hap(IGNORED_CHECK_SNI)
    assert config.backends["a"].health.sni is None
    rendered = hap(lbgen.render(spec, "haproxy").text)
    assert rendered.backends["a"].health == config.backends["a"].health


def _two_servers(second_sni: str) -> str:
    """``IGNORED_CHECK_SNI`` under the implicit connect, with a server m2 whose check-sni is
    ``second_sni``."""
    m2 = f"    server m2 127.0.0.9:7443 check check-ssl check-sni {second_sni} verify none\n"
    return IGNORED_CHECK_SNI.replace("    tcp-check connect ssl\n", "") + m2


def test_check_sni_shared_by_the_servers_imports_as_the_pools_sni() -> None:
    """rgl/k0s-vagrant's ``option tcp-check`` + ``check check-ssl check-sni localhost`` per
    server: one ``health.sni`` and no lossy warning per server."""
    text = _two_servers("localhost")
    result = import_config(text, "c.cfg", "haproxy")
    assert result.ok
    assert "sni: localhost" in result.yaml_text
    assert not [d for d in result.diagnostics if "sni" in d.message], result.diagnostics
    backend = hap(text).backends["a"]
    assert backend.health.sni == "localhost"
    assert all(server.check_sni is None for server in backend.servers.values())


def test_servers_with_different_check_snis_keep_them() -> None:
    """No one SNI to put on the pool: each server keeps its own, so a change shows on it."""
    text = _two_servers("other.example")
    backend = hap(text).backends["a"]
    assert backend.health.sni is None
    assert {s.check_sni for s in backend.servers.values()} == {"localhost", "other.example"}


def test_a_check_sni_that_changes_what_is_sent_is_a_difference() -> None:
    """The fold keeps real differences: another SNI, or one the connect rule now ignores."""
    base = IGNORED_CHECK_SNI.replace("    tcp-check connect ssl\n", "")
    other = base.replace("check-sni localhost", "check-sni other.example")
    assert hap(base).backends["a"].health.sni == "localhost"
    assert hap(other).backends["a"].health.sni == "other.example"
    assert hap(base).backends["a"].health != hap(IGNORED_CHECK_SNI).backends["a"].health


def test_check_ssl_under_a_plain_connect_still_needs_verify() -> None:
    """``tcp-check connect`` checks in plain TCP whatever ``check-ssl`` says (case
    ``plain-connect-ignores-check-ssl``), yet HAProxy still sets TLS up for the server and
    refuses to start without ``verify none`` or a CA: the model keeps ``check_ssl`` on the
    server, so lint still says LB109, while the check itself is ``tcp``."""
    text = _config("option tcp-check\ntcp-check connect", "check-ssl", "127.0.0.41:7443", 16443)
    text = text.replace("    stats socket s\n", "")
    backend = hap(text).backends["b"]
    assert (backend.health.check, backend.servers["m1"].check_ssl) == ("tcp", True)
    assert "LB109" in {d.code for d in lint_text(text, "c.cfg")}
    if HAPROXY is not None:
        code, out = haproxy_check(text)
        assert code != 0 and "no CA file specified" in out, out
