"""Tools of the injection suite: every string place of the spec, payloads, YAML delivery, and
the engines' tokenizers that tell an injected config from a safe one by its structure.

The places come from the JSON Schema (``lbgen schema``), so a string field added to the models
is attacked without anyone remembering to list it here; the base spec must set every place.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import crossplane  # type: ignore[import-untyped]
from crossplane.lexer import _lex_file_object  # type: ignore[import-untyped]

from lbgen.spec.schema import spec_schema

Path_ = tuple[str | int, ...]

#: A spec that sets every string place, and renders cleanly for every target and layout (and
#: passes haproxy -c -dW and nginx -t). ``CERT`` is replaced by a real PEM file's path.
CERT = "/nonexistent/client.pem"
BASE: dict[str, Any] = {
    "version": 1,
    "name": "benign",
    "global": {
        # global.log in its list form: the schema walk takes the entry branch through it.
        "log": [{"target": "udp://127.0.0.1:514", "facility": "local1",
                 "level": "info", "min_level": "emerg", "format": "rfc5424"}],
        # global.health.bind in its list form: the schema walk takes that branch.
        "stats": {"bind": "127.0.0.1:8404", "uri": "/stats", "auth": ["admin:pw"],
                  "refresh": "10s", "monitor_uri": "/healthz", "timeout": "30s"},
        "health": {"bind": ["127.0.0.1:8081"], "path": "/healthz", "timeout": "5s",
                   "ready_path": "/readyz"},
    },
    "defaults": {
        "slowstart": "10s",
        "weight": 100,
        "balance": "roundrobin",
        "log_format": "tcplog",
        "health": {
            "check": "https", "path": "/readyz", "interval": "5s", "fast_interval": "1s",
            "down_interval": "7s", "timeout": "3s", "client_cert": CERT, "sni": "api.example",
            "expect_body": "ok",
        },
        "timeouts": {
            "connect": "5s", "client": "1h", "server": "1h", "tunnel": "1h", "client_fin": "10s",
            "server_fin": "10s", "queue": "30s",
        },
    },
    "frontends": {
        "api": {"bind": ["127.0.0.1:6443"], "pool": "cp", "mode": "tcp",
                "timeouts": {"client": "1h", "client_fin": "10s"}},
    },
    "pools": {
        "cp": {
            "slowstart": "10s",
            "weight": 100,
            "balance": "leastconn",
            "health": {
                "check": "https", "path": "/livez", "interval": "5s", "fast_interval": "1s",
                "down_interval": "7s", "timeout": "3s", "client_cert": CERT,
                "sni": "cp.example", "expect_body": "ok",
            },
            "timeouts": {"connect": "5s", "server": "1h", "tunnel": "1h", "server_fin": "10s",
                         "queue": "30s"},
            "servers": {
                "m1": {"address": "127.0.0.1:7001", "slowstart": "20s", "weight": "50%"},
                "m2": {"address": "127.0.0.2:7002", "weight": "50%"},
            },
        },
    },
    "vip": {
        "addresses": ["192.0.2.100/24"], "interface": "eth0", "virtual_router_id": 51,
        "advert_interval": "1s", "version": 2, "auth_pass": "s3cret", "preempt_delay": "1s",
        "nodes": [{"name": "lb1", "address": ["192.0.2.11"]},
                  {"name": "lb2", "address": ["192.0.2.12"]}],
        "track": {"interval": "1s", "timeout": "1s"},
    },
}  # fmt: skip


@dataclass(frozen=True)
class Place:
    """Where a string goes: a value at ``path``, or the mapping key that ends ``path``."""

    path: Path_
    key: bool = False

    def __str__(self) -> str:
        text = ".".join(str(p) for p in self.path)
        return f"{text} (key)" if self.key else text


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _accepts_string(node: dict[str, Any]) -> bool:
    return node.get("type") == "string" or "pattern" in node or (
        "enum" in node and any(isinstance(v, str) for v in node["enum"])
    ) or isinstance(node.get("const"), str)  # fmt: skip


def _walk(node: dict[str, Any], defs: dict[str, Any], path: Path_, base: Any) -> Iterator[Place]:
    node = _resolve(node, defs)
    for alternative in node.get("anyOf", []) + node.get("oneOf", []):
        yield from _walk(alternative, defs, path, base)
    if _accepts_string(node):
        yield Place(path)
    for name, child in node.get("properties", {}).items():
        if base is not None and not isinstance(base, dict):
            break  # the base spec takes another alternative here (global.log's list form)
        if name == "extra":
            # Verbatim directives: structure is their point, so the value-injection oracle does
            # not apply; tests/adversarial/test_extra.py holds them to one statement each.
            continue
        yield from _walk(child, defs, (*path, name), (base or {}).get(name))
    patterns = node.get("patternProperties", {})
    for child in patterns.values():
        keys = list(base or {})
        assert keys, f"the base spec has no entry under {path}: add one"
        yield Place((*path, keys[0]), key=True)
        yield from _walk(child, defs, (*path, keys[0]), base[keys[0]])
    if node.get("type") == "array" and "items" in node:
        yield from _walk(node["items"], defs, (*path, 0), (base or [None])[0])


def string_places() -> list[Place]:
    """Every place of the spec that takes a string, found by walking the JSON Schema."""
    schema = spec_schema()
    seen: dict[Place, None] = {}
    for place in _walk(schema, schema["$defs"], (), BASE):
        if place.path == ("$schema",):
            continue  # dropped by the loader: see test_schema_key_never_reaches_a_config
        seen.setdefault(place, None)
    return list(seen)


def get(doc: Any, path: Path_) -> Any:
    """The value at ``path`` (KeyError/IndexError when absent)."""
    for part in path:
        doc = doc[part]
    return doc


def benign_value(place: Place) -> str:
    """The base spec's own string at ``place`` (a server entry: its address)."""
    if place.key:
        return str(place.path[-1])
    value = get(BASE, place.path)
    if isinstance(value, dict) and "address" in value:
        return str(value["address"])
    return str(value)


