"""nginx config parser on top of ``crossplane``, and a canonical writer.

crossplane tokenises and checks argument counts; this module turns its payload into the shared
:class:`~lbgen.confparse.tree.Node` tree, resolves ``include`` itself (so that text that is not
on disk yet can be parsed, and a missing include is reported at the line that names it), keeps
comments, and checks the bytes of every file first (crossplane would silently replace invalid
UTF-8).

Three layouts are accepted, the ones ``lbgen render -t nginx`` writes: a full ``nginx.conf``, a
bare ``stream { }`` block, and the "upstreams" layout (only ``upstream``/``server`` blocks, meant
to be included inside ``stream {}``).

Directives are checked against crossplane's own table of where each may appear (its
``analyzer.analyze``), in the context each statement really has: crossplane's ``parse`` checks
every file from the main context, which would refuse the upstreams layout (its top level is
inside ``stream {}``) and every included file (whose context is that of its ``include``). So the
files are parsed with ``check_ctx=False`` and each statement is then checked here with the context
it is read in. crossplane skips what it does not know (unknown directives, ``match`` blocks).

crossplane is imported lazily so that ``import lbgen`` stays light.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile
from collections.abc import Sequence
from typing import Any

from lbgen.confparse.tree import (
    CODE_INCLUDE,
    CODE_SYNTAX,
    COMMENT,
    INCLUDE,
    ConfigTree,
    Node,
    ParseError,
    raise_errors,
    read_config,
)

Context = tuple[str, ...]
"""A crossplane context: ``()`` is the main context, ``("stream", "upstream")`` an upstream."""
_MAIN_BLOCKS = frozenset({"stream", "events", "http"})
_STREAM_BLOCKS = frozenset({"upstream", "server"})


def _layout_context(parsed: Sequence[dict[str, Any]]) -> Context:
    """Where a main file's top level is: inside ``stream {}`` for the upstreams layout (no
    stream/events/http block, an upstream or server block), else nginx's main context."""
    keywords = {str(stmt.get("directive")) for stmt in parsed}
    if keywords & _MAIN_BLOCKS or not keywords & _STREAM_BLOCKS:
        return ()
    return ("stream",)


_CROSSPLANE_ERROR = re.compile(r"^(?P<message>.*?) in (?P<file>.+?)(?::(?P<line>\d+))?$")


