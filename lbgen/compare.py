"""Compare a spec with an existing config: ``lbgen diff``.

The spec is rendered for the target, and the *effective* model of that rendering
(:mod:`lbgen.effective`) is compared with the effective model of the existing config.
Layout, comments, the order of what the engine does not order, and spellings (``10s`` /
``10000`` / ``10000ms``, ``default-server inter 10s`` / per-server ``inter 10000``) therefore do
not count; what the engine would do differently does.

Every change reads from the existing config to the spec -- what rendering the spec over the file
would change -- and points to the line of the existing file to look at::

    backend kubernetes-api: server k8s-master2: weight 100 → 50 (haproxy.cfg:17)

A file lbgen generated from another spec (its provenance header names another ``spec-sha256``)
is reported as drift before the semantic changes. Drift alone does not make two configs
different: the exit code follows what the engine would do, so that an equivalent rendering of an
imported or reformatted spec is called equivalent.

The module is not called ``diff``: a submodule of that name would shadow :func:`lbgen.diff`.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import field, is_dataclass, replace
from typing import Any

from lbgen.diagnostics import Diagnostic, Level, SpecError
from lbgen.effective import effective
from lbgen.effective.differ import Difference, differences
from lbgen.effective.model import Bind, Config, Origin, format_duration
from lbgen.engine import get_engine
from lbgen.frozen import record
from lbgen.names import DIGEST_FIELD
from lbgen.rendering import Rendered, render
from lbgen.resolve import resolve_spec, spec_digest
from lbgen.spec.models import Spec

ARROW = "→"

#: Model fields holding microseconds, shown as durations.
_DURATIONS = frozenset(
    {"inter", "fastinter", "downinter", "slowstart", "fail_timeout", "connect", "client"}
    | {"server", "tunnel", "client_fin", "server_fin", "queue", "check", "idle"}
)

_HEALTH_NAMES: Mapping[str, str] = {
    "health.check": "health check",
    "health.method": "check method",
    "health.path": "check path",
    "health.version": "check version",
    "health.expect": "check expect status",
    "health.expect_raw": "check expect",
    "health.expect_body": "check expect string",
    "health.sni": "check sni",
    "health.client_cert": "check client certificate",
    "health.port": "check port",
    "health.rules": "check rules",
}


@record
class Change:
    """One difference between the existing config and the rendered spec.

    ``kind`` is ``drift``, ``changed``, ``added`` (in the spec, not in the config) or
    ``removed`` (in the config, not in the spec). ``scope`` names the frontend / backend /
    server (``backend kube: server m2``), ``setting`` the directive as the engine calls it.
    ``config`` and ``spec`` are the values as shown (``None`` for added/removed entities).
    ``origin`` is where the existing config sets the value, else where the enclosing section
    starts, so the reader knows where to look.
    """

    kind: str
    scope: str
    setting: str
    config: str | None
    spec: str | None
    origin: Origin | None = None
    path: tuple[str, ...] = ()

    def text(self, *, with_origin: bool = True) -> str:
        """The one-line form: ``SCOPE: SETTING OLD → NEW (file:line)``."""
        where = f" ({self.origin})" if self.origin is not None and with_origin else ""
        if self.kind == "drift":
            return f"{self.setting}{where}"
        head = f"{self.scope}: " if self.scope else ""
        if self.kind == "changed":
            return f"{head}{self.setting} {self.config} {ARROW} {self.spec}{where}"
        detail = self.spec if self.kind == "added" else self.config
        extra = f" ({detail})" if detail else ""
        # An nginx statement's own ";" would read "server_tokens off;: removed".
        subject = f"{self.setting.removesuffix(';')}: " if self.setting else ""
        return f"{head}{subject}{self.kind}{extra}{where}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``file``/``line`` of the existing config, ``text`` as printed)."""
        return {
            "kind": self.kind,
            "scope": self.scope,
            "setting": self.setting,
            "config": self.config,
            "spec": self.spec,
            "file": self.origin.file if self.origin else None,
            "line": self.origin.line if self.origin else None,
            "path": list(self.path),
            "text": self.text(),
        }


