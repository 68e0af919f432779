"""Files of a results folder, opened without following links and never blocking.

A results folder is untrusted: anyone who can write to it may plant a
symbolic link (to send a write elsewhere), a FIFO (to hang a reader for
ever), a device or a folder where a file goes. So below an *anchor* (the
folder the caller owns: the results root for a session's files) every
component is opened relative to the descriptor of the folder above it
(``dir_fd=``, as ``openat`` does) with ``O_NOFOLLOW``: a link anywhere below
the anchor is refused, never followed, and the message names it. Files are
opened with ``O_NONBLOCK`` and checked with ``fstat`` to be regular files
before a byte is read or written, so a FIFO is refused at once. Reads are
bounded: at most ``cap + 1`` bytes are read, so the caller can tell a file
past its bound without reading it all.

The anchor itself is followed as given: it is the user's own argument
(``--results-dir``, a folder named on the command line).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

__all__ = [
    "FILE_MODE",
    "UnsafePath",
    "check_entries",
    "check_tree",
    "ensure_regular",
    "folder_fd",
    "open_new",
    "open_read",
    "read_capped",
    "sync_folder",
    "write_atomic",
]

FILE_MODE = 0o644
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafePath(OSError):
    """A link, FIFO, device or folder where a results file or folder goes; refused."""

    def __init__(self, path: Path | str, what: str, doing: str = "write") -> None:
        super().__init__(f"{path}: {what}; refusing to {doing} through it")
        self.path = str(path)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is a device or special file, not a regular file"


def _refusal(name: str, dir_fd: int, where: Path, want_dir: bool, doing: str) -> UnsafePath:
    """Why ``name`` (in the folder ``dir_fd``, shown as ``where``) cannot be opened."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except OSError:
        return UnsafePath(where, "cannot be opened", doing)
    if want_dir and not stat.S_ISLNK(mode) and not stat.S_ISDIR(mode):
        return UnsafePath(where, "is not a folder", doing)
    return UnsafePath(where, _kind(mode), doing)


def _parts(path: Path, below: Path) -> tuple[str, ...]:
    parts = path.relative_to(below).parts
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{path}: not a plain path below {below}")
    return parts


