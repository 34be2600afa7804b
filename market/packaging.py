"""Deterministic ``.cvnext`` writer: the same source tree gives the same bytes.

A bundle is a zip archive whose first entry is the normalised ``manifest.json``,
followed by every other file of the source tree sorted by POSIX relative path. Each has
the timestamp 1980-01-01 00:00:00, mode 0644, ``create_system`` 3 (Unix), no extra
fields and no directory entries; names are UTF-8 flagged only when they are not ASCII.
Text and code are deflated at a fixed level; already-compressed media are stored. The
written manifest carries a ``content`` record (digest over the path, SHA-256 and size of
every other entry), so ``manifest_sha256`` covers every byte of the bundle, whichever
zlib compressed it.

Every byte of zip structure is produced by :mod:`zipfile` (``ZipInfo.FileHeader`` for
local headers, ``ZipFile.close`` for the central directory). To use more than one core,
files up to :data:`STREAM_THRESHOLD` are deflated by worker threads (zlib releases the
GIL) with exactly the compressor ``zipfile`` would use, and their finished data is
appended by :class:`_BundleWriter`; larger files stream through ``ZipFile.open`` so
memory stays bounded. ``workers=0`` writes everything through ``ZipFile.open`` alone;
both paths give identical bytes (tested).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import secrets
import stat
import tempfile
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from market.archive import check_member_name
from market.errors import MarketError, PackagingError
from market.manifest import (
    MANIFEST_FILENAMES,
    Manifest,
    content_record,
    manifest_json_bytes,
    normalise_manifest,
    read_manifest_dir,
    verify_digest_signature,
)
from market.sandbox import Allowlist

BUNDLE_SUFFIX = ".cvnext"
MANIFEST_ENTRY = "manifest.json"
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
SKIPPED_NAMES = frozenset({"__pycache__", ".DS_Store", "Thumbs.db"})
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".log")

MIB = 1024 * 1024
CHUNK_BYTES = MIB
# Files above this stream through zipfile in the writing thread; smaller ones are read
# whole and compressed by a worker, at most WINDOW_BYTES of them in flight at a time.
STREAM_THRESHOLD = 8 * MIB
WINDOW_BYTES = 64 * MIB
WINDOW_FILES = 256

ProgressCallback = Callable[[int, int, int, int], None]


@dataclass(frozen=True)
class SourceFile:
    """A regular file of the source tree, by bundle path and location on disk."""

    name: str
    path: Path
    size: int


@dataclass(frozen=True)
class PackageResult:
    """What the packager wrote: the bundle, its digests and the manifest inside it."""

    path: Path
    files: int
    bytes: int
    sha256: str
    manifest: Manifest
    manifest_sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "path": str(self.path),
            "files": self.files,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "manifest": {
                "id": self.manifest.id,
                "version": self.manifest.version,
                "trust": self.manifest.trust_level,
            },
            "manifest_sha256": self.manifest_sha256,
            "content": self.manifest.data.get("content"),
            "warnings": [w.as_dict() for w in self.manifest.warnings],
        }

    def format_text(self) -> str:
        return (
            f"[ok] created {self.path}\n"
            f"      files={self.files} bytes={self.bytes} sha256={self.sha256}\n"
            f"      manifest id={self.manifest.id} version={self.manifest.version}\n"
            f"      trust={self.manifest.trust_level} "
            f"manifest_sha256={self.manifest_sha256}"
        )


def build_package(
    src: str | Path,
    output_dir: str | Path,
    *,
    force: bool = False,
    trust_level: str | None = None,
    allowlist: Allowlist | None = None,
    include_hidden: bool = False,
    ignore: Iterable[str] = (),
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> PackageResult:
    """Package the extension at ``src`` into ``<output_dir>/<id>-<version>.cvnext``.

    Raises ``ManifestError`` (every problem), ``ManifestMissingError``,
    ``SignatureMismatchError``/``SignatureUnsupportedError`` or ``PackagingError``;
    on any failure nothing is left in ``output_dir``. ``workers`` is the number of
    compression threads (default: one per CPU; 0 compresses in the calling thread).
    """
    root = _source_root(src)
    out_dir = Path(output_dir).resolve()
    for name in MANIFEST_FILENAMES:
        _refuse_special(root / name, name)
    raw, source_name = read_manifest_dir(root)
    manifest = normalise_manifest(
        raw, source_name=source_name, trust_level=trust_level, allowlist=allowlist
    )
    files = collect_files(
        root, include_hidden=include_hidden, ignore=ignore, exclude_dir=out_dir
    )
    target = out_dir / _bundle_name(manifest)
    if os.path.lexists(target) and not force:
        raise PackagingError(
            f"{target} already exists (use --force to replace it)",
            details={"path": str(target)},
        )
    if workers is None:
        workers = os.cpu_count() or 1
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 0 else None
    try:
        digests = _hash_files(files, pool)
        record = content_record(
            (f.name, d.sha256, f.size) for f, d in zip(files, digests, strict=True)
        )
        manifest = verify_digest_signature(
            replace(manifest, data={**manifest.data, "content": record})
        )
        _write_atomically(
            target, manifest, files, digests, pool=pool, progress=progress
        )
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    sha256, size = file_digest(target)
    return PackageResult(
        path=target,
        files=len(files) + 1,
        bytes=size,
        sha256=sha256,
        manifest=manifest,
        manifest_sha256=manifest.digest(),
    )


def check_package(
    src: str | Path, bundle: str | Path, **options: Any
) -> tuple[bool, PackageResult]:
    """Rebuild ``src`` and say whether ``bundle`` has exactly the rebuilt bytes.

    ``options`` are those of :func:`build_package` (``force`` and ``output_dir`` are
    chosen here). The rebuild goes to a temporary folder that is removed before
    returning: the result's ``path`` names where it was, for the record.
    """
    options.pop("force", None)
    bundle_sha256, bundle_size = file_digest(bundle)
    with tempfile.TemporaryDirectory(prefix="cvnext-check-") as tmp:
        result = build_package(src, tmp, **options)
    identical = result.sha256 == bundle_sha256 and result.bytes == bundle_size
    return identical, result


def file_digest(path: str | Path) -> tuple[str, int]:
    """The SHA-256 (hex) and size of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise PackagingError(
            f"cannot read {path}: {exc.strerror or exc}", details={"path": str(path)}
        ) from exc
    return digest.hexdigest(), size


