"""Tell an HAProxy config from an nginx one.

The two syntaxes differ in shape, not only in words: nginx statements end with ``;`` and blocks
use braces, HAProxy sections start with a bare keyword at the start of a line. Each line votes;
the file name only breaks a tie (``.cfg`` is HAProxy's habit, ``.conf`` nginx's).
"""

from __future__ import annotations

import re

ENGINES = ("haproxy", "nginx")

_HAPROXY_SECTION = re.compile(
    r"^(global|defaults|frontend|backend|listen|resolvers|peers|userlist|program|"
    r"http-errors|ring|cache|mailers|fcgi-app|log-forward)(\s+[^\s{;]+)*\s*(#.*)?$"
)
_HAPROXY_BODY = re.compile(
    r"^\s+(server|default-server|bind|mode|balance|option|timeout|default_backend|"
    r"use_backend|http-check|tcp-check|retries|maxconn|log|acl|http-request|tcp-request)\s"
)
_NGINX_BLOCK = re.compile(r"^\s*(stream|events|http|upstream\s+\S+|server|map\s.*)\s*\{")
_NGINX_STATEMENT = re.compile(r";\s*(#.*)?$")


def detect_engine(text: str, filename: str | None = None) -> str | None:
    """``"haproxy"``, ``"nginx"``, or None when the text gives no usable hint."""
    haproxy = nginx = 0
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if _HAPROXY_SECTION.match(line):
            haproxy += 3
        elif _HAPROXY_BODY.match(line) and not _NGINX_STATEMENT.search(line):
            haproxy += 1
        if _NGINX_BLOCK.match(line):
            nginx += 3
        elif _NGINX_STATEMENT.search(line) or stripped == "}":
            nginx += 1
    if haproxy != nginx:
        return "haproxy" if haproxy > nginx else "nginx"
    name = (filename or "").lower()
    if name.endswith((".cfg", "haproxy.conf")) or "haproxy" in name:
        return "haproxy"
    if name.endswith(".conf") or "nginx" in name:
        return "nginx"
    return None
