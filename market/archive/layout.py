"""The members between byte 0 and the central directory: tiled, and agreeing.

Once zipfile has read the central directory that :mod:`market.archive.directory`
checked, :func:`check_layout` makes sure the members tile the archive from byte 0 to
the directory exactly, each being its local header, name, extra field, data and
(deflated entries only) a data descriptor, so nothing hides before, between or
after them and nothing is counted twice; and that each local header agrees with its
central record (name bytes, flags, method, CRC-32, sizes), since streaming readers
believe the local header.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

from market.archive.directory import (
    FLAG_DESCRIPTOR,
    U32,
    UNICODE_PATH_EXTRA,
    ZIP64_EXTRA,
    Directory,
    corrupt,
    extra_fields,
    read_at,
)
from market.errors import ArchiveError, UnsafePathError

if TYPE_CHECKING:
    from market.archive.members import Member

_LOCAL = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIG = b"PK\x03\x04"
_DESCRIPTOR_SIG = b"PK\x07\x08"


def check_layout(
    handle: IO[bytes], members: Sequence[Member], directory: Directory
) -> dict[str, int]:
    """The members tile the archive from byte 0 to the central directory exactly;
    where each member's data starts, by name."""
    expected, previous = 0, None
    data_offsets: dict[str, int] = {}
    for member in sorted(members, key=lambda m: m.info.header_offset):
        start = member.info.header_offset
        if start < expected:
            entries = [previous, member.name]
            raise corrupt(
                "tiling",
                f"entries {previous!r} and {member.name!r} overlap (a zip bomb "
                "technique)",
                entry=member.name,
                entries=entries,
            )
        if start > expected:
            raise corrupt(
                "tiling",
                f"{start - expected} bytes before entry {member.name!r} belong to no "
                "entry (hidden data or a prepended stub)",
                entry=member.name,
            )
        data_at, expected = _member_extent(handle, member, directory.offset)
        data_offsets[member.name], previous = data_at, member.name
    if expected != directory.offset:
        raise corrupt(
            "tiling",
            f"{directory.offset - expected} bytes before the central directory "
            "belong to no entry (hidden data)",
        )
    return data_offsets


def raw_name(info: zipfile.ZipInfo) -> bytes:
    """The name bytes of the central record (zipfile decoded them losslessly)."""
    encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
    return info.orig_filename.encode(encoding)


def _member_extent(handle: IO[bytes], member: Member, limit: int) -> tuple[int, int]:
    """Where ``member``'s data starts, and where the member (local header, name,
    extra, data, descriptor) ends."""
    info, name = member.info, member.name
    start = info.header_offset

    def refuse(check: str, why: str) -> ArchiveError:
        return corrupt(check, f"entry {name!r}: {why}", entry=name)

    overrun = "its local header runs into the central directory"
    expected_name = raw_name(info)
    # One read for the header, the name and (as long as the central one) the extra
    # field; more only if the local header says they are longer.
    head = read_at(handle, start, _LOCAL.size + len(expected_name) + len(info.extra))
    if start + _LOCAL.size > limit or len(head) < _LOCAL.size:
        raise refuse("local_header", overrun)
    fields = _LOCAL.unpack_from(head)
    sig, flags, method, crc, csize, usize, name_len, extra_len = (
        fields[0],
        *fields[3:5],
        *fields[7:12],
    )
    if sig != _LOCAL_SIG:
        raise refuse("local_header", "no local header where the directory says")
    name_end = _LOCAL.size + name_len
    data_at = start + name_end + extra_len
    if data_at > limit:
        raise refuse("local_header", overrun)
    if len(head) < name_end + extra_len:
        head = read_at(handle, start, name_end + extra_len)
    if head[_LOCAL.size : name_end] != expected_name:
        raise refuse("local_name", "the local header names a different file")
    extras = extra_fields(head[name_end : name_end + extra_len], name, "local")
    if UNICODE_PATH_EXTRA in extras:
        raise UnsafePathError(
            f"entry {name!r} carries a second (Info-ZIP Unicode) path",
            details={"entry": name, "rule": "second_name"},
        )
    if flags != info.flag_bits:
        raise refuse(
            "local_flags", "the local header's flags differ from the directory's"
        )
    if method != info.compress_type:
        raise refuse("local_method", "the local header's compression method differs")
    zip64 = extras.get(ZIP64_EXTRA)
    if zip64 is not None and len(zip64) != 16:
        raise refuse("zip64_extra", "a local ZIP64 extra field must hold both sizes")
    z_usize, z_csize = struct.unpack("<QQ", zip64) if zip64 else (usize, csize)
    declared = {
        "CRC-32": (crc, info.CRC),
        "compressed size": (z_csize if csize == U32 else csize, info.compress_size),
        "size": (z_usize if usize == U32 else usize, info.file_size),
        "ZIP64 compressed size": (z_csize, info.compress_size),
        "ZIP64 size": (z_usize, info.file_size),
    }
    descriptor = bool(flags & FLAG_DESCRIPTOR)
    for what, (local, central) in declared.items():
        # With a data descriptor the local values are zero (APPNOTE 4.4.4).
        if local != central and not (descriptor and local == 0):
            raise refuse(
                "local_header",
                f"the local header's {what} ({local}) differs from the directory's "
                f"({central})",
            )
    data_end = data_at + info.compress_size
    if data_end > limit:
        raise refuse("tiling", "its data runs into the central directory")
    if not descriptor:
        return data_at, data_end
    if method != zipfile.ZIP_DEFLATED:
        raise refuse(
            "data_descriptor",
            "only deflated entries may use a data descriptor (a streaming reader "
            "cannot find the end of stored data)",
        )
    end = _descriptor_end(handle, info, data_end, limit, wide=zip64 is not None)
    if end is None:
        raise refuse(
            "data_descriptor",
            "its data descriptor is missing or differs from the directory",
        )
    return data_at, end


def _descriptor_end(
    handle: IO[bytes], info: zipfile.ZipInfo, at: int, limit: int, *, wide: bool
) -> int | None:
    """The end of the data descriptor at ``at``, if it repeats the directory.

    Its signature is optional (APPNOTE 4.3.9.3); its sizes are 8 bytes when the
    local header has a ZIP64 extra field (4.3.9.2).
    """
    record = struct.Struct("<LQQ" if wide else "<3L")
    expected = (info.CRC, info.compress_size, info.file_size)
    signed = read_at(handle, at, 4) == _DESCRIPTOR_SIG
    for start in (at + 4, at) if signed else (at,):
        end = start + record.size
        if end <= limit and record.unpack(read_at(handle, start, record.size)) == (
            expected
        ):
            return end
    return None


__all__ = ["check_layout", "raw_name"]
