"""One list of engines: the command line's choices, lint's engines and the runners' programs
all agree with lbgen.engine.ENTRIES and with the Engine values the packages build.

The command line keeps its own enums (typer needs classes at import time, and building them from
the engine packages would import every engine on each start), so this test is what holds them
to the registry.
"""

from __future__ import annotations

from lbgen import cli, lint
from lbgen.engine import ENTRIES, get_engine
from lbgen.runners.base import COMMANDS
from lbgen.view import LAYOUTS, NODE_TARGETS, TARGETS


def test_every_engine_value_matches_its_entry() -> None:
    for name, entry in ENTRIES.items():
        engine = get_engine(name)
        assert engine.name == name
        assert engine.layouts == entry.layouts, name


def test_the_command_line_offers_the_registry_choices() -> None:
    assert [t.value for t in cli.Target] == list(TARGETS)
    assert [t.value for t in cli.EngineTarget] == list(ENTRIES)
    assert [t.value for t in cli.RenderTarget] == [*TARGETS, *NODE_TARGETS, "kubeadm-static-pods"]
    every = [*LAYOUTS.values(), *NODE_TARGETS.values()]
    assert {layout.value for layout in cli.Layout} == {x for ls in every for x in ls}
    assert (
        {e.value for e in cli.Engine} == {get_engine(n).program for n in ENTRIES} == set(COMMANDS)
    )
    assert {e.value for e in cli.ImportFrom} == {
        get_engine(n).syntax for n in ENTRIES if get_engine(n).import_into is not None
    }


def test_lint_lints_every_whole_spec_target() -> None:
    assert lint.LINT_ENGINES == TARGETS
