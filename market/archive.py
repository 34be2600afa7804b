"""Safe reading and extraction of ``.cvnext`` bundles (zip archives).

``zipfile`` parses the archive; this module decides what it may contain. Every member
is checked before a byte is written: its raw name (no absolute, drive, UNC or ``..``
paths, no backslashes, control characters or empty segments), its type (regular files
and empty directory entries only), flags (no encryption), compression (stored or
deflated), declared sizes against :class:`ArchiveLimits`, collisions between names
that one file system would fold together (case, NFC/NFKC), and the byte ranges of the
entries (overlapping entries are the classic non-recursive zip bomb). While members are
streamed their real sizes are counted, so a size that lies cannot slip through.

The manifest is read and normalised, and its ``content`` record (a digest over the
path, SHA-256 and size of every other member) is recomputed and compared.
:func:`extract_bundle` writes files itself, never with ``extractall``, and removes the
destination on any failure.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from market.errors import (
    ArchiveError,
    ContentMismatchError,
    DuplicateEntryError,
    EncryptedEntryError,
    LimitExceededError,
    ManifestMissingError,
    PackageTooLargeError,
    Problem,
    UnsafeEntryTypeError,
    UnsafePathError,
    UnsupportedCompressionError,
)
from market.manifest import (
    MANIFEST_FILENAMES,
    Manifest,
    content_record,
    normalise_manifest,
    parse_manifest_bytes,
)
from market.sandbox import Allowlist

MIB = 1024 * 1024
CHUNK_BYTES = MIB
MAX_MANIFEST_BYTES = MIB
# Small files compress absurdly well (64 KiB of zeros deflates ~1000:1) without being
# a threat; the absolute size limits bound them, the ratio only bites above this.
RATIO_MIN_BYTES = MIB
MAX_NAME_BYTES = 1024
MAX_SEGMENT_BYTES = 255
FILE_MODE, DIR_MODE = 0o644, 0o755

_FLAG_ENCRYPTED = 0x1 | 0x40 | 0x2000  # traditional, strong, central-directory
_FLAG_UTF8 = 0x800
_INFOZIP_UNICODE_PATH = 0x7075
# The local file header as zipfile reads it (structFileHeader, which typeshed omits),
# with the positions of the name and extra-field lengths.
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_FH_NAME_LENGTH, _FH_EXTRA_LENGTH = 10, 11
# ... and in the end-of-central-directory record zipfile._EndRecData returns.
_ECD_ENTRIES_TOTAL, _ECD_SIZE = 4, 5
# Worst case per central record we accept: fixed part, longest name, some extras.
_MAX_CENTRAL_RECORD = 46 + MAX_NAME_BYTES + 1024
# Control, format (bidi overrides, zero-width), surrogate, private, unassigned, and
# line/paragraph separators: characters that hide or rewrite what a name shows.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_BAD_ZIP = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    struct.error,
)
# zipfile also reports unreadable structures as these.
_ARCHIVE_FAILURES = (*_BAD_ZIP, NotImplementedError, ValueError)


@dataclass(frozen=True)
class ArchiveLimits:
    max_package_bytes: int = 256 * MIB
    max_entries: int = 5000
    max_file_bytes: int = 128 * MIB
    max_total_bytes: int = 512 * MIB
    max_ratio: float = 200


@dataclass(frozen=True)
class BundleInfo:
    manifest: Manifest
    sha256: str
    size: int
    content_verified: bool
    warnings: tuple[Problem, ...]
    entries: tuple[str, ...]


@dataclass(frozen=True)
class Member:
    """A checked archive member: its name, path segments and zip record."""

    info: zipfile.ZipInfo
    name: str
    parts: tuple[str, ...]
    is_dir: bool


def _enforce(what: str, value: float, limit: float, **details: Any) -> None:
    """``LimitExceededError`` when ``value`` (``what``, for the message) is over."""
    if value > limit:
        raise LimitExceededError(
            f"{what} is {value:.0f}; the limit is {limit:.0f}",
            details={**details, "value": round(value), "limit": limit},
        )


def check_member_name(name: str, *, utf8_flag: bool = True) -> tuple[str, ...]:
    """The path segments of a raw member name, or ``UnsafePathError``."""

    def refuse(why: str) -> UnsafePathError:
        return UnsafePathError(
            f"unsafe entry name {name!r}: {why}", details={"entry": name}
        )

    if not name:
        raise refuse("empty name")
    if not utf8_flag and not name.isascii():
        # Without the UTF-8 flag, tools disagree on the encoding (cp437 or local).
        raise refuse("non-ASCII name without the UTF-8 flag")
    for ch in name:
        if unicodedata.category(ch) in _INVISIBLE:
            raise refuse(f"control or invisible character U+{ord(ch):04X}")
    if "\\" in name:
        raise refuse("backslash")
    if name.startswith("/"):
        raise refuse("absolute or UNC path")
    if ":" in name:
        raise refuse("':' (a Windows drive like C: or an alternate data stream)")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise refuse(f"longer than {MAX_NAME_BYTES} bytes")
    parts = name.removesuffix("/").split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise refuse(f"{part!r} path segment" if part else "empty path segment")
        if len(part.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise refuse(f"a path segment is longer than {MAX_SEGMENT_BYTES} bytes")
    return tuple(parts)


def _fold(name: str) -> str:
    """The key under which case- or normalisation-insensitive file systems collide."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def check_member(info: zipfile.ZipInfo, limits: ArchiveLimits) -> Member:
    """One member's name, type, flags, compression and declared sizes."""
    name = info.orig_filename  # before zipfile cuts at NUL or rewrites separators
    parts = check_member_name(name, utf8_flag=bool(info.flag_bits & _FLAG_UTF8))
    details: dict[str, Any] = {"entry": name}
    if info.flag_bits & _FLAG_ENCRYPTED:
        raise EncryptedEntryError(f"entry {name!r} is encrypted", details=details)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnsupportedCompressionError(
            f"entry {name!r} uses compression method {info.compress_type}; "
            "only stored and deflated are accepted",
            details={**details, "method": info.compress_type},
        )
    if _has_extra(info.extra, _INFOZIP_UNICODE_PATH):
        # Some extractors take the name from this field instead: two names, one entry.
        raise UnsafePathError(
            f"entry {name!r} carries a second (Info-ZIP Unicode) path", details=details
        )
    is_dir = name.endswith("/")
    fmt = stat.S_IFMT(info.external_attr >> 16)
    if fmt not in (0, stat.S_IFDIR if is_dir else stat.S_IFREG):
        kind = "symlink" if fmt == stat.S_IFLNK else f"special file (mode {fmt:o})"
        raise UnsafeEntryTypeError(
            f"entry {name!r} is a {kind}", details={**details, "mode": f"{fmt:o}"}
        )
    if is_dir and (info.file_size or info.compress_size > 2):  # empty deflate: 2 bytes
        raise UnsafeEntryTypeError(f"directory {name!r} has content", details=details)
    stored = info.compress_type == zipfile.ZIP_STORED
    if stored and info.compress_size != info.file_size:
        raise ArchiveError(
            f"stored entry {name!r} lies about its size", details=details
        )
    _enforce(f"the size of {name!r}", info.file_size, limits.max_file_bytes, **details)
    if info.file_size > RATIO_MIN_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        _enforce(
            f"the compression ratio of {name!r}", ratio, limits.max_ratio, **details
        )
    return Member(info, name, parts, is_dir)


