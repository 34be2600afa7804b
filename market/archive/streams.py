"""Streaming a checked bundle's members: inflated, counted, hashed, maybe written.

Inflating and CRC (zlib), hashing (hashlib) and writing all release the GIL for
large buffers, so a few threads stream a large bundle about as many times faster as
there are free cores. :func:`stream_members` hands the members out in name order
to ``workers`` threads (the calling thread is one of them); each extra thread reads
the archive through its own :class:`zipfile.ZipFile` over the same open file with
positional reads (``os.pread``), so no thread moves another's file offset and every
thread parses the very bytes that were hashed. Where ``os.pread`` is missing
(Windows), or the bundle is small, the calling thread streams everything.

A failure stops the hand-out; members already taken are finished, and the failure
of the first member in name order is raised, the same one a single thread would
have met first. Folders are made before any file, by the calling thread, so the
threads only ever create files, each in a folder this extraction made.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import threading
import zipfile
import zlib
from pathlib import Path
from typing import IO

from market.archive.directory import corrupt
from market.archive.members import Member
from market.durable import TreeSync
from market.errors import UnsafePathError

MIB = 1024 * 1024
CHUNK_BYTES = MIB
FILE_MODE, DIR_MODE = 0o644, 0o755
# Below this much data a second thread costs more (its own parse of the central
# directory, a thread start) than it saves.
PARALLEL_MIN_BYTES = 4 * MIB
MAX_WORKERS = 4
RUN_FILES = 64  # members of one folder handed to a thread at once

_BAD_ZIP = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    struct.error,
)
# zipfile also reports unreadable structures as these.
ARCHIVE_FAILURES = (*_BAD_ZIP, NotImplementedError, ValueError)
_DECOMPRESSOR = type(zlib.decompressobj())

Record = tuple[str, int]  # (sha256, size) of one member


def default_workers() -> int:
    """One streaming thread per core, at most :data:`MAX_WORKERS`."""
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def stream(
    zf: zipfile.ZipFile, member: Member, out: IO[bytes] | None, *, keep: bool = False
) -> tuple[bytes, str, int]:
    """Stream a member, counting and hashing: ``(bytes if keep, sha256, size)``."""
    declared = member.info.file_size
    digest, count, kept = hashlib.sha256(), 0, bytearray()
    try:
        with zf.open(member.info) as src:
            while chunk := src.read(CHUNK_BYTES):
                count += len(chunk)
                if count > declared:
                    break  # reported below with the real count so far
                digest.update(chunk)
                if keep:
                    kept += chunk
                if out is not None:
                    out.write(chunk)
            if count == declared and not _deflate_ended(src):
                raise corrupt(
                    "deflate_end",
                    f"entry {member.name!r}: its deflate stream does not end exactly "
                    "where its data ends",
                    entry=member.name,
                )
    except ARCHIVE_FAILURES as exc:
        raise corrupt(
            "data", f"entry {member.name!r} is corrupt: {exc}", entry=member.name
        ) from exc
    if count != declared:
        raise corrupt(
            "size",
            f"entry {member.name!r} holds {count} bytes, not the declared {declared}",
            entry=member.name,
        )
    return bytes(kept), digest.hexdigest(), count


def _deflate_ended(src: IO[bytes]) -> bool:
    """Whether a finished entry's deflate stream ended exactly at its data's end.

    zipfile stops at the end of the stream and ignores any bytes after it within the
    compressed size, and it accepts a stream that never ends once the sizes are
    reached; a streaming reader would read such bytes as the next header, so they
    are refused. (ZipExtFile keeps the decompressor and the bytes left to read in
    these private attributes; the tests pin them.)
    """
    decompressor = getattr(src, "_decompressor", None)
    if not isinstance(decompressor, _DECOMPRESSOR):
        return True  # stored: its size is its extent
    left = src._compress_left  # type: ignore[attr-defined]
    return bool(decompressor.eof and not decompressor.unused_data and left == 0)


class PositionalFile:
    """The first ``size`` bytes of a descriptor it does not own, as a read-only file
    object read with ``os.pread``: its own offset, so threads sharing the
    descriptor never race."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd, self._size, self._pos = fd, size, 0

    def read(self, n: int = -1) -> bytes:
        left = max(0, self._size - self._pos)  # never a byte past ``size``
        n = left if n is None or n < 0 else min(n, left)
        if not n:
            return b""
        data = os.pread(self._fd, n, self._pos)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}
        position = base[whence] + offset
        if position < 0:
            raise ValueError("negative seek position")
        self._pos = position
        return position

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass


def make_folders(dest: Path, files: list[Member], sync: TreeSync | None) -> None:
    """Every folder the files need under ``dest``, parents first, each one made here
    (never found) and checked to be inside ``dest``."""
    root = os.path.realpath(dest)
    made: set[tuple[str, ...]] = set()
    for member in files:
        for depth in range(1, len(member.parts)):
            key = member.parts[:depth]
            if key in made:
                continue
            folder = dest.joinpath(*key)
            try:
                os.mkdir(folder, DIR_MODE)
            except FileExistsError:
                # Only a folder made here can be here (names that fold together
                # were refused); a symlink or a file never can.
                if not stat.S_ISDIR(os.lstat(folder).st_mode):
                    raise
            os.chmod(folder, DIR_MODE)
            if os.path.commonpath([root, os.path.realpath(folder)]) != root:
                raise UnsafePathError(f"entry {member.name!r} escapes the destination")
            made.add(key)
            if sync is not None:
                sync.directory(folder)


