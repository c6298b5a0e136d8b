"""HAProxy config parser (no library exists) and canonical writer.

The file is a list of sections; a section starts with a section keyword at the start of a line
and runs until the next one. Every other line is a keyword with arguments, split by HAProxy's own
rules (configuration manual §2.2): backslash escapes outside single quotes, weak quoting with
double quotes (environment variables inside are left as text, e.g. ``${HOST}``), strong quoting
with single quotes, quoted parts glued to a word, and ``#`` starting a comment anywhere outside
quotes -- even in the middle of a word (``check#weight 5`` is ``check`` plus a comment, as
``haproxy -c`` confirms). The comment is kept on the node because a ``#`` that swallows server
options is a classic mistake the linter reports.

Sections the tool does not model (``resolvers``, ``peers``, ``userlist``, ``program``, ...) are
parsed the same way and kept as opaque blocks; nothing but blank lines is ever dropped.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from lbgen.confparse.tree import (
    CODE_SYNTAX,
    COMMENT,
    ConfigTree,
    Node,
    ParseError,
    raise_errors,
    word_set,
)

PROXY_SECTIONS = ("defaults", "frontend", "backend", "listen")
"""Sections whose contents the effective model reads."""

SECTIONS = frozenset(
    {
        "global",
        *PROXY_SECTIONS,
        "resolvers",
        "peers",
        "userlist",
        "program",
        "http-errors",
        "ring",
        "cache",
        "mailers",
        "fcgi-app",
        "log-forward",
        "namespace_list",
        "crt-store",
        "traces",
        "acme",
        "dynamic-update",
    }
)
"""Every section keyword HAProxy 2.4-3.x knows; the others are opaque blocks."""

# Keywords commonly written without indentation inside a section. HAProxy ignores indentation:
# section keywords decide sections. An unindented line is taken for a misspelt section header
# ("fronted api", which HAProxy would reject) only when its keyword is a near miss of a section
# keyword and not one of these; ``ulimit-n``, ``fullconn``, ``tune.*`` or ``command`` (in a
# ``program`` section) at column 1 are body lines, as HAProxy reads them.
_COMMON_BODY_KEYWORDS = word_set(
    """
    acl bind balance backlog capture compression cookie daemon default-server default_backend
    description disabled enabled errorfile errorloc filter hash-type http-check http-request
    http-response http-reuse id log log-format maxconn mode monitor-uri nbthread no option
    persist rate-limit redirect retries retry-on server server-template source stats stick
    stick-table tcp-check tcp-request tcp-response timeout unique-id-format use-server
    use_backend user group chroot pidfile ssl-default-bind-ciphers ssl-default-bind-options
    ssl-default-server-options ssl-server-verify tune.ssl.default-dh-param nameserver peer
    ca-base crt-base external-check insecure-password password lua-load master-worker
    """
)


@dataclass
class _Line:
    """One tokenised line: its words with their columns, and its trailing comment."""

    words: list[tuple[str, int]]
    comment: str | None
    comment_col: int | None
    indented: bool


_SIMPLE_ESCAPES = {"\\": "\\", " ": " ", "\t": "\t", "#": "#", "'": "'", '"': '"', "$": "$"}
_CONTROL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}
_HEX = frozenset("0123456789abcdefABCDEF")


def split_line(text: str, *, file: str | None = None, line: int | None = None) -> _Line:
    """Cut one config line into words the way HAProxy does (manual §2.2).

    Raises :class:`ParseError` for a quote left open at the end of the line.
    """
    words: list[tuple[str, int]] = []
    buf: list[str] = []
    started = False  # a word has begun (``""`` is an empty word)
    word_col = 0
    quote: str | None = None
    quote_col = 0
    comment: str | None = None
    comment_col: int | None = None
    i, n = 0, len(text)

    def finish() -> None:
        nonlocal started
        if started:
            words.append(("".join(buf), word_col))
            buf.clear()
            started = False

    while i < n:
        ch = text[i]
        if quote == "'":
            if ch == "'":
                quote = None
            else:
                buf.append(ch)
            i += 1
            continue
        if ch == "\\":
            if not started:
                started, word_col = True, i + 1
            nxt = text[i + 1] if i + 1 < n else ""
            hexdigits = text[i + 2 : i + 4]
            if nxt and nxt in _SIMPLE_ESCAPES:
                buf.append(_SIMPLE_ESCAPES[nxt])
                i += 2
            elif nxt and nxt in _CONTROL_ESCAPES:
                buf.append(_CONTROL_ESCAPES[nxt])
                i += 2
            elif nxt == "x" and len(hexdigits) == 2 and set(hexdigits) <= _HEX:
                buf.append(chr(int(hexdigits, 16)))
                i += 4
            else:
                # HAProxy leaves other combinations as they are (``\1`` in a regex).
                buf.append("\\")
                i += 1
            continue
        if quote == '"':
            if ch == '"':
                quote = None
            else:
                buf.append(ch)
            i += 1
            continue
        if ch in " \t":
            finish()
            i += 1
            continue
        if ch == "#":
            finish()
            comment, comment_col = text[i + 1 :], i + 1
            break
        if not started:
            started, word_col = True, i + 1
        if ch in "\"'":
            quote, quote_col = ch, i + 1
        else:
            buf.append(ch)
        i += 1
    if quote is not None:
        kind = "double" if quote == '"' else "single"
        raise ParseError(
            f"unterminated {kind} quote",
            file=file,
            line=line,
            col=quote_col,
            code=CODE_SYNTAX,
        )
    finish()
    return _Line(words, comment, comment_col, indented=text[:1] in (" ", "\t"))


def _near_section(keyword: str) -> str | None:
    """The section keyword ``keyword`` looks like a misspelling of, if any."""
    close = difflib.get_close_matches(keyword, sorted(SECTIONS), n=1, cutoff=0.75)
    return close[0] if close else None


def parse_haproxy(text: str, filename: str = "haproxy.cfg") -> ConfigTree:
    """Parse HAProxy config text into a :class:`ConfigTree` of sections.

    Every problem is collected; they are raised together as a :class:`SpecError`.
    """
    errors: list[ParseError] = []
    top: list[Node] = []
    # The open section: its header node and the lines gathered so far.
    header: Node | None = None
    body: list[Node] = []
    unindented: list[Node] = []  # body lines written at column 1, checked at the end
    any_indented = False

    def close() -> None:
        nonlocal header
        if header is not None:
            top.append(
                Node(
                    header.keyword,
                    header.args,
                    tuple(body),
                    header.comment,
                    header.file,
                    header.line,
                    header.col,
                    header.raw,
                )
            )
            body.clear()
            header = None

    # HAProxy splits lines on LF only; a CR before it is line-ending noise from Windows editors.
    for lineno, raw in enumerate(text.removesuffix("\n").split("\n"), start=1):
        raw = raw.removesuffix("\r")
        try:
            parsed = split_line(raw, file=filename, line=lineno)
        except ParseError as exc:
            errors.append(exc)
            continue
        if not parsed.words:
            if parsed.comment is None:
                continue  # blank line
            node = Node(
                COMMENT,
                comment=parsed.comment,
                file=filename,
                line=lineno,
                col=parsed.comment_col,
                raw=raw,
            )
            (body if header is not None else top).append(node)
            continue
        (keyword, col), *rest = parsed.words
        node = Node(
            keyword,
            tuple(w for w, _ in rest),
            comment=parsed.comment,
            file=filename,
            line=lineno,
            col=col,
            raw=raw,
        )
        if keyword in SECTIONS:
            close()
            header = node
            continue
        if header is None and keyword.startswith("."):
            top.append(node)  # .if/.else/.endif/.diag... are allowed outside sections
            continue
        if header is None:
            errors.append(
                ParseError(
                    f"unknown section {keyword!r} (expected one of global, defaults, "
                    "frontend, backend, listen, ...)",
                    file=filename,
                    line=lineno,
                    col=col,
                )
            )
            continue
        if parsed.indented:
            any_indented = True
        elif keyword not in _COMMON_BODY_KEYWORDS and _near_section(keyword) is not None:
            unindented.append(node)
        body.append(node)
    close()
    if any_indented:
        for node in unindented:
            errors.append(
                ParseError(
                    f"unknown section {node.keyword!r}: a line at column 1 that is not a "
                    f"section keyword (misspelt {_near_section(node.keyword)!r}?)",
                    file=filename,
                    line=node.line,
                    col=node.col,
                )
            )
    raise_errors(sorted(errors, key=lambda e: (e.line or 0, e.col or 0)))
    return ConfigTree("haproxy", filename, tuple(top), (filename,))


# --- canonical writer --------------------------------------------------------------------------

_SAFE_WORD = re.compile(r"[A-Za-z0-9_.:/@%+,=*!\[\]()<>{}|^~?&$;-]+")
_ENV_REFERENCE = re.compile(r"\$[A-Za-z_{]")


def section_names(section: Node) -> tuple[str | None, str | None]:
    """A proxy or defaults section's name and the defaults section its ``from`` names
    (``backend b from base``: ``("b", "base")``; None for what is not written)."""
    args = list(section.args)
    parent = None
    if "from" in args:
        at = args.index("from")
        parent = args[at + 1] if at + 1 < len(args) else None
        args = args[:at]
    return (args[0] if args else None), parent


def quote_word(word: str) -> str:
    """One word written so that :func:`split_line` reads it back unchanged.

    Words holding an environment reference (``${HOST}``) go in double quotes so the reference
    keeps its meaning; other words are bare when safe, else single-quoted, else double-quoted
    with escapes.
    """
    if _ENV_REFERENCE.search(word):
        return '"' + _dquote_escape(word, keep_dollar=True) + '"'
    if _SAFE_WORD.fullmatch(word):
        return word
    if "'" not in word and all(c >= " " or c == "\t" for c in word) and word:
        return f"'{word}'"
    return '"' + _dquote_escape(word, keep_dollar=False) + '"'


def _dquote_escape(word: str, *, keep_dollar: bool) -> str:
    out = []
    for ch in word:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "$" and not keep_dollar:
            out.append("\\$")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch < " " and ch != "\t":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _line(node: Node, indent: str) -> str:
    if node.is_comment:
        return f"{indent}#{node.comment or ''}"
    text = indent + " ".join(quote_word(w) for w in node.words())
    if node.comment is not None:
        text += f"  #{node.comment}"
    return text


def write_haproxy(tree: ConfigTree, *, indent: str = "    ") -> str:
    """Canonical text of a tree: sections at column 1, their lines indented, one blank line
    between sections. Parsing the result gives an equal tree."""
    chunks: list[str] = []
    for node in tree.nodes:
        lines = [_line(node, "")]
        lines.extend(_line(child, indent) for child in node.children)
        chunks.append("\n".join(lines))
    return "\n\n".join(chunks) + "\n" if chunks else ""
