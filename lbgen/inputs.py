"""Reading input files with bounds: every spec and config lbgen reads goes through here.

A spec or an engine config is a small text file. Reading one must neither hang (a FIFO with no
writer, a terminal) nor eat memory (``/dev/zero``, ``- < /dev/zero``, a 50 MiB file), so:

* only regular files are read (``-`` for stdin is the one explicit exception);
* at most :func:`max_input_bytes` bytes are read, ``LBGEN_MAX_INPUT_BYTES`` (or
  ``lbgen --max-input-size``) changes the limit, default :data:`DEFAULT_MAX_INPUT_BYTES`.

Failures raise :class:`InputError`; callers turn it into their own diagnostic.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path
from typing import BinaryIO

DEFAULT_MAX_INPUT_BYTES = 2 * 1024 * 1024
"""2 MiB: a thousand times a large spec; YAML parsing (pure Python, to keep positions) of that
much takes seconds, and grows faster than the size."""

ENV_MAX_INPUT = "LBGEN_MAX_INPUT_BYTES"

_override: int | None = None

_SIZE = re.compile(r"([0-9]{1,15})\s*([KMG]?)(?:i?B)?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


class InputError(ValueError):
    """An input that lbgen refuses to read: ``str()`` is the one-line reason."""


def parse_size(text: str) -> int:
    """``"4M"``, ``"512K"``, ``"1048576"`` -> bytes (K/M/G are powers of 1024); ValueError else."""
    match = _SIZE.fullmatch(text.strip())
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a size (bytes, or a number with K, M or G)")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def set_max_input_bytes(limit: int | None) -> None:
    """Override the limit for this process (``lbgen --max-input-size``); None restores it."""
    global _override
    _override = limit


def max_input_bytes() -> int:
    """The input size limit: the override, else ``LBGEN_MAX_INPUT_BYTES``, else the default."""
    if _override is not None:
        return _override
    env = os.environ.get(ENV_MAX_INPUT)
    if env:
        try:
            return parse_size(env)
        except ValueError as exc:
            raise InputError(f"{ENV_MAX_INPUT}: {exc}") from None
    return DEFAULT_MAX_INPUT_BYTES


def human_size(size: int) -> str:
    """``4194304`` -> ``4 MiB`` (whole units when exact, else bytes)."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def _too_large(limit: int) -> InputError:
    return InputError(
        f"larger than the input limit of {human_size(limit)} "
        f"(raise it with {ENV_MAX_INPUT} or lbgen --max-input-size)"
    )


def check_size(size: int, limit: int | None = None) -> None:
    """InputError when ``size`` bytes are more than the limit (for input given as bytes)."""
    limit = max_input_bytes() if limit is None else limit
    if size > limit:
        raise _too_large(limit)


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words (``a FIFO``), from its ``st_mode``."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _read_bounded(handle: BinaryIO | int, limit: int) -> bytes:
    """At most ``limit`` bytes; InputError as soon as there is one more."""
    chunks: list[bytes] = []
    size = 0
    while True:
        want = min(1 << 20, limit + 1 - size)
        chunk = os.read(handle, want) if isinstance(handle, int) else handle.read(want)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)


#: Why ``-`` cannot be read when the caller closed the standard input (``<&-``).
STDIN_CLOSED = "the standard input is closed"


def read_stdin(limit: int | None = None) -> bytes:
    """Standard input, bounded like a file (a pipe or ``< /dev/zero`` alike).

    Every failure is an :class:`InputError`, like a file's: a closed standard input (Python
    then has no ``sys.stdin`` at all) or one that cannot be read (``< /``, a revoked terminal).
    """
    limit = max_input_bytes() if limit is None else limit
    stream = sys.stdin
    if stream is None:
        raise InputError(STDIN_CLOSED)
    try:
        return _read_bounded(stream.buffer, limit)
    except OSError as exc:
        raise InputError(exc.strerror or str(exc)) from None


def read_input(path: str | Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file, at most the input limit; InputError or OSError otherwise.

    The file is opened non-blocking, so that a FIFO is refused instead of waiting for a writer,
    and checked with ``fstat`` on the open descriptor (no window between check and read).
    """
    limit = max_input_bytes() if limit is None else limit
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(
                f"{file_kind(info.st_mode)}, not a regular file: lbgen reads only files "
                "(- for standard input)"
            )
        if info.st_size > limit:
            raise _too_large(limit)
        os.set_blocking(fd, True)
        return _read_bounded(fd, limit)
    finally:
        os.close(fd)
