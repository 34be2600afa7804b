"""Writes that survive a power loss: temp file, write, fsync, rename, fsync the folder.

A rename is atomic but not durable: until the folder holding the new name is flushed,
a power loss can bring back the old name, or an empty file under the new one. Every
file the database vouches for (an installed extension, its sidecar, a stored bundle,
the flags file, the catalogue key) is therefore written here first, and the database
commits after the last flush.

- :func:`atomic_write_bytes`: a whole small file (sidecar, flags, key), replaced or
  created exclusively;
- :func:`replace_durably`: a rename whose old and new folders are flushed;
- :class:`TreeSync`: the files and folders of a tree being extracted, flushed as one;
- :func:`fsync_tree`: the same for a tree that already exists;
- :func:`ensure_dir`, :func:`fsync_dir`, :func:`fsync_path`: the pieces.

A tree is made durable with one sync, not a flush per file: on a journalling file
system every ``fsync`` waits for its own journal commit (and cache flush), so 2,000
files flushed one by one cost seconds, where one sync of the same data costs about
what writing it to the disk does. On Linux :class:`TreeSync` starts the write-back
of each file of :data:`WRITEBACK_MIN_BYTES` or more as soon as it is written
(``sync_file_range``, which does not wait; smaller files are left to the end) and
ends with one ``syncfs`` of the volume, which waits for that write-back, writes the
small files, flushes the folders and the disk cache once, and reports any write-back
error on the volume since the tree was begun. ``syncfs`` also writes whatever else
is pending on the volume; the kernel's dirty-page limits bound that. Where the C
library has neither call (other systems), worker threads ``fsync`` each file while
the next is written, then the folders. ``fsync`` and both calls release the GIL, so
extraction keeps decompressing meanwhile. Folders cannot be opened or flushed on
Windows, where a rename is made durable by the file system itself: :func:`fsync_dir`
does nothing there.

Pure: standard library only.
"""

from __future__ import annotations

import errno
import functools
import os
import queue
import re
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

_WINDOWS = os.name == "nt"
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
# Folders on some file systems (network mounts, FUSE) refuse fsync: nothing to do.
_DIR_FSYNC_UNSUPPORTED = frozenset(
    {errno.EINVAL, errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)}
)
# What ``link`` says on file systems without hard links.
_NO_HARD_LINKS = frozenset(
    {
        errno.EPERM,
        errno.ENOTSUP,
        getattr(errno, "EOPNOTSUPP", errno.ENOTSUP),
        getattr(errno, "ENOSYS", errno.ENOTSUP),
    }
)
TEMP_SUFFIX = ".tmp"
SYNC_WORKERS = 4
SYNC_QUEUE = 128
# Whether TreeSync may use one sync of the volume where the system offers it (the
# tests turn it off to check the per-file way too), and from how many files: a few
# concurrent fsyncs cost less than syncing whatever else is pending on the volume.
VOLUME_SYNC = True
VOLUME_SYNC_MIN_FILES = 64
_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start write-back, do not wait
# With one sync of the volume, a file smaller than this is not written back on its
# own: starting the write-back of thousands of small files one by one costs more
# (a thread wake-up, a block allocation and a small write each) than the final
# sync spends writing them together.
WRITEBACK_MIN_BYTES = 256 * 1024


@functools.cache
def _volume_calls() -> tuple[Any, Any] | None:
    """``syncfs`` and ``sync_file_range`` from the C library (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        sync_fs, file_range = libc.syncfs, libc.sync_file_range
    except (OSError, AttributeError):
        return None
    sync_fs.argtypes, sync_fs.restype = [ctypes.c_int], ctypes.c_int
    file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    file_range.restype = ctypes.c_int
    return sync_fs, file_range


def volume_sync_available() -> bool:
    """Whether :class:`TreeSync` flushes a tree with one sync of its volume."""
    return VOLUME_SYNC and _volume_calls() is not None


def _check(result: int) -> None:
    if result != 0:
        import ctypes

        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def syncfs(fd: int) -> None:
    """Write back everything pending on the volume holding ``fd`` and wait for it;
    raises a write-back error met on that volume since ``fd`` was opened."""
    calls = _volume_calls()
    if calls is None:
        raise OSError(errno.ENOSYS, "syncfs is not available here")
    _check(calls[0](fd))


def start_writeback(fd: int) -> None:
    """Start writing ``fd``'s dirty pages to disk, without waiting for them."""
    calls = _volume_calls()
    if calls is None:
        raise OSError(errno.ENOSYS, "sync_file_range is not available here")
    _check(calls[1](fd, 0, 0, _SYNC_FILE_RANGE_WRITE))