def _has_extra(extra: bytes, header_id: int) -> bool:
    offset = 0
    while offset + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, offset)
        if tag == header_id:
            return True
        offset += 4 + size
    return False


def iter_members(
    zf: zipfile.ZipFile, limits: ArchiveLimits, *, package_size: int
) -> list[Member]:
    """Every member checked, alone and against the others (headers only)."""
    infos = zf.infolist()
    _enforce("the number of entries", len(infos), limits.max_entries)
    members = [check_member(info, limits) for info in infos]
    total = sum(m.info.file_size for m in members)
    _enforce("the total uncompressed size", total, limits.max_total_bytes)
    if total > RATIO_MIN_BYTES:
        ratio = total / max(package_size, 1)
        _enforce("the bundle's compression ratio", ratio, limits.max_ratio)
    _check_collisions(members)
    _check_ranges(zf, members, package_size)
    return members


def _check_collisions(members: list[Member]) -> None:
    seen: dict[str, str] = {}
    dirs: dict[str, str] = {}  # folded directory path -> a name that implies it
    for m in members:
        key = _fold("/".join(m.parts)) + ("/" if m.is_dir else "")
        other = seen.get(key)
        if other == m.name:
            raise DuplicateEntryError(
                f"entry {m.name!r} appears twice", details={"entries": [m.name]}
            )
        if other is not None:
            raise DuplicateEntryError(
                f"entries {other!r} and {m.name!r} collide on case- or "
                "Unicode-insensitive file systems",
                details={"entries": [other, m.name]},
            )
        seen[key] = m.name
        depth = len(m.parts) if m.is_dir else len(m.parts) - 1
        for i in range(1, depth + 1):
            dirs.setdefault(_fold("/".join(m.parts[:i])), m.name)
    for m in members:
        clash = dirs.get(_fold("/".join(m.parts)))
        if not m.is_dir and clash is not None:
            raise DuplicateEntryError(
                f"entry {m.name!r} is both a file and a directory (see {clash!r})",
                details={"entries": [m.name, clash]},
            )


