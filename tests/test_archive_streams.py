"""Members streamed on several threads: the same files, records and refusals as one
thread, the first failure in name order, nothing left behind."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import zipfile
import zlib
from pathlib import Path

import pytest

from market.archive import extract_bundle, inspect_bundle, streams
from market.errors import ContentMismatchError, MarketError
from tests.bundles import (
    Workspace,
    good_entries,
    listing,
    patch_bytes,
    write_zip,
)


@pytest.fixture(autouse=True)
def market_root(tmp_path: Path) -> Path:
    """Overrides the Django-backed conftest fixture: this module is pure."""
    return tmp_path / "var"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


class Seen(list):
    """Names of the threads that streamed a member, in order."""

    wait_for_threads = True
    started: threading.Event


@pytest.fixture
def threads_always(monkeypatch: pytest.MonkeyPatch) -> Seen:
    """Threads for every bundle, however small. The calling thread streams its
    first member only once an extra thread has started on one, so both take part
    however the scheduler runs them."""
    monkeypatch.setattr(streams, "PARALLEL_MIN_BYTES", 0)
    seen = Seen()
    started = seen.started = threading.Event()
    real = streams.stream

    def stream(*args, **kwargs):
        name = threading.current_thread().name
        if name == "market-extract":
            started.set()
        elif seen.wait_for_threads and not started.is_set():
            started.wait(timeout=10)
        seen.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(streams, "stream", stream)
    return seen


def many_files(count: int = 60) -> dict[str, bytes]:
    """Files in nested folders, some compressible and some not, of varied sizes."""
    files = {}
    for i in range(count):
        folder = f"part{i % 4}/sub{i % 3}"
        if i % 2:
            files[f"{folder}/text_{i:03d}.txt"] = (
                f"line {i}\n" * (50 * i + 1)
            ).encode()
        else:
            files[f"{folder}/blob_{i:03d}.bin"] = os.urandom(1000 + 977 * i)
    return files


def test_threads_extract_the_same_tree_and_records_as_one(
    ws: Workspace, threads_always: Seen
) -> None:
    files = many_files()
    bundle = ws.bundle(good_entries(files))
    threads_always.wait_for_threads = False
    one = extract_bundle(bundle, ws.out / "one", workers=1)
    assert set(threads_always) == {threading.current_thread().name}
    threads_always.clear()
    threads_always.wait_for_threads = True
    four = extract_bundle(bundle, ws.out / "four", workers=4, durable=True)
    # the calling thread and the extra ones all took members
    assert "market-extract" in threads_always
    assert threading.current_thread().name in threads_always
    assert four == one
    assert four.content_verified is True
    assert listing(ws.out / "four") == listing(ws.out / "one")
    for name, data in files.items():
        assert (ws.out / "four" / name).read_bytes() == data
    assert inspect_bundle(bundle, workers=4) == one


def test_the_first_failure_in_name_order_is_the_one_raised(
    ws: Workspace, threads_always: Seen
) -> None:
    files = many_files()
    names = sorted(files)
    # Two members tampered with after packaging, one early and one late in order.
    first, late = names[5], names[-3]
    files[first] = b"AAAAoriginal-early" + files[first][18:]
    files[late] = b"BBBBoriginal-late!" + files[late][18:]
    bundle = write_zip(
        ws.bundles / "t.cvnext", good_entries(files), compression=zipfile.ZIP_STORED
    )
    patch_bytes(bundle, b"AAAAoriginal-early", b"AAAAtampered-early", count=1)
    patch_bytes(bundle, b"BBBBoriginal-late!", b"BBBBtampered-late!", count=1)
    before = listing(ws.root)
    for workers in (1, 2, 4):
        threads_always.wait_for_threads = workers > 1
        threads_always.started.clear()
        with pytest.raises(MarketError) as extracted:
            extract_bundle(bundle, ws.out / "dest", workers=workers, durable=True)
        assert extracted.value.code == "corrupt_archive"
        assert extracted.value.details["entry"] == first
        assert listing(ws.root) == before  # the destination is gone
        with pytest.raises(MarketError) as inspected:
            threads_always.started.clear()
            inspect_bundle(bundle, workers=workers)
        assert inspected.value.as_dict() == extracted.value.as_dict()


def test_a_content_mismatch_found_by_threads_leaves_nothing(
    ws: Workspace, threads_always: Seen
) -> None:
    files = many_files(12)
    # the manifest's content record was made before one file changed
    entries = [
        (
            name,
            b"changed after packaging" if name == "part0/sub0/blob_000.bin" else data,
        )
        for name, data in good_entries(files)
    ]
    bundle = ws.bundle(entries)
    before = listing(ws.root)
    with pytest.raises(ContentMismatchError):
        extract_bundle(bundle, ws.out / "dest", workers=3, durable=True)
    assert listing(ws.root) == before
    assert "market-extract" in threads_always


def test_small_bundles_stay_on_the_calling_thread(ws: Workspace, monkeypatch) -> None:
    started: list[int] = []
    real = streams._Pool.run

    def run(self, workers):
        started.append(workers)
        return real(self, workers)

    monkeypatch.setattr(streams._Pool, "run", run)
    extract_bundle(ws.bundle(good_entries(many_files(8))), ws.out / "d", workers=4)
    assert started == []  # under PARALLEL_MIN_BYTES: no thread was worth starting
    monkeypatch.setattr(streams, "PARALLEL_MIN_BYTES", 0)
    extract_bundle(ws.bundle(good_entries(many_files(8))), ws.out / "e", workers=4)
    assert started == [4]


def test_a_read_failure_on_a_thread_fails_the_extraction_and_leaves_nothing(
    ws: Workspace, threads_always: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = streams.ArchiveBytes.read_at

    def failing(self, offset, n):
        if threading.current_thread().name == "market-extract":
            raise OSError(errno.EIO, "Input/output error")
        return real(self, offset, n)

    monkeypatch.setattr(streams.ArchiveBytes, "read_at", failing)
    bundle = ws.bundle(good_entries(many_files(20)))
    before = listing(ws.root)
    with pytest.raises(OSError, match="Input/output error"):
        extract_bundle(bundle, ws.out / "d", workers=2, durable=True)
    assert listing(ws.root) == before
    assert "market-extract" in threads_always


def test_archive_bytes_read_at_offsets_without_moving_the_handle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data"
    path.write_bytes(bytes(range(256)))
    with open(path, "rb") as handle:
        source = streams.ArchiveBytes(handle, 256)
        assert source.parallel
        assert source.read_at(10, 5) == bytes(range(10, 15))
        assert source.read_at(250, 50) == bytes(range(250, 256))
        assert source.read_at(256, 10) == b""
        assert handle.tell() == 0  # the shared descriptor's offset never moves
        short = streams.ArchiveBytes(handle, 100)  # bytes past its size unseen
        assert short.read_at(95, 50) == bytes(range(95, 100))
        assert short.read_at(100, 1) == b""
        monkeypatch.delattr(os, "pread")  # as on Windows: one thread, seeking
        single = streams.ArchiveBytes(handle, 100)
        assert not single.parallel
        assert single.read_at(95, 50) == bytes(range(95, 100))


def test_threads_are_only_used_where_reads_are_positional(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.delattr(os, "pread")
    started: list[int] = []
    monkeypatch.setattr(streams._Pool, "run", lambda self, w: started.append(w))
    info = extract_bundle(ws.bundle(good_entries(many_files(8))), ws.out / "d")
    assert info.content_verified and started == []


@pytest.mark.parametrize("inflate", ["zlib", "isal"])
def test_either_inflater_gives_the_same_files_and_records(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, inflate: str
) -> None:
    from isal import isal_zlib

    monkeypatch.setattr(streams, "INFLATE", zlib if inflate == "zlib" else isal_zlib)
    files = many_files()
    bundle = ws.bundle(good_entries(files))
    info = extract_bundle(bundle, ws.out / inflate, workers=2)
    assert info.content_verified
    for name, data in files.items():
        assert (ws.out / inflate / name).read_bytes() == data
    assert info.sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()


def test_the_bundle_is_hashed_alongside_and_the_hash_stops_with_a_refusal(
    ws: Workspace,
) -> None:
    files = many_files(10)
    entries = [
        (n, b"changed" if n == "part0/sub0/blob_000.bin" else d)
        for n, d in good_entries(files)
    ]
    bundle = ws.bundle(entries)
    with pytest.raises(ContentMismatchError):
        extract_bundle(bundle, ws.out / "d")
    assert not [t for t in threading.enumerate() if t.name == "market-hash"]
    good = ws.bundle(good_entries(files))
    info = inspect_bundle(good)
    assert info.sha256 == hashlib.sha256(good.read_bytes()).hexdigest()
    assert not [t for t in threading.enumerate() if t.name == "market-hash"]
