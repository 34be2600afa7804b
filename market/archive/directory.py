"""The end records and the central directory, checked before zipfile reads them.

Zip readers disagree about where an archive starts: most find the central directory
through the end record (and ``zipfile`` then shifts every offset if the directory is
not where the record says), streaming readers walk the local headers from byte 0,
and some scan for signatures. A bundle is accepted only when all of those readings
agree. :func:`read_directory` checks the fixed-size records at the end (with
:mod:`struct`; zipfile still does the reading) before zipfile builds anything:

- the end-of-central-directory record is the last 22 bytes of the file: no archive
  comment, no trailing data; ZIP64 end records, if any, sit right before it (record,
  then locator) and agree with it;
- the central directory ends exactly where the end records start and is exactly
  the declared number of records (at most ``max_entries``, and only after checking
  that the declared size can hold that many), without comments, unknown extra
  fields, or ZIP64 values nobody asked for.

:mod:`market.archive.layout` then checks the members between byte 0 and the
directory.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from market.archive.names import MAX_NAME_BYTES, shown_name
from market.errors import ArchiveError, LimitExceededError

if TYPE_CHECKING:
    from market.archive.members import ArchiveLimits

U16, U32 = 0xFFFF, 0xFFFFFFFF
FLAG_DESCRIPTOR = 0x8
ZIP64_EXTRA = 0x0001
UNICODE_PATH_EXTRA = 0x7075  # Info-ZIP Unicode Path: a second name for the entry
# Extra fields a bundle may carry: ZIP64 sizes and harmless metadata (NTFS and Unix
# times, Unix owner) that common zip tools add. Anything else may mean something to
# some extractor (a link target, a second name, encryption) and is refused.
ACCEPTED_EXTRAS = frozenset({ZIP64_EXTRA, 0x000A, 0x5455, 0x7875, UNICODE_PATH_EXTRA})
_CENTRAL_EXTRA_MAX = 1024
# Worst case per central record we accept: fixed part, longest name, some extras.
MAX_CENTRAL_RECORD = 46 + MAX_NAME_BYTES + _CENTRAL_EXTRA_MAX

_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIG = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIG = b"PK\x06\x06"
_ZIP64_EOCD_BODY = _ZIP64_EOCD.size - 12  # the record's own size field excludes 12
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_CENTRAL_SIG = b"PK\x01\x02"
_MAX_TAIL = _EOCD.size + U16  # an end record with the longest comment


@dataclass(frozen=True)
class Directory:
    """The central directory as the end records declare it, checked."""

    offset: int
    size: int
    entries: int


def corrupt(check: str, message: str, **details: Any) -> ArchiveError:
    """A ``corrupt_archive`` error naming the failed ``check`` (and the entry)."""
    return ArchiveError(message, details={"check": check, **details})


def positional_fd(handle: IO[bytes]) -> int | None:
    """The descriptor under ``handle`` when the system has positional reads."""
    if not hasattr(os, "pread"):
        return None  # Windows
    try:
        return handle.fileno()
    except (AttributeError, OSError, ValueError):
        return None  # not a real file


def read_at(handle: IO[bytes], offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset`` (fewer at the end of the file): one positional
    read where the system has them, leaving the handle's offset alone."""
    fd = positional_fd(handle)
    if fd is not None:
        return os.pread(fd, size, offset)
    handle.seek(offset)
    return handle.read(size)


