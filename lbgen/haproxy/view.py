"""HAProxy (2.4 and newer) view of a resolved spec.

Choices that matter to operators:
- Health checks are always one mechanism per backend: ``option httpchk`` with ``http-check``
  rules for http/https, ``option tcp-check`` with ``tcp-check connect ssl`` for tls;
  ``option ssl-hello-chk`` (it passes on a TLS alert) only for a spec that says ``ssl-hello``
  (an imported config that used it). Never two ``option *-chk`` (the last silently wins: the
  bug in the old kubeadm example).
- Server parameters shared by the pool go on ``default-server``; a server line carries only what
  differs, so the effective value of every field is visible in one place.
- DNS-named servers get ``init-addr last,libc,none`` so HAProxy starts before names resolve
  (unless the pool says ``start_unresolved: false``), and a warning: HAProxy resolves them once,
  at start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from lbgen import extra as extras
from lbgen.confparse.tree import ParseError
from lbgen.directives import Directive
from lbgen.frozen import record
from lbgen.haproxy import table
from lbgen.haproxy.syntax import SECTIONS, split_line
from lbgen.names import HEALTH_FRONTEND, STATS_FRONTEND
from lbgen.resolve import Bind, Resolved, ResolvedFrontend, ResolvedPool, ResolvedServer
from lbgen.spec import fields
from lbgen.spec.fields import Scope
from lbgen.spec.source import Path_
from lbgen.units import HostPort, format_haproxy_duration
from lbgen.view import Findings, Verbatim, View, warn_log_host_name

#: The sections the template adds on its own: a frontend of the spec may not take their names.
GENERATED_FRONTENDS = {"stats_bind": STATS_FRONTEND, "health_bind": HEALTH_FRONTEND}

_FRONTEND_TIMEOUTS = table.FRONTEND_TIMEOUTS
_BACKEND_TIMEOUTS = table.BACKEND_TIMEOUTS


@record(fill_dict=True)
class Setting:
    """A keyword and its already formatted value (``timeout client`` / ``1h``)."""

    name: str
    value: str


@record(fill_dict=True)
class HaproxyServer:
    """One ``server`` line."""

    name: str
    address: str
    params: str
    #: ``name address params``: what the template prints after ``server`` (one value per line
    #: instead of three: a large backend's rendering is mostly these lines).
    line: str


@record(fill_dict=True)
class HaproxyBackend:
    """One ``backend`` section."""

    name: str
    balance: str | None
    check: list[str]
    retries: int | None
    redispatch: bool | None
    #: ``option allbackups``: the pool's backups share the traffic (by the balance algorithm
    #: and their weights), as nginx's do, instead of the first usable one taking all of it.
    allbackups: bool
    timeouts: list[Setting]
    default_server: str
    servers: list[HaproxyServer]
    extra: list[str]


@record(fill_dict=True)
class HaproxyFrontend:
    """One ``frontend`` section."""

    name: str
    binds: list[str]
    timeouts: list[Setting]
    backend: str
    extra: list[str]


def haproxy_address(address: HostPort) -> str:
    """``[fd00::1]:6443`` stays bracketed; ``:6443`` binds every IPv4 address."""
    return str(address) if address.host else f":{address.port}"


def _bind(bind: Bind) -> str:
    """A bind line's address and stack option: ``[::]:port`` is dual-stack (``v4v6``, said
    explicitly so a host with net.ipv6.bindv6only=1 does not turn it IPv6-only) unless the spec
    says v6only. Beside ``bind :port`` it stays dual-stack: HAProxy binds with SO_REUSEPORT, so
    both sockets listen, as the configs installers write (``0.0.0.0:P`` + ``:::P``) do."""
    text = haproxy_address(bind.address)
    if bind.address.family != "ipv6" or not bind.address.is_wildcard:
        return text
    return f"{text} v6only" if bind.v6only else f"{text} v4v6"


def _render(row: Directive, value: Any) -> str:
    """``value`` as ``row`` writes it (every row the view writes has a codec)."""
    assert row.codec is not None
    return row.codec.render(value)


def _timeouts(values: Any, rows: tuple[Directive, ...]) -> list[Setting]:
    return [
        Setting(row.name.removeprefix("timeout "), _render(row, values[key]))
        for row in rows
        if row.field is not None and values[key := row.field.removeprefix("timeouts.")] is not None
    ]


def _check_lines(pool: ResolvedPool) -> list[str]:
    health = pool.health
    if health.check in ("http", "https"):
        # An explicit null path/expect leaves HAProxy's own default (uri /, any 2xx/3xx).
        send = "http-check send meth GET" + (f" uri {health.path}" if health.path else "")
        lines = [table.HTTPCHK.name, send]
        if health.expect:
            lines.append(f"{table.HTTP_EXPECT.name} {_render(table.HTTP_EXPECT, health.expect)}")
        if health.expect_body:
            row = table.HTTP_EXPECT_BODY
            lines.append(f"{row.name} {_render(row, health.expect_body)}")
        return lines
    if health.check == "ssl-hello":
        return [table.SSL_HELLO_CHK.name]
    if health.check == "tls":
        # An explicit "tcp-check connect" ignores the server's check-sni: name it on the rule.
        sni = f" sni {health.sni}" if health.sni else ""
        return [table.TCP_CHECK.name, f"tcp-check connect ssl{sni}"]
    return []


def _check_params(pool: ResolvedPool) -> list[str]:
    health = pool.health
    if health.check in (None, "none"):
        return []
    params = [table.CHECK.name]
    if health.check in ("https", "tls"):
        if health.check == "https":
            params.append(table.CHECK_SSL.name)
        # lbgen checks the API server's TLS without verifying it (no CA to give HAProxy).
        params += [table.VERIFY.name, _render(table.VERIFY, table.LBGEN_VERIFY)]
        if health.sni and health.check == "https":
            params += [table.CHECK_SNI.name, _render(table.CHECK_SNI, health.sni)]
        if health.client_cert:
            params += [table.CRT.name, _render(table.CRT, health.client_cert)]
    return params


def _params(rows: tuple[Directive, ...], values: Mapping[str, Any]) -> list[str]:
    """``keyword value`` pairs of the rows whose field has a value, in the rows' order."""
    params: list[str] = []
    for row in rows:
        value = values.get(row.field or "")
        if value is not None:
            params += [row.name, _render(row, value)]
    return params


