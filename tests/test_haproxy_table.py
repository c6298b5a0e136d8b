"""HAProxy's directive table: both directions agree, the real haproxy knows every row, and
every field HAProxy cannot express yields its warning."""

from __future__ import annotations

import os
import re
import shutil
import string
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lbgen
from lbgen.directives import Directive, Refused, table
from lbgen.engine import get_engine
from lbgen.haproxy import table as haproxy_table
from lbgen.haproxy.effective import read_effective
from lbgen.haproxy.syntax import parse_haproxy
from lbgen.haproxy.table import TABLE, Count, Duration, Expect, LogLine, LogTarget, Word
from lbgen.haproxy.view import field_values, warn_unsupported
from lbgen.importer import KEPT, import_config
from lbgen.resolve import ResolvedLog, resolve_spec
from lbgen.spec.grammar import LOG_TARGET
from lbgen.view import Findings

HAPROXY = shutil.which("haproxy")
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")

#: Server keywords of HAProxy releases after 2.6 (the version installed here): a 2.6 binary
#: calls them unknown; every other row must be known to it.
NEWER_THAN_2_6 = frozenset(
    {"client-sigalgs", "curves", "guid", "hash-key", "pool-conn-name", "set-proxy-v2-tlv-fmt"}
    | {"shard", "sigalgs"}
)

# --- codecs: parse(render(v)) == v -------------------------------------------------------------

_WORD = st.text(string.ascii_letters + string.digits + string.punctuation, min_size=1)
_HOST = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip.compressed}]"),
)
_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    # Up to HAProxy's largest timer (the codec refuses a longer one, as HAProxy does).
    Duration: st.integers(min_value=0, max_value=haproxy_table.INT_MAX * 1000),
    Count: st.integers(min_value=0, max_value=2**31 - 1),
    Word: _WORD,
    Expect: st.lists(st.integers(100, 599), min_size=1, max_size=6, unique=True).map(
        lambda codes: tuple(sorted(codes))
    ),
    LogTarget: st.one_of(
        st.sampled_from(["stdout", "syslog"]),
        # Values the spec accepts: the codec's domain is the spec's log grammar.
        st.builds(lambda h, p: f"udp://{h}:{p}", _HOST, st.integers(1, 65535)).filter(
            LOG_TARGET.matches
        ),
    ),
}
_LEVEL = st.sampled_from(["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"])
_STRATEGIES[LogLine] = st.builds(
    lambda target, facility, levels, fmt: ResolvedLog(target, facility, *levels, fmt),
    _STRATEGIES[LogTarget],
    st.sampled_from(["local0", "local7", "daemon", "kern"]),
    st.one_of(st.just((None, None)), st.tuples(_LEVEL, st.none()), st.tuples(_LEVEL, _LEVEL)),
    st.sampled_from([None, "raw", "rfc5424", "short"]),
)
CODEC_ROWS = [row for row in TABLE if row.codec is not None]


def _label(row: Directive) -> str:
    return f"{row.name}@{row.contexts[0]}"


def test_every_codec_has_a_value_strategy() -> None:
    """A new codec type must come with generated values, or the property below skips it."""
    missing = {type(row.codec).__name__ for row in CODEC_ROWS} - {t.__name__ for t in _STRATEGIES}
    assert not missing


@pytest.mark.parametrize("row", CODEC_ROWS, ids=_label)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_parse_inverts_render(row: Directive, data: st.DataObject) -> None:
    assert row.codec is not None
    value = data.draw(_values(row.codec))
    text = row.codec.render(value)
    assert row.codec.parse(text) == value, text


def _values(codec: Any) -> st.SearchStrategy[Any]:
    """Values in the codec's domain: its type's strategy, within the bounds it sets."""
    if isinstance(codec, Duration) and codec.positive:
        return st.integers(min_value=1, max_value=haproxy_table.INT_MAX * 1000)
    if isinstance(codec, Count):
        low = 0 if codec.minimum is None else codec.minimum
        high = 2**31 - 1 if codec.maximum is None else codec.maximum
        return st.integers(min_value=low, max_value=high)
    return _STRATEGIES[type(codec)]


