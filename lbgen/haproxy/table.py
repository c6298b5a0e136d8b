"""HAProxy's two-way directive table: every spec field <-> keyword mapping lbgen knows, once.

One :class:`~lbgen.directives.Directive` per keyword and context. The view writes a value with
``row.codec.render``, the reader (:mod:`lbgen.haproxy.effective`) reads it back with
``row.codec.parse``; HAProxy's own default when the keyword is absent is ``row.default``; a
diff names an effective-model attribute by ``row.name``; which server keywords the importer maps
to a spec field is ``row.field``. A server keyword whose row has a codec takes one value, every
other word on a ``server`` line is a flag -- so the table also lists the value-taking keywords
lbgen does not model (``field`` and ``effective`` None), so that their value is never mistaken
for a flag (HAProxy 2.4 - 3.x).

HAProxy can express every spec field: the table has no ``unsupported`` row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, get_args

from lbgen.confparse.tree import word_set
from lbgen.directives import Directive, DirectiveTable, Refused, table
from lbgen.frozen import record
from lbgen.resolve import ResolvedLog
from lbgen.spec.grammar import LOG_TARGET
from lbgen.spec.models import LogFacility, LogFormat, LogLevel
from lbgen.units import format_haproxy_duration, parse_int

_MS = 1_000
_S = 1_000 * _MS
_UNITS_US = {"us": 1, "ms": _MS, "s": _S, "m": 60 * _S, "h": 3_600 * _S, "d": 86_400 * _S}
_TIME = re.compile(r"(\d+)(us|ms|s|m|h|d)?")


def parse_haproxy_time(text: str, bare_unit: str = "ms") -> int | None:
    """HAProxy time (manual §2.5) in microseconds: bare numbers are in ``bare_unit``, ms for
    nearly every keyword; None when invalid."""
    match = _TIME.fullmatch(text.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNITS_US[match.group(2) or bare_unit]


def stats_refresh_seconds(text: str) -> int | None:
    """What ``stats refresh <delay>`` makes the stats page send as its ``Refresh`` header:
    whole seconds, rounded up, where a bare number is seconds (``30`` and ``30s`` send 30,
    ``1500ms`` sends 2: the real HAProxy 2.6 says so); None when HAProxy refuses the delay."""
    us = parse_haproxy_time(text, bare_unit="s")
    return None if us is None else -(-us // _S)


# --- codecs ------------------------------------------------------------------------------------

INT_MAX = 2**31 - 1
"""HAProxy keeps timers and counters in signed 32-bit integers: a timer above this many ms
(~24.8 days) is a "timer overflow" error, and rise/fall above it are refused ("has to be > 0");
maxconn, maxqueue and retries above it are accepted but silently wrapped."""


def timer_overflows(us: int) -> bool:
    """Whether a time of ``us`` microseconds is past HAProxy's largest timer (in whole ms, which
    HAProxy rounds up to)."""
    return -(-us // 1000) > INT_MAX


@record
class Duration:
    """A time: microseconds, written in the largest exact unit (``10s``, ``1500us``)."""

    code: str = "CONF103"
    """The diagnostic of a value HAProxy would refuse."""
    problem: str = "not a duration"
    positive: bool = False
    """HAProxy refuses 0 (``inter 0``: "invalid value 0")."""

    def render(self, value: Any) -> str:
        """``10_000_000`` -> ``10s``."""
        return format_haproxy_duration(int(value))

    def parse(self, text: str) -> int:
        """``10s``, ``10000``, ``10000ms`` -> ``10_000_000``; bare numbers are milliseconds."""
        us = parse_haproxy_time(text)
        if us is None:
            raise Refused(text, self.problem)
        if self.positive and us == 0:
            raise Refused(text, "has to be > 0")
        if timer_overflows(us):
            raise Refused(text, f"timer overflow: HAProxy takes at most {INT_MAX} ms (~24.8 days)")
        return us


@record
class Count:
    """An integer (``weight 100``, ``rise 2``)."""

    code: str = "CONF104"
    problem: str = "not an integer"
    minimum: int | None = None
    """The least value HAProxy takes (``rise 0``: "'rise' has to be > 0")."""
    maximum: int | None = None
    """The greatest (``weight 257``: "not within 0 and 256")."""

    def render(self, value: Any) -> str:
        """``100`` -> ``100``."""
        return str(int(value))

    def parse(self, text: str) -> int:
        """``100`` -> ``100``."""
        number = parse_int(text)
        if number is None:
            raise Refused(text, self.problem)
        if self.minimum is not None and number < self.minimum:
            raise Refused(text, f"has to be at least {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise Refused(text, f"has to be at most {self.maximum}")
        return number


@record
class Word:
    """One argument taken as written (``verify none``, ``crt /etc/x.pem``, ``balance first``):
    HAProxy checks these values itself, lbgen keeps them as text."""

    code: str = "CONF104"
    problem: str = "not a value"

    def render(self, value: Any) -> str:
        """The value itself."""
        return str(value)

    def parse(self, text: str) -> str:
        """The text itself (a quoted argument may hold spaces)."""
        return text


_STATUS_LIST = re.compile(r"\d{3}(,\d{3})*")
_RSTATUS_ALTERNATION = re.compile(r"\^?\(?(\d{3}(?:\|\d{3})*)\)?\$?")


@record
class Expect:
    """``http-check expect``: the status codes that count as healthy.

    One code is ``status 200``; several are ``rstatus ^(200|204)$`` (``status`` takes one code
    or a range in HAProxy). Read back: ``status`` with a comma list and an ``rstatus``
    alternation of codes are codes too; any other expectation is refused (the reader keeps it
    as raw text).
    """

    code: str = "CONF104"
    problem: str = "not a list of status codes"

    def render(self, value: Any) -> str:
        """``(200,)`` -> ``status 200``; ``(200, 204)`` -> ``rstatus ^(200|204)$``."""
        codes = tuple(value)
        if len(codes) == 1:
            return f"status {codes[0]}"
        return f"rstatus ^({'|'.join(map(str, codes))})$"

    def parse(self, text: str) -> tuple[int, ...]:
        """The codes, sorted and without repeats."""
        words = text.split()
        if len(words) == 2 and words[0] == "status" and _STATUS_LIST.fullmatch(words[1]):
            return tuple(sorted({int(c) for c in words[1].split(",")}))
        if len(words) == 2 and words[0] == "rstatus":
            match = _RSTATUS_ALTERNATION.fullmatch(words[1])
            if match:
                return tuple(sorted({int(c) for c in match.group(1).split("|")}))
        raise ValueError(f"{text!r}: {self.problem}")


@record
class LogTarget:
    """``global.log`` <-> the ``log`` line of the global section (its arguments)."""

    code: str = "CONF104"
    problem: str = "no spec log target says this"

    def render(self, value: Any) -> str:
        """``stdout`` -> ``stdout format raw local0``; ``udp://h:p`` -> ``h:p local0``."""
        if value == "stdout":
            return "stdout format raw local0"
        if value == "syslog":
            return "/dev/log local0"
        text = str(value)
        if not text.startswith("udp://"):
            raise ValueError(f"{text!r}: not a log target HAProxy is given")
        return f"{text.removeprefix('udp://')} local0"

    def parse(self, text: str) -> str:
        """The spec's log target for a ``log`` line's arguments."""
        words = text.split()
        target = words[0] if words else ""
        if target == "stdout":
            return "stdout"
        if target == "/dev/log":
            return "syslog"
        if not target or target.startswith(("/", "ring@", "fd@", "stderr", "unix@")):
            raise ValueError(f"{text!r}: {self.problem}")
        host = target.removeprefix("udp@").removeprefix("udp4@").removeprefix("udp6@")
        if host.startswith("["):
            address = host if "]:" in host else f"{host}:514"
        elif host.count(":") == 1:
            address = host
        elif ":" not in host:
            address = f"{host}:514"
        else:
            raise ValueError(f"{text!r}: {self.problem}")
        candidate = f"udp://{address}"
        if not LOG_TARGET.matches(candidate):
            raise ValueError(f"{text!r}: {self.problem}")
        return candidate


