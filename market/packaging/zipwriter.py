"""The deterministic zip writer: fixed metadata, parallel deflate, durable rename.

Every entry has the timestamp 1980-01-01 00:00:00, mode 0644, ``create_system`` 3
(Unix), no extra fields; names are UTF-8 flagged only when they are not ASCII. Text and
code are deflated at :data:`COMPRESS_LEVEL`; already-compressed media are stored.

Every byte of zip structure is produced by :mod:`zipfile` (``ZipInfo.FileHeader`` for
local headers, ``ZipFile.close`` for the central directory). To use more than one core,
files up to :data:`STREAM_THRESHOLD` are deflated by worker threads (zlib releases the
GIL) with exactly the compressor ``zipfile`` would use, and their finished data is
appended by :class:`_BundleWriter`; larger files stream through ``ZipFile.open`` so
memory stays bounded. Without a pool everything goes through ``ZipFile.open`` alone;
both paths give identical bytes (tested). Each file is read twice (hashed for the
content record, then packed) and the CRC-32 of both reads must agree. The bundle is
written to a temp file, flushed, renamed into place and its folder flushed, so a
crash never leaves a half (or, after a power loss, empty) bundle under its name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import zipfile
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from market.durable import ensure_dir, replace_durably, temp_name
from market.errors import PackagingError
from market.manifest import Manifest, manifest_json_bytes
from market.packaging.sources import (
    BUNDLE_SUFFIX,
    MANIFEST_ENTRY,
    SourceFile,
    changed_error,
    open_source,
    read_error,
)

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

COMPRESS_LEVEL = 6
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ENTRY_MODE = stat.S_IFREG | 0o644
CREATE_SYSTEM_UNIX = 3
# Already-compressed formats: deflating them again costs time and saves nothing.
STORED_SUFFIXES = frozenset(
    {
        *(".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif"),
        *(".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".flac"),
        *(".mp4", ".m4v", ".webm", ".mkv", ".mov", ".woff", ".woff2"),
        *(".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", BUNDLE_SUFFIX),
    }
)

MIB = 1024 * 1024
CHUNK_BYTES = MIB
# Files above this stream through zipfile in the writing thread; smaller ones are read
# whole and compressed by a worker, at most WINDOW_BYTES of them in flight at a time.
STREAM_THRESHOLD = 8 * MIB
WINDOW_BYTES = 64 * MIB
WINDOW_FILES = 256

ProgressCallback = Callable[[int, int, int, int], None]


@dataclass(frozen=True)
class FileDigest:
    """The first read of a file: its SHA-256 for the content record, and its CRC-32
    so the second read (the one packed) can be checked cheaply against the first."""

    sha256: str
    crc: int


def _hash_one(file: SourceFile) -> FileDigest:
    digest, crc, size = hashlib.sha256(), 0, 0
    try:
        with open_source(file) as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
    except OSError as exc:
        raise read_error(file.name, exc) from exc
    if size != file.size:
        raise changed_error(file)
    return FileDigest(digest.hexdigest(), crc)


def hash_files(
    files: list[SourceFile], pool: ThreadPoolExecutor | None
) -> list[FileDigest]:
    """The first read of every file, in order (on the pool's threads if given)."""
    if pool is None:
        return [_hash_one(f) for f in files]
    return list(pool.map(_hash_one, files))


def _is_stored(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in STORED_SUFFIXES


def _zip_info(name: str, stored: bool, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    # ZipFile.open(info, "w") takes the level from the ZipInfo, not from the ZipFile.
    info._compresslevel = None if stored else COMPRESS_LEVEL  # type: ignore[attr-defined]
    info.create_system = CREATE_SYSTEM_UNIX
    info.external_attr = ENTRY_MODE << 16
    info.file_size = size  # lets zipfile choose zip64 from the real size up front
    return info


@dataclass(frozen=True)
class _Encoded:
    """A small file, read, checked and compressed by a worker."""

    crc: int
    size: int
    data: bytes


def _encode(file: SourceFile, first: FileDigest) -> _Encoded:
    try:
        with open_source(file) as handle:
            raw = handle.read()
    except OSError as exc:
        raise read_error(file.name, exc) from exc
    encoded = _compress(raw, _is_stored(file.name))
    if encoded.size != file.size or encoded.crc != first.crc:
        raise changed_error(file)
    return encoded


def _compress(raw: bytes, stored: bool) -> _Encoded:
    if stored:
        return _Encoded(zlib.crc32(raw), len(raw), raw)
    # Exactly zipfile's own compressor for ZIP_DEFLATED (raw deflate, default memLevel).
    compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -15)
    return _Encoded(
        zlib.crc32(raw), len(raw), compressor.compress(raw) + compressor.flush()
    )


class _BundleWriter:
    """Appends entries to a ``ZipFile`` opened for writing on a seekable file.

    ``append`` adds an entry whose data is already compressed: it writes zipfile's own
    local header (``ZipInfo.FileHeader``) and the data where ``ZipFile.open(..., "w")``
    would, then registers the entry as ``_ZipWriteFile.close`` does, so ``close``
    writes the central directory. ``stream`` is plain ``ZipFile.open``.
    """

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle  # zipfile writes through this very object (its ``fp``)
        self.zf = zipfile.ZipFile(handle, "w", allowZip64=True)

    def append(self, name: str, stored: bool, encoded: _Encoded) -> None:
        zf, handle = self.zf, self.handle
        info = _zip_info(name, stored, encoded.size)
        info.CRC = encoded.crc
        info.compress_size = len(encoded.data)
        # ``start_dir`` is where zipfile writes its next entry (and at last the
        # central directory); the zip64 rule is the one of ZipFile._open_to_write.
        handle.seek(zf.start_dir)
        info.header_offset = zf.start_dir
        handle.write(info.FileHeader(info.file_size * 1.05 > zipfile.ZIP64_LIMIT))
        handle.write(encoded.data)
        zf.start_dir = handle.tell()
        zf.filelist.append(info)
        zf.NameToInfo[name] = info

    def stream(self, file: SourceFile, first: FileDigest) -> None:
        info = _zip_info(file.name, _is_stored(file.name), file.size)
        try:
            with open_source(file) as src, self.zf.open(info, "w") as out:
                while chunk := src.read(CHUNK_BYTES):
                    out.write(chunk)
        except OSError as exc:
            raise read_error(file.name, exc) from exc
        # zipfile has set the size and CRC-32 of what it packed.
        if info.file_size != file.size or first.crc != info.CRC:
            raise changed_error(file)

    def close(self) -> None:
        self.zf.close()


def write_atomically(
    target: Path,
    manifest: Manifest,
    files: list[SourceFile],
    digests: list[FileDigest],
    *,
    pool: ThreadPoolExecutor | None,
    progress: ProgressCallback | None,
    durable: bool = True,
) -> None:
    """Write the bundle to a temporary file beside ``target``, then rename it.

    With ``durable`` (off only for throwaway builds), the file is flushed before
    the rename and the folder after it.
    """
    try:
        if durable:
            ensure_dir(target.parent)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(target)
        # 0o666 through the umask: the bundle gets the same mode as any new file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise PackagingError(
            f"cannot write to {target.parent}: {exc.strerror or exc}",
            details={"path": str(target.parent)},
        ) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            writer = _BundleWriter(handle)
            try:
                manifest_bytes = manifest_json_bytes(manifest.data)
                writer.append(MANIFEST_ENTRY, False, _compress(manifest_bytes, False))
                _write_entries(writer, files, digests, pool, progress)
            except BaseException:
                # Close now, or ZipFile.__del__ writes to a closed file later.
                with contextlib.suppress(Exception):
                    writer.close()
                raise
            writer.close()
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if durable:
            replace_durably(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise PackagingError(
                f"cannot write {target}: {exc.strerror or exc}",
                details={"path": str(target)},
            ) from exc
        raise


def _write_entries(
    writer: _BundleWriter,
    files: list[SourceFile],
    digests: list[FileDigest],
    pool: ThreadPoolExecutor | None,
    progress: ProgressCallback | None,
) -> None:
    """Write entries in order while workers compress the next files in a window."""
    total_files, total_bytes = len(files), sum(f.size for f in files)
    pending: deque[tuple[int, Future[_Encoded] | None]] = deque()
    upcoming = iter(range(len(files)))
    in_flight = 0
    done_files = done_bytes = 0

    def refill() -> None:
        nonlocal in_flight
        while len(pending) < WINDOW_FILES and in_flight < WINDOW_BYTES:
            index = next(upcoming, None)
            if index is None:
                return
            file = files[index]
            future = None
            if pool is not None and file.size <= STREAM_THRESHOLD:
                future = pool.submit(_encode, file, digests[index])
                in_flight += file.size
            pending.append((index, future))

    refill()
    while pending:
        index, future = pending.popleft()
        file = files[index]
        if future is None:
            writer.stream(file, digests[index])
        else:
            writer.append(file.name, _is_stored(file.name), future.result())
            in_flight -= file.size
        refill()
        done_files += 1
        done_bytes += file.size
        if progress is not None:
            progress(done_files, total_files, done_bytes, total_bytes)


__all__ = [
    "COMPRESS_LEVEL",
    "STORED_SUFFIXES",
    "STREAM_THRESHOLD",
    "ZIP_EPOCH",
    "FileDigest",
    "ProgressCallback",
    "hash_files",
    "write_atomically",
]