def _timing_params(pool: ResolvedPool) -> list[str]:
    health = pool.health
    if health.check in (None, "none"):
        return []
    values = {row.field: getattr(health, row.field.removeprefix("health.")) for row in table.TIMING
              if row.field}  # fmt: skip
    return _params(table.TIMING, values)


def _server_params(values: Mapping[str, Any]) -> list[str]:
    return _params(table.SERVER_PARAMS, dict(values))


def _server(
    pool: ResolvedPool,
    server: ResolvedServer,
    findings: Findings,
    check: list[str],
    check_text: str | None = None,
) -> HaproxyServer:
    """One server line; ``check`` is the pool's :func:`_check_params`, the same for each;
    ``check_text``, when given, is ``" ".join(check)``."""
    if (
        check_text is not None
        and not server.backup
        and not server.disabled
        and not server.extra.haproxy
        and server.address.family != "dns"
        and server.weight == pool.server_defaults["weight"]
        and server.slowstart == pool.server_defaults["slowstart"]
        and server.maxconn == pool.server_defaults["maxconn"]
        and server.maxqueue == pool.server_defaults["maxqueue"]
    ):
        # The common case, what the code below writes for it without its lists: a server line
        # that differs from default-server in nothing but its name and address.
        address = haproxy_address(server.address)
        line = f"{server.name} {address} {check_text}" if check_text else f"{server.name} {address}"
        return HaproxyServer(server.name, address, check_text, line)
    own = {
        "slowstart": server.slowstart, "maxconn": server.maxconn,
        "maxqueue": server.maxqueue, "weight": server.weight,
    }  # fmt: skip
    if own == pool.server_defaults:  # the common case: nothing differs from default-server
        params = list(check)
    else:
        # Only what differs from default-server: the pool's values are stated once. A server's
        # null is HAProxy's own value, which the server line must then say: left out, the
        # pool's default-server value would apply (nginx writes nothing and gets its own).
        differing: dict[str, Any] = {}
        for row in table.SERVER_PARAMS:
            key = row.field or ""
            if own[key] != pool.server_defaults[key]:
                differing[key] = row.default if own[key] is None else own[key]
        params = check + _params(table.SERVER_PARAMS, differing)
    if server.backup:
        params.append(table.BACKUP.name)
    if server.disabled:
        params.append(table.DISABLED.name)
    # A server's own init-addr or resolvers (in its extras) say what lbgen would otherwise:
    # how HAProxy starts, and that it follows the name's changes.
    keywords = {item.split()[0] for item in server.extra.haproxy or () if item.split()}
    if server.is_dns and pool.start_unresolved and table.INIT_ADDR.name not in keywords:
        params += [table.INIT_ADDR.name, _render(table.INIT_ADDR, table.LBGEN_INIT_ADDR)]
    if server.is_dns and "resolvers" not in keywords and pool.start_unresolved:
        # Without a resolvers section HAProxy asks libc once, at start; `none` keeps it starting
        # when that fails, but the server then has no address until the next reload.
        findings.warning(
            "haproxy-dns-at-start", (*server.path, "address"),
            f"HAProxy resolves {server.address.host} once at start and does not follow its "
            "address changes; when it does not resolve, HAProxy starts with this server "
            "disabled (init-addr last,libc,none) and warns (haproxy -c -dW fails on 2.6)",
        )  # fmt: skip
    elif server.is_dns and "resolvers" not in keywords:
        findings.warning(
            "haproxy-dns-at-start", (*server.path, "address"),
            f"HAProxy resolves {server.address.host} once at start and does not follow its "
            "address changes; with start_unresolved false it refuses to start while the name "
            "does not resolve",
        )  # fmt: skip
    params += _extra(
        (*server.path, "extra", "haproxy"), server.extra.haproxy, findings, server_line=True
    )
    address, text = haproxy_address(server.address), " ".join(params)
    line = f"{server.name} {address} {text}" if text else f"{server.name} {address}"
    return HaproxyServer(server.name, address, text, line)