_FACILITIES = frozenset(get_args(LogFacility))
_LEVELS = frozenset(get_args(LogLevel))
_FORMATS = frozenset(get_args(LogFormat))


@record
class LogLine:
    """One entry of ``global.log`` (a :class:`ResolvedLog`) <-> a global ``log`` line's
    arguments: ``<target> [format <format>] <facility> [<level> [<min level>]]``."""

    code: str = "CONF104"
    problem: str = "no spec log entry says this"

    def render(self, value: Any) -> str:
        """``ResolvedLog("stdout", format="raw")`` -> ``stdout format raw local0``."""
        entry: ResolvedLog = value
        target = {"stdout": "stdout", "syslog": "/dev/log"}.get(entry.target)
        if target is None:
            if not entry.target.startswith("udp://"):
                raise ValueError(f"{entry.target!r}: not a log target HAProxy is given")
            target = entry.target.removeprefix("udp://")
        words = [target]
        if entry.format is not None:
            words += ["format", entry.format]
        words.append(entry.facility or "local0")  # HAProxy needs one; the spec's default
        words += [level for level in (entry.level, entry.min_level) if level is not None]
        return " ".join(words)

    def parse(self, text: str) -> ResolvedLog:
        """The log entry a ``log`` line's arguments say (ValueError: none does)."""
        words = text.split()
        if not words:
            raise ValueError(f"{text!r}: {self.problem}")
        target = LOG.parse(words[0])
        rest = words[1:]
        fmt = None
        if rest[:1] == ["format"]:
            if len(rest) < 2 or rest[1] not in _FORMATS:
                raise ValueError(f"{text!r}: {self.problem}")
            fmt, rest = rest[1], rest[2:]
        if not rest or rest[0] not in _FACILITIES or len(rest) > 3:
            raise ValueError(f"{text!r}: {self.problem}")
        if any(level not in _LEVELS for level in rest[1:]):
            raise ValueError(f"{text!r}: {self.problem}")
        levels = [*rest[1:], None, None]
        return ResolvedLog(target, rest[0], levels[0], levels[1], fmt)


