"""``default-server`` applies to the servers declared after it, as HAProxy reads it.

A backend's ``default-server`` line sets the parameters of the ``server`` and
``server-template`` lines after it only; a ``defaults`` section's sets those of every proxy
after that section. The effective model gives each server the state in force where it is
written (it once gave every server the section's last state: a ``default-server check`` after
the servers made them look checked, so lint said nothing, import added ``check`` and diff called
the change equivalent). A ``server-template`` is the servers it declares, with the
default-server state in force at its line. The real HAProxy's ``show stat`` (``no check`` in
the status column of an unchecked server) is the oracle.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from ruamel.yaml import YAML

import lbgen
from lbgen.compare import diff_config
from lbgen.effective import effective
from lbgen.effective.differ import differences
from lbgen.effective.model import Config
from lbgen.haproxy import table
from lbgen.haproxy.syntax import parse_haproxy
from lbgen.importer import LOSSY, NOT_IN_EFFECT, ImportResult, import_config
from lbgen.lint import lint_tree
from tests.support import free_port, listening, show_stat

HAPROXY = shutil.which("haproxy")

HEAD = """\
global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
{defaults}frontend api
    bind 127.0.0.1:{port}
    default_backend api
"""

#: The hunt's ds1.cfg: a default-server line after every server of the backend.
AFTER_THE_SERVERS = """\
backend api
    server cp1 127.0.0.1:{p1}
    server cp2 127.0.0.1:{p2}
    default-server check inter 500ms
"""
#: The hunt's t7.cfg: a server-template after a default-server line.
TEMPLATE = """\
backend api
    option httpchk GET /readyz
    http-check expect status 200
    default-server check check-ssl verify none
    server cp1 127.0.0.1:{p1}
    server-template extra 2 127.0.0.5:{p2}
"""
#: Servers, templates and default-server lines interleaved, under a defaults section's own.
MIXED = """\
backend api
    server a 127.0.0.1:{p1}
    default-server check
    server-template t 2 127.0.0.5:{p2}
    server b 127.0.0.1:{p3} no-check
    server-template u 3-4 127.0.0.6:{p2} weight 5
    default-server no-check
    server c 127.0.0.1:{p3}
    server-template v 1 127.0.0.7:{p2}
"""


def config(backend: str, defaults: str = "", port: int = 16443, **ports: int) -> str:
    given = {"p1": 16001, "p2": 16002, "p3": 16003, **ports}
    return HEAD.format(defaults=defaults, port=port) + backend.format(**given)


def hap(text: str) -> Config:
    return effective(parse_haproxy(text, "t.cfg"))


def checked(text: str) -> list[tuple[str, bool]]:
    """(server, checked) of backend api in the effective model, in declaration order."""
    return [(s.name, s.check) for s in hap(text).backends["api"].servers.values()]


# --- the model: the state in force where each server is written -------------------------------

#: A default-server parameter for each server keyword the model reads into an attribute (the
#: words it needs to take effect before it: TLS settings need ``ssl``), and unmodelled ones.
SAMPLES = {
    "inter": "inter 500ms", "fastinter": "fastinter 700ms", "downinter": "downinter 900ms",
    "rise": "rise 5", "fall": "fall 7", "port": "port 9000", "slowstart": "slowstart 30s",
    "maxconn": "maxconn 100", "maxqueue": "maxqueue 10", "weight": "weight 7",
    "check-ssl": "check-ssl verify none", "verify": "ssl verify none",
    "check-sni": "check-ssl verify none check-sni api.example",
    "crt": "ssl verify none crt /etc/haproxy/c.pem", "backup": "backup",
    "disabled": "disabled", "init-addr": "init-addr none",
    "send-proxy": "send-proxy", "send-proxy-v2": "send-proxy-v2",
    "send-proxy-v2-ssl": "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn": "send-proxy-v2-ssl-cn",
    "ssl": "ssl verify none", "sni": "ssl verify none sni str(api.example)",
    "ca-file": "ssl ca-file /etc/haproxy/ca.pem", "addr": "addr 127.0.0.9",
    "resolvers": "resolvers dns",
    # unmodelled: kept as the server's extras
    "on-marked-down": "on-marked-down shutdown-sessions", "observe": "observe layer4",
    "error-limit": "error-limit 5", "agent-check": "agent-check agent-port 9001",
}  # fmt: skip
#: The server rows with a model attribute whose sample differs from HAProxy's default (enabled
#: is the default; check is the subject of the tests below).
MODELLED = [
    row.name for row in table.TABLE
    if "default-server" in row.contexts and row.effective is not None
    and row.name not in ("check", "enabled")
]  # fmt: skip


def test_every_modelled_default_server_keyword_has_a_sample() -> None:
    assert set(MODELLED) <= set(SAMPLES), sorted(set(MODELLED) - set(SAMPLES))


def _servers(first: str, second: str, between: str = "") -> str:
    lines = [
        f"    server s1 127.0.0.1:6443 check {first}".rstrip(),
        *([f"    default-server {between}"] if between else []),
        f"    server s2 127.0.0.1:6444 check {second}".rstrip(),
    ]
    return config("backend api\n" + "\n".join(lines) + "\n")


@pytest.mark.parametrize("keyword", sorted(SAMPLES))
def test_a_default_server_line_applies_to_the_servers_after_it(keyword: str) -> None:
    """``default-server W`` between two servers is ``W`` on the second server's line only; on
    both lines (what the model once read) it is a difference."""
    words = SAMPLES[keyword]
    between = hap(_servers("", "", between=words))
    assert differences(between, hap(_servers("", words))) == []
    assert differences(between, hap(_servers(words, words))) != []


@pytest.mark.parametrize("keyword", sorted(SAMPLES))
def test_a_defaults_sections_default_server_applies_to_every_server_after_it(
    keyword: str,
) -> None:
    """A defaults section's default-server reaches every server of the proxies after it, and
    the backend's own lines come after it."""
    words = SAMPLES[keyword]
    inherited = hap(config(_body(_servers("", "")), defaults=f"    default-server {words}\n"))
    assert differences(inherited, hap(_servers(words, words))) == []


