"""Builders of good and hostile ``.cvnext`` bundles for the archive and API tests.

Where zipfile will not write the thing a test needs (a NUL in a name, lying sizes, flag
bits), a placeholder of the same length is written and its bytes are patched in the
local and central headers. Structural surgery (bytes inserted with the offsets moved
past them, end records rewritten, ZIP64 end records added) works on the fixed-size
records with :mod:`struct`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from market.archive import ArchiveLimits, extract_bundle, inspect_bundle
from market.errors import MarketError
from market.manifest import content_record

BASE_MANIFEST = {
    "manifest_version": "1.1",
    "id": "test.bundle",
    "name": "Test bundle",
    "version": "1.0.0",
    "summary": "A bundle built by the archive tests.",
    "authors": ["Tester"],
}
FILES = {"main.py": b"print('hello')\n", "assets/readme.txt": b"read me\n" * 20}

Entry = tuple[str | zipfile.ZipInfo, bytes]


# --- building bundles -------------------------------------------------------------


def record_of(files: dict[str, bytes]) -> dict:
    return content_record(
        (path, hashlib.sha256(data).hexdigest(), len(data))
        for path, data in files.items()
    )


def manifest_bytes(
    files: dict[str, bytes], *, content: bool = True, **extra: object
) -> bytes:
    data = {**BASE_MANIFEST, **extra}
    if content:
        data["content"] = record_of(files)
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def good_entries(
    files: dict[str, bytes] | None = None, **manifest_extra: object
) -> list[Entry]:
    files = dict(FILES if files is None else files)
    return [("manifest.json", manifest_bytes(files, **manifest_extra)), *files.items()]


def write_zip(
    path: Path, entries: Iterable[Entry], compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", compression) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def headers(data: bytes, name: bytes) -> tuple[int, int]:
    """Offsets of the local and central headers of the entry called ``name``."""
    local = central = -1
    for sig, name_at, found in ((b"PK\x03\x04", 30, "local"), (b"PK\x01\x02", 46, "c")):
        pos = data.find(sig)
        while pos >= 0:
            if data[pos + name_at : pos + name_at + len(name)] == name:
                if found == "local":
                    local = pos
                else:
                    central = pos
                break
            pos = data.find(sig, pos + 1)
    assert local >= 0 and central >= 0, name
    return local, central


# (offset in local header, offset in central header, struct format)
FIELDS = {
    "flags": (6, 8, "<H"),
    "method": (8, 10, "<H"),
    "csize": (18, 20, "<I"),
    "usize": (22, 24, "<I"),
}


FIELDS["crc"] = (14, 16, "<I")


def patch_field(
    path: Path,
    name: str,
    field: str,
    value: int,
    *,
    local: bool = True,
    central: bool = True,
) -> None:
    data = bytearray(path.read_bytes())
    local_at, central_at = headers(bytes(data), name.encode())
    local_off, central_off, fmt = FIELDS[field]
    if central:
        struct.pack_into(fmt, data, central_at + central_off, value)
    if local:
        struct.pack_into(fmt, data, local_at + local_off, value)
    path.write_bytes(bytes(data))


def read_field(path: Path, name: str, field: str) -> int:
    data = path.read_bytes()
    _, central_at = headers(data, name.encode())
    _, central_off, fmt = FIELDS[field]
    return struct.unpack_from(fmt, data, central_at + central_off)[0]


def patch_bytes(path: Path, placeholder: bytes, real: bytes, count: int = 2) -> None:
    assert len(placeholder) == len(real)
    data = path.read_bytes()
    assert data.count(placeholder) == count
    path.write_bytes(data.replace(placeholder, real))


def typed(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    info.create_system = 3  # unix
    return info


def write_streamed(
    path: Path, entries: Iterable[Entry], compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    """As :func:`write_zip`, through a sink zipfile cannot seek: every entry then has
    a data descriptor (flag bit 3, sizes and CRC-32 after the data)."""

    class Sink:
        def __init__(self) -> None:
            self.buffer = io.BytesIO()

        def write(self, data: bytes) -> int:
            return self.buffer.write(data)

        def flush(self) -> None:
            pass

    sink = Sink()
    with zipfile.ZipFile(sink, "w", compression) as zf:  # type: ignore[arg-type]
        for name, data in entries:
            zf.writestr(name, data)
    path.write_bytes(sink.buffer.getvalue())
    return path


# --- structural surgery -----------------------------------------------------------

EOCD_FIELDS = {  # offset in the end record, struct format
    "disk": (4, "<H"),
    "cd_disk": (6, "<H"),
    "disk_entries": (8, "<H"),
    "entries": (10, "<H"),
    "cd_size": (12, "<I"),
    "cd_offset": (16, "<I"),
    "comment_length": (20, "<H"),
}
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")


def eocd_of(data: bytes) -> dict[str, int]:
    at = len(data) - 22
    return {
        k: struct.unpack_from(f, data, at + o)[0] for k, (o, f) in EOCD_FIELDS.items()
    }


def patch_eocd(path: Path, **fields: int) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) - 22
    for key, value in fields.items():
        offset, fmt = EOCD_FIELDS[key]
        struct.pack_into(fmt, data, at + offset, value)
    path.write_bytes(bytes(data))


def central_records(data: bytes) -> list[tuple[int, bytes]]:
    """``(offset, raw name)`` of every central record, found through the end record."""
    end = eocd_of(data)
    records, pos = [], end["cd_offset"]
    for _ in range(end["entries"]):
        n, e, c = struct.unpack_from("<3H", data, pos + 28)
        records.append((pos, data[pos + 46 : pos + 46 + n]))
        pos += 46 + n + e + c
    return records


def insert_bytes(
    path: Path, at: int, blob: bytes, *, move_offsets: bool = True
) -> None:
    """Insert ``blob`` at ``at``; with ``move_offsets`` every local header offset and
    the directory offset past ``at`` follow, so the archive stays consistent for a
    reader that trusts the central directory."""
    data = bytearray(path.read_bytes())
    if move_offsets:
        for pos, _ in central_records(bytes(data)):
            (offset,) = struct.unpack_from("<I", data, pos + 42)
            if offset >= at:
                struct.pack_into("<I", data, pos + 42, offset + len(blob))
        cd_offset = eocd_of(bytes(data))["cd_offset"]
        if cd_offset >= at:
            struct.pack_into("<I", data, len(data) - 6, cd_offset + len(blob))
    data[at:at] = blob
    path.write_bytes(bytes(data))


def local_entry(name: str, data: bytes) -> bytes:
    """A complete stored member (local header, name, data) to hide somewhere."""
    info = zipfile.ZipInfo(name)
    info.CRC = zipfile.crc32(data)
    info.compress_size = info.file_size = len(data)
    return info.FileHeader(False) + data


def member_end(path: Path, name: str) -> int:
    """Offset right after a member written without a data descriptor."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    data = path.read_bytes()
    n, e = struct.unpack_from("<HH", data, info.header_offset + 26)
    return info.header_offset + 30 + n + e + info.compress_size