LOG_LINE_DEFAULTS: Mapping[str, str] = {"len": "1024", "format": "local"}
"""What a ``log`` line's ``len`` and ``format`` are when it leaves them out: HAProxy 2.6 sends
the same datagram with and without ``len 1024`` or ``format local``, to a UDP target, a unix
socket and stdout alike (``format rfc3164`` adds the host name)."""
LOG_LEVEL_DEFAULTS = ("debug", "emerg")
"""A ``log`` line's level and minimum level when it leaves them out: every message is sent
("by default, all messages are sent") and none is capped (emerg is the most severe)."""

DURATION = Duration()
COUNT = Count()
VALUELESS_READ_AS_ZERO = frozenset({"weight", "maxconn", "maxqueue", "minconn"})
"""Server keywords that HAProxy 2.6 takes without their value at the end of a line, reading
the missing number as 0 (``server x 10.0.0.1:6443 weight``: weight 0, no traffic)."""
VALUELESS_ACCEPTED = VALUELESS_READ_AS_ZERO | {"init-addr", "resolve-opts"}
"""Every server keyword ``haproxy -c`` accepts without its value at the end of a line; it
refuses the config for any other keyword that takes a value."""
PORT_MAX = 65535
"""A server's or bind's port beyond it is refused ("invalid port"); a bind's 0 too."""
#: What HAProxy's own parser bounds (``haproxy -c`` refuses the config otherwise).
INTERVAL = Duration(positive=True)
CHECK_COUNT = Count(minimum=1)
WEIGHT_VALUE = Count(minimum=0, maximum=256)
WORD = Word()
EXPECT = Expect()
LOG = LogTarget()
LOG_LINE = LogLine()

# --- rows --------------------------------------------------------------------------------------

SERVER = ("server", "default-server")
"""Server options: on a ``server`` line or on ``default-server`` (which sets them for the
servers after it in the section, or in the sections a ``defaults`` section precedes)."""
_BACKEND = ("defaults", "backend", "listen")
_FRONTEND = ("defaults", "frontend", "listen")


def _server(name: str, field: str | None, effective: str | None, codec: Any = None,
            default: Any = None) -> Directive:  # fmt: skip
    return Directive(name, SERVER, field=field, codec=codec, default=default, effective=effective)


# Server options lbgen writes (view) and reads (effective model), in the order the view writes
# them on a default-server/server line.
INTER = _server("inter", "health.interval", "inter", INTERVAL, 2 * _S)
FASTINTER = _server("fastinter", "health.fast_interval", "fastinter", INTERVAL)
DOWNINTER = _server("downinter", "health.down_interval", "downinter", INTERVAL)
RISE = _server("rise", "health.rise", "rise", CHECK_COUNT, 2)
FALL = _server("fall", "health.fall", "fall", CHECK_COUNT, 3)
PORT = _server("port", "health.port", "check_port", COUNT)
SLOWSTART = _server("slowstart", "slowstart", "slowstart", DURATION, 0)
MAXCONN = _server("maxconn", "maxconn", "maxconn", COUNT, 0)
MAXQUEUE = _server("maxqueue", "maxqueue", "maxqueue", COUNT, 0)
WEIGHT = _server("weight", "weight", "weight", WEIGHT_VALUE, 1)
CHECK = _server("check", "health.check", "check")
CHECK_SSL = _server("check-ssl", "health.check", "check_ssl")
VERIFY = _server("verify", None, "verify", WORD, "required")
CHECK_SNI = _server("check-sni", "health.sni", "check_sni", WORD)
CRT = _server("crt", "health.client_cert", "crt", WORD)
BACKUP = _server("backup", "backup", "backup")
DISABLED = _server("disabled", "disabled", "disabled")
ENABLED = _server("enabled", "disabled", None)
"""The negation of ``disabled`` (the spec's ``disabled: false`` writes nothing)."""
INIT_ADDR = _server("init-addr", None, "init_addr", WORD)
SEND_PROXY = tuple(
    _server(name, None, "send_proxy")
    for name in ("send-proxy", "send-proxy-v2", "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn")
)
"""The PROXY protocol towards the server: the model keeps which one (the flag's name)."""

LBGEN_VERIFY = "none"
"""The ``verify`` lbgen writes with a TLS check (the importer knows it as lbgen's own)."""
LBGEN_INIT_ADDR = "last,libc,none"
"""The ``init-addr`` lbgen writes for a DNS-named server: start even when it does not resolve."""

