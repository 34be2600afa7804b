"""Streaming a checked bundle's members: inflated, counted, hashed, maybe written.

Each member's data is read from where the layout check found it
(:attr:`Member.data_offset`), inflated (ISA-L's inflate through ``isal`` where it is
installed, about twice zlib's speed; zlib otherwise), CRC-checked against its
record, hashed and counted, so a size that lies cannot slip through. Inflating, CRC,
hashing, reading and writing all release the GIL for large buffers, so a few threads
stream a large bundle about as many times faster as there are free cores.
:func:`stream_members` hands the members out in name order to ``workers`` threads
(the calling thread is one of them), all reading the one open file with positional
reads (``os.pread``), so no thread moves another's file offset and none reads a
byte past the archive's length as it was when opened. Where ``os.pread`` is missing
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
from typing import IO, Any, Protocol

from market.archive.directory import corrupt, positional_fd, read_at
from market.archive.members import Member
from market.durable import TreeSync, write_all
from market.errors import UnsafePathError

INFLATE: Any
try:  # the same API as zlib's, twice as fast to inflate
    from isal import isal_zlib as INFLATE
except ImportError:  # pragma: no cover - a platform without isal's wheels
    INFLATE = zlib

MIB = 1024 * 1024
CHUNK_BYTES = MIB
FILE_MODE, DIR_MODE = 0o644, 0o755
# Below this much data a second thread costs more (a thread start, the GIL handed
# back and forth) than it saves.
PARALLEL_MIN_BYTES = 4 * MIB
MAX_WORKERS = 4
RUN_FILES = 64  # members of one folder handed to a thread at once
WRITEBACK_BYTES = 8 * MIB  # of a large file, written before its write-back starts

_BAD_ZIP = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    INFLATE.error,
    EOFError,
    struct.error,
)
# zipfile also reports unreadable structures as these.
ARCHIVE_FAILURES = (*_BAD_ZIP, NotImplementedError, ValueError)

Record = tuple[str, int]  # (sha256, size) of one member


def default_workers() -> int:
    """One streaming thread per core, at most :data:`MAX_WORKERS`."""
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


class ArchiveBytes:
    """The first ``size`` bytes of an open archive, read at given offsets.

    With ``os.pread`` any number of threads read at once (:attr:`parallel`), none
    moving the handle's offset; without it reads seek the handle, one at a time.
    """

    def __init__(self, handle: IO[bytes], size: int) -> None:
        self._handle, self.size = handle, size
        self.parallel = positional_fd(handle) is not None

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``offset``, never one past :attr:`size`."""
        n = max(0, min(n, self.size - offset))
        return read_at(self._handle, offset, n) if n else b""


def _chunks(source: ArchiveBytes, member: Member, state: dict[str, bool]):
    """The member's data, inflated if deflated, in pieces of at most CHUNK_BYTES;
    ``state["ended"]`` says at the end whether the data ended exactly where its
    record says (a deflate stream that ends, with nothing after it)."""
    info = member.info
    offset, left = member.data_offset, info.compress_size
    if offset < 0:
        raise ValueError(f"entry {member.name!r} has no checked data offset")
    inflater = (
        INFLATE.decompressobj(-15)
        if info.compress_type == zipfile.ZIP_DEFLATED
        else None
    )
    state["ended"] = inflater is None
    while left:
        raw = source.read_at(offset, min(CHUNK_BYTES, left))
        if not raw:
            raise EOFError("the archive ends inside this entry")
        offset, left = offset + len(raw), left - len(raw)
        if inflater is None:
            yield raw
            continue
        data = inflater.decompress(raw, CHUNK_BYTES)
        while True:
            if data:
                yield data
            tail = inflater.unconsumed_tail
            if not tail or inflater.eof:
                break
            data = inflater.decompress(tail, CHUNK_BYTES)
        if inflater.eof:
            break
    if inflater is not None:
        # zipfile stops at the end of the stream and ignores any bytes after it
        # within the compressed size, and it accepts a stream that never ends once
        # the sizes are reached; a streaming reader would read such bytes as the
        # next header, so both are refused.
        state["ended"] = bool(inflater.eof and not inflater.unused_data and not left)


class _Writable(Protocol):
    def write(self, data: bytes, /) -> Any: ...


