"""Durations and addresses: parsed once, formatted per engine.

A duration is kept as whole microseconds. The spec insists on a unit because the engines disagree
on bare numbers (HAProxy reads milliseconds, nginx reads seconds).
"""

from __future__ import annotations

import functools
import ipaddress
import re

from lbgen.frozen import record
from lbgen.spec import grammar

_UNITS_US = {"us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
_UNITS_US["d"] = 24 * _UNITS_US["h"]
DURATION_PATTERN = grammar.DURATION.pattern

#: Largest unit first: formatting picks the largest unit that divides the value exactly.
_HAPROXY_UNITS = ("d", "h", "m", "s", "ms", "us")
_NGINX_UNITS = ("d", "h", "m", "s", "ms")


def parse_int(text: str) -> int | None:
    """The integer ``text`` spells, or None."""
    try:
        return int(text)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1024)  # a spec spells the same few durations over and over
def parse_duration(text: str) -> int:
    """``"1h"`` -> microseconds. Raises ValueError unless the text is digits plus one unit."""
    if not grammar.DURATION.matches(text):
        raise ValueError(text)
    unit = text.lstrip("0123456789")
    return int(text[: -len(unit)]) * _UNITS_US[unit]


@functools.lru_cache(maxsize=1024)  # a config writes the same few durations over and over
def _format(us: int, units: tuple[str, ...]) -> str:
    if us == 0:
        return "0" + units[-1]
    for unit in units:
        size = _UNITS_US[unit]
        if us % size == 0:
            return f"{us // size}{unit}"
    raise AssertionError("the smallest unit divides everything")  # pragma: no cover


def format_haproxy_duration(us: int) -> str:
    """Microseconds -> exact HAProxy time text in the largest unit (``3600000000`` -> ``1h``)."""
    return _format(us, _HAPROXY_UNITS)