def collect_files(
    src: str | Path,
    *,
    include_hidden: bool = False,
    ignore: Iterable[str] = (),
    exclude_dir: Path | None = None,
) -> list[SourceFile]:
    """The files to pack (manifest excluded), sorted by bundle path.

    Symlinks and special files among the paths walked are refused, never followed;
    skipped paths (hidden, caches, ``ignore`` patterns) are not looked into.
    ``exclude_dir``, when inside the tree, loses its ``.cvnext`` files (our output).
    """
    root = _source_root(src)
    patterns = tuple(p.rstrip("/") for p in ignore if p.strip("/"))
    own_output = None
    if exclude_dir is not None and exclude_dir.resolve().is_relative_to(root):
        own_output = exclude_dir.resolve().relative_to(root).as_posix()
    files: list[SourceFile] = []
    for name, path, info in _walk(root, "", include_hidden, patterns):
        parent = name.rpartition("/")[0] or "."
        if parent == "." and name in MANIFEST_FILENAMES:
            continue  # the normalised manifest replaces it
        if parent == own_output and name.endswith(BUNDLE_SUFFIX):
            continue
        files.append(SourceFile(name, path, info.st_size))
    files.sort(key=lambda f: f.name)
    return files


def _walk(
    directory: Path, prefix: str, include_hidden: bool, patterns: tuple[str, ...]
) -> Iterator[tuple[str, Path, os.stat_result]]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        raise _read_error(prefix or ".", exc) from exc
    for entry in entries:
        name = prefix + entry.name
        if _skipped(name, entry.name, include_hidden, patterns):
            continue
        _check_encoding(entry.name, prefix)
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as exc:
            raise _read_error(name, exc) from exc
        if stat.S_ISDIR(info.st_mode):
            yield from _walk(Path(entry.path), name + "/", include_hidden, patterns)
        elif stat.S_ISREG(info.st_mode):
            _check_name(name)
            yield name, Path(entry.path), info
        else:
            raise _not_regular(name, info)


def _not_regular(name: str, info: os.stat_result) -> PackagingError:
    kind = "a symlink" if stat.S_ISLNK(info.st_mode) else "a special file"
    return PackagingError(
        f"{name} is {kind}; bundles hold regular files only "
        "(replace it with a copy or --ignore it)",
        details={"path": name},
    )


