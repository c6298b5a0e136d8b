"""nginx's (and NGINX Plus's) two-way directive table.

One row per mapping between a spec field and an nginx directive or ``server``/``health_check``
parameter. The view writes values through ``row.codec.render``; the effective reader and the
importer read them back through ``row.codec.parse``; ``diff`` names model attributes after the
rows; the fields nginx OSS cannot express are rows with ``unsupported`` set, whose text is the
warning the view emits when the field is set.

Contexts are where nginx accepts a row: ``stream`` (the stream block), ``server`` (a stream
``server {}`` block), ``upstream`` (an ``upstream {}`` block), ``match`` (an NGINX Plus ``match``
block); ``upstream server`` and ``health_check`` name a parameter (``weight=``) of an upstream's
``server`` line and of the NGINX Plus ``health_check`` directive.

Durations are microseconds (lbgen's base). nginx has no unit below the millisecond: a duration
renders rounded up to whole ms, so ``parse(render(v)) == v`` holds for whole milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lbgen.directives import Directive, DirectiveTable, table
from lbgen.frozen import record
from lbgen.spec.grammar import EXPECT_BODY
from lbgen.units import ceil_seconds, format_nginx_duration

_MS = 1_000
_S = 1_000 * _MS
_UNITS_US = {
    "ms": _MS, "s": _S, "m": 60 * _S, "h": 3_600 * _S, "d": 86_400 * _S, "w": 604_800 * _S,
    "M": 2_592_000 * _S, "y": 31_536_000 * _S,
}  # fmt: skip
_TIME_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)?")


def parse_nginx_time(text: str) -> int | None:
    """nginx time in microseconds: bare numbers are seconds, parts may combine (``1h30m``)."""
    compact = text.replace(" ", "")
    if not compact:
        return None
    total, pos = 0, 0
    while pos < len(compact):
        match = _TIME_PART.match(compact, pos)
        if not match:
            return None
        total += int(match.group(1)) * _UNITS_US[match.group(2) or "s"]
        pos = match.end()
    return total


# --- codecs ------------------------------------------------------------------------------------


@record
class Integer:
    """A whole number (``weight=3``, ``max_conns=100``); nginx refuses signs and spaces."""

    minimum: int = 0

    def render(self, value: Any) -> str:
        """``3`` -> ``"3"``."""
        return str(int(value))

    def parse(self, text: str) -> int:
        """``"3"`` -> ``3``; anything but digits at or above ``minimum`` is a ValueError."""
        if not text.isdigit() or int(text) < self.minimum:
            raise ValueError(f"not a whole number >= {self.minimum}: {text!r}")
        return int(text)


@record
class Time:
    """An nginx time (``proxy_connect_timeout 5s``, ``slow_start=30s``), in microseconds."""

    def render(self, value: Any) -> str:
        """Microseconds in the largest exact unit, sub-millisecond parts rounded up."""
        return format_nginx_duration(int(value))

    def parse(self, text: str) -> int:
        """nginx's reading of ``text`` (bare numbers are seconds)."""
        us = parse_nginx_time(text)
        if us is None:
            raise ValueError(f"not an nginx time: {text!r}")
        return us


@record
class FailTimeout:
    """``fail_timeout``: nginx OSS's passive check window, ``interval * fall`` rounded up to
    whole seconds (the time ``fall`` failed active checks would have taken).

    It renders ``(interval, fall)``; :meth:`parse` gives the window nginx reads (µs) and
    :meth:`interval` solves it back for the interval given ``fall`` (read from ``max_fails``):
    exact for every interval of whole milliseconds whose ``interval * fall`` is whole seconds.
    """

    def render(self, value: Any) -> str:
        """``(interval_us, fall)`` -> ``"30s"``."""
        interval, fall = value
        return f"{ceil_seconds(int(interval) * int(fall))}s"

    def parse(self, text: str) -> int:
        """The window in microseconds."""
        return Time().parse(text)

    @staticmethod
    def interval(window_us: int, fall: int) -> int:
        """The interval lbgen renders as ``window_us`` with ``fall``: rounded down to whole ms,
        it renders back to exactly ``window_us``."""
        return window_us // fall // _MS * _MS


@record
class Tries:
    """``proxy_next_upstream_tries``: the first attempt plus ``retries``."""

    def render(self, value: Any) -> str:
        """``retries`` -> ``retries + 1``."""
        return str(int(value) + 1)

    def parse(self, text: str) -> int:
        """``tries`` -> ``tries - 1`` retries (``0``, unlimited, is a ValueError: no retries
        count says it)."""
        tries = Integer(minimum=1).parse(text)
        return tries - 1