def folder_fd(below: Path, parts: Sequence[str], create: bool, doing: str = "write") -> int:
    """A descriptor of ``below/parts...``: ``below`` as given, each part under it opened
    without following links (and made, mode 0755 less the umask, when ``create``)."""
    if create:
        below.mkdir(parents=True, exist_ok=True)
    fd = os.open(below, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    where = below
    try:
        for part in parts:
            where = where / part
            try:
                nfd = os.open(part, _DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise FileNotFoundError(
                        errno.ENOENT, "No such file or directory", str(where)
                    ) from None
                with suppress(FileExistsError):  # made meanwhile: opened and checked below
                    os.mkdir(part, 0o755, dir_fd=fd)
                try:
                    nfd = os.open(part, _DIR, dir_fd=fd)
                except OSError:
                    raise _refusal(part, fd, where, True, doing) from None
            except OSError:
                raise _refusal(part, fd, where, True, doing) from None
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def _in_folder(path: Path, below: Path | None, create: bool, doing: str) -> Iterator[int]:
    """The descriptor of ``path``'s folder; by default only the folder above it is
    followed, so a link planted as the file's own folder is refused too."""
    anchor = path.parent.parent if below is None else below
    fd = folder_fd(anchor, _parts(path, anchor)[:-1], create, doing)
    try:
        yield fd
    finally:
        os.close(fd)


# A link met with O_NOFOLLOW; a FIFO without a reader opened O_WRONLY|O_NONBLOCK; a folder.
_NOT_REGULAR = (errno.ELOOP, errno.ENXIO, errno.EISDIR)


def _open_regular(name: str, flags: int, dir_fd: int | None, where: Path, doing: str) -> int:
    """``name`` opened with ``flags`` (O_NONBLOCK among them, so a FIFO never blocks),
    or refused unless it is a regular file."""
    try:
        fd = os.open(name, flags, FILE_MODE, dir_fd=dir_fd)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(where)) from None
    except OSError as err:
        if err.errno in _NOT_REGULAR and dir_fd is not None:
            raise _refusal(name, dir_fd, where, False, doing) from None
        if err.errno in _NOT_REGULAR:
            raise UnsafePath(where, "is not a regular file", doing) from None
        raise OSError(err.errno, err.strerror, str(where)) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnsafePath(where, _kind(mode), doing)
    return fd


def open_read(path: Path, below: Path | None = None) -> IO[bytes]:
    """The regular file ``path`` opened for reading; nothing below ``below`` is followed.
    With ``below`` None the path is one the user named: its links are followed, but a
    FIFO or device is still refused. Raises FileNotFoundError or UnsafePath."""
    if below is None:
        fd = _open_regular(str(path), _READ & ~os.O_NOFOLLOW, None, path, "read")
    else:
        with _in_folder(path, below, False, "read") as dir_fd:
            fd = _open_regular(path.name, _READ, dir_fd, path, "read")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_capped(path: Path, cap: int, below: Path | None = None) -> bytes:
    """At most ``cap + 1`` bytes of the regular file ``path`` (``open_read``), so a caller
    tells a file past its bound without reading it all."""
    with open_read(path, below) as f:
        return f.read(cap + 1)


def ensure_regular(path: Path, below: Path | None = None) -> None:
    """Make ``path`` an (empty) regular file unless it is one; never through a link, and
    never truncating what is there (a journal another process appends to)."""
    with _in_folder(path, below, True, "write") as dir_fd:
        os.close(_open_regular(path.name, _WRITE, dir_fd, path, "write"))


def open_new(path: Path, below: Path | None = None) -> IO[bytes]:
    """``path`` created or truncated for writing (a log), never through a link."""
    with _in_folder(path, below, True, "write") as dir_fd:
        fd = _open_regular(path.name, _WRITE, dir_fd, path, "write")
    os.ftruncate(fd, 0)  # only once it is known to be a regular file of ours
    os.set_blocking(fd, True)
    return os.fdopen(fd, "wb")


def write_atomic(
    path: Path,
    text: str,
    below: Path | None = None,
    durable: bool = True,
    folder_too: bool = True,
) -> None:
    """``text`` as the file ``path``: a temp file beside it, fsynced, renamed over it, and
    the folder fsynced. Nothing below ``below`` (default: the folder above the file's) is
    followed;
    a link or other non-regular file already at ``path`` is refused, not replaced. An
    error names ``path`` (a full disk: ``ENOSPC``). ``durable=False`` leaves out the two
    fsyncs (4 ms or more each): still atomic, so a killed process leaves the old file or
    the new one, but a crash of the machine may lose the write. ``folder_too=False``
    leaves out the folder's: the caller makes several files' names durable at once
    (``sync_folder``) before anything counts on them."""
    with _in_folder(path, below, True, "write") as dir_fd:
        try:
            mode = os.stat(path.name, dir_fd=dir_fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            mode = stat.S_IFREG
        if not stat.S_ISREG(mode):
            raise UnsafePath(path, _kind(mode))
        tmp = f".{path.name}.{secrets.token_hex(6)}"
        try:
            fd = os.open(tmp, _WRITE | os.O_EXCL, FILE_MODE, dir_fd=dir_fd)
            with os.fdopen(fd, "wb") as f:
                f.write(text.encode("utf-8", "replace"))
                f.flush()
                if durable:
                    os.fsync(f.fileno())
            os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            if durable and folder_too:
                os.fsync(dir_fd)
        except BaseException as err:
            with suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            if isinstance(err, OSError) and not isinstance(err, UnsafePath):
                raise OSError(err.errno, err.strerror, str(path)) from None
            raise


def sync_folder(folder: Path, below: Path) -> None:
    """Make the names written in ``folder`` (below ``below``, links not followed)
    durable: one fsync of the folder. A folder not made yet has nothing to make durable."""
    try:
        fd = folder_fd(below, _parts(folder, below), create=False)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_entries(folder: Path, below: Path, prefix: str) -> None:
    """Refuse ``folder`` (below ``below``, links not followed) when an entry whose name
    starts with ``prefix`` is not a regular file: a planted link among a session's trial
    files is found before any worker starts, not when the run comes to it."""
    try:
        fd = folder_fd(below, _parts(folder, below), create=False)
    except (FileNotFoundError, NotADirectoryError):
        return  # nothing there yet (a stranger in its place is check_tree's to refuse)
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                if entry.name.startswith(prefix):
                    mode = entry.stat(follow_symlinks=False).st_mode
                    if not stat.S_ISREG(mode):
                        raise UnsafePath(folder / entry.name, _kind(mode))
    finally:
        os.close(fd)


def check_tree(folder: Path, below: Path, folders: Sequence[str], files: Sequence[str]) -> None:
    """Refuse a session folder where ``folder`` (below ``below``) or one of its ``folders``
    is not a real folder, or one of its ``files`` is there and not a regular file."""
    try:
        fd = folder_fd(below, _parts(folder, below), create=False)
    except FileNotFoundError:
        return  # nothing there yet: made safely when written
    try:
        for name in [*folders, *files]:
            try:
                mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue
            ok = stat.S_ISDIR(mode) if name in folders else stat.S_ISREG(mode)
            if not ok:
                raise UnsafePath(folder / name, _kind(mode))
    finally:
        os.close(fd)
