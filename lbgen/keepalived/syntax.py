"""Reading keepalived.conf: a tokenizer and a block parser into the shared config tree.

keepalived's syntax, as far as lbgen reads it:

- a statement is the words of one line: ``priority 110``; a block is a statement followed by
  ``{``, its statements, and ``}`` (``vrrp_instance lbgen_ipv4 {`` ... ``}``); the brace may
  stand on the next line, and a block may close on the line it opens (``track_script { a }``);
- ``#`` and ``!`` start a comment that runs to the end of the line, outside double quotes;
- a double-quoted string is one word, ``\\`` escaping the next character inside it (the
  ``script`` of a ``vrrp_script``); words keep their quotes, the reader strips them where a
  value is meant (:func:`unquote`).

Each line's comment is dropped; full-line comments before the first statement are kept as
comment nodes (the provenance header). ``include``, ``$VARIABLE`` definitions and ``@`` prefixes
are read as ordinary statements: lbgen neither follows nor expands them. Unbalanced braces and
quotes are parse errors with the file and line (:class:`lbgen.diagnostics.SpecError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lbgen.confparse.tree import (
    CODE_SYNTAX,
    COMMENT,
    ConfigTree,
    Node,
    ParseError,
    fail,
)
from lbgen.frozen import record

ENGINE = "keepalived"


@record
class Token:
    """One word of a line, or a brace, where it starts."""

    text: str
    line: int
    col: int


def tokenize(text: str, filename: str) -> list[list[Token]]:
    """The tokens of each line (comments dropped; a full-line comment as one ``#`` token whose
    text is the comment). ParseError for a double quote that is not closed on its line."""
    lines: list[list[Token]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        tokens: list[Token] = []
        index = 0
        size = len(line)
        while index < size:
            char = line[index]
            if char in " \t\r\f\v":
                index += 1
            elif char in "#!":
                if not tokens:
                    tokens.append(Token("#" + line[index + 1 :], number, index + 1))
                break
            elif char in "{}":
                tokens.append(Token(char, number, index + 1))
                index += 1
            elif char == '"':
                end = index + 1
                while end < size and line[end] != '"':
                    end += 2 if line[end] == "\\" else 1
                if end >= size:
                    raise ParseError(
                        "unclosed double quote", file=filename, line=number, col=index + 1,
                        code=CODE_SYNTAX,
                    )  # fmt: skip
                tokens.append(Token(line[index : end + 1], number, index + 1))
                index = end + 1
            else:
                end = index
                while end < size and line[end] not in ' \t\r\f\v{}"#!':
                    end += 1
                tokens.append(Token(line[index:end], number, index + 1))
                index = end
        lines.append(tokens)
    return lines


def unquote(word: str) -> str:
    """``"a \\"b\\""`` -> ``a "b"``; a word without quotes as it is."""
    if len(word) >= 2 and word[0] == word[-1] == '"':
        out: list[str] = []
        escaped = False
        for char in word[1:-1]:
            if escaped or char != "\\":
                out.append(char)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return word


@dataclass
class _Open:
    """A statement being read: its words, where it is, and its block's statements so far."""

    words: list[Token]
    children: list[Node | _Open] = field(default_factory=list)
    block: bool = False

    def node(self, filename: str) -> Node:
        first = self.words[0]
        return Node(
            keyword=first.text,
            args=tuple(t.text for t in self.words[1:]),
            children=tuple(c.node(filename) if isinstance(c, _Open) else c for c in self.children),
            file=filename,
            line=first.line,
            col=first.col,
        )


def parse_keepalived(text: str, filename: str) -> ConfigTree:
    """Parse keepalived.conf text into a :class:`ConfigTree` (engine ``keepalived``)."""
    try:
        lines = tokenize(text, filename)
        top = _Open([Token("", 0, 0)], block=True)
        stack = [top]
        for tokens in lines:
            if tokens and tokens[0].text.startswith("#"):
                if stack[-1] is top and not any(isinstance(c, _Open) for c in top.children):
                    mark = tokens[0]
                    top.children.append(Node(COMMENT, comment=mark.text[1:], file=filename,
                                             line=mark.line, col=mark.col))  # fmt: skip
                continue
            words: list[Token] = []
            for token in tokens:
                if token.text == "{":
                    stack.append(_opened(stack[-1], words, token, filename))
                    words = []
                elif token.text == "}":
                    if words:
                        stack[-1].children.append(_Open(words))
                        words = []
                    if len(stack) == 1:
                        raise ParseError(
                            "'}' closes no block", file=filename, line=token.line, col=token.col,
                            code=CODE_SYNTAX,
                        )  # fmt: skip
                    stack.pop()
                else:
                    words.append(token)
            if words:
                stack[-1].children.append(_Open(words))
        if len(stack) > 1:
            first = stack[-1].words[0]
            raise ParseError(
                f"block {first.text!r} opened here is never closed ('}}' missing)",
                file=filename, line=first.line, col=first.col, code=CODE_SYNTAX,
            )  # fmt: skip
    except ParseError as exc:
        fail([exc])
    nodes = tuple(c.node(filename) if isinstance(c, _Open) else c for c in top.children)
    return ConfigTree(ENGINE, filename, nodes, (filename,))


def _opened(parent: _Open, words: list[Token], brace: Token, filename: str) -> _Open:
    """The block ``{`` opens: the statement before it on its line, else the previous one."""
    if words:
        opened = _Open(words, block=True)
        parent.children.append(opened)
        return opened
    previous = parent.children[-1] if parent.children else None
    if isinstance(previous, _Open) and not previous.block:
        previous.block = True
        return previous
    raise ParseError(
        "'{' opens a block without a name", file=filename, line=brace.line, col=brace.col,
        code=CODE_SYNTAX,
    )  # fmt: skip


__all__ = ["ENGINE", "Token", "parse_keepalived", "tokenize", "unquote"]
