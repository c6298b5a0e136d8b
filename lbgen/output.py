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
            raise _dangling(path) from None
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
        raise _denied(target, path)
    return previous


def _denied(where: Path, path: Path) -> OSError:
    """This user may not write ``where``: access() says no without a reason, but a read-only
    mount is worth telling apart."""
    read_only = False
    with contextlib.suppress(OSError):
        read_only = bool(os.statvfs(where).f_flag & os.ST_RDONLY)
    code = errno.EROFS if read_only else errno.EACCES
    return OSError(code, os.strerror(code), str(path))


def _dangling(path: Path) -> OSError:
    return OSError(errno.ENOENT, "a dangling symlink: its target does not exist", str(path))


def _check_folder(folder: Path, path: Path) -> os.stat_result:
    """``folder``'s stat, refused (OSError naming ``path``) when a new file cannot be created
    in it: missing, not a folder, or not writable by this user. What the temp file's creation
    would fail with, told before anything is written, so that ``--check`` can tell it too."""
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        if os.path.islink(folder):
            raise _dangling(path) from None
        message = f"{os.strerror(errno.ENOENT)} (its folder does not exist)"
        raise OSError(errno.ENOENT, message, str(path)) from None
    except OSError as exc:  # a file on the way (ENOTDIR), a symlink loop, a folder not searchable
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    if not stat.S_ISDIR(info.st_mode):
        raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    if not os.access(folder, os.W_OK | os.X_OK, effective_ids=True):
        raise _denied(folder, path)
    return info


def _owner_refusal(previous: os.stat_result, path: Path, code: int | None) -> OSError:
    owner = f"{_name(previous.st_uid, 'user')}:{_name(previous.st_gid, 'group')}"
    return OSError(
        code,
        f"its owner {owner} cannot be kept (lbgen replaces files atomically, with a new file "
        "of this user's: run as the file's owner or root)",
        str(path),
    )


def _check_owner(previous: os.stat_result, folder: os.stat_result, path: Path) -> None:
    """Refuse (EPERM) a replacement whose owner and group the new file could not keep: the
    temp file is this user's, in the folder's group when the folder is setgid (else this
    user's group); only root may give it another owner, and a user only a group of their own
    (POSIX's restricted chown). :func:`_keep_owner` stays the last word while writing."""
    euid = os.geteuid()
    if euid == 0:
        return
    group = folder.st_gid if folder.st_mode & stat.S_ISGID else os.getegid()
    if (previous.st_uid, previous.st_gid) == (euid, group):
        return
    if previous.st_uid != euid or previous.st_gid not in {os.getegid(), *os.getgroups()}:
        raise _owner_refusal(previous, path, errno.EPERM)


def _keep_owner(fd: int, previous: os.stat_result, path: Path) -> None:
    """Give the temp file the owner and group of the file it replaces, or refuse: a rename
    that hands root's file to this user (or moves it out of its group) is not a write."""
    now = os.fstat(fd)
    if (now.st_uid, now.st_gid) == (previous.st_uid, previous.st_gid):
        return
    try:
        os.fchown(fd, previous.st_uid, previous.st_gid)
    except OSError as exc:
        raise _owner_refusal(previous, path, exc.errno) from None


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


@record
class _Pending:
    """One file that a write changes."""

    name: str
    path: Path
    target: Path
    previous: os.stat_result | None
    data: bytes

    @property
    def status(self) -> WriteStatus:
        return WriteStatus.CREATED if self.previous is None else WriteStatus.WRITTEN


def _folder_to_make(folder: Path, path: Path, *, not_a_folder: str | None = None) -> bool:
    """Whether ``mkdir -p folder`` would make it (False: it is there); refused (OSError naming
    ``path``) when that would fail: a regular file or a dangling symlink on its way or in its
    place, a path through /dev or /proc, a folder this user may not make it in. Makes nothing.
    ``not_a_folder``: the message for a ``folder`` that is there but no folder."""
    if _through_special_tree(folder):
        raise _refuse_special(path)
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        if os.path.islink(folder):
            raise _dangling(path) from None
        parent = folder.parent
        if not _folder_to_make(parent, path) and not os.access(
            parent, os.W_OK | os.X_OK, effective_ids=True
        ):
            raise _denied(parent, path) from None
        return True
    except OSError as exc:  # a file on the way (ENOTDIR), a symlink loop, a folder not searchable
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    if not stat.S_ISDIR(info.st_mode):
        code = errno.ENOTDIR
        raise OSError(code, not_a_folder or os.strerror(code), str(path))
    return False