@record
class OnOff:
    """``on`` / ``off``."""

    def render(self, value: Any) -> str:
        """True -> ``on``."""
        return "on" if value else "off"

    def parse(self, text: str) -> bool:
        """``on`` -> True, ``off`` -> False."""
        if text not in ("on", "off"):
            raise ValueError(f"not on/off: {text!r}")
        return text == "on"


#: spec ``balance`` -> the upstream directive nginx balances that way with (none: nginx's
#: default weighted round robin, which also stands in for static-rr).
BALANCE_METHODS: Mapping[str, tuple[str, ...]] = {
    "roundrobin": (),
    "static-rr": (),
    "leastconn": ("least_conn",),
    "source": ("hash", "$remote_addr", "consistent"),
    "random": ("random", "two", "least_conn"),
}
#: spec ``random`` over servers of different weights. ``random two least_conn`` keeps the
#: lighter of two weighted draws, and nginx draws the second among the others and lets it win a
#: tie (``ngx_stream_upstream_get_random2_peer``): while connections are few, two servers of
#: weights 25 and 75 get about 75% and 25% (measured with nginx 1.22). Plain ``random`` draws
#: by weight alone.
WEIGHTED_RANDOM = ("random",)
#: Balances that hash or pick at random: nginx refuses ``backup`` servers with them.
HASHING_BALANCES = frozenset({"source", "random"})
#: Balancing method directives after which nginx refuses a ``backup`` server ("balancing
#: method does not support parameter backup"; nginx -t, 1.22).
METHODS_WITHOUT_BACKUP = frozenset({"hash", "random"})


@record
class Method:
    """The balancing method directive of an upstream (spec ``balance``)."""

    def render(self, value: Any) -> str:
        """``leastconn`` -> ``least_conn``; round robin -> ``""`` (no directive)."""
        return " ".join(BALANCE_METHODS[str(value)])

    def parse(self, text: str) -> str:
        """The spec balance written exactly as lbgen writes it (``""`` is ``roundrobin``)."""
        words = tuple(text.split())
        if words == WEIGHTED_RANDOM:
            return "random"
        for balance, written in BALANCE_METHODS.items():
            if written == words:
                return balance
        raise ValueError(f"no spec balance is written {text!r}")


#: The balancing method directives of a stream upstream, by keyword, as the effective model
#: names them: what lbgen writes for a spec balance is named after it, other ``hash`` keys keep
#: their own name (with their arguments). http's ``ip_hash`` is not one: nginx refuses it in a
#: stream upstream, and so does the reader.
METHOD_NAMES: Mapping[str, str] = {
    "least_conn": "leastconn",
    "random": "random",
    "hash": "hash",
}


_STATUS_REGEX = re.compile(r"\^HTTP/1\\\.\[01\] \(?(\d{3}(?:\|\d{3})*)\)? ?")


@record
class StatusExpect:
    """The regular expression of an NGINX Plus ``match`` block's ``expect ~`` that accepts the
    answers whose status is one of the spec's ``health.expect`` codes."""

    def render(self, value: Any) -> str:
        """``(200, 204)`` -> ``^HTTP/1\\.[01] (200|204) `` (the argument after ``~``)."""
        return f"^HTTP/1\\.[01] ({'|'.join(str(int(code)) for code in value)}) "

    def parse(self, text: str) -> tuple[int, ...]:
        """The codes such a regular expression accepts, sorted; another regex is a ValueError."""
        found = _STATUS_REGEX.fullmatch(text)
        if found is None:
            raise ValueError(f"not a status-code expectation: {text!r}")
        return tuple(sorted({int(code) for code in found.group(1).split("|")}))


@record
class BodyExpect:
    """The regular expression of an NGINX Plus ``match`` block's ``expect ~`` that searches the
    answer for the spec's ``health.expect_body`` (its grammar has no regex character)."""

    def render(self, value: Any) -> str:
        """``ok`` -> ``ok`` (the argument after ``~``)."""
        return str(value)

    def parse(self, text: str) -> str:
        """The string such a regex searches for; a regex with metacharacters is a ValueError."""
        if not EXPECT_BODY.matches(text):
            raise ValueError(f"not a plain string to search for: {text!r}")
        return text


