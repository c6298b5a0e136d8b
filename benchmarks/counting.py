"""Instructions a command executes, counted under valgrind's callgrind: the one figure that does
not move with the load of a shared machine (wall and CPU times on the 2-core development machine
wander by 15-30% between runs of the same build).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child_environment() -> dict[str, str]:
    """This environment, but letting Python write and read ``.pyc`` files as an install does."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def have_valgrind() -> bool:
    """Whether :func:`instructions` can count."""
    return shutil.which("valgrind") is not None


def instructions(argv: list[str]) -> int | None:
    """Instructions ``argv`` executes (user space, all of it, ``PYTHONHASHSEED=0``), or None
    without valgrind or when the count is missing from its report."""
    if not have_valgrind():
        return None
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        capture_output=True, text=True, cwd=ROOT,
        env={**child_environment(), "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", out.stderr)
    return int(found.group(1)) if found else None