@pytest.mark.parametrize(
    ("codec", "text"),
    [
        (haproxy_table.INTERVAL, "0"), (haproxy_table.INTERVAL, "0s"),
        (haproxy_table.CHECK_COUNT, "0"), (haproxy_table.WEIGHT_VALUE, "257"),
    ],
)  # fmt: skip
def test_a_bounded_codec_refuses_what_haproxy_refuses(codec: Any, text: str) -> None:
    """The edges themselves are held to ``haproxy -c`` in tests/test_haproxy_semantics.py."""
    with pytest.raises(Refused):
        codec.parse(text)


@pytest.mark.parametrize(
    ("row", "text", "value"),
    [
        (haproxy_table.INTER, "10", 10_000),  # bare numbers are milliseconds
        (haproxy_table.INTER, "10000us", 10_000),
        (haproxy_table.INTER, "1m", 60_000_000),
        (haproxy_table.HTTP_EXPECT, "status 204,200", (200, 204)),
        (haproxy_table.HTTP_EXPECT, "rstatus ^(204|200)$", (200, 204)),
        (
            haproxy_table.GLOBAL_LOG,
            "udp@10.0.0.1 local0",
            ResolvedLog("udp://10.0.0.1:514", "local0"),
        ),
        (
            haproxy_table.GLOBAL_LOG,
            "/dev/log format rfc5424 local1 notice alert",
            ResolvedLog("syslog", "local1", "notice", "alert", "rfc5424"),
        ),
    ],
)
def test_parse_reads_other_spellings(row: Directive, text: str, value: Any) -> None:
    assert row.codec is not None
    assert row.codec.parse(text) == value


@pytest.mark.parametrize(
    ("row", "text"),
    [
        (haproxy_table.INTER, "10 s"),
        (haproxy_table.WEIGHT, "ten"),
        (haproxy_table.HTTP_EXPECT, "string ok"),
        (haproxy_table.GLOBAL_LOG, "ring@buffer"),
        (haproxy_table.GLOBAL_LOG, "/dev/log len 1024 local0"),
        (haproxy_table.GLOBAL_LOG, "/dev/log local0 loud"),
    ],
)
def test_parse_refuses_what_is_no_value_of_the_row(row: Directive, text: str) -> None:
    assert row.codec is not None
    with pytest.raises(ValueError):
        row.codec.parse(text)


# --- table invariants --------------------------------------------------------------------------


def test_no_two_rows_share_a_name_in_one_context() -> None:
    pairs = Counter((row.name, context) for row in TABLE for context in row.contexts)
    assert [pair for pair, count in pairs.items() if count > 1] == []
    with pytest.raises(ValueError, match="two rows"):
        table("haproxy", [haproxy_table.WEIGHT, haproxy_table.WEIGHT])


def test_the_engine_serves_the_table() -> None:
    engine = get_engine("haproxy")
    assert engine.table is TABLE
    assert engine.diff_names["check_port"] == "check port"  # not the address's port
    assert engine.diff_names["timeouts.client_fin"] == "timeout client-fin"
    assert engine.diff_names["redispatch"] == "option redispatch"
    assert haproxy_table.SERVER_DEFAULTS == {
        "weight": 1, "inter": 2_000_000, "rise": 2, "fall": 3, "maxconn": 0, "maxqueue": 0,
        "slowstart": 0,
    }  # fmt: skip


