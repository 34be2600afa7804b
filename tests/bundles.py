"""Builders of good and hostile ``.cvnext`` bundles for the archive and API tests.

Where zipfile will not write the thing a test needs (a NUL in a name, lying sizes, flag
bits), a placeholder of the same length is written and its bytes are patched in the
local and central headers.
"""

from __future__ import annotations

import hashlib
import json
import struct
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path

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


def patch_field(
    path: Path, name: str, field: str, value: int, *, local: bool = True
) -> None:
    data = bytearray(path.read_bytes())
    local_at, central_at = headers(bytes(data), name.encode())
    local_off, central_off, fmt = FIELDS[field]
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
