"""Tell an HAProxy config from an nginx one: the one engine detector.

The two syntaxes differ in shape, not only in words: nginx statements end with ``;`` and blocks
use braces, HAProxy sections start with a bare keyword at the start of a line. Comments are cut
off first (a comment ending in ``;`` says nothing about the syntax), then each line votes; the
file name only breaks a tie (``.cfg`` is HAProxy's habit, ``.conf`` nginx's). ``lbgen check``,
``diff``, ``import`` and ``lint`` all ask this module.
"""

from __future__ import annotations

import functools
import re

ENGINES = ("haproxy", "nginx")

# The patterns are sources here and compiled on first use (_compiled): a render imports this
# package for its tree types only, and compiling the five at every start cost it about 1%.
_HAPROXY_SECTION = (
    r"^(global|defaults|frontend|backend|listen|resolvers|peers|userlist|program|"
    r"http-errors|ring|cache|mailers|fcgi-app|log-forward)(\s+[^\s{;]+)*\s*$"
)
_HAPROXY_BODY = (
    r"^\s+(server|default-server|bind|mode|balance|option|timeout|default_backend|"
    r"use_backend|http-check|tcp-check|retries|maxconn|log|acl|http-request|tcp-request)\s"
)
_NGINX_BLOCK = r"^\s*(stream|events|http|upstream\s+\S+|server|map\s.*)\s*\{"
_NGINX_STATEMENT = r";\s*$"


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def strip_comment(line: str) -> str:
    """``line`` without its comment: from the first ``#`` outside quotes (both engines' rule;
    a backslash escapes the next character) to the end, trailing blanks removed."""
    quote = ""
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            return line[:index].rstrip()
    return line.rstrip()


_KEEPALIVED_BLOCK = (
    r"^\s*(global_defs|vrrp_script\s+\S+|vrrp_instance\s+\S+|vrrp_sync_group\s+\S+)\s*(\{|$)"
)


def is_keepalived(text: str) -> bool:
    """True when ``text`` has a block only keepalived.conf has (``global_defs``,
    ``vrrp_instance``, ``vrrp_script``, ``vrrp_sync_group``): import and the proxies' diff
    refuse it by name instead of reading it as nginx's brace syntax."""
    block = _compiled(_KEEPALIVED_BLOCK)
    return any(block.match(strip_comment(line)) for line in text.splitlines())


def detect_engine(text: str, filename: str | None = None) -> str | None:
    """``"haproxy"``, ``"nginx"``, or None when neither the text nor the name gives a hint."""
    haproxy = nginx = 0
    section, body = _compiled(_HAPROXY_SECTION), _compiled(_HAPROXY_BODY)
    block, statement = _compiled(_NGINX_BLOCK), _compiled(_NGINX_STATEMENT)
    for raw in text.splitlines():
        line = strip_comment(raw)
        stripped = line.strip()
        if not stripped:
            continue
        if section.match(line):
            haproxy += 3
        elif body.match(line) and not statement.search(line):
            haproxy += 1
        if block.match(line):
            nginx += 3
        elif statement.search(line) or stripped == "}":
            nginx += 1
    if haproxy != nginx:
        return "haproxy" if haproxy > nginx else "nginx"
    name = (filename or "").lower()
    if name.endswith((".cfg", "haproxy.conf")) or "haproxy" in name:
        return "haproxy"
    if name.endswith(".conf") or "nginx" in name:
        return "nginx"
    return None
