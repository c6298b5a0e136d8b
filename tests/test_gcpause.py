"""Loading and rendering pause the cyclic garbage collector (a third of a large render's time
went to its passes) and always give it back as they found it."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import lbgen
from lbgen.diagnostics import SpecError
from lbgen.spec.models import Spec


def large_spec(pools: int = 300) -> str:
    """``pools`` pools of 10 servers, one frontend each, as JSON."""
    return json.dumps({
        "version": 1,
        "frontends": {f"fe{p}": {"bind": [f"127.0.0.1:{10000 + p}"], "pool": f"p{p}"}
                      for p in range(pools)},
        "pools": {f"p{p}": {"servers": {f"s{s}": f"10.0.{p % 250}.{s + 1}:6443"
                                        for s in range(10)}} for p in range(pools)},
    })  # fmt: skip


@pytest.fixture
def collections() -> Iterator[list[str]]:
    """The collector's passes ("start" of each) from the moment the test begins."""
    seen: list[str] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(phase)

    gc.collect()
    gc.callbacks.append(record)
    try:
        yield seen
    finally:
        gc.callbacks.remove(record)


def passes_during(call: Callable[[], object], seen: list[str]) -> int:
    gc.collect()
    seen.clear()
    call()
    return len(seen)


def test_loading_and_rendering_a_large_spec_run_no_collection(collections: list[str]) -> None:
    text = large_spec()
    spec = lbgen.load_spec(text)
    assert isinstance(spec, Spec)
    lbgen.render(spec, "haproxy")  # the first call imports modules, outside the pause
    # At most the one pass the counts that built up trigger once the collector is back on;
    # without the pause there are hundreds.
    assert passes_during(lambda: lbgen.load_spec(text), collections) <= 1
    assert passes_during(lambda: lbgen.render(spec, "haproxy"), collections) <= 1
    assert gc.isenabled()
    assert lbgen.render(spec, "haproxy").text.count("\n    server ") == 3000


def test_the_collector_is_back_on_after_a_bad_spec() -> None:
    with pytest.raises(SpecError):
        lbgen.load_spec('{"version": 1, "pools": {"p": {"servers": {"a": "nohost"}}}}')
    assert gc.isenabled()


def test_a_caller_that_turned_the_collector_off_keeps_it_off() -> None:
    gc.disable()
    try:
        lbgen.render(lbgen.load_spec(large_spec(2)), "haproxy")
        assert not gc.isenabled()
    finally:
        gc.enable()
