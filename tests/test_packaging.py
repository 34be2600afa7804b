"""The packager: byte-identical bundles, their layout, digests and refusals."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market import packaging
from market.archive import check_name_collisions, fold_name, inspect_bundle
from market.errors import (
    DuplicateEntryError,
    ManifestError,
    ManifestMissingError,
    MarketError,
    PackagingError,
    SignatureMismatchError,
    SignatureUnsupportedError,
    UnsafePathError,
)
from market.packaging import build_package, check_package, collect_files

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "extensions"
BIG = packaging.STREAM_THRESHOLD + 123_457  # takes the streaming path

EXTRA_FILES = {
    "docs/guide.md": b"# Guide\n" + b"Some words about scenes.\n" * 400,
    "docs/a-b.txt": b"dash sorts before slash\n",
    "docs/a/b.txt": b"nested\n",
    "Zeta.txt": b"upper case sorts first\n",
    "assets/bg.webp": bytes(range(256)) * 40,
    "assets/theme.OGG": b"OggS" + bytes(500),
    "locale/caf\u00e9.json": '{"bonjour": "caf\u00e9"}\n'.encode(),
    "empty.txt": b"",
}


def make_tree(dst: Path, *, reverse: bool = False, big: bool = False) -> Path:
    """hello_minimal plus a varied set of files, created in the order asked."""
    shutil.copytree(FIXTURES / "hello_minimal", dst)
    files = dict(EXTRA_FILES)
    if big:
        files["data/corpus.csv"] = b"scene,line,speaker\n" * (BIG // 19 + 1)
    for rel in sorted(files, reverse=reverse):
        path = dst / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[rel])
    return dst


def edit_manifest(src: Path, change) -> None:
    path = src / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- determinism --------------------------------------------------------------------


def test_same_bytes_whatever_mtimes_umask_and_creation_order(tmp_path):
    first = make_tree(tmp_path / "one", big=True)
    old = os.umask(0o077)
    try:
        second = make_tree(tmp_path / "two", reverse=True, big=True)
    finally:
        os.umask(old)
    for i, path in enumerate(sorted(second.rglob("*"))):
        os.utime(path, (1_000_000_000 + i, 1_600_000_000 + i * 7919))
    a = build_package(first, tmp_path / "out1")
    b = build_package(second, tmp_path / "out2", workers=1)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert (a.sha256, a.manifest_sha256) == (b.sha256, b.manifest_sha256)


def test_parallel_writer_matches_plain_zipfile(tmp_path):
    """The worker path gives the bytes zipfile gives on its own (workers=0)."""
    src = make_tree(tmp_path / "src", big=True)
    fast = build_package(src, tmp_path / "fast", workers=4)
    plain = build_package(src, tmp_path / "plain", workers=0)
    assert fast.path.read_bytes() == plain.path.read_bytes()


CROSS_SCRIPT = """
import sys
from market.packaging import build_package
print(build_package(sys.argv[1], sys.argv[2], force=True).sha256)
"""


def _interpreters() -> list[str]:
    """This interpreter, those named in COMFYVN_ALT_PYTHONS (required) and any other
    python3.1x on PATH that can import the project (optional)."""
    required = [
        n for n in os.environ.get("COMFYVN_ALT_PYTHONS", "").split(os.pathsep) if n
    ]
    found = [sys.executable]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in [*required, "python3.11", "python3.12", "python3.13"]:
        exe = shutil.which(name)
        if name in required:
            assert exe is not None, f"COMFYVN_ALT_PYTHONS names a missing {name}"
        if exe is None or os.path.realpath(exe) in map(os.path.realpath, found):
            continue
        probe = subprocess.run(
            [exe, "-c", "import rfc8785, jsonschema, market.packaging"],
            env=env,
            capture_output=True,
            text=True,
        )
        if name in required:
            assert probe.returncode == 0, (
                f"{name} cannot import the project: {probe.stderr}"
            )
        if probe.returncode == 0:
            found.append(exe)
    return found


def test_same_bytes_from_every_available_interpreter(tmp_path):
    src = make_tree(tmp_path / "src", big=True)
    expected = build_package(src, tmp_path / "in-process").sha256
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for i, exe in enumerate(_interpreters()):
        out = subprocess.run(
            [exe, "-c", CROSS_SCRIPT, str(src), str(tmp_path / f"out{i}")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == expected, exe


# --- layout -------------------------------------------------------------------------


def test_entries_are_manifest_first_then_sorted_with_fixed_metadata(tmp_path):
    result = build_package(make_tree(tmp_path / "src"), tmp_path / "out")
    with zipfile.ZipFile(result.path) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names[0] == "manifest.json"
    assert names[1:] == sorted(["hello.py", *EXTRA_FILES])
    assert result.files == len(names)
    assert result.bytes == result.path.stat().st_size
    for info in infos:
        assert not info.is_dir()
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr == 0o100644 << 16
        assert info.create_system == 3
        assert info.extra == b""
        assert bool(info.flag_bits & 0x800) == (not info.filename.isascii())
        assert info.flag_bits & ~0x800 == 0
        media = info.filename.lower().endswith((".webp", ".ogg"))
        expected = zipfile.ZIP_STORED if media else zipfile.ZIP_DEFLATED
        assert info.compress_type == expected, info.filename


def test_manifest_digest_and_content_record_recompute_independently(tmp_path):
    src = make_tree(tmp_path / "src")
    result = build_package(src, tmp_path / "out")
    with zipfile.ZipFile(result.path) as zf:
        raw = zf.read("manifest.json")
        others = [
            [i.filename, sha(zf.read(i)), i.file_size]
            for i in zf.infolist()
            if i.filename != "manifest.json"
        ]
    data = json.loads(raw)
    assert (
        raw
        == (
            json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        ).encode()
    )
    trust = {
        k: v
        for k, v in data["trust"].items()
        if k not in ("signature", "signature_type")
    }
    digest = sha(rfc8785.dumps({**data, "trust": trust}))
    assert digest == result.manifest_sha256
    assert f"manifest_sha256={digest}" in result.format_text()
    assert data["content"] == {
        "sha256": sha(rfc8785.dumps(sorted(others))),
        "files": len(others),
        "bytes": sum(size for _, _, size in others),
    }
    assert sha(result.path.read_bytes()) == result.sha256
    assert inspect_bundle(result.path).content_verified


def test_one_changed_byte_changes_both_digests(tmp_path):
    src = make_tree(tmp_path / "src")
    before = build_package(src, tmp_path / "out")
    path = src / "docs" / "guide.md"
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    after = build_package(src, tmp_path / "out", force=True)
    assert after.sha256 != before.sha256
    assert after.manifest_sha256 != before.manifest_sha256


def test_format_text_is_the_spec_block(tmp_path):
    result = build_package(FIXTURES / "sample_toolkit", tmp_path)
    assert result.format_text().splitlines() == [
        f"[ok] created {tmp_path.resolve() / 'sample.toolkit-1.2.3.cvnext'}",
        f"      files={result.files} bytes={result.bytes} sha256={result.sha256}",
        "      manifest id=sample.toolkit version=1.2.3",
        f"      trust=verified manifest_sha256={result.manifest_sha256}",
    ]
    assert result.as_dict()["manifest"] == {
        "id": "sample.toolkit",
        "version": "1.2.3",
        "trust": "verified",
    }


@pytest.mark.parametrize("name", ["hello_minimal", "sample_toolkit", "legacy_tools"])
def test_sample_extensions_package_and_inspect(tmp_path, name):
    result = build_package(FIXTURES / name, tmp_path)
    info = inspect_bundle(result.path)
    assert info.sha256 == result.sha256
    assert info.manifest.digest() == result.manifest_sha256
    assert "extension.json" not in info.entries


def test_matching_sha256_signature_is_accepted_and_typed(tmp_path):
    src = make_tree(tmp_path / "src")
    digest = build_package(src, tmp_path / "a").manifest_sha256
    edit_manifest(src, lambda d: d["trust"].update(signature=f"sha256:{digest}"))
    result = build_package(src, tmp_path / "b")
    assert result.manifest_sha256 == digest
    assert result.manifest.data["trust"]["signature_type"] == "sha256"


# --- what is packed -----------------------------------------------------------------


def test_skips_hidden_caches_logs_and_ignored_paths(tmp_path):
    src = make_tree(tmp_path / "src")
    for rel in [
        ".git/config",
        ".env",
        "docs/.hidden.md",
        "__pycache__/hello.cpython-311.pyc",
        "pkg/mod.pyc",
        "pkg/mod.pyo",
        "debug.log",
        ".DS_Store",
        "Thumbs.db",
        "build/out.txt",
        "notes/draft.tmp",
    ]:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("x")
    names = {f.name for f in collect_files(src, ignore=["build", "*.tmp"])}
    assert names == {"hello.py", *EXTRA_FILES}
    hidden = {f.name for f in collect_files(src, include_hidden=True, ignore=["build"])}
    assert {".git/config", ".env", "docs/.hidden.md", "notes/draft.tmp"} <= hidden
    assert ".DS_Store" not in hidden


def test_never_packs_its_own_output(tmp_path):
    src = make_tree(tmp_path / "src")
    first = build_package(src, src / "dist")
    (src / "dist" / "older-0.0.1.cvnext").write_bytes(b"old")
    second = build_package(src, src / "dist", force=True)
    assert second.sha256 == first.sha256
    with zipfile.ZipFile(second.path) as zf:
        assert not any(n.startswith("dist/") for n in zf.namelist())


def test_legacy_extension_json_becomes_manifest_json(tmp_path):
    result = build_package(FIXTURES / "legacy_tools", tmp_path)
    with zipfile.ZipFile(result.path) as zf:
        assert zf.namelist()[0] == "manifest.json"
        assert "extension.json" not in zf.namelist()
    assert [w.code for w in result.manifest.warnings] == ["legacy_filename"]


# --- output file ----------------------------------------------------------------------


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "new" / "dir"
    first = build_package(FIXTURES / "hello_minimal", out)
    with pytest.raises(PackagingError) as exc:
        build_package(FIXTURES / "hello_minimal", out)
    assert exc.value.code == "packaging_failed"
    assert "--force" in exc.value.message
    assert build_package(FIXTURES / "hello_minimal", out, force=True).sha256 == (
        first.sha256
    )


def test_failure_midway_leaves_no_file(tmp_path):
    src = make_tree(tmp_path / "src")
    out = tmp_path / "out"

    def explode(done, total, done_bytes, total_bytes):
        if done == 3:
            raise PackagingError("stop")

    with pytest.raises(PackagingError):
        build_package(src, out, progress=explode)
    assert list(out.iterdir()) == []


def test_progress_reports_every_file_and_byte(tmp_path):
    src = make_tree(tmp_path / "src")
    calls = []
    build_package(src, tmp_path / "out", progress=lambda *a: calls.append(a))
    total = len(EXTRA_FILES) + 1
    size = sum(len(v) for v in EXTRA_FILES.values()) + (src / "hello.py").stat().st_size
    assert calls[-1] == (total, total, size, size)
    assert [c[0] for c in calls] == list(range(1, total + 1))


def test_check_package_compares_bytes(tmp_path):
    src = make_tree(tmp_path / "src")
    built = build_package(src, tmp_path / "out")
    identical, rebuilt = check_package(src, built.path)
    assert identical and rebuilt.sha256 == built.sha256
    (src / "empty.txt").write_text("changed")
    identical, rebuilt = check_package(src, built.path)
    assert not identical and rebuilt.sha256 != built.sha256


# --- hostile sources ------------------------------------------------------------------


def assert_nothing_written(out: Path) -> None:
    assert not out.exists() or list(out.iterdir()) == []


def test_symlink_is_refused_not_followed(tmp_path):
    src = make_tree(tmp_path / "src")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", src / "docs" / "link.txt")
    with pytest.raises(PackagingError) as exc:
        build_package(src, tmp_path / "out")
    assert "docs/link.txt is a symlink" in exc.value.message
    assert exc.value.details == {"path": "docs/link.txt"}
    assert_nothing_written(tmp_path / "out")


def test_symlinked_directory_and_manifest_are_refused(tmp_path):
    src = make_tree(tmp_path / "src")
    os.symlink(tmp_path, src / "up")
    with pytest.raises(PackagingError, match="up is a symlink"):
        build_package(src, tmp_path / "out")
    os.unlink(src / "up")
    real = tmp_path / "real.json"
    (src / "manifest.json").rename(real)
    os.symlink(real, src / "manifest.json")
    with pytest.raises(PackagingError, match=r"manifest\.json is a symlink"):
        build_package(src, tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_file_is_refused(tmp_path):
    src = make_tree(tmp_path / "src")
    os.mkfifo(src / "pipe")
    with pytest.raises(PackagingError, match="pipe is a special file"):
        build_package(src, tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


@pytest.mark.skipif(sys.platform != "linux", reason="needs byte file names")
def test_non_utf8_file_name_is_refused(tmp_path):
    src = make_tree(tmp_path / "src")
    with open(os.path.join(os.fsencode(src), b"bad\xff.txt"), "wb") as handle:
        handle.write(b"x")
    with pytest.raises(PackagingError, match="not valid UTF-8"):
        build_package(src, tmp_path / "out")


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("back\\slash.txt", "backslash"),
        ("CON", "windows_device_name"),
        ("docs/aux.md", "windows_device_name"),
        ("nul.tar.gz", "windows_device_name"),
        ("COM\u00b9.txt", "windows_device_name"),
        ("LPT\u00b3", "windows_device_name"),
        ("conin$", "windows_device_name"),
        ("CONOUT$.txt", "windows_device_name"),
        ("NUL/inside.py", "windows_device_name"),
        ("readme.", "trailing_dot_or_space"),
        ("readme ", "trailing_dot_or_space"),
        ("folder./x.txt", "trailing_dot_or_space"),
        ("a<b.txt", "windows_character"),
        ("what?.txt", "windows_character"),
        ("star*.txt", "windows_character"),
        ("pipe|.txt", "windows_character"),
        ('quote".txt', "windows_character"),
        ("a:b", "windows_character"),
        ("tab\there.txt", "invisible_character"),
        ("PROGRA~1", "windows_short_name"),
        ("/".join(["deep"] * 32) + "/file.txt", "too_long"),
        ("\U0001f600" * 40 + "/" + "\U0001f600" * 41, "too_long"),  # 163 units
    ],
)
def test_non_portable_file_name_is_refused(tmp_path, name, rule):
    src = make_tree(tmp_path / "src")
    (src / name).parent.mkdir(parents=True, exist_ok=True)
    (src / name).write_text("x")
    with pytest.raises(UnsafePathError) as exc:
        build_package(src, tmp_path / "out")
    assert exc.value.code == "unsafe_path"
    assert exc.value.details == {"path": name, "rule": rule}
    assert exc.value.message.startswith(f"{name}: cannot be packed: ")
    assert_nothing_written(tmp_path / "out")


@pytest.mark.parametrize("name", [".market.json", "assets/.MARKET.JSON"])
def test_the_installers_record_is_never_packed(tmp_path, name):
    src = make_tree(tmp_path / "src")
    (src / name).write_text("{}")
    # Hidden files are skipped by default: the bundle simply does not have it.
    result = build_package(src, tmp_path / "out")
    with zipfile.ZipFile(result.path) as zf:
        assert name not in zf.namelist()
    with pytest.raises(UnsafePathError) as exc:
        build_package(src, tmp_path / "out2", include_hidden=True)
    assert exc.value.details == {"path": name, "rule": "reserved_name"}
    assert_nothing_written(tmp_path / "out2")


# Every kind of name that is unusual but portable: the packager packs them and the
# installer reads the bundle back, file for file.
UNUSUAL_NAMES = [
    "caf\u00e9/cr\u00e8me br\u00fbl\u00e9e.txt",
    "\u65e5\u672c\u8a9e/\u30c6\u30b9\u30c8.md",
    "\u0645\u0631\u062d\u0628\u0627.txt",
    "emoji \U0001f389/\U0001f600.json",
    "Stra\u00dfe.txt",
    " leading space.txt",
    "dots.in.the.middle.tar.gz",
    "file (1) [x] {y} #z %w &v ;u =t +s ,r 'q !p @o $n ^m `l.txt",
    "con_notes.txt",
    "CONSOLE.md",
    "COM10.txt",
    "lpt.txt",
    "auxiliary/nul_/prn-/x.py",
    "x~1a.txt",
    "notes~draft.md",
    "backup~2.tar.gz",
    "market.json",
    "nested/manifest.json",
    ".market.json.bak",
    "-dash/_under/=eq",
    "/".join(["d"] * 60) + "/deepest.txt",
    "/".join(["n" * 9] * 15) + "/" + "f" * 9,  # exactly 159 characters
    "\u00e9" * 127,  # 254 bytes in one segment
]


def test_unusual_but_portable_names_round_trip(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(FIXTURES / "hello_minimal", src)
    for i, name in enumerate(UNUSUAL_NAMES):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(f"file {i}\n".encode())
    result = build_package(src, tmp_path / "out", include_hidden=True)
    dest = tmp_path / "dest"
    from market.archive import extract_bundle

    info = extract_bundle(result.path, dest)
    assert info.content_verified
    assert set(UNUSUAL_NAMES) <= set(info.entries)
    for i, name in enumerate(UNUSUAL_NAMES):
        assert (dest / name).read_bytes() == f"file {i}\n".encode()


def _create_both(src: Path, first: str, second: str) -> None:
    for rel, data in ((first, b"1"), (second, b"2")):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    if not (src / second).exists() or (src / first).read_bytes() == b"2":
        pytest.skip("this file system folds the names itself")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("README.TXT", "Readme.txt"),
        ("docs/caf\u00e9.md", "docs/cafe\u0301.md"),  # NFC and NFD
        ("STRASSE.txt", "stra\u00dfe.txt"),
        ("Manifest.json", "hello.py"),  # collides with the manifest entry itself
        ("Docs/x.md", "docs"),  # a file and a directory
    ],
    ids=["case", "nfc-nfd", "casefold", "manifest", "file-and-directory"],
)
def test_colliding_names_are_refused(tmp_path, first, second):
    src = make_tree(tmp_path / "src")
    if first != "Manifest.json":
        (src / "docs").rename(src / "guides")  # so that "docs" is free
        _create_both(src, first, second)
    else:
        (src / first).write_text("{}")
    with pytest.raises(DuplicateEntryError) as exc:
        build_package(src, tmp_path / "out")
    assert exc.value.code == "duplicate_entry"
    assert "cannot be packed" in exc.value.message
    assert set(exc.value.details["entries"]) <= {
        "manifest.json",
        first,
        second,
    }
    assert len(exc.value.details["entries"]) == 2
    assert_nothing_written(tmp_path / "out")


def test_packager_and_installer_share_the_collision_rule(tmp_path):
    names = ["manifest.json", "a/B.txt", "a/b.TXT"]
    with pytest.raises(DuplicateEntryError) as rule:
        check_name_collisions(names)
    src = make_tree(tmp_path / "src")
    _create_both(src, "a/B.txt", "a/b.TXT")
    with pytest.raises(DuplicateEntryError) as packer:
        collect_files(src)
    assert packer.value.details == rule.value.details
    assert fold_name("a/B.txt") == fold_name("a/b.TXT")


_PORTABLE = st.text(
    st.sampled_from("aAbBz19_-\u00e9e\u0301\u00df\u65e5\U0001f600"),
    min_size=1,
    max_size=8,
)
SEGMENT = st.one_of(
    *[_PORTABLE] * 6,
    st.tuples(_PORTABLE, st.sampled_from([".", " ", "~1", ".txt", "~2.py"])).map(
        "".join
    ),
    st.text(st.sampled_from("ab.~ 1\u00b9$<?|\t\uff41\uff0e"), min_size=1, max_size=6),
    st.sampled_from(["CON", "nul.txt", "com1", "Readme", "README", ".market.json"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    names=st.lists(st.lists(SEGMENT, min_size=1, max_size=4).map("/".join), max_size=6)
)
def test_the_packager_never_writes_a_bundle_the_installer_refuses(names):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(FIXTURES / "hello_minimal", src)
        for i, name in enumerate(names):
            if any(part in (".", "..") for part in name.split("/")):
                continue
            path = src / name
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(f"file {i}".encode())
            except OSError:
                continue  # a folder where a file is, or a file where a folder is
        try:
            result = build_package(src, Path(tmp) / "out", include_hidden=True)
        except MarketError:
            assert not (Path(tmp) / "out").exists() or not any(
                (Path(tmp) / "out").iterdir()
            )
            return
        info = inspect_bundle(result.path)
        assert info.sha256 == result.sha256 and info.content_verified


# --- referenced files -----------------------------------------------------------------


def test_missing_panel_icon_is_refused(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(FIXTURES / "sample_toolkit", src)
    (src / "assets" / "icon.png").unlink()
    with pytest.raises(ManifestError) as exc:
        build_package(src, tmp_path / "out")
    assert [(p.path, p.code) for p in exc.value.problems] == [
        ("ui.panels[0].icon", "missing_file")
    ]
    assert "'assets/icon.png'" in exc.value.problems[0].message
    assert_nothing_written(tmp_path / "out")


def test_missing_route_entry_is_refused_with_every_other_problem(tmp_path):
    src = make_tree(tmp_path / "src")
    edit_manifest(src, lambda d: d["routes"][0].update(entry="pkg/missing.py"))
    with pytest.raises(ManifestError) as exc:
        build_package(src, tmp_path / "out")
    assert [(p.path, p.code) for p in exc.value.problems] == [
        ("routes[0].entry", "missing_file")
    ]
    edit_manifest(src, lambda d: d.update(version="x"))
    with pytest.raises(ManifestError) as exc:
        build_package(src, tmp_path / "out")
    codes = {p.path: p.code for p in exc.value.problems}
    assert codes["routes[0].entry"] == "missing_file" and "version" in codes
    (src / "pkg").mkdir()
    (src / "pkg" / "missing.py").write_text("def hello():\n    return 'hi'\n")
    edit_manifest(src, lambda d: d.update(version="0.2.0"))
    assert "pkg/missing.py" in inspect_bundle(build_package(src, tmp_path).path).entries


def test_skipped_or_ignored_referenced_file_is_missing(tmp_path):
    src = make_tree(tmp_path / "src")
    with pytest.raises(ManifestError) as exc:
        build_package(src, tmp_path / "out", ignore=["hello.py"])
    assert [p.code for p in exc.value.problems] == ["missing_file"]
    edit_manifest(src, lambda d: d["routes"][0].update(entry=".hidden/hello.py"))
    (src / ".hidden").mkdir()
    shutil.copy(src / "hello.py", src / ".hidden" / "hello.py")
    with pytest.raises(ManifestError):
        build_package(src, tmp_path / "out")
    assert build_package(src, tmp_path / "out", include_hidden=True).files > 1


def _global_route(path: str, level: str, ext_id: str | None = None):
    def change(data):
        if ext_id:
            data["id"] = ext_id
        data["permissions"] = ["api.global"]
        data["routes"] = [{"path": path, "expose": "global"}]
        data["trust"] = {"level": level}

    return change


@pytest.mark.parametrize(
    ("change", "path", "code"),
    [
        (lambda d: d.update(version="1.0.0/../../x"), "version", "invalid_version"),
        (_global_route("/api/modder/x", "unverified"), "routes[0].path", None),
        (
            _global_route("/api/extensions/other.ext/x", "verified"),
            "routes[0].path",
            None,
        ),
        (_global_route("/ws/modderevil", "verified"), "routes[0].path", None),
    ],
    ids=["version-traversal", "unverified-global", "other-namespace", "ws-prefix"],
)
def test_manifest_problems_are_refused(tmp_path, change, path, code):
    src = make_tree(tmp_path / "src")
    edit_manifest(src, change)
    with pytest.raises(ManifestError) as exc:
        build_package(src, tmp_path / "out")
    problem = next(p for p in exc.value.problems if p.path == path)
    assert problem.code == (code or "route_not_allowed")
    assert_nothing_written(tmp_path / "out")


def test_every_manifest_problem_is_reported_at_once(tmp_path):
    src = make_tree(tmp_path / "src")
    edit_manifest(
        src,
        lambda d: d.update(
            version="x", permissions=["no.such.scope"], hooks=["on_nothing"]
        ),
    )
    with pytest.raises(ManifestError) as exc:
        build_package(src, tmp_path / "out")
    paths = {p.path for p in exc.value.problems}
    assert {"version", "permissions[0]", "hooks[0]"} <= {
        p.split(".scope")[0] for p in paths
    }


@pytest.mark.parametrize(
    ("signature", "error"),
    [
        ("sha256:" + "0" * 64, SignatureMismatchError),
        ("md5:d41d8cd98f00b204e9800998ecf8427e", SignatureUnsupportedError),
    ],
)
def test_bad_signatures_abort(tmp_path, signature, error):
    src = make_tree(tmp_path / "src")
    edit_manifest(src, lambda d: d["trust"].update(signature=signature))
    with pytest.raises(error):
        build_package(src, tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"id": "hello.minimal",', "invalid_json"),
        (b'{"id": "\xff"}', "invalid_encoding"),
    ],
)
def test_unreadable_manifest_is_refused(tmp_path, raw, code):
    src = make_tree(tmp_path / "src")
    (src / "manifest.json").write_bytes(raw)
    with pytest.raises(ManifestError) as exc:
        build_package(src, tmp_path / "out")
    assert [p.code for p in exc.value.problems] == [code]
    assert_nothing_written(tmp_path / "out")


def test_missing_manifest_is_refused(tmp_path):
    src = make_tree(tmp_path / "src")
    (src / "manifest.json").unlink()
    with pytest.raises(ManifestMissingError):
        build_package(src, tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


def test_file_changed_between_reads_is_refused(tmp_path):
    src = make_tree(tmp_path / "src", big=True)
    big = src / "data" / "corpus.csv"

    def tamper(done, total, done_bytes, total_bytes):
        if done == 1:  # the big file streams later, in the writing thread
            data = bytearray(big.read_bytes())
            data[0] ^= 1
            big.write_bytes(bytes(data))

    with pytest.raises(PackagingError, match=r"data/corpus\.csv changed"):
        build_package(src, tmp_path / "out", progress=tamper)
    assert_nothing_written(tmp_path / "out")


def test_package_is_pure_and_keeps_its_names():
    modules = sorted(Path(packaging.__file__).parent.glob("*.py"))
    assert {m.name for m in modules} >= {"__init__.py", "sources.py", "zipwriter.py"}
    for module in modules:
        assert "django" not in module.read_text(), module.name
    for name in packaging.__all__:
        assert hasattr(packaging, name), name