def _body(text: str) -> str:
    """The backend section of a config built by :func:`config`."""
    return text[text.index("backend api") :]


def test_a_later_defaults_section_reaches_no_earlier_proxy() -> None:
    """The hunt's ds2.cfg: a defaults section after the backend sets nothing of it."""
    text = config(AFTER_THE_SERVERS.replace("    default-server check inter 500ms\n", "")) + (
        "defaults\n    mode tcp\n    default-server check inter 500ms\n"
    )
    assert checked(text) == [("cp1", False), ("cp2", False)]


def test_a_server_template_takes_the_default_server_in_force_at_its_line() -> None:
    assert checked(config(MIXED)) == [
        ("a", False), ("t1", True), ("t2", True), ("b", False), ("u3", True), ("u4", True),
        ("c", False), ("v1", False),
    ]  # fmt: skip
    servers = hap(config(MIXED)).backends["api"].servers
    assert [servers[n].weight for n in ("t1", "u3", "u4")] == [1, 5, 5]
    assert (servers["u4"].address, servers["u4"].port) == ("127.0.0.6", 16002)


def test_a_server_template_is_the_servers_it_declares() -> None:
    template = hap(config(TEMPLATE))
    lines = hap(
        config(
            TEMPLATE.replace(
                "    server-template extra 2 127.0.0.5:{p2}\n",
                "    server extra1 127.0.0.5:{p2}\n    server extra2 127.0.0.5:{p2}\n",
            )
        )
    )
    assert differences(template, lines) == []


@pytest.mark.parametrize("count", ["0", "x", "3-1", "-2"])
def test_a_server_template_haproxy_refuses_is_an_error(count: str) -> None:
    model = hap(config(f"backend api\n    server-template t {count} 127.0.0.1:6443\n"))
    assert [d.code for d in model.diagnostics] == ["CONF104"]
    assert not model.backends["api"].servers
    if HAPROXY is not None:
        text = config(f"backend api\n    server-template t {count} 127.0.0.1:6443\n")
        done = subprocess.run(
            [HAPROXY, "-c", "-f", "/dev/stdin"],
            input=text,
            text=True,
            capture_output=True,
            check=False,
        )
        assert done.returncode != 0


# --- lint, import, diff -------------------------------------------------------------------------


def test_lint_says_the_servers_before_a_default_server_check_are_never_checked() -> None:
    found = lint_tree(parse_haproxy(config(AFTER_THE_SERVERS), "ds1.cfg"))
    assert [(d.code, d.line) for d in found if d.code == "LB105"] == [("LB105", 12), ("LB105", 13)]
    before = config(
        "backend api\n    default-server check inter 500ms\n"
        "    server cp1 127.0.0.1:16001\n    server cp2 127.0.0.1:16002\n"
    )
    assert not [d for d in lint_tree(parse_haproxy(before, "ds0.cfg")) if d.code == "LB105"]


def _import(text: str) -> ImportResult:
    result = import_config(text, "ds.cfg", "haproxy")
    assert result.ok, [d.message for d in result.diagnostics]
    return result


def _rendered(result: ImportResult, text: str) -> str:
    spec = lbgen.load_spec(result.yaml_text.encode(), filename="imported.yaml")
    diff = diff_config(spec, "haproxy", text, "ds.cfg")
    assert diff.equivalent, diff.text()
    return diff.rendered.text


