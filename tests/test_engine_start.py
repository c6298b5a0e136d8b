"""Specs that validate start in the engines: each cause an engine refuses is a diagnostic.

Every case renders a small spec, asserts the diagnostic lbgen gives (code, level, spec path) and
lets the real engine judge the very text lbgen rendered: an error must be something the engine
really refuses, and where lbgen fixes the rendering instead (zone size, match names) the engine
must accept it. nginx runs in a network namespace of its own (``nginx -t`` binds its sockets).
"""

from __future__ import annotations

import re

import pytest

import lbgen
from lbgen.diagnostics import Diagnostic, Level
from lbgen.nginx.view import ZONE_MIN_KIB
from lbgen.rendering import Rendered
from lbgen.runners.local import local_stream_module

from .engine_check import can_isolate, isolated_check

pytestmark = pytest.mark.skipif(not can_isolate(), reason="needs root, unshare and ip")

FRONTEND = 'frontends:\n  api: {bind: ["127.0.0.1:6443"], pool: cp}\n'


def render(text: str, target: str, layout: str | None = None) -> Rendered:
    """Load ``text`` as a spec and render it (the text is rendered also when there are errors)."""
    spec = lbgen.load_spec(text.encode(), filename="spec.yaml")
    # A full nginx config carries the load_module this machine's nginx needs, as a user would
    # render it; error renderings are returned (allow_errors), their errors are what is tested.
    module = local_stream_module() if target != "haproxy" and layout == "full" else None
    options = {"load_module": module} if module else {}
    return lbgen.render(spec, target, layout=layout, allow_errors=True, **options)


def found(rendered: Rendered, code: str) -> list[Diagnostic]:
    """The diagnostics of one code."""
    return [d for d in rendered.diagnostics if d.code == code]


def spec(pool: str, head: str = "", frontends: str = FRONTEND) -> str:
    """A spec with one pool ``cp`` whose body is ``pool`` (indented by the caller)."""
    return f"version: 1\n{head}{frontends}pools:\n  cp:\n{pool}"


SERVER = "    servers: {m1: 127.0.0.1:6443}\n"


# --- HAProxy ------------------------------------------------------------------------------------