@record
class Zone:
    """``zone NAME SIZE``: the upstream's shared memory (name and KiB)."""

    def render(self, value: Any) -> str:
        """``("cp", 64)`` -> ``"cp 64k"``."""
        name, kib = value
        return f"{name} {int(kib)}k"

    def parse(self, text: str) -> tuple[str, int]:
        """``"cp 64k"`` -> ``("cp", 64)``."""
        name, _, size = text.partition(" ")
        if not name or not size.endswith("k") or not size[:-1].isdigit():
            raise ValueError(f"not a zone NAME SIZEk: {text!r}")
        return name, int(size[:-1])


# --- rows --------------------------------------------------------------------------------------

_SERVER_PARAM = ("upstream server",)
_OSS_NO_CHECKS = "nginx OSS has no active health checks, so {field} has no equivalent; left out"
_NEEDS_ACTIVE = "{field} needs an active check; left out"
_ONE_INTERVAL = "NGINX Plus health_check has one interval; {field} has no equivalent; left out"
_NO_STREAM_TIMEOUT = "nginx stream has no {field}; left out"
_UNSUPPORTED = "nginx-unsupported"

CHECK_DETAILS = (
    "health.path", "health.expect", "health.expect_body", "health.sni", "health.client_cert",
)  # fmt: skip
"""Fields that only qualify a check: the view names them only where the spec writes them (the
check's own warning covers their built-in defaults)."""


def _unsupported(field: str, reason: str) -> Directive:
    """A field nginx cannot express: the row's text is the view's warning."""
    return Directive(
        name=field, contexts=("-",), field=field,
        unsupported=reason.format(field=field), code=_UNSUPPORTED,
    )  # fmt: skip


_COMMON_ROWS: tuple[Directive, ...] = (
    # upstream server parameters
    # weight=0 is read (lint names it); the view writes a weight-0 server as down instead.
    Directive("weight", _SERVER_PARAM, "weight", codec=Integer(), default=1, effective="weight"),
    Directive("max_fails", _SERVER_PARAM, "health.fall", codec=Integer(), default=1,
              effective="max_fails"),
    Directive("fail_timeout", _SERVER_PARAM, "health.interval", inputs=("health.fall",),
              codec=FailTimeout(), default=10 * _S, effective="fail_timeout"),
    Directive("max_conns", _SERVER_PARAM, "maxconn", codec=Integer(), default=0,
              effective="maxconn"),
    Directive("backup", _SERVER_PARAM, "backup", effective="backup"),
    Directive("down", _SERVER_PARAM, "disabled", default=False, effective="disabled"),
    # upstream block
    Directive("zone", ("upstream",), codec=Zone(), effective="zone"),
    Directive("least_conn", ("upstream",), "balance", codec=Method(), effective="balance"),
    Directive("hash", ("upstream",), "balance", codec=Method(), effective="balance"),
    Directive("random", ("upstream",), "balance", codec=Method(), effective="balance"),
    # stream server block (also the stream block: its value is inherited)
    Directive("listen", ("server",), "bind", effective="binds"),
    Directive("proxy_pass", ("server",), "pool", effective="backend"),
    Directive("proxy_connect_timeout", ("stream", "server"), "timeouts.connect", codec=Time(),
              default=60 * _S, effective="timeouts.connect"),
    # One idle timeout for the spec's three: the longest of client, server and tunnel.
    Directive("proxy_timeout", ("stream", "server"), "timeouts.server", codec=Time(),
              default=600 * _S, effective="timeouts.idle"),
    Directive("proxy_next_upstream", ("stream", "server"), codec=OnOff(), default=True,
              effective="next_upstream"),
    Directive("proxy_next_upstream_tries", ("stream", "server"), "retries", codec=Tries(),
              default=0, effective="next_upstream_tries"),
    Directive("proxy_protocol", ("stream", "server"), codec=OnOff(), default=False,
              effective="proxy_protocol"),
    # what nginx (OSS and Plus) cannot express
    _unsupported("maxqueue", "nginx stream upstreams have no per-server queue (maxqueue); "
                 "left out"),
    _unsupported("timeouts.client_fin", _NO_STREAM_TIMEOUT),
    _unsupported("timeouts.server_fin", _NO_STREAM_TIMEOUT),
    _unsupported("timeouts.queue", _NO_STREAM_TIMEOUT),
    # The health listener is a stream server that returns its answer at once and closes: it
    # never waits for a client, so a client timeout has nothing to bound.
    _unsupported("global.health.timeout", "nginx's liveness listener answers at once without "
                 "waiting for the client (stream return), so {field} has no equivalent; left out"),
)  # fmt: skip

