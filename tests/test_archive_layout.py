"""The byte layout of a bundle: end records, central directory, tiling, local headers.

A bundle must read the same in every zip reader, so everything a reader could see
differently is refused as ``corrupt_archive`` with ``details.check`` naming the check
(and ``details.entry`` the member): data before, between or after the members,
comments, end records that disagree, and local headers that disagree with the
central directory. The property tests mutate good bundles at random: the reader
answers with a bundle or a ``MarketError``, never anything else, and whatever it
accepts, a streaming reader walking the local headers from byte 0 reads the same.
"""

from __future__ import annotations

import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.archive import ArchiveLimits, BundleInfo, extract_bundle, inspect_bundle
from market.errors import MarketError
from market.packaging import build_package
from tests.bundles import (
    FILES,
    Workspace,
    add_zip64_end,
    central_records,
    eocd_of,
    good_entries,
    headers,
    insert_bytes,
    listing,
    local_entry,
    member_end,
    patch_eocd,
    patch_field,
    write_streamed,
    write_zip,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extensions"


@pytest.fixture(autouse=True)
def market_root(tmp_path: Path) -> Path:
    """Overrides the Django-backed conftest fixture: this module is pure."""
    return tmp_path / "var"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def corrupt(ws: Workspace, bundle: Path, check: str, entry: str | None = None) -> None:
    exc = ws.refused(bundle, "corrupt_archive")
    assert exc.details["check"] == check, exc.message
    if entry is not None:
        assert exc.details["entry"] == entry


# --- what must pass -----------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["hello_minimal", "legacy_tools"])
def test_packaged_bundles_pass(tmp_path: Path, fixture: str) -> None:
    result = build_package(
        FIXTURES / fixture, tmp_path / "out", trust_level="unverified"
    )
    with zipfile.ZipFile(result.path) as zf:
        assert not any(i.flag_bits & 0x8 or i.extra for i in zf.infolist())
    assert inspect_bundle(result.path).sha256 == result.sha256


def test_data_descriptors_on_deflated_entries_pass(ws: Workspace) -> None:
    bundle = write_streamed(ws.bundles / "streamed.cvnext", good_entries())
    with zipfile.ZipFile(bundle) as zf:
        assert all(i.flag_bits & 0x8 for i in zf.infolist())
    info = extract_bundle(bundle, ws.out / "dest")
    assert info.content_verified
    for name, data in FILES.items():
        assert (ws.out / "dest" / name).read_bytes() == data


def test_zip64_end_records_pass(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries())
    add_zip64_end(bundle)
    assert inspect_bundle(bundle).content_verified
    # The classic record may also repeat the values instead of deferring.
    bundle = ws.bundle(good_entries())
    end = eocd_of(bundle.read_bytes())
    add_zip64_end(bundle)
    patch_eocd(bundle, **{k: end[k] for k in ("entries", "cd_size", "cd_offset")})
    assert inspect_bundle(bundle).content_verified


def test_local_zip64_sizes_pass(ws: Workspace) -> None:
    bundle = ws.bundles / "zip64.cvnext"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in good_entries():
            with zf.open(name, "w", force_zip64=True) as out:
                out.write(data)
    assert inspect_bundle(bundle).content_verified


def test_harmless_extra_fields_pass(ws: Workspace) -> None:
    info = zipfile.ZipInfo("main.py")
    info.extra = struct.pack("<HHBL", 0x5455, 5, 1, 0) + struct.pack("<HH", 0x000A, 0)
    [manifest, _, readme] = good_entries()
    bundle = ws.bundle([manifest, (info, FILES["main.py"]), readme])
    assert inspect_bundle(bundle).content_verified


# --- end records --------------------------------------------------------------------


def test_trailing_data_after_the_end_record(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries())
    bundle.write_bytes(bundle.read_bytes() + b"appended")
    corrupt(ws, bundle, "end_record")


def test_archive_comment(ws: Workspace) -> None:
    bundle = ws.bundles / "comment.cvnext"
    with zipfile.ZipFile(bundle, "w") as zf:
        for name, data in good_entries():
            zf.writestr(name, data)
        zf.comment = b"hello"
    corrupt(ws, bundle, "end_record")
    bundle = ws.bundle(good_entries())
    patch_eocd(bundle, comment_length=5)  # a comment length that runs past the end
    corrupt(ws, bundle, "archive_comment")


@pytest.mark.parametrize("field", ["disk", "cd_disk"])
def test_spanned_archives(ws: Workspace, field: str) -> None:
    bundle = ws.bundle(good_entries())
    patch_eocd(bundle, **{field: 1})
    corrupt(ws, bundle, "end_record")


def test_two_entry_counts(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries())
    patch_eocd(bundle, disk_entries=2)
    corrupt(ws, bundle, "end_record")


@pytest.mark.parametrize("offset", [10**6, 2**32 - 2, 5, 0])
def test_directory_offset_that_lies(ws: Workspace, offset: int) -> None:
    bundle = ws.bundle(good_entries())
    patch_eocd(bundle, cd_offset=offset)
    corrupt(ws, bundle, "central_directory")


@pytest.mark.parametrize("delta", [-1, 1, 46, 10**6])
def test_directory_size_that_lies(ws: Workspace, delta: int) -> None:
    bundle = ws.bundle(good_entries())
    patch_eocd(bundle, cd_size=eocd_of(bundle.read_bytes())["cd_size"] + delta)
    corrupt(ws, bundle, "central_directory")


@pytest.mark.parametrize("entries", [0, 2, 4, 10, 1000])
def test_entry_count_that_lies(ws: Workspace, entries: int) -> None:
    bundle = ws.bundle(good_entries())  # three entries
    patch_eocd(bundle, entries=entries, disk_entries=entries)
    corrupt(ws, bundle, "central_directory")


def test_entry_count_over_the_limit_is_refused_before_reading(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries())
    patch_eocd(bundle, entries=0xFFFE, disk_entries=0xFFFE)
    exc = ws.refused(bundle, "limit_exceeded")
    assert exc.details == {"value": 0xFFFE, "limit": 5000}


def test_saturated_end_record_without_zip64_records(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries())
    patch_eocd(bundle, entries=0xFFFF, disk_entries=0xFFFF)
    corrupt(ws, bundle, "zip64_end_record")


# --- ZIP64 end records --------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code", "check"),
    [
        ({"entries": 10**12}, "limit_exceeded", None),
        ({"entries": 2**64 - 1}, "limit_exceeded", None),
        ({"entries": 10}, "corrupt_archive", "central_directory"),
        ({"entries": 2}, "corrupt_archive", "central_directory"),
        ({"disk_entries": 2}, "corrupt_archive", "end_record"),
        ({"cd_offset": 2**40}, "corrupt_archive", "central_directory"),
        ({"cd_size": 2**40}, "limit_exceeded", None),
        ({"cd_size": 1}, "corrupt_archive", "central_directory"),
        ({"disk": 1}, "corrupt_archive", "zip64_end_record"),
        ({"body": 52}, "corrupt_archive", "zip64_end_record"),
        ({"locator_offset": 0}, "corrupt_archive", "zip64_end_record"),
        ({"locator_offset": 2**63}, "corrupt_archive", "zip64_end_record"),
    ],
)
def test_zip64_end_records_that_lie(
    ws: Workspace, change: dict[str, int], code: str, check: str | None
) -> None:
    bundle = ws.bundle(good_entries())
    add_zip64_end(bundle, **change)
    exc = ws.refused(bundle, code)
    if check:
        assert exc.details["check"] == check, exc.message


