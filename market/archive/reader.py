"""Reading and extracting a ``.cvnext`` bundle once its members have passed the checks.

The bundle is hashed while it is read, the archive opened with :mod:`zipfile`, every
member checked (:mod:`market.archive.members`) before a byte is written, the manifest
read and normalised with its file references checked, and every member streamed with
its real size counted, so a size that lies cannot slip through. The ``content`` record
is then recomputed and compared. A referenced file that is missing from a bundle whose
content record no longer matches is reported as the content mismatch it is.
:func:`extract_bundle` writes files itself, never with zipfile's bulk extraction, and
removes the destination on any failure.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from market.archive.contents import check_content, normalise_with_files
from market.archive.directory import Directory, corrupt, read_directory
from market.archive.members import ArchiveLimits, Member, iter_members
from market.durable import TreeSync
from market.errors import (
    ManifestError,
    ManifestMissingError,
    PackageTooLargeError,
    Problem,
    UnsafePathError,
    sort_problems,
)
from market.manifest import (
    LIMITS,
    MANIFEST_FILENAMES,
    Manifest,
    check_manifest_size,
    parse_manifest_bytes,
)
from market.sandbox import Allowlist

MIB = 1024 * 1024
CHUNK_BYTES = MIB
MAX_MANIFEST_BYTES = LIMITS.max_bytes
FILE_MODE, DIR_MODE = 0o644, 0o755

_BAD_ZIP = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    struct.error,
)
# zipfile also reports unreadable structures as these.
_ARCHIVE_FAILURES = (*_BAD_ZIP, NotImplementedError, ValueError)
_DECOMPRESSOR = type(zlib.decompressobj())


DEFAULT_LIMITS = ArchiveLimits()


@dataclass(frozen=True)
class BundleInfo:
    manifest: Manifest
    sha256: str
    size: int
    content_verified: bool
    warnings: tuple[Problem, ...]
    entries: tuple[str, ...]


@contextmanager
def _open_bundle(
    path: str | Path, limits: ArchiveLimits, *, hashed: bool = True
) -> Iterator[tuple[zipfile.ZipFile, str, int, Directory]]:
    """The open archive, with the SHA-256 and size of exactly the bytes it parses,
    and its central directory as checked before zipfile read it. Without ``hashed``
    the digest is ``""`` and the bundle is not read whole (a reader of one file)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        # No server path in the message: it may reach a client.
        reason = exc.strerror or type(exc).__name__
        raise corrupt("file", f"cannot read the bundle: {reason}") from exc
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise corrupt("file", "the bundle is not a regular file")
        digest, size = hashlib.sha256(), 0
        if not hashed:
            size = os.fstat(handle.fileno()).st_size
        while hashed and (chunk := handle.read(CHUNK_BYTES)):
            size += len(chunk)
            if size > limits.max_package_bytes:
                break
            digest.update(chunk)
        if size > limits.max_package_bytes:
            raise PackageTooLargeError(
                f"the bundle is over {limits.max_package_bytes} bytes",
                details={"limit": limits.max_package_bytes},
            )
        directory = read_directory(handle, size, limits)
        handle.seek(0)
        try:
            zf = zipfile.ZipFile(handle)
        except UnicodeDecodeError as exc:
            raise UnsafePathError(
                "an entry name is not valid UTF-8", details={"rule": "encoding"}
            ) from exc
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise corrupt("zip", f"not a readable zip archive: {reason}") from exc
        except _ARCHIVE_FAILURES as exc:
            raise corrupt("zip", f"not a readable zip archive: {exc}") from exc
        with zf:
            yield zf, digest.hexdigest() if hashed else "", size, directory


