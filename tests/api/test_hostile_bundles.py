"""Hostile bundles through the install API: each refused with its own code, a 4xx,
nothing left on disk or in the database, and a LifecycleError stored."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from market.models import CatalogEntry, InstalledExtension, LifecycleError
from tests.bundles import (
    add_zip64_end,
    eocd_of,
    good_entries,
    insert_bytes,
    local_entry,
    member_end,
    patch_bytes,
    patch_eocd,
    patch_field,
    typed,
    write_streamed,
    write_zip,
)


def extra(name, data=b"evil"):
    def build(path: Path) -> Path:
        return write_zip(path, [*good_entries(), (name, data)])

    return build


def patched(name, field, value, data=b"x" * 20, **kw):
    def build(path: Path) -> Path:
        write_zip(path, [*good_entries(), (name, data)], **kw)
        patch_field(path, name, field, value)
        return path

    return build


def nul_name(path: Path) -> Path:
    write_zip(path, [*good_entries(), ("nulQname.txt", b"x")])
    patch_bytes(path, b"nulQname.txt", b"nul\x00name.txt")
    return path


def overlapping(path: Path) -> Path:
    entries = [*good_entries(), ("a.txt", b"A" * 100), ("b.txt", b"B" * 100)]
    write_zip(path, entries, compression=zipfile.ZIP_STORED)
    with zipfile.ZipFile(path) as zf:
        a, b = zf.getinfo("a.txt"), zf.getinfo("b.txt")
    span = (b.header_offset + 30 + 5 + 100) - (a.header_offset + 30 + 5)
    for field in ("csize", "usize"):
        patch_field(path, "a.txt", field, span)
    return path


def pair(first, second):
    def build(path: Path) -> Path:
        return write_zip(path, [*good_entries(), (first, b"1"), (second, b"2")])

    return build


def raw(data: bytes):
    def build(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return build


def truncated(path: Path) -> Path:
    write_zip(path, good_entries())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def only(entries):
    def build(path: Path) -> Path:
        return write_zip(path, entries)

    return build


def tampered(change):
    """A real packaged bundle whose files were changed after packaging."""

    def build(path: Path, packaged: Path) -> Path:
        with zipfile.ZipFile(packaged) as zf:
            entries = [(i.filename, zf.read(i)) for i in zf.infolist()]
        return write_zip(path, change(entries))

    return build


def _change_one_byte(entries):
    name, data = entries[1]
    return [entries[0], (name, bytes([data[0] ^ 1]) + data[1:]), *entries[2:]]


def surgery(change, entries=None, *, streamed=False, **kw):
    """A good bundle (or ``entries``), then ``change(path)`` on its bytes."""

    def build(path: Path) -> Path:
        write = write_streamed if streamed else write_zip
        write(path, entries or good_entries(), **kw)
        change(path)
        return path

    return build


def _append(blob):
    return lambda p: p.write_bytes(p.read_bytes() + blob)


def _hide_between(p: Path) -> None:
    insert_bytes(p, member_end(p, "manifest.json"), local_entry("hidden.py", b"x\n"))


def _hide_before_directory(p: Path) -> None:
    cd_offset = eocd_of(p.read_bytes())["cd_offset"]
    insert_bytes(p, cd_offset, local_entry("hidden.py", b"x\n"))


def _with_extra(name, extra=b"", comment=b""):
    info = zipfile.ZipInfo(name)
    info.extra, info.comment = extra, comment
    return [*good_entries(), (info, b"data")]


def _commented(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in good_entries():
            zf.writestr(name, data)
        zf.comment = b"a comment some readers show"
    return path


def _deflate_with_slack(path: Path) -> Path:
    import zlib

    payload = b"text\n" * 20
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = deflate.compress(payload) + deflate.flush() + local_entry("h.py", b"x")
    entries = [*good_entries(), ("x.txt", data)]
    write_zip(path, entries, compression=zipfile.ZIP_STORED)
    patch_field(path, "x.txt", "method", zipfile.ZIP_DEFLATED)
    patch_field(path, "x.txt", "usize", len(payload))
    patch_field(path, "x.txt", "crc", zlib.crc32(payload))
    return path


HOSTILE = {
    "traversal": (extra("../x"), "unsafe_path"),
    "nested_traversal": (extra("a/../../x"), "unsafe_path"),
    "absolute": (extra("/etc/cron.d/x"), "unsafe_path"),
    "drive_letter": (extra("C:/Windows/x"), "unsafe_path"),
    "drive_relative": (extra("C:x"), "unsafe_path"),
    "backslash": (extra("..\\..\\x"), "unsafe_path"),
    "unc": (extra("//server/share/x"), "unsafe_path"),
    "nul_in_name": (nul_name, "unsafe_path"),
    "control_char": (extra("bell\x07.txt"), "unsafe_path"),
    "symlink": (
        extra(typed("link", stat.S_IFLNK | 0o777), b"/etc/passwd"),
        "unsafe_entry_type",
    ),
    "fifo": (extra(typed("fifo", stat.S_IFIFO | 0o644), b""), "unsafe_entry_type"),
    "duplicate": (pair("a.txt", "a.txt"), "duplicate_entry"),
    "case_collision": (pair("Readme.txt", "README.TXT"), "duplicate_entry"),
    "unicode_collision": (pair("caf\u00e9.txt", "cafe\u0301.txt"), "duplicate_entry"),
    "bomb_by_ratio": (extra("zeros.bin", b"\0" * (8 * 1024 * 1024)), "limit_exceeded"),
    "bomb_by_overlap": (overlapping, "corrupt_archive"),
    "size_that_lies": (
        patched("lie.bin", "usize", 5, bytes(range(256)) * 4),
        "corrupt_archive",
    ),
    "encrypted": (patched("secret.txt", "flags", 0x1), "encrypted_entry"),
    "bzip2": (
        lambda p: write_zip(p, good_entries(), compression=zipfile.ZIP_BZIP2),
        "unsupported_compression",
    ),
    "not_a_zip": (raw(os.urandom(4096)), "corrupt_archive"),
    "empty_file": (raw(b""), "corrupt_archive"),
    "truncated": (truncated, "corrupt_archive"),
    "missing_manifest": (only([("main.py", b"print(1)\n")]), "manifest_missing"),
    "manifest_not_json": (only([("manifest.json", b"{nope")]), "manifest_invalid"),
    "manifest_not_utf8": (
        only([("manifest.json", b'{"id": "\xff\xfe"}')]),
        "manifest_invalid",
    ),
    "manifest_bad_fields": (
        only(
            [
                (
                    "manifest.json",
                    json.dumps({"id": "../x", "version": "1.0/evil"}).encode(),
                )
            ]
        ),
        "manifest_invalid",
    ),
}


# Bundles another zip reader would read differently (or not at all): refused as
# corrupt_archive, with the failed check named in the details.
DIFFERENTIAL = {
    "directory_offset_past_the_end": (
        surgery(lambda p: patch_eocd(p, cd_offset=10**6)),
        "central_directory",
    ),
    "entry_count_that_lies": (
        surgery(lambda p: patch_eocd(p, entries=10, disk_entries=10)),
        "central_directory",
    ),
    "entry_count_fewer": (
        surgery(lambda p: patch_eocd(p, entries=2, disk_entries=2)),
        "central_directory",
    ),
    "entry_count_saturated": (
        surgery(lambda p: patch_eocd(p, entries=0xFFFF, disk_entries=0xFFFF)),
        "zip64_end_record",
    ),
    "zip64_count_that_lies": (
        surgery(lambda p: add_zip64_end(p, entries=9)),
        "central_directory",
    ),
    "zip64_locator_elsewhere": (
        surgery(lambda p: add_zip64_end(p, locator_offset=0)),
        "zip64_end_record",
    ),
    "trailing_data": (surgery(_append(b"trailing")), "end_record"),
    "archive_comment": (_commented, "end_record"),
    "prepended_stub": (
        surgery(lambda p: insert_bytes(p, 0, b"MZ" + bytes(62))),
        "tiling",
    ),
    "hidden_between_members": (surgery(_hide_between), "tiling"),
    "hidden_before_directory": (surgery(_hide_before_directory), "tiling"),
    "local_crc_differs": (
        surgery(lambda p: patch_field(p, "main.py", "crc", 1, central=False)),
        "local_header",
    ),
    "local_size_differs": (
        surgery(lambda p: patch_field(p, "main.py", "usize", 1, central=False)),
        "local_header",
    ),
    "local_method_differs": (
        surgery(lambda p: patch_field(p, "main.py", "method", 0, central=False)),
        "local_method",
    ),
    "local_flags_differ": (
        surgery(lambda p: patch_field(p, "main.py", "flags", 2, central=False)),
        "local_flags",
    ),
    "stored_with_data_descriptor": (
        surgery(lambda p: None, streamed=True, compression=zipfile.ZIP_STORED),
        "data_descriptor",
    ),
    "deflate_stream_with_slack": (_deflate_with_slack, "deflate_end"),
    "unknown_extra_field": (
        surgery(lambda p: None, _with_extra("x.txt", b"nu\x04\x00link")),
        "extra_field",
    ),
    "entry_comment": (
        surgery(lambda p: None, _with_extra("x.txt", comment=b"hi")),
        "entry_comment",
    ),
}
TAMPERED = {
    "file_changed": _change_one_byte,
    "file_added": lambda entries: [*entries, ("extra.py", b"import os\n")],
    "file_removed": lambda entries: entries[:-1],
}


def assert_nothing_left(market_root: Path, code: str | None) -> None:
    ext = market_root / "extensions"
    assert not ext.exists() or list(ext.iterdir()) == []
    staging = market_root / "staging"
    assert not staging.exists() or list(staging.iterdir()) == []
    assert InstalledExtension.objects.count() == 0
    assert CatalogEntry.objects.count() == 0
    stored = list(LifecycleError.objects.values_list("code", flat=True))
    assert stored == ([code] if code else [])


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_bundle_by_path(api, package_dir, market_root, case):
    build, code = HOSTILE[case]
    bundle = build(package_dir / f"{case}.cvnext")
    response = api.post(
        reverse("market-api:install"), {"package": str(bundle)}, format="json"
    )
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == code
    assert_nothing_left(market_root, code)


@pytest.mark.parametrize(
    "case", ["traversal", "symlink", "bomb_by_overlap", "not_a_zip"]
)
def test_hostile_bundle_by_upload(api, tmp_path, market_root, case):
    build, code = HOSTILE[case]
    bundle = build(tmp_path / f"{case}.cvnext")
    with bundle.open("rb") as fh:
        response = api.post(
            reverse("market-api:install"), {"package": fh}, format="multipart"
        )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    assert_nothing_left(market_root, code)


# Names that would not extract to the same files on Windows, macOS and Linux (or
# would overwrite the installer's record), with the rule each breaks.
NOT_PORTABLE = {
    "sidecar_at_the_root": (".market.json", "reserved_name"),
    "sidecar_in_a_folder": ("assets/.Market.JSON", "reserved_name"),
    "sidecar_as_a_folder": (".market.json/x.txt", "reserved_name"),
    "device_name": ("aux.py", "windows_device_name"),
    "device_name_folder": ("lib/CON/x.py", "windows_device_name"),
    "superscript_device": ("COM\u00b3.log", "windows_device_name"),
    "console_device": ("CONOUT$", "windows_device_name"),
    "trailing_dot": ("readme.", "trailing_dot_or_space"),
    "trailing_space": ("docs /x.md", "trailing_dot_or_space"),
    "windows_character": ("what?.txt", "windows_character"),
    "path_too_long": ("/".join(["folder"] * 23) + "/file.py", "too_long"),
    "short_name": ("SCRIPT~1.PY", "windows_short_name"),
}


def _with_sidecar_like(name):
    """A bundle that lists ``name`` in its content record too (a careful attacker)."""

    def build(path: Path) -> Path:
        files = {"main.py": b"print(1)\n", name: b'{"id": "other"}'}
        return write_zip(path, good_entries(files))

    return build


@pytest.mark.parametrize("case", sorted(NOT_PORTABLE))
def test_bundle_with_a_name_that_is_not_portable(api, package_dir, market_root, case):
    name, rule = NOT_PORTABLE[case]
    bundle = _with_sidecar_like(name)(package_dir / f"{case}.cvnext")
    response = api.post(
        reverse("market-api:install"), {"package": str(bundle)}, format="json"
    )
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "unsafe_path"
    assert response.json()["error"]["details"] == {"entry": name, "rule": rule}
    assert_nothing_left(market_root, "unsafe_path")


def test_the_reserved_name_is_the_sidecar():
    from market import archive, services

    assert archive.RESERVED_NAME == services.SIDECAR_NAME


@pytest.mark.parametrize("case", sorted(DIFFERENTIAL))
def test_zip_differential_bundle(api, package_dir, market_root, case):
    build, check = DIFFERENTIAL[case]
    bundle = build(package_dir / f"{case}.cvnext")
    response = api.post(
        reverse("market-api:install"), {"package": str(bundle)}, format="json"
    )
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "corrupt_archive"
    assert error["details"]["check"] == check, error
    assert_nothing_left(market_root, "corrupt_archive")


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_bundle_changed_after_packaging(
    api, build_bundle, package_dir, market_root, case
):
    packaged = build_bundle("hello_minimal")
    bundle = tampered(TAMPERED[case])(package_dir / "tampered.cvnext", packaged.path)
    packaged.path.unlink()
    response = api.post(
        reverse("market-api:install"), {"package": str(bundle)}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "content_mismatch"
    assert_nothing_left(market_root, "content_mismatch")


def test_unproven_verified_and_global_route(api, build_bundle, market_root):
    claimed = build_bundle("sample_toolkit")
    response = api.post(
        reverse("market-api:install"), {"package": str(claimed.path)}, format="json"
    )
    assert response.json()["error"]["code"] == "trust_unproven"
    assert_nothing_left(market_root, "trust_unproven")


@pytest.mark.parametrize(
    ("limit", "value", "code", "status"),
    [
        ("max_package_bytes", 200, "package_too_large", 413),
        ("max_entries", 2, "limit_exceeded", 422),
        ("max_file_bytes", 100, "limit_exceeded", 422),
        ("max_total_bytes", 150, "limit_exceeded", 422),
    ],
)
def test_limits(api, settings, package_dir, market_root, limit, value, code, status):
    settings.MARKET_ARCHIVE_LIMITS = {**settings.MARKET_ARCHIVE_LIMITS, limit: value}
    bundle = write_zip(
        package_dir / "big.cvnext", [*good_entries(), ("big.txt", b"abc" * 100)]
    )
    response = api.post(
        reverse("market-api:install"), {"package": str(bundle)}, format="json"
    )
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert_nothing_left(market_root, code)


def test_oversized_upload_is_refused_while_it_arrives(
    api, settings, tmp_path, market_root, caplog
):
    settings.MARKET_ARCHIVE_LIMITS = {
        **settings.MARKET_ARCHIVE_LIMITS,
        "max_package_bytes": 64,
    }
    bundle = write_zip(tmp_path / "big.cvnext", good_entries())
    with caplog.at_level("INFO", logger="market"), bundle.open("rb") as fh:
        response = api.post(
            reverse("market-api:install"), {"package": fh}, format="multipart"
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "package_too_large"
    # refused at the door: logged for the operator, no lifecycle error stored
    assert_nothing_left(market_root, None)
    assert any("reason=package_too_large" in r.getMessage() for r in caplog.records)


def test_upload_over_the_limit_is_refused_by_its_declared_length(
    api, settings, tmp_path, market_root
):
    # The declared length alone refuses it: the body is never read.
    settings.MARKET_ARCHIVE_LIMITS = {
        **settings.MARKET_ARCHIVE_LIMITS,
        "max_package_bytes": 1000,
    }
    bundle = tmp_path / "big.cvnext"
    bundle.write_bytes(os.urandom(200_000))
    with bundle.open("rb") as fh:
        response = api.post(
            reverse("market-api:install"), {"package": fh}, format="multipart"
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "package_too_large"
    assert response.json()["error"]["details"]["size"] > 200_000
    assert_nothing_left(market_root, None)


def test_upload_handler_stops_a_body_that_lies_about_its_length():
    from market.api.uploads import LimitedUploadHandler
    from market.errors import PackageTooLargeError

    handler = LimitedUploadHandler(limit=10)
    assert handler.receive_data_chunk(b"12345", 0) == b"12345"
    with pytest.raises(PackageTooLargeError):
        handler.receive_data_chunk(b"678901", 5)