TIMING = (INTER, FASTINTER, DOWNINTER, RISE, FALL, PORT)
"""Check timing and port, on ``default-server`` only when the pool checks its servers."""
SERVER_PARAMS = (SLOWSTART, MAXCONN, MAXQUEUE, WEIGHT)
"""Per-server parameters: ``default-server`` holds the pool's, ``server`` what differs."""

_MODELLED_SERVER = (
    *TIMING, *SERVER_PARAMS, CHECK, CHECK_SSL, VERIFY, CHECK_SNI, CRT, BACKUP, DISABLED, ENABLED,
    INIT_ADDR, *SEND_PROXY,
    _server("ssl", None, "ssl"),
    _server("sni", None, "sni", WORD),
    _server("ca-file", None, "ca_file", WORD),
    _server("addr", None, "check_addr", WORD),
    _server("resolvers", None, "resolvers", WORD),
)  # fmt: skip

# Value-taking server keywords lbgen does not model: rows so that a reader never takes their
# value for a flag. Kept complete for real configs of HAProxy 2.4 - 3.x.
_UNMODELLED_SERVER_VALUES = tuple(
    sorted(
        word_set(
            """
            agent-addr agent-inter agent-port agent-send alpn check-alpn check-proto ciphers
            ciphersuites client-sigalgs cookie crl-file curves error-limit guid hash-key id
            log-proto max-reuse minconn namespace npn observe on-error on-marked-down
            on-marked-up pool-conn-name pool-low-conn pool-max-conn pool-purge-delay proto
            proxy-v2-options redir resolve-net resolve-opts resolve-prefer set-proxy-v2-tlv-fmt
            shard sigalgs socks4 source ssl-max-ver ssl-min-ver tcp-ut track usesrc verifyhost ws
            """
        )
    )
)

_TIMEOUT_ROWS = (
    Directive("timeout client", _FRONTEND, "timeouts.client", codec=DURATION,
              effective="timeouts.client"),
    Directive("timeout client-fin", _FRONTEND, "timeouts.client_fin", codec=DURATION,
              effective="timeouts.client_fin"),
    Directive("timeout connect", _BACKEND, "timeouts.connect", codec=DURATION,
              effective="timeouts.connect"),
    Directive("timeout server", _BACKEND, "timeouts.server", codec=DURATION,
              effective="timeouts.server"),
    Directive("timeout tunnel", _BACKEND, "timeouts.tunnel", codec=DURATION,
              effective="timeouts.tunnel"),
    Directive("timeout server-fin", _BACKEND, "timeouts.server_fin", codec=DURATION,
              effective="timeouts.server_fin"),
    Directive("timeout queue", _BACKEND, "timeouts.queue", codec=DURATION,
              effective="timeouts.queue"),
    Directive("timeout check", _BACKEND, "health.timeout", codec=DURATION,
              effective="timeouts.check"),
)  # fmt: skip
"""``timeout`` keywords in the order the view writes them (frontend ones, then backend ones)."""
FRONTEND_TIMEOUTS = _TIMEOUT_ROWS[:2]
# lbgen's own stats page and liveness endpoint: ``timeout client`` of their frontends, with
# lbgen's values when the spec gives none (HAProxy's "timeout client" row above reads them back;
# these rows are the view's, not the table's: one row per keyword and context).
STATS_TIMEOUT = Directive("timeout client", ("frontend",), "global.stats.timeout",
                          codec=DURATION, default=30 * _S)  # fmt: skip
HEALTH_TIMEOUT = Directive("timeout client", ("frontend",), "global.health.timeout",
                           codec=DURATION, default=5 * _S)  # fmt: skip
BACKEND_TIMEOUTS = _TIMEOUT_ROWS[2:7]
CHECK_TIMEOUT = _TIMEOUT_ROWS[7]

MODE = Directive("mode", (*_BACKEND, "frontend"), "mode", codec=WORD, default="tcp",
                 effective="mode")  # fmt: skip
BALANCE = Directive("balance", _BACKEND, "balance", codec=WORD, default="roundrobin",
                    effective="balance")  # fmt: skip
RETRIES = Directive("retries", _BACKEND, "retries", codec=COUNT, default=3, effective="retries")
REDISPATCH = Directive("option redispatch", _BACKEND, "redispatch", default=False,
                       effective="redispatch")  # fmt: skip
HTTP_EXPECT = Directive("http-check expect", _BACKEND, "health.expect", codec=EXPECT,
                        effective="health.expect")  # fmt: skip
HTTP_EXPECT_BODY = Directive("http-check expect string", _BACKEND, "health.expect_body",
                             codec=WORD, effective="health.expect_body")  # fmt: skip
