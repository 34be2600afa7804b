"""Reading and extracting ``.cvnext`` bundles, above all the hostile ones.

Every hostile bundle is built here with ``zipfile``; where zipfile will not write the
thing we need (a NUL in a name, lying sizes, flag bits), a placeholder of the same
length is written and its bytes are patched in the local and central headers.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market import archive
from market.archive import extract_bundle, inspect_bundle
from market.errors import (
    ArchiveError,
    DuplicateEntryError,
    ManifestError,
)
from market.sandbox import parse_allowlist
from tests.bundles import (
    FILES,
    Entry,
    Workspace,
    good_entries,
    headers,
    listing,
    manifest_bytes,
    patch_bytes,
    patch_field,
    read_field,
    typed,
    write_zip,
)


@pytest.fixture(autouse=True)
def market_root(tmp_path: Path) -> Path:
    """Overrides the Django-backed conftest fixture: this module is pure."""
    return tmp_path / "var"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


# --- good bundles -----------------------------------------------------------------


def test_good_bundle_extracts(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries())
    dest = ws.out / "dest"
    info = extract_bundle(bundle, dest)
    assert info.manifest.id == "test.bundle"
    assert info.content_verified is True
    assert info.warnings == ()
    assert info.entries == ("assets/readme.txt", "main.py", "manifest.json")
    assert info.size == bundle.stat().st_size
    assert info.sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()
    for name, data in FILES.items():
        assert (dest / name).read_bytes() == data
        assert stat.S_IMODE((dest / name).stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "assets").stat().st_mode) == 0o755
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert sorted(listing(dest)) == ["assets", *info.entries]


def test_inspect_writes_nothing(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries(), compression=zipfile.ZIP_STORED)
    before = listing(ws.root)
    info = inspect_bundle(bundle)
    assert listing(ws.root) == before
    assert info.content_verified is True
    assert info == extract_bundle(bundle, ws.out / "dest")


def test_pure_directory_entries_are_skipped(ws: Workspace) -> None:
    bundle = ws.bundle([*good_entries(), ("assets/", b""), ("empty/", b"")])
    info = extract_bundle(bundle, ws.out / "dest")
    assert "empty/" not in info.entries
    assert not (ws.out / "dest" / "empty").exists()


def test_legacy_extension_json(ws: Workspace) -> None:
    [(_, raw), *files] = good_entries()
    info = inspect_bundle(ws.bundle([("extension.json", raw), *files]))
    assert info.manifest.source_name == "extension.json"


def test_manifest_json_wins_over_extension_json(ws: Workspace) -> None:
    files = {**FILES, "extension.json": b'{"legacy": true}'}
    info = inspect_bundle(ws.bundle(good_entries(files)))
    assert info.manifest.source_name == "manifest.json"
    assert info.content_verified is True


def test_missing_content_record_is_a_warning(ws: Workspace) -> None:
    info = inspect_bundle(ws.bundle(good_entries(content=False)))
    assert info.content_verified is False
    assert [(w.path, w.code) for w in info.warnings] == [
        ("content", "content_record_missing")
    ]


def test_destination_must_not_exist(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries())
    dest = ws.out / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        extract_bundle(bundle, dest)
    assert (dest / "keep.txt").read_text() == "mine"


def test_trust_level_and_allowlist_are_passed_on(ws: Workspace) -> None:
    routes = [{"path": "/api/studio/x", "methods": ["GET"], "expose": "global"}]
    bundle = ws.bundle(
        good_entries(
            routes=routes,
            permissions=["api.global"],
            trust={"level": "verified"},
        )
    )
    with pytest.raises(ManifestError) as excinfo:
        inspect_bundle(bundle)
    codes = [p["code"] for p in excinfo.value.details["problems"]]
    assert "route_not_allowed" in codes
    allow = parse_allowlist({"verified": ["/api/studio/"]})
    assert inspect_bundle(bundle, allowlist=allow).manifest.trust_level == "verified"
    with pytest.raises(ManifestError):
        inspect_bundle(bundle, allowlist=allow, trust_level="unverified")


# --- hostile names ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "a/../../x",
        "a/..",
        "./a",
        "a//b",
        "/etc/x",
        "//server/share/x",
        "C:/x",
        "C:x",
        "a.txt:stream",
        "a\\b",
        "..\\..\\x",
        "a\x01b.txt",
        "a\x7fb.txt",
        "bell\x07",
        "\u202etxt.exe",
        "zero\u200bwidth",
        "line\u2028sep",
        "x" * 256,
    ],
)
def test_unsafe_names(ws: Workspace, name: str) -> None:
    exc = ws.refused(ws.bundle([*good_entries(), (name, b"evil")]), "unsafe_path")
    assert exc.details["entry"] == name


# Names that would not extract to the same file on Windows, macOS and Linux, and the
# rule each breaks (details.rule).
NOT_PORTABLE = [
    *[(n, "windows_device_name") for n in ("CON", "prn.txt", "a/Aux.h", "nul.tar.gz")],
    *[(n, "windows_device_name") for n in ("COM1", "com0.log", "LPT9.txt", "lpt5")],
    *[(n, "windows_device_name") for n in ("COM\u00b9.txt", "lpt\u00b2", "COM\u00b3")],
    *[(n, "windows_device_name") for n in ("CONIN$", "conout$.txt", "con .txt")],
    ("\uff43\uff4f\uff4e.txt", "windows_device_name"),  # fullwidth: folds to con
    ("dir/NUL/x.py", "windows_device_name"),
    ("readme.", "trailing_dot_or_space"),
    ("readme ", "trailing_dot_or_space"),
    ("docs./x.md", "trailing_dot_or_space"),
    ("docs /x.md", "trailing_dot_or_space"),
    ("a...", "trailing_dot_or_space"),
    *[(f"a{c}b.txt", "windows_character") for c in '<>"|?*'],
    ("x" * 161, "too_long"),
    ("/".join(["d" * 9] * 16) + "/f", "too_long"),  # 161 characters
    ("\U0001f600" * 81, "too_long"),  # 162 UTF-16 units, 81 characters
    ("\u00e9" * 128, "too_long"),  # 128 characters but 256 bytes in one segment
    ("PROGRA~1", "windows_short_name"),
    ("docs/LONG~123.TXT", "windows_short_name"),
    ("a~1.py", "windows_short_name"),
    (".market.json", "reserved_name"),
    (".MARKET.JSON", "reserved_name"),
    ("assets/.Market.json", "reserved_name"),
    (".market.json/x.txt", "reserved_name"),
    ("\uff0emarket.json", "reserved_name"),  # a fullwidth full stop folds to "."
]


@pytest.mark.parametrize(("name", "rule"), NOT_PORTABLE)
def test_names_that_are_not_portable(ws: Workspace, name: str, rule: str) -> None:
    exc = ws.refused(ws.bundle([*good_entries(), (name, b"evil")]), "unsafe_path")
    assert exc.details == {"entry": name, "rule": rule}


@pytest.mark.parametrize(
    "name",
    [
        "con_notes.txt",
        "CONSOLE.md",
        "COM10.txt",
        "lpt.txt",
        "aux-/x.py",
        "nul_",
        " leading space.txt",
        "a.b.c.d",
        "file (1) [x] {y} #z %w &v ;u =t +s ,r 'q.txt",
        "x~1a.txt",
        "notes~draft.md",
        "backup~2.tar.gz",
        ".market.json.bak",
        "market.json",
        "caf\u00e9/\u65e5\u672c\u8a9e/\U0001f389.txt",
        "x" * 160,
        "/".join(["d" * 9] * 16),  # 159 characters
        "\u00e9" * 127,
    ],
)
def test_unusual_but_portable_names(ws: Workspace, name: str) -> None:
    archive.check_member_name(name)
    bundle = ws.bundle(good_entries({"main.py": b"x", name: b"data"}))
    info = extract_bundle(bundle, ws.out / "dest")
    assert name in info.entries
    assert (ws.out / "dest" / name).read_bytes() == b"data"


@pytest.mark.parametrize("name", ["n" * 60_000, "a" * 3000 + ":b"])
def test_a_huge_name_makes_a_small_error(ws: Workspace, name: str) -> None:
    exc = ws.refused(ws.bundle([*good_entries(), (name, b"x")]), "unsafe_path")
    assert len(exc.message) < 1000
    assert exc.details["entry"] == name[:300] + "\u2026"


def test_the_reserved_name_is_the_installers_record() -> None:
    assert archive.RESERVED_NAME == ".market.json"
    assert archive.MAX_PATH_UNITS == 160


def test_nul_in_name(ws: Workspace) -> None:
    bundle = ws.bundle([*good_entries(), ("nulQname.txt", b"x")])
    patch_bytes(bundle, b"nulQname.txt", b"nul\x00name.txt")
    exc = ws.refused(bundle, "unsafe_path")
    assert exc.details["entry"] == "nul\x00name.txt"


def test_invalid_utf8_name(ws: Workspace) -> None:
    bundle = ws.bundle([*good_entries(), ("bad-\u00e9.txt", b"x")])
    patch_bytes(bundle, "bad-\u00e9.txt".encode(), b"bad-\xff\xfe.txt")
    ws.refused(bundle, "unsafe_path")


def test_non_ascii_name_without_utf8_flag(ws: Workspace) -> None:
    bundle = ws.bundle([*good_entries(), ("caf\u00e9.txt", b"x")])
    name = "caf\u00e9.txt"
    patch_field(bundle, name, "flags", read_field(bundle, name, "flags") & ~0x800)
    ws.refused(bundle, "unsafe_path")


def test_second_unicode_path_in_extra_field(ws: Workspace) -> None:
    info = zipfile.ZipInfo("plain.txt")
    payload = b"\x01" + struct.pack("<I", 0) + b"../evil.txt"
    info.extra = struct.pack("<HH", 0x7075, len(payload)) + payload
    ws.refused(ws.bundle([*good_entries(), (info, b"x")]), "unsafe_path")


def test_local_header_name_differs(ws: Workspace) -> None:
    bundle = ws.bundle([*good_entries(), ("same.txt", b"x")])
    data = bytearray(bundle.read_bytes())
    local_at, _ = headers(bytes(data), b"same.txt")
    data[local_at + 30 : local_at + 38] = b"evil.txt"
    bundle.write_bytes(bytes(data))
    ws.refused(bundle, "corrupt_archive")


# --- hostile entry types ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("link", stat.S_IFLNK | 0o777),
        ("fifo", stat.S_IFIFO | 0o644),
        ("chardev", stat.S_IFCHR | 0o644),
        ("blockdev", stat.S_IFBLK | 0o644),
        ("socket", stat.S_IFSOCK | 0o644),
        ("file-marked-dir", stat.S_IFDIR | 0o755),
    ],
)
def test_special_entry_types(ws: Workspace, name: str, mode: int) -> None:
    entries = [*good_entries(), (typed(name, mode), b"/etc/passwd")]
    ws.refused(ws.bundle(entries), "unsafe_entry_type")


def test_symlink_message(ws: Workspace) -> None:
    entries = [*good_entries(), (typed("link", stat.S_IFLNK | 0o777), b"/etc")]
    assert "symlink" in ws.refused(ws.bundle(entries), "unsafe_entry_type").message


def test_directory_entry_with_content(ws: Workspace) -> None:
    ws.refused(ws.bundle([*good_entries(), ("dir/", b"hidden")]), "unsafe_entry_type")


# --- duplicates and collisions ----------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        ("a.txt", "a.txt"),
        ("A.txt", "a.txt"),
        ("dir/Readme", "DIR/readme"),
        ("caf\u00e9.txt", "cafe\u0301.txt"),  # NFC vs NFD
        ("\ufb01le.txt", "file.txt"),  # NFKC: the fi ligature
        ("\uff41.txt", "a.txt"),  # NFKC: fullwidth a
        ("stra\u00dfe", "STRASSE"),  # casefold
        ("a", "a/b"),  # a file and a directory
        ("A/b", "a"),
        ("d/", "d/"),
        ("manifest.json", "x"),  # a second manifest below
    ],
)
def test_duplicates_and_collisions(ws: Workspace, names: tuple[str, str]) -> None:
    first, second = names
    if first == "manifest.json":
        entries = [*good_entries(), ("Manifest.JSON", b"{}")]
    else:
        entries = [*good_entries(), (first, b"" if first.endswith("/") else b"1")]
        entries.append((second, b"" if second.endswith("/") else b"2"))
    ws.refused(ws.bundle(entries), "duplicate_entry")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Readme.txt", "README.TXT"),
        ("caf\u00e9.txt", "cafe\u0301.txt"),  # NFC and NFD
        ("\ufb01le.txt", "FILE.txt"),  # NFKC ligature, then case
        ("stra\u00dfe", "STRASSE"),
        ("docs/readme.", "DOCS/README"),  # Windows drops trailing dots and spaces
        ("notes .txt ", "notes .txt"),
        ("COM\u00b9", "com1"),
    ],
)
def test_fold_name_is_the_collision_key(first: str, second: str) -> None:
    assert archive.fold_name(first) == archive.fold_name(second)
    assert archive.fold_name("a.txt") != archive.fold_name("b.txt")
    with pytest.raises(DuplicateEntryError) as excinfo:
        archive.check_name_collisions(["manifest.json", first, second])
    assert excinfo.value.code == "duplicate_entry"
    assert excinfo.value.details == {"entries": [first, second]}


def test_check_name_collisions_accepts_distinct_names_and_directories() -> None:
    archive.check_name_collisions(["a/", "a/b.txt", "a/c.txt", "b.txt", "A-b"])
    with pytest.raises(DuplicateEntryError, match="both a file and a directory"):
        archive.check_name_collisions(["docs", "DOCS/x.md"])


# --- bombs and lies ---------------------------------------------------------------


def test_zip_bomb_by_ratio(ws: Workspace) -> None:
    bundle = ws.bundle([*good_entries(), ("zeros.bin", b"\0" * (4 * 1024 * 1024))])
    exc = ws.refused(bundle, "limit_exceeded")
    assert "ratio" in exc.message


def test_small_compressible_files_are_fine(ws: Workspace) -> None:
    files = {"zeros.bin": b"\0" * 512 * 1024}
    assert inspect_bundle(ws.bundle(good_entries(files))).content_verified


def test_zip_bomb_by_overlapping_entries(ws: Workspace) -> None:
    bundle = ws.bundle(
        [*good_entries(), ("a.txt", b"A" * 100), ("b.txt", b"B" * 100)],
        compression=zipfile.ZIP_STORED,
    )
    with zipfile.ZipFile(bundle) as zf:
        a, b = zf.getinfo("a.txt"), zf.getinfo("b.txt")
    a_data = a.header_offset + 30 + len("a.txt")
    b_end = b.header_offset + 30 + len("b.txt") + 100
    # a.txt now also "contains" b.txt's header and data: one copy counted twice.
    for field in ("csize", "usize"):
        patch_field(bundle, "a.txt", field, b_end - a_data)
    exc = ws.refused(bundle, "corrupt_archive")
    assert "overlap" in exc.message


def test_entry_running_into_central_directory(ws: Workspace) -> None:
    bundle = ws.bundle(
        [*good_entries(), ("last.txt", b"L" * 100)], compression=zipfile.ZIP_STORED
    )
    for field in ("csize", "usize"):
        patch_field(bundle, "last.txt", field, 5000)
    ws.refused(bundle, "corrupt_archive")


@pytest.mark.parametrize("declared", [500, 999, 1001, 4000])
def test_size_that_lies(ws: Workspace, declared: int) -> None:
    data = bytes(range(256)) * 4  # 1024 bytes
    bundle = ws.bundle([*good_entries(), ("lie.bin", data[:1000])])
    patch_field(bundle, "lie.bin", "usize", declared)
    ws.refused(bundle, "corrupt_archive")


def test_stored_size_that_lies(ws: Workspace) -> None:
    bundle = ws.bundle(
        [*good_entries(), ("lie.bin", b"x" * 100)], compression=zipfile.ZIP_STORED
    )
    patch_field(bundle, "lie.bin", "usize", 10)
    ws.refused(bundle, "corrupt_archive")


def test_crc_mismatch(ws: Workspace) -> None:
    bundle = ws.bundle(
        [*good_entries(), ("data.txt", b"original")], compression=zipfile.ZIP_STORED
    )
    patch_bytes(bundle, b"original", b"tampered", count=1)
    ws.refused(bundle, "corrupt_archive")


# --- limits -----------------------------------------------------------------------


def test_package_too_large(ws: Workspace) -> None:
    ws.refused(ws.bundle(good_entries()), "package_too_large", max_package_bytes=100)


def test_single_file_too_large(ws: Workspace) -> None:
    bundle = ws.bundle([*good_entries({"big.bin": b"b" * 5000})])
    exc = ws.refused(bundle, "limit_exceeded", max_file_bytes=4096)
    assert exc.details["entry"] == "big.bin"


def test_too_many_entries(ws: Workspace) -> None:
    files = {f"f{i}.txt": b"x" for i in range(10)}
    ws.refused(ws.bundle(good_entries(files)), "limit_exceeded", max_entries=5)


def test_total_size_too_big(ws: Workspace) -> None:
    files = {f"f{i}.txt": b"x" * 3000 for i in range(4)}
    bundle = ws.bundle(good_entries(files))
    ws.refused(bundle, "limit_exceeded", max_total_bytes=10_000)


# --- flags and compression --------------------------------------------------------


@pytest.mark.parametrize("bit", [0x1, 0x40])
def test_encrypted_entry(ws: Workspace, bit: int) -> None:
    bundle = ws.bundle([*good_entries(), ("secret.txt", b"x" * 20)])
    patch_field(bundle, "secret.txt", "flags", bit)
    ws.refused(bundle, "encrypted_entry")


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_unsupported_compression(ws: Workspace, method: int) -> None:
    bundle = ws.bundle(good_entries(), compression=method)
    ws.refused(bundle, "unsupported_compression")


def test_unknown_compression_method(ws: Workspace) -> None:
    bundle = ws.bundle([*good_entries(), ("odd.bin", b"x" * 10)])
    patch_field(bundle, "odd.bin", "method", 99)
    ws.refused(bundle, "unsupported_compression")


# --- not a zip --------------------------------------------------------------------


def test_random_bytes(ws: Workspace) -> None:
    bundle = ws.bundles / "random.cvnext"
    bundle.write_bytes(os.urandom(4096))
    ws.refused(bundle, "corrupt_archive")


def test_empty_file(ws: Workspace) -> None:
    bundle = ws.bundles / "empty.cvnext"
    bundle.write_bytes(b"")
    ws.refused(bundle, "corrupt_archive")


@pytest.mark.parametrize("cut", [10, 200, 0.5])
def test_truncated_zip(ws: Workspace, cut: float) -> None:
    bundle = ws.bundle(good_entries())
    data = bundle.read_bytes()
    keep = int(len(data) * cut) if cut < 1 else len(data) - int(cut)
    bundle.write_bytes(data[:keep])
    ws.refused(bundle, "corrupt_archive")


def test_missing_bundle_file(ws: Workspace) -> None:
    ws.refused(ws.bundles / "nope.cvnext", "corrupt_archive")


# --- manifest and content record --------------------------------------------------


def test_missing_manifest(ws: Workspace) -> None:
    ws.refused(ws.bundle(list(FILES.items())), "manifest_missing")


def test_manifest_not_at_root(ws: Workspace) -> None:
    [(_, raw), *files] = good_entries()
    ws.refused(ws.bundle([("sub/manifest.json", raw), *files]), "manifest_missing")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe{}", "invalid_encoding"),
        ('{"name": "caf\u00e9"}'.encode("latin-1"), "invalid_encoding"),
        (b"[1, 2]", "not_an_object"),
    ],
)
def test_manifest_unreadable(ws: Workspace, raw: bytes, problem: str) -> None:
    exc = ws.refused(ws.bundle([("manifest.json", raw)]), "manifest_invalid")
    assert [p["code"] for p in exc.details["problems"]] == [problem]


def test_manifest_invalid(ws: Workspace) -> None:
    bundle = ws.bundle(good_entries(id="Bad Id"))
    ws.refused(bundle, "manifest_invalid")


def test_content_file_changed(ws: Workspace) -> None:
    [manifest, *_] = good_entries()
    changed = {**FILES, "main.py": b"print('pwned')\n"}
    exc = ws.refused(ws.bundle([manifest, *changed.items()]), "content_mismatch")
    assert exc.details["declared"]["sha256"] != exc.details["actual"]["sha256"]
    assert exc.details["actual"]["files"] == exc.details["declared"]["files"]


def test_content_file_resized(ws: Workspace) -> None:
    [manifest, *_] = good_entries()
    resized = {**FILES, "main.py": FILES["main.py"] + b"#"}
    exc = ws.refused(ws.bundle([manifest, *resized.items()]), "content_mismatch")
    assert exc.details["actual"]["bytes"] == exc.details["declared"]["bytes"] + 1


def test_content_file_added(ws: Workspace) -> None:
    bundle = ws.bundle([*good_entries(), ("extra.py", b"import os\n")])
    exc = ws.refused(bundle, "content_mismatch")
    assert "extra.py" in exc.details["entries"]
    assert exc.details["actual"]["files"] == exc.details["declared"]["files"] + 1


def test_content_file_removed(ws: Workspace) -> None:
    [manifest, first, _] = good_entries()
    exc = ws.refused(ws.bundle([manifest, first]), "content_mismatch")
    assert exc.details["actual"]["files"] == exc.details["declared"]["files"] - 1


ROUTE = {"path": "/x", "methods": ["GET"], "expose": "extension", "callable": "f"}
PANEL = {"slot": "inspector", "label": "Inspector", "path": "assets/readme.txt"}


@pytest.mark.parametrize(
    ("extra", "at", "missing"),
    [
        ({"routes": [{**ROUTE, "entry": "pkg/missing.py"}]}, "routes[0].entry", None),
        (
            {
                "permissions": ["ui.panels"],
                "ui": {"panels": [{**PANEL, "icon": "assets/icon.png"}]},
            },
            "ui.panels[0].icon",
            None,
        ),
        ({"routes": [{**ROUTE, "entry": "main.py"}]}, "routes[0].entry", "main.py"),
    ],
    ids=["route-entry", "panel-icon", "legacy-file-removed"],
)
def test_referenced_file_missing(
    ws: Workspace, extra: dict, at: str, missing: str | None
) -> None:
    # The last case has no content record, so only the reference can tell.
    files = {k: v for k, v in FILES.items() if k != missing}
    bundle = ws.bundle(good_entries(files, content=missing is None, **extra))
    exc = ws.refused(bundle, "manifest_invalid")
    assert [(p["path"], p["code"]) for p in exc.details["problems"]] == [
        (at, "missing_file")
    ]


def test_referenced_file_reported_with_other_problems(ws: Workspace) -> None:
    routes = [{**ROUTE, "entry": "pkg/missing.py"}]
    bundle = ws.bundle(good_entries(routes=routes, version="x"))
    exc = ws.refused(bundle, "manifest_invalid")
    paths = {p["path"]: p["code"] for p in exc.details["problems"]}
    assert paths["routes[0].entry"] == "missing_file"
    assert "version" in paths


def test_referenced_file_removed_after_packaging_is_a_content_mismatch(
    ws: Workspace,
) -> None:
    routes = [{**ROUTE, "entry": "main.py"}]
    [manifest, *_] = good_entries(routes=routes)
    kept = [(k, v) for k, v in FILES.items() if k != "main.py"]
    exc = ws.refused(ws.bundle([manifest, *kept]), "content_mismatch")
    assert exc.details["actual"]["files"] == exc.details["declared"]["files"] - 1


def test_referenced_files_present_pass(ws: Workspace) -> None:
    routes = [{**ROUTE, "entry": "main.py"}]
    panels = [{**PANEL, "icon": "assets/readme.txt"}]
    bundle = ws.bundle(
        good_entries(routes=routes, permissions=["ui.panels"], ui={"panels": panels})
    )
    assert inspect_bundle(bundle).content_verified is True


def test_content_mismatch_after_writing_leaves_nothing(ws: Workspace) -> None:
    # Content is only known after every file was written: the cleanup must run.
    [manifest, *_] = good_entries()
    big = {**FILES, "main.py": b"x" * 300_000}
    ws.refused(ws.bundle([manifest, *big.items()]), "content_mismatch")


# --- property: any member name ----------------------------------------------------

SEGMENTS = st.sampled_from(
    ["..", ".", "", "a", "A", "b", "C:", "\\", "..\\x", "\x00", "\u00e9", "e\u0301"]
)
NAMES = st.one_of(
    st.text(min_size=1, max_size=40),
    st.lists(SEGMENTS, min_size=1, max_size=5).map("/".join),
    st.lists(st.one_of(SEGMENTS, st.text(max_size=5)), min_size=1).map("/".join),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(NAMES, min_size=1, max_size=3))
def test_any_names_are_refused_or_stay_inside(names: list[str]) -> None:
    written = []
    for name in names:
        try:
            stored = zipfile.ZipInfo(name).filename
            stored.encode("utf-8")
        except UnicodeEncodeError:
            continue
        if stored:
            written.append((name, stored))
    files = {}
    for _, stored in written:
        files.setdefault(stored, f"data of {stored!r}".encode())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "out").mkdir()
        bundle = root / "b.cvnext"
        entries: list[Entry] = [("manifest.json", manifest_bytes(files))]
        entries += [(name, f"data of {stored!r}".encode()) for name, stored in written]
        write_zip(bundle, entries)
        before = listing(root)
        dest = root / "out" / "dest"
        try:
            info = extract_bundle(bundle, dest)
        except ArchiveError:
            assert not os.path.lexists(dest)
            assert listing(root) == before
            return
        real_dest = os.path.realpath(dest)
        for path in dest.rglob("*"):
            assert os.path.realpath(path).startswith(real_dest + os.sep)
            assert not path.is_symlink()
        assert set(info.entries) == {"manifest.json", *files}
        assert {p for p in listing(root) if not p.startswith("out/dest/")} == {
            *before,
            "out/dest",
        }


def test_package_is_pure() -> None:
    modules = sorted(Path(archive.__file__).parent.glob("*.py"))
    assert {m.name for m in modules} >= {"__init__.py", "names.py", "reader.py"}
    for module in modules:
        source = module.read_text()
        assert "django" not in source, module.name
        assert "extractall" not in source, module.name