def with_payload(base: dict[str, Any], place: Place, payload: str) -> dict[str, Any]:
    """A copy of ``base`` with ``payload`` at ``place``; a renamed pool keeps its frontends."""
    doc = copy.deepcopy(base)
    parent = get(doc, place.path[:-1])
    last = place.path[-1]
    if not place.key:
        parent[last] = payload
        return doc
    items = list(parent.items())
    parent.clear()
    for key, value in items:
        parent[payload if key == last else key] = value
    if place.path[:-1] == ("pools",):
        for frontend in doc["frontends"].values():
            if frontend["pool"] == last:
                frontend["pool"] = payload
    return doc


# --- payloads ----------------------------------------------------------------------------------

#: Injection snippets by class: appended to (and some prepended to, or put inside) a valid value.
SNIPPETS: dict[str, str] = {
    "newline": "\n", "crlf": "\r\n", "cr": "\r", "nul": "\x00", "u2028": "\u2028",
    "u2029": "\u2029", "nel": "\x85", "esc": "\x1b", "del": "\x7f", "bom": "\ufeff",
    "tab": "\t", "space": " ", "nbsp": "\u00a0", "zwsp": "\u200b",
    "hash": "#", "comment": " # c", "semicolon": ";", "statement": "; listen evil",
    "lbrace": "{", "rbrace": "}", "block": "} server { listen 1.2.3.4:1; }",
    "squote": "'", "dquote": '"', "quoted": ' "x y"', "backslash": "\\", "escaped-newline": "\\n",
    "dollar": "$var", "dollar-brace": "${HOME}", "sample-fetch": "%[src]", "percent": "%",
    "haproxy-line": "\n    server INJECTED 6.6.6.6:6443",
    "nginx-line": ";\n    server 6.6.6.6:6443;",
    "haproxy-listen": "\nlisten evil\n    bind :1",
    "nginx-block": "; } http { server { listen 1; }",
    "fullwidth-digit": "\uff16", "superscript-digit": "\u00b2", "arabic-digit": "\u0663",
    "colon": ":", "brackets": "[]",
}  # fmt: skip
PREFIXED = ("newline", "hash", "squote", "dquote", "lbrace", "space", "bom", "semicolon")
INSIDE = ("newline", "hash", "space", "nul", "u2028", "dquote")
DIGITS = {"fullwidth": "\uff16", "superscript": "\u00b2", "arabic": "\u0663"}
ZONE_IDS = (
    "[fe80::1%eth0]:6443",
    "[fe80::1%eth0 init-addr none\n    server INJECTED 6.6.6.6:6443 #]:6443",
    "[fe80::1%25eth0]:6443",
    "[::1%]:6443",
    "[fe80::1%eth0;}]:6443",
)