def stream(
    source: ArchiveBytes, member: Member, out: _Writable | None, *, keep: bool = False
) -> tuple[bytes, str, int]:
    """Stream a member, counting and hashing: ``(bytes if keep, sha256, size)``."""
    name, declared = member.name, member.info.file_size
    digest, count, crc, kept = hashlib.sha256(), 0, 0, bytearray()
    state: dict[str, bool] = {}
    try:
        for chunk in _chunks(source, member, state):
            count += len(chunk)
            if count > declared:
                break  # reported below with the real count so far
            digest.update(chunk)
            crc = INFLATE.crc32(chunk, crc)
            if keep:
                kept += chunk
            if out is not None:
                out.write(chunk)
    except ARCHIVE_FAILURES as exc:
        raise corrupt("data", f"entry {name!r} is corrupt: {exc}", entry=name) from exc
    if count <= declared and crc != member.info.CRC:
        raise corrupt(
            "data", f"entry {name!r} is corrupt: its CRC-32 does not match", entry=name
        )
    if count != declared:
        raise corrupt(
            "size",
            f"entry {name!r} holds {count} bytes, not the declared {declared}",
            entry=name,
        )
    if not state.get("ended"):
        raise corrupt(
            "deflate_end",
            f"entry {name!r}: its deflate stream does not end exactly where its "
            "data ends",
            entry=name,
        )
    return bytes(kept), digest.hexdigest(), count


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


_CREATE = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class _FileOut:
    """Writes straight to a descriptor (the pieces are already large), and has the
    write-back of a large file started every :data:`WRITEBACK_BYTES` while the rest
    is still being inflated (see :meth:`TreeSync.written`)."""

    def __init__(self, fd: int, sync: TreeSync | None) -> None:
        self._fd, self._sync, self._pending = fd, sync, 0

    def write(self, data: bytes) -> None:
        write_all(self._fd, data)
        self._pending += len(data)
        if self._sync is not None and self._pending >= WRITEBACK_BYTES:
            self._pending = 0
            self._sync.written(self._fd)


def write_member(
    source: ArchiveBytes, member: Member, dest: Path, sync: TreeSync | None
) -> Record:
    """Create the member's file (never an existing one, never through a symlink)
    in its folder, made by :func:`make_folders`, and stream the member into it."""
    target = os.path.join(dest, *member.parts)
    fd = os.open(target, _CREATE, FILE_MODE)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, FILE_MODE)
        _, digest, count = stream(source, member, _FileOut(fd, sync))
    except BaseException:
        os.close(fd)
        raise
    if sync is None:
        os.close(fd)
    else:
        sync.file(fd, count)  # flushed (or its write-back started) and closed
    return digest, count


def stream_members(
    source: ArchiveBytes,
    files: list[Member],
    dest: Path | None,
    sync: TreeSync | None = None,
    *,
    workers: int | None = None,
) -> list[Record]:
    """``(sha256, size)`` of every member of ``files``, in order, each streamed (and
    written under ``dest``, whose folders must exist) on up to ``workers`` threads."""
    workers = default_workers() if workers is None else max(1, workers)
    total = sum(m.info.compress_size for m in files)
    if (
        workers == 1
        or len(files) < 2
        or total < PARALLEL_MIN_BYTES
        or not source.parallel
    ):
        return [_one(source, m, dest, sync) for m in files]
    return _Pool(source, files, dest, sync).run(min(workers, len(files)))


def _one(
    source: ArchiveBytes, member: Member, dest: Path | None, sync: TreeSync | None
) -> Record:
    if dest is None:
        _, digest, count = stream(source, member, None)
        return digest, count
    return write_member(source, member, dest, sync)


class _Pool:
    """Runs of members handed out in order to threads; the first failure in order
    wins.

    A run is the members of one folder (at most :data:`RUN_FILES` of them): files
    created in one folder wait for each other on the folder's lock, so threads
    working in different folders create files side by side.
    """

    def __init__(
        self,
        source: ArchiveBytes,
        files: list[Member],
        dest: Path | None,
        sync: TreeSync | None,
    ) -> None:
        self.source, self.files, self.dest, self.sync = source, files, dest, sync
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

    def _work(self) -> None:
        while (run := self._take()) is not None:
            for index in run:
                try:
                    member = self.files[index]
                    record = _one(self.source, member, self.dest, self.sync)
                    self.records[index] = record
                except BaseException as exc:  # raised by run(), in member order
                    with self.lock:
                        self.failures[index] = exc
                    break  # the rest of this run comes after it in order

    def run(self, workers: int) -> list[Record]:
        threads = [
            threading.Thread(target=self._work, name="market-extract", daemon=True)
            for _ in range(workers - 1)
        ]
        for thread in threads:
            thread.start()
        try:
            self._work()
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
    "INFLATE",
    "PARALLEL_MIN_BYTES",
    "ArchiveBytes",
    "default_workers",
    "make_folders",
    "stream",
    "stream_members",
    "write_member",
]
