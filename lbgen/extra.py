"""The escape hatch: verbatim engine directives for what the spec does not model.

Every spec block that maps to a config section has an ``extra`` block with one list per engine
(``haproxy``, ``nginx``; NGINX Plus renders the ``nginx`` list), and ``global.extra`` also
holds whole sections (``haproxy_sections``, ``nginx_sections``: header -> directives). This
module is the engine-neutral part: which blocks carry extras, where in the spec they are, and
the warning for lists written for another engine than the target. Each engine's view checks
and renders its own lists (``<engine>/view.py``), after the section's modelled directives.

Extras exist so that ``lbgen import`` can take over a real config without losing lines. Lint
and explain cannot reason about them: anything the spec models belongs in its field.
"""

from __future__ import annotations

from collections.abc import Iterator

from lbgen.frozen import record
from lbgen.resolve import Resolved
from lbgen.spec.models import Extra, GlobalExtra
from lbgen.spec.source import Path_
from lbgen.view import Findings

ENGINE_KEYS = ("haproxy", "nginx")
"""The engine keys of an ``extra`` block."""
SECTION_KEYS = {"haproxy": "haproxy_sections", "nginx": "nginx_sections"}
"""The keys of ``global.extra`` holding whole sections, per engine key."""
OTHER_ENGINE = "extra-other-engine"
"""A list of extras for another engine than the target: not rendered."""


def engine_key(engine: str) -> str:
    """The ``extra`` key an engine renders: ``nginx-plus`` renders the ``nginx`` lists."""
    return "nginx" if engine.startswith("nginx") else engine


def normalise(item: str) -> str:
    """A directive in one spelling, as ``diff`` compares it: runs of whitespace are one space."""
    return " ".join(item.split())


@record
class ExtraBlock:
    """One ``extra`` block of the spec: where it is and what it holds."""

    path: Path_
    """The spec path of the ``extra`` block (``("pools", "cp", "extra")``)."""
    extra: Extra
    kind: str
    """``global``, ``health`` (``global.health``), ``defaults``, ``frontend``, ``pool`` or
    ``server``."""

    def items(self, key: str) -> tuple[str, ...]:
        """The directives for the engine key ``key``, in spec order."""
        return tuple(getattr(self.extra, key) or ())

    def sections(self, key: str) -> dict[str, tuple[str, ...]]:
        """``global.extra``'s whole sections for ``key``: header -> directives."""
        if not isinstance(self.extra, GlobalExtra):
            return {}
        found = getattr(self.extra, SECTION_KEYS[key]) or {}
        return {header: tuple(lines) for header, lines in found.items()}


def blocks(resolved: Resolved) -> Iterator[ExtraBlock]:
    """Every ``extra`` block of the spec, in file order of the spec's sections."""
    yield from _outer_blocks(resolved)
    for pool in resolved.pools:
        yield ExtraBlock((*pool.path, "extra"), pool.extra, "pool")
        for server in pool.servers:
            yield ExtraBlock((*server.path, "extra"), server.extra, "server")


def _outer_blocks(resolved: Resolved) -> Iterator[ExtraBlock]:
    """The blocks of :func:`blocks` before the pools'."""
    yield ExtraBlock(("global", "extra"), resolved.global_.extra, "global")
    if resolved.global_.health_bind is not None:
        yield ExtraBlock(("global", "health", "extra"), resolved.global_.health_extra, "health")
    yield ExtraBlock(("defaults", "extra"), resolved.defaults_extra, "defaults")
    for frontend in resolved.frontends:
        yield ExtraBlock((*frontend.path, "extra"), frontend.extra, "frontend")


def _blocks_with(resolved: Resolved, keys: tuple[str, ...]) -> Iterator[ExtraBlock]:
    """The :func:`blocks` that may hold a list for one of ``keys``: a server's or a pool's
    block without one is passed over before an :class:`ExtraBlock` is made for it (a large
    spec has thousands, nearly all empty)."""
    for pool in resolved.pools:
        for extra in (pool.extra, *(server.extra for server in pool.servers)):
            for key in keys:
                if getattr(extra, key, None):
                    yield from blocks(resolved)
                    return
    # No pool or server holds one: only the few other blocks are left to look at.
    yield from _outer_blocks(resolved)


def warn_other_engines(resolved: Resolved, findings: Findings, engine: str) -> None:
    """One warning per list written for another engine than ``engine``: it is not rendered."""
    mine = engine_key(engine)
    others = tuple(key for key in ENGINE_KEYS if key != mine)
    for block in _blocks_with(resolved, others):
        for key in ENGINE_KEYS:
            if key == mine:
                continue
            names = [key] + ([SECTION_KEYS[key]] if block.kind == "global" else [])
            for name in names:
                if getattr(block.extra, name, None):
                    findings.warning(
                        OTHER_ENGINE, (*block.path, name),
                        f"extra directives for {key} are not rendered for {engine}: "
                        f"write what this section needs for {engine} in extra.{mine}",
                    )  # fmt: skip


__all__ = [
    "ENGINE_KEYS",
    "OTHER_ENGINE",
    "SECTION_KEYS",
    "ExtraBlock",
    "blocks",
    "engine_key",
    "normalise",
    "warn_other_engines",
]
