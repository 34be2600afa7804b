"""Durable writes: every file flushed before its rename, every folder after it."""

from __future__ import annotations

import errno
import os
import stat
import threading

import pytest

from market import durable
from tests.fsync_log import FsLog


@pytest.fixture
def fslog(monkeypatch) -> FsLog:
    log = FsLog()
    log.install(monkeypatch)
    return log


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if durable.is_temp_name(p.name))


def test_atomic_write_flushes_the_file_then_renames_then_flushes_the_folder(
    tmp_path, fslog
):
    target = tmp_path / "flags.json"
    target.write_bytes(b"old")
    durable.atomic_write_bytes(target, b'{"new": true}\n')
    assert target.read_bytes() == b'{"new": true}\n'
    assert leftovers(tmp_path) == []
    (_, tmp, dst), rename_at = next(
        (e, i) for i, e in enumerate(fslog.events) if e[0] == "replace"
    )
    assert dst == fslog.p(target)
    assert durable.is_temp_name(os.path.basename(tmp))
    assert os.path.dirname(tmp) == fslog.p(tmp_path)
    assert fslog.index("fsync", tmp) < rename_at
    assert fslog.first_fsync_after(tmp_path, rename_at) > rename_at


def test_atomic_write_sets_exactly_the_mode_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        durable.atomic_write_bytes(tmp_path / "public", b"x", mode=0o644)
    finally:
        os.umask(old)
    old = os.umask(0)
    try:
        durable.atomic_write_bytes(tmp_path / "key.pem", b"secret", mode=0o600)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "public").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "key.pem").stat().st_mode) == 0o600


def test_exclusive_write_creates_once_durably(tmp_path, fslog):
    """The helper the catalogue key creation uses: never replaces an existing key."""
    key = tmp_path / "catalog.pem"
    durable.atomic_write_bytes(key, b"first key", mode=0o600, exclusive=True)
    link_at, (_, tmp, dst) = next(
        (i, e) for i, e in enumerate(fslog.events) if e[0] == "link"
    )
    assert dst == fslog.p(key)
    assert fslog.index("fsync", tmp) < link_at
    assert fslog.index("unlink", tmp) > link_at
    assert fslog.first_fsync_after(tmp_path, link_at) > link_at
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    with pytest.raises(FileExistsError):
        durable.atomic_write_bytes(key, b"second key", mode=0o600, exclusive=True)
    assert key.read_bytes() == b"first key"
    assert leftovers(tmp_path) == []


def test_exclusive_write_race_has_one_winner(tmp_path):
    key = tmp_path / "catalog.pem"
    results: list[str] = []
    start = threading.Barrier(8)

    def create(n: int) -> None:
        start.wait()
        try:
            durable.atomic_write_bytes(key, f"key {n}".encode(), exclusive=True)
            results.append("won")
        except FileExistsError:
            results.append("lost")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * 7 + ["won"]
    assert key.read_bytes().startswith(b"key ")
    assert leftovers(tmp_path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "comfyvn.json"
    target.write_bytes(b"old")

    def broken_fsync(fd):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        durable.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_replace_durably_flushes_both_folders_after_the_rename(tmp_path, fslog):
    src_dir, dst_dir = tmp_path / "staging", tmp_path / "extensions"
    src_dir.mkdir()
    dst_dir.mkdir()
    (src_dir / "ext").mkdir()
    durable.replace_durably(src_dir / "ext", dst_dir / "ext")
    moved = fslog.index("replace", src_dir / "ext", dst_dir / "ext")
    assert fslog.first_fsync_after(dst_dir, moved) > moved
    assert fslog.first_fsync_after(src_dir, moved) > moved
    assert (dst_dir / "ext").is_dir()


def test_replace_within_one_folder_flushes_it_once(tmp_path, fslog):
    (tmp_path / "a").write_text("x")
    durable.replace_durably(tmp_path / "a", tmp_path / "b")
    assert fslog.events == [
        ("replace", fslog.p(tmp_path / "a"), fslog.p(tmp_path / "b")),
        ("fsync", fslog.p(tmp_path)),
    ]


def test_ensure_dir_flushes_the_parent_of_each_new_folder(tmp_path, fslog):
    deep = tmp_path / "a" / "b" / "c"
    assert durable.ensure_dir(deep) == deep
    assert deep.is_dir()
    flushed = {e[1] for e in fslog.events if e[0] == "fsync"}
    assert flushed == {fslog.p(tmp_path), fslog.p(tmp_path / "a"), fslog.p(deep.parent)}
    fslog.events.clear()
    durable.ensure_dir(deep)  # already there: nothing to flush
    assert fslog.events == []


def test_ensure_dir_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError):
        durable.ensure_dir(tmp_path / "file")
    with pytest.raises(OSError):
        durable.ensure_dir(tmp_path / "file" / "below")


