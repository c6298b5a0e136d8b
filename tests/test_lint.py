"""``lbgen lint``: every rule has a fixture that triggers it and one that does not; the rules
that say an engine refuses a config are confirmed by the real engine."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbgen.confparse import CODE_ENGINE, CODE_SYNTAX, CODE_UNREADABLE
from lbgen.diagnostics import Diagnostic, Level, SpecError, format_github, format_json, format_text
from lbgen.lint import all_rules, exit_code, explain, lint_path, lint_text, rules_by_code
from tests.support import free_port, listening, show_stat

FIXTURES = Path(__file__).parent / "fixtures" / "configs"
LINT = FIXTURES / "lint"
LINT_FIXTURES = sorted(LINT.iterdir())
_NAME = re.compile(r"(?P<code>LB\d{3})-(?P<kind>bad|good)\.(?P<ext>cfg|conf)")

# Rules whose finding means the engine itself refuses the config.
ENGINE_REJECTS = {"LB100", "LB109", "LB111", "LB112", "LB113", "LB120"}


def fixture_info(path: Path) -> tuple[str, str, str]:
    match = _NAME.fullmatch(path.name)
    assert match, f"lint fixture names are CODE-bad|good.cfg|conf: {path.name}"
    engine = "haproxy" if match["ext"] == "cfg" else "nginx"
    return match["code"], match["kind"], engine


def codes(diagnostics: list[Diagnostic]) -> set[str]:
    return {d.code for d in diagnostics}


# --- the rule table ----------------------------------------------------------------------------


def test_rule_table_is_well_formed() -> None:
    all_codes = [r.code for r in all_rules()]
    assert all_codes == sorted(set(all_codes))
    assert set(rules_by_code()) == set(all_codes)
    for rule in all_rules():
        assert re.fullmatch(r"LB\d{3}", rule.code)
        assert rule.summary and "\n" not in rule.summary
        assert rule.engines and set(rule.engines) <= {"haproxy", "nginx", "nginx-plus"}
        assert rule.check.__doc__, f"{rule.code}: the check function explains itself"
    assert len(explain().splitlines()) == len(all_rules())


def test_every_rule_has_a_triggering_and_a_clean_fixture() -> None:
    seen: dict[str, set[str]] = {}
    for path in LINT_FIXTURES:
        code, kind, _ = fixture_info(path)
        seen.setdefault(code, set()).add(kind)
    for rule in all_rules():
        assert seen.get(rule.code) == {"bad", "good"}, rule.code


@pytest.mark.parametrize("path", LINT_FIXTURES, ids=lambda p: p.name)
def test_fixture_triggers_exactly_when_it_should(path: Path) -> None:
    code, kind, _ = fixture_info(path)
    found = lint_path(path)
    assert all(d.file == str(path) and d.line for d in found)
    if kind == "bad":
        assert code in codes(found), format_text(found)
        hits = [d for d in found if d.code == code]
        assert all(d.level is rules_by_code()[code].level for d in hits)
    else:
        assert code not in codes(found), format_text(found)


@pytest.mark.parametrize("path", LINT_FIXTURES, ids=lambda p: p.name)
def test_the_engine_agrees(path: Path) -> None:
    """Bad fixtures of 'the engine refuses this' rules are refused; every other fixture is a
    config the engine accepts, so the rule is about behaviour, not syntax."""
    engines = pytest.importorskip("lbgen.runners")
    code, kind, engine = fixture_info(path)
    if not engines.LocalRunner().available(engine):
        pytest.skip(f"{engine} is not installed")
    result = engines.check_config(path.read_text(), engine, runner="local")
    if kind == "bad" and code in ENGINE_REJECTS:
        assert not result.ok, f"{engine} accepted a config {code} says it refuses"
    else:
        assert result.ok, result.output


def _connections_per_server(upstream_key: str, connections: int) -> list[int]:
    """Run the real nginx with LB121's bad fixture, its hash key replaced by ``upstream_key``,
    in front of two loopback servers; open ``connections`` client connections through it, and
    count the connections each server accepted."""
    import threading

    from lbgen.runners.local import LocalEngine

    servers = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    counts = [0, 0]
    stop = threading.Event()

    def accept(index: int) -> None:
        # Polling, and joined before the socket closes: a thread blocked in accept() on a
        # closed socket can wake on the next socket given the same descriptor, and count
        # another run's connection.
        servers[index].settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = servers[index].accept()
            except TimeoutError:
                continue
            with conn:
                counts[index] += 1
                conn.sendall(b"x")  # what the client reads through nginx

    threads = [threading.Thread(target=accept, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    front = socket.create_server(("127.0.0.1", 0))
    port = front.getsockname()[1]
    front.close()
    text = (LINT / "LB121-bad.conf").read_text().replace("hash  consistent", upstream_key)
    text = text.replace("127.0.0.1:16443", f"127.0.0.1:{port}")
    for index, server in enumerate(servers):
        text = text.replace(f"127.0.0.1:1700{index + 1}", f"127.0.0.1:{server.getsockname()[1]}")
    try:
        with LocalEngine(text, "nginx"):
            deadline = time.monotonic() + 15
            while not listening(port) and time.monotonic() < deadline:
                time.sleep(0.05)
            for _ in range(connections):
                # Generous: a busy machine (a fresh-machine CI run beside other work) may take
                # seconds; what counts is which server each connection reached.
                with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
                    client.settimeout(30)
                    assert client.recv(1) == b"x"
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        for server in servers:
            server.close()
    return counts


def test_lb121_a_key_without_a_variable_sends_every_connection_to_one_server() -> None:
    """What LB121 says, on the real nginx: with ``hash consistent;`` one server takes all 20
    connections; with a key that varies per connection (``$remote_port``), both take some."""
    from lbgen.runners import LocalRunner

    if not LocalRunner().available("nginx"):
        pytest.skip("nginx is not installed")
    assert sorted(_connections_per_server("hash  consistent", 20)) == [0, 20]
    spread = _connections_per_server("hash $remote_port consistent", 20)
    assert sum(spread) == 20 and min(spread) > 0, spread


# --- the well-known setups ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("haproxy/k8s-docs-classic.cfg", {"LB101", "LB102", "LB106", "LB114"}),
        ("haproxy/kubespray-localhost.cfg", {"LB104", "LB106", "LB114"}),
        ("haproxy/kubeadm-style.cfg", {"LB104", "LB106", "LB114"}),
        ("haproxy/openshift-style.cfg", set()),
        ("haproxy/quoting.cfg", {"LB110"}),
        ("nginx/classic-stream.conf", {"LB106"}),
        ("nginx/kubespray-stream.conf", set()),
        ("nginx/upstreams-only.conf", set()),
        ("nginx/with-include/nginx.conf", set()),
    ],
)
def test_well_known_setups(name: str, expected: set[str]) -> None:
    assert codes(lint_path(FIXTURES / name)) == expected


def test_the_classic_example_points_at_the_ignored_check() -> None:
    found = lint_path(FIXTURES / "haproxy" / "k8s-docs-classic.cfg")
    (dup,) = [d for d in found if d.code == "LB101"]
    assert (dup.line, dup.col, dup.level) == (48, 5, Level.WARNING)
    assert "'option httpchk' is ignored" in dup.message
    assert "line 51" in dup.message


def test_a_defaults_line_inherited_by_many_proxies_is_reported_once() -> None:
    found = lint_path(FIXTURES / "haproxy" / "k8s-docs-classic.cfg")
    forwardfor = [d for d in found if d.code == "LB114" and "forwardfor" in d.message]
    assert len(forwardfor) == 1
    assert forwardfor[0].line == 24
    assert "frontend apiserver, backend apiserver" in forwardfor[0].message


def test_nginx_plus_skips_the_oss_only_rule() -> None:
    text = (LINT / "LB111-bad.conf").read_text()
    assert "LB111" in codes(lint_text(text, "x.conf", "nginx"))
    assert "LB111" not in codes(lint_text(text, "x.conf", "nginx-plus"))


# --- output and exit codes ---------------------------------------------------------------------


def test_output_formats() -> None:
    found = lint_path(LINT / "LB106-bad.conf")
    assert len(found) == 1
    text = format_text(found)
    assert re.fullmatch(
        rf"{re.escape(str(LINT / 'LB106-bad.conf'))}:12:9: warning \[LB106\] .*proxy_timeout 3s.*",
        text,
    )
    (row,) = json.loads(format_json(found))
    assert (row["code"], row["level"], row["line"]) == ("LB106", "warning", 12)
    assert format_github(found).startswith("::warning file=")


@pytest.mark.parametrize(
    ("levels", "fail_on", "expected"),
    [
        ([], Level.WARNING, 0),
        ([Level.NOTE], Level.WARNING, 0),
        ([Level.NOTE], Level.NOTE, 1),
        ([Level.WARNING], Level.WARNING, 1),
        ([Level.WARNING], Level.ERROR, 0),
        ([Level.NOTE, Level.ERROR], Level.ERROR, 1),
    ],
)
def test_exit_code(levels: list[Level], fail_on: Level, expected: int) -> None:
    diagnostics = [Diagnostic(level, "LB000", "x") for level in levels]
    assert exit_code(diagnostics, fail_on) == expected


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary.cfg", CODE_UNREADABLE),
        (b"backend b\n    server s \xff\xfe\n", "latin.cfg", CODE_UNREADABLE),
        (b"stream {\n    upstream u {\n        server a:1;\n", "open.conf", CODE_SYNTAX),
        (b"frontend\n  bind :1\n  server 'x\n", "quote.cfg", CODE_SYNTAX),
        (b"hello world\n", "mystery", CODE_ENGINE),
    ],
)
def test_unreadable_input_raises_spec_error(
    tmp_path: Path, data: bytes, name: str, code: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(SpecError) as caught:
        lint_path(path)
    assert caught.value.diagnostics[0].code == code
    assert caught.value.diagnostics[0].file == str(path)


def test_missing_file_and_missing_include(tmp_path: Path) -> None:
    with pytest.raises(SpecError):
        lint_path(tmp_path / "absent.cfg")
    main = tmp_path / "nginx.conf"
    main.write_text("stream {\n    include upstreams/*.conf;\n    include kube.conf;\n}\n")
    with pytest.raises(SpecError) as caught:
        lint_path(main)
    (diag,) = caught.value.diagnostics
    assert (diag.code, diag.line) == ("CONF003", 3)


def test_golden_outputs_lint_without_errors() -> None:
    """What lbgen renders never trips an error-level rule (warnings may be deliberate)."""
    golden = sorted(Path(__file__).parent.glob("cases/*/haproxy.cfg")) + sorted(
        Path(__file__).parent.glob("cases/*/nginx*.conf")
    )
    for path in golden:
        engine = "nginx-plus" if path.name.startswith("nginx-plus") else None
        found = lint_text(path.read_text(), str(path), engine)
        assert not [d for d in found if d.level is Level.ERROR], format_text(found)


_FRAGMENTS = st.sampled_from(
    [
        " ", "\t", "\n", "#", ";", "{", "}", "'", '"', "\\", "$", "=", ":", "x", "1", "\x00",
        "global\n", "defaults base\n", "backend b from base\n", "frontend f\n", "listen l\n",
        "  server s 1.2.3.4:6443 check", " check-ssl", " weight", " inter 5s", " #backup",
        "  default-server inter 1s", "  option httpchk GET /healthz\n", "  timeout client",
        "  http-check expect status 200\n", "  balance static-rr\n", "  bind :6443\n",
        "stream {\n", "upstream u {\n", "server {\n", "  listen 6443;\n", "  proxy_pass u;\n",
        "  server a:1 weight=0 backup;\n", "  proxy_timeout 3s;\n", "  hash $remote_addr;\n",
        "  health_check interval=5s;\n", "match m {\n", '  send "GET / HTTP/1.0";\n',
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=40), st.sampled_from([None, "haproxy", "nginx", "nginx-plus"]))
def test_any_input_gives_diagnostics_never_a_traceback(
    tmp_path_factory: pytest.TempPathFactory, parts: list[str], engine: str | None
) -> None:
    # a fresh folder: includes in generated text must not see other files
    name = str(tmp_path_factory.mktemp("fuzz") / "lb.conf")
    try:
        found = lint_text("".join(parts), name, engine)
    except SpecError as exc:
        assert exc.diagnostics and all(d.level is Level.ERROR for d in exc.diagnostics)
    else:
        assert all(isinstance(d, Diagnostic) and d.code.startswith("LB") for d in found)


# --- bare-number durations ---------------------------------------------------------------------


def test_inter_10_is_10_ms_and_says_so() -> None:
    found = lint_path(LINT / "LB116-bad.cfg")
    inter = [d for d in found if d.code == "LB116" and "inter" in d.message]
    assert [(d.line, d.col, d.level) for d in inter] == [(22, 5, Level.WARNING)]
    assert inter[0].message.startswith("inter 10 is 10ms, not 10s: HAProxy reads a bare number")


def test_bare_milliseconds_in_haproxy_are_only_a_note() -> None:
    text = (LINT / "LB117-bad.cfg").read_text()
    found = lint_text(text, "h.cfg")
    notes = {d.message.split(":")[0] for d in found if d.code == "LB117"}
    assert notes == {
        "timeout connect 5000 is 5s", "timeout client 3600000 is 1h",
        "timeout server 3600000 is 1h", "inter 5000 is 5s",
    }  # fmt: skip
    assert all(d.level is Level.NOTE for d in found if d.code == "LB117")
    assert exit_code([d for d in found if d.code == "LB117"]) == 0


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ("proxy_connect_timeout 5000;", True),  # 83 minutes to connect: meant 5000 ms
        ("proxy_connect_timeout 999;", False),
        ("proxy_timeout 600000;", True),  # a round thousand of seconds: meant 10 minutes
        ("proxy_timeout 3600;", False),  # one hour, as written
        ("proxy_timeout 3600000ms;", False),  # the unit says it
        ("proxy_timeout 3601000;", True),
    ],
)
def test_nginx_bare_seconds_that_read_as_milliseconds(line: str, flagged: bool) -> None:
    text = (
        "stream {\n    upstream cp { server 127.0.0.1:17001; }\n"
        f"    server {{\n        listen 127.0.0.1:16443;\n        {line}\n"
        "        proxy_pass cp;\n    }\n}\n"
    )
    found = [d for d in lint_text(text, "n.conf", "nginx") if d.code == "LB118"]
    assert bool(found) is flagged, found
    if flagged:
        assert (found[0].line, found[0].col) == (5, 9)
        assert "nginx reads a bare number as seconds" in found[0].message


def test_lint_cli_reports_the_bare_interval() -> None:
    from tests.support import run_lbgen

    result = run_lbgen("lint", str(LINT / "LB116-bad.cfg"))
    assert result.returncode == 1
    assert (
        f"{LINT / 'LB116-bad.cfg'}:22:5: warning [LB116] inter 10 is 10ms, not 10s: "
        "HAProxy reads a bare number as milliseconds: write the unit (10s, 500ms)\n"
    ) in result.stderr


def test_the_readme_lists_every_rule() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert f"$ lbgen lint --list-rules\n{explain()}\n```" in readme


# --- false-positive patterns found on the real-world corpus (issue 10) ------------------------

CORPUS = Path(__file__).parent / "corpus" / "real"


def _corpus(name: str) -> list[Diagnostic]:
    return lint_path(CORPUS / name, engine_version=(2, 6))


def test_tcplog_in_the_frontend_replaces_the_inherited_httplog() -> None:
    """kubespray: defaults say httplog, the TCP frontend says tcplog (haproxy -c: no warning)."""
    found = _corpus("kubespray-haproxy.cfg")
    assert not [d for d in found if d.code == "LB114" and "httplog" in d.message]
    # the http-server-close it inherits is still ignored in mode tcp
    assert [d.line for d in found if d.code == "LB114"] == [11]


def test_httplog_without_tcplog_in_a_tcp_frontend_is_reported() -> None:
    """k0s docs on Debian's stock defaults: no tcplog, haproxy -c warns 'Falling back'."""
    (hit,) = [d for d in _corpus("debian-stock-k0s-docs.cfg") if d.code == "LB114"]
    assert hit.line == 24 and "frontend kubeAPI" in hit.message


