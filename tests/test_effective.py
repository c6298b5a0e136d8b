"""The effective model: inheritance, engine defaults, normalisation, equivalence, differences."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lbgen.confparse import parse_config_file, write_config
from lbgen.effective import effective, effective_file, effective_text
from lbgen.effective.differ import differences
from lbgen.effective.model import (
    Bind,
    Config,
    Health,
    Origin,
    Timeouts,
    format_duration,
    normalize_address,
    split_host_port,
)
from lbgen.haproxy.syntax import parse_haproxy
from lbgen.haproxy.table import parse_haproxy_time
from lbgen.nginx.syntax import parse_nginx
from lbgen.nginx.table import parse_nginx_time
from lbgen.runners import LocalRunner
from tests.engine_check import can_isolate, isolated_check

FIXTURES = Path(__file__).parent / "fixtures" / "configs"
GOLDEN = sorted(
    p
    for p in Path(__file__).parent.glob("cases/*/*")
    if p.name == "haproxy.cfg" or (p.name.startswith("nginx") and p.suffix == ".conf")
)


def hap(text: str) -> Config:
    return effective(parse_haproxy(text, "t.cfg"))


def ngx(text: str) -> Config:
    return effective(parse_nginx(text, "t.conf"))


# --- values ------------------------------------------------------------------------------------


MS = 1_000
"""One millisecond in the model's base, microseconds."""
S = 1_000 * MS


@pytest.mark.parametrize(
    ("text", "us"),
    [
        ("10s", 10 * S),
        ("10000", 10 * S),
        ("10000ms", 10 * S),
        ("1m", 60 * S),
        ("1h", 3_600 * S),
        ("2d", 172_800 * S),
        ("500us", 500),
        ("1500us", 1500),
        ("0", 0),
        ("10 s", None),
        ("1h30m", None),
        ("s", None),
    ],
)
def test_haproxy_time_bare_numbers_are_milliseconds(text: str, us: int | None) -> None:
    assert parse_haproxy_time(text) == us


@pytest.mark.parametrize(
    ("text", "us"),
    [
        ("10", 10 * S),
        ("10s", 10 * S),
        ("10000ms", 10 * S),
        ("10m", 600 * S),
        ("1h30m", 5_400 * S),
        ("1h 30m", 5_400 * S),
        ("1w", 604_800 * S),
        ("1x", None),
        ("", None),
    ],
)
def test_nginx_time_bare_numbers_are_seconds(text: str, us: int | None) -> None:
    assert parse_nginx_time(text) == us


@pytest.mark.parametrize(
    ("us", "text"),
    [
        (None, "unset"),
        (0, "0ms"),
        (1500, "1500us"),
        (1500 * MS, "1500ms"),
        (90 * S, "90s"),
        (600 * S, "10m"),
    ],
)
def test_format_duration(us: int | None, text: str) -> None:
    assert format_duration(us) == text


def test_durations_are_compared_in_microseconds() -> None:
    """``inter 1500us`` is not ``inter 2ms`` (a millisecond model rounded both to 2ms);
    ``inter 2000us`` is."""

    def server(inter: str) -> Config:
        return hap(BASE + f"backend b\n    server s1 10.0.0.1:6443 check inter {inter}\n")

    assert server("1500us") != server("2ms")
    assert server("2000us") == server("2ms")
    assert server("1500us").backends["b"].servers["s1"].inter == 1500


@pytest.mark.parametrize(
    ("address", "normal"),
    [
        ("6443", "0.0.0.0:6443"),
        (":6443", "0.0.0.0:6443"),
        ("*:6443", "0.0.0.0:6443"),
        ("0.0.0.0:6443", "0.0.0.0:6443"),
        (":::6443", "[::]:6443"),
        ("[::]:6443", "[::]:6443"),
        ("[FD00:0::3]:6443", "[fd00::3]:6443"),
        ("LB.Example.COM:6443", "lb.example.com:6443"),
        ("unix@/run/lb.sock", "unix@/run/lb.sock"),
        ("unix:/run/lb.sock", "unix:/run/lb.sock"),
    ],
)
def test_listen_addresses_have_one_spelling(address: str, normal: str) -> None:
    assert normalize_address(address) == normal


def test_split_host_port() -> None:
    assert split_host_port("1.2.3.4:6443") == ("1.2.3.4", 6443)
    assert split_host_port("[fd00::1]:6443") == ("fd00::1", 6443)
    assert split_host_port("fd00::1:6443") == ("fd00::1", 6443)
    assert split_host_port("cp1.example") == ("cp1.example", None)