def test_fsync_tree_flushes_every_file_and_folder(tmp_path, fslog, tree_sync):
    root = tmp_path / "tree"
    (root / "a" / "b").mkdir(parents=True)
    files = [root / "top.txt", root / "a" / "one.py", root / "a" / "b" / "two.bin"]
    for f in files:
        f.write_bytes(b"data")
    (root / "a" / "link").symlink_to(root / "top.txt")
    durable.fsync_tree(root)
    if tree_sync == "volume":
        assert fslog.events == [("syncfs", fslog.p(root))]
        return
    flushed = fslog.fsyncs()
    for f in files:
        assert fslog.p(f) in flushed
    dirs = [root / "a" / "b", root / "a", root]
    for d in dirs:
        # every file is flushed before any folder, and a folder after its children
        assert flushed[fslog.p(d)] > max(flushed[fslog.p(f)] for f in files)
    order = [flushed[fslog.p(d)] for d in dirs]
    assert order == sorted(order)
    assert len(flushed) == len(files) + len(dirs)  # the symlink is not followed


def test_tree_sync_reports_a_failed_flush_and_closes_every_descriptor(
    tmp_path, monkeypatch
):
    real_fsync = os.fsync
    closed: list[int] = []
    real_close = os.close

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("bad"):
            raise OSError(errno.EIO, "I/O error")
        real_fsync(fd)

    def close(fd):
        closed.append(fd)
        real_close(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "close", close)
    sync = durable.TreeSync(workers=2)  # no root: file by file
    fds = []
    for name in ("good1", "bad", "good2"):
        fd = os.open(tmp_path / name, os.O_WRONLY | os.O_CREAT)
        fds.append(fd)
        sync.file(fd)
    with pytest.raises(OSError, match="I/O error"):
        sync.finish()
    assert sorted(fds) == sorted(fd for fd in closed if fd in fds)
    with pytest.raises(RuntimeError):
        sync.file(os.open(tmp_path / "late", os.O_WRONLY | os.O_CREAT))


def test_tree_sync_abort_flushes_nothing_more(tmp_path, fslog):
    sync = durable.TreeSync()
    sync.directory(tmp_path)
    with pytest.raises(ValueError), sync:
        raise ValueError("extraction failed")
    assert fslog.events == []


def test_directory_flush_is_skipped_where_unsupported(tmp_path, monkeypatch):
    def refuse(fd):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "fsync", refuse)
    durable.fsync_dir(tmp_path)  # a file system that cannot flush folders
    with pytest.raises(OSError):
        durable.fsync_path(__file__)  # a file that cannot be flushed is an error


def test_windows_has_no_folder_flush(tmp_path, monkeypatch, fslog):
    monkeypatch.setattr(durable, "_WINDOWS", True)
    durable.fsync_dir(tmp_path)
    assert fslog.events == []


def test_temp_names_are_recognisable_and_unique(tmp_path):
    a = durable.temp_name(tmp_path / "catalog.pem")
    b = durable.temp_name(tmp_path / "catalog.pem")
    assert a != b
    assert durable.is_temp_name(a.name)
    assert not durable.is_temp_name("catalog.pem")
    assert not durable.is_temp_name("notes.tmp")  # only hidden ones are ours