@record
class DiffResult:
    """What :func:`diff_config` found. ``equivalent`` is true when the engine would behave the
    same with either config (drift of the provenance header alone does not count)."""

    changes: tuple[Change, ...]
    drift: Change | None
    rendered: Rendered
    existing_text: str
    filename: str
    spec_label: str = "spec"
    diagnostics: tuple[Diagnostic, ...] = field(default=())
    """Warnings of the translation and of reading the existing config."""

    @property
    def equivalent(self) -> bool:
        """No semantic change."""
        return not self.changes

    def all_changes(self) -> list[Change]:
        """Drift first (when there is any), then the semantic changes."""
        return ([self.drift] if self.drift else []) + list(self.changes)

    def text(self) -> str:
        """One line per change, or ``equivalent``; ends with a newline."""
        lines = [c.text() for c in self.all_changes()]
        if self.equivalent:
            lines.append("equivalent")
        return "\n".join(lines) + "\n"

    def unified(self) -> str:
        """A plain unified diff from the existing text to the rendered text ("" when equal)."""
        return "".join(
            difflib.unified_diff(
                _lines(self.existing_text),
                _lines(self.rendered.text),
                fromfile=self.filename,
                tofile=f"{self.spec_label} (rendered for {self.rendered.target})",
            )
        )

    def json(self) -> str:
        """The changes (drift first) as a JSON list."""
        return json.dumps([c.to_json() for c in self.all_changes()], indent=2, ensure_ascii=False)


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def _engine(target: str) -> str:
    return "haproxy" if target == "haproxy" else "nginx"


#: An ``events {`` block at the start of a line: a whole nginx.conf (the full layout).
_FULL_NGINX = re.compile(r"^\s*events\s*\{", re.MULTILINE)


def diff_config(
    spec: Spec,
    target: str,
    existing_text: str,
    filename: str,
    layout: str | None = None,
    node: str | None = None,
) -> DiffResult:
    """Compare what ``spec`` renders for ``target`` with the config text ``existing_text``
    (for the per-node target keepalived: ``node``'s config).

    Raises :class:`~lbgen.diagnostics.SpecError` when the spec cannot be rendered for the
    target (translation errors) or the existing config cannot be read (parse errors, invalid
    values), and :class:`lbgen.rendering.TargetError` for an unknown target or layout, or a
    missing or unknown ``node``.
    """
    from lbgen.confparse import detect_engine, parse_config
    from lbgen.confparse.detect import is_keepalived

    own = get_engine(target)
    keepalived = is_keepalived(existing_text)
    if own.parse is not None and own.diff_changes is not None:
        rendered = render(spec, target, layout=layout, node=node)
        if not rendered.ok:
            raise SpecError(rendered.diagnostics)
        if not keepalived:
            raise SpecError([Diagnostic(
                Level.ERROR, "diff-engine",
                f"this does not look like a {target} config (no global_defs, vrrp_script or "
                "vrrp_instance block)", file=filename,
            )])  # fmt: skip
        return _diff_own_syntax(spec, own, rendered, existing_text, filename)
    engine = _engine(target)
    if keepalived:
        raise SpecError([Diagnostic(
            Level.ERROR, "diff-engine",
            f"this looks like a keepalived config, but target {target} renders {engine}; "
            "compare it with -t keepalived --node NAME", file=filename,
        )])  # fmt: skip
    if layout is None and engine == "nginx" and _FULL_NGINX.search(existing_text):
        # A whole nginx.conf is compared with the full layout: its main context (and the
        # spec's global.extra.nginx written there) is then on both sides.
        layout = "full"
    rendered = render(spec, target, layout=layout, node=node)
    if not rendered.ok:
        raise SpecError(rendered.diagnostics)
    # The text alone: a file name says nothing of a file with no directive in it (an empty
    # haproxy.cfg compared with -t nginx is a config that has none of the rendering yet).
    found = detect_engine(existing_text)
    if found is not None and found != engine:
        # Parsing one engine's syntax with the other's parser only gives confusing errors.
        raise SpecError(
            [
                Diagnostic(
                    Level.ERROR, "diff-engine",
                    f"this looks like an {found} config, but target {target} renders {engine}; "
                    f"compare it with -t {found}",
                    file=filename,
                )
            ]
        )  # fmt: skip
    ours = effective(parse_config(rendered.text, "<rendered>", engine))
    theirs = effective(parse_config(existing_text, filename, engine))
    problems = [d for d in theirs.diagnostics if d.level is Level.ERROR]
    if problems:
        raise SpecError(problems)
    labels: dict[str, str] = {}
    target_engine = get_engine(target)
    if target_engine.pair_configs is not None:
        theirs, labels = target_engine.pair_configs(theirs, ours, resolve_spec(spec))
    namer = _Namer(engine, labels, target_engine.diff_names)
    changes = [c for d in differences(theirs, ours) for c in namer.changes(d, theirs)]
    if engine != "haproxy":
        # HAProxy's default-server lines could be said once the same way; its diffs keep
        # naming each server for now.
        changes = _said_once(changes, theirs)
    loaded = getattr(spec, "_loaded", None)
    label = getattr(getattr(loaded, "source", None), "filename", None) or spec.name or "spec"
    warnings = [d for d in rendered.diagnostics if d.level is not Level.ERROR]
    return DiffResult(
        changes=tuple(_ordered(changes, theirs, ours)),
        drift=_drift(spec, theirs, filename),
        rendered=rendered,
        existing_text=existing_text,
        filename=filename,
        spec_label=str(label),
        diagnostics=(*warnings, *theirs.diagnostics),
    )


