"""Writing a rendered file the way CI and Ansible need it.

Atomic (a temp file in the same folder, fsync, rename), keeps the mode and owner of the file it
replaces, and leaves the file alone (mtime included) when the content is unchanged. A file this
user may not write, or whose owner the new file could not keep, is refused rather than replaced:
the rename needs only the folder's permission, the file's own mode and owner are its owner's
word. A symlink is followed to its target (like ``cp``); a device, FIFO or socket is never
replaced, and nothing under /dev or /proc is written: ``/dev/stdout`` leads through
``/proc/self/fd/1`` to whatever file the shell opened, which a rename would replace.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import stat
import tempfile
from collections.abc import Iterator
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

#: Trees whose entries are devices or the open files of a process, never files of their own:
#: /dev/stdout, /dev/fd/1 and /proc/self/fd/1 all lead to the file the shell redirected the
#: standard output to (``>>`` included), which a rename would replace.
_SPECIAL_TREES = ("/dev", "/proc")

#: The symlinks the kernel follows in one path (MAXSYMLINKS) before it gives up with ELOOP.
_MAX_LINKS = 40

#: How much of an existing file :func:`compare` reads at a time.
_CHUNK = 1 << 20


def _refuse(path: Path, mode: int) -> OSError:
    from lbgen.inputs import file_kind

    return OSError(
        errno.EINVAL,
        f"{file_kind(mode)}, not a regular file: lbgen writes only files (-o - for stdout)",
        str(path),
    )


def _refuse_special(path: Path) -> OSError:
    return OSError(
        errno.EINVAL,
        "a path through /dev or /proc (such as /dev/stdout), not a file of its own: "
        "lbgen writes only files (-o - for standard output)",
        str(path),
    )


def _in_special_tree(path: str) -> bool:
    return any(path == tree or path.startswith(tree + "/") for tree in _SPECIAL_TREES)


def _through_special_tree(path: Path) -> bool:
    """Whether ``path``, a folder on its way or a symlink met while resolving it, lies under
    /dev or /proc. The resolved path alone cannot tell: ``/proc/self/fd/1`` resolves to an
    ordinary file. The walk is the kernel's (and realpath's): ``..`` after a symlink leaves
    the symlink's target, not the folder the name was in."""
    text = os.fspath(path)
    if not os.path.isabs(text):
        text = os.path.join(os.getcwd(), text)
    pending = text.split("/")[::-1]  # a stack: the next component is last
    current = "/"
    links = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        if _in_special_tree(candidate):
            return True
        try:
            link = os.readlink(candidate)
        except OSError:  # not a symlink, or not there yet: the path goes on from it as written
            current = candidate
            continue
        links += 1
        if links > _MAX_LINKS:
            return False  # a loop: the write itself fails with ELOOP, naming the path
        if link.startswith("/"):
            current = "/"
        pending.extend(link.split("/")[::-1])
    return False


def file_path(text: str | Path) -> Path:
    """The Path of a file target given as text, refused (OSError EISDIR) when it ends with
    ``/``: that names a folder, and ``Path("new/")`` would silently become a file ``new``.
    The command line must call this on the option's text, before it becomes a Path."""
    if isinstance(text, str) and text.endswith("/"):
        raise OSError(errno.EISDIR, "ends with '/', so it names a folder: give a file name", text)
    return Path(text)


def destination(path: Path | str) -> Path:
    """The file a write to ``path`` lands in: symlinks are followed to their target, as ``cp``
    does, so that the link stays a link. A dangling link, a non-regular file (device, FIFO,
    socket, folder) or a path through /dev or /proc raises OSError instead of being replaced."""
    path = file_path(path)
    target = Path(os.path.realpath(path))
    try:
        info = target.lstat()
    except FileNotFoundError:
        if _through_special_tree(path):
            raise _refuse_special(path) from None
        if path.is_symlink():
            raise OSError(errno.ENOENT, "a dangling symlink: its target does not exist",
                          str(path)) from None  # fmt: skip
        return target
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(path, info.st_mode)  # the file's kind first: "-o /dev/null" says device
    if _through_special_tree(path):
        raise _refuse_special(path)
    return target