def test_exclusive_write_without_hard_links_still_never_replaces(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    key = tmp_path / "catalog.pem"
    durable.atomic_write_bytes(key, b"first key", mode=0o600, exclusive=True)
    assert key.read_bytes() == b"first key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        durable.atomic_write_bytes(key, b"second key", exclusive=True)
    assert key.read_bytes() == b"first key"
    assert leftovers(tmp_path) == []


def test_exclusive_write_reports_other_link_failures(tmp_path, monkeypatch):
    def broken(src, dst):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "link", broken)
    with pytest.raises(OSError, match="Input/output"):
        durable.atomic_write_bytes(tmp_path / "x", b"data", exclusive=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _tree_files(root, names):
    fds = []
    for name in names:
        fd = os.open(root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        os.write(fd, b"x" * 10_000)
        fds.append(fd)
    return fds


@pytest.fixture
def started(monkeypatch) -> list[str]:
    """The paths whose write-back was started, in order."""
    paths: list[str] = []
    real_start = durable.start_writeback

    def start(fd):
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_start(fd)

    monkeypatch.setattr(durable, "start_writeback", start)
    return paths


def test_a_tree_is_flushed_by_one_sync_of_its_volume(tmp_path, fslog, started):
    """Each file's write-back starts when it is handed over; finish waits for all of
    it with one syncfs through the tree's root, opened before any file was written."""
    root = tmp_path / "tree"
    sync = durable.TreeSync(root)
    root.mkdir()
    sync.directory(root)
    (root / "sub").mkdir()
    sync.directory(root / "sub")
    for fd in _tree_files(root, ["a", "sub/b", "sub/c"]):
        sync.file(fd)
    assert fslog.events == []  # nothing waited for yet
    sync.finish()
    assert fslog.events == [("syncfs", fslog.p(root))]
    assert started == [fslog.p(root / n) for n in ("a", "sub/b", "sub/c")]


def test_small_files_are_left_to_the_volume_sync(tmp_path, fslog, started, monkeypatch):
    """A file under WRITEBACK_MIN_BYTES is closed at once, its write-back not
    started on its own: the final syncfs writes it (and reports its errors)."""
    monkeypatch.setattr(durable, "WRITEBACK_MIN_BYTES", 10_001)
    closed: list[int] = []
    real_close = os.close

    def track_close(fd):
        closed.append(fd)
        real_close(fd)

    monkeypatch.setattr(os, "close", track_close)
    with durable.TreeSync(tmp_path) as sync:
        small, large, unknown = _tree_files(tmp_path, ["small", "large", "unknown"])
        os.write(large, b"y")
        sync.file(small, 10_000)
        assert closed == [small]  # closed by the caller's thread, not queued
        sync.file(large, 10_001)
        sync.file(unknown)  # no size given: written back like a large file
    assert sorted(started) == [fslog.p(tmp_path / n) for n in ("large", "unknown")]
    assert fslog.syncs() == [fslog.p(tmp_path)]
    assert set(closed) >= {small, large, unknown}


def test_small_files_are_flushed_one_by_one_without_the_volume_calls(
    tmp_path, fslog, monkeypatch
):
    monkeypatch.setattr(durable, "_volume_calls", lambda: None)
    with durable.TreeSync(tmp_path) as sync:
        (fd,) = _tree_files(tmp_path, ["small"])
        sync.file(fd, 1)
    assert fslog.fsyncs().keys() == {fslog.p(tmp_path / "small")}


def test_a_failed_volume_sync_is_raised_and_every_descriptor_closed(
    tmp_path, monkeypatch
):
    opened: list[int] = []
    closed: list[int] = []
    real_open, real_close = os.open, os.close

    def track_open(*args, **kwargs):
        fd = real_open(*args, **kwargs)
        opened.append(fd)
        return fd

    def track_close(fd):
        closed.append(fd)
        real_close(fd)

    def failing(fd):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "open", track_open)
    monkeypatch.setattr(os, "close", track_close)
    monkeypatch.setattr(durable, "syncfs", failing)
    with pytest.raises(OSError, match="I/O error"), durable.TreeSync(tmp_path) as sync:
        for fd in _tree_files(tmp_path, ["a", "b"]):
            sync.file(fd)
    assert sorted(opened) == sorted(closed)  # the root's descriptor too


def test_a_failed_write_back_start_fails_the_finish_and_closes_the_file(
    tmp_path, monkeypatch
):
    def failing(fd):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(durable, "start_writeback", failing)
    sync = durable.TreeSync(tmp_path)
    (fd,) = _tree_files(tmp_path, ["a"])
    sync.file(fd)  # handed to the write-back thread
    with pytest.raises(OSError, match="I/O error"):
        sync.finish()
    with pytest.raises(OSError):
        os.fstat(fd)  # closed


def test_an_aborted_tree_is_not_synced(tmp_path, fslog):
    with pytest.raises(ValueError), durable.TreeSync(tmp_path) as sync:
        for fd in _tree_files(tmp_path, ["a"]):
            sync.file(fd)
        raise ValueError("extraction failed")
    assert fslog.events == []


def test_without_the_volume_calls_a_rooted_tree_is_flushed_file_by_file(
    tmp_path, fslog, monkeypatch
):
    monkeypatch.setattr(durable, "_volume_calls", lambda: None)
    assert not durable.volume_sync_available()
    with durable.TreeSync(tmp_path) as sync:
        sync.directory(tmp_path)
        for fd in _tree_files(tmp_path, ["a", "b"]):
            sync.file(fd)
    assert fslog.syncs() == []
    flushed = fslog.fsyncs()
    assert {fslog.p(tmp_path / n) for n in "ab"} | {fslog.p(tmp_path)} == set(flushed)
    last_file = max(flushed[fslog.p(tmp_path / n)] for n in "ab")
    assert flushed[fslog.p(tmp_path)] > last_file


def test_a_small_tree_is_flushed_file_by_file(tmp_path, fslog):
    """Fewer files than VOLUME_SYNC_MIN_FILES: their own flushes, no volume sync."""
    count = durable.VOLUME_SYNC_MIN_FILES - 1
    with durable.TreeSync(tmp_path, files=count) as sync:
        sync.directory(tmp_path)
        for fd in _tree_files(tmp_path, [f"f{i}" for i in range(count)]):
            sync.file(fd)
    assert fslog.syncs() == []
    assert len(fslog.fsyncs()) == count + 1
    with durable.TreeSync(tmp_path / "big", files=count + 1) as sync:
        (tmp_path / "big").mkdir()
        sync.directory(tmp_path / "big")
        for fd in _tree_files(tmp_path / "big", [f"f{i}" for i in range(count + 1)]):
            sync.file(fd)
    assert fslog.syncs() == [fslog.p(tmp_path / "big")]