"""A string the check's answer must contain: a rule of its own, besides the status one (HAProxy
2.2+ runs every ``http-check expect`` rule on the answer)."""
HTTPCHK = Directive("option httpchk", _BACKEND, "health.check", effective="health.check")
HTTP_CHECK_VERSION = "HTTP/1.0"
"""The HTTP version of a check request when neither ``option httpchk`` nor ``http-check send``
gives one (the configuration manual's default for both)."""
TCP_CHECK = Directive("option tcp-check", _BACKEND, "health.check")
SSL_HELLO_CHK = Directive("option ssl-hello-chk", _BACKEND, "health.check")
"""``health.check: ssl-hello``: an SSLv3/TLS hello on a plain connection, any TLS answer passes."""
BIND = Directive("bind", ("frontend", "listen"), "bind", codec=WORD, effective="binds")
DEFAULT_BACKEND = Directive("default_backend", _FRONTEND, "pool", codec=WORD,
                            effective="backend")  # fmt: skip
PROXY_MAXCONN = Directive("maxconn", _FRONTEND, None, codec=COUNT, effective="maxconn")
GLOBAL_MAXCONN = Directive("maxconn", ("global",), "global.maxconn", codec=COUNT)
GLOBAL_LOG = Directive("log", ("global",), "global.log", codec=LOG_LINE)

TABLE: DirectiveTable = table(
    "haproxy",
    (
        *_MODELLED_SERVER,
        *(_server(name, None, None, WORD) for name in _UNMODELLED_SERVER_VALUES),
        _server("agent-check", None, None),
        *_TIMEOUT_ROWS,
        MODE, BALANCE, RETRIES, REDISPATCH, HTTP_EXPECT, HTTP_EXPECT_BODY, TCP_CHECK,
        SSL_HELLO_CHK, HTTPCHK, BIND,
        DEFAULT_BACKEND, PROXY_MAXCONN, GLOBAL_MAXCONN, GLOBAL_LOG,
    ),
)  # fmt: skip
"""Every row, server options first."""


@record
class Ignored:
    """A proxy setting HAProxy accepts but does not act on in some situation, so that it is no
    part of what the proxy does there (and no difference in a diff).

    ``keyword`` is the setting as the reader keys it: the words a line starts with
    (``errorfile``, ``timeout http-request``) or an option (``option forwardfor``, also when
    negated). ``when``: ``tcp`` -- the proxy is not in ``mode http``; ``no-log`` -- no log
    target is in effect for the proxy (no ``log`` line, or ``log global`` without global ones).
    ``fallback``: what HAProxy uses instead (``option httplog`` in a tcp frontend is
    ``option tcplog``). ``warning``: the start of what ``haproxy -c`` prints about it, when it
    says anything (tests/test_haproxy_semantics.py holds each row to the engine's behaviour).
    """

    keyword: str
    when: str
    fallback: str | None = None
    warning: str | None = None


IGNORED: tuple[Ignored, ...] = (
    # HTTP-only settings: a tcp proxy forwards bytes, it never parses a request or answers one.
    Ignored("errorfile", "tcp"),
    Ignored("timeout http-request", "tcp"),
    Ignored("timeout http-keep-alive", "tcp"),
    Ignored("option http-server-close", "tcp"),
    Ignored("option forwardfor", "tcp", warning="'option forwardfor' ignored for"),
    Ignored("option httplog", "tcp", fallback="option tcplog",
            warning="'option httplog' not usable with"),
    # Log settings without a log target: nothing is logged, whatever the format.
    Ignored("option dontlognull", "no-log"),
    Ignored("option tcplog", "no-log"),
    Ignored("option httplog", "no-log"),
    Ignored("option httpslog", "no-log"),
    Ignored("log-format", "no-log"),
    # "log global" copies the global section's log targets: without any, it adds none.
    Ignored("log global", "no-global-log"),
)  # fmt: skip
"""What HAProxy ignores where; the tcp rows apply before the no-log rows (a tcp frontend's
``option httplog`` becomes ``option tcplog``, which no log target then makes moot)."""

# --- keywords HAProxy removed ----------------------------------------------------------------

NEWEST_KNOWN = (3, 2)
"""The newest HAProxy release :data:`REMOVED` knows; assumed when no version is known."""

OLDEST_TARGET = (2, 4)
"""The oldest HAProxy lbgen writes configs for: a keyword it no longer accepts is refused by
every HAProxy a config read here is meant for."""

REMOVED: Mapping[str, tuple[tuple[int, int], str]] = {
    "nbproc": ((2, 5), "threads are used instead (nbthread)"),
    "tune.chksize": ((2, 5), "tune.bufsize is used instead"),
    "bind-process": ((2, 7), "threads replace processes; use thread groups"),
    "tune.ssl.capture-cipherlist-size": ((2, 7), "use tune.ssl.capture-buffer-size"),
    "monitor-net": ((2, 4), "use 'http-request return status 200 if { src NET }'"),
    "block": ((2, 1), "use 'http-request deny'"),
    "redispatch": ((2, 1), "use 'option redispatch'"),
    "clitimeout": ((2, 1), "use 'timeout client'"),
    "contimeout": ((2, 1), "use 'timeout connect'"),
    "srvtimeout": ((2, 1), "use 'timeout server'"),
    "option forceclose": ((2, 0), "remove it (or 'option httpclose')"),
    "option http-tunnel": ((2, 1), "remove it: HTTP proxies need no tunnel mode any more"),
    "bind ... process": ((2, 7), "threads replace processes; remove it"),
}
"""Keywords HAProxy no longer accepts: (first release that refuses to start, the way out).
Checked against haproxy 2.6's own messages (``haproxy -c``: "not supported any more since
HAProxy 2.5", "will be removed in version 2.7"); ``option http-tunnel``: "not supported any
more since HAProxy 2.1")."""
_REQ_RSP = re.compile(r"^(req|rsp)i?(add|rep|del|allow|deny|pass|tarpit|setbe)$")
_REQ_RSP_REMOVED = ((2, 1), "use the http-request/http-response rules")