def add_zip64_end(
    path: Path, *, locator_offset: int | None = None, **zip64: int
) -> None:
    """Add a ZIP64 end record and locator before the end record (``zip64`` overrides
    the record's entries/cd_size/cd_offset/body); the classic fields then defer."""
    data = path.read_bytes()
    end = eocd_of(data)
    eocd_at = len(data) - 22
    values = {
        "body": 44,
        "disk": 0,
        "cd_disk": 0,
        "entries": end["entries"],
        "disk_entries": end["entries"],
        "cd_size": end["cd_size"],
        "cd_offset": end["cd_offset"],
        **zip64,
    }
    if "entries" in zip64 and "disk_entries" not in zip64:
        values["disk_entries"] = values["entries"]
    record = _ZIP64_EOCD.pack(
        b"PK\x06\x06",
        values["body"],
        45,
        45,
        values["disk"],
        values["cd_disk"],
        values["disk_entries"],
        values["entries"],
        values["cd_size"],
        values["cd_offset"],
    )
    where = eocd_at if locator_offset is None else locator_offset
    locator = _ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, where, 1)
    path.write_bytes(data[:eocd_at] + record + locator + data[eocd_at:])
    patch_eocd(
        path,
        disk_entries=0xFFFF,
        entries=0xFFFF,
        cd_size=0xFFFFFFFF,
        cd_offset=0xFFFFFFFF,
    )


# --- the harness ------------------------------------------------------------------


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bundles = root / "bundles"
        self.out = root / "out"
        self.bundles.mkdir()
        self.out.mkdir()

    def bundle(self, entries: Iterable[Entry], **kw: int) -> Path:
        return write_zip(self.bundles / "test.cvnext", entries, **kw)

    def refused(self, bundle: Path, code: str, **limits: int) -> MarketError:
        """Both readers refuse ``bundle`` with ``code`` and leave no trace."""
        before = listing(self.root)
        dest = self.out / "dest"
        with pytest.raises(MarketError) as extracted:
            extract_bundle(bundle, dest, limits=ArchiveLimits(**limits))
        assert extracted.value.code == code, extracted.value.message
        assert not os.path.lexists(dest)
        assert listing(self.root) == before
        with pytest.raises(MarketError) as inspected:
            inspect_bundle(bundle, limits=ArchiveLimits(**limits))
        assert inspected.value.code == code
        assert inspected.value.as_dict() == extracted.value.as_dict()
        assert listing(self.root) == before
        return extracted.value