_OSS_ONLY_ROWS: tuple[Directive, ...] = (
    _unsupported("health.rise", _OSS_NO_CHECKS),
    _unsupported("health.fast_interval", _OSS_NO_CHECKS),
    _unsupported("health.down_interval", _OSS_NO_CHECKS),
    _unsupported("health.timeout", _OSS_NO_CHECKS),
    _unsupported("health.port", _OSS_NO_CHECKS),
    *(_unsupported(name, _NEEDS_ACTIVE) for name in CHECK_DETAILS),
    _unsupported("slowstart", "slow start needs NGINX Plus (slow_start=); left out"),
)

_PLUS_ROWS: tuple[Directive, ...] = (
    Directive("health_check", ("server",), "health.check", effective="health.check"),
    Directive("interval", ("health_check",), "health.interval", codec=Time(), default=5 * _S,
              effective="inter"),
    Directive("fails", ("health_check",), "health.fall", codec=Integer(1), default=1,
              effective="fall"),
    Directive("passes", ("health_check",), "health.rise", codec=Integer(1), default=1,
              effective="rise"),
    Directive("port", ("health_check",), "health.port", codec=Integer(1), effective="health.port"),
    Directive("match", ("health_check",), "health.path", effective="health.rules"),
    Directive("send", ("match",), "health.path", effective="health.path"),
    Directive("expect", ("match",), "health.expect", codec=StatusExpect(),
              effective="health.expect"),
    # The same "expect ~" directive when the spec expects a string instead of status codes.
    Directive("expect ~", ("match",), "health.expect_body", codec=BodyExpect(),
              effective="health.expect_body"),
    Directive("health_check_timeout", ("server",), "health.timeout", codec=Time(),
              default=5 * _S, effective="timeouts.check"),
    Directive("slow_start", _SERVER_PARAM, "slowstart", codec=Time(), default=0,
              effective="slowstart"),
    _unsupported("health.fast_interval", _ONE_INTERVAL),
    _unsupported("health.down_interval", _ONE_INTERVAL),
)  # fmt: skip

TABLE: DirectiveTable = table("nginx", (*_COMMON_ROWS, *_OSS_ONLY_ROWS))
"""nginx OSS."""


def _plus_rows() -> tuple[Directive, ...]:
    """The OSS rows with the Plus rows in place of the OSS rows for the same fields that OSS
    cannot express."""
    # The check details (path, sni…) are not lost as such in NGINX Plus: they are lost with a
    # check kind it does not run (anything but http), which the view says per check kind.
    replaced = {row.field for row in _PLUS_ROWS} | set(CHECK_DETAILS)
    kept = tuple(row for row in TABLE if row.expressible or row.field not in replaced)
    return (*kept, *_PLUS_ROWS)


PLUS_TABLE: DirectiveTable = table("nginx-plus", _plus_rows())
"""NGINX Plus: the OSS table, with active health checks and slow start."""

CHECK_PARAMS: tuple[Directive, ...] = tuple(
    row for row in _PLUS_ROWS if row.contexts == ("health_check",) and row.codec is not None
)
"""The ``health_check`` parameters that carry a spec field (``interval=``, ``fails=`` ...), in
the order the view writes them."""

_DESCRIBED: Mapping[str, str] = {
    "balance": "balancing method",
    "balance_args": "balancing arguments",
}
"""Model attributes no single directive stands for: how a diff names them."""


def diff_names(directives: DirectiveTable) -> dict[str, str]:
    """Effective-model attribute -> the name a diff shows for it, from the table's rows.

    ``health_check`` parameters keep the model's names (``inter``, ``rise``, ``fall``): the
    same attributes hold ``max_fails`` accounting too, and diffs have always named them so.
    """
    names: dict[str, str] = {}
    for row in directives:
        if row.effective is None or not row.expressible:
            continue
        if row.contexts in (("health_check",), ("match",)):
            continue
        names.setdefault(row.effective, row.name)
    return {**names, **_DESCRIBED}


__all__ = [
    "BALANCE_METHODS",
    "CHECK_DETAILS",
    "CHECK_PARAMS",
    "HASHING_BALANCES",
    "METHOD_NAMES",
    "PLUS_TABLE",
    "TABLE",
    "FailTimeout",
    "Integer",
    "Method",
    "OnOff",
    "StatusExpect",
    "Time",
    "Tries",
    "Zone",
    "diff_names",
    "parse_nginx_time",
]