def _refuse_special(path: Path, name: str) -> None:
    """Refuse ``path`` if it exists as anything but a regular file (never follow)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _read_error(name, exc) from exc
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(name, info)


def _skipped(
    name: str, basename: str, include_hidden: bool, patterns: tuple[str, ...]
) -> bool:
    if not include_hidden and basename.startswith("."):
        return True
    if basename in SKIPPED_NAMES or basename.endswith(SKIPPED_SUFFIXES):
        return True
    return any(
        fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(basename, p)
        for p in patterns
    )


def _check_encoding(raw: str, prefix: str) -> None:
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        # os.scandir decoded undecodable bytes as surrogates: no portable name exists.
        shown = raw.encode("utf-8", "backslashreplace").decode("ascii", "replace")
        raise PackagingError(
            f"{prefix}{shown}: file name is not valid UTF-8",
            details={"path": prefix + shown},
        ) from None


def _check_name(name: str) -> None:
    """Refuse names the installer would refuse, so no bundle is built in vain."""
    try:
        check_member_name(name)
    except MarketError as exc:
        raise PackagingError(
            f"{name}: cannot be packed: {exc.message}", details={"path": name}
        ) from exc


def _source_root(src: str | Path) -> Path:
    root = Path(src).resolve()
    if not root.is_dir():
        raise PackagingError(f"{src} is not a directory", details={"path": str(src)})
    return root


def _bundle_name(manifest: Manifest) -> str:
    name = f"{manifest.id}-{manifest.version}{BUNDLE_SUFFIX}"
    # The manifest schema forbids this already; a file name is worth checking twice.
    if "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise PackagingError(f"unsafe bundle name {name!r}", details={"name": name})
    return name


def _read_error(name: str, exc: OSError) -> PackagingError:
    return PackagingError(
        f"cannot read {name}: {exc.strerror or exc}", details={"path": name}
    )


def _open_source(file: SourceFile) -> IO[bytes]:
    """Open without following a symlink swapped in after the walk, nor blocking."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(file.path, flags | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise _read_error(file.name, exc) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PackagingError(
            f"{file.name} is no longer a regular file", details={"path": file.name}
        )
    return os.fdopen(fd, "rb")


def _changed(file: SourceFile) -> PackagingError:
    return PackagingError(
        f"{file.name} changed while it was being packed; try again",
        details={"path": file.name},
    )


@dataclass(frozen=True)
class _Digest:
    """The first read of a file: its SHA-256 for the content record, and its CRC-32
    so the second read (the one packed) can be checked cheaply against the first."""

    sha256: str
    crc: int


def _hash_one(file: SourceFile) -> _Digest:
    digest, crc, size = hashlib.sha256(), 0, 0
    try:
        with _open_source(file) as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
    except OSError as exc:
        raise _read_error(file.name, exc) from exc
    if size != file.size:
        raise _changed(file)
    return _Digest(digest.hexdigest(), crc)


def _hash_files(
    files: list[SourceFile], pool: ThreadPoolExecutor | None
) -> list[_Digest]:
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


def _encode(file: SourceFile, first: _Digest) -> _Encoded:
    try:
        with _open_source(file) as handle:
            raw = handle.read()
    except OSError as exc:
        raise _read_error(file.name, exc) from exc
    encoded = _compress(raw, _is_stored(file.name))
    if encoded.size != file.size or encoded.crc != first.crc:
        raise _changed(file)
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

    def stream(self, file: SourceFile, first: _Digest) -> None:
        info = _zip_info(file.name, _is_stored(file.name), file.size)
        try:
            with _open_source(file) as src, self.zf.open(info, "w") as out:
                while chunk := src.read(CHUNK_BYTES):
                    out.write(chunk)
        except OSError as exc:
            raise _read_error(file.name, exc) from exc
        # zipfile has set the size and CRC-32 of what it packed.
        if info.file_size != file.size or first.crc != info.CRC:
            raise _changed(file)

    def close(self) -> None:
        self.zf.close()


def _write_atomically(
    target: Path,
    manifest: Manifest,
    files: list[SourceFile],
    digests: list[_Digest],
    *,
    pool: ThreadPoolExecutor | None,
    progress: ProgressCallback | None,
) -> None:
    """Write the bundle to a temporary file beside ``target``, then rename it."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
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
    digests: list[_Digest],
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
    "BUNDLE_SUFFIX",
    "COMPRESS_LEVEL",
    "STORED_SUFFIXES",
    "PackageResult",
    "SourceFile",
    "build_package",
    "check_package",
    "collect_files",
    "file_digest",
]