def _stream(
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
    except _ARCHIVE_FAILURES as exc:
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


def _read_manifest(
    zf: zipfile.ZipFile, by_name: dict[str, Member]
) -> tuple[dict[str, Any], str]:
    """The manifest as written, and the name of the member it came from."""
    for source_name in MANIFEST_FILENAMES:
        member = by_name.get(source_name)
        if member is None:
            continue
        # Held to the manifest's byte limit before a byte is inflated: _stream stops
        # at the declared size, so a small member cannot grow past it.
        check_manifest_size(member.info.file_size)
        raw, _, _ = _stream(zf, member, None, keep=True)
        return parse_manifest_bytes(raw, source_name=source_name), source_name
    raise ManifestMissingError(
        f"the bundle has no {' or '.join(MANIFEST_FILENAMES)} at its root",
        details={"expected": list(MANIFEST_FILENAMES)},
    )


# Problems that may mean files were removed from the bundle after packaging.
MISSING_CODES = frozenset({"missing_file", "missing_entry_module"})


def _load_manifest(
    zf: zipfile.ZipFile,
    files: list[Member],
    allowlist: Allowlist | None,
    trust_level: str | None,
) -> Manifest:
    """The normalised manifest; every file it references must be a member."""
    by_name = {m.name: m for m in files}
    data, source_name = _read_manifest(zf, by_name)
    try:
        return normalise_with_files(
            data,
            by_name,
            source_name=source_name,
            trust_level=trust_level,
            allowlist=allowlist,
        )
    except ManifestError as exc:
        if any(p.code in MISSING_CODES for p in exc.problems):
            # Files gone since packaging: the content record tells the real story.
            records = [_record(zf, m) for m in files if m.name != source_name]
            check_content(data, records)
        raise


def _record(zf: zipfile.ZipFile, member: Member) -> tuple[str, str, int]:
    _, digest, count = _stream(zf, member, None)
    return member.name, digest, count


def _read_bundle(
    path: str | Path,
    dest: Path | None,
    created: list[Path],
    limits: ArchiveLimits,
    allowlist: Allowlist | None,
    trust_level: str | None,
    sync: TreeSync | None = None,
) -> BundleInfo:
    with _open_bundle(path, limits) as (zf, sha256, size, directory):
        members = iter_members(zf, limits, package_size=size, directory=directory)
        files = sorted((m for m in members if not m.is_dir), key=lambda m: m.name)
        manifest = _load_manifest(zf, files, allowlist, trust_level)
        if dest is not None:
            os.mkdir(dest, DIR_MODE)
            created.append(dest)
            os.chmod(dest, DIR_MODE)
            if sync is not None:
                sync.directory(dest)
        records = []
        for member in files:
            if dest is None:
                _, digest, count = _stream(zf, member, None)
            else:
                digest, count = _write_member(zf, member, dest, sync)
            if member.name != manifest.source_name:
                records.append((member.name, digest, count))
        verified, warnings = check_content(manifest.data, records)
    return BundleInfo(
        manifest=manifest,
        sha256=sha256,
        size=size,
        content_verified=verified,
        warnings=tuple(sort_problems([*manifest.warnings, *warnings])),
        entries=tuple(m.name for m in files),
    )


def _write_member(
    zf: zipfile.ZipFile, member: Member, dest: Path, sync: TreeSync | None
) -> tuple[str, int]:
    parent = dest
    for part in member.parts[:-1]:
        parent = parent / part
        try:
            os.mkdir(parent, DIR_MODE)
            os.chmod(parent, DIR_MODE)
            if sync is not None:
                sync.directory(parent)
        except FileExistsError:
            # Only directories we created can be here; a symlink never can.
            if not stat.S_ISDIR(os.lstat(parent).st_mode):
                raise
    target = parent / member.parts[-1]
    root = os.path.realpath(dest)
    if os.path.commonpath([root, os.path.realpath(parent)]) != root:
        raise UnsafePathError(f"entry {member.name!r} escapes the destination")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb", closefd=False) as out:
            _, digest, count = _stream(zf, member, out)
    except BaseException:
        os.close(fd)
        raise
    if sync is None:
        os.close(fd)
    else:
        sync.file(fd)  # flushed and closed while the next member is written
    return digest, count


def inspect_bundle(
    path: str | Path,
    *,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    allowlist: Allowlist | None = None,
    trust_level: str | None = None,
) -> BundleInfo:
    """Check a bundle completely (every member read and hashed) without writing."""
    return _read_bundle(path, None, [], limits, allowlist, trust_level)


def extract_bundle(
    path: str | Path,
    dest: Path,
    *,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    allowlist: Allowlist | None = None,
    trust_level: str | None = None,
    durable: bool = False,
) -> BundleInfo:
    """Check a bundle and write its files into ``dest``, which must not exist yet.

    Nothing is written until every member has passed its checks; on any failure,
    including a content mismatch found while writing, ``dest`` is removed. With
    ``durable``, every file and folder written is flushed to disk before this
    returns (:class:`market.durable.TreeSync`: about one sync of the tree).
    """
    dest = Path(dest)
    if os.path.lexists(dest):
        raise FileExistsError(f"extraction destination {dest} already exists")
    created: list[Path] = []
    try:
        if not durable:
            return _read_bundle(path, dest, created, limits, allowlist, trust_level)
        with TreeSync() as sync:
            return _read_bundle(
                path, dest, created, limits, allowlist, trust_level, sync
            )
    except BaseException:
        for folder in created:  # only ever the folder this call made
            shutil.rmtree(folder, ignore_errors=True)
        raise


__all__ = ["DEFAULT_LIMITS", "BundleInfo", "extract_bundle", "inspect_bundle"]