def test_stats_pages_join_api_and_ingress_are_not_the_api_path() -> None:
    """k0s lab: a stats listen, a join API on 9443, ingress on 80/443 with send-proxy-v2 to
    NodePorts: no idle-timeout or PROXY-protocol finding for them; the API and konnectivity
    proxies keep theirs."""
    found = _corpus("k8s-lab-k0s-external-lb.cfg")
    timeouts = {d.message.split(":")[0] for d in found if d.code == "LB106"}
    assert timeouts == {
        "frontend k8s_api",
        "backend k8s_api_backend",
        "frontend k8s_konnectivity",
        "backend k8s_konnectivity_backend",
    }
    assert "LB108" not in codes(found)


def test_machine_config_server_and_ingress_are_not_the_api_path() -> None:
    """OpenShift UPI: MCS (22623) /healthz check and 1m timeouts, ingress routers: left alone;
    the API listen on 6443 keeps its idle-timeout finding."""
    found = _corpus("openshift-install-configs-upi.cfg")
    timeouts = {d.message.split(":")[0] for d in found if d.code == "LB106"}
    assert timeouts == {"frontend api-server-6443", "backend api-server-6443"}
    assert not {"LB103", "LB104"} & codes(found)


def test_proxy_protocol_to_apiservers_is_still_an_error() -> None:
    text = (CORPUS / "k8s-lab-k0s-external-lb.cfg").read_text()
    text = text.replace(
        "192.168.122.14:6443 check check-ssl", "192.168.122.14:6443 check send-proxy"
    )
    found = lint_text(text, "x.cfg", "haproxy")
    assert [d.line for d in found if d.code == "LB108"] == [73]