#: Sections the spec models: an extra section may not open one of these.
_MODELLED_SECTIONS = frozenset({"global", "defaults"})


def _words(item: str, where: Path_, findings: Findings) -> list[str] | None:
    """The words HAProxy splits ``item`` into, or None (and an error) when it cannot."""
    try:
        words = [word for word, _ in split_line(item).words]
    except ParseError as exc:
        findings.error("extra-haproxy", where, f"{item!r}: {exc.message}")
        return None
    if not words:
        findings.error("extra-haproxy", where, f"{item!r} holds no directive (only a comment)")
        return None
    return words


def _extra(
    owner: Path_, items: list[str] | None, findings: Findings, *, server_line: bool = False
) -> list[str]:
    """The ``haproxy`` extras of one section (or a server's extra keywords), normalised, after
    checking that each is one line of words HAProxy can split that opens no section."""
    out: list[str] = []
    for index, item in enumerate(items or ()):
        where: Path_ = (*owner, index)
        words = _words(item, where, findings)
        if words is None:
            continue
        if words[0].startswith("."):
            # .if/.elif/.else/.endif would take in (or leave out) the lines lbgen writes
            # around the item; .diag/.notice/.warning/.alert speak at start-up.
            findings.error(
                "extra-haproxy", where,
                f"{item!r} is a directive of HAProxy's preprocessor ({words[0]}): it would act "
                "on the lines lbgen writes around it",
            )  # fmt: skip
            continue
        reason = unsafe_in_config(item) if server_line else None
        if reason is not None:
            # A server line is printed through the render guard: plain words only.
            findings.error(
                "extra-haproxy", where,
                f"{item!r} {reason}; a server's extras are plain words on its line",
            )  # fmt: skip
            continue
        if not server_line and words[0] in SECTIONS:
            findings.error(
                "extra-haproxy", where,
                f"{item!r} opens a section ({words[0]}): one directive per item; whole "
                "sections go in global.extra.haproxy_sections",
            )  # fmt: skip
            continue
        out.append(Verbatim(extras.normalise(item)))
    return out