def temp_name(path: Path) -> Path:
    """A fresh hidden name beside ``path`` for the copy being written."""
    # The bytes secrets.token_hex reads, without loading the random module.
    return path.with_name(f".{path.name}.{os.urandom(6).hex()}{TEMP_SUFFIX}")


def is_temp_name(name: str, *, of: str | None = None) -> bool:
    """Whether ``name`` is one :func:`temp_name` would make (a crash leftover);
    with ``of``, one made for a file of that name."""
    if of is not None:
        return (
            re.fullmatch(rf"\.{re.escape(of)}\.[0-9a-f]{{12}}{TEMP_SUFFIX}", name)
            is not None
        )
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a folder, so the names created, removed or renamed in it persist."""
    if _WINDOWS:
        return
    fd = os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _DIR_FSYNC_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file written by someone else (e.g. a storage backend), by its name."""
    # Windows flushes only handles open for writing; elsewhere any handle will do,
    # and a read-only one works on read-only files too.
    flags = (os.O_RDWR if _WINDOWS else os.O_RDONLY) | _O_BINARY | _O_CLOEXEC
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: str | os.PathLike[str]) -> Path:
    """``mkdir -p`` whose new folders persist: each one's parent is flushed."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except FileExistsError:
            if not folder.is_dir():
                raise
    for folder in missing:
        fsync_dir(folder.parent)
    return path


def write_all(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd`` (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def atomic_write_bytes(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int = 0o644,
    exclusive: bool = False,
) -> None:
    """Write ``data`` to ``path`` so a crash leaves the old file or the new, whole.

    The bytes go to a temp file beside ``path``, are flushed, and the temp file is
    renamed over ``path`` (``os.replace``); then the folder is flushed. ``mode`` is
    the new file's permission bits from the start (so a key is never readable by
    others, not even briefly). With ``exclusive``, an existing ``path`` is never
    replaced: ``FileExistsError`` is raised and nothing changes, so two processes
    creating the same file (the catalogue key) cannot both win (where the file
    system has no hard links, the file is created exclusively and written in place
    instead). Needs a folder that exists; no temp file is left behind on failure.
    """
    path = Path(path)
    tmp = temp_name(path)
    _write_new(tmp, data, mode)
    try:
        if exclusive:
            _link_or_create(tmp, path, data, mode)
        else:
            os.replace(tmp, path)
    finally:
        # After the rename there is nothing here; after a link, the temp name goes.
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` (never an existing one) holding ``data``, flushed."""
    fd = os.open(
        path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY | _O_CLOEXEC, mode
    )
    try:
        if not _WINDOWS:
            os.fchmod(fd, mode)  # exactly ``mode``, whatever the umask
        write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


def _link_or_create(tmp: Path, path: Path, data: bytes, mode: int) -> None:
    # A hard link fails if the name exists, where a rename would replace it.
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        # A file system without hard links (FAT, some network shares): create the
        # name exclusively and write it in place. Still never replaces a file, but a
        # reader may see it half written until this returns.
        _write_new(path, data, mode)


