"""Injection through every string place of the spec, judged by the config's structure.

Each attempt puts a payload (line breaks, CR, NUL, U+2028, NEL, '#', ';', braces, quotes,
backslashes, ``$var``, ``%[...]``, zone ids, non-ASCII digits, very long strings, ...) at one
place, delivered through the library (the models) or through real YAML text (a double-quoted
scalar with escapes, or a literal block, which adds a final newline). Its outcome is:

- rejected: a clean SpecError / validation error, or a translation error, for every target;
- rendered safely: every rendering tokenized as the engine tokenizes it (HAProxy's line parser,
  nginx's lexer via crossplane) has the statement structure of the benign base spec, word for
  word except where the field's value is printed;
- injected: any rendering whose structure differs. Any other exception is a crash.

A sample of the safe renderings also goes through the real ``haproxy -c -dW`` and ``nginx -t``.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lbgen.diagnostics import SpecError
from lbgen.rendering import render
from lbgen.spec.load import attach, load
from lbgen.spec.models import Spec
from lbgen.view import LAYOUTS

from ..engine_check import engine_check
from . import injection as inj

TARGET_LAYOUTS = [(t, layout) for t, layouts in LAYOUTS.items() for layout in layouts]
CASES = Path(__file__).resolve().parents[1] / "cases"
#: Payload classes also delivered as YAML text (a double-quoted scalar with escapes), and the
#: ones delivered as a literal block (``|``): every YAML load costs ~10 ms, the models ~0.1 ms.
YAML_QUOTED = {
    "suffix:newline", "suffix:crlf", "suffix:cr", "suffix:nul", "suffix:u2028", "suffix:u2029",
    "suffix:nel", "suffix:esc", "suffix:del", "suffix:bom", "suffix:tab", "suffix:nbsp",
    "suffix:squote", "suffix:dquote", "suffix:backslash", "suffix:haproxy-line",
    "suffix:nginx-line", "digit:fullwidth", "digit:superscript", "zone-id:1", "prefix:bom",
}  # fmt: skip
YAML_BLOCK = {"suffix:space", "suffix:haproxy-line", "suffix:nginx-block", "suffix:hash",
              "suffix:statement", "long:63"}  # fmt: skip
ENGINE_SAMPLE = 8  # safe renderings per engine layout checked by the real engine
#: Places whose accepted values the engine cannot check here: a client_cert must be a real file.
NOT_ENGINE_CHECKED = ("client_cert",)


@dataclass
class Tally:
    """Outcomes of every attempt, and what is needed to explain a failure."""

    outcomes: Counter[str] = field(default_factory=Counter)
    by_delivery: Counter[str] = field(default_factory=Counter)
    injected: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    defence: int = 0
    safe_texts: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)

    def summary(self) -> str:
        o = self.outcomes
        return (
            f"attempts {sum(o.values())} / rejected {o['rejected']} / rendered safely "
            f"{o['safe']} / injected {o['injected']} / crashes {o['crash']} "
            f"(deliveries: {dict(sorted(self.by_delivery.items()))}; "
            f"refused by the rendering defence: {self.defence})"
        )


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The base spec with a real certificate file for client_cert (HAProxy loads it); copied to
    a temporary folder, whose path fits the client_cert grammar wherever the checkout is."""
    pem = CASES / "check-https-client-cert" / "client.pem"
    target = shutil.copy(pem, tmp_path_factory.mktemp("cert") / "client.pem")
    doc = inj.with_payload(inj.BASE, inj.Place(("defaults", "health", "client_cert")), str(target))
    path = ("pools", "cp", "health", "client_cert")
    return inj.with_payload(doc, inj.Place(path), str(target))


def _structures(spec: Spec) -> dict[tuple[str, str], tuple[str, list[inj.Statement]]]:
    out = {}
    for target, layout in TARGET_LAYOUTS:
        rendered = render(spec, target, layout=layout)
        assert rendered.ok, rendered.diagnostics
        out[(target, layout)] = (rendered.text, tokenize(target, rendered.text))
    return out


def tokenize(target: str, text: str) -> list[inj.Statement]:
    return inj.haproxy_statements(text) if target == "haproxy" else inj.nginx_statements(text)