def _extra_sections(resolved: Resolved, findings: Findings) -> list[tuple[str, list[str]]]:
    """``global.extra.haproxy_sections``: whole sections, header and lines, in spec order."""
    out: list[tuple[str, list[str]]] = []
    for header, lines in (resolved.global_.extra.haproxy_sections or {}).items():
        where: Path_ = ("global", "extra", "haproxy_sections", header)
        words = _words(header, where, findings)
        if words is None:
            continue
        if words[0] not in SECTIONS or words[0] in _MODELLED_SECTIONS:
            findings.error(
                "extra-haproxy", where,
                f"{header!r} is not the header of a section lbgen leaves to extras: start with "
                "resolvers, userlist, peers, program, ring, cache, mailers, http-errors, "
                "frontend, backend or listen",
                key=True,
            )  # fmt: skip
            continue
        out.append((Verbatim(extras.normalise(header)), _extra(where, lines, findings)))
    return out


def _check_duration(us: int | None, where: Path_, what: str, findings: Findings) -> None:
    # HAProxy rounds a microsecond value up to whole milliseconds before comparing.
    if us is not None and table.timer_overflows(us):
        findings.error(
            "haproxy-timer-overflow", where,
            f"{what} {format_haproxy_duration(us)} is too long for HAProxy, which refuses to "
            f"start with a timer above {table.INT_MAX} ms (~24.8 days)",
        )  # fmt: skip


def _own_timeout(row: Directive, us: int | None, findings: Findings) -> str:
    """``timeout client`` of lbgen's stats or health frontend: the spec's, else lbgen's own."""
    assert row.field is not None
    _check_duration(us, tuple(row.field.split(".")), row.field, findings)
    return _render(row, row.default if us is None else us)


def _check_count(value: int | None, where: Path_, what: str, findings: Findings) -> None:
    if value is not None and value > table.INT_MAX:
        findings.error(
            "haproxy-range", where,
            f"{what} {value} does not fit HAProxy's 32-bit integer (at most {table.INT_MAX}): it "
            "refuses to start or silently wraps the value",
        )  # fmt: skip


def _check_shared_ranges(pool: ResolvedPool, findings: Findings) -> None:
    """The timers and counters of the blocks pools may share (timeouts, server defaults, health)
    within what HAProxy can hold: once per shared block, like the parts written from them."""
    for name, us in pool.timeouts.items():
        where = pool.sources.get(f"timeouts.{name}", pool.path)
        _check_duration(us, where, f"timeouts.{name}", findings)
    for name in ("slowstart", "maxconn", "maxqueue"):
        where = pool.sources.get(f"server_defaults.{name}", pool.path)
        value = pool.server_defaults[name]
        if name == "slowstart":
            _check_duration(value, where, name, findings)
        else:
            _check_count(value, where, name, findings)
    health = pool.health
    if health.check in (None, "none"):
        return
    for name in ("interval", "fast_interval", "down_interval", "timeout"):
        us = getattr(health, name)
        where = health.sources.get(name, (*pool.path, "health"))
        _check_duration(us, where, f"health.{name}", findings)
        if us == 0 and name != "timeout":
            findings.error(
                "haproxy-zero-interval", where,
                f"health.{name} 0 is refused by HAProxy (inter, fastinter and downinter must be "
                "> 0)",
            )  # fmt: skip
    for name in ("rise", "fall"):
        where = health.sources.get(name, (*pool.path, "health"))
        _check_count(getattr(health, name), where, f"health.{name}", findings)


def _check_own_ranges(pool: ResolvedPool, findings: Findings) -> None:
    """The pool's retries and what its servers set themselves within what HAProxy can hold."""
    _check_count(pool.retries, pool.sources.get("retries", pool.path), "retries", findings)
    inherited = (pool.server_defaults["slowstart"], pool.server_defaults["maxconn"],
                 pool.server_defaults["maxqueue"])  # fmt: skip
    for server in pool.servers:
        if (server.slowstart, server.maxconn, server.maxqueue) == inherited:
            continue  # the pool's (or defaults') values: checked with the shared blocks
        # Where a value came from is looked up only for a value to check (most are None).
        if server.slowstart is not None:
            where = server.sources.get("slowstart", server.path)
            _check_duration(server.slowstart, where, "slowstart", findings)
        for name, value in (("maxconn", server.maxconn), ("maxqueue", server.maxqueue)):
            if value is not None:
                _check_count(value, server.sources.get(name, server.path), name, findings)