def removed_keyword(words: tuple[str, ...]) -> str | None:
    """The :data:`REMOVED` entry a directive (its words) is, or None (``reqadd`` and the other
    ``req*``/``rsp*`` keywords are themselves)."""
    keyword, args = words[0], words[1:]
    if keyword in REMOVED:
        return keyword
    if keyword == "option" and args and f"option {args[0]}" in REMOVED:
        return f"option {args[0]}"
    if keyword == "bind" and "process" in args[1:]:
        return "bind ... process"
    if _REQ_RSP.match(keyword):
        return keyword
    return None


def removed_since(what: str) -> tuple[tuple[int, int], str]:
    """(the first release that refuses ``what``, the way out), ``what`` as
    :func:`removed_keyword` names it."""
    return REMOVED.get(what, _REQ_RSP_REMOVED)


# --- which side of a proxy a keyword works on -----------------------------------------------

FRONTEND_ONLY: frozenset[str] = frozenset(
    {
        "backlog", "bind", "capture", "clitcpka-cnt", "clitcpka-idle", "clitcpka-intvl",
        "declare capture", "default_backend", "error-log-format", "log-format", "log-format-sd",
        "maxconn", "monitor", "monitor-uri", "rate-limit", "tcp-request connection",
        "tcp-request session", "timeout client", "timeout client-fin", "unique-id-format",
        "unique-id-header", "use_backend",
        "option accept-invalid-http-request", "option clitcpka", "option contstats",
        "option disable-h2-upgrade", "option dontlog-normal", "option dontlognull",
        "option h1-case-adjust-bogus-client", "option http-ignore-probes",
        "option http-use-proxy-header", "option httplog", "option httpslog",
        "option idle-close-on-response", "option log-separate-errors", "option logasap",
        "option socket-stats", "option tcp-smart-accept", "option tcplog",
    }
)  # fmt: skip
"""Proxy keywords only a frontend takes (a ``listen`` is both), as HAProxy 2.6's proxy
keywords matrix lists them (configuration manual, 4.1), by their first one or two words: in a
backend ``haproxy -c`` ignores them ("has no frontend capability", "is not a frontend"), or
they do nothing there. One correction to the matrix: it lists ``option tcplog`` for backends
too, but HAProxy says "'option tcplog' directive is ignored in backends".
``tests/test_haproxy_semantics.py`` holds every row to the engine where it says so."""

BACKEND_ONLY: frozenset[str] = frozenset(
    {
        "balance", "cookie", "default-server", "dispatch", "external-check", "force-persist",
        "fullconn", "hash-type", "http-check", "http-reuse", "http-send-name-header",
        "ignore-persist", "load-server-state-from-file", "max-keep-alive-queue",
        "persist rdp-cookie", "retries", "retry-on", "server", "server-state-file-name",
        "server-template", "source", "srvtcpka-cnt", "srvtcpka-idle", "srvtcpka-intvl", "stick",
        "tcp-check", "tcp-response", "timeout check", "timeout connect", "timeout queue",
        "timeout server", "timeout server-fin", "timeout tunnel", "transparent", "use-fcgi-app",
        "use-server",
        "option abortonclose", "option accept-invalid-http-response", "option allbackups",
        "option checkcache", "option external-check", "option h1-case-adjust-bogus-server",
        "option http-pretend-keepalive", "option httpchk", "option ldap-check",
        "option log-health-checks", "option mysql-check", "option persist", "option pgsql-check",
        "option prefer-last-server", "option redis-check", "option redispatch",
        "option smtpchk", "option spop-check", "option srvtcpka", "option ssl-hello-chk",
        "option tcp-check", "option tcp-smart-connect", "option transparent",
    }
)  # fmt: skip
"""Proxy keywords only a backend takes, from the same matrix: in a frontend ``haproxy -c``
ignores them ("has no backend capability", "only allowed in 'backend' sections"), or they do
nothing there. Every other keyword works on both sides."""