def test_classic_and_zip64_end_records_disagree(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries())
    add_zip64_end(bundle)
    patch_eocd(bundle, entries=2, disk_entries=2)  # the ZIP64 record says 3
    corrupt(ws, bundle, "zip64_end_record")


def test_stray_zip64_locator(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries())
    data = bundle.read_bytes()
    eocd_at = len(data) - 22
    # A locator-like signature right before the end record, nothing behind it.
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 1)
    bundle.write_bytes(data[:eocd_at] + locator + data[eocd_at:])
    corrupt(ws, bundle, "zip64_end_record")


# --- the central directory ----------------------------------------------------------


def test_central_zip64_extra_that_defers_nothing(ws: Workspace) -> None:
    info = zipfile.ZipInfo("main.py")
    info.extra = struct.pack("<HHQ", 0x0001, 8, 1 << 40)
    [manifest, _, readme] = good_entries()
    bundle = ws.bundle([manifest, (info, FILES["main.py"]), readme])
    corrupt(ws, bundle, "zip64_extra", "main.py")


@pytest.mark.parametrize(
    ("extra", "check"),
    [
        (struct.pack("<HH", 0x756E, 4) + b"link", "extra_field"),  # ASi Unix: a link
        (struct.pack("<HH", 0x5455, 9) + b"\x01", "extra_field"),  # runs past its end
        (struct.pack("<HHB", 0x5455, 1, 0) * 2, "extra_field"),  # the same tag twice
        (b"\x55\x54\x00", "extra_field"),  # ends inside a record
    ],
)
def test_extra_fields(ws: Workspace, extra: bytes, check: str) -> None:
    info = zipfile.ZipInfo("main.py")
    info.extra = extra
    [manifest, _, readme] = good_entries()
    corrupt(ws, ws.bundle([manifest, (info, FILES["main.py"]), readme]), check)


