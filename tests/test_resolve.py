"""Resolution: defaults apply field by field, server over pool over defaults over built-ins, an
explicit null means "emit nothing", percent weights become integers, durations become
microseconds, and the provenance hash follows meaning, not layout."""

from __future__ import annotations

import textwrap

import pytest

import lbgen
from lbgen.resolve import Resolved, ResolvedPool, resolve_spec, spec_digest
from lbgen.spec.layers import BUILTIN_DEFAULTS, BUILTIN_DEFAULTS_DATA
from lbgen.spec.models import Defaults, Spec

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE


def load(text: str) -> Spec:
    """A spec from YAML text (dedented)."""
    return lbgen.load_spec(textwrap.dedent(text).encode("utf-8"), filename="spec.yaml")


def resolve(text: str) -> Resolved:
    """A resolved spec from YAML text."""
    return resolve_spec(load(text))


def pool(resolved: Resolved, name: str = "cp") -> ResolvedPool:
    """One pool of a resolved spec."""
    return resolved.pool(name)


FULL_DEFAULTS = """
    version: 1
    defaults:
      balance: leastconn
      health:
        check: http
        path: /readyz
        expect: [200, 401]
        interval: 7s
        fast_interval: 700ms
        down_interval: 70s
        rise: 4
        fall: 6
        timeout: 2s
        client_cert: certs/check.pem
        sni: api.example.internal
      slowstart: 30s
      maxconn: 500
      maxqueue: 50
      weight: 20
      retries: 1
      redispatch: false
      timeouts: {connect: 3s, client: 2h, server: 2h, tunnel: 3h, client_fin: 1s,
                 server_fin: 2s, queue: 9s}
    frontends:
      api: {bind: [":6443"], pool: cp}
      api2: {bind: [":7443"], pool: other, timeouts: {client: 5m}}
    pools:
      cp:
        health: {path: /livez}
        servers:
          m1: 10.0.0.1:6443
      other:
        balance: source
        maxconn: 100
        weight: 30
        health: {check: tcp, rise: 1}
        timeouts: {connect: 500ms}
        servers:
          inherits: 10.0.0.2:6443
          own: {address: 10.0.0.3:6443, weight: 40, maxconn: 0, slowstart: 1m, maxqueue: 0}
"""


def test_a_pool_that_sets_only_health_path_keeps_every_other_health_field() -> None:
    health = pool(resolve(FULL_DEFAULTS)).health
    assert health.path == "/livez"
    assert health.check == "http"
    assert health.expect == (200, 401)
    assert (health.interval, health.fast_interval, health.down_interval) == (
        7 * SECOND, 700_000, 70 * SECOND,
    )  # fmt: skip
    assert (health.rise, health.fall, health.timeout) == (4, 6, 2 * SECOND)
    assert (health.client_cert, health.sni) == ("certs/check.pem", "api.example.internal")
    assert health.sources["path"] == ("pools", "cp", "health", "path")
    assert health.sources["rise"] == ("defaults", "health", "rise")


def test_pool_fields_override_defaults_one_by_one() -> None:
    other = pool(resolve(FULL_DEFAULTS), "other")
    assert other.balance == "source"
    assert (other.health.check, other.health.rise, other.health.fall) == ("tcp", 1, 6)
    assert other.health.path == "/readyz"  # inherited, even if a tcp check does not use it
    assert (other.retries, other.redispatch) == (1, False)
    assert other.timeouts["connect"] == 500_000
    assert other.timeouts["queue"] == 9 * SECOND
    assert other.server_defaults == {
        "weight": 30, "slowstart": 30 * SECOND, "maxconn": 100, "maxqueue": 50,
    }  # fmt: skip


def test_server_over_pool_over_defaults() -> None:
    inherits, own = pool(resolve(FULL_DEFAULTS), "other").servers
    assert (inherits.weight, inherits.maxconn, inherits.slowstart, inherits.maxqueue) == (
        30, 100, 30 * SECOND, 50,
    )  # fmt: skip
    assert inherits.sources["weight"] == ("pools", "other", "weight")
    assert inherits.sources["slowstart"] == ("defaults", "slowstart")
    assert (own.weight, own.maxconn, own.slowstart, own.maxqueue) == (40, 0, MINUTE, 0)
    assert own.sources["maxconn"] == ("pools", "other", "servers", "own", "maxconn")


def test_frontend_timeouts_override_defaults() -> None:
    resolved = resolve(FULL_DEFAULTS)
    api, api2 = resolved.frontends
    assert api.timeouts == {"client": 2 * HOUR, "client_fin": SECOND}
    assert api2.timeouts == {"client": 5 * MINUTE, "client_fin": SECOND}