#: What a backend writes from its health, timeouts and server defaults alone: timeout settings,
#: check lines, default-server text, the check parameters of each server line.
_Shared = tuple[list[Setting], list[str], str, list[str]]


def _shared_parts(pool: ResolvedPool) -> _Shared:
    health = pool.health
    timeouts = _timeouts(pool.timeouts, _BACKEND_TIMEOUTS)
    if health.check not in (None, "none") and health.timeout is not None:
        row = table.CHECK_TIMEOUT
        timeouts.append(Setting(row.name.removeprefix("timeout "), _render(row, health.timeout)))
    default_server = _timing_params(pool) + _server_params(pool.server_defaults)
    return timeouts, _check_lines(pool), " ".join(default_server), _check_params(pool)


def _backend(
    pool: ResolvedPool, findings: Findings, memo: dict[tuple[int, ...], _Shared] | None = None
) -> HaproxyBackend:
    """One backend; ``memo`` keeps the parts pools sharing their resolved blocks write alike
    (resolve shares one object per block among pools that set nothing of it), and checks those
    blocks' ranges once."""
    # Keyed by identity: the objects live as long as ``pool`` does, through the whole view.
    key = (id(pool.health), id(pool.timeouts), id(pool.server_defaults))
    parts = None if memo is None else memo.get(key)
    if parts is None:
        _check_shared_ranges(pool, findings)
    _check_own_ranges(pool, findings)
    # lbgen writes no hash-type: balance source hashes map-based, with static weights too.
    # slowstart also ramps a server's maxconn, whatever the algorithm (manual, "slowstart").
    if table.weights_are_static(pool.balance):
        for server in pool.servers:
            if server.slowstart is not None and server.maxconn is None:
                where = server.sources.get("slowstart", pool.path)
                findings.warning(
                    "haproxy-slowstart-ignored", where,
                    f"HAProxy ignores slowstart with balance {pool.balance} "
                    "(static weights cannot ramp up)",
                )  # fmt: skip
    _missing_timeouts(pool, ("connect", "server"), findings)
    health = pool.health
    if health.check == "ssl-hello":
        findings.note(
            "haproxy-ssl-hello", health.sources.get("check", (*pool.path, "health")),
            "option ssl-hello-chk passes on any TLS answer, even an alert: check tls "
            "completes the handshake",
        )  # fmt: skip
    if parts is None:
        parts = _shared_parts(pool)
        if memo is not None:
            memo[key] = parts
    timeouts, check_lines, default_server, check = parts
    check_text = " ".join(check)
    backups = [server for server in pool.servers if server.backup]
    if backups and health.check == "none":
        findings.warning(
            "haproxy-backup-unchecked", (*backups[0].path, "backup"),
            f"HAProxy never sends to backup server {backups[0].name} of pool {pool.name}: "
            "without health checks (health.check: none) no server is ever marked down, so a "
            "backup never takes over; give the pool a health check",
        )  # fmt: skip
    return HaproxyBackend(
        name=pool.name,
        balance=pool.balance,
        check=list(check_lines),
        retries=pool.retries,
        redispatch=pool.redispatch,
        allbackups=len(backups) > 1,
        timeouts=list(timeouts),
        default_server=default_server,
        servers=[_server(pool, server, findings, check, check_text) for server in pool.servers],
        extra=_extra((*pool.path, "extra", "haproxy"), pool.extra.haproxy, findings),
    )


def _missing_timeouts(
    owner: ResolvedPool | ResolvedFrontend, names: tuple[str, ...], findings: Findings
) -> None:
    # HAProxy treats a missing connect/client/server timeout as infinite and warns about it:
    # idle or half-open connections then pile up until maxconn is reached.
    for name in names:
        value = owner.timeouts[name]
        if name == "server" and owner.timeouts.get("tunnel"):
            # In TCP mode the tunnel timeout covers an established connection: HAProxy is happy.
            continue
        if value is None or value == 0:
            said = "null" if value is None else "0 (HAProxy reads 0 as no timeout)"
            findings.warning(
                "haproxy-missing-timeout", owner.sources.get(f"timeouts.{name}", owner.path),
                f"timeouts.{name} is {said}: HAProxy then never times out ({name} side) and "
                "warns 'missing timeouts' (haproxy -c -dW fails)",
            )  # fmt: skip


