"""Member checks from the zip headers alone: types, flags, limits and byte layout.

Each member's name (see :mod:`market.archive.names`), type (regular files and empty
directory entries only), flags (no encryption, nothing unknown), compression (stored
or deflated) and declared sizes are checked against :class:`ArchiveLimits`; then the
members together: entry count, total size, overall ratio, name collisions, and the
byte layout (:mod:`market.archive.layout`: the entries tile the archive, each local
header agreeing with its central record, so no two readers see different files and
no entry is counted twice). Nothing here decompresses a byte;
:mod:`market.archive.reader` counts the real sizes while streaming.
"""

from __future__ import annotations

import stat
import struct
import zipfile
from dataclasses import dataclass, replace
from typing import Any

from market.archive.directory import (
    FLAG_DESCRIPTOR,
    UNICODE_PATH_EXTRA,
    Directory,
    corrupt,
)
from market.archive.layout import check_layout
from market.archive.names import check_member_name, check_name_collisions
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
# Deflate speed options (bits 1-2), a data descriptor, UTF-8 names: nothing else
# (bit 5, patched data, needs another file to be read at all).
_FLAGS_ACCEPTED = 0x2 | 0x4 | FLAG_DESCRIPTOR | FLAG_UTF8


@dataclass(frozen=True)
class ArchiveLimits:
    max_package_bytes: int = 256 * MIB
    max_entries: int = 5000
    max_file_bytes: int = 128 * MIB
    max_total_bytes: int = 512 * MIB
    max_ratio: float = 200


@dataclass(frozen=True)
class Member:
    """A checked archive member: its name, path segments and zip record, and once
    the layout is checked, where its data starts (after its local header)."""

    info: zipfile.ZipInfo
    name: str
    parts: tuple[str, ...]
    is_dir: bool
    data_offset: int = -1


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
    if info.flag_bits & ~_FLAGS_ACCEPTED:
        raise corrupt(
            "flags",
            f"entry {name!r} has unknown flag bits 0x{info.flag_bits:04x}",
            entry=name,
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnsupportedCompressionError(
            f"entry {name!r} uses compression method {info.compress_type}; "
            "only stored and deflated are accepted",
            details={**details, "method": info.compress_type},
        )
    if _has_extra(info.extra, UNICODE_PATH_EXTRA):
        # Some extractors take the name from this field instead: two names, one entry.
        raise UnsafePathError(
            f"entry {name!r} carries a second (Info-ZIP Unicode) path",
            details={**details, "rule": "second_name"},
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
        raise corrupt("size", f"stored entry {name!r} lies about its size", entry=name)
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
    zf: zipfile.ZipFile,
    limits: ArchiveLimits,
    *,
    package_size: int,
    directory: Directory,
) -> list[Member]:
    """Every member checked, alone and against the others (headers only).

    ``directory`` is what :func:`market.archive.directory.read_directory` found before
    ``zf`` was opened; zipfile must have read exactly those records.
    """
    infos = zf.infolist()
    if len(infos) != directory.entries or zf.start_dir != directory.offset:
        raise corrupt("central_directory", "the central directory reads two ways")
    enforce("the number of entries", len(infos), limits.max_entries)
    members = [check_member(info, limits) for info in infos]
    total = sum(m.info.file_size for m in members)
    enforce("the total uncompressed size", total, limits.max_total_bytes)
    if total > RATIO_MIN_BYTES:
        ratio = total / max(package_size, 1)
        enforce("the bundle's compression ratio", ratio, limits.max_ratio)
    check_name_collisions(m.name for m in members)
    if zf.fp is None:
        raise ArchiveError("the archive is closed")
    offsets = check_layout(zf.fp, members, directory)
    return [replace(m, data_offset=offsets[m.name]) for m in members]


__all__ = [
    "RATIO_MIN_BYTES",
    "ArchiveLimits",
    "Member",
    "check_member",
    "enforce",
    "iter_members",
]