# --- HAProxy inheritance -----------------------------------------------------------------------

BASE = """\
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
"""


def test_haproxy_engine_defaults_fill_what_nothing_sets() -> None:
    config = hap(BASE + "backend b\n    server s1 10.0.0.1:6443 check\n")
    server = config.backends["b"].servers["s1"]
    assert (server.weight, server.inter, server.fastinter, server.downinter) == (
        1,
        2 * S,
        2 * S,
        2 * S,
    )
    assert (server.rise, server.fall, server.maxconn, server.maxqueue) == (2, 3, 0, 0)
    backend = config.backends["b"]
    assert (backend.balance, backend.retries, backend.redispatch) == ("roundrobin", 3, False)
    assert backend.health.check == "tcp"


def test_fastinter_and_downinter_fall_back_to_inter() -> None:
    config = hap(BASE + "backend b\n    default-server inter 7s\n    server s1 1.1.1.1:1 check\n")
    server = config.backends["b"].servers["s1"]
    assert (server.inter, server.fastinter, server.downinter) == (7 * S, 7 * S, 7 * S)
    assert server.origins["fastinter"] == Origin("t.cfg", 7, 5)


def test_check_timing_of_an_unchecked_server_means_nothing() -> None:
    a = hap(BASE + "backend b\n    server s1 1.1.1.1:1 inter 9s rise 5\n")
    b = hap(BASE + "backend b\n    server s1 1.1.1.1:1\n")
    assert a == b
    assert a.backends["b"].servers["s1"].inter is None


def test_default_server_lines_accumulate_and_server_lines_override() -> None:
    config = hap(
        BASE + "backend b\n"
        "    default-server inter 10s weight 100\n"
        "    default-server rise 1 check\n"
        "    server s1 1.1.1.1:1 weight 50\n"
        "    server s2 1.1.1.2:1 no-check\n"
    )
    s1, s2 = config.backends["b"].servers.values()
    assert (s1.inter, s1.rise, s1.weight, s1.check) == (10 * S, 1, 50, True)
    assert (s2.check, s2.weight) == (False, 100)


def test_defaults_default_server_is_inherited() -> None:
    config = hap(
        BASE.replace("defaults\n", "defaults\n    default-server inter 3s check\n")
        + "backend b\n    server s1 1.1.1.1:1\n"
    )
    assert config.backends["b"].servers["s1"].inter == 3 * S


def test_a_new_defaults_section_resets_everything() -> None:
    config = hap(
        BASE + "    retries 7\n    option redispatch\n"
        "backend first\n    server s 1.1.1.1:1\n"
        "defaults\n    mode tcp\n"
        "backend second\n    server s 1.1.1.1:1\n"
    )
    assert config.backends["first"].retries == 7
    assert config.backends["first"].redispatch is True
    second = config.backends["second"]
    assert (second.retries, second.redispatch, second.timeouts.server) == (3, False, None)


def test_named_defaults_and_from() -> None:
    config = hap(
        "defaults long\n    mode tcp\n    timeout server 1h\n"
        "defaults short from long\n    timeout connect 1s\n"
        "defaults\n    mode tcp\n    timeout server 5s\n"
        "backend a from long\n    server s 1.1.1.1:1\n"
        "backend b from short\n    server s 1.1.1.1:1\n"
        "backend c\n    server s 1.1.1.1:1\n"
    )
    timeouts = {name: b.timeouts for name, b in config.backends.items()}
    assert (timeouts["a"].server, timeouts["a"].connect) == (3_600 * S, None)
    assert (timeouts["b"].server, timeouts["b"].connect) == (3_600 * S, 1 * S)
    assert timeouts["c"].server == 5 * S


def test_from_an_unknown_defaults_section_is_a_model_diagnostic() -> None:
    config = hap("backend b from nowhere\n    server s 1.1.1.1:1\n")
    (diag,) = config.diagnostics
    assert (diag.code, diag.line) == ("CONF101", 1)


def test_no_option_cancels_an_inherited_option() -> None:
    config = hap(BASE + "    option redispatch\nbackend b\n    no option redispatch\n")
    assert config.backends["b"].redispatch is False


def test_listen_is_a_frontend_and_a_backend() -> None:
    config = hap(BASE + "listen api\n    bind :6443\n    server s 1.1.1.1:6443 check\n")
    frontend, backend = config.frontends["api"], config.backends["api"]
    assert frontend.backend == "api"
    assert frontend.binds == (Bind("0.0.0.0:6443"),)
    assert frontend.timeouts == Timeouts(client=3_600 * S)
    assert backend.timeouts == Timeouts(connect=5 * S, server=3_600 * S, queue=5 * S)