HAPROXY_REFUSED = [
    ("tunnel-25d", "    timeouts: {tunnel: 25d}\n" + SERVER, "haproxy-timer-overflow",
     "pools.cp.timeouts.tunnel"),
    ("tunnel-2147483648ms", "    timeouts: {tunnel: 2147483648ms}\n" + SERVER,
     "haproxy-timer-overflow", "pools.cp.timeouts.tunnel"),
    ("check-timeout-25d", "    health: {timeout: 25d}\n" + SERVER, "haproxy-timer-overflow",
     "pools.cp.health.timeout"),
    ("slowstart-25d", "    slowstart: 25d\n" + SERVER, "haproxy-timer-overflow",
     "pools.cp.slowstart"),
    ("interval-0s", "    health: {interval: 0s}\n" + SERVER, "haproxy-zero-interval",
     "pools.cp.health.interval"),
    ("fast-interval-0ms", "    health: {fast_interval: 0ms}\n" + SERVER, "haproxy-zero-interval",
     "pools.cp.health.fast_interval"),
    ("down-interval-25d", "    health: {down_interval: 25d}\n" + SERVER,
     "haproxy-timer-overflow", "pools.cp.health.down_interval"),
    ("rise-2^31", "    health: {rise: 2147483648}\n" + SERVER, "haproxy-range",
     "pools.cp.health.rise"),
    ("fall-2^32", "    health: {fall: 4294967296}\n" + SERVER, "haproxy-range",
     "pools.cp.health.fall"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pool", "code", "path"), [c[1:] for c in HAPROXY_REFUSED], ids=[c[0] for c in HAPROXY_REFUSED]
)
def test_haproxy_refusals_are_errors(pool: str, code: str, path: str) -> None:
    rendered = render(spec(pool), "haproxy")
    errors = [d for d in found(rendered, code) if d.level is Level.ERROR]
    assert [d.path for d in errors] == [path], rendered.diagnostics
    assert errors[0].line is not None and errors[0].col is not None
    result = isolated_check(rendered.text, "haproxy", strict=False)
    assert not result.ok, rendered.text


def test_haproxy_largest_timer_and_counter_are_accepted() -> None:
    pool = (
        "    timeouts: {tunnel: 2147483647ms}\n    slowstart: 24d\n"
        "    health: {interval: 1us, rise: 2147483647, fall: 2147483647}\n" + SERVER
    )
    rendered = render(spec(pool), "haproxy")
    assert rendered.ok, rendered.diagnostics
    assert isolated_check(rendered.text, "haproxy").ok


def test_haproxy_wrapped_counters_are_errors() -> None:
    # HAProxy 2.6 accepts these and silently wraps them: still an error, the value is lost.
    head = "global: {maxconn: 4294967296}\n"
    pool = "    maxconn: 2147483648\n    retries: 2147483648\n" + SERVER
    rendered = render(spec(pool, head), "haproxy")
    paths = sorted(d.path for d in found(rendered, "haproxy-range"))
    assert paths == ["global.maxconn", "pools.cp.maxconn", "pools.cp.retries"]


def test_haproxy_range_errors_of_shared_and_own_blocks_are_each_reported_once() -> None:
    """Pools that set nothing share resolved blocks, whose ranges the view checks once; what a
    pool or a server sets itself is checked on its own."""
    text = (
        "version: 1\n"
        "defaults:\n  timeouts: {tunnel: 25d}\n  slowstart: 25d\n  health: {rise: 2147483648}\n"
        "frontends:\n"
        + "".join(f'  {p}: {{bind: ["127.0.0.1:{6443 + i}"], pool: {p}}}\n'
                  for i, p in enumerate("abc"))
        + "pools:\n"
        "  a: {servers: {m1: 127.0.0.1:7001}}\n"
        "  b:\n    servers:\n      m1: 127.0.0.1:7002\n"
        "      m2: {address: 127.0.0.1:7003, maxconn: 2147483648}\n"
        "  c: {health: {interval: 0s}, servers: {m1: 127.0.0.1:7004}}\n"
    )  # fmt: skip
    rendered = render(text, "haproxy")
    errors = sorted((d.path, d.code) for d in rendered.diagnostics if d.level is Level.ERROR)
    assert errors == [
        ("defaults.health.rise", "haproxy-range"),
        ("defaults.slowstart", "haproxy-timer-overflow"),
        ("defaults.timeouts.tunnel", "haproxy-timer-overflow"),
        ("pools.b.servers.m2.maxconn", "haproxy-range"),
        ("pools.c.health.interval", "haproxy-zero-interval"),
    ]
    assert not isolated_check(rendered.text, "haproxy", strict=False).ok


@pytest.mark.parametrize("name", ["client", "connect", "server"])
def test_haproxy_zero_timeout_is_a_missing_timeout_warning(name: str) -> None:
    where = "defaults" if name == "client" else "pools.cp"
    # HAProxy takes a missing server timeout when a tunnel timeout covers the connection.
    tunnel = ", tunnel: null" if name == "server" else ""
    timeouts = f"  timeouts: {{{name}: 0s{tunnel}}}\n"
    head = f"defaults:\n{timeouts}" if name == "client" else ""
    pool = (f"  {timeouts}" if name != "client" else "") + SERVER
    rendered = render(spec(pool, head), "haproxy")
    warnings = found(rendered, "haproxy-missing-timeout")
    assert [(d.level, d.path) for d in warnings] == [(Level.WARNING, f"{where}.timeouts.{name}")]
    assert "0" in warnings[0].message
    # HAProxy starts (0 is "no timeout"), but warns: haproxy -c -dW fails.
    assert isolated_check(rendered.text, "haproxy", strict=False).ok
    assert not isolated_check(rendered.text, "haproxy", strict=True).ok


def test_haproxy_zero_server_timeout_is_fine_with_a_tunnel_timeout() -> None:
    rendered = render(spec("    timeouts: {server: 0s, tunnel: 1h}\n" + SERVER), "haproxy")
    assert not found(rendered, "haproxy-missing-timeout")
    assert isolated_check(rendered.text, "haproxy", strict=True).ok


@pytest.mark.parametrize("section", ["stats", "health"])
def test_haproxy_frontend_named_like_a_generated_section(section: str) -> None:
    head = f"global:\n  {section}: {{bind: 127.0.0.1:18404}}\n"
    frontends = f'frontends:\n  lbgen-{section}: {{bind: ["127.0.0.1:6443"], pool: cp}}\n'
    rendered = render(spec(SERVER, head, frontends), "haproxy")
    errors = found(rendered, "haproxy-reserved-name")
    assert [(d.level, d.path, d.line, d.col) for d in errors] == [
        (Level.ERROR, f"frontends.lbgen-{section}", 5, 3)
    ]
    assert not isolated_check(rendered.text, "haproxy", strict=False).ok
    # Without the generated section the name is free, and a pool may always take it.
    plain = render(spec(SERVER, "", frontends), "haproxy")
    assert plain.ok and isolated_check(plain.text, "haproxy").ok
    pool_named = spec(SERVER, head).replace("pool: cp", f"pool: lbgen-{section}")
    pool_named = pool_named.replace("  cp:", f"  lbgen-{section}:")
    rendered = render(pool_named, "haproxy")
    assert rendered.ok and isolated_check(rendered.text, "haproxy").ok


# --- nginx --------------------------------------------------------------------------------------


def test_nginx_all_backup_pool_is_an_error() -> None:
    pool = "    servers:\n      m1: {address: 127.0.0.1:6443, backup: true}\n"
    rendered = render(spec(pool), "nginx")
    assert [d.path for d in found(rendered, "nginx-all-backup")] == ["pools.cp.servers"]
    assert not isolated_check(rendered.text, "nginx").ok
    # One primary server is enough; HAProxy takes an all-backup pool.
    pool += "      m2: 127.0.0.2:6443\n"
    rendered = render(spec(pool), "nginx")
    assert not found(rendered, "nginx-all-backup")
    assert isolated_check(rendered.text, "nginx", strict=False).ok
    assert render(spec(pool), "haproxy").ok


def test_nginx_upstream_names_differing_in_case_are_an_error() -> None:
    frontends = (
        'frontends:\n  api: {bind: ["127.0.0.1:6443"], pool: cp}\n'
        '  api2: {bind: ["127.0.0.1:7443"], pool: CP}\n'
    )
    text = spec(SERVER, "", frontends) + "  CP:\n" + SERVER
    rendered = render(text, "nginx")
    errors = found(rendered, "nginx-upstream-name")
    assert [(d.level, d.path, d.line, d.col) for d in errors] == [(Level.ERROR, "pools.CP", 8, 3)]
    assert not isolated_check(rendered.text, "nginx", strict=False).ok
    assert render(text, "haproxy").ok


@pytest.mark.parametrize("layout", ["full", "stream", "upstreams"])
def test_nginx_zone_is_sized_from_the_servers(layout: str) -> None:
    servers = "".join(
        f"      m{i}: '[fd00::{i:x}]:6443'\n"
        if i % 2
        else f"      m{i}: 10.0.{i // 256}.{i % 256}:6443\n"
        for i in range(400)
    )
    rendered = render(spec("    servers:\n" + servers), "nginx", layout)
    zone = re.search(r"zone cp (\d+)k;", rendered.text)
    assert zone and int(zone.group(1)) == 32 + 2 * 400
    result = isolated_check(rendered.text, "nginx", strict=False)
    assert result.ok, result.output
    # The old fixed 64k is too small for these 400 servers: the sizing is what makes it start.
    small = rendered.text.replace(zone.group(0), "zone cp 64k;")
    assert not isolated_check(small, "nginx", strict=False).ok
    few = render(spec(SERVER), "nginx", layout)
    assert f"zone cp {ZONE_MIN_KIB}k;" in few.text


def test_nginx_dns_servers_get_a_bigger_zone_share() -> None:
    servers = "".join(f"      m{i}: cp{i}.example.internal:6443\n" for i in range(100))
    rendered = render(spec("    servers:\n" + servers), "nginx")
    assert "zone cp 832k;" in rendered.text  # 32 + 8 * 100
    assert isolated_check(rendered.text, "nginx", strict=False).ok


def test_nginx_worker_connections_must_exceed_the_listeners() -> None:
    head = "global:\n  maxconn: 3\n  health: {bind: 127.0.0.1:18080}\n"
    frontends = 'frontends:\n  api: {bind: ["127.0.0.1:6443", "[::1]:6443"], pool: cp}\n'
    rendered = render(spec(SERVER, head, frontends), "nginx", "full")
    errors = found(rendered, "nginx-worker-connections")
    assert [(d.level, d.path) for d in errors] == [(Level.ERROR, "global.maxconn")]
    assert "3 listening socket(s)" in errors[0].message
    assert not isolated_check(rendered.text, "nginx", strict=False).ok
    enough = render(
        spec(SERVER, head.replace("maxconn: 3", "maxconn: 4"), frontends), "nginx", "full"
    )
    assert not found(enough, "nginx-worker-connections")
    assert isolated_check(enough.text, "nginx", strict=False).ok
    # Only the full layout writes worker_connections.
    assert not found(
        render(spec(SERVER, head, frontends), "nginx", "stream"), "nginx-worker-connections"
    )


@pytest.mark.parametrize("where", ["frontend", "health"])
def test_nginx_ipv4_mapped_listen_is_an_error(where: str) -> None:
    mapped = "[::ffff:127.0.0.1]:18080"
    if where == "frontend":
        text = spec(SERVER, "", f'frontends:\n  api: {{bind: ["{mapped}"], pool: cp}}\n')
        path = "frontends.api.bind[0]"
    else:
        text = spec(SERVER, f"global:\n  health: {{bind: '{mapped}'}}\n")
        path = "global.health.bind"
    rendered = render(text, "nginx", "full")
    assert [d.path for d in found(rendered, "nginx-ipv4-mapped-bind")] == [path]
    assert not isolated_check(rendered.text, "nginx", strict=False).ok
    # HAProxy binds it (a dual-stack socket): no error there.
    assert not found(render(text, "haproxy"), "nginx-ipv4-mapped-bind")


def test_nginx_numbers_above_its_limit_are_errors() -> None:
    # Durations have at most 18 digits (the grammar): 10**18 s x 10 is above nginx's 2**63 - 1.
    pool = "    health: {check: tcp, interval: 999999999999999999s, fall: 10}\n" + SERVER
    rendered = render(spec(pool), "nginx")
    errors = found(rendered, "nginx-range")
    assert [d.path for d in errors] == ["pools.cp.health.interval"]
    assert "fail_timeout" in errors[0].message
    assert not isolated_check(rendered.text, "nginx", strict=False).ok
    pool = "    timeouts: {connect: 999999999999999999s}\n" + SERVER
    rendered = render(spec(pool), "nginx")
    assert [d.path for d in found(rendered, "nginx-range")] == ["pools.cp.timeouts.connect"]
    assert not isolated_check(rendered.text, "nginx", strict=False).ok
    # A frontend's client timeout becomes proxy_timeout when it is the longest idle timeout.
    frontends = (
        'frontends:\n  api: {bind: ["127.0.0.1:6443"], pool: cp,'
        " timeouts: {client: 999999999999999999s}}\n"
    )
    rendered = render(spec(SERVER, "", frontends), "nginx")
    assert [d.path for d in found(rendered, "nginx-range")] == ["frontends.api.timeouts.client"]
    assert not isolated_check(rendered.text, "nginx", strict=False).ok
    # Times nginx does not write (queue) are no error of nginx.
    rendered = render(spec("    timeouts: {queue: 999999999999999999s}\n" + SERVER), "nginx")
    assert not found(rendered, "nginx-range")
    # The largest duration the grammar allows in ms is below nginx's limit and accepted.
    rendered = render(spec("    timeouts: {connect: 999999999999999999ms}\n" + SERVER), "nginx")
    assert not found(rendered, "nginx-range")
    assert isolated_check(rendered.text, "nginx", strict=False).ok


# --- NGINX Plus ---------------------------------------------------------------------------------


def test_nginx_plus_match_names_are_unique() -> None:
    frontends = "frontends:\n" + "".join(
        f'  f{i}: {{bind: ["127.0.0.1:{6443 + i}"], pool: {name}}}\n'
        for i, name in enumerate(["a-b", "a_b", "a.b", "a_b_2"])
    )
    pools = "".join(
        f"  {name}:\n    health: {{check: http}}\n" + SERVER
        for name in ["a-b", "a_b", "a.b", "a_b_2"]
    )
    rendered = render(f"version: 1\n{frontends}pools:\n{pools}", "nginx-plus")
    blocks = re.findall(r"^\s*match (\S+) \{", rendered.text, re.M)
    used = re.findall(r"match=(\S+);", rendered.text)
    assert len(set(blocks)) == 4 and sorted(blocks) == sorted(used), rendered.text
    assert blocks == ["lbgen_a_b", "lbgen_a_b_2", "lbgen_a_b_3", "lbgen_a_b_2_2"]


# --- listeners named by DNS ---------------------------------------------------------------------


def test_localhost_bind_is_both_loopback_addresses_in_the_clash_check() -> None:
    text = spec(SERVER, "", 'frontends:\n  api: {bind: ["localhost:6443"], pool: cp}\n')
    rendered = render(text, "nginx")
    assert not [d for d in rendered.diagnostics if d.code.startswith("bind-")]
    # nginx listens on both addresses of localhost, which is why 127.0.0.1 or ::1 would clash.
    assert isolated_check(rendered.text, "nginx", strict=False).ok
    clash = text.replace("pool: cp}\n", 'pool: cp}\n  api2: {bind: ["127.0.0.1:6443"], pool: cp}\n')
    with pytest.raises(lbgen.diagnostics.SpecError) as caught:
        lbgen.load_spec(clash.encode(), filename="spec.yaml")
    assert [d.code for d in caught.value.diagnostics] == ["bind-duplicate"]


def test_other_host_names_in_binds_are_a_warning() -> None:
    text = spec(SERVER, "", 'frontends:\n  api: {bind: ["lb.example.internal:6443"], pool: cp}\n')
    loaded = lbgen.load_spec(text.encode(), filename="spec.yaml")
    rendered = lbgen.render(loaded, "haproxy")
    warnings = found(rendered, "bind-host-name")
    assert [(d.level, d.path, d.line, d.col) for d in warnings] == [
        (Level.WARNING, "frontends.api.bind[0]", 3, 16)
    ]
    assert "lb.example.internal" in warnings[0].message


def test_localhost_listener_counts_two_sockets_for_worker_connections() -> None:
    frontends = 'frontends:\n  api: {bind: ["localhost:6443"], pool: cp}\n'
    rendered = render(spec(SERVER, "global: {maxconn: 2}\n", frontends), "nginx", "full")
    assert [d.path for d in found(rendered, "nginx-worker-connections")] == ["global.maxconn"]
    assert not isolated_check(rendered.text, "nginx", strict=False).ok
    rendered = render(spec(SERVER, "global: {maxconn: 3}\n", frontends), "nginx", "full")
    assert not found(rendered, "nginx-worker-connections")
    assert isolated_check(rendered.text, "nginx", strict=False).ok
