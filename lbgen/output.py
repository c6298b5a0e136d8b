"""Writing a rendered file the way CI and Ansible need it.

Atomic (a temp file in the same folder, fsync, rename), keeps the mode and owner of the file it
replaces, and leaves the file alone (mtime included) when the content is unchanged. A symlink is
followed to its target (like ``cp``); a device, FIFO or socket is never replaced. An optional
``validate`` callback sees the new text before anything on disk changes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from enum import Enum
from pathlib import Path

from lbgen.frozen import record


class WriteStatus(Enum):
    """What happened to the destination."""

    UNCHANGED = "unchanged"
    WRITTEN = "written"
    CREATED = "created"


@record
class WriteOutcome:
    """The destination and what happened to it."""

    path: Path
    status: WriteStatus

    @property
    def changed(self) -> bool:
        """True when the file on disk is new or different."""
        return self.status is not WriteStatus.UNCHANGED


#: How much of the target's name (in bytes) the temp file's name keeps.
_TEMP_STEM_BYTES = 200


def _refuse(path: Path, mode: int) -> OSError:
    from lbgen.inputs import file_kind

    return OSError(
        errno.EINVAL,
        f"{file_kind(mode)}, not a regular file: lbgen writes only files (-o - for stdout)",
        str(path),
    )


def destination(path: Path) -> Path:
    """The file a write to ``path`` lands in: symlinks are followed to their target, as ``cp``
    does, so that the link stays a link. A dangling link or a non-regular file (device, FIFO,
    socket, folder) raises OSError instead of being replaced."""
    target = Path(os.path.realpath(path))
    try:
        info = target.lstat()
    except FileNotFoundError:
        if path.is_symlink():
            raise OSError(errno.ENOENT, "a dangling symlink: its target does not exist",
                          str(path)) from None  # fmt: skip
        return target
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(path, info.st_mode)
    return target


def read_existing(path: Path) -> bytes | None:
    """The current bytes of ``path`` (through symlinks), or None when it does not exist.

    Exact bytes, no newline or encoding translation: ``--check`` must see a ``\\r`` that the
    engine would see. A device or FIFO is refused (OSError) without reading or blocking.
    """
    from lbgen.inputs import InputError, read_input

    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(path, info.st_mode)
        return read_input(path, limit=1 << 62)
    except FileNotFoundError:
        return None
    except InputError as exc:  # it changed kind since the stat above
        raise OSError(errno.EINVAL, str(exc), str(path)) from None


def write_atomic(path: Path, text: str) -> WriteOutcome:
    """Replace ``path`` with ``text`` atomically, unless it already holds exactly that text.

    A symlink is followed: its target is replaced and the link stays. A device, FIFO, socket,
    folder or dangling link is refused with an OSError; nothing is written then.
    """
    data = text.encode("utf-8")
    target = destination(path)
    existing = read_existing(target)
    if existing == data:
        return WriteOutcome(path, WriteStatus.UNCHANGED)
    folder = target.parent
    previous = None
    with contextlib.suppress(FileNotFoundError):
        previous = target.stat()
    # The name is cut so that the temp file's fits the 255 bytes a file name may have: any
    # name the target may have (mkstemp adds 8 characters, the suffix 10).
    stem = os.fsencode(target.name)[:_TEMP_STEM_BYTES].decode("utf-8", "ignore")
    fd, temp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".lbgen-tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
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
        # The target may have become a device or FIFO since it was checked: never replace one.
        with contextlib.suppress(FileNotFoundError):
            now = target.lstat()
            if not stat.S_ISREG(now.st_mode):
                raise _refuse(path, now.st_mode)
        os.replace(temp_name, target)
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


def stale_files(folder: Path, files: dict[str, str]) -> list[Path]:
    """The files of ``folder`` whose bytes differ from ``files`` (name -> text) or are missing,
    in the order of ``files``: what ``--check`` of a folder target reports. OSError when one
    cannot be read (a FIFO, a folder where a file belongs)."""
    return [
        folder / name
        for name, text in files.items()
        if read_existing(folder / name) != text.encode("utf-8")
    ]


def write_folder(folder: Path, files: dict[str, str]) -> list[WriteOutcome]:
    """Write ``files`` (name -> text) into ``folder``, creating it; each file atomically (see
    :func:`write_atomic`), in the order given, an unchanged one left alone. Every destination
    is checked before the first write, so that a FIFO or folder in the way writes nothing."""
    if folder.exists() and not folder.is_dir():
        raise OSError(errno.ENOTDIR, "not a folder: this target writes several files", str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        destination(folder / name)
    return [write_atomic(folder / name, text) for name, text in files.items()]
