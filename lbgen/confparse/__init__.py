"""Read existing HAProxy and nginx configs into one tree type.

``parse_config(text, filename, engine=None)`` and ``parse_config_file(path, engine=None)`` pick the
parser (detecting the engine when not given) and return a :class:`ConfigTree`; broken input raises
:class:`lbgen.diagnostics.SpecError` with one error diagnostic per problem (file:line).
:func:`write_config` gives a tree's canonical text. Each engine's syntax lives in its package
(``lbgen/haproxy/syntax.py``, ``lbgen/nginx/syntax.py``), imported on use: those modules build
on this package's tree module, so this package cannot import them while it is being imported.
The effective model built on the tree is in :mod:`lbgen.effective`.
"""

from __future__ import annotations

from pathlib import Path

from lbgen.confparse.detect import ENGINES, detect_engine
from lbgen.confparse.tree import (
    CODE_ENGINE,
    CODE_INCLUDE,
    CODE_SYNTAX,
    CODE_UNREADABLE,
    ConfigTree,
    Node,
    ParseError,
    fail,
    read_config,
)

__all__ = [
    "CODE_ENGINE",
    "CODE_INCLUDE",
    "CODE_SYNTAX",
    "CODE_UNREADABLE",
    "ENGINES",
    "ConfigTree",
    "Node",
    "ParseError",
    "detect_engine",
    "parse_config",
    "parse_config_file",
    "read_config_text",
    "resolve_engine",
    "write_config",
]


def resolve_engine(text: str, filename: str, engine: str | None) -> str:
    """The engine to parse ``text`` with: ``engine`` when given (checked), else detected."""
    if engine is not None:
        if engine not in ENGINES:
            fail([ParseError(f"unknown engine {engine!r}", file=filename, code=CODE_ENGINE)])
        return engine
    found = detect_engine(text, filename)
    if found is None:
        fail(
            [
                ParseError(
                    "cannot tell whether this is an haproxy or an nginx config; "
                    "name the engine explicitly",
                    file=filename,
                    code=CODE_ENGINE,
                )
            ]
        )
    return found


def parse_config(text: str, filename: str, engine: str | None = None) -> ConfigTree:
    """Parse config text with the given or detected engine's parser."""
    if resolve_engine(text, filename, engine) == "haproxy":
        from lbgen.haproxy.syntax import parse_haproxy

        return parse_haproxy(text, filename)
    from lbgen.nginx.syntax import parse_nginx

    return parse_nginx(text, filename)


def read_config_text(path: str | Path) -> str:
    """A config file's text; unreadable, binary or non-UTF-8 files raise ``SpecError``."""
    try:
        return read_config(path)
    except ParseError as exc:
        fail([exc])


def parse_config_file(path: str | Path, engine: str | None = None) -> ConfigTree:
    """Read and parse a config file (nginx includes resolved next to it)."""
    return parse_config(read_config_text(path), str(path), engine)


def write_config(tree: ConfigTree) -> str:
    """Canonical text of a tree in its own engine's syntax."""
    if tree.engine == "haproxy":
        from lbgen.haproxy.syntax import write_haproxy

        return write_haproxy(tree)
    from lbgen.nginx.syntax import write_nginx

    return write_nginx(tree)