def _pem(folder: Path) -> Path:
    """A self-signed certificate and its key in one PEM file (``crt`` and ``ca-file``)."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
         "/CN=api.example", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    both = folder / "both.pem"
    both.write_text(cert.read_text() + key.read_text())
    return both


#: Values for the rows whose value is not a plain duration, count or word of the table's own.
def _samples(pem: Path) -> dict[str, str]:
    return {
        "check-sni": "api.example", "crt": str(pem), "ca-file": str(pem), "verify": "none",
        "init-addr": "last,libc,none", "sni": "str(api.example)", "addr": "127.0.0.1",
        "port": "8443", "resolvers": "dns", "mode": "tcp", "balance": "roundrobin",
        "default_backend": "be", "log": "stdout format raw local0",
        "http-check expect string": "ok",
    }  # fmt: skip


def _value(row: Directive, samples: dict[str, str], port: int) -> str:
    if row.name == "bind":
        return f"127.0.0.1:{port}"
    if row.name in samples:
        return samples[row.name]
    codec = row.codec
    if isinstance(codec, Duration):
        return codec.render(5_000_000)
    if isinstance(codec, Count):
        return codec.render(3)
    if isinstance(codec, Expect):
        return codec.render((200, 204))
    raise AssertionError(f"no sample value for {row.name}")


def _modelled(row: Directive) -> bool:
    return row.field is not None or row.effective is not None


def every_row_config(pem: Path) -> str:
    """One haproxy.cfg with every modelled row in every context it claims, in table order
    (``option tcp-check`` before ``option httpchk``: the last check option of a section wins,
    so the HTTP check runs and its ``http-check expect`` is read)."""
    samples = _samples(pem)
    sections: dict[str, list[str]] = {
        "global": ["ssl-server-verify none"],
        "defaults": [],
        "frontend fe": [],
        "backend be": [],
        "listen both": [],
    }
    servers: list[str] = []
    port = 17000
    for row in TABLE:
        if not _modelled(row):
            continue
        port += 1
        words = row.name if row.codec is None else f"{row.name} {_value(row, samples, port)}"
        for context in row.contexts:
            if context == "server":
                servers.append(f"server s{port} 127.0.0.1:{port} {words}")
            elif context == "default-server":
                servers.append(f"default-server {words}")
                servers.append(f"server d{port} 127.0.0.1:{port}")
            else:
                section = next(s for s in sections if s.split()[0] == context)
                sections[section].append(words)
    sections["backend be"] += servers
    sections["listen both"] += ["server l1 127.0.0.1:6443"]
    lines = ["resolvers dns", "    nameserver ns1 127.0.0.1:53"]
    for head, body in sections.items():
        lines += [head, *(f"    {line}" for line in body)]
    return "\n".join(lines) + "\n"


def _haproxy_check(text: str, folder: Path) -> subprocess.CompletedProcess[str]:
    path = folder / "haproxy.cfg"
    path.write_text(text)
    assert HAPROXY is not None
    return subprocess.run(
        [HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=60
    )


@needs_haproxy
def test_haproxy_accepts_every_modelled_row_in_its_contexts(tmp_path: Path) -> None:
    text = every_row_config(_pem(tmp_path))
    result = _haproxy_check(text, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ALERT" not in result.stdout + result.stderr


@needs_haproxy
def test_haproxy_knows_every_server_keyword_of_the_table(tmp_path: Path) -> None:
    """Engine-only rows too (their values here are nonsense: only the keyword is judged)."""
    lines = ["backend be"]
    for i, row in enumerate(r for r in TABLE if "server" in r.contexts):
        words = row.name if row.codec is None else f"{row.name} 1"
        lines += [f"    default-server {words}", f"    server s{i} 127.0.0.1:{1000 + i} {words}"]
    result = _haproxy_check("\n".join(lines) + "\n", tmp_path)
    unknown = set(re.findall(r"unknown keyword '([^']+)'", result.stdout + result.stderr))
    assert unknown <= NEWER_THAN_2_6
    assert {row.name for row in TABLE} >= NEWER_THAN_2_6
    # The check can fail: a keyword HAProxy does not have is reported as such.
    bogus = _haproxy_check("backend be\n    server s1 127.0.0.1:1 frobnicate 1\n", tmp_path)
    assert re.findall(r"unknown keyword '([^']+)'", bogus.stdout + bogus.stderr) == ["frobnicate"]


def test_every_attribute_the_reader_fills_has_a_row(tmp_path: Path) -> None:
    config = read_effective(parse_haproxy(every_row_config(_pem(tmp_path)), "every.cfg"))
    effective = {row.effective for row in TABLE if row.effective is not None}
    filled: set[str] = set()
    for backend in config.backends.values():
        filled |= set(backend.origins)
        if backend.health.expect is not None:  # read from http-check expect, no origin kept
            filled.add("health.expect")
        if backend.health.expect_body is not None:  # likewise (http-check expect string)
            filled.add("health.expect_body")
        for server in backend.servers.values():
            filled |= set(server.origins)
    for frontend in config.frontends.values():
        filled |= set(frontend.origins)
    filled = {k for k in filled if not k.startswith(("extras:", "option "))}
    assert filled - effective == set()
    # and the config sets every one of them, so the comparison is not vacuous
    assert effective - filled == set()


# --- what HAProxy cannot express -------------------------------------------------------------

EVERY_FIELD = """\
version: 1
name: every-field
global: {maxconn: 2000, log: stdout}
frontends:
  api:
    bind: ["127.0.0.1:16443"]
    pool: cp
    mode: tcp
    timeouts: {client: 1h, client_fin: 2s}
