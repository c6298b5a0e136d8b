"""Helpers shared by the test modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_lbgen(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real console entry point (``python -m lbgen``) in a fresh process, from the repo top."""
    return subprocess.run(
        [sys.executable, "-m", "lbgen", *args],
        capture_output=True, text=True, input=stdin, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