def test_options_only_count_on_the_side_haproxy_honours_them() -> None:
    config = hap(
        BASE
        + "    log 127.0.0.1:514 local0\n"  # a log target: without one tcplog means nothing
        + "    option tcplog\n    option persist\nfrontend f\n    bind :1\nbackend b\n"
    )
    assert "option tcplog" in config.frontends["f"].extras
    assert "option persist" not in config.frontends["f"].extras
    assert "option tcplog" not in config.backends["b"].extras
    assert "option persist" in config.backends["b"].extras


# --- health checks -----------------------------------------------------------------------------


def test_classic_kubeadm_example_runs_only_its_ssl_hello_check() -> None:
    config = effective_file(str(FIXTURES / "haproxy" / "k8s-docs-classic.cfg"))
    backend = config.backends["apiserver"]
    assert backend.health.check == "ssl-hello"
    assert [opt for opt, _ in backend.check_options] == ["httpchk", "ssl-hello-chk"]


def test_kubeadm_style_http_check_connect_ssl_is_https() -> None:
    config = effective_file(str(FIXTURES / "haproxy" / "kubeadm-style.cfg"))
    assert config.backends["apiserverbackend"].health == Health(
        check="https", method="GET", path="/healthz", version="HTTP/1.0", expect=(200,)
    )


def test_kubespray_style_values_after_inheritance() -> None:
    config = effective_file(str(FIXTURES / "haproxy" / "kubespray-localhost.cfg"))
    backend = config.backends["kube_api_backend"]
    assert backend.balance == "leastconn"
    assert backend.health == Health(
        check="https", method="GET", path="/healthz", version="HTTP/1.0", expect=(200,)
    )
    assert backend.retries == 5 and backend.redispatch is True
    node1 = backend.servers["node1"]
    assert (node1.inter, node1.fastinter, node1.downinter) == (15 * S, 15 * S, 15 * S)
    assert (node1.rise, node1.fall, node1.slowstart) == (2, 2, 60 * S)
    assert (node1.maxconn, node1.maxqueue, node1.weight) == (1000, 256, 100)
    assert (node1.check, node1.check_ssl, node1.verify) == (True, True, "none")
    assert config.frontends["kube_api_frontend"].binds == (Bind("127.0.0.1:6443"),)


def test_openshift_style_values_after_inheritance() -> None:
    config = effective_file(str(FIXTURES / "haproxy" / "openshift-style.cfg"))
    api = config.backends["api"]
    assert api.health == Health(
        check="https", method="GET", path="/readyz", version="HTTP/1.0", expect=(200,)
    )
    assert api.timeouts.tunnel == 3_600 * S
    assert config.frontends["api"].timeouts.client_fin == 10 * S
    master = api.servers["master0"]
    assert (master.inter, master.fall, master.rise) == (5 * S, 3, 1)
    assert api.servers["bootstrap"].backup is True
    assert config.backends["machine-config-server"].health.check == "tcp"


@pytest.mark.parametrize(
    ("lines", "health"),
    [
        ("    option tcp-check\n    tcp-check connect ssl\n", Health(check="tls")),
        ("", Health(check="tcp")),
        (
            "    option httpchk\n",
            Health(check="http", method="OPTIONS", path="/", version="HTTP/1.0"),
        ),
        (
            "    option httpchk HEAD /livez HTTP/1.1\n    http-check expect rstatus ^(200|401)$\n",
            Health(
                check="http", method="HEAD", path="/livez", version="HTTP/1.1", expect=(200, 401)
            ),
        ),
        (
            "    option httpchk\n    http-check expect status 200,204\n",
            Health(check="http", method="OPTIONS", path="/", version="HTTP/1.0", expect=(200, 204)),
        ),
        (
            "    option httpchk\n    http-check expect string ok\n",
            Health(check="http", method="OPTIONS", path="/", version="HTTP/1.0", expect_body="ok"),
        ),
        (
            "    option httpchk\n    http-check expect rstring ^ok\n",
            Health(
                check="http",
                method="OPTIONS",
                path="/",
                version="HTTP/1.0",
                expect_raw="rstring ^ok",
            ),
        ),
        # tcp-check rules without "option tcp-check" do nothing
        ("    tcp-check connect ssl\n", Health(check="tcp")),
    ],
)
def test_check_kinds(lines: str, health: Health) -> None:
    config = hap(BASE + "backend b\n" + lines + "    server s 1.1.1.1:1 check verify none\n")
    assert config.backends["b"].health == health


