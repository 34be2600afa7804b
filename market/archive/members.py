"""Member checks from the zip headers alone: types, flags, limits and byte ranges.

Each member's name (see :mod:`market.archive.names`), type (regular files and empty
directory entries only), flags (no encryption), compression (stored or deflated) and
declared sizes are checked against :class:`ArchiveLimits`; then the members together:
entry count, total size, overall ratio, name collisions, and the byte ranges of the
entries (overlapping entries are the classic non-recursive zip bomb). Nothing here
decompresses a byte; :mod:`market.archive.reader` counts the real sizes while streaming.
"""

from __future__ import annotations

import itertools
import stat
import struct
import zipfile
from dataclasses import dataclass
from typing import Any

from market.archive.names import (
    MAX_NAME_BYTES,
    check_member_name,
    check_name_collisions,
)
from market.errors import (
    ArchiveError,
    EncryptedEntryError,
    LimitExceededError,
    UnsafeEntryTypeError,
    UnsafePathError,
    UnsupportedCompressionError,
)

MIB = 1024 * 1024
# Small files compress absurdly well (64 KiB of zeros deflates ~1000:1) without being
# a threat; the absolute size limits bound them, the ratio only bites above this.
RATIO_MIN_BYTES = MIB

FLAG_UTF8 = 0x800
_FLAG_ENCRYPTED = 0x1 | 0x40 | 0x2000  # traditional, strong, central-directory
_INFOZIP_UNICODE_PATH = 0x7075
# The local file header as zipfile reads it (structFileHeader, which typeshed omits),
# with the positions of the name and extra-field lengths.
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_FH_NAME_LENGTH, _FH_EXTRA_LENGTH = 10, 11
# Worst case per central record we accept: fixed part, longest name, some extras.
MAX_CENTRAL_RECORD = 46 + MAX_NAME_BYTES + 1024


@dataclass(frozen=True)
class ArchiveLimits:
    max_package_bytes: int = 256 * MIB
    max_entries: int = 5000
    max_file_bytes: int = 128 * MIB
    max_total_bytes: int = 512 * MIB
    max_ratio: float = 200


@dataclass(frozen=True)
class Member:
    """A checked archive member: its name, path segments and zip record."""

    info: zipfile.ZipInfo
    name: str
    parts: tuple[str, ...]
    is_dir: bool


def enforce(what: str, value: float, limit: float, **details: Any) -> None:
    """``LimitExceededError`` when ``value`` (``what``, for the message) is over."""
    if value > limit:
        raise LimitExceededError(
            f"{what} is {value:.0f}; the limit is {limit:.0f}",
            details={**details, "value": round(value), "limit": limit},
        )


def check_member(info: zipfile.ZipInfo, limits: ArchiveLimits) -> Member:
    """One member's name, type, flags, compression and declared sizes."""
    name = info.orig_filename  # before zipfile cuts at NUL or rewrites separators
    parts = check_member_name(name, utf8_flag=bool(info.flag_bits & FLAG_UTF8))
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
    enforce(f"the size of {name!r}", info.file_size, limits.max_file_bytes, **details)
    if info.file_size > RATIO_MIN_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        enforce(
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
    enforce("the number of entries", len(infos), limits.max_entries)
    members = [check_member(info, limits) for info in infos]
    total = sum(m.info.file_size for m in members)
    enforce("the total uncompressed size", total, limits.max_total_bytes)
    if total > RATIO_MIN_BYTES:
        ratio = total / max(package_size, 1)
        enforce("the bundle's compression ratio", ratio, limits.max_ratio)
    check_name_collisions(m.name for m in members)
    _check_ranges(zf, members, package_size)
    return members


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
        encoding = "utf-8" if m.info.flag_bits & FLAG_UTF8 else "cp437"
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


__all__ = [
    "RATIO_MIN_BYTES",
    "ArchiveLimits",
    "Member",
    "check_member",
    "enforce",
    "iter_members",
]