def test_api_traffic_in_mode_http_is_an_error() -> None:
    """An API listen left in the Debian defaults' mode http (no 'mode tcp' line)."""
    text = (CORPUS / "debian-stock-k3s-docs.cfg").read_text()
    text = text.replace("    mode tcp\n    option tcplog\n", "    option tcplog\n", 1)
    hits = [d for d in lint_text(text, "x.cfg", "haproxy") if d.code == "LB119"]
    assert len(hits) == 1 and hits[0].level is Level.ERROR
    assert hits[0].message.startswith("frontend k3s-frontend in mode http carries API traffic")


def test_removed_keywords_follow_the_engine_version() -> None:
    text = (LINT / "LB120-bad.cfg").read_text() + "\nlisten x\n    bind 127.0.0.1:1 process 1\n"
    old = lint_text(text, "x.cfg", "haproxy", engine_version=(2, 4))
    assert "LB120" not in codes(old)
    mid = [d for d in lint_text(text, "x.cfg", "haproxy", (2, 6)) if d.code == "LB120"]
    assert [d.line for d in mid] == [3]  # 'process' on bind lines goes in 2.7
    assert "HAProxy 2.6 (--engine-version) refuses to start" in mid[0].message
    new = [d for d in lint_text(text, "x.cfg", "haproxy", (3, 0)) if d.code == "LB120"]
    assert [d.line for d in new] == [3, 19]