def _diff_own_syntax(
    spec: Spec, engine: Any, rendered: Rendered, existing_text: str, filename: str
) -> DiffResult:
    """The diff of an engine that reads and names its own model (keepalived): both texts
    through its parser and reader, the differences named by the engine."""
    ours = engine.read_effective(engine.parse(rendered.text, "<rendered>"))
    theirs = engine.read_effective(engine.parse(existing_text, filename))
    loaded = getattr(spec, "_loaded", None)
    label = getattr(getattr(loaded, "source", None), "filename", None) or spec.name or "spec"
    return DiffResult(
        changes=tuple(engine.diff_changes(theirs, ours)),
        drift=_drift(spec, theirs, filename),
        rendered=rendered,
        existing_text=existing_text,
        filename=filename,
        spec_label=str(label),
        diagnostics=tuple(d for d in rendered.diagnostics if d.level is not Level.ERROR),
    )


def _drift(spec: Spec, config: Any, filename: str) -> Change | None:
    found = config.header_fields().get(DIGEST_FIELD)
    ours = spec_digest(spec)
    if found is None or found == ours:
        return None
    return Change(
        kind="drift",
        scope="",
        setting=f"generated from another spec: sha256 {found}, this spec is {ours}",
        config=found,
        spec=ours,
        origin=Origin(filename, _header_line(config, DIGEST_FIELD)),
        path=("header", DIGEST_FIELD),
    )


def _header_line(config: Any, key: str) -> int | None:
    for number, line in enumerate(config.header, start=1):
        if line.strip().startswith(f"{key}:"):
            return number
    return None