MINIMAL = """
    version: 1
    frontends:
      api: {bind: [":6443"], pool: cp}
    pools:
      cp:
        servers:
          m1: 10.0.0.1:6443
"""


def test_built_in_defaults_are_what_validating_them_gives() -> None:
    """The built-in defaults are constructed without a validator (start-up): validating the
    same data must give an equal value with the same fields set, block by block."""
    validated = Defaults.model_validate(BUILTIN_DEFAULTS_DATA)
    assert validated == BUILTIN_DEFAULTS
    assert BUILTIN_DEFAULTS.model_dump(exclude_unset=True) == BUILTIN_DEFAULTS_DATA
    assert validated.model_dump(exclude_unset=True) == BUILTIN_DEFAULTS_DATA
    for block in ("health", "timeouts"):
        built, checked = getattr(BUILTIN_DEFAULTS, block), getattr(validated, block)
        assert built.model_fields_set == checked.model_fields_set
        assert built.model_fields_set == set(BUILTIN_DEFAULTS_DATA[block])
    assert BUILTIN_DEFAULTS.health.expect is not BUILTIN_DEFAULTS_DATA["health"]["expect"]


def test_built_in_defaults_when_nothing_is_set() -> None:
    resolved = resolve(MINIMAL)
    cp = pool(resolved)
    assert cp.balance == BUILTIN_DEFAULTS.balance == "roundrobin"
    health = cp.health
    assert health.check == "https"
    assert health.path == "/readyz"
    assert health.expect == (200,)
    assert (health.interval, health.fast_interval, health.down_interval) == (
        2 * SECOND, SECOND, 2 * SECOND,
    )  # fmt: skip
    assert (health.rise, health.fall, health.timeout) == (2, 3, 3 * SECOND)
    assert (health.client_cert, health.sni) == (None, None)
    assert (cp.retries, cp.redispatch) == (3, True)
    assert cp.timeouts == {
        "connect": 5 * SECOND, "server": HOUR, "tunnel": HOUR, "server_fin": 10 * SECOND,
        "queue": None,
    }  # fmt: skip
    assert resolved.frontends[0].timeouts == {"client": HOUR, "client_fin": 10 * SECOND}
    (server,) = cp.servers
    # weight 100 is built in; slowstart, maxconn and maxqueue are off unless set
    assert (server.weight, server.slowstart, server.maxconn, server.maxqueue) == (
        100, None, None, None,
    )  # fmt: skip
    assert (server.backup, server.disabled) == (False, False)
    assert server.sources == {}  # nothing came from the file
    assert cp.health.sources == {}
    g = resolved.global_
    assert (g.maxconn, g.log, g.stats_bind, g.health_bind) == (None, "stdout", None, None)


NULLS = """
    version: 1
    global: {log: null}
    defaults:
      weight: 50
      retries: 2
      health: {rise: 5, expect: [204]}
      timeouts: {client: 30m, connect: 1s}
    frontends:
      api: {bind: [":6443"], pool: cp, timeouts: {client: null}}
    pools:
      cp:
        weight: null
        retries: null
        balance: null
        health: {rise: null, expect: null, check: null}
        timeouts: {connect: null}
        servers:
          m1: 10.0.0.1:6443
          m2: {address: 10.0.0.2:6443, weight: 7}
"""


def test_explicit_null_means_emit_nothing_and_beats_inheritance() -> None:
    resolved = resolve(NULLS)
    cp = pool(resolved)
    assert (cp.retries, cp.balance) == (None, None)
    assert (cp.health.rise, cp.health.expect, cp.health.check) == (None, None, None)
    assert cp.health.fall == 3  # untouched fields still inherit the built-in
    assert cp.timeouts["connect"] is None
    assert cp.timeouts["server"] == HOUR
    m1, m2 = cp.servers
    assert m1.weight is None  # pool null beats defaults' 50 and the built-in 100
    assert m1.sources["weight"] == ("pools", "cp", "weight")
    assert m2.weight == 7  # a server value still beats the pool's null
    assert resolved.frontends[0].timeouts["client"] is None
    assert resolved.global_.log is None


def test_explicit_null_leaves_the_line_out_of_the_output() -> None:
    text = lbgen.render(load(NULLS), "haproxy").text
    backend = text.split("backend cp", 1)[1]
    assert "balance" not in backend
    assert "retries" not in backend
    assert "timeout connect" not in backend
    assert "http-check expect" not in backend
    assert "option httpchk" not in backend  # check: null -> no check at all
    assert "weight 7" in backend
    assert "weight 50" not in backend
    assert "timeout client 30m" not in text.split("backend cp", 1)[0]
    assert "\n    log " not in text