def _frontend(
    frontend: ResolvedFrontend, findings: Findings, reserved: dict[str, str]
) -> HaproxyFrontend:
    _missing_timeouts(frontend, ("client",), findings)
    for name, us in frontend.timeouts.items():
        where = frontend.sources.get(f"timeouts.{name}", frontend.path)
        _check_duration(us, where, f"timeouts.{name}", findings)
    if frontend.name in reserved:
        findings.error(
            "haproxy-reserved-name", frontend.path,
            f"lbgen generates a frontend named {frontend.name} for {reserved[frontend.name]}; "
            "HAProxy refuses two frontends of one name: rename this frontend",
            key=True,
        )  # fmt: skip
    return HaproxyFrontend(
        name=frontend.name,
        binds=[_bind(bind) for bind in frontend.binds],
        timeouts=_timeouts(frontend.timeouts, _FRONTEND_TIMEOUTS),
        backend=frontend.pool,
        extra=_extra((*frontend.path, "extra", "haproxy"), frontend.extra.haproxy, findings),
    )


def _log_lines(resolved: Resolved) -> list[str]:
    return [_render(table.GLOBAL_LOG, entry) for entry in resolved.global_.logs]


def field_values(resolved: Resolved) -> Iterator[tuple[str, Any, Path_]]:
    """``(field, value, where)`` for every spec field of the resolved spec a table row may name
    (``global.maxconn``, a frontend's ``timeouts.client``, a pool's ``health.interval``, a
    server's ``weight``): ``where`` is the spec path that set it, else its owner's."""
    g = resolved.global_
    health_names = fields.names(Scope.POOL, "health")
    server_names = ("backup", "disabled", *server_param_names())
    for name in ("maxconn", "log"):
        yield f"global.{name}", getattr(g, name), ("global", name)
    for frontend in resolved.frontends:
        yield "bind", frontend.binds, frontend.sources.get("bind", frontend.path)
        yield "pool", frontend.pool, frontend.sources.get("pool", frontend.path)
        yield "mode", frontend.mode, frontend.sources.get("mode", frontend.path)
        for name, value in frontend.timeouts.items():
            key = f"timeouts.{name}"
            yield key, value, frontend.sources.get(key, frontend.path)
    for pool in resolved.pools:
        for name in ("balance", "retries", "redispatch"):
            yield name, getattr(pool, name), pool.sources.get(name, pool.path)
        for name, value in pool.timeouts.items():
            key = f"timeouts.{name}"
            yield key, value, pool.sources.get(key, pool.path)
        for name, value in pool.server_defaults.items():
            yield name, value, pool.sources.get(f"server_defaults.{name}", pool.path)
        health = pool.health
        for name in health_names:
            where = health.sources.get(name, (*pool.path, "health"))
            yield f"health.{name}", getattr(health, name), where
        for server in pool.servers:
            for name in server_names:
                yield name, getattr(server, name), server.sources.get(name, server.path)


def server_param_names() -> tuple[str, ...]:
    """The spec fields of the per-server parameters (``slowstart``, ``maxconn``, ...)."""
    return tuple(row.field for row in table.SERVER_PARAMS if row.field is not None)


def warn_unsupported(
    resolved: Resolved, findings: Findings, rows: tuple[Directive, ...] | None = None
) -> None:
    """One warning per set field that HAProxy cannot express: the text of its table row."""
    by_field = {row.field: row for row in (table.TABLE.unsupported() if rows is None else rows)}
    if not by_field:
        return  # nothing to warn about: skip walking every field of every server
    for name, value, where in field_values(resolved):
        row = by_field.get(name)
        if row is not None and value is not None and value is not False:
            findings.warning(row.code or "haproxy-unsupported", where, row.unsupported or "")


#: Characters HAProxy's line parser gives a meaning (comment, quoting, escaping, condition
#: blocks): no value lbgen prints needs one, so a value holding one was never checked.
_SYNTAX = {
    "#": "'#' starts a comment",
    '"': "a double quote starts a quoted string",
    "'": "a single quote starts a quoted string",
    "\\": "a backslash escapes the next character",
    "{": "'{' opens a condition block",
    "}": "'}' closes a condition block",
}