def proxy_side(words: tuple[str, ...]) -> str | None:
    """``"frontend"`` or ``"backend"`` for a proxy line (its words) that works on that side
    only (:data:`FRONTEND_ONLY`, :data:`BACKEND_ONLY`); None for one that works on both, and
    for a keyword neither names. ``no option X`` and ``default option X`` are ``option X``."""
    if words[:1] in (("no",), ("default",)):
        words = words[1:]
    for size in (2, 1):
        phrase = " ".join(words[:size])
        if phrase in FRONTEND_ONLY:
            return "frontend"
        if phrase in BACKEND_ONLY:
            return "backend"
    return None


@record
class HttpOnly:
    """A proxy keyword that only works in ``mode http``: a tcp proxy ignores it.

    ``keyword``: the words a line starts with (``option forwardfor``, ``cookie``,
    ``http-request``); ``warning``: what ``haproxy -c`` 2.6 prints about it in a tcp proxy
    (a part of the message that names it), None where it says nothing (the effective model's
    :data:`IGNORED` rows prove those on the running engine). ``tests/test_lint_haproxy.py``
    holds every row with a warning to ``haproxy -c``: printed in mode tcp, not in mode http."""

    keyword: str
    warning: str | None = None


HTTP_ONLY: tuple[HttpOnly, ...] = (
    # "'option X' ignored for proxy 'p' as it requires HTTP mode."
    *(
        HttpOnly(f"option {name}", f"'option {name}' ignored for proxy")
        for name in (
            "accept-invalid-http-request", "accept-invalid-http-response", "checkcache",
            "disable-h2-upgrade", "forwardfor", "http-buffer-request", "http-ignore-probes",
            "http-no-delay", "http-pretend-keepalive", "http-use-proxy-header",
            "idle-close-on-response", "originalto", "prefer-last-server",
        )
    ),
    # "'option httplog' not usable with proxy 'p' (needs 'mode http'). Falling back to
    # 'option tcplog'."
    HttpOnly("option httplog", "'option httplog' not usable with proxy"),
    HttpOnly("option httpslog", "'option httpslog' not usable with proxy"),
    # Connection-mode options: silent, and nothing changes (IGNORED proves it on the engine).
    HttpOnly("option http-server-close"),
    HttpOnly("option httpclose"),
    HttpOnly("option http-keep-alive"),
    # "cookie will be ignored for proxy 'p' (needs 'mode http')." (every form: insert,
    # rewrite, prefix, passive)
    HttpOnly("cookie", "cookie will be ignored for proxy"),
    HttpOnly("monitor-uri", "monitor-uri will be ignored for proxy"),
    # "'http-request' rules ignored for proxy 'p' as they require HTTP mode."
    HttpOnly("http-request", "'http-request' rules ignored for proxy"),
    HttpOnly("http-response", "'http-response' rules ignored for proxy"),
    HttpOnly("http-after-response", "'http-after-response' rules ignored for proxy"),
    HttpOnly("redirect", "'redirect' rules ignored for proxy"),
    HttpOnly("stats", "'stats' statement ignored for proxy"),
)  # fmt: skip
"""Keywords a tcp proxy ignores because they need ``mode http`` (lint's LB114), as HAProxy
2.6 says it (``haproxy -c``: "... as it requires HTTP mode", "... (needs 'mode http')")."""


def http_only(words: tuple[str, ...]) -> HttpOnly | None:
    """The :data:`HTTP_ONLY` row a proxy line (its words) is, or None."""
    for row in HTTP_ONLY:
        wanted = tuple(row.keyword.split())
        if words[: len(wanted)] == wanted:
            return row
    return None


STATIC_BALANCE = frozenset({"static-rr", "first"})
"""Algorithms on which a weight change while a server is up does nothing: ``static-rr``
("changing a server's weight on the fly will have no effect") and ``first`` ("ignores the
server weight": HAProxy 2.6 ramps its weight after slowstart all the same, ``show stat`` says,
and never reads it)."""
HASH_BALANCE = frozenset({"source", "uri", "url_param", "hdr", "rdp-cookie", "hash"})
"""Hashing algorithms: "static by default, which means that changing a server's weight on the
fly will have no effect, but this can be changed using 'hash-type'" (``random`` hashes too, but
always on the consistent tree: "dynamic weight changes immediately take effect")."""


def weights_are_static(balance: str | None, hash_type: str | None = None) -> bool:
    """Whether ``balance`` (``source``, ``hdr(host)``, ``uri whole``...) keeps each server's
    weight fixed while it is up, so that ``slowstart`` cannot ramp it (HAProxy 2.6 manual,
    ``balance``; ``hash-type map-based``: "weight changes while a server is up will be ignored.
    This means that there will be no slow start"). ``hash_type``: the ``hash-type`` method in
    effect (None: HAProxy's default, map-based); ``consistent`` makes the hashes dynamic."""
    algorithm = "".join((balance or "roundrobin").split("(")[0].split()[:1])
    if algorithm in STATIC_BALANCE:
        return True
    return algorithm in HASH_BALANCE and hash_type != "consistent"