def _check_ranges(
    zf: zipfile.ZipFile, members: list[Member], package_size: int
) -> None:
    """Each entry's local header and data must lie apart, before the directory."""
    fp = zf.fp
    if fp is None:
        raise ArchiveError("the archive is closed")
    end_limit = getattr(zf, "start_dir", package_size)
    spans = []
    for m in members:
        fp.seek(m.info.header_offset)
        raw = fp.read(_LOCAL_HEADER.size)
        if len(raw) != _LOCAL_HEADER.size:
            raise ArchiveError(f"entry {m.name!r}: truncated local header")
        header = _LOCAL_HEADER.unpack(raw)
        if header[0] != _LOCAL_SIGNATURE:
            raise ArchiveError(f"entry {m.name!r}: bad local header")
        name_len, extra_len = header[_FH_NAME_LENGTH], header[_FH_EXTRA_LENGTH]
        encoding = "utf-8" if m.info.flag_bits & _FLAG_UTF8 else "cp437"
        if fp.read(name_len) != m.name.encode(encoding):
            raise ArchiveError(
                f"entry {m.name!r}: local header names a different file",
                details={"entry": m.name},
            )
        start = m.info.header_offset
        data_end = start + len(raw) + name_len + extra_len + m.info.compress_size
        if data_end > end_limit:
            raise ArchiveError(
                f"entry {m.name!r} runs past the end of the data area",
                details={"entry": m.name},
            )
        spans.append((start, data_end, m.name))
    spans.sort()
    for (_, prev_end, prev), (start, _, name) in itertools.pairwise(spans):
        if start < prev_end:
            raise ArchiveError(
                f"entries {prev!r} and {name!r} overlap (a zip bomb technique)",
                details={"entries": [prev, name]},
            )