def _existing(path: Path) -> os.stat_result | None:
    """``path``'s stat (through symlinks) when it is a regular file outside /dev and /proc,
    None when it does not exist; OSError for anything else, before any read or open."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if _through_special_tree(path):
            raise _refuse_special(path) from None
        return None
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(path, info.st_mode)
    if _through_special_tree(path):
        raise _refuse_special(path)
    return info


def read_existing(path: Path | str) -> bytes | None:
    """The current bytes of ``path`` (through symlinks), or None when it does not exist.

    Exact bytes, no newline or encoding translation: ``--check`` must see a ``\\r`` that the
    engine would see. A device, FIFO or a path through /dev or /proc is refused (OSError)
    without reading or blocking. The whole file is read, however large: to ask whether a file
    holds given bytes, :func:`compare` reads it only when the sizes match.
    """
    from lbgen.inputs import InputError, read_input

    path = file_path(path)
    try:
        if _existing(path) is None:
            return None
        return read_input(path, limit=1 << 62)
    except FileNotFoundError:
        return None
    except InputError as exc:  # it changed kind since the stat above
        raise OSError(errno.EINVAL, str(exc), str(path)) from None


def compare(path: Path | str, data: bytes) -> WriteStatus:
    """What writing ``data`` to ``path`` (through symlinks) would do: UNCHANGED when the file
    holds exactly those bytes, CREATED when there is no file, WRITTEN otherwise.

    A file of another size differs without a byte read (a 3 GiB file in the way is not read
    into memory); one of the same size is read, in chunks, at most ``len(data)`` bytes and one
    more. Refused (OSError) like :func:`read_existing`: a device, FIFO, folder, /dev or /proc.
    """
    path = file_path(path)
    info = _existing(path)
    if info is None:
        return WriteStatus.CREATED
    if info.st_size != len(data):
        return WriteStatus.WRITTEN
    try:
        same = _holds(path, data)
    except FileNotFoundError:  # removed since the stat above
        return WriteStatus.CREATED
    return WriteStatus.UNCHANGED if same else WriteStatus.WRITTEN


def _holds(path: Path, data: bytes) -> bool:
    """Whether the regular file ``path`` holds exactly ``data``: read with the bounds of
    lbgen.inputs (non-blocking open, fstat on the descriptor), never more than it needs."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # it changed kind since it was checked
            raise _refuse(path, info.st_mode)
        os.set_blocking(fd, True)
        offset = 0
        while True:
            # One byte past the end: a file that grew since its size was read differs.
            chunk = os.read(fd, min(_CHUNK, len(data) + 1 - offset))
            if not chunk:
                return offset == len(data)
            if data[offset : offset + len(chunk)] != chunk:
                return False
            offset += len(chunk)
            if offset > len(data):
                return False
    finally:
        os.close(fd)


def same_file(a: Path | str, b: Path | str) -> bool:
    """Whether ``a`` and ``b`` are one file (through symlinks and hard links), so that writing
    the output would overwrite the command's own input. False when either does not exist or
    cannot be looked at, and for ``-`` (standard input or output, not a file of that name)."""
    if os.fspath(a) == "-" or os.fspath(b) == "-":
        return False
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # missing, unreadable, or a name with a NUL byte
        return False


def _name(number: int, lookup: str) -> str:
    with contextlib.suppress(KeyError):
        return pwd.getpwuid(number).pw_name if lookup == "user" else grp.getgrgid(number).gr_name
    return str(number)


def _replaced(target: Path, path: Path) -> os.stat_result | None:
    """The file that a write to ``target`` replaces (None: there is none), refused with
    PermissionError when this user may not write it. The folder's permission lets the rename
    replace such a file, but its mode says that this user may not change it."""
    try:
        previous = target.stat()
    except FileNotFoundError:
        return None
    if not os.access(target, os.W_OK, effective_ids=True):
        # access() says no without a reason: a read-only mount is worth telling apart.
        read_only = False
        with contextlib.suppress(OSError):
            read_only = bool(os.statvfs(target).f_flag & os.ST_RDONLY)
        code = errno.EROFS if read_only else errno.EACCES
        raise OSError(code, os.strerror(code), str(path))
    return previous


def _keep_owner(fd: int, previous: os.stat_result, path: Path) -> None:
    """Give the temp file the owner and group of the file it replaces, or refuse: a rename
    that hands root's file to this user (or moves it out of its group) is not a write."""
    now = os.fstat(fd)
    if (now.st_uid, now.st_gid) == (previous.st_uid, previous.st_gid):
        return
    try:
        os.fchown(fd, previous.st_uid, previous.st_gid)
    except OSError as exc:
        owner = f"{_name(previous.st_uid, 'user')}:{_name(previous.st_gid, 'group')}"
        raise OSError(
            exc.errno,
            f"its owner {owner} cannot be kept (lbgen replaces files atomically, with a new file "
            "of this user's: run as the file's owner or root)",
            str(path),
        ) from None


def _write_temp(target: Path, path: Path, data: bytes, previous: os.stat_result | None) -> str:
    """A temp file beside ``target`` holding ``data`` (on disk) with the owner and mode of
    ``previous`` (or the umask's, for a new file); its name. Nothing is left on failure."""
    # The name is cut so that the temp file's fits the 255 bytes a file name may have: any
    # name the target may have (mkstemp adds 8 characters, the suffix 10).
    stem = os.fsencode(target.name)[:_TEMP_STEM_BYTES].decode("utf-8", "ignore")
    fd, temp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".lbgen-tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if previous is not None:
                # Owner first: chown clears the setuid and setgid bits that chmod then sets.
                _keep_owner(handle.fileno(), previous, path)
                os.fchmod(handle.fileno(), stat.S_IMODE(previous.st_mode))
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(handle.fileno(), 0o666 & ~umask)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    return temp_name


