"""The text grammar of every string field of the spec: one regular expression each, shared by the
loader (whole-string match) and the JSON Schema (``pattern``).

Each pattern means the same in Python's ``re`` and in ECMA-262, the dialect of JSON Schema's
``pattern``: only explicit ASCII classes (``\\d``, ``\\s`` and ``\\w`` differ between the two and
with Unicode), anchored at both ends, and ended by ``$(?!\\n)``. ECMA's ``$`` is the end of the
input; Python's (and PCRE's) ``$`` also matches before a final newline, which ``(?!\\n)`` refuses,
so a validator of either kind agrees with the loader even when it searches instead of
full-matching. Every grammar holds printable ASCII only: no control character, line separator,
byte-order mark or non-ASCII digit can pass, wherever the value ends up in a config.
"""

from __future__ import annotations

import functools
import re
from dataclasses import field

from lbgen.frozen import record

#: The end of the input, for Python (whose ``$`` also matches before a final "\n") and ECMA alike.
END = r"$(?!\n)"


@record
class Grammar:
    """One field's grammar: ``pattern`` for the JSON Schema, :meth:`matches` for the loader."""

    body: str
    pattern: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", f"^(?:{self.body}){END}")

    @functools.cached_property
    def _regex(self) -> re.Pattern[str]:
        # Compiled on first use: the address grammars take milliseconds each to compile, and
        # a command that never checks (say) an IPv6 address or a log target need not pay.
        return re.compile(self.pattern, re.ASCII)

    def matches(self, text: object) -> bool:
        """True when ``text`` is a string that the grammar describes entirely."""
        return isinstance(text, str) and self._regex.fullmatch(text) is not None


_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H16 = "[0-9A-Fa-f]{1,4}"
_LS32 = f"(?:{_H16}:{_H16}|{_IPV4})"


def _ipv6() -> str:
    # RFC 3986 section 3.2.2, IPv6address, alternative by alternative: n groups before "::"
    # (at most), then the groups after it.
    after = [f"(?:{_H16}:){{4}}{_LS32}", f"(?:{_H16}:){{3}}{_LS32}", f"(?:{_H16}:){{2}}{_LS32}",
             f"{_H16}:{_LS32}", _LS32, _H16, ""]  # fmt: skip
    alternatives = [f"(?:{_H16}:){{6}}{_LS32}", f"::(?:{_H16}:){{5}}{_LS32}"]
    for n, tail in enumerate(after):
        before = f"(?:(?:{_H16}:){{0,{n}}}{_H16})?" if n else f"(?:{_H16})?"
        alternatives.append(f"{before}::{tail}")
    return "(?:" + "|".join(alternatives) + ")"


_IPV6 = _ipv6()
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# Where a run of host-name characters stops (the name may be followed by ":port").
_NAME_END = "(?![A-Za-z0-9.-])"
# RFC 1123 host name: at most 253 characters, labels of 1-63, not all digits (that is an IP).
_DNS = rf"(?=[A-Za-z0-9.-]{{1,253}}{_NAME_END})(?![0-9.]*{_NAME_END}){_LABEL}(?:\.{_LABEL})*"
_PORT = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_HOST = rf"(?:{_IPV4}|{_DNS}|\[{_IPV6}\])"

IPV4 = Grammar(_IPV4)
IPV6 = Grammar(_IPV6)
DNS_NAME = Grammar(_DNS)
PORT = Grammar(_PORT)
NAME = Grammar("[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
# Eighteen digits are far beyond any engine's timers and keep the number a machine integer.
DURATION = Grammar("[0-9]{1,18}(?:us|ms|s|m|h|d)")
PERCENT = Grammar("(?:[0-9]{1,2}|0[0-9]{2}|100)%")
SERVER_ADDRESS = Grammar(f"{_HOST}:{_PORT}")
BIND_ADDRESS = Grammar(f"{_HOST}?:{_PORT}")
LOG_TARGET = Grammar(f"stdout|none|syslog|udp://{_HOST}:{_PORT}")
# RFC 3986 path characters and a query, less what either engine's config syntax could read as a
# quote, comment, statement end or variable ("'", ";", "$"); "%" only as a %XX escape.
HTTP_PATH = Grammar("/(?:[A-Za-z0-9._~!&()*+,=:@/?-]|%[0-9A-Fa-f]{2}){0,1023}")
# A file name for HAProxy's "crt": unquoted in the config, so no space, quote or comment.
CERT_PATH = Grammar("[A-Za-z0-9_.,/@:+=~-]{1,1024}")
# HAProxy "stats auth user:password": unquoted in the config, so no space, quote or comment.
STATS_AUTH = Grammar("[A-Za-z0-9_.@+-]{1,64}:[A-Za-z0-9_.,/@:+=~!%^*()?-]{1,256}")
# A string a check's answer must contain (HAProxy "http-check expect string", NGINX Plus
# "expect ~"): unquoted in HAProxy, a regular expression in nginx, so no space, quote, comment,
# statement end or variable, and no regular-expression metacharacter (a regex of it is a search
# for the string itself).
EXPECT_BODY = Grammar("[A-Za-z0-9_,:/=@~!-]{1,256}")
# One verbatim engine directive (the spec's ``extra``): printable ASCII, not only spaces, on one
# line. The engine's own parser checks its structure when it is rendered.
EXTRA_DIRECTIVE = Grammar("(?=[ -~]{1,4096}$(?!\n))[ -~]*[!-~][ -~]*")

_CONTROL_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab",
                  "\x00": "a NUL", "\x1b": "an ESC", "\x7f": "a DEL", "\x85": "a NEL (U+0085)",
                  "\u2028": "a line separator (U+2028)", "\u2029": "a paragraph separator (U+2029)",
                  "\ufeff": "a byte-order mark (U+FEFF)"}  # fmt: skip


_PRINTABLE_ASCII = re.compile("[ -~]*")


def unusable_character(text: str) -> str | None:
    """Why ``text`` can never be a config value: its first character that is not printable ASCII.

    Returns e.g. ``"it ends with a line break (a YAML '|' block adds one; use '|-')"`` or None.
    """
    if _PRINTABLE_ASCII.fullmatch(text):  # the usual case, without a Python loop per character
        return None
    for index, char in enumerate(text):
        if " " <= char <= "~":
            continue
        name = _CONTROL_NAMES.get(char)
        if name is None:
            kind = "a control character" if not char.isprintable() else "a non-ASCII character"
            name = f"{kind} {char!r} (U+{ord(char):04X})"
            if char.isdigit() or char.isnumeric():
                name = f"the non-ASCII digit {char!r} (U+{ord(char):04X}); use 0-9"
        if char == "\n" and index == len(text) - 1:
            return f"it ends with {name} (a YAML '|' block adds one; use '|-')"
        return f"it holds {name}"
    return None