#: The first character :func:`unsafe_in_config` objects to: not printable ASCII, or in ``_SYNTAX``.
_UNSAFE_CHAR = re.compile(r"[^ -~]|[#\"'\\{}]")


def unsafe_in_config(text: str) -> str | None:
    """Why ``text``, printed into haproxy.cfg, could change its structure; None when it cannot.

    The last line of defence behind validation: a line break starts a new statement, and the
    characters in ``_SYNTAX`` change how HAProxy splits a line into words.
    """
    found = _UNSAFE_CHAR.search(text)  # one C scan; the loop below only words the reason
    if found is None:
        return None
    for char in found.group():
        if not " " <= char <= "~":
            return f"holds {char!r}, which is not printable ASCII (a line break starts a new line)"
        if char in _SYNTAX:
            return f"holds {char!r}: {_SYNTAX[char]} in HAProxy"
    return None


def build_haproxy_view(resolved: Resolved, layout: str = "full", **options: Any) -> View:
    """The context of ``haproxy/haproxy.cfg.j2`` and the translation's diagnostics.

    HAProxy takes no render options: ``options`` (nginx's ``load_module``) are ignored.
    """
    findings = Findings(resolved)
    memo: dict[tuple[int, ...], _Shared] = {}
    g = resolved.global_
    warn_log_host_name(resolved, findings, "HAProxy")
    warn_unsupported(resolved, findings)
    extras.warn_other_engines(resolved, findings, "haproxy")
    _check_count(g.maxconn, ("global", "maxconn"), "global.maxconn", findings)
    if g.stats_bind is not None and g.stats.admin and not g.stats.auth:
        findings.warning(
            "stats-admin-open", ("global", "stats", "admin"),
            "the stats page's admin controls are on without stats.auth: anyone who reaches "
            f"{haproxy_address(g.stats_bind)} can drain or disable servers",
        )  # fmt: skip
    reserved = {
        section: f"global.{key.removesuffix('_bind')}"
        for key, section in GENERATED_FRONTENDS.items()
        if getattr(g, key) is not None
    }
    context = {
        "logs": _log_lines(resolved),
        "tcplog": g.log_format == "tcplog",
        "dontlognull": g.dontlognull,
        "maxconn": g.maxconn,
        "frontends": [_frontend(fe, findings, reserved) for fe in resolved.frontends],
        "backends": [_backend(pool, findings, memo) for pool in resolved.pools],
        "stats_frontend": STATS_FRONTEND,
        "stats_bind": haproxy_address(g.stats_bind) if g.stats_bind else None,
        "stats_prometheus": g.stats_prometheus,
        "stats": g.stats,
        "stats_refresh": format_haproxy_duration(g.stats.refresh)
        if g.stats.refresh is not None
        else None,
        "stats_timeout": _own_timeout(table.STATS_TIMEOUT, g.stats.timeout, findings),
        "health_frontend": HEALTH_FRONTEND,
        "health_timeout": _own_timeout(table.HEALTH_TIMEOUT, g.health_timeout, findings),
        "health_bind": haproxy_address(g.health_bind) if g.health_bind else None,
        "health_binds": [_bind(bind) for bind in g.health_binds],
        "health_extra": _extra(
            ("global", "health", "extra", "haproxy"), g.health_extra.haproxy, findings
        ),
        "health_path": g.health_path,
        # The readiness path: 503 while a pool some frontend sends to has no usable server.
        # Its braces are lbgen's own; the path and the pool names are grammar-checked words.
        "health_ready": [
            Verbatim(rule)
            for rule in table.ready_rules(
                g.health_ready_path, tuple(dict.fromkeys(fe.pool for fe in resolved.frontends))
            )
        ]
        if g.health_ready_path is not None
        else [],
        "ready_rule": table.READY_RULE,
        "global_extra": _extra(("global", "extra", "haproxy"), g.extra.haproxy, findings),
        "defaults_extra": _extra(
            ("defaults", "extra", "haproxy"), resolved.defaults_extra.haproxy, findings
        ),
        "extra_sections": _extra_sections(resolved, findings),
    }
    return View("haproxy/haproxy.cfg.j2", context, findings.sorted())
