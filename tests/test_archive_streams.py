"""Members streamed on several threads: the same files, records and refusals as one
thread, the first failure in name order, nothing left behind."""

from __future__ import annotations

import os
import threading
import zipfile
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


def test_a_thread_that_cannot_read_the_archive_leaves_its_share_to_the_caller(
    ws: Workspace, threads_always: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = streams.PositionalFile.read

    def broken(self, n=-1):
        raise OSError("unreadable")

    monkeypatch.setattr(streams.PositionalFile, "read", broken)
    threads_always.wait_for_threads = False
    files = many_files(20)
    info = extract_bundle(ws.bundle(good_entries(files)), ws.out / "d", workers=2)
    assert info.content_verified is True
    assert set(threads_always) == {threading.current_thread().name}
    monkeypatch.setattr(streams.PositionalFile, "read", real)


def test_positional_file_keeps_its_own_offset(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(bytes(range(256)))
    with open(path, "rb") as handle:
        one = streams.PositionalFile(handle.fileno(), 256)
        two = streams.PositionalFile(handle.fileno(), 256)
        assert one.read(10) == bytes(range(10))
        assert two.read(3) == bytes(range(3))
        assert one.tell() == 10 and two.tell() == 3
        assert handle.tell() == 0  # the shared descriptor's offset never moves
        assert one.seek(-6, os.SEEK_END) == 250
        assert one.read() == bytes(range(250, 256))
        assert one.read(5) == b""
        assert two.seek(4, os.SEEK_CUR) == 7
        assert two.read(2) == bytes([7, 8])
        with pytest.raises(ValueError):
            one.seek(-1)
        short = streams.PositionalFile(handle.fileno(), 100)  # bytes past it unseen
        assert short.seek(0, os.SEEK_END) == 100
        assert short.read(10) == b""
        short.seek(95)
        assert short.read(50) == bytes(range(95, 100))
        # zipfile reads a whole archive through it
        write_zip(tmp_path / "z.zip", [("a.txt", b"hello")])
    with open(tmp_path / "z.zip", "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        with zipfile.ZipFile(streams.PositionalFile(handle.fileno(), size)) as zf:
            assert zf.read("a.txt") == b"hello"