@dataclass(frozen=True)
class Payload:
    """One attempt's value and the class it belongs to."""

    kind: str
    value: str


def payloads_for(benign: str) -> list[Payload]:
    """Every payload class against a place whose valid value is ``benign``."""
    out = [Payload(f"suffix:{name}", benign + text) for name, text in SNIPPETS.items()]
    out += [Payload(f"prefix:{name}", SNIPPETS[name] + benign) for name in PREFIXED]
    out += [Payload(f"inside:{name}", benign[:1] + SNIPPETS[name] + benign[1:]) for name in INSIDE]
    last_digit = max((i for i, c in enumerate(benign) if c in "0123456789"), default=None)
    if last_digit is not None:
        for name, digit in DIGITS.items():
            value = benign[:last_digit] + digit + benign[last_digit + 1 :]
            out.append(Payload(f"digit:{name}", value))
    out += [Payload(f"zone-id:{i}", zone) for i, zone in enumerate(ZONE_IDS)]
    out += [
        Payload("long:63", (benign + "a" * 63)[:63]),
        Payload("long:1024", benign + "a" * (1024 - len(benign))),
        Payload("long:5000", benign + "a" * 5000),
        Payload("long:200000", benign + "7" * 200_000),
        Payload("empty", ""),
    ]
    return out


# --- YAML delivery -----------------------------------------------------------------------------

_YAML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\x00": "\\0",
                 "\x1b": "\\e", "\x85": "\\N", "\u2028": "\\L", "\u2029": "\\P",
                 "\u00a0": "\\_", "\x7f": "\\x7f", "\ufeff": "\\uFEFF"}  # fmt: skip


def yaml_double_quoted(text: str) -> str:
    """``text`` as a YAML double-quoted scalar, escapes and all."""
    out = []
    for char in text:
        if char in _YAML_ESCAPES:
            out.append(_YAML_ESCAPES[char])
        elif ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def block_deliverable(text: str) -> bool:
    """True when ``text`` + "\\n" can be written as a YAML literal block (``|``)."""
    return bool(text) and all(" " <= c <= "~" or c == "\n" for c in text)


def _block(text: str, indent: int) -> list[str]:
    # An explicit indentation indicator: the content may start with spaces.
    pad = " " * (indent + 2)
    return ["|2"] + [pad + line if line else "" for line in text.split("\n")]


def _emit(value: Any, indent: int, style: dict[int, str], marked: Any) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            key_text = _scalar(key, style, key is marked)
            if key is marked and style.get(0) == "block":
                block = _block(str(key), indent)
                lines.append(f"{pad}? {block[0]}")
                lines += block[1:]
                lines.append(f"{pad}:")
                lines += _emit_child(item, indent, style, marked)
                continue
            if isinstance(item, dict | list):
                lines.append(f"{pad}{key_text}:")
                lines += _emit(item, indent + 2, style, marked)
            elif item is marked and style.get(0) == "block":
                block = _block(str(item), indent)
                lines.append(f"{pad}{key_text}: {block[0]}")
                lines += block[1:]
            else:
                lines.append(f"{pad}{key_text}: {_scalar(item, style, item is marked)}")
        return lines
    for item in value:
        if item is marked and style.get(0) == "block":
            block = _block(str(item), indent)
            lines.append(f"{pad}- {block[0]}")
            lines += block[1:]
        else:
            lines.append(f"{pad}- {_scalar(item, style, item is marked)}")
    return lines


def _emit_child(item: Any, indent: int, style: dict[int, str], marked: Any) -> list[str]:
    if isinstance(item, dict | list):
        return _emit(item, indent + 2, style, marked)
    return [" " * (indent + 2) + _scalar(item, style, item is marked)]