def format_nginx_duration(us: int) -> str:
    """Microseconds -> nginx time text; nginx has no ``us``, so sub-millisecond parts round up."""
    # Integer arithmetic: a float loses the last digits of a large value (9223372036854775807).
    return _format(-(-us // 1000) * 1000, _NGINX_UNITS)


def ceil_seconds(us: int) -> int:
    """Whole seconds, rounded up (nginx ``fail_timeout`` has seconds resolution)."""
    return -(-us // 1_000_000)


# --- addresses ---------------------------------------------------------------------------------


def is_dns_name(host: str) -> bool:
    """RFC 1123 host name (not an IP address): :data:`lbgen.spec.grammar.DNS_NAME`."""
    return grammar.DNS_NAME.matches(host)


@record
class HostPort:
    """A parsed ``host:port``; ``host`` is ``""`` for a wildcard bind (``:6443``)."""

    host: str
    port: int
    family: str  # "ipv4", "ipv6", "dns" or "any"

    def __str__(self) -> str:
        host = f"[{self.host}]" if self.family == "ipv6" else self.host
        return f"{host}:{self.port}"

    @property
    def canonical_host(self) -> str:
        """The host as the kernel sees it: one spelling per IP address.

        ``0:0::1`` and ``::1`` are one address; an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``)
        is the IPv4 address it maps. Wildcards become ``0.0.0.0`` / ``::``; names stay as written.
        """
        if self.family == "any":
            return "0.0.0.0"
        if self.family == "ipv6":
            address = ipaddress.IPv6Address(self.host)
            mapped = address.ipv4_mapped
            return str(mapped) if mapped is not None else address.compressed
        return self.host

    @property
    def canonical_family(self) -> str:
        """``ipv4`` or ``ipv6`` as the kernel sees it (an IPv4-mapped address is IPv4)."""
        return "ipv6" if ":" in self.canonical_host else "ipv4"

    @property
    def is_ipv4_mapped(self) -> bool:
        """True for ``[::ffff:a.b.c.d]``, which nginx cannot listen on (bind: invalid argument)."""
        return self.family == "ipv6" and ipaddress.IPv6Address(self.host).ipv4_mapped is not None

    @property
    def is_wildcard(self) -> bool:
        """True for ``:port``, ``0.0.0.0:port`` and ``[::]:port`` (however ``::`` is spelt)."""
        if self.family == "ipv6":
            return ipaddress.IPv6Address(self.host).is_unspecified
        return self.host in ("", "0.0.0.0")


class AddressError(ValueError):
    """A ``host:port`` that cannot be used; the message says why."""


_DIGITS_DOTS = re.compile("[0-9.]+")
_DIGITS = re.compile("[0-9]+")


def parse_host_port(text: str, *, allow_empty_host: bool) -> HostPort:
    """Parse ``1.2.3.4:6443``, ``[fd00::1]:6443``, ``name.example:6443`` (binds: ``:6443``).

    The grammar is :data:`lbgen.spec.grammar.SERVER_ADDRESS` (``BIND_ADDRESS`` with
    ``allow_empty_host``), checked part by part so that each refusal says what is wrong.
    Cached: validation and resolving both parse every address, a HostPort is immutable.
    """
    if not isinstance(text, str) or not text:
        raise AddressError("must be host:port")
    return _parse_host_port(text, allow_empty_host)


@functools.cache
def _usual_address() -> re.Pattern[str]:
    # An IPv4 address or a DNS name, then a port: SERVER_ADDRESS without its IPv6 part, in one
    # match. Compiled on first use, as the grammars are.
    host = f"(?:(?P<ipv4>{grammar.IPV4.body})|{grammar.DNS_NAME.body})"
    return re.compile(f"{host}:(?P<port>{grammar.PORT.body})", re.ASCII)


@functools.lru_cache(maxsize=1 << 15)
def _parse_host_port(text: str, allow_empty_host: bool) -> HostPort:
    usual = _usual_address().fullmatch(text)
    if usual is not None:
        # Most addresses of a large spec: one match instead of a dozen steps (a fifth of the
        # time validating and resolving a spec of 10,000 servers took). Everything else,
        # refusals included, takes the steps below, which say what is wrong.
        host = text[: usual.start("port") - 1]
        return HostPort(host, int(usual["port"]), "dns" if usual["ipv4"] is None else "ipv4")
    why = grammar.unusable_character(text)
    if why:
        raise AddressError(f"not an address: {why}")
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise AddressError("must be [IPv6]:port")
        host, port_text = text[1:end], text[end + 2 :]
        if "%" in host:
            raise AddressError(
                "an IPv6 zone id (%interface) is not supported: neither HAProxy nor nginx "
                "accepts one in an address"
            )
        if not grammar.IPV6.matches(host):
            raise AddressError(f"{host!r} is not an IPv6 address")
        family = "ipv6"
    else:
        if text.count(":") > 1:
            raise AddressError("an IPv6 address with a port must be bracketed: [addr]:port")
        host, sep, port_text = text.rpartition(":")
        if not sep and text.isdigit():
            # A bare port, as nginx's "listen 6443" allows: say what to write instead.
            raise AddressError(
                f"a bare port needs a colon: write ':{text}' (every address) or 'HOST:{text}'"
                if allow_empty_host
                else f"a port alone is not a server address: write 'HOST:{text}'"
            )
        if not sep:
            raise AddressError("must be host:port (the port is required)")
        if host == "":
            if not allow_empty_host:
                raise AddressError("a server address needs a host before the port")
            family = "any"
        elif _DIGITS_DOTS.fullmatch(host):
            if not grammar.IPV4.matches(host):
                raise AddressError(f"{host!r} is not an IPv4 address")
            family = "ipv4"
        elif is_dns_name(host):
            family = "dns"
        else:
            raise AddressError(f"{host!r} is neither an IP address nor a DNS name")
    if not _DIGITS.fullmatch(port_text):
        raise AddressError(f"port {port_text!r} is not a number" if port_text else "port missing")
    if len(port_text) > 5 or not 1 <= int(port_text) <= 65535:
        raise AddressError(f"port must be 1..65535 (got {port_text})")
    if not grammar.PORT.matches(port_text):
        raise AddressError(f"port {port_text} must be written without leading zeros")
    # The steps above are SERVER_ADDRESS (BIND_ADDRESS) spelt out part by part: host, then port.
    # The whole-address grammars are not matched again here (compiling their IPv6 alternatives
    # twice over took a twentieth of `lbgen validate`); tests/test_schema.py holds the parser to
    # them on every tricky string and on generated ones.
    return HostPort(host=host, port=int(port_text), family=family)