def test_import_adds_no_check_a_default_server_after_the_servers_does_not_give() -> None:
    text = config(AFTER_THE_SERVERS)
    result = _import(text)
    spec = YAML(typ="safe").load(result.yaml_text)
    assert spec["defaults"]["health"] == {"check": "none"}
    notes = [(d.code, d.line) for d in result.diagnostics]
    assert (NOT_IN_EFFECT, 14) in notes
    assert not [d for d in result.diagnostics if d.code == LOSSY]
    assert " check" not in _rendered(result, text)


def test_a_default_server_parameter_without_a_field_goes_on_the_later_servers_only() -> None:
    text = config(
        "backend api\n    server cp1 127.0.0.1:16001 check\n"
        "    default-server on-marked-down shutdown-sessions\n"
        "    server cp2 127.0.0.1:16002 check\n"
    )
    result = _import(text)
    servers = YAML(typ="safe").load(result.yaml_text)["pools"]["api"]["servers"]
    assert servers["cp1"] == "127.0.0.1:16001"
    assert servers["cp2"]["extra"] == {"haproxy": ["on-marked-down shutdown-sessions"]}
    _rendered(result, text)


def test_the_template_keeps_the_default_server_parameters_haproxy_gives_it() -> None:
    """The hunt's t7: the template line is kept with the parameters in force there, so its
    servers stay checked when the spec is rendered; the template kept bare (the hunt's import)
    is a difference diff names."""
    text = config(TEMPLATE)
    result = _import(text)
    extra = YAML(typ="safe").load(result.yaml_text)["pools"]["api"]["extra"]["haproxy"]
    assert extra == ["server-template extra 2 127.0.0.5:16002 check check-ssl verify none"]
    assert not [d for d in result.diagnostics if d.code == LOSSY]
    rendered = _rendered(result, text)
    bare = rendered.replace(" 127.0.0.5:16002 check check-ssl verify none", " 127.0.0.5:16002")
    changed = {(d.path[3], d.path[4], d.old, d.new) for d in differences(hap(text), hap(bare))}
    assert {("extra1", "check", True, False), ("extra2", "check", True, False)} <= changed


# --- the real engine ------------------------------------------------------------------------------


@contextmanager
def running(text: str, tmp_path: Path) -> Iterator[Path]:
    """HAProxy in the foreground with ``text`` plus a stats socket, until the socket answers;
    yields the socket's path."""
    assert HAPROXY is not None
    sock = tmp_path / f"stats-{free_port()}.sock"
    path = tmp_path / f"{sock.stem}.cfg"
    path.write_text(text.replace("global\n", f"global\n    stats socket {sock}\n", 1))
    process = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[0].decode()
            try:
                show_stat(sock)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                assert time.monotonic() < deadline, "haproxy's stats socket did not answer"
                time.sleep(0.05)
        yield sock
    finally:
        process.terminate()
        process.wait(timeout=10)


def engine_checked(text: str, tmp_path: Path) -> list[tuple[str, bool]]:
    """(server, checked) of backend api as the real HAProxy's ``show stat`` says, in its order:
    an unchecked server's status is ``no check``."""
    with running(text, tmp_path) as sock:
        rows = show_stat(sock)
    return [(r["svname"], r["status"] != "no check") for r in rows if r["pxname"] == "api"]


def closed_ports() -> dict[str, int]:
    """Ports nothing listens on: the checks fail (the status is then DOWN, not ``no check``)."""
    ports = {f"p{n}": free_port() for n in (1, 2, 3)}
    assert not any(listening(p) for p in ports.values())
    return {**ports, "port": free_port()}


needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")


@needs_haproxy
@pytest.mark.parametrize(
    ("backend", "defaults"),
    [
        (AFTER_THE_SERVERS, ""),
        (TEMPLATE, ""),
        (MIXED, ""),
        (MIXED, "    default-server check\n"),
        (MIXED.replace("    default-server no-check\n", ""), "    default-server inter 3s\n"),
    ],
    ids=["after-the-servers", "template", "mixed", "mixed-defaults-check", "mixed-defaults"],
)
def test_the_model_checks_the_servers_haproxy_checks(
    backend: str, defaults: str, tmp_path: Path
) -> None:
    text = config(backend, defaults, **closed_ports())
    assert checked(text) == engine_checked(text, tmp_path)


@needs_haproxy
@pytest.mark.parametrize(
    "backend", [AFTER_THE_SERVERS, TEMPLATE, MIXED], ids=["ds1", "t7", "mixed"]
)
def test_the_imported_spec_renders_servers_haproxy_checks_alike(
    backend: str, tmp_path: Path
) -> None:
    """The oracle for import: the original and the rendering of its import, run on HAProxy,
    check the same servers (and diff calls them equivalent). The rendering writes a template
    after the servers: under roundrobin their order changes nothing (the model's
    server_order), so the servers are compared by name."""
    text = config(backend, **closed_ports())
    rendered = _rendered(_import(text), text)
    assert sorted(engine_checked(text, tmp_path)) == sorted(engine_checked(rendered, tmp_path))