def run_attempt(
    tally: Tally, delivery: str, label: str, make: Callable[[], Spec], values: list[str],
    benign: dict[tuple[str, str], list[inj.Statement]], benign_values: list[str],
) -> None:  # fmt: skip
    tally.by_delivery[delivery] += 1
    try:
        spec = make()
    except SpecError as exc:
        codes = {d.code for d in exc.diagnostics}
        # The YAML text itself must be well formed: the spec is what gets rejected.
        assert codes and not codes & {"yaml-syntax", "duplicate-key"}, (label, exc.diagnostics)
        tally.outcomes["rejected"] += 1
        return
    except ValidationError:
        tally.outcomes["rejected"] += 1
        return
    except Exception as exc:  # a crash is an outcome to count and show
        tally.outcomes["crash"] += 1
        tally.crashes.append(f"{label}: load: {type(exc).__name__}: {exc}")
        return
    rendered_any = False
    for key in TARGET_LAYOUTS:
        try:
            rendered = render(spec, key[0], layout=key[1])
        except SpecError:
            tally.defence += 1
            continue
        except Exception as exc:  # a crash, counted
            tally.outcomes["crash"] += 1
            tally.crashes.append(f"{label}: render {key}: {type(exc).__name__}: {exc}")
            return
        if not rendered.ok:
            continue
        attempt = inj.masked(tokenize(key[0], rendered.text), values)
        why = inj.same_structure(inj.masked(benign[key], benign_values), attempt)
        if why:
            tally.outcomes["injected"] += 1
            tally.injected.append(f"{label} -> {key}: {why}")
            return
        rendered_any = True
        tally.safe_texts.setdefault(key, []).append((label, rendered.text))
    tally.outcomes["safe" if rendered_any else "rejected"] += 1


def test_every_string_place_is_found() -> None:
    places = inj.string_places()
    assert len(places) >= 40, places
    shown = {str(p) for p in places}
    for expected in ("pools.cp (key)", "pools.cp.servers.m1 (key)", "frontends.api.bind.0",
                     "global.stats.bind", "global.health.path", "defaults.health.client_cert",
                     "pools.cp.servers.m1.address", "global.log", "name"):  # fmt: skip
        assert expected in shown, sorted(shown)
    for place in places:
        assert inj.benign_value(place), f"the base spec sets nothing at {place}"


def test_no_payload_injects_through_any_place(base: dict[str, Any], figures: Any) -> None:
    base_spec = Spec.model_validate(base)
    base_structures = _structures(base_spec)
    benign_tokens = {key: statements for key, (_, statements) in base_structures.items()}
    tally = Tally()
    places = inj.string_places()
    for place in places:
        benign_value = inj.benign_value(place)
        benign_values = inj.derived(benign_value)
        for payload in inj.payloads_for(benign_value):
            label = f"{place} {payload.kind}"
            values = inj.derived(payload.value)
            doc = inj.with_payload(base, place, payload.value)
            run_attempt(tally, "models", label, lambda d=doc: Spec.model_validate(d),
                        values, benign_tokens, benign_values)  # fmt: skip
            if payload.kind in YAML_QUOTED:
                text = inj.yaml_text(base, place, payload.value, "quoted")
                run_attempt(tally, "yaml-quoted", label, lambda t=text: attach(load(t)),
                            values, benign_tokens, benign_values)  # fmt: skip
            if payload.kind in YAML_BLOCK and inj.block_deliverable(payload.value):
                text = inj.yaml_text(base, place, payload.value, "block")
                block_values = inj.derived(payload.value + "\n") + values
                run_attempt(tally, "yaml-block", label + " as |block",
                            lambda t=text: attach(load(t)), block_values, benign_tokens,
                            benign_values)  # fmt: skip
    figures(tally.summary())
    assert tally.outcomes["safe"] > 0, tally.summary()  # the comparison was exercised
    assert tally.outcomes["rejected"] > 0, tally.summary()
    assert not tally.injected, tally.summary() + "\n" + "\n".join(tally.injected[:20])
    assert not tally.crashes, tally.summary() + "\n" + "\n".join(tally.crashes[:20])
    assert sum(tally.outcomes.values()) >= len(places) * 60, tally.summary()
    test_no_payload_injects_through_any_place.safe_texts = tally.safe_texts  # type: ignore[attr-defined]