@contextmanager
def _open_bundle(
    path: str | Path, limits: ArchiveLimits
) -> Iterator[tuple[zipfile.ZipFile, str, int]]:
    """The open archive, with the SHA-256 and size of exactly the bytes it parses."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise ArchiveError(
            f"cannot read bundle {path}: {exc.strerror or exc}",
            details={"path": str(path)},
        ) from exc
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ArchiveError(f"{path} is not a regular file")
        digest, size = hashlib.sha256(), 0
        while chunk := handle.read(CHUNK_BYTES):
            size += len(chunk)
            if size > limits.max_package_bytes:
                raise PackageTooLargeError(
                    f"the bundle is over {limits.max_package_bytes} bytes",
                    details={"limit": limits.max_package_bytes},
                )
            digest.update(chunk)
        _check_directory_size(handle, limits)
        handle.seek(0)
        try:
            zf = zipfile.ZipFile(handle)
        except UnicodeDecodeError as exc:
            raise UnsafePathError("an entry name is not valid UTF-8") from exc
        except (*_ARCHIVE_FAILURES, OSError) as exc:
            raise ArchiveError(f"not a readable zip archive: {exc}") from exc
        with zf:
            yield zf, digest.hexdigest(), size


def _check_directory_size(handle: IO[bytes], limits: ArchiveLimits) -> None:
    """Refuse a huge central directory before zipfile builds a record per entry."""
    try:
        # zipfile's own end-of-archive reader; it only locates the directory.
        end = zipfile._EndRecData(handle)  # type: ignore[attr-defined]
    except OSError:
        end = None
    if not end:
        return  # not a zip: ZipFile says so with its own message
    _enforce(
        "the declared number of entries", end[_ECD_ENTRIES_TOTAL], limits.max_entries
    )
    limit = limits.max_entries * _MAX_CENTRAL_RECORD
    _enforce("the size of the central directory", end[_ECD_SIZE], limit)


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
    except _ARCHIVE_FAILURES as exc:
        raise ArchiveError(
            f"entry {member.name!r} is corrupt: {exc}", details={"entry": member.name}
        ) from exc
    if count != declared:
        raise ArchiveError(
            f"entry {member.name!r} holds {count} bytes, not the declared {declared}",
            details={"entry": member.name},
        )
    return bytes(kept), digest.hexdigest(), count


def _load_manifest(
    zf: zipfile.ZipFile,
    members: list[Member],
    allowlist: Allowlist | None,
    trust_level: str | None,
) -> Manifest:
    by_name = {m.name: m for m in members if not m.is_dir}
    for source_name in MANIFEST_FILENAMES:
        member = by_name.get(source_name)
        if member is None:
            continue
        size = member.info.file_size
        _enforce(f"the size of {source_name}", size, MAX_MANIFEST_BYTES)
        raw, _, _ = _stream(zf, member, None, keep=True)
        data = parse_manifest_bytes(raw, source_name=source_name)
        return normalise_manifest(
            data, source_name=source_name, trust_level=trust_level, allowlist=allowlist
        )
    raise ManifestMissingError(
        f"the bundle has no {' or '.join(MANIFEST_FILENAMES)} at its root",
        details={"expected": list(MANIFEST_FILENAMES)},
    )


_NO_CONTENT_RECORD = Problem(
    "content",
    "content_record_missing",
    "the manifest has no content record (built by an older packager): file "
    "integrity is not proven, so the bundle can only be installed as unverified",
)


def _describe(record: dict[str, Any]) -> str:
    digest = str(record.get("sha256"))[:12]
    return f"{record.get('files')} files, {record.get('bytes')} bytes, sha256 {digest}…"


def _check_content(
    manifest: Manifest, records: list[tuple[str, str, int]]
) -> tuple[bool, tuple[Problem, ...]]:
    declared = manifest.data.get("content")
    if not isinstance(declared, dict):
        return False, (_NO_CONTENT_RECORD,)
    actual = content_record(records)
    keys = ("sha256", "files", "bytes")
    if any(declared.get(k) != actual[k] for k in keys):
        raise ContentMismatchError(
            "the bundle's files do not match its manifest's content record "
            f"(declared {_describe(declared)}; found {_describe(actual)})",
            details={
                "declared": {k: declared.get(k) for k in keys},
                "actual": {k: actual[k] for k in keys},
                "entries": sorted(path for path, _, _ in records),
            },
        )
    return True, ()


def _read_bundle(
    path: str | Path,
    dest: Path | None,
    created: list[Path],
    limits: ArchiveLimits,
    allowlist: Allowlist | None,
    trust_level: str | None,
) -> BundleInfo:
    with _open_bundle(path, limits) as (zf, sha256, size):
        members = iter_members(zf, limits, package_size=size)
        manifest = _load_manifest(zf, members, allowlist, trust_level)
        files = sorted((m for m in members if not m.is_dir), key=lambda m: m.name)
        if dest is not None:
            os.mkdir(dest, DIR_MODE)
            created.append(dest)
            os.chmod(dest, DIR_MODE)
        records = []
        for member in files:
            if dest is None:
                _, digest, count = _stream(zf, member, None)
            else:
                digest, count = _write_member(zf, member, dest)
            if member.name != manifest.source_name:
                records.append((member.name, digest, count))
        verified, warnings = _check_content(manifest, records)
    return BundleInfo(
        manifest=manifest,
        sha256=sha256,
        size=size,
        content_verified=verified,
        warnings=tuple(manifest.warnings) + warnings,
        entries=tuple(m.name for m in files),
    )


def _write_member(zf: zipfile.ZipFile, member: Member, dest: Path) -> tuple[str, int]:
    parent = dest
    for part in member.parts[:-1]:
        parent = parent / part
        try:
            os.mkdir(parent, DIR_MODE)
            os.chmod(parent, DIR_MODE)
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
    os.fchmod(fd, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        _, digest, count = _stream(zf, member, out)
    return digest, count


def inspect_bundle(
    path: str | Path,
    *,
    limits: ArchiveLimits = ArchiveLimits(),
    allowlist: Allowlist | None = None,
    trust_level: str | None = None,
) -> BundleInfo:
    """Check a bundle completely (every member read and hashed) without writing."""
    return _read_bundle(path, None, [], limits, allowlist, trust_level)


def extract_bundle(
    path: str | Path,
    dest: Path,
    *,
    limits: ArchiveLimits = ArchiveLimits(),
    allowlist: Allowlist | None = None,
    trust_level: str | None = None,
) -> BundleInfo:
    """Check a bundle and write its files into ``dest``, which must not exist yet.

    Nothing is written until every member has passed its checks; on any failure,
    including a content mismatch found while writing, ``dest`` is removed.
    """
    dest = Path(dest)
    if os.path.lexists(dest):
        raise FileExistsError(f"extraction destination {dest} already exists")
    created: list[Path] = []
    try:
        return _read_bundle(path, dest, created, limits, allowlist, trust_level)
    except BaseException:
        for folder in created:  # only ever the folder this call made
            shutil.rmtree(folder, ignore_errors=True)
        raise