def _scalar(value: Any, style: dict[int, str], marked: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return yaml_double_quoted(str(value))


class _Marker(str):
    """The payload string, recognisable by identity while the document is emitted."""

    __slots__ = ()


def yaml_text(base: dict[str, Any], place: Place, payload: str, style: str) -> bytes:
    """The spec with ``payload`` at ``place`` as YAML text: ``quoted`` (a double-quoted scalar
    with escapes) or ``block`` (a literal block scalar: the value gains a final "\\n")."""
    marked = _Marker(payload)
    doc = with_payload(base, place, marked)
    text = "\n".join(_emit(doc, 0, {0: style}, marked)) + "\n"
    return text.encode("utf-8")


# --- structure ---------------------------------------------------------------------------------

Statement = tuple[str, ...]


def haproxy_statements(text: str) -> list[Statement]:
    """haproxy.cfg as HAProxy's line parser splits it: one statement of words per line.

    Unquoted whitespace separates words, a backslash escapes the next character, single
    quotes are strong and double quotes weak (backslash still escapes), an unquoted ``#`` ends
    the line; so do a CR and a NUL (HAProxy drops the rest of such a line).
    """
    statements = []
    for line in text.split("\n"):
        words: list[str] = []
        word: list[str] | None = None
        quote = ""
        index = 0
        while index < len(line):
            char = line[index]
            if char in "\r\x00":
                break
            if char == "\\" and quote != "'" and index + 1 < len(line):
                word = (word or []) + [line[index + 1]]
                index += 2
                continue
            if quote:
                if char == quote:
                    quote = ""
                else:
                    word = (word or []) + [char]
            elif char in "'\"":
                quote = char
                word = word or []
            elif char == "#":
                break
            elif char in " \t":
                if word is not None:
                    words.append("".join(word))
                word = None
            else:
                word = (word or []) + [char]
            index += 1
        if quote:
            words.append("<unbalanced quote>")
        if word is not None:
            words.append("".join(word))
        if words:
            statements.append(tuple(words))
    return statements


def nginx_statements(text: str) -> list[Statement]:
    """An nginx config as nginx's tokenizer (crossplane's lexer) splits it: each directive's
    words ending in ``;`` or ``{``, and each ``}``. Comments are dropped."""
    statements: list[Statement] = []
    words: list[str] = []
    try:
        tokens = list(_lex_file_object(io.StringIO(text)))
    except crossplane.errors.NgxParserBaseException as exc:
        return [("<lexer error>", str(exc))]
    for token, _line, quoted in tokens:
        if not quoted and token.startswith("#"):
            continue
        if not quoted and token in (";", "{"):
            statements.append((*words, token))
            words = []
        elif not quoted and token == "}":
            if words:
                statements.append((*words, "<unterminated>"))
                words = []
            statements.append(("}",))
        else:
            words.append(token)
    if words:
        statements.append((*words, "<unterminated>"))
    return statements


WILDCARD = "\x00*"


def masked(statements: list[Statement], values: list[str]) -> list[Statement]:
    """Every word that holds one of ``values`` (the field's value position) becomes a wildcard."""
    needles = [v for v in values if v]
    return [
        tuple(WILDCARD if any(n in word for n in needles) else word for word in statement)
        for statement in statements
    ]


def same_structure(benign: list[Statement], attempt: list[Statement]) -> str | None:
    """None when both have the same statements, word for word except at wildcards; else why."""
    if len(benign) != len(attempt):
        return f"{len(attempt)} statements instead of {len(benign)}"
    for want, got in zip(benign, attempt, strict=True):
        if len(want) != len(got):
            return f"{got!r} has {len(got)} words where {want!r} has {len(want)}"
        for a, b in zip(want, got, strict=True):
            if a != b and WILDCARD not in (a, b):
                return f"{got!r} differs from {want!r}"
    return None


def derived(value: str) -> list[str]:
    """The forms a value is printed in (NGINX Plus match names replace '-' and '.')."""
    return [value, value.replace("-", "_").replace(".", "_")]