def test_the_comparison_sees_an_injection() -> None:
    # The oracle itself: the structure differs when a line is smuggled in, for both tokenizers.
    haproxy = "backend cp\n    server m1 1.2.3.4:1\n"
    smuggled = "backend cp\n    server m1 1.2.3.4:1 #\n    server evil 6.6.6.6:1\n"
    assert inj.same_structure(inj.haproxy_statements(haproxy), inj.haproxy_statements(smuggled))
    quoted = "backend cp\n    server 'm1 x' 1.2.3.4:1\n"
    assert inj.same_structure(inj.haproxy_statements(haproxy), inj.haproxy_statements(quoted))
    nginx = "upstream cp {\n    server 1.2.3.4:1;\n}\n"
    evil = "upstream cp {\n    server 1.2.3.4:1; server 6.6.6.6:1;\n}\n"
    assert inj.same_structure(inj.nginx_statements(nginx), inj.nginx_statements(evil))
    renamed = "upstream cp2 {\n    server 1.2.3.4:1;\n}\n"
    assert inj.same_structure(
        inj.masked(inj.nginx_statements(nginx), ["cp"]),
        inj.masked(inj.nginx_statements(renamed), ["cp2"]),
    ) is None  # fmt: skip


def test_safe_renderings_pass_the_real_engines(base: dict[str, Any], figures: Any) -> None:
    """A sample of what the injection run rendered safely, checked by haproxy -c -dW / nginx -t."""
    tally = Tally()
    base_spec = Spec.model_validate(base)
    benign = {k: s for k, (_, s) in _structures(base_spec).items()}
    for place in inj.string_places():
        if place.path[-1] in NOT_ENGINE_CHECKED:
            continue
        value = inj.benign_value(place)
        for payload in inj.payloads_for(value):
            doc = inj.with_payload(base, place, payload.value)
            run_attempt(tally, "models", f"{place} {payload.kind}",
                        lambda d=doc: Spec.model_validate(d), inj.derived(payload.value), benign,
                        inj.derived(value))  # fmt: skip
    checked = Counter[str]()
    failures = []
    texts = [("base", "haproxy", "full", _structures(base_spec)[("haproxy", "full")][0])]
    for (target, layout), safe in sorted(tally.safe_texts.items()):
        if target == "nginx-plus":
            continue  # NGINX Plus directives (health_check, match) need NGINX Plus itself
        step = max(1, len(safe) // ENGINE_SAMPLE)
        texts += [(label, target, layout, text) for label, text in safe[::step][:ENGINE_SAMPLE]]
    for label, target, layout, text in texts:
        engine = "haproxy" if target == "haproxy" else "nginx"
        result = engine_check(text, engine, strict=True)
        if result.load_module and layout == "full":
            # This nginx loads stream dynamically: the rendering needs --load-module, as the
            # check says; what is judged here is the value's structure, so add the line.
            result = engine_check(f"load_module {result.load_module};\n{text}", engine, strict=True)
        checked[f"{engine}/{layout}"] += 1
        if not result.ok:
            failures.append(f"{label} ({target} {layout}): {result.summary()}\n{result.output}")
    figures(f"engine-checked safe renderings: {dict(checked)}; rejected by the engine: "
            f"{len(failures)}")  # fmt: skip
    assert sum(checked.values()) > 4
    assert not failures, "\n".join(failures[:5])


def test_schema_key_never_reaches_a_config() -> None:
    """``$schema`` is an editor's hint the loader drops: even a hostile one renders nothing."""
    import lbgen

    hostile = "x\n    server INJECTED 6.6.6.6:6443 #"
    spec = lbgen.load_spec(json.dumps({"$schema": hostile, **inj.BASE}))
    for target in ("haproxy", "nginx"):
        rendered = lbgen.render(spec, target, allow_errors=True)
        assert "INJECTED" not in rendered.text