def test_removed_keywords_without_a_version_use_the_local_binary() -> None:
    from lbgen.haproxy.lint import local_haproxy_version

    local = local_haproxy_version()
    (hit,) = [d for d in lint_path(LINT / "LB120-bad.cfg") if d.code == "LB120"]
    if local is None:
        assert "assumed: no --engine-version and no local haproxy" in hit.message
    else:
        assert f"HAProxy {local[0]}.{local[1]} (the local haproxy)" in hit.message


def test_bare_number_check_interval_is_covered() -> None:
    """README footgun: 'inter 10' is 10 ms; LB116 says so for server and default-server."""
    text = (LINT / "LB120-good.cfg").read_text().replace("check\n", "check inter 10\n")
    text = text.replace("backend apiservers\n", "backend apiservers\n    default-server inter 5\n")
    hits = {d.message.split(":")[0] for d in lint_text(text, "x.cfg") if d.code == "LB116"}
    assert hits == {"inter 5 is 5ms, not 5s", "inter 10 is 10ms, not 10s"}


def _status_after_checks(text: str, tmp_path: Path) -> dict[str, str]:
    """Start HAProxy on ``text`` (frontend on a free loopback port, a stats socket in
    ``tmp_path``) and return its servers' status once every server has been checked twice."""
    from lbgen.runners.local import LocalEngine

    sock = tmp_path / "stats.sock"
    port = free_port()
    text = text.replace("global\n", f"global\n    stats socket {sock}\n", 1)
    text = text.replace("127.0.0.1:16443", f"127.0.0.1:{port}")
    with LocalEngine(text, "haproxy"):
        deadline = time.monotonic() + 30
        while not (listening(port) and sock.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2)  # inter 200ms, fall 2 / rise 2: each server is judged well within this
        return {row["svname"]: row["status"] for row in show_stat(sock) if row["pxname"] == "cp"}