POSITIONAL_BALANCE = frozenset({"first", "source", "uri", "url_param", "hdr", "rdp-cookie", "hash"})
"""Balancing algorithms that pick a server by its position: ``first`` fills the servers from
the lowest id up, the hashing ones map a hash onto the servers (map-based) or onto their ids
(consistent); a server's id defaults to its position in the backend (configuration manual,
``balance``, ``hash-type``, ``id``)."""


OPTIONS_ON_BY_DEFAULT = frozenset({"option http-keep-alive"})
"""The ``option`` flags HAProxy 2.6 turns on by itself ("the default mode" of an HTTP proxy);
every other is off until a line says it, so ``no option X`` says what its absence says."""


LOG_FORMAT_OPTIONS = ("option tcplog", "option httplog", "option httpslog")
"""Options that each choose a proxy's one log format: the last one in effect wins."""

ROLES: Mapping[str, tuple[str, ...]] = {"stats": ("stats",), "health": ("monitor-uri",)}
"""A frontend's role -> the keywords that give a frontend or listen section that role: the
load balancer's own stats page, its liveness endpoint. Diffs match these frontends by role."""

# --- the readiness path of the health frontend ------------------------------------------------

READY_RULE = "http-request"
"""The keyword of the readiness rules in the health frontend. ``monitor-uri`` (the liveness
path) is intercepted before any ``http-request`` rule and answers 200 whatever the servers do;
the readiness path is ``http-request return`` rules (HAProxy >= 2.2): one 503 per pool, when
``nbsrv(pool)`` -- the pool's usable servers: its active ones that are UP, else its backups --
is below 1, then a 200."""

_READY = re.compile(
    r"return status (?P<status>200|503) if \{ path (?P<path>\S+) \}"
    r"(?: \{ nbsrv\((?P<pool>[^()\s]+)\) lt 1 \})?"
)


def ready_rules(path: str, pools: tuple[str, ...]) -> list[str]:
    """The ``http-request`` arguments that answer ``path``: 503 while one of ``pools`` has no
    usable server, else 200."""
    return [
        *(f"return status 503 if {{ path {path} }} {{ nbsrv({pool}) lt 1 }}" for pool in pools),
        f"return status 200 if {{ path {path} }}",
    ]


def read_ready_rule(args: tuple[str, ...]) -> tuple[str, str | None] | None:
    """``(path, pool)`` of one rule :func:`ready_rules` writes (``pool`` None for the 200),
    read from an ``http-request`` line's arguments; None for any other rule."""
    match = _READY.fullmatch(" ".join(args))
    if match is None or (match["status"] == "503") != (match["pool"] is not None):
        return None
    return match["path"], match["pool"]


def server_option(word: str) -> Directive | None:
    """The row of server keyword ``word`` (None for a keyword lbgen does not know)."""
    return TABLE.named(word, "server")


SERVER_DEFAULTS: Mapping[str, Any] = {
    row.effective: row.default
    for row in (*SERVER_PARAMS, INTER, RISE, FALL)
    if row.effective is not None
}
"""HAProxy's own values of a server's modelled options when nothing sets them (fastinter and
downinter fall back to inter)."""
PROXY_DEFAULTS: Mapping[str, Any] = {
    row.effective: row.default
    for row in (MODE, BALANCE, RETRIES, REDISPATCH)
    if row.effective is not None
}
"""HAProxy's own values of a proxy's modelled settings."""

DIFF_NAMES: Mapping[str, str] = {
    **{
        row.effective: row.name
        for row in reversed(TABLE.rows)  # the first row of an attribute names it
        if row.effective is not None
    },
    "balance_args": "balance arguments",
    # The server line's "port" parameter, told apart from the port of the server's address.
    "check_port": "check port",
    # Its value is the parameter (send-proxy, send-proxy-v2, ...): "send-proxy send-proxy".
    "send_proxy": "proxy protocol",
}
"""Effective-model attribute -> what ``lbgen diff`` calls it (``maxconn``, ``check port``)."""

__all__ = [
    "BACKEND_ONLY",
    "BACKEND_TIMEOUTS",
    "DIFF_NAMES",
    "FRONTEND_ONLY",
    "FRONTEND_TIMEOUTS",
    "HASH_BALANCE",
    "HTTP_CHECK_VERSION",
    "HTTP_ONLY",
    "IGNORED",
    "LOG_FORMAT_OPTIONS",
    "OPTIONS_ON_BY_DEFAULT",
    "POSITIONAL_BALANCE",
    "PROXY_DEFAULTS",
    "READY_RULE",
    "ROLES",
    "SERVER",
    "SERVER_DEFAULTS",
    "SERVER_PARAMS",
    "STATIC_BALANCE",
    "TABLE",
    "TIMING",
    "HttpOnly",
    "Ignored",
    "http_only",
    "parse_haproxy_time",
    "proxy_side",
    "read_ready_rule",
    "ready_rules",
    "server_option",
    "weights_are_static",
]