class _Reader:
    """Parses one main file and everything it includes, collecting errors."""

    #: What a file crossplane gives up on without a word is said to be.
    unreadable = "not readable as an nginx config (is it an haproxy.cfg? try --from haproxy)"

    def __init__(self, main_file: str) -> None:
        self.main_file = main_file
        # nginx resolves relative includes against the main config's folder (its prefix).
        self.base_dir = os.path.dirname(os.path.abspath(main_file))
        self.errors: list[ParseError] = []
        self.files: list[str] = [main_file]

    def parse_text(
        self, text: str, filename: str, stack: tuple[str, ...], ctx: Context | None = None
    ) -> tuple[Node, ...]:
        """Statements of one file (its includes resolved) as nodes. ``ctx`` is the context they
        are in (crossplane's tuple: ``("stream",)``); None for a main file, whose layout says."""
        import crossplane

        lines = text.split("\n")
        with tempfile.TemporaryDirectory(prefix="lbgen-nginx-") as tmp:
            temp = os.path.join(tmp, "nginx.conf")
            with open(temp, "w", encoding="utf-8") as handle:
                handle.write(text)
            too_deep = _nesting_error(temp, filename)
            if too_deep is not None:
                self.errors.append(too_deep)
                return ()
            # check_ctx=False: crossplane would check this file from the main context (and drop
            # what it refuses); _check_context checks each statement in its real context.
            payload: dict[str, Any] = crossplane.parse(
                temp, comments=True, single=True, check_ctx=False, check_args=True
            )
        for error in payload.get("errors", []):
            self.errors.append(self._error(error, filename))
        parsed = payload["config"][0]["parsed"] if payload.get("config") else []
        if ctx is None:
            ctx = _layout_context(parsed)
        return self._nodes(parsed, filename, lines, stack, ctx)

    def _check_context(self, stmt: dict[str, Any], filename: str, ctx: Context) -> None:
        """crossplane's check that the directive may appear in ``ctx`` (arguments were checked
        while parsing)."""
        from crossplane.analyzer import analyze
        from crossplane.errors import NgxParserDirectiveError

        term = "{" if "block" in stmt else ";"
        try:
            analyze(filename, stmt, term, ctx, check_ctx=True, check_args=False)
        except NgxParserDirectiveError as exc:
            self.errors.append(
                ParseError(str(exc.strerror), file=filename, line=stmt["line"], code=CODE_SYNTAX)
            )

    def _error(self, error: dict[str, Any], filename: str) -> ParseError:
        text = str(error.get("error", "syntax error"))
        match = _CROSSPLANE_ERROR.match(text)
        message = match.group("message") if match else text
        if not message.strip():
            # crossplane gives up on some inputs (often a file of another format) without a word.
            message = self.unreadable
        return ParseError(message, file=filename, line=error.get("line"), code=CODE_SYNTAX)

    def _nodes(
        self,
        stmts: Sequence[dict[str, Any]],
        filename: str,
        lines: list[str],
        stack: tuple[str, ...],
        ctx: Context,
    ) -> tuple[Node, ...]:
        from crossplane.analyzer import enter_block_ctx

        out: list[Node] = []
        for stmt in stmts:
            line = int(stmt["line"])
            raw = lines[line - 1] if 0 < line <= len(lines) else None
            if stmt["directive"] == COMMENT:
                previous = out[-1] if out else None
                if (
                    previous is not None
                    and not previous.is_comment
                    and previous.line == line
                    and previous.comment is None
                    and not previous.children
                ):
                    # "server a:1; # note" -> the comment belongs to the server line
                    out[-1] = _with(previous, comment=stmt.get("comment", ""))
                else:
                    out.append(
                        Node(
                            COMMENT,
                            comment=stmt.get("comment", ""),
                            file=filename,
                            line=line,
                            col=_col(raw, "#"),
                            raw=raw,
                        )
                    )
                continue
            keyword = str(stmt["directive"])
            args = tuple(str(a) for a in stmt.get("args", []))
            self._check_context(stmt, filename, ctx)
            children: tuple[Node, ...] = ()
            if "block" in stmt:
                inner: Context = enter_block_ctx(stmt, ctx)
                children = self._nodes(stmt["block"], filename, lines, stack, inner)
            elif keyword == INCLUDE and args:
                children = self._include(args[0], filename, line, stack, ctx)
            out.append(
                Node(
                    keyword,
                    args,
                    children,
                    file=filename,
                    line=line,
                    col=_col(raw, keyword),
                    raw=raw,
                )
            )
        return tuple(out)

    def _include(
        self, pattern: str, filename: str, line: int, stack: tuple[str, ...], ctx: Context
    ) -> tuple[Node, ...]:
        full = pattern if os.path.isabs(pattern) else os.path.join(self.base_dir, pattern)
        if glob.has_magic(full):
            names = sorted(glob.glob(full))  # nginx: a glob matching nothing is fine
        elif os.path.isfile(full):
            names = [full]
        else:
            self.errors.append(
                ParseError(
                    f"include {pattern!r}: no such file ({full})",
                    file=filename,
                    line=line,
                    code=CODE_INCLUDE,
                )
            )
            return ()
        nodes: list[Node] = []
        for name in names:
            if name in stack:
                self.errors.append(
                    ParseError(
                        f"include {pattern!r} includes itself ({name})",
                        file=filename,
                        line=line,
                        code=CODE_INCLUDE,
                    )
                )
                continue
            try:
                text = read_config(name)
            except ParseError as exc:
                self.errors.append(exc)
                continue
            if name not in self.files:
                self.files.append(name)
            nodes.extend(self.parse_text(text, name, (*stack, name), ctx))
        return tuple(nodes)


#: Blocks besides those the canonical writer knows, so that an empty one stays a block.
_OTHER_BLOCKS = frozenset({"location", "if", "types", "limit_except", "match", "mail"})


class _FragmentReader(_Reader):
    """Reads a fragment (an extra directive of a spec): includes are named, never followed,
    since the files they name are on the machine that runs nginx, not the one that renders."""

    unreadable = "crossplane cannot split it into nginx statements (a brace or quote unbalanced?)"

    def _include(
        self, pattern: str, filename: str, line: int, stack: tuple[str, ...], ctx: Context
    ) -> tuple[Node, ...]:
        return ()


def parse_fragment(text: str, ctx: Context) -> tuple[tuple[Node, ...], list[str]]:
    """The statements of ``text`` read in the context ``ctx`` (``("stream", "upstream")``), and
    the problems crossplane (syntax, arguments, context) finds in them, as messages."""
    reader = _FragmentReader("extra.conf")
    nodes = reader.parse_text(text, "extra.conf", (), ctx)
    return tuple(n for n in nodes if not n.is_comment), [e.message for e in reader.errors]