def replace_durably(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """``os.replace(src, dst)``, then flush the folders that lost and gained a name."""
    os.replace(src, dst)
    fsync_renamed(src, dst)


def fsync_renamed(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Flush the folders of a rename already made: ``dst``'s, then ``src``'s."""
    src, dst = Path(src), Path(dst)
    fsync_dir(dst.parent)
    if os.path.normcase(src.parent) != os.path.normcase(dst.parent):
        fsync_dir(src.parent)


class TreeSync:
    """Flushes a tree while it is being written: its files, then its folders.

    Hand over each file descriptor with :meth:`file` once its bytes are written
    (several threads may hand files over at once); this object closes it. Name each
    folder created with :meth:`directory`. :meth:`finish` makes everything handed
    over durable and raises the first failure; :meth:`abort` waits and closes
    without raising (the caller is failing anyway). Use it as a context manager:
    finish on success, abort on an exception.

    Given the tree's ``root`` (a folder that exists, or is named with
    :meth:`directory` before any file is written in it), where the system allows and
    unless fewer than :data:`VOLUME_SYNC_MIN_FILES` ``files`` are announced, the
    tree is flushed with one sync of its volume (see the module notes);
    otherwise a few worker threads flush each file while the caller writes the next,
    and :meth:`finish` flushes the folders deepest first.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        files: int | None = None,
        workers: int = SYNC_WORKERS,
    ) -> None:
        self._root = os.fspath(root) if root is not None else None
        self._volume = (
            self._root is not None
            and volume_sync_available()
            and (files is None or files >= VOLUME_SYNC_MIN_FILES)
        )
        self._root_fd: int | None = None
        self._workers = max(1, workers)
        self._queue: queue.Queue[int | None] = queue.Queue(maxsize=SYNC_QUEUE)
        self._threads: list[threading.Thread] = []
        self._dirs: dict[str, Path] = {}
        self._start = threading.Lock()
        self._error: BaseException | None = None
        self._closed = False
        self._aborted = False
        if self._volume and self._root is not None and os.path.isdir(self._root):
            self._open_root()

    def __enter__(self) -> TreeSync:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()

    def _open_root(self) -> None:
        # Opened before the tree's files are written: syncfs then reports any
        # write-back error on the volume from this moment on.
        with self._start:
            if self._root_fd is None and self._root is not None:
                flags = os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC
                self._root_fd = os.open(self._root, flags)

    def _work(self) -> None:
        flush = start_writeback if self._volume else os.fsync
        while (fd := self._queue.get()) is not None:
            try:
                if self._error is None and not self._aborted:
                    flush(fd)
            except BaseException as exc:  # reported by finish()
                self._error = self._error or exc
            finally:
                os.close(fd)

    def file(self, fd: int, size: int | None = None) -> None:
        """Flush and close ``fd`` (this object owns it from now on, even on error).

        ``size``, the bytes written to it if known: with one sync of the volume, a
        file under :data:`WRITEBACK_MIN_BYTES` is closed at once, and written to
        disk by the final sync.
        """
        if self._closed:
            os.close(fd)
            raise RuntimeError("TreeSync is finished")
        if self._volume and size is not None and size < WRITEBACK_MIN_BYTES:
            os.close(fd)
            return
        with self._start:  # files may come from several extracting threads
            self._start_workers()
        self._queue.put(fd)

    def written(self, fd: int) -> None:
        """Part of a large file is written: start its write-back now (one sync of
        the volume), so the disk is busy while the rest is produced."""
        if self._volume and not self._closed:
            self.file(os.dup(fd))

    def _start_workers(self) -> None:
        if not self._threads:
            # One thread starts write-backs (each returns once its I/O is queued);
            # several wait for fsyncs side by side.
            for _ in range(1 if self._volume else self._workers):
                thread = threading.Thread(
                    target=self._work, name="market-fsync", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def directory(self, path: str | os.PathLike[str]) -> None:
        """Flush this folder once every file is flushed."""
        self._dirs[os.fspath(path)] = Path(path)
        if self._volume and self._root_fd is None and os.fspath(path) == self._root:
            self._open_root()

    def _drain(self) -> None:
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _close_root(self) -> None:
        if self._root_fd is not None:
            fd, self._root_fd = self._root_fd, None
            os.close(fd)

    def finish(self) -> None:
        self._drain()
        if self._volume and self._error is not None:
            self._close_root()
            raise self._error
        if self._volume:
            try:
                if self._root_fd is None:
                    self._open_root()
                if self._root_fd is not None:
                    syncfs(self._root_fd)  # files, folders and disk cache, at once
            finally:
                self._close_root()
            return
        if self._error is not None:
            raise self._error
        # Deepest first: a folder's entry in its parent is flushed after its content.
        for path in sorted(
            self._dirs.values(), key=lambda p: len(p.parts), reverse=True
        ):
            fsync_dir(path)

    def abort(self) -> None:
        self._aborted = True
        self._drain()
        self._close_root()


def fsync_tree(root: str | os.PathLike[str]) -> None:
    """Flush every file and folder of an existing tree: one sync of its volume, or
    one pass over it (symlinks are neither followed nor flushed)."""
    if volume_sync_available():
        TreeSync(root).finish()
        return
    with TreeSync(root) as sync:
        for folder, _dirs, files in os.walk(root):
            sync.directory(folder)
            for name in files:
                full = os.path.join(folder, name)
                if os.path.islink(full):
                    continue
                flags = (os.O_RDWR if _WINDOWS else os.O_RDONLY) | _O_BINARY
                sync.file(os.open(full, flags | _O_CLOEXEC))


def fsync_dirs(paths: Iterable[str | os.PathLike[str]]) -> None:
    """Flush each folder once."""
    for path in dict.fromkeys(os.fspath(p) for p in paths):
        fsync_dir(path)


__all__ = [
    "TEMP_SUFFIX",
    "TreeSync",
    "atomic_write_bytes",
    "ensure_dir",
    "fsync_dir",
    "fsync_dirs",
    "fsync_path",
    "fsync_renamed",
    "fsync_tree",
    "is_temp_name",
    "replace_durably",
    "start_writeback",
    "syncfs",
    "temp_name",
    "volume_sync_available",
    "write_all",
]