def test_entry_comment(ws: Workspace) -> None:
    info = zipfile.ZipInfo("main.py")
    info.comment = b"run me"
    [manifest, _, readme] = good_entries()
    bundle = ws.bundle([manifest, (info, FILES["main.py"]), readme])
    corrupt(ws, bundle, "entry_comment", "main.py")


@pytest.mark.parametrize("bits", [0x20, 0x10, 0x1000, 0x8000])
def test_unknown_flag_bits(ws: Workspace, bits: int) -> None:
    bundle = ws.bundle([*good_entries(), ("odd.txt", b"x" * 20)])
    patch_field(bundle, "odd.txt", "flags", bits)
    corrupt(ws, bundle, "flags", "odd.txt")


# --- tiling: nothing before, between or after the members ---------------------------


def test_prepended_stub(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries())
    insert_bytes(bundle, 0, b"MZ" + bytes(510), move_offsets=False)
    corrupt(ws, bundle, "central_directory")
    bundle = ws.bundle(good_entries())
    insert_bytes(bundle, 0, b"MZ" + bytes(510))  # offsets moved: still refused
    corrupt(ws, bundle, "tiling", "manifest.json")


def test_entry_hidden_between_members(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries())
    hidden = local_entry("hidden.py", b"import os; os.system('x')\n")
    insert_bytes(bundle, member_end(bundle, "manifest.json"), hidden)
    # Python's zipfile (the central directory) is happy: another reader is not.
    with zipfile.ZipFile(bundle) as zf:
        assert zf.testzip() is None and "hidden.py" not in zf.namelist()
    corrupt(ws, bundle, "tiling", "main.py")


def test_entry_hidden_before_the_central_directory(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries())
    cd_offset = eocd_of(bundle.read_bytes())["cd_offset"]
    insert_bytes(bundle, cd_offset, local_entry("hidden.py", b"evil\n"))
    corrupt(ws, bundle, "tiling")


def test_overlapping_members(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries())
    data = bytearray(bundle.read_bytes())
    records = dict((name, pos) for pos, name in central_records(bytes(data)))
    # Two central records for one local header: one file, counted twice.
    main_at = struct.unpack_from("<I", data, records[b"main.py"] + 42)[0]
    struct.pack_into("<I", data, records[b"assets/readme.txt"] + 42, main_at)
    bundle.write_bytes(bytes(data))
    exc = ws.refused(bundle, "corrupt_archive")
    assert exc.details["check"] in ("tiling", "local_name")


# --- local headers that disagree with the central directory -------------------------


@pytest.mark.parametrize(
    ("field", "value", "check"),
    [
        ("flags", 0x2, "local_flags"),
        ("method", 0, "local_method"),
        ("crc", 0x12345678, "local_header"),
        ("csize", 7, "local_header"),
        ("usize", 7, "local_header"),
        ("usize", 0, "local_header"),
    ],
)
def test_local_header_disagrees(
    ws: Workspace, field: str, value: int, check: str
) -> None:
    bundle = ws.bundle([*good_entries(), ("data.txt", b"some data " * 30)])
    patch_field(bundle, "data.txt", field, value, central=False)
    corrupt(ws, bundle, check, "data.txt")


def test_local_header_signature(ws: Workspace) -> None:
    bundle = ws.bundle([*good_entries(), ("data.txt", b"some data")])
    data = bytearray(bundle.read_bytes())
    local_at, _ = headers(bytes(data), b"data.txt")
    data[local_at : local_at + 4] = b"PK\x05\x05"
    bundle.write_bytes(bytes(data))
    corrupt(ws, bundle, "local_header", "data.txt")


def test_second_name_in_the_local_extra_field_only(ws: Workspace) -> None:
    bundle = ws.bundle([*good_entries(), ("plain.txt", b"x")])
    payload = b"\x01" + struct.pack("<I", zlib.crc32(b"plain.txt")) + b"evil.txt"
    extra = struct.pack("<HH", 0x7075, len(payload)) + payload
    data = bytearray(bundle.read_bytes())
    local_at, _ = headers(bytes(data), b"plain.txt")
    struct.pack_into("<H", data, local_at + 28, len(extra))
    bundle.write_bytes(bytes(data))
    insert_bytes(bundle, local_at + 30 + len("plain.txt"), extra)
    exc = ws.refused(bundle, "unsafe_path")
    assert exc.details == {"entry": "plain.txt", "rule": "second_name"}