def one_line(node: Node) -> str:
    """A statement on one line, as lbgen writes an extra: ``a b;`` or ``a b { c; d { e; } }``."""
    head = " ".join([node.keyword, *(quote_arg(a) for a in node.args)])
    block = bool(node.children) or _is_block(node) or node.keyword in _OTHER_BLOCKS
    if node.keyword == INCLUDE or not block:
        return f"{head};"
    inner = " ".join(one_line(child) for child in node.children if not child.is_comment)
    return f"{head} {{ {inner} }}" if inner else f"{head} {{ }}"


def _with(node: Node, *, comment: str) -> Node:
    return Node(
        node.keyword,
        node.args,
        node.children,
        comment,
        node.file,
        node.line,
        node.col,
        node.raw,
    )


def _col(raw: str | None, word: str) -> int | None:
    if raw is None:
        return None
    index = raw.find(word)
    return index + 1 if index >= 0 else None


#: Blocks nested deeper than this are refused before crossplane, whose parser recurses once per
#: block and would give up at Python's recursion limit without a position. nginx configs nest a
#: handful of levels (http, server, location, if); the spec's own limit is the same.
MAX_NESTING = 64


def _nesting_error(path: str, filename: str) -> ParseError | None:
    """An error at the first ``{`` that opens a block deeper than :data:`MAX_NESTING`, or None
    (crossplane's lexer, which does not recurse, finds the braces outside quotes)."""
    from crossplane.errors import NgxParserBaseException
    from crossplane.lexer import lex

    depth = 0
    try:
        for token, line, quoted in lex(path):
            if quoted:
                continue
            if token == "{":
                depth += 1
                if depth > MAX_NESTING:
                    return ParseError(
                        f"blocks nested deeper than {MAX_NESTING} levels", file=filename,
                        line=line, code=CODE_SYNTAX,
                    )  # fmt: skip
            elif token == "}":
                depth -= 1
    except NgxParserBaseException:
        return None  # crossplane's parse reports the same problem, with its position
    return None


def parse_nginx(text: str, filename: str = "nginx.conf") -> ConfigTree:
    """Parse nginx config text (full, ``stream {}`` or upstreams layout) into a tree.

    Relative includes are resolved against the folder of ``filename``. Every problem is collected
    and raised together as a :class:`~lbgen.diagnostics.SpecError`.
    """
    reader = _Reader(filename)
    nodes = reader.parse_text(text, filename, (os.path.abspath(filename),))
    raise_errors(reader.errors)
    return ConfigTree("nginx", filename, nodes, tuple(reader.files))


# --- canonical writer --------------------------------------------------------------------------

_NEEDS_QUOTES = re.compile(r"""[\s;{}"']|^#|^$""")


def quote_arg(arg: str) -> str:
    """One argument written so that crossplane reads it back unchanged."""
    if not _NEEDS_QUOTES.search(arg):
        return arg
    if '"' not in arg and not arg.endswith("\\"):
        return f'"{arg}"'
    return "'" + arg.replace("'", "\\'") + "'"


def _write(nodes: Sequence[Node], depth: int, out: list[str], indent: str, inline: bool) -> None:
    pad = indent * depth
    for node in nodes:
        if node.is_comment:
            out.append(f"{pad}#{node.comment or ''}")
            continue
        if node.keyword == INCLUDE and inline:
            _write(node.children, depth, out, indent, inline)
            continue
        head = pad + " ".join([node.keyword, *(quote_arg(a) for a in node.args)])
        trailer = f"  #{node.comment}" if node.comment is not None else ""
        if node.children and node.keyword != INCLUDE:
            out.append(f"{head} {{{trailer}")
            _write(node.children, depth + 1, out, indent, inline)
            out.append(f"{pad}}}")
        elif _is_block(node):
            out.append(f"{head} {{}}{trailer}")
        else:
            out.append(f"{head};{trailer}")


_BLOCKS = frozenset(
    {"events", "http", "stream", "upstream", "server", "map", "geo", "split_clients"}
)


def _is_block(node: Node) -> bool:
    """An empty block (``events {}``) has no children but must still be written as a block."""
    if node.keyword in ("server",):
        return not node.args  # stream ``server {}`` vs upstream ``server host:port``
    return node.keyword in _BLOCKS


def write_nginx(tree: ConfigTree, *, indent: str = "    ", inline_includes: bool = False) -> str:
    """Canonical text of a tree. ``include`` lines are kept unless ``inline_includes`` puts the
    included statements in their place (one self-contained file)."""
    out: list[str] = []
    _write(tree.nodes, 0, out, indent, inline_includes)
    return "\n".join(out) + "\n" if out else ""
