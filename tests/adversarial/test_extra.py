"""Injection through the escape hatch (the spec's ``extra`` lists).

An extra item is a whole directive, so the value oracle of test_injection (same structure as the
benign spec, word for word) does not apply to it. Its promise is narrower and checked here for
every payload class: an item is rejected, or it adds exactly one statement to its section as the
engine's tokenizer reads the rendering (HAProxy's line parser, nginx's lexer), and that statement
is the item's own directive. No payload smuggles a second statement, a section or a
block in.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from lbgen.diagnostics import SpecError
from lbgen.rendering import render
from lbgen.spec.models import Spec

from . import injection as inj

BASE: dict[str, Any] = {
    "version": 1,
    "frontends": {"api": {"bind": ["127.0.0.1:6443"], "pool": "cp"}},
    "pools": {"cp": {"servers": {"m1": "127.0.0.1:7001"}}},
}
#: (target, layout, engine key, a benign item for a frontend's extra list)
CASES = [
    ("haproxy", "full", "haproxy", "maxconn 2000"),
    ("nginx", "stream", "nginx", "tcp_nodelay on"),
    ("nginx", "full", "nginx", "tcp_nodelay on"),
]


def _payloads(benign: str) -> list[str]:
    out = [benign + text for text in inj.SNIPPETS.values()]
    out += [inj.SNIPPETS[name] + benign for name in inj.PREFIXED]
    return out


def _statements(target: str, text: str) -> list[inj.Statement]:
    return inj.haproxy_statements(text) if target == "haproxy" else inj.nginx_statements(text)


@pytest.mark.parametrize("target,layout,key,benign", CASES)
def test_an_extra_item_adds_one_statement_or_is_rejected(
    target: str, layout: str, key: str, benign: str
) -> None:
    base = render(Spec.model_validate(BASE), target, layout=layout)
    assert base.ok
    before = Counter(_statements(target, base.text))
    outcomes: Counter[str] = Counter()
    for payload in _payloads(benign):
        doc = copy.deepcopy(BASE)
        doc["frontends"]["api"]["extra"] = {key: [payload]}
        try:
            rendered = render(Spec.model_validate(doc), target, layout=layout)
        except (SpecError, ValidationError):
            outcomes["rejected"] += 1
            continue
        if not rendered.ok:
            outcomes["rejected"] += 1
            continue
        added = Counter(_statements(target, rendered.text)) - before
        removed = before - Counter(_statements(target, rendered.text))
        assert not removed, (payload, removed)
        assert sum(added.values()) == 1, (payload, added)
        (statement,) = added
        assert benign.split()[0] in " ".join(statement), (payload, statement)
        outcomes["one statement"] += 1
    # Both outcomes occur: the check was exercised on either side.
    assert outcomes["rejected"] > 0 and outcomes["one statement"] > 0, outcomes