def _plan(
    path: Path, data: bytes, *, folder_made: bool = False, make_folders: bool = False
) -> _Pending | None:
    """What writing ``data`` to ``path`` needs (None: nothing, the file holds it), after every
    refusal a write makes before it writes: a dangling symlink, a device, FIFO, socket or
    folder in the way, a path through /dev or /proc, a file this user may not write or whose
    owner the new file could not keep, a folder a file cannot be created in. Reads, never
    writes. ``folder_made``: the folder is yet to be made, by this user (nothing to check);
    ``make_folders``: a missing folder is to be made (``mkdir -p``), if it can be."""
    target = destination(path)
    if compare(target, data) is WriteStatus.UNCHANGED:
        return None
    previous = _replaced(target, path)
    if make_folders and not folder_made:
        # The folder as written, as mkdir -p sees it: a dangling symlink on its way is refused.
        folder_made = _folder_to_make(path.parent, path)
    if not folder_made:
        folder = _check_folder(target.parent, path)
        if previous is not None:
            _check_owner(previous, folder, path)
    return _Pending(path.name, path, target, previous, data)


def plan_write(path: Path | str, text: str, *, make_folders: bool = False) -> WriteStatus:
    """What :func:`write_atomic` would do with ``text``, without writing anything: refused
    with the very OSError the write would raise before it writes (``--check`` then says what
    render would say), else UNCHANGED, CREATED or WRITTEN."""
    path = file_path(path)
    pending = _plan(path, text.encode("utf-8"), make_folders=make_folders)
    return WriteStatus.UNCHANGED if pending is None else pending.status


def write_atomic(path: Path | str, text: str, *, make_folders: bool = False) -> WriteOutcome:
    """Replace ``path`` with ``text`` atomically, unless it already holds exactly that text.

    A symlink is followed: its target is replaced and the link stays. A device, FIFO, socket,
    folder, dangling link, a path through /dev or /proc, a file this user may not write, one
    whose owner and group the new file cannot keep, or a folder a file cannot be created in is
    refused with an OSError (the message says which); nothing is written then.
    ``make_folders``: a missing folder is made first (``mkdir -p``), unless it cannot be.
    """
    path = file_path(path)
    pending = _plan(path, text.encode("utf-8"), make_folders=make_folders)
    if pending is None:
        return WriteOutcome(path, WriteStatus.UNCHANGED)
    if make_folders:
        path.parent.mkdir(parents=True, exist_ok=True)
    temp_name = _write_temp(pending.target, path, pending.data, pending.previous)
    _move_into_place(temp_name, pending.target, path)
    _fsync_folder(pending.target.parent)
    return WriteOutcome(path, pending.status)


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


def _plan_folder(folder: Path, files: dict[str, str]) -> tuple[list[WriteOutcome], list[_Pending]]:
    not_a_folder = "not a folder: this target writes several files"
    folder_made = _folder_to_make(folder, folder, not_a_folder=not_a_folder)
    outcomes = []
    pending = []
    for name, text in files.items():
        path = folder / name
        with _naming(name, path):
            item = _plan(path, text.encode("utf-8"), folder_made=folder_made)
        if item is None:
            outcomes.append(WriteOutcome(path, WriteStatus.UNCHANGED))
            continue
        pending.append(item)
        outcomes.append(WriteOutcome(path, item.status))
    return outcomes, pending


def plan_folder(folder: Path, files: dict[str, str]) -> list[WriteOutcome]:
    """What :func:`write_folder` would do, without writing or making anything: the outcome of
    each file, or the very OSError the write would raise before it writes."""
    return _plan_folder(folder, files)[0]


def write_folder(folder: Path, files: dict[str, str]) -> list[WriteOutcome]:
    """Write ``files`` (name -> text) into ``folder``, creating it; an unchanged file is left
    alone. Outcomes in the order of ``files``.

    As near all-or-nothing as a folder gets: the folder and every destination are checked
    first (kind, permission, owner: :func:`plan_folder`), then every changed file is written
    to a temp file beside its target (owner, mode, contents, fsync), and only when all of them
    are written are they renamed into place, in the order given. A failure before the renames
    (a FIFO in the way, a file this user may not write, a full disk) leaves every old file as
    it was and no temp file behind. OSError names the file that failed in its message
    (``haproxy.cfg: Permission denied``).
    """
    outcomes, pending = _plan_folder(folder, files)
    folder.mkdir(parents=True, exist_ok=True)
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