def write_member(
    zf: zipfile.ZipFile, member: Member, dest: Path, sync: TreeSync | None
) -> Record:
    """Create the member's file (never an existing one, never through a symlink)
    in its folder, made by :func:`make_folders`, and stream the member into it."""
    target = dest.joinpath(*member.parts)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb", closefd=False) as out:
            _, digest, count = stream(zf, member, out)
    except BaseException:
        os.close(fd)
        raise
    if sync is None:
        os.close(fd)
    else:
        sync.file(fd)  # flushed and closed while the next member is written
    return digest, count


def stream_members(
    zf: zipfile.ZipFile,
    files: list[Member],
    dest: Path | None,
    sync: TreeSync | None = None,
    *,
    workers: int | None = None,
    archive_size: int | None = None,
) -> list[Record]:
    """``(sha256, size)`` of every member of ``files``, in order, each streamed (and
    written under ``dest``, whose folders must exist) on up to ``workers`` threads.

    ``archive_size`` is the length of the archive as it was hashed: the extra
    threads see no byte past it (by default, the file's size now).
    """
    workers = default_workers() if workers is None else max(1, workers)
    fd = _descriptor(zf)
    total = sum(m.info.compress_size for m in files)
    if workers == 1 or len(files) < 2 or total < PARALLEL_MIN_BYTES or fd is None:
        return [_one(zf, m, dest, sync) for m in files]
    if archive_size is None:
        archive_size = os.fstat(fd).st_size
    pool = _Pool(zf, fd, archive_size, files, dest, sync)
    return pool.run(min(workers, len(files)))


def _one(
    zf: zipfile.ZipFile, member: Member, dest: Path | None, sync: TreeSync | None
) -> Record:
    if dest is None:
        _, digest, count = stream(zf, member, None)
        return digest, count
    return write_member(zf, member, dest, sync)


def _descriptor(zf: zipfile.ZipFile) -> int | None:
    """The descriptor under ``zf`` when threads can read it positionally."""
    if not hasattr(os, "pread") or zf.fp is None:
        return None
    try:
        return zf.fp.fileno()
    except (AttributeError, OSError, ValueError):
        return None


class _Pool:
    """Runs of members handed out in order to threads; the first failure in order
    wins.

    A run is the members of one folder (at most :data:`RUN_FILES` of them): files
    created in one folder wait for each other on the folder's lock, so threads
    working in different folders create files side by side.
    """

    def __init__(
        self,
        zf: zipfile.ZipFile,
        fd: int,
        size: int,
        files: list[Member],
        dest: Path | None,
        sync: TreeSync | None,
    ) -> None:
        self.zf, self.fd, self.size = zf, fd, size
        self.files, self.dest, self.sync = files, dest, sync
        self.records: list[Record | None] = [None] * len(files)
        self.failures: dict[int, BaseException] = {}
        self.lock = threading.Lock()
        self.runs = _runs(files)
        self.next = 0

    def _take(self) -> range | None:
        with self.lock:
            if self.failures or self.next >= len(self.runs):
                return None
            run, self.next = self.runs[self.next], self.next + 1
            return run

    def _work(self, zf: zipfile.ZipFile) -> None:
        while (run := self._take()) is not None:
            for index in run:
                try:
                    member = self.files[index]
                    self.records[index] = _one(zf, member, self.dest, self.sync)
                except BaseException as exc:  # raised by run(), in member order
                    with self.lock:
                        self.failures[index] = exc
                    break  # the rest of this run comes after it in order

    def _thread(self) -> None:
        try:
            zf = zipfile.ZipFile(PositionalFile(self.fd, self.size))
        except (OSError, *ARCHIVE_FAILURES):
            # The calling thread streams whatever this one does not; a file that
            # changed under us fails there, on its own member.
            return
        with zf:
            self._work(zf)

    def run(self, workers: int) -> list[Record]:
        threads = [
            threading.Thread(target=self._thread, name="market-extract", daemon=True)
            for _ in range(workers - 1)
        ]
        for thread in threads:
            thread.start()
        try:
            self._work(self.zf)
        finally:
            with self.lock:
                self.next = len(self.runs)  # nothing more is handed out
            for thread in threads:
                thread.join()
        if self.failures:
            raise self.failures[min(self.failures)]
        records = [r for r in self.records if r is not None]
        assert len(records) == len(self.files)
        return records


def _runs(files: list[Member]) -> list[range]:
    """Consecutive members (in name order) of one folder, at most RUN_FILES each."""
    runs, start = [], 0
    for index in range(1, len(files) + 1):
        if (
            index == len(files)
            or files[index].parts[:-1] != files[start].parts[:-1]
            or index - start >= RUN_FILES
        ):
            runs.append(range(start, index))
            start = index
    return runs


__all__ = [
    "ARCHIVE_FAILURES",
    "CHUNK_BYTES",
    "DIR_MODE",
    "FILE_MODE",
    "PARALLEL_MIN_BYTES",
    "PositionalFile",
    "default_workers",
    "make_folders",
    "stream",
    "stream_members",
    "write_member",
]
