"""The one interface every engine package implements, and the list of engines.

An engine package (``lbgen/haproxy/``, ``lbgen/nginx/``) holds everything lbgen knows about that
engine -- its config syntax, its directive table, the view its templates read, the reader that
turns an existing config into the effective model, import, lint rules, templates, and the
command lines that check and run a config (``<engine>/command.py``, which the runners use) --
and exposes it as one :class:`Engine` value named ``ENGINE`` (NGINX Plus is a variant of the
nginx package, ``PLUS_ENGINE``). The operations (render, explain, diff, import, lint, manifest)
are written once, against this interface, and find an engine by name with :func:`get_engine`.
This module names no engine package at import time: the lookup imports it on first use, so the
core never depends on an engine.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any

from lbgen.frozen import record

if TYPE_CHECKING:
    from lbgen.directives import DirectiveTable


@record
class Entry:
    """What the command line and the operations know of an engine before importing it."""

    location: str
    """Where its :class:`Engine` value lives: ``module:attribute``."""
    layouts: tuple[str, ...]
    """What ``render --layout`` may write, the default first."""
    per_node: bool = False
    """Rendered once per node of the spec's ``vip`` tier (``render --node NAME``)."""


#: Every engine, in the order the command line lists them: the one list of engines, their
#: layouts and whether they render per node. Kept here, not read from the engine packages, so
#: that the command line can offer the choices without importing an engine.
ENTRIES: Mapping[str, Entry] = {
    "haproxy": Entry("lbgen.haproxy:ENGINE", ("full",)),
    "nginx": Entry("lbgen.nginx:ENGINE", ("stream", "full", "upstreams")),
    "nginx-plus": Entry("lbgen.nginx:PLUS_ENGINE", ("stream", "full", "upstreams")),
    "keepalived": Entry("lbgen.keepalived:ENGINE", ("full", "nft"), per_node=True),
}
ENGINE_NAMES = tuple(ENTRIES)
"""Every target ``render`` writes."""


class UnknownEngine(ValueError):
    """A name that is not one of :data:`ENGINE_NAMES`."""


@record
class Engine:
    """What the operations need from one engine (target)."""

    name: str
    """The target name: ``haproxy``, ``nginx``, ``nginx-plus``."""
    program: str
    """The binary that runs and checks its configs (``haproxy``, ``nginx``)."""
    syntax: str
    """Which config syntax it reads and writes (``haproxy``, ``nginx``)."""
    layouts: tuple[str, ...]
    """What ``render --layout`` may write, the default first."""
    table: DirectiveTable
    """Its two-way directive table."""
    build_view: Callable[..., Any]
    """``(resolved, layout, **options) -> View``: the template context and the translation's
    diagnostics."""
    read_effective: Callable[..., Any]
    """``(tree) -> effective.Config``: what an existing config makes the engine do."""
    import_into: Callable[..., Any] | None = None
    """``(tree, draft) -> None``: fills an import draft (:mod:`lbgen.importer`) from a parsed
    config of this syntax."""
    lint_rules_at: str | None = None
    """``module:attribute`` of the lint rules (:class:`lbgen.lint.Rule`) that apply to this
    engine's configs, imported on first use (:attr:`lint_rules`): rendering needs none."""
    diff_names: Mapping[str, str] = field(default_factory=dict)
    """Effective-model attribute -> the directive a diff names (``inter``, ``fail_timeout``)."""
    pair_configs: Callable[..., Any] | None = None
    """``(existing, rendered, resolved) -> (existing, labels)``: before a diff, keys the existing
    config's entities like the rendered ones where they evidently correspond (nginx names
    neither its ``server {}`` blocks nor, for the reader, its upstreams), and names the rendered
    frontends after the spec's (``labels``: model key -> spec frontend name). None: the config
    names them itself (HAProxy)."""

    parse: Callable[..., Any] | None = None
    """``(text, filename) -> ConfigTree``: reads a syntax :mod:`lbgen.confparse` does not know
    (keepalived); None: ``confparse.parse_config`` reads it."""
    diff_changes: Callable[..., Any] | None = None
    """``(existing, rendered) -> [compare.Change]``: names the differences of an effective model
    that is not :class:`lbgen.effective.model.Config` (keepalived's VRRP model); None: the
    proxies' model, named by :mod:`lbgen.compare` with :attr:`diff_names`."""

    @property
    def lint_rules(self) -> tuple[Any, ...]:
        """The lint rules that apply to this engine's configs."""
        rules: tuple[Any, ...] = () if self.lint_rules_at is None else _load(self.lint_rules_at)
        return rules

    @property
    def default_layout(self) -> str:
        """The layout ``render`` writes when none is asked for."""
        return self.layouts[0]


@functools.cache
def _load(location: str) -> Any:
    module_name, attribute = location.split(":")
    return getattr(importlib.import_module(module_name), attribute)


def lazy(location: str) -> Callable[..., Any]:
    """A function that imports ``module:attribute`` on its first call and calls it, so that
    what only some operations need (reading a config back, importing it) is not imported by the
    others: a render imports neither the reader nor the importer."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return _load(location)(*args, **kwargs)

    call.__qualname__ = call.__name__ = location.rpartition(":")[2]
    return call


def get_engine(name: str) -> Engine:
    """The engine named ``name`` (one of :data:`ENGINE_NAMES`)."""
    try:
        module_name, attribute = ENTRIES[name].location.split(":")
    except KeyError:
        raise UnknownEngine(
            f"unknown engine {name!r}; expected one of {', '.join(ENGINE_NAMES)}"
        ) from None
    engine = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(engine, Engine):  # pragma: no cover - a packaging mistake
        raise TypeError(f"{ENTRIES[name].location} is not an Engine")
    return engine


__all__ = ["ENGINE_NAMES", "ENTRIES", "Engine", "Entry", "UnknownEngine", "get_engine", "lazy"]