def test_local_zip64_sizes_that_lie(ws: Workspace) -> None:
    bundle = ws.bundles / "zip64.cvnext"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED) as zf:
        for name, data in good_entries():
            with zf.open(name, "w", force_zip64=True) as out:
                out.write(data)
    data = bytearray(bundle.read_bytes())
    local_at, _ = headers(bytes(data), b"main.py")
    # The local ZIP64 field (tag, length, size, compressed size) after the name.
    at = local_at + 30 + len("main.py")
    assert struct.unpack_from("<HH", data, at) == (1, 16)
    struct.pack_into("<Q", data, at + 4, 1 << 33)
    bundle.write_bytes(bytes(data))
    corrupt(ws, bundle, "local_header", "main.py")


# --- data descriptors ---------------------------------------------------------------


def test_data_descriptor_on_a_stored_entry(ws: Workspace) -> None:
    bundle = ws.bundles / "streamed.cvnext"
    write_streamed(bundle, good_entries(), compression=zipfile.ZIP_STORED)
    corrupt(ws, bundle, "data_descriptor", "manifest.json")


@pytest.mark.parametrize("delta", [1, -1])
def test_data_descriptor_that_lies(ws: Workspace, delta: int) -> None:
    bundle = write_streamed(ws.bundles / "streamed.cvnext", good_entries())
    data = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo("main.py")
    local_at, _ = headers(bytes(data), b"main.py")
    at = local_at + 30 + len("main.py") + info.compress_size
    assert data[at : at + 4] == b"PK\x07\x08"
    struct.pack_into("<I", data, at + 8, info.compress_size + delta)
    bundle.write_bytes(bytes(data))
    corrupt(ws, bundle, "data_descriptor", "main.py")


def test_data_descriptor_without_its_signature_passes(ws: Workspace) -> None:
    bundle = write_streamed(ws.bundles / "streamed.cvnext", good_entries())
    data = bundle.read_bytes()
    with zipfile.ZipFile(bundle) as zf:
        infos = sorted(zf.infolist(), key=lambda i: i.header_offset)
    out, moved = bytearray(), {}
    for info in infos:  # the signature is optional (APPNOTE 4.3.9.3): drop it
        n, e = struct.unpack_from("<HH", data, info.header_offset + 26)
        data_end = info.header_offset + 30 + n + e + info.compress_size
        assert data[data_end : data_end + 4] == b"PK\x07\x08"
        moved[info.header_offset] = len(out)
        out += data[info.header_offset : data_end] + data[data_end + 4 : data_end + 16]
    end = eocd_of(data)
    directory = bytearray(data[end["cd_offset"] : len(data) - 22])
    for pos, _ in central_records(data):
        at = pos - end["cd_offset"] + 42
        struct.pack_into(
            "<I", directory, at, moved[struct.unpack_from("<I", directory, at)[0]]
        )
    bundle.write_bytes(bytes(out + directory) + data[-22:])
    patch_eocd(bundle, cd_offset=len(out))
    assert inspect_bundle(bundle).content_verified


# --- deflate streams that end elsewhere ----------------------------------------------


def _deflated_by_hand(ws: Workspace, compressed: bytes, payload: bytes) -> Path:
    bundle = ws.bundle(
        [*good_entries(), ("x.txt", compressed)], compression=zipfile.ZIP_STORED
    )
    patch_field(bundle, "x.txt", "method", zipfile.ZIP_DEFLATED)
    patch_field(bundle, "x.txt", "usize", len(payload))
    patch_field(bundle, "x.txt", "crc", zlib.crc32(payload))
    return bundle


def test_bytes_after_the_end_of_a_deflate_stream(ws: Workspace) -> None:
    payload = b"visible text\n" * 10
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = deflate.compress(payload) + deflate.flush()
    hidden = local_entry("hidden.py", b"evil\n")
    bundle = _deflated_by_hand(ws, stream + hidden, payload)
    with zipfile.ZipFile(bundle) as zf:  # zipfile reads it and ignores the rest
        assert zf.read("x.txt") == payload
    corrupt(ws, bundle, "deflate_end", "x.txt")