def _move_into_place(temp_name: str, target: Path, path: Path) -> None:
    """Rename the temp file onto ``target``; the temp file is removed if that fails."""
    try:
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


def write_atomic(path: Path | str, text: str) -> WriteOutcome:
    """Replace ``path`` with ``text`` atomically, unless it already holds exactly that text.

    A symlink is followed: its target is replaced and the link stays. A device, FIFO, socket,
    folder, dangling link, a path through /dev or /proc, a file this user may not write, or one
    whose owner and group the new file cannot keep is refused with an OSError (the message
    says which); nothing is written then.
    """
    path = file_path(path)
    data = text.encode("utf-8")
    target = destination(path)
    if compare(target, data) is WriteStatus.UNCHANGED:
        return WriteOutcome(path, WriteStatus.UNCHANGED)
    previous = _replaced(target, path)
    _move_into_place(_write_temp(target, path, data, previous), target, path)
    _fsync_folder(target.parent)
    return WriteOutcome(path, WriteStatus.CREATED if previous is None else WriteStatus.WRITTEN)


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _naming(name: str, path: Path) -> Iterator[None]:
    """An OSError inside names the file of the folder it is about: callers of the folder
    functions print the folder, and "haproxy.cfg: Permission denied" says which file."""
    try:
        yield
    except OSError as exc:
        raise OSError(exc.errno, f"{name}: {exc.strerror or exc}", str(path)) from None


def stale_files(folder: Path, files: dict[str, str]) -> list[Path]:
    """The files of ``folder`` whose bytes differ from ``files`` (name -> text) or are missing,
    in the order of ``files``: what ``--check`` of a folder target reports. A file of another
    size is not read. OSError, naming the file, when one cannot be compared (a FIFO, a folder
    where a file belongs)."""
    stale = []
    for name, text in files.items():
        with _naming(name, folder / name):
            if compare(folder / name, text.encode("utf-8")) is not WriteStatus.UNCHANGED:
                stale.append(folder / name)
    return stale


@record
class _Pending:
    """One file of a folder that a write changes."""

    name: str
    path: Path
    target: Path
    previous: os.stat_result | None
    data: bytes


def write_folder(folder: Path, files: dict[str, str]) -> list[WriteOutcome]:
    """Write ``files`` (name -> text) into ``folder``, creating it; an unchanged file is left
    alone. Outcomes in the order of ``files``.

    As near all-or-nothing as a folder gets: every destination is checked first (kind,
    permission), then every changed file is written to a temp file beside its target (owner,
    mode, contents, fsync), and only when all of them are written are they renamed into place,
    in the order given. A failure before the renames (a FIFO in the way, a file this user may
    not write, a full disk) leaves every old file as it was and no temp file behind. OSError
    names the file that failed in its message (``haproxy.cfg: Permission denied``).
    """
    if folder.exists() and not folder.is_dir():
        raise OSError(errno.ENOTDIR, "not a folder: this target writes several files", str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    outcomes = []
    pending = []
    for name, text in files.items():
        path, data = folder / name, text.encode("utf-8")
        with _naming(name, path):
            target = destination(path)
            if compare(target, data) is WriteStatus.UNCHANGED:
                outcomes.append(WriteOutcome(path, WriteStatus.UNCHANGED))
                continue
            previous = _replaced(target, path)
        pending.append(_Pending(name, path, target, previous, data))
        status = WriteStatus.CREATED if previous is None else WriteStatus.WRITTEN
        outcomes.append(WriteOutcome(path, status))
    temps: list[str] = []
    done: list[str] = []
    try:
        for item in pending:
            with _naming(item.name, item.path):
                temps.append(_write_temp(item.target, item.path, item.data, item.previous))
        for item, temp_name in zip(pending, temps, strict=True):
            try:
                _move_into_place(temp_name, item.target, item.path)
            except OSError as exc:
                # A rename that fails after others succeeded cannot be undone: the files
                # already renamed hold their new text, and their old text is gone (putting
                # copies back would be more renames, which can fail the same way). The rest
                # stay as they were, and the message says which files changed.
                replaced = ", ".join(done) if done else "none"
                raise OSError(
                    exc.errno,
                    f"{item.name}: {exc.strerror or exc}; already replaced: {replaced} "
                    "(the other files are as they were)",
                    str(item.path),
                ) from None
            done.append(item.name)
    finally:
        # The temp files not renamed into place (a failure, Ctrl-C, SIGTERM) are removed.
        for temp_name in temps[len(done) :]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
    for parent in dict.fromkeys(item.target.parent for item in pending):
        _fsync_folder(parent)
    return outcomes