def test_check_ssl_on_every_checked_server_makes_https() -> None:
    config = hap(
        BASE + "backend b\n    option httpchk GET /readyz\n"
        "    server s 1.1.1.1:1 check check-ssl verify none check-sni api.local\n"
    )
    health = config.backends["b"].health
    assert (health.check, health.sni) == ("https", "api.local")


def test_no_checked_server_means_no_check() -> None:
    config = hap(BASE + "backend b\n    option httpchk\n    server s 1.1.1.1:1\n")
    assert config.backends["b"].health == Health()


def test_tls_settings_default_to_the_global_verify_policy() -> None:
    required = hap(BASE + "backend b\n    server s 1.1.1.1:1 ssl\n")
    relaxed = hap(
        "global\n    ssl-server-verify none\n" + BASE + "backend b\n    server s 1.1.1.1:1 ssl\n"
    )
    assert required.backends["b"].servers["s"].verify == "required"
    assert relaxed.backends["b"].servers["s"].verify == "none"


# --- nginx -------------------------------------------------------------------------------------


def test_nginx_engine_defaults_and_server_parameters() -> None:
    config = ngx(
        "stream {\n    upstream u {\n"
        "        server 10.0.0.1:6443;\n"
        "        server 10.0.0.2:6443 weight=5 max_fails=3 fail_timeout=30s max_conns=9 backup;\n"
        "        server [FD00::3]:6443 down slow_start=10s;\n"
        "    }\n"
        "    server {\n        listen 6443;\n        proxy_pass u;\n    }\n}\n"
    )
    plain, tuned, v6 = config.backends["u"].servers.values()
    assert (plain.weight, plain.max_fails, plain.fail_timeout, plain.maxconn) == (1, 1, 10 * S, 0)
    assert (tuned.weight, tuned.max_fails, tuned.fail_timeout) == (5, 3, 30 * S)
    assert (tuned.maxconn, tuned.backup) == (9, True)
    assert (v6.address, v6.port, v6.disabled, v6.slowstart) == ("fd00::3", 6443, True, 10 * S)
    frontend = config.frontends["0.0.0.0:6443"]
    assert frontend.timeouts == Timeouts(connect=60 * S, idle=600 * S)
    assert (frontend.next_upstream, frontend.next_upstream_tries) == (True, 0)
    assert frontend.backend == "u"


@pytest.mark.parametrize(
    ("method", "balance", "args"),
    [
        ("", "roundrobin", ()),
        ("least_conn;", "leastconn", ()),
        ("hash $remote_addr consistent;", "source", ()),
        ("hash $remote_addr;", "hash", ("$remote_addr",)),
        ("random two least_conn;", "random", ("two", "least_conn")),
    ],
)
def test_nginx_methods(method: str, balance: str, args: tuple[str, ...]) -> None:
    config = ngx(f"upstream u {{\n    {method}\n    server a:1;\n}}\n")
    backend = config.backends["u"]
    assert (backend.balance, backend.balance_args) == (balance, args)


@pytest.mark.parametrize("line", ["proxy_next_upstream_timeout 10s;", "proxy_protocol_timeout 5s;"])
def test_nginx_server_directives_named_like_modelled_ones_are_compared(line: str) -> None:
    """A directive whose name only starts like a modelled one (proxy_next_upstream,
    proxy_protocol) is an extra of the server block, as at the stream level: it was dropped,
    so diff called a config with it equivalent to one without."""
    plain = "upstream u {\n    server a:1;\n}\nserver {\n    listen 1;\n    proxy_pass u;\n}\n"
    with_it = plain.replace("proxy_pass u;", f"proxy_pass u;\n    {line}")
    (frontend,) = ngx(f"stream {{\n{with_it}}}\n").frontends.values()
    assert line.rstrip(";") in frontend.extras
    assert differences(ngx(f"stream {{\n{plain}}}\n"), ngx(f"stream {{\n{with_it}}}\n"))


def test_nginx_stream_level_settings_are_inherited_by_server_blocks() -> None:
    config = effective_file(str(FIXTURES / "nginx" / "with-include" / "nginx.conf"))
    (frontend,) = config.frontends.values()
    assert frontend.name == "0.0.0.0:6443,[::]:6443"
    assert frontend.timeouts == Timeouts(connect=2 * S, idle=3_600 * S)
    assert frontend.origins["timeouts.connect"].line == 7
    backend = config.backends["control_plane"]
    assert backend.balance == "random"
    assert backend.servers["10.0.0.11:6443"].max_fails == 2