def test_lb122_a_plain_http_check_on_the_tls_port_takes_every_server_out(tmp_path: Path) -> None:
    """What LB122 says, on the real HAProxy in front of two TLS API servers: the fixture's plain
    HTTP check leaves both DOWN; with check-ssl verify none (the good fixture) both are UP."""
    import trustme

    from lbgen.runners import LocalRunner
    from tests.integration.fake_apiserver import FakeAPIServer, server_context

    if not LocalRunner().available("haproxy"):
        pytest.skip("haproxy is not installed")
    context = server_context(trustme.CA())
    servers = [FakeAPIServer(f"m{i}", context).start() for i in (1, 2)]
    try:
        statuses = {}
        for kind in ("bad", "good"):
            text = (LINT / f"LB122-{kind}.cfg").read_text().split("frontend konnectivity")[0]
            assert codes(lint_text(text, "x.cfg")) == ({"LB122"} if kind == "bad" else set())
            for index, server in enumerate(servers):
                text = text.replace(f"127.0.0.{index + 1}:6443", server.address)
            text = text.replace("inter 5s", "inter 200ms rise 2 fall 2")
            (tmp_path / kind).mkdir()
            statuses[kind] = _status_after_checks(text, tmp_path / kind)
    finally:
        for server in servers:
            server.stop()
    assert statuses == {"bad": {"m1": "DOWN", "m2": "DOWN"}, "good": {"m1": "UP", "m2": "UP"}}