def read_directory(handle: IO[bytes], size: int, limits: ArchiveLimits) -> Directory:
    """The checked location of the central directory of the ``size``-byte file.

    ``LimitExceededError`` for too many entries or a directory too big for them,
    ``ArchiveError`` for every structural problem; nothing big is read before both
    the count and the directory size are known to be within the limits.
    """
    end, entries, cd_size, cd_offset = _end_records(handle, size)
    if entries > limits.max_entries:
        raise LimitExceededError(
            f"the declared number of entries is {entries}; "
            f"the limit is {limits.max_entries}",
            details={"value": entries, "limit": limits.max_entries},
        )
    limit = limits.max_entries * MAX_CENTRAL_RECORD
    if cd_size > limit:
        raise LimitExceededError(
            f"the size of the central directory is {cd_size}; the limit is {limit}",
            details={"value": cd_size, "limit": limit},
        )
    if cd_size < entries * _CENTRAL.size:
        raise corrupt(
            "central_directory",
            f"the central directory ({cd_size} bytes) is too small for the "
            f"{entries} entries the end record declares",
        )
    if cd_offset + cd_size != end:
        raise corrupt(
            "central_directory",
            "the central directory does not end where the end record starts "
            f"(it is declared at {cd_offset}, {cd_size} bytes, the end record is "
            f"at {end})",
        )
    _walk_central(read_at(handle, cd_offset, cd_size), entries)
    return Directory(cd_offset, cd_size, entries)


def _end_records(handle: IO[bytes], size: int) -> tuple[int, int, int, int]:
    """``(where the end records start, entries, directory size, directory offset)``."""
    eocd_at = size - _EOCD.size
    raw = read_at(handle, eocd_at, _EOCD.size) if eocd_at >= 0 else b""
    if raw[:4] != _EOCD_SIG:
        tail = read_at(handle, max(0, size - _MAX_TAIL), _MAX_TAIL)
        if _EOCD_SIG in tail:
            raise corrupt(
                "end_record",
                "the end-of-central-directory record is not at the very end of the "
                "file (an archive comment or other data follows it)",
            )
        raise corrupt(
            "end_record",
            "not a readable zip archive: no end-of-central-directory record",
        )
    _, disk, cd_disk, disk_entries, entries, cd_size, cd_offset, comment = _EOCD.unpack(
        raw
    )
    if comment:
        raise corrupt("archive_comment", "the archive has a comment; none is allowed")
    classic = (disk, cd_disk, disk_entries, entries, cd_size, cd_offset)
    locator_at = eocd_at - _ZIP64_LOCATOR.size
    if locator_at >= 0 and read_at(handle, locator_at, 4) == _ZIP64_LOCATOR_SIG:
        return _zip64_end_records(handle, locator_at, classic)
    if U16 in classic[:4] or U32 in classic[4:]:
        raise corrupt(
            "zip64_end_record",
            "the end record defers to ZIP64 end records that are not there",
        )
    _check_disks(disk, cd_disk, disk_entries, entries)
    return eocd_at, entries, cd_size, cd_offset


def _check_disks(disk: int, cd_disk: int, disk_entries: int, entries: int) -> None:
    if disk or cd_disk:
        raise corrupt("end_record", "multi-disk (spanned) archives are not accepted")
    if disk_entries != entries:
        raise corrupt(
            "end_record",
            f"the end record declares {entries} entries in all but "
            f"{disk_entries} on its only disk",
        )


def _zip64_end_records(
    handle: IO[bytes], locator_at: int, classic: tuple[int, ...]
) -> tuple[int, int, int, int]:
    """The ZIP64 end record and locator, right before the end record, agreeing."""
    _, locator_disk, record_at, disks = _ZIP64_LOCATOR.unpack(
        read_at(handle, locator_at, _ZIP64_LOCATOR.size)
    )
    if locator_disk or disks > 1:
        raise corrupt(
            "zip64_end_record", "multi-disk (spanned) archives are not accepted"
        )
    expected_at = locator_at - _ZIP64_EOCD.size
    if record_at != expected_at or expected_at < 0:
        raise corrupt(
            "zip64_end_record",
            f"the ZIP64 locator points to {record_at}, not to a ZIP64 end record "
            "right before it",
        )
    sig, body, _, _, *zip64 = _ZIP64_EOCD.unpack(
        read_at(handle, expected_at, _ZIP64_EOCD.size)
    )
    if sig != _ZIP64_EOCD_SIG or body != _ZIP64_EOCD_BODY:
        raise corrupt(
            "zip64_end_record", "the ZIP64 end record is missing or malformed"
        )
    names = ("disk", "directory disk", "entries on disk", "entries", "size", "offset")
    for name, old, new, saturated in zip(
        names, classic, zip64, (U16,) * 4 + (U32,) * 2, strict=True
    ):
        # Readers without ZIP64 use the classic value: it must agree or defer.
        if old not in (new, saturated):
            raise corrupt(
                "zip64_end_record",
                f"the end record and the ZIP64 end record disagree on the "
                f"directory's {name} ({old} and {new})",
            )
    disk, cd_disk, disk_entries, entries, cd_size, cd_offset = zip64
    _check_disks(disk, cd_disk, disk_entries, entries)
    return expected_at, entries, cd_size, cd_offset


