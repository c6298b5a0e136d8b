"""``lbgen explain`` probes a pool's fields in a cut-down spec: the same answers as probing the
whole spec.

explain once rendered the whole spec again for every probe of every field and diffed the whole
text (time grew with the square of the spec). It now probes a field of a pool or frontend in a
scope holding that pool, its frontends and the frontends listening on their ports. The reference
below is that first algorithm, kept verbatim: on a spec of several pools that differ in their
settings, and whose frontends share ports across pools, both give the same explanation, text and
JSON, for every engine. No timing here: ``benchmarks/explain_scale.py`` prints the figures.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any

import pytest

import lbgen
from lbgen import explain as explain_module
from lbgen.diagnostics import Diagnostic, Level, sort_key
from lbgen.explain import (
    Explanation,
    FieldReport,
    Outcome,
    Section,
    _alternatives,
    _Candidate,
    _candidates,
    _Effect,
    _fragments,
    _pair_lines,
    _tokens,
    explain,
    format_explanation,
    format_json,
)
from lbgen.rendering import make_environment, render_resolved, target_layout
from lbgen.resolve import Resolved, resolve_spec
from lbgen.spec import fields
from lbgen.spec.load import LoadedSpec, loaded_of
from lbgen.spec.models import Spec
from lbgen.spec.source import Path_, dotted
from lbgen.spec.vip import priorities
from lbgen.view import build_view

# --- the reference: the whole spec rendered and diffed for every probe ------------------------


def _set(data: dict[str, Any], path: Path_, value: Any) -> None:
    node: Any = data
    for index, part in enumerate(path[:-1]):
        child = node[part] if isinstance(part, int) else node.get(part)
        if child is None:
            child = {}
        elif isinstance(child, str) and path[index - 1] == "servers":
            child = {"address": child}
        node[part] = child
        node = child
    node[path[-1]] = value


class _WholeProber:
    """The first prober: a deep copy of the spec, a whole rendering and a whole diff per probe."""

    def __init__(self, spec: Spec, target: str, layout: str, options: dict[str, Any]) -> None:
        self.target = target
        self.layout = layout
        self.options = options
        self.loaded = loaded_of(spec)
        self.data = spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
        self.priorities = priorities(spec.vip) if spec.vip is not None else []
        self.environment = make_environment()
        self.base, self.base_errors = self._render(resolve_spec(spec, self.loaded))
        self.listening = explain_module._listening(spec)

    def _render(
        self, resolved: Resolved, options: dict[str, Any] | None = None
    ) -> tuple[list[str], set[tuple[str, str]]]:
        view = build_view(resolved, self.target, self.layout, **(options or self.options))
        template = self.environment.get_template(view.template)
        lines = template.render({**view.context, "header": []}).splitlines()
        return lines, {(d.code, d.path) for d in view.diagnostics if d.level is Level.ERROR}

    def probe(self, path: Path_, value: Any) -> list[str] | None:
        data = copy.deepcopy(self.data)
        options = self.options
        try:
            renamed = path[:2] == ("vip", "nodes") and path[3:] == ("name",)
            if renamed and data["vip"]["nodes"][path[2]]["name"] == options.get("node"):
                options = {**options, "node": value}
            if path[:2] == ("vip", "nodes") and path[3:] == ("priority",):
                for entry, derived in zip(data["vip"]["nodes"], self.priorities, strict=True):
                    entry.setdefault("priority", derived)
            _set(data, path, value)
            spec = Spec.model_validate(data)
            loaded = LoadedSpec(spec=spec, source=self.loaded.source, diagnostics=[])
            lines, errors = self._render(resolve_spec(spec, loaded), options)
        except Exception:
            return None
        return None if errors - self.base_errors else lines

    def effect(self, path: Path_, values: Sequence[Any]) -> _Effect:
        effect = _Effect(self.base)
        for value in values:
            lines = self.probe(path, value)
            if lines is not None:
                effect.probed.append(value)
                _whole_compare(self.base, lines, effect)
        return effect


def _whole_compare(base: list[str], other: list[str], effect: _Effect) -> None:
    matcher = SequenceMatcher(None, base, other, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        effect.influenced = True
        if tag == "replace" and i2 - i1 == j2 - j1:
            for offset in range(i2 - i1):
                a, b = _tokens(base[i1 + offset]), _tokens(other[j1 + offset])
                changed: set[int] = set()
                tokens = SequenceMatcher(None, a, b, autojunk=False)
                for ttag, t1, t2, _, _ in tokens.get_opcodes():
                    if ttag != "equal":
                        changed.update(range(t1, t2))
                if changed:
                    effect.tokens(i1 + offset, changed)
        elif tag == "replace":
            _pair_lines(base, other, (i1, i2), (j1, j2), effect)
        else:
            for index in range(i1, i2):
                effect.whole(index)


def _why_dropped(
    diagnostics: Sequence[Diagnostic],
    candidate: _Candidate,
    relative: str,
    senders: Sequence[str],
    *,
    enclosing: bool,
) -> list[Diagnostic]:
    """``senders``: the frontends sending to the candidate's pool, whose notes may name the
    pool's fields (not a frontend's own)."""
    found = []
    owner = candidate.section
    field_path = dotted(candidate.path)
    row = fields.BY_PATH.get(relative)
    pool_field = row is not None and fields.Scope.FRONTEND not in row.scopes
    for d in diagnostics:
        if not d.path:
            continue
        names_it = d.path == owner and relative in d.fields
        names_it |= pool_field and d.path in senders and relative in d.fields
        holds_it = field_path.startswith(d.path + ".") and len(d.path) > len(owner)
        if names_it or (enclosing and holds_it):
            found.append(d)
    return found


def _report(
    spec: Spec,
    candidate: _Candidate,
    prober: _WholeProber,
    diagnostics: Sequence[Diagnostic],
    loaded: LoadedSpec,
) -> FieldReport:
    path = dotted(candidate.path)
    origin = dotted(candidate.source) if candidate.source is not None else None
    line = loaded.source.position(candidate.source)[0] if candidate.source is not None else None
    paths = {path} | ({origin} if origin else set())
    own = [d for d in diagnostics if d.path in paths]
    located = fields.locate(candidate.path)
    assert located is not None
    common = {"path": path, "value": candidate.value, "origin": origin, "line": line}
    if candidate.value is None:
        return FieldReport(**common, outcome=Outcome.NULL, diagnostics=tuple(own))
    values = _alternatives(located[1], candidate.value, prober.listening)
    effect = prober.effect(candidate.path, values)
    output = _fragments(prober.base, effect)
    if output:
        outcome = Outcome.WRITTEN
    elif any(d.level is Level.ERROR for d in own):  # a value the engine refuses
        outcome = Outcome.DROPPED
    elif effect.influenced:
        outcome = Outcome.ENGINE_DEFAULT
    else:
        outcome = Outcome.DROPPED
    relative = dotted(candidate.path[len(candidate.section_path) :])
    senders = [
        f"frontends.{name}"
        for name, frontend in spec.frontends.items()
        if f"pools.{frontend.pool}" == candidate.section
    ]
    why = _why_dropped(
        diagnostics, candidate, relative, senders, enclosing=outcome is Outcome.DROPPED
    )
    own += [d for d in why if d not in own]
    return FieldReport(
        **common,
        outcome=outcome,
        output=output,
        diagnostics=tuple(sorted(own, key=sort_key)),
        probed=tuple(effect.probed),
    )


def reference_explain(spec: Spec, target: str, layout: str | None = None) -> Explanation:
    """explain() as it first was: every probe renders and diffs the whole spec."""
    layout = target_layout(target, layout)
    loaded = loaded_of(spec)
    rendered = render_resolved(resolve_spec(spec, loaded), target, layout=layout)
    diagnostics = tuple(rendered.diagnostics)
    prober = _WholeProber(spec, target, layout, {})
    claimed: set[Diagnostic] = set()
    sections: dict[str, list[FieldReport]] = {}
    for candidate in _candidates(spec, None, target):
        if candidate.value is None and candidate.source is None:
            continue
        report = _report(spec, candidate, prober, diagnostics, loaded)
        claimed.update(report.diagnostics)
        sections.setdefault(candidate.section, []).append(report)
    return Explanation(
        target=target,
        layout=layout,
        file=loaded.source.filename,
        name=spec.name,
        sections=tuple(Section(title, tuple(reports)) for title, reports in sections.items()),
        diagnostics=diagnostics,
        unattached=tuple(sorted((d for d in diagnostics if d not in claimed), key=sort_key)),
    )


# --- a spec of pools that differ --------------------------------------------------------------

_BALANCES = ("roundrobin", "leastconn", "source", "random", "static-rr", "first")


def varied_spec(pools: int = 6) -> str:
    """``pools`` pools that differ in balance, health check, server settings (weights, backup,
    disabled, maxconn, an IPv6 and DNS-named servers) and extras; pool0 has two frontends. The
    frontends share ports across pools: fe{3k+2} binds IPv4 on the port of fe{3k+1}'s ``[::]``
    bind, and fe{3k+3} binds IPv4 on the port just below fe{3k+2}'s ``[::]`` bind, where its
    bind's probe moves it (nginx makes a dual-stack ``[::]:port`` IPv6-only beside an IPv4
    address of its port: one frontend's field writes another's line)."""
    lines = [
        "version: 1",
        "name: varied",
        "global:",
        "  maxconn: 20000",
        "  stats: {bind: '127.0.0.1:9000', admin: true, auth: ['admin:pw']}",
        "  health: {bind: ':8081', path: /healthz, ready_path: /readyz}",
        "defaults:",
        "  health: {check: https, path: /readyz, interval: 2s, fall: 3, rise: 2}",
        "  timeouts: {connect: 5s, client: 1h, server: 1h}",
        "  retries: 3",
        "  weight: 100",
        "frontends:",
    ]
    for p in range(pools):
        port = 6443 + p
        binds = [f"127.0.0.1:{port}"]
        if p % 3 == 1:
            binds.append(f"'[::]:{port}'")
        if p % 3 == 2:
            binds = [f"10.0.0.1:{port - 1}", f"'[::]:{7000 + p}'"]
        if p % 3 == 0 and p:
            binds.append(f"10.0.0.3:{7000 + p - 2}")
        lines.append(f"  fe{p}: {{bind: [{', '.join(binds)}], pool: pool{p}}}")
        if p == 0:
            lines.append("  fe0b: {bind: ['127.0.0.2:6443'], pool: pool0, timeouts: {client: 30m}}")
    lines.append("pools:")
    for p in range(pools):
        lines += [f"  pool{p}:", f"    balance: {_BALANCES[p % len(_BALANCES)]}"]
        if p % 2:
            lines.append("    health: {check: tcp, fall: 5}")
        if p % 3 == 0:
            lines += ["    slowstart: 30s", "    timeouts: {server: 2h, tunnel: 1h}"]
        if p == 4:
            lines.append("    extra: {haproxy: ['fullconn 100'], nginx: ['keepalive 8']}")
        lines.append("    servers:")
        for s in range(3 + p % 3):
            address = f"10.{p}.0.{s + 1}:6443" if p != 5 else f"m{s}.example.com:6443"
            if p == 3 and s == 1:
                address = f"'[fd00::{s + 1}]:6443'"
            params = []
            if s == 1:
                params.append("weight: 50")
            if s == 2:
                params.append("backup: true" if p % 2 == 0 else "disabled: true")
            if s == 0 and p % 2 == 0:
                params.append("maxconn: 1000")
            server = f"{{address: {address}, {', '.join(params)}}}" if params else address
            lines.append(f"      s{s}: {server}")
    return "\n".join(lines) + "\n"


TARGETS = [("haproxy", None), ("nginx", "stream"), ("nginx", "full"), ("nginx-plus", None)]


@pytest.mark.parametrize(("target", "layout"), TARGETS)
def test_scoped_probes_explain_as_whole_spec_probes(target: str, layout: str | None) -> None:
    spec = lbgen.load_spec(varied_spec(6))
    expected = reference_explain(spec, target, layout)
    got = explain(spec, target, layout=layout)
    assert format_explanation(got) == format_explanation(expected)
    assert format_json(got) == format_json(expected)


def test_a_bind_writes_another_frontends_line_in_nginx() -> None:
    """fe3's bind at 10.0.0.3:7001 was probed at 7002, which made fe2's ``[::]:7002``
    IPv6-only, and fe2's line was credited to fe3's bind: the probe moves a bind to a port no
    listener of the spec uses, so the bind owns its own line only."""
    spec = lbgen.load_spec(varied_spec(6))
    output = explain(spec, "nginx").field("frontends.fe3.bind[1]").output
    assert output == ("listen 10.0.0.3:7001;",)


def test_pool_fields_are_probed_in_a_scope_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Of a spec of several pools, a pool's field is probed in a scope that is not the whole
    spec (so a probe costs the pool, not the spec); global and defaults fields on the whole
    spec."""
    scopes: list[tuple[Path_, bool]] = []
    effect = explain_module._Prober._effect

    def spy(
        self: explain_module._Prober, scope: Any, path: Path_, values: Sequence[Any]
    ) -> _Effect:
        scopes.append((path, scope is self.whole))
        return effect(self, scope, path, values)

    monkeypatch.setattr(explain_module._Prober, "_effect", spy)
    explain(lbgen.load_spec(varied_spec(6)), "haproxy")
    whole = {path[0] for path, is_whole in scopes if is_whole}
    assert whole == {"global", "defaults"}
    assert any(path[:2] == ("pools", "pool3") for path, _ in scopes)