def test_deflate_stream_without_its_final_block(ws: Workspace) -> None:
    payload = b"visible text\n" * 10
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = deflate.compress(payload) + deflate.flush(zlib.Z_SYNC_FLUSH)
    bundle = _deflated_by_hand(ws, stream, payload)
    with zipfile.ZipFile(bundle) as zf:
        assert zf.read("x.txt") == payload
    corrupt(ws, bundle, "deflate_end", "x.txt")


# --- properties ---------------------------------------------------------------------


def streamed_names(data: bytes) -> list[str] | None:
    """What a streaming reader sees: local headers walked from byte 0 (test oracle).

    ``None`` when the walk does not end exactly at the central directory (or the end
    record of an empty archive).
    """
    pos, names = 0, []
    while data[pos : pos + 4] == b"PK\x03\x04":
        flags, _, _, _, _, csize, _, n, e = struct.unpack_from("<4H3L2H", data, pos + 6)
        names.append(data[pos + 30 : pos + 30 + n].decode("utf-8"))
        start = pos + 30 + n + e
        if flags & 0x8:
            inflater = zlib.decompressobj(-15)
            inflater.decompress(data[start:])
            if not inflater.eof:
                return None
            pos = len(data) - len(inflater.unused_data)
            pos += 4 if data[pos : pos + 4] == b"PK\x07\x08" else 0
            pos += 12
        else:
            pos = start + csize
    if data[pos : pos + 4] not in (b"PK\x01\x02", b"PK\x05\x06"):
        return None
    return names


def read(bundle: Path) -> BundleInfo | MarketError:
    try:
        return inspect_bundle(bundle, limits=ArchiveLimits(max_entries=50))
    except MarketError as exc:
        return exc


def good_bundle(root: Path, *, streamed: bool = False) -> bytes:
    entries = good_entries({**FILES, "docs/a.md": b"# A\n" * 50, "b.bin": b"\0\1" * 9})
    write = write_streamed if streamed else write_zip
    return write(root / "good.cvnext", entries).read_bytes()


def check_accepted(bundle: Path, info: BundleInfo) -> None:
    """An accepted bundle is one any reader reads the same: same files, same order."""
    data = bundle.read_bytes()
    assert streamed_names(data) == list(_by_offset(bundle))
    assert set(info.entries) <= set(_by_offset(bundle))


def _by_offset(bundle: Path) -> list[str]:
    with zipfile.ZipFile(bundle) as zf:
        infos = sorted(zf.infolist(), key=lambda i: i.header_offset)
    return [i.orig_filename for i in infos]


MUTATION = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 2000), st.integers(0, 255)),
    st.tuples(
        st.just("insert"), st.integers(0, 2000), st.binary(min_size=1, max_size=8)
    ),
    st.tuples(st.just("delete"), st.integers(0, 2000), st.integers(1, 8)),
    st.tuples(st.just("truncate"), st.integers(0, 2000), st.just(0)),
)


def mutate(data: bytes, mutations: list) -> bytes:
    buf = bytearray(data)
    for kind, where, arg in mutations:
        at = where % (len(buf) + 1)
        if kind == "set" and buf:
            buf[min(at, len(buf) - 1)] = arg
        elif kind == "insert":
            buf[at:at] = arg
        elif kind == "delete":
            del buf[at : at + arg]
        elif kind == "truncate":
            del buf[at:]
    return bytes(buf)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    mutations=st.lists(MUTATION, min_size=1, max_size=4),
    streamed=st.booleans(),
)
def test_mutated_bundles_are_read_or_refused(mutations: list, streamed: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = mutate(good_bundle(root, streamed=streamed), mutations)
        bundle = root / "mutated.cvnext"
        bundle.write_bytes(data)
        before = listing(root)
        outcome = read(bundle)
        dest = root / "dest"
        try:
            extracted: BundleInfo | MarketError = extract_bundle(
                bundle, dest, limits=ArchiveLimits(max_entries=50)
            )
        except MarketError as exc:
            extracted = exc
        if isinstance(outcome, MarketError):
            assert isinstance(extracted, MarketError)
            assert extracted.as_dict() == outcome.as_dict()
            assert listing(root) == before
        else:
            assert extracted == outcome
            check_accepted(bundle, outcome)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=st.binary(max_size=600), tail=st.sampled_from([b"", b"PK\x05\x06" + bytes(18)])
)
def test_random_bytes_are_refused_cleanly(data: bytes, tail: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "random.cvnext"
        bundle.write_bytes(data + tail)
        assert isinstance(read(bundle), MarketError)