def test_kubespray_style_nginx() -> None:
    config = effective_file(str(FIXTURES / "nginx" / "kubespray-stream.conf"))
    assert config.backends["kube_apiserver"].balance == "leastconn"
    frontend = config.frontends["127.0.0.1:6443"]
    assert frontend.timeouts == Timeouts(connect=1 * S, idle=600 * S)


def test_nginx_plus_health_check_applies_to_the_proxied_upstream() -> None:
    config = ngx(
        "stream {\n"
        "    upstream u {\n        zone u 64k;\n        server a:1;\n    }\n"
        "    match m {\n"
        '        send "GET /readyz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n";\n'
        '        expect ~ "^HTTP/1\\.[01] (200|204) ";\n'
        "    }\n"
        "    server {\n        listen 1;\n        proxy_pass u;\n"
        "        health_check interval=3s fails=2 passes=4 match=m;\n"
        "        health_check_timeout 2s;\n    }\n}\n"
    )
    backend = config.backends["u"]
    assert backend.health == Health(
        check="http", method="GET", path="/readyz", version="HTTP/1.0", expect=(200, 204)
    )
    server = backend.servers["a:1"]
    assert (server.check, server.inter, server.fall, server.rise) == (True, 3 * S, 2, 4)
    assert backend.timeouts.check == 2 * S


def test_the_http_context_is_not_the_stream_context() -> None:
    config = ngx("events {}\nhttp {\n    upstream web {\n        server a:1;\n    }\n}\n")
    assert config.backends == {}


# --- equivalence and differences ---------------------------------------------------------------


@pytest.mark.parametrize(
    "engine_pair", [("haproxy-a.cfg", "haproxy-b.cfg"), ("nginx-a.conf", "nginx-b.conf")]
)
def test_two_layouts_of_one_config_are_equal(engine_pair: tuple[str, str]) -> None:
    a, b = (effective_file(str(FIXTURES / "equivalent" / name)) for name in engine_pair)
    assert differences(a, b) == []
    assert a == b


def test_a_changed_weight_is_one_difference_pointing_at_its_line() -> None:
    path = FIXTURES / "equivalent" / "haproxy-b.cfg"
    text = path.read_text()
    old = effective_text(text, "haproxy-b.cfg")
    new = effective_text(
        text.replace(
            "k8s-master2 192.168.2.2:6443 weight 100", "k8s-master2 192.168.2.2:6443 weight 50"
        ),
        "haproxy-b.cfg",
    )
    (diff,) = differences(old, new)
    assert diff.path == ("backends", "control-plane", "servers", "k8s-master2", "weight")
    assert (diff.old, diff.new) == (100, 50)
    assert diff.origin is not None and diff.origin.line == 31


def test_added_and_removed_servers_are_whole_entities() -> None:
    old = hap(BASE + "backend b\n    server s1 1.1.1.1:1\n    server s2 1.1.1.2:1\n")
    new = hap(BASE + "backend b\n    server s1 1.1.1.1:1\n    server s3 1.1.1.3:1\n")
    diffs = differences(old, new)
    assert [(d.path[-1], d.old is None, d.new is None) for d in diffs] == [
        ("s2", False, True),
        ("s3", True, False),
    ]
    assert diffs[0].origin == Origin("t.cfg", 8, 5)


def test_comments_layout_and_unordered_things_do_not_matter() -> None:
    a = hap(
        BASE + "backend b  # x\n    option tcpka\n    option redispatch\n    server s 1.1.1.1:1\n"
    )
    b = hap(BASE + "# y\nbackend b\n\toption redispatch\n\n\toption tcpka\n\tserver s 1.1.1.1:1\n")
    assert a == b


def test_rule_order_does_matter() -> None:
    a = hap(BASE + "frontend f\n    tcp-request content accept\n    tcp-request content reject\n")
    b = hap(BASE + "frontend f\n    tcp-request content reject\n    tcp-request content accept\n")
    assert a != b


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden_outputs_model_cleanly_and_survive_canonical_rewrite(path: Path) -> None:
    tree = parse_config_file(path)
    config = effective(tree)
    assert config.diagnostics == ()
    fields = config.header_fields()
    assert re.fullmatch(r"[0-9a-f]{64}", fields["spec-sha256"])
    rewritten = effective_text(write_config(tree), str(path), tree.engine)
    assert differences(config, rewritten) == []


