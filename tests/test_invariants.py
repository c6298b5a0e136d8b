"""Invariants over every golden case (tests/cases/): nothing dropped silently, lint quiet.

(a) Every field the user set in a golden case (at any level) that ``lbgen explain`` reports as
    dropped for a target has a diagnostic of that rendering naming it: at its path or where it
    was set, in a note's ``fields``, or on a block inside its object that holds it
    (``global.stats`` for ``global.stats.bind``), or on its object as a whole (a pool no frontend
    uses). A dropped field without one is a silent loss.
(b) ``lbgen lint`` over every golden output finds nothing outside :data:`LINT_ALLOWED`, whose
    entries each say why the finding is right for that case; an entry that no longer fires fails
    too, so the list cannot rot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import lbgen
from lbgen.diagnostics import Diagnostic
from lbgen.explain import Explanation, FieldReport, Outcome, explain
from lbgen.lint import lint_path
from lbgen.spec.load import loaded_of
from tests.adversarial.specgen import RENDERINGS

CASES = Path(__file__).parent / "cases"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "spec.yaml").is_file())


def _names(d: Diagnostic, path: str) -> bool:
    return d.path == path or any(f"{d.path}.{f}" == path for f in d.fields)


def names_field(d: Diagnostic, report: FieldReport, section: str) -> bool:
    """Whether ``d`` is about the field of ``report`` (in the object ``section``)."""
    if not d.path:
        return False
    if _names(d, report.path) or (report.origin is not None and _names(d, report.origin)):
        return True
    if not report.path.startswith(d.path + "."):
        return False
    # A block inside the object that holds the field (global.stats for global.stats.bind), or
    # the object itself or one that holds it, about the whole of it (no ``fields``): a pool no
    # frontend uses.
    return len(d.path) > len(section) or not d.fields


def silent_drops(e: Explanation, known: Callable[[FieldReport], bool] | None = None) -> list[str]:
    """User-set fields reported as dropped with no diagnostic naming them (and not ``known``)."""
    out = []
    for section in e.sections:
        for report in section.fields:
            if report.outcome is not Outcome.DROPPED or report.origin is None:
                continue
            if any(names_field(d, report, section.title) for d in e.diagnostics):
                continue
            if known is None or not known(report):
                out.append(f"{report.path} = {report.value!r} (set at {report.origin})")
    return out


def dropped_user_fields(e: Explanation) -> int:
    return sum(r.outcome is Outcome.DROPPED and r.origin is not None for r in e.fields())


@pytest.mark.parametrize(
    ("target", "layout"), RENDERINGS, ids=[f"{t}-{la}" for t, la in RENDERINGS]
)
@pytest.mark.parametrize("case", CASE_NAMES)
def test_golden_dropped_fields_have_a_diagnostic(case: str, target: str, layout: str) -> None:
    spec = lbgen.load_spec(CASES / case / "spec.yaml")
    e = explain(spec, target, layout=layout)
    assert not silent_drops(e), f"{case}, {target} {layout}: dropped without a diagnostic"


def test_the_golden_cases_drop_fields_for_the_check_to_see() -> None:
    # The invariant above is only as good as the drops it meets: nginx OSS drops many fields of
    # the kubernetes-api case (the active check, slowstart, the stats page ...).
    e = explain(lbgen.load_spec(CASES / "kubernetes-api" / "spec.yaml"), "nginx")
    assert dropped_user_fields(e) >= 5
    e = explain(lbgen.load_spec(CASES / "check-none" / "spec.yaml"), "haproxy")
    assert {r.path for r in e.fields() if r.outcome is Outcome.DROPPED} >= {
        "pools.cp.health.interval", "pools.cp.health.rise", "pools.cp.health.fall"
    }  # fmt: skip


def test_a_pool_that_checks_nothing_names_the_health_fields_it_ignores() -> None:
    """health.check none with other health fields set: a note names them (engine-neutral, at
    load), so explain can say why each is dropped."""
    spec = lbgen.load_spec(CASES / "check-none" / "spec.yaml")
    for target in ("haproxy", "nginx", "nginx-plus"):
        e = explain(spec, target)
        report = e.field("pools.cp.health.rise")
        assert report.outcome is Outcome.DROPPED
        assert [d.code for d in report.diagnostics] == ["health-unused"], target
    text = (CASES / "check-none" / "spec.yaml").read_bytes()
    checked = lbgen.load_spec(text.replace(b"{check: none}", b"{check: tcp}"))
    assert not [d for d in loaded_of(checked).diagnostics if d.code == "health-unused"]
    tcp = text.replace(b"{check: none}", b"{check: tcp, path: /livez}")
    notes = [d for d in loaded_of(lbgen.load_spec(tcp)).diagnostics if d.code == "health-unused"]
    assert [(d.path, d.fields) for d in notes] == [("pools.cp", ("health.path",))]
    e = explain(lbgen.load_spec(tcp), "haproxy")
    assert e.field("pools.cp.health.path").outcome is Outcome.DROPPED
    assert not silent_drops(e)
    for kind in (b"tcp", b"http"):  # neither speaks TLS: no certificate is presented
        cert = text.replace(b"{check: none}", b"{check: %s, client_cert: /etc/c.pem}" % kind)
        notes = [
            d for d in loaded_of(lbgen.load_spec(cert)).diagnostics if d.code == "health-unused"
        ]
        assert [(d.path, d.fields) for d in notes] == [("pools.cp", ("health.client_cert",))]
        assert not silent_drops(explain(lbgen.load_spec(cert), "haproxy"))
    nulls = text.replace(b"    rise: 1\n    fall: 2\n", b"").replace(
        b"interval: 2s", b"interval: null"
    )
    assert not [
        d for d in loaded_of(lbgen.load_spec(nulls)).diagnostics if d.code == "health-unused"
    ]


# --- (b) lint over the golden outputs ----------------------------------------------------------

#: Golden output file -> the lint flavour it is read as.
OUTPUT_ENGINES = {
    "haproxy.cfg": "haproxy",
    "nginx.stream.conf": "nginx",
    "nginx.full.conf": "nginx",
    "nginx.upstreams.conf": "nginx",
    "nginx-plus.stream.conf": "nginx-plus",
}

_SLOWSTART_STATIC = (
    "the spec sets slowstart with a balance that cannot change weights at run time; the "
    "rendering carries slowstart as written, and lint is right that HAProxy ignores it"
)
_NO_CHECK = "the case is health.check none: its servers are never checked, as the spec asks"
_SHORT_IDLE = "the case reproduces a classic config with a 3s idle timeout, on purpose"
_LIVEZ = "the spec asks for a /livez check; lint's note that /readyz is better is advice"

#: (case, output file, lint code) -> why the finding is right for that case.
LINT_ALLOWED: dict[tuple[str, str, str], str] = {
    ("balance-static-rr", "haproxy.cfg", "LB115"): _SLOWSTART_STATIC,
    ("balance-source", "haproxy.cfg", "LB115"): _SLOWSTART_STATIC,
    ("check-http-expect-codes", "haproxy.cfg", "LB104"): _LIVEZ,
    ("health-inherit-field-by-field", "haproxy.cfg", "LB104"): _LIVEZ,
    ("check-none", "haproxy.cfg", "LB105"): _NO_CHECK,
    ("check-none", "nginx.stream.conf", "LB105"): _NO_CHECK,
    ("check-none", "nginx.full.conf", "LB105"): _NO_CHECK,
    ("check-none", "nginx.upstreams.conf", "LB105"): _NO_CHECK,
    ("classic-nginx", "haproxy.cfg", "LB106"): _SHORT_IDLE,
    ("classic-nginx", "nginx.stream.conf", "LB106"): _SHORT_IDLE,
    ("classic-nginx", "nginx.full.conf", "LB106"): _SHORT_IDLE,
    ("classic-nginx", "nginx.upstreams.conf", "LB106"): _SHORT_IDLE,
    ("classic-nginx", "nginx-plus.stream.conf", "LB106"): _SHORT_IDLE,
    ("explicit-nulls", "haproxy.cfg", "LB103"): (
        "the case sets health.expect null: any 2xx/3xx passes the check, which lint notes"
    ),
}

GOLDEN_OUTPUTS = [
    (case, name) for case in CASE_NAMES for name in OUTPUT_ENGINES if (CASES / case / name).exists()
]


@pytest.mark.parametrize(
    ("case", "output"), GOLDEN_OUTPUTS, ids=[f"{c}-{o}" for c, o in GOLDEN_OUTPUTS]
)
def test_lint_finds_nothing_unexpected_in_golden_outputs(case: str, output: str) -> None:
    found = lint_path(CASES / case / output, OUTPUT_ENGINES[output])
    unexpected = [
        f"{d.line}: [{d.code}] {d.message}"
        for d in found
        if (case, output, d.code) not in LINT_ALLOWED
    ]
    assert not unexpected, f"{case}/{output}: lint findings outside the allow-list"
    allowed = {code for (c, o, code) in LINT_ALLOWED if (c, o) == (case, output)}
    stale = allowed - {d.code for d in found}
    assert not stale, f"{case}/{output}: allow-list entries lint no longer finds: {stale}"


def test_the_lint_allow_list_names_real_outputs() -> None:
    for case, output, _ in LINT_ALLOWED:
        assert (case, output) in GOLDEN_OUTPUTS, (case, output)
    assert len(GOLDEN_OUTPUTS) > 100  # every case has its five outputs (fewer when refused)


# Three user-set values nginx has no place for, found by explaining generated specs: each was
# reported as dropped without a word.
REDUNDANT_FOR_NGINX = """\
version: 1
defaults: {maxconn: 50}
frontends:
  api: {bind: [":6443"], pool: p}
pools:
  p:
    retries: 0
    redispatch: false
    weight: 5
    servers:
      a: {address: "127.0.0.1:6001", weight: 2, maxconn: 10}
      b: {address: "127.0.0.1:6002", weight: 0, disabled: true, maxconn: 20}
"""


@pytest.mark.parametrize("target", ["nginx", "nginx-plus"])
def test_values_that_reach_nothing_in_nginx_say_why(target: str) -> None:
    e = explain(lbgen.load_spec(REDUNDANT_FOR_NGINX.encode()), target)
    expected = {
        "pools.p.redispatch": "nginx-redispatch-moot",  # retries 0: no second attempt at all
        "pools.p.weight": "nginx-pool-value-unused",  # every server sets its own weight
        "pools.p.maxconn": "nginx-pool-value-unused",  # ... and its own maxconn (from defaults)
        "pools.p.servers.b.disabled": "nginx-disabled-moot",  # weight 0 is 'down' already
    }
    for path, code in expected.items():
        report = e.field(path)
        assert report.outcome is Outcome.DROPPED, path
        assert code in [d.code for d in report.diagnostics], (path, report.diagnostics)
    assert not silent_drops(e)