class _Namer:
    """Turns model differences into changes named the way the engine's config names them."""

    def __init__(self, engine: str, labels: Mapping[str, str], names: Mapping[str, str]) -> None:
        self.engine = engine
        self.labels = labels
        self.names = {**names, **_HEALTH_NAMES}

    def scope(self, path: Sequence[str]) -> str:
        """``frontend X`` / ``backend X: server S`` (nginx: ``upstream``, listen addresses)."""
        group, key = path[0], path[1] if len(path) > 1 else ""
        if group == "globals":
            return "global"
        if group == "sections":
            return key
        if group == "frontends":
            if self.engine == "haproxy":
                return f"frontend {key}"
            label = self.labels.get(key)
            return f"frontend {label}" if label else f"server {{listen {key}}}"
        outer = f"{'backend' if self.engine == 'haproxy' else 'upstream'} {key}"
        if len(path) > 3 and path[2] == "servers":
            return f"{outer}: server {path[3]}"
        return outer

    def setting(self, name: str) -> str:
        """The directive a model field stands for."""
        if name in self.names:
            return self.names[name]
        if name.startswith("timeouts."):
            return "timeout " + name.removeprefix("timeouts.").replace("_", "-")
        return name.replace("_", "-") if self.engine == "haproxy" else name

    def changes(self, diff: Difference, existing: Config) -> list[Change]:
        """The changes one model difference stands for (``extras`` split per directive)."""
        path = diff.path
        entity_len = _entity_length(path)
        scope = self.scope(path)
        entity, found = _lookup(existing, path[:entity_len])
        rest = path[entity_len:]
        if not rest and path[0] == "sections":  # unmodelled directives: one change each
            old = getattr(diff.old, "extras", ())
            new = getattr(diff.new, "extras", ())
            each = Difference((*path, "extras"), old, new, diff.origin)
            return self._listed(each, scope, diff.old or diff.new, "extras", each.path)
        if not rest:  # a whole frontend/backend/server/global only on one side
            kind = "removed" if diff.new is None else "added"
            where = _origin_of(entity) if found else _origin_of(_lookup(existing, path[:-2])[0])
            if path[0] == "globals":  # a process setting set on one side only
                where = existing.global_origins.get(path[-1], where)
                return [
                    Change(
                        "changed", "global", path[-1], _show(path[-1], diff.old),
                        _show(path[-1], diff.new), where, path,
                    )
                ]  # fmt: skip
            detail = _entity_detail(diff.old if diff.new is None else diff.new)
            if detail is not None and scope.endswith(f"server {detail}"):
                detail = None  # nginx servers are named by their address already
            sub = scope.rpartition(": ")
            scope_text, setting = (sub[0], sub[2]) if sub[1] else (scope, "")
            old_detail, new_detail = (None, detail) if kind == "added" else (detail, None)
            return [Change(kind, scope_text, setting, old_detail, new_detail, where, path)]
        name = ".".join(rest)
        if rest[-1] in ("extras", "rules"):
            return self._listed(diff, scope, entity, name, path)
        return [
            Change(
                "changed",
                scope,
                self.setting(name),
                _show(rest[-1], diff.old),
                _show(rest[-1], diff.new),
                _field_origin(entity, name),
                path,
            )
        ]

    def _listed(
        self, diff: Difference, scope: str, entity: Any, name: str, path: tuple[str, ...]
    ) -> list[Change]:
        """Directives without a model field: one change per directive only on one side."""
        old, new = tuple(diff.old or ()), tuple(diff.new or ())
        out: list[Change] = []
        prefix = "check rule: " if name.endswith("rules") else ""
        for text in old:
            if text not in new:
                option = text.removeprefix("no ")
                where = _field_origin(
                    entity, option if option.startswith("option ") else f"extras:{text}"
                )
                out.append(Change("removed", scope, prefix + text, None, None, where, path))
        for text in new:
            if text not in old:
                where = _origin_of(entity)
                out.append(Change("added", scope, prefix + text, None, None, where, path))
        if not out:  # same directives, another order (rule lists are ordered)
            shown_old, shown_new = "; ".join(old), "; ".join(new)
            out.append(
                Change(
                    "changed", scope, "order of " + (prefix.rstrip(": ") or "directives"),
                    shown_old, shown_new, _origin_of(entity), path,
                )
            )  # fmt: skip
        return out


def _entity_length(path: Sequence[str]) -> int:
    """How many path parts name the entity (frontend, backend, server, global key)."""
    if path and path[0] == "backends" and len(path) > 3 and path[2] == "servers":
        return 4
    return min(2, len(path))


def _lookup(config: Config, path: Sequence[str]) -> tuple[Any, bool]:
    """The entity at ``path`` in ``config`` (the deepest one found, and whether all was)."""
    current: Any = config
    for part in path:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif is_dataclass(current) and hasattr(current, part):
            current = getattr(current, part)
        else:
            return current, False
    return current, True


