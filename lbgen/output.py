"""Writing a rendered file the way CI and Ansible need it.

Atomic (a temp file in the same folder, fsync, rename), keeps the mode and owner of the file it
replaces, and leaves the file alone (mtime included) when the content is unchanged. An optional
``validate`` callback sees the new text before anything on disk changes.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class WriteStatus(Enum):
    """What happened to the destination."""

    UNCHANGED = "unchanged"
    WRITTEN = "written"
    CREATED = "created"


@dataclass(frozen=True)
class WriteOutcome:
    """The destination and what happened to it."""

    path: Path
    status: WriteStatus

    @property
    def changed(self) -> bool:
        """True when the file on disk is new or different."""
        return self.status is not WriteStatus.UNCHANGED


def read_existing(path: Path) -> str | None:
    """The current text of ``path`` exactly (no newline translation), or None when it does not
    exist: a ``\\r`` where the rendering has ``\\n`` is a difference."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return ""  # not our text: anything we render differs from it


def would_change(path: Path, text: str) -> bool:
    """True when writing ``text`` to ``path`` would change the file."""
    return read_existing(path) != text


def write_atomic(path: Path, text: str) -> WriteOutcome:
    """Replace ``path`` with ``text`` atomically, unless it already holds exactly that text."""
    existing = read_existing(path)
    if existing == text:
        return WriteOutcome(path, WriteStatus.UNCHANGED)
    folder = path.parent if str(path.parent) else Path(".")
    previous = None
    with contextlib.suppress(FileNotFoundError):
        previous = path.stat()
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".lbgen-tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if previous is not None:
            os.chmod(temp_name, stat.S_IMODE(previous.st_mode))
            if (previous.st_uid, previous.st_gid) != (os.getuid(), os.getgid()):
                with contextlib.suppress(PermissionError):
                    os.chown(temp_name, previous.st_uid, previous.st_gid)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temp_name, 0o666 & ~umask)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_folder(folder)
    return WriteOutcome(path, WriteStatus.CREATED if previous is None else WriteStatus.WRITTEN)


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