def test_header_fields() -> None:
    config = hap("# Generated by lbgen\n# spec: prod\n# spec-sha256: abc\n#  a: b c\nglobal\n")
    assert config.header_fields() == {"spec": "prod", "spec-sha256": "abc", "a": "b c"}


# --- option arguments ---------------------------------------------------------------------------

_REDISPATCH = (
    "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n"
    "frontend api\n  bind :6443\n  default_backend cp\n"
    "backend cp\n  {line}\n  server m1 192.0.2.11:6443 check\n"
)


@pytest.mark.parametrize(
    ("line", "same_as", "differs_from"),
    [
        # HAProxy's manual: the interval's default is -1 (the last retry); 0 disables redispatch.
        ("option redispatch -1", "option redispatch", "no option redispatch"),
        ("option redispatch 0", "no option redispatch", "option redispatch"),
        ("option redispatch 3", "option redispatch 3", "option redispatch"),
    ],
)
def test_an_options_arguments_are_compared(line: str, same_as: str, differs_from: str) -> None:
    """``option redispatch 3`` redispatches on every third retry: it once compared equal to
    ``option redispatch`` (the last retry), its argument dropped."""

    def model(option: str) -> Config:
        return hap(_REDISPATCH.format(line=option))

    assert not differences(model(line), model(same_as))
    assert differences(model(line), model(differs_from))


def test_a_log_format_options_argument_is_compared() -> None:
    base = "defaults\n  mode http\n  log global\n  option httplog{arg}\nfrontend f\n  bind :80\n"
    logged = "global\n  log 127.0.0.1:514 local0\n"
    plain, clf = (hap(logged + base.format(arg=arg)) for arg in ("", " clf"))
    assert differences(plain, clf)
    assert "option httplog clf" in clf.frontends["f"].extras


@pytest.mark.parametrize(("method", "ordered"), [("hash $remote_addr;", True),
                                                 ("hash $remote_addr consistent;", False),
                                                 ("least_conn;", False)])  # fmt: skip
def test_nginx_server_order_is_compared_for_hash_without_consistent(
    method: str, ordered: bool
) -> None:
    """nginx's ``hash`` picks a server by its index among the servers; with ``consistent``
    (ketama) by the server's address, and the other methods do not pick by position."""

    def model(first: str, second: str) -> Config:
        return ngx(f"upstream u {{\n    {method}\n    server {first};\n    server {second};\n}}\n")

    assert bool(differences(model("a:1", "b:1"), model("b:1", "a:1"))) is ordered


_NGINX_DEFAULTED = (
    "stream {{\n    upstream u {{\n        {method}\n        server {server};\n    }}\n"
    "    server {{\n        listen {listen};\n        proxy_pass u;\n    }}\n}}\n"
)
_PLAIN = {"method": "least_conn;", "server": "[fd00::10]:6443", "listen": "[::]:6443"}


@pytest.mark.parametrize(
    ("field", "written", "same"),
    [
        # "random two" picks with least_conn unless told otherwise (the upstream module's docs)
        ("method", "random two;", None),
        # an IPv6 listener is IPv6-only unless ipv6only=off; the backlog is 511 on Linux
        ("listen", "[::]:6443 ipv6only=on", True),
        ("listen", "[::]:6443 ipv6only=off", False),
        ("listen", "[::]:6443 backlog=511", True),
        ("listen", "[::]:6443 backlog=1024", False),
        # one IPv6 address, two spellings
        ("server", "[fd00:0::10]:6443", True),
        ("server", "[fd00::11]:6443", False),
    ],
)
def test_nginx_lines_that_say_its_default_are_no_difference(
    field: str, written: str, same: bool | None
) -> None:
    """Each spelling against the plain config (``random two;`` against ``random two
    least_conn;``), as nginx's stream module docs describe the default; ``nginx -t`` accepts
    every one (in a namespace of its own: it binds the listeners)."""
    plain = dict(_PLAIN)
    if same is None:  # the method: compare with the spelled-out default
        plain["method"], same = "random two least_conn;", True
    edited = {**plain, field: written}
    config_a, config_b = _NGINX_DEFAULTED.format(**plain), _NGINX_DEFAULTED.format(**edited)
    assert (not differences(ngx(config_a), ngx(config_b))) is same
    if can_isolate() and LocalRunner().available("nginx"):
        for config in (config_a, config_b):
            checked = isolated_check(config, "nginx", strict=False)
            assert checked.ok, checked.output