def _origin_of(entity: Any) -> Origin | None:
    origin = getattr(entity, "origin", None)
    return origin if isinstance(origin, Origin) else None


def _field_origin(entity: Any, name: str) -> Origin | None:
    origins = getattr(entity, "origins", None)
    if isinstance(origins, Mapping):
        for key in (name, name.split(".")[0] + ".check" if name.startswith("health.") else ""):
            found = origins.get(key)
            if isinstance(found, Origin):
                return found
    return _origin_of(entity)


def _entity_detail(entity: Any) -> str | None:
    endpoint = getattr(entity, "endpoint", None)
    if isinstance(endpoint, str):
        return endpoint
    binds = getattr(entity, "binds", None)
    if binds:
        return _show("binds", binds)
    servers = getattr(entity, "servers", None)
    if isinstance(servers, Mapping):
        return f"{len(servers)} server{'s' if len(servers) != 1 else ''}"
    return None


def _show(name: str, value: Any) -> str:
    """A model value as the diff shows it: durations with units, yes/no, lists joined."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and name in _DURATIONS:
        return format_duration(value)
    if isinstance(value, Bind):
        return " ".join((value.address, *value.options))
    if isinstance(value, tuple | list):
        if not value:
            return "none"
        sep = "," if all(isinstance(v, int) for v in value) else ", "
        if name == "balance_args":
            sep = " "
        return sep.join(_show(name, v) for v in value)
    return str(value)


def _said_once(changes: list[Change], existing: Config) -> list[Change]:
    """One change, on the backend, for a line that every server of that backend takes a value
    from (an NGINX Plus ``health_check`` gives each server its ``interval``/``fails``/
    ``passes``), instead of the same line and values once per server."""

    def key(change: Change) -> tuple[Any, ...] | None:
        path = change.path
        if change.kind != "changed" or change.origin is None or len(path) != 5:
            return None
        if path[0] != "backends" or path[2] != "servers":
            return None
        return (path[1], path[4], change.config, change.spec, change.origin)

    groups: dict[tuple[Any, ...], list[Change]] = {}
    for change in changes:
        found = key(change)
        if found is not None:
            groups.setdefault(found, []).append(change)
    out: list[Change] = []
    said: set[tuple[Any, ...]] = set()
    for change in changes:
        found = key(change)
        backend = existing.backends.get(change.path[1]) if found is not None else None
        if found is None or backend is None:
            out.append(change)
            continue
        own_lines = {server.origin for server in backend.servers.values()}
        if (
            len(groups[found]) < 2
            or len(groups[found]) != len(backend.servers)
            or (change.origin in own_lines)
        ):
            out.append(change)
        elif found not in said:
            said.add(found)
            path = change.path
            scope = change.scope.rpartition(": server ")[0]
            out.append(replace(change, scope=scope, path=(path[0], path[1], path[4])))
    return out


def _ordered(changes: list[Change], existing: Config, rendered: Config) -> list[Change]:
    """Grouped: global, then each frontend, then each backend followed by its servers; in the
    existing file's order, with what only the spec has after."""
    rank: dict[tuple[str, ...], int] = {}
    for config in (existing, rendered):
        for group in ("frontends", "backends"):
            for key, entity in getattr(config, group).items():
                rank.setdefault((group, key), len(rank))
                for server in getattr(entity, "servers", {}):
                    rank.setdefault((group, key, "servers", server), len(rank))

    def position(change: Change) -> tuple[int, int, int]:
        path = change.path
        group = {"header": 0, "globals": 1, "sections": 1, "frontends": 2, "backends": 3}.get(
            path[0] if path else "", 4
        )
        entity = rank.get(tuple(path[:2]), len(rank))
        server = rank.get(tuple(path[:4]), 0) if len(path) > 3 and path[2] == "servers" else -1
        return group, entity, server

    return sorted(changes, key=position)


__all__ = ["ARROW", "Change", "DiffResult", "diff_config"]