def _walk_central(data: bytes, entries: int) -> None:
    """Exactly ``entries`` well-formed central records fill ``data``."""
    pos = 0
    for index in range(entries):
        if pos + _CENTRAL.size > len(data):
            raise corrupt(
                "central_directory",
                f"the central directory holds {index} records, not the declared "
                f"{entries}",
            )
        fields = _CENTRAL.unpack_from(data, pos)
        if fields[0] != _CENTRAL_SIG:
            raise corrupt(
                "central_directory", f"central record {index} has no valid signature"
            )
        name_len, extra_len, comment_len, disk = fields[12:16]
        name_end = pos + _CENTRAL.size + name_len
        end = name_end + extra_len + comment_len
        entry = shown(data[pos + _CENTRAL.size : name_end])
        if end > len(data):
            raise corrupt(
                "central_directory",
                f"central record {index} runs past the end of the central directory",
                entry=entry,
            )
        if comment_len:
            raise corrupt(
                "entry_comment", f"entry {entry!r} has a comment", entry=entry
            )
        if disk:
            raise corrupt(
                "central_directory",
                f"entry {entry!r} is on another disk of a spanned archive",
                entry=entry,
            )
        extras = extra_fields(data[name_end : name_end + extra_len], entry, "central")
        csize, usize, offset = fields[10], fields[11], fields[18]
        deferred = 8 * sum(value == U32 for value in (usize, csize, offset))
        if len(extras.get(ZIP64_EXTRA, b"")) != deferred:
            raise corrupt(
                "zip64_extra",
                f"entry {entry!r}: the ZIP64 extra field does not hold exactly the "
                "values its central record defers to it",
                entry=entry,
            )
        pos = end
    if pos != len(data):
        raise corrupt(
            "central_directory",
            f"the central directory holds more than the declared {entries} records",
        )


def shown(raw: bytes) -> str:
    """A raw entry name, readable whatever its bytes, and not too long to show."""
    return shown_name(raw.decode("utf-8", "backslashreplace"))


def extra_fields(extra: bytes, entry: str, where: str) -> dict[int, bytes]:
    """The records of an extra field: well-formed, accepted, each tag once."""
    fields: dict[int, bytes] = {}
    pos = 0
    while pos < len(extra):
        if pos + 4 > len(extra):
            raise corrupt(
                "extra_field",
                f"entry {entry!r}: the {where} extra field ends inside a record",
                entry=entry,
            )
        tag, length = struct.unpack_from("<HH", extra, pos)
        if pos + 4 + length > len(extra):
            raise corrupt(
                "extra_field",
                f"entry {entry!r}: the {where} extra field 0x{tag:04x} runs past "
                "its end",
                entry=entry,
            )
        if tag not in ACCEPTED_EXTRAS:
            raise corrupt(
                "extra_field",
                f"entry {entry!r}: the {where} extra field 0x{tag:04x} is not accepted",
                entry=entry,
            )
        if tag in fields:
            raise corrupt(
                "extra_field",
                f"entry {entry!r}: the {where} extra field 0x{tag:04x} appears twice",
                entry=entry,
            )
        fields[tag] = extra[pos + 4 : pos + 4 + length]
        pos += 4 + length
    return fields


__all__ = [
    "ACCEPTED_EXTRAS",
    "MAX_CENTRAL_RECORD",
    "Directory",
    "corrupt",
    "extra_fields",
    "positional_fd",
    "read_at",
    "read_directory",
]
