"""Figures of the adversarial suite, printed at the end of the run whatever ``-s`` says."""

from __future__ import annotations

from typing import Any

import pytest

_FIGURES = pytest.StashKey[list[tuple[str, str]]]()


def pytest_configure(config: pytest.Config) -> None:
    """Collect figures for the terminal summary."""
    config.stash[_FIGURES] = []


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Any:
    """``figures("text")`` records a line for the summary (and prints it)."""

    def record(text: str) -> None:
        print(text)
        request.config.stash[_FIGURES].append((request.node.nodeid, text))

    return record


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print every recorded figure."""
    figures = config.stash.get(_FIGURES, [])
    if figures:
        terminalreporter.section("lbgen adversarial figures")
        for node, text in figures:
            terminalreporter.write_line(f"{node}: {text}")
