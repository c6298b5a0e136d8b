"""Target views: what each engine can express of a resolved spec, and what it cannot.

A view builder takes a :class:`~lbgen.resolve.Resolved` and returns a :class:`View`: the template
to render, the values it loops over (already formatted for the engine) and the diagnostics of the
translation. Templates only loop and branch; every decision is made here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from lbgen.diagnostics import Diagnostic, Level, sort_key
from lbgen.engine import ENTRIES, get_engine
from lbgen.names import DIGEST_FIELD
from lbgen.resolve import Resolved
from lbgen.spec.source import Path_

TARGETS = tuple(name for name, entry in ENTRIES.items() if not entry.per_node)
"""What a whole spec renders to (``render -t``)."""
LAYOUTS: dict[str, tuple[str, ...]] = {name: ENTRIES[name].layouts for name in TARGETS}
DEFAULT_LAYOUT = {name: layouts[0] for name, layouts in LAYOUTS.items()}
#: Targets rendered once per node of the spec's ``vip`` tier (``render --node NAME``), with their
#: layouts; kept out of TARGETS/LAYOUTS, which list what a whole spec renders to.
NODE_TARGETS: dict[str, tuple[str, ...]] = {
    name: entry.layouts for name, entry in ENTRIES.items() if entry.per_node
}


class Verbatim(str):
    """Text the engine's parser has checked to be whole statements (the spec's ``extra``): the
    render guard lets its syntax characters through, and refuses only what is not printable
    ASCII (a line break would start a statement nobody checked)."""

    __slots__ = ()


@dataclass
class View:
    """What a template needs, and what the translation had to say."""

    template: str
    context: dict[str, Any]
    diagnostics: list[Diagnostic] = field(default_factory=list)


class Findings:
    """Collects a translation's diagnostics; one per location and code, in file order."""

    def __init__(self, resolved: Resolved) -> None:
        self._resolved = resolved
        self._items: dict[tuple[Any, ...], Diagnostic] = {}

    def add(
        self,
        level: Level,
        code: str,
        path: Path_,
        message: str,
        *,
        key: bool = False,
        fields: Iterable[str] = (),
    ) -> None:
        """Record a finding at ``path`` (deduplicated: a ``defaults`` field used by two pools).

        ``key`` points at the key of ``path`` rather than its value (a name that is the problem);
        ``fields``: the fields under ``path`` it is about, when it is about several.
        """
        d = replace(
            self._resolved.diagnostic(level, code, path, message, key=key), fields=tuple(fields)
        )
        self._items.setdefault((d.file, d.line, d.col, code, d.path), d)

    def first_written(self, *paths: Path_) -> Path_ | None:
        """The first of ``paths`` the spec file spells out (a value set on the pool, else in
        defaults ...), for a finding about a value that may come from either; None when the
        user wrote none of them (a built-in default)."""
        for path in paths:
            if self._resolved.source.written(path):
                return path
        return None

    def flush_dropped(
        self, code: str, owner: Path_, dropped: Iterable[tuple[str, str]], engine: str
    ) -> None:
        """One note naming the built-in defaults ``engine`` cannot express for ``owner``.

        ``dropped`` holds ``(field, shown)`` pairs: the field relative to ``owner``
        (``timeouts.client_fin``) and how the message shows it (``timeouts.client_fin 10s``).
        """
        pairs = list(dropped)
        if pairs:
            shown = ", ".join(text for _, text in pairs)
            self.add(
                Level.NOTE, code, owner,
                f"{engine} cannot express these built-in defaults, left out: {shown}",
                fields=[name for name, _ in pairs],
            )  # fmt: skip

    def error(self, code: str, path: Path_, message: str, *, key: bool = False) -> None:
        """A spec that this engine cannot serve faithfully at all (or would refuse to start)."""
        self.add(Level.ERROR, code, path, message, key=key)

    def warning(self, code: str, path: Path_, message: str) -> None:
        """Something changes meaning in this engine."""
        self.add(Level.WARNING, code, path, message)

    def note(self, code: str, path: Path_, message: str) -> None:
        """Worth knowing, nothing lost."""
        self.add(Level.NOTE, code, path, message)

    def sorted(self) -> list[Diagnostic]:
        """All findings in file order."""
        return sorted(self._items.values(), key=sort_key)


def warn_log_host_name(resolved: Resolved, findings: Findings, engine: str) -> None:
    """A ``udp://name:port`` log target is resolved once, at start; unresolvable, no start."""
    from lbgen.units import is_dns_name

    log = resolved.global_.log or ""
    host = log.removeprefix("udp://").rpartition(":")[0]
    if log.startswith("udp://") and is_dns_name(host):
        findings.warning(
            "log-host-at-start", ("global", "log"),
            f"{engine} resolves the log host {host} once at start and refuses to start when it "
            "does not resolve: prefer an IP address",
        )  # fmt: skip


def provenance(resolved: Resolved, version: str, target: str, layout: str) -> list[str]:
    """The header comment lines: generator, spec name and digest; never a timestamp."""
    return [
        f"Generated by lbgen {version} (target {target}, layout {layout}). Do not edit by hand:",
        "change the spec and render again.",
        f"spec: {resolved.name or '(unnamed)'}",
        f"{DIGEST_FIELD}: {resolved.digest}",
    ]


def build_view(resolved: Resolved, target: str, layout: str, **options: Any) -> View:
    """The view of ``target``'s engine; ``options`` are its render options (nginx
    ``load_module``)."""
    view: View = get_engine(target).build_view(resolved, layout, **options)
    return view