pools:
  cp:
    balance: leastconn
    retries: 2
    redispatch: true
    slowstart: 30s
    maxconn: 100
    maxqueue: 10
    weight: 50
    timeouts: {connect: 5s, server: 1h, tunnel: 1h, server_fin: 1s, queue: 5s}
    health:
      check: https
      path: /readyz
      expect: [200, 204]
      expect_body: ok
      interval: 2s
      fast_interval: 1s
      down_interval: 5s
      rise: 2
      fall: 3
      timeout: 2s
      sni: api.example
      port: 6444
      client_cert: /etc/lbgen/client.pem
    servers:
      m1: {address: 127.0.0.1:6443, weight: 10, backup: true}
      m2: {address: 127.0.0.2:6443, disabled: true, slowstart: 10s, maxconn: 5, maxqueue: 2}
"""


def _resolved(text: str) -> Any:
    return resolve_spec(lbgen.load_spec(text.encode(), filename="every.yaml"))


def test_the_view_sees_every_field_the_table_names() -> None:
    seen = {name for name, value, _ in field_values(_resolved(EVERY_FIELD)) if value is not None}
    assert TABLE.fields() - seen == set()


def test_every_unsupported_row_is_the_warning_it_gives() -> None:
    """HAProxy's own unsupported rows (none today) warn through the real rendering; the
    mechanism is checked with a made-up row, set and unset."""
    rendered = lbgen.render(lbgen.load_spec(EVERY_FIELD.encode(), filename="every.yaml"), "haproxy")
    codes = {d.code for d in rendered.diagnostics}
    for row in TABLE.unsupported():
        assert row.code in codes, row
    made_up = Directive(
        "sni", ("backend",), field="health.sni", unsupported="HAProxy would not say this",
        code="haproxy-test-no-sni",
    )  # fmt: skip
    resolved = _resolved(EVERY_FIELD)
    findings = Findings(resolved)
    warn_unsupported(resolved, findings, (made_up,))
    hits = [d for d in findings.sorted() if d.code == made_up.code]
    assert [d.message for d in hits] == [made_up.unsupported]
    assert hits[0].line == EVERY_FIELD.splitlines().index("      sni: api.example") + 1
    unset = _resolved(EVERY_FIELD.replace("      sni: api.example\n", ""))
    findings = Findings(unset)
    warn_unsupported(unset, findings, (made_up,))
    assert findings.sorted() == []


# --- the reader and the importer read the same rows -------------------------------------------

SERVER_WORDS_CONFIG = """\
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend api
    bind :6443
    default_backend cp
backend cp
    server m1 127.0.0.1:6443 check id 7 inter 3s weight 10 agent-check
    server m2 127.0.0.2:6443 check id 8 inter 3s weight 10 agent-check
"""


def test_an_unmodelled_keyword_keeps_its_value_in_reader_and_importer() -> None:
    """``id`` takes a value (a row with a codec, no field): neither direction reads ``7`` as a
    flag, and the import keeps ``id 7`` whole as one extra item of the server."""
    config = read_effective(parse_haproxy(SERVER_WORDS_CONFIG, "w.cfg"))
    server = config.backends["cp"].servers["m1"]
    assert server.extras == ("agent-check", "id 7")
    assert (server.inter, server.weight) == (3_000_000, 10)
    result = import_config(SERVER_WORDS_CONFIG, "w.cfg")
    kept = sorted(d.message.split(":")[0] for d in result.diagnostics if d.code == KEPT)
    assert kept == ["agent-check", "agent-check", "id 7", "id 8"]
    assert "- id 7\n" in result.yaml_text


@pytest.mark.parametrize(
    "module", ["syntax", "table", "view", "effective", "importer", "lint", "__init__"]
)
def test_every_module_of_the_package_imports_first(module: str) -> None:
    """No import cycle: each module, imported first in a fresh interpreter, then ENGINE."""
    name = "lbgen.haproxy" if module == "__init__" else f"lbgen.haproxy.{module}"
    code = f"import {name}; from lbgen.engine import get_engine; get_engine('haproxy')"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
