"""Every spec that validates starts in the engines: a property over generated specs.

Hypothesis generates specs over every field (see :mod:`tests.adversarial.specgen`), renders each
valid one for every target and layout, and lets the real engines judge every rendering lbgen does
not refuse: ``haproxy -c -dW`` (or, where lbgen warned, plain ``haproxy -c``: HAProxy starts, but
-dW turns its warning into a failure) and ``nginx -t`` (in a network namespace of its own, since
it binds its sockets). NGINX Plus renderings cannot be checked without NGINX Plus; their match
blocks are checked structurally. The counts are printed at the end.

Locally this runs a bounded, derandomized example count; with ``CI=true`` a larger random one
(``LBGEN_ENGINE_START_EXAMPLES`` overrides both). The same generator feeds the integration test
that checks a batch against the Docker builds of both Debian releases.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.engine_check import can_isolate, isolated_check

from .specgen import ENGINE, Tally, load_document, refused, render_all, specs, warned

CI = os.environ.get("CI", "") not in ("", "0", "false")
EXAMPLES = int(os.environ.get("LBGEN_ENGINE_START_EXAMPLES", "400" if CI else "60"))
#: Shrinking calls the engines hundreds of times (minutes): CI reports the failing spec as found.
PHASES = [p for p in Phase if not (CI and p is Phase.shrink)]

pytestmark = pytest.mark.skipif(not can_isolate(), reason="needs root, unshare and ip")


def judge(engine: str, text: str, lbgen_warned: bool) -> str:
    """``accepted``, ``warned`` (only a warning lbgen also gave) or the engine's complaint."""
    result = isolated_check(text, engine, strict=True)
    if result.load_module:
        # This nginx loads stream dynamically: a full config needs the --load-module line the
        # check names (the rendering was made without one, for every machine alike).
        text = f"load_module {result.load_module};\n{text}"
        result = isolated_check(text, engine, strict=True)
    if result.ok:
        return "accepted"
    if engine == "haproxy":
        if lbgen_warned and isolated_check(text, engine, strict=False).ok:
            return "warned"
        return result.output
    failed = "test failed" in result.output or "[emerg]" in result.output
    if not failed and lbgen_warned:
        return "warned"
    return result.output


def check_plus_matches(text: str) -> None:
    """Every NGINX Plus match block has its own name and every match= names one of them."""
    blocks = re.findall(r"^\s*match (\S+) \{", text, re.M)
    assert len(blocks) == len({b.lower() for b in blocks}), blocks
    for used in re.findall(r"match=(\S+);", text):
        assert used in blocks, (used, blocks)


def test_every_valid_spec_starts_in_the_engines(capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not CI,
        database=None,
        phases=PHASES,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(specs())
    def run(document: dict[str, Any]) -> None:
        tally.specs += 1
        spec = load_document(document)
        if spec is None:
            tally.invalid += 1
            return
        for target, layout, rendered in render_all(spec):
            key = f"{target} {layout}"
            tally.add(key, "rendered")
            if refused(rendered):
                tally.add(key, "refused")
                continue
            if target == "nginx-plus":
                check_plus_matches(rendered.text)
                tally.add(key, "unchecked")
                continue
            verdict = judge(ENGINE[target], rendered.text, warned(rendered))
            if verdict in ("accepted", "warned"):
                tally.add(key, "accepted")
                if verdict == "warned":
                    tally.add(key, "warned")
                continue
            tally.add(key, "rejected")
            problems = "\n".join(str(d) for d in rendered.diagnostics)
            raise AssertionError(
                f"{key}: lbgen accepted, the engine refused:\n{verdict}\n"
                f"--- lbgen said:\n{problems}\n--- rendering:\n{rendered.text}"
            )

    try:
        run()
    finally:
        with capsys.disabled():
            print(f"\n[engine-start] local haproxy/nginx, {EXAMPLES} examples")
            for line in tally.lines():
                print(f"[engine-start] {line}")
    rendered = sum(c["rendered"] for c in tally.per.values())
    assert tally.specs >= EXAMPLES and rendered > 0