def test_percent_weights_become_integer_weights() -> None:
    resolved = resolve(
        """
        version: 1
        frontends:
          api: {bind: [":6443"], pool: cp}
        pools:
          cp:
            servers:
              a: {address: 10.0.0.1:6443, weight: "50%"}
              b: {address: 10.0.0.2:6443, weight: "25%"}
              c: {address: 10.0.0.3:6443, weight: "25%"}
              d: {address: 10.0.0.4:6443, weight: "0%"}
              spare: {address: 10.0.0.9:6443, weight: "10%", backup: true}
        """
    )
    weights = {s.name: s.weight for s in pool(resolved).servers}
    assert weights == {"a": 50, "b": 25, "c": 25, "d": 0, "spare": 10}
    assert all(isinstance(w, int) for w in weights.values())


@pytest.mark.parametrize(
    ("text", "microseconds"),
    [
        ("250us", 250), ("500ms", 500_000), ("10s", 10 * SECOND), ("90m", 90 * MINUTE),
        ("1h", HOUR), ("2d", 48 * HOUR), ("0s", 0),
    ],
)  # fmt: skip
def test_durations_are_normalised_to_microseconds(text: str, microseconds: int) -> None:
    resolved = resolve(
        f"""
        version: 1
        defaults:
          slowstart: {text}
          health: {{interval: {text}, timeout: {text}}}
          timeouts: {{queue: {text}, client_fin: {text}}}
        frontends:
          api: {{bind: [":6443"], pool: cp}}
        pools:
          cp:
            servers:
              m1: 10.0.0.1:6443
        """
    )
    cp = pool(resolved)
    assert cp.health.interval == cp.health.timeout == microseconds
    assert cp.timeouts["queue"] == microseconds
    assert cp.servers[0].slowstart == microseconds
    assert resolved.frontends[0].timeouts["client_fin"] == microseconds


BLOCK_STYLE = """\
version: 1
name: hashed
# a comment that must not change the hash
frontends:
  api:
    bind:
      - ":6443"
    pool: cp
pools:
  cp:
    weight: 10   # trailing comment
    servers:
      m1: 10.0.0.1:6443
      m2: {address: 10.0.0.2:6443, backup: true}
"""
SAME_MEANING = [
    # flow style, quoting, comments, blank lines, indentation
    """version: 1
name: 'hashed'

frontends: {api: {bind: [':6443'], pool: "cp"}}
pools:
    cp:
        weight: 10
        servers:
            m1: "10.0.0.1:6443"
            m2:
                address: '10.0.0.2:6443'
                backup: true
""",
    # JSON is YAML too
    '{"version": 1, "name": "hashed", "frontends": {"api": {"bind": [":6443"], "pool": "cp"}},'
    ' "pools": {"cp": {"weight": 10, "servers": {"m1": "10.0.0.1:6443",'
    ' "m2": {"address": "10.0.0.2:6443", "backup": true}}}}}\n',
]
DIFFERENT_MEANING = [
    BLOCK_STYLE.replace("weight: 10", "weight: 11"),
    BLOCK_STYLE.replace("10.0.0.1:6443", "10.0.0.5:6443"),
    BLOCK_STYLE.replace("backup: true", "backup: false"),
    BLOCK_STYLE.replace("name: hashed", "name: hashed2"),
    # an explicit value equal to the built-in still says something different from no value
    BLOCK_STYLE.replace("    pool: cp\n", "    pool: cp\n    mode: tcp\n"),
    # order is meaning: it is the output order
    BLOCK_STYLE.replace(
        "      m1: 10.0.0.1:6443\n      m2: {address: 10.0.0.2:6443, backup: true}\n",
        "      m2: {address: 10.0.0.2:6443, backup: true}\n      m1: 10.0.0.1:6443\n",
    ),
]


def digest(text: str) -> str:
    """spec-sha256 of a YAML text."""
    return spec_digest(lbgen.load_spec(text.encode("utf-8")))


@pytest.mark.parametrize("text", SAME_MEANING, ids=["flow-and-quotes", "json"])
def test_spec_hash_ignores_comments_quoting_and_style(text: str) -> None:
    assert digest(text) == digest(BLOCK_STYLE)


@pytest.mark.parametrize("text", DIFFERENT_MEANING)
def test_spec_hash_changes_with_any_value_edit(text: str) -> None:
    assert text != BLOCK_STYLE
    assert digest(text) != digest(BLOCK_STYLE)


def test_spec_hash_is_in_the_provenance_header() -> None:
    spec = lbgen.load_spec(BLOCK_STYLE.encode("utf-8"))
    for target in ("haproxy", "nginx", "nginx-plus"):
        text = lbgen.render(spec, target).text
        assert f"# spec-sha256: {spec_digest(spec)}\n" in text
        assert "# spec: hashed\n" in text
