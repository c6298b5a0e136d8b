"""Shared pytest options and fixtures for the whole suite."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the expected outputs under tests/cases/ from the current renderer.",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run was asked to rewrite golden files."""
    return bool(request.config.getoption("--update-golden"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures tests recorded with :func:`tests.support.figure`, after the run."""
    from tests.support import SUMMARY

    if SUMMARY:
        terminalreporter.section("lbgen figures")
        for source, text in SUMMARY:
            terminalreporter.write_line(f"{source}: {text}")
