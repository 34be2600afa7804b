"""The order of writes: files flushed before their rename, folders after it, and the
database committed only once everything it describes is on disk."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest
from django.db import connection

from market import durable, flags, lifecycle, packaging, review, services
from market.archive import streams
from market.doctor import market_doctor
from market.models import CatalogEntry, InstalledExtension, LifecycleError
from market.services import common
from tests.fsync_log import FsLog

# Approving as verified needs the catalogue key, made on purpose.
pytestmark = pytest.mark.usefixtures("catalog_key")


@pytest.fixture
def fslog(monkeypatch) -> FsLog:
    log = FsLog()
    log.install(monkeypatch, connection)
    return log


def path_source(result):
    return services.InstallSource("path", result.path, result.path.name)


@pytest.fixture
def build_tree(sample_src, package_dir):
    """The legacy sample (a package folder, not a flat one) at a given version."""

    def build(version=None):
        src = sample_src("legacy_tools")
        if version is not None:
            path = src / "extension.json"
            path.write_text(
                json.dumps({**json.loads(path.read_text()), "version": version})
            )
        return packaging.build_package(src, package_dir, force=True)

    return build


def replace_into(log: FsLog, dst: Path) -> tuple[int, str]:
    """Position and source of the rename that put something at ``dst``."""
    for i, event in enumerate(log.events):
        if event[0] == "replace" and event[2] == log.p(dst):
            return i, event[1]
    raise AssertionError(f"nothing renamed to {dst}")


def first_fsync(log: FsLog, path) -> int:
    """Where ``path`` was first flushed (its own fsync or a sync of its volume)."""
    return log.first_flush(path)


def assert_staged_tree_flushed_before(log: FsLog, target: Path, stage: str, at: int):
    """Every file and folder now in ``target`` was flushed under ``stage`` first."""
    for item in [target, *target.rglob("*")]:
        staged = os.path.join(stage, os.path.relpath(item, target))
        if item.name == services.SIDECAR_NAME:
            # written to a temp file, flushed, linked into place
            link_at, tmp = next(
                (i, e[1])
                for i, e in enumerate(log.events)
                if e[0] == "link" and e[2] == log.p(staged)
            )
            assert first_fsync(log, tmp) < link_at < at
            assert log.first_fsync_after(stage, link_at) < at
        else:
            assert first_fsync(log, staged) < at, item


def assert_committed_after_every_flush(log: FsLog, but_not_under: Path | None = None):
    commits = log.commits()
    assert len(commits) == 1, log.events
    flushes = [
        i
        for i, e in enumerate(log.events)
        if e[0] in ("fsync", "syncfs")
        and not (but_not_under and e[1].startswith(log.p(but_not_under)))
    ]
    assert flushes and max(flushes) < commits[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("threads", [False, True], ids=["one_thread", "threads"])
def test_install_flushes_files_sidecar_and_folders_before_the_commit(
    build_tree, market_root, fslog, monkeypatch, threads, tree_sync
):
    if threads:  # files written by several threads, however small the bundle
        monkeypatch.setattr(streams, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(streams, "default_workers", lambda: 3)
    result = build_tree()
    fslog.events.clear()
    services.extension_install(source=path_source(result))
    target = market_root / "extensions" / result.manifest.id
    assert any(p.is_dir() for p in target.iterdir())  # a tree, not a flat folder
    swap_at, stage = replace_into(fslog, target)
    assert_staged_tree_flushed_before(fslog, target, stage, swap_at)
    assert fslog.first_fsync_after(market_root / "extensions", swap_at) > swap_at
    assert fslog.first_fsync_after(market_root / "staging", swap_at) > swap_at
    assert_committed_after_every_flush(fslog)
    staged = [e for _, e in fslog.under(stage) if e[0] == "fsync" and e[1] != stage]
    if tree_sync == "volume":
        # one sync of the volume for the whole tree; only the sidecar, written
        # after it, has its own flush
        assert fslog.syncs() == [stage]
        assert len(staged) == 1 and durable.is_temp_name(Path(staged[0][1]).name)
    else:
        # each file flushed once: one pass, not a walk after the fact
        assert fslog.syncs() == []
        assert len(staged) == len(set(staged)) == len(list(target.rglob("*")))


@pytest.mark.django_db(transaction=True)
def test_upgrade_keeps_the_old_folder_durably_and_deletes_the_older_after_the_commit(
    build_tree, market_root, fslog
):
    oldest = build_tree()
    services.extension_install(source=path_source(oldest))
    old = build_tree("5.0.0")
    services.extension_install(source=path_source(old))  # keeps the oldest
    new = build_tree("9.0.0")
    fslog.events.clear()
    services.extension_install(source=path_source(new))

    ext = market_root / "extensions"
    target = ext / new.manifest.id
    kept = market_root / "previous" / new.manifest.id
    retire_at, retired = next(
        (i, e[2])
        for i, e in enumerate(fslog.events)
        if e[0] == "replace" and e[1] == fslog.p(target)
    )
    swap_at, stage = replace_into(fslog, target)
    assert retire_at < swap_at
    assert fslog.first_fsync_after(ext, retire_at) < swap_at
    assert fslog.first_fsync_after(market_root / "staging", retire_at) < swap_at
    assert_staged_tree_flushed_before(fslog, target, stage, swap_at)
    assert fslog.first_fsync_after(ext, swap_at) > swap_at
    # the oldest leaves previous/ for the trash, then the old version takes its place
    discard_at, trash = next(
        (i, e[2])
        for i, e in enumerate(fslog.events)
        if e[0] == "replace" and e[1] == fslog.p(kept)
    )
    keep_at, source = replace_into(fslog, kept)
    assert source == retired
    assert swap_at < discard_at < keep_at
    assert fslog.first_fsync_after(kept.parent, keep_at) > keep_at
    assert_committed_after_every_flush(fslog, but_not_under=Path(trash))
    commit_at = fslog.commits()[0]
    assert fslog.first_fsync_after(kept.parent, keep_at) < commit_at
    # the oldest version is deleted only once the new row is committed, sidecar first
    deletes = [(i, e) for i, e in fslog.under(trash) if e[0] in ("unlink", "rmdir")]
    assert deletes and min(i for i, _ in deletes) > commit_at
    assert deletes[0][1] == ("unlink", os.path.join(trash, services.SIDECAR_NAME))
    assert not os.path.exists(trash)
    # nothing was ever deleted in place under extensions/ or previous/
    for folder in (ext, kept.parent):
        assert [e for _, e in fslog.under(folder) if e[0] in ("unlink", "rmdir")] == []
    assert json.loads((target / services.SIDECAR_NAME).read_text())["version"] == (
        "9.0.0"
    )
    assert json.loads((kept / services.SIDECAR_NAME).read_text())["version"] == (
        "5.0.0"
    )


@pytest.mark.django_db(transaction=True)
def test_uninstall_moves_out_durably_commits_then_deletes(
    build_tree, market_root, fslog
):
    result = build_tree()
    services.extension_install(source=path_source(result))
    fslog.events.clear()
    services.extension_uninstall(ext_id=result.manifest.id)

    ext = market_root / "extensions"
    target = ext / result.manifest.id
    move_at, trash = next(
        (i, e[2])
        for i, e in enumerate(fslog.events)
        if e[0] == "replace" and e[1] == fslog.p(target)
    )
    commit_at = fslog.commits()[0]
    assert move_at < fslog.first_fsync_after(ext, move_at) < commit_at
    assert move_at < fslog.first_fsync_after(market_root / "staging", move_at)
    assert fslog.first_fsync_after(market_root / "staging", move_at) < commit_at
    assert_committed_after_every_flush(fslog, but_not_under=Path(trash))
    deletes = [i for i, e in fslog.under(trash) if e[0] in ("unlink", "rmdir")]
    assert deletes and min(deletes) > commit_at
    assert [e for _, e in fslog.under(ext) if e[0] in ("unlink", "rmdir")] == []
    assert not target.exists() and not os.path.exists(trash)
    assert InstalledExtension.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("call", ["fsync", "syncfs", "start_writeback"])
def test_a_failed_flush_fails_the_install_and_leaves_nothing(
    build_tree, market_root, monkeypatch, call
):
    result = build_tree()
    module = os if call == "fsync" else durable
    monkeypatch.setattr(durable, "VOLUME_SYNC", call != "fsync")
    monkeypatch.setattr(durable, "VOLUME_SYNC_MIN_FILES", 0)
    monkeypatch.setattr(durable, "WRITEBACK_MIN_BYTES", 0)  # the small files too
    real = getattr(module, call)

    def failing(fd):
        if "/staging/install-" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(module, call, failing)
    with pytest.raises(OSError):
        services.extension_install(source=path_source(result))
    assert not (market_root / "extensions" / result.manifest.id).exists()
    assert list((market_root / "staging").iterdir()) == []
    assert InstalledExtension.objects.count() == 0
    error = LifecycleError.objects.get()
    assert (error.action, error.code) == ("install", "server_error")


@pytest.mark.django_db(transaction=True)
def test_a_failed_folder_flush_during_the_swap_rolls_everything_back(
    build_tree, market_root, monkeypatch
):
    old = build_tree()
    services.extension_install(source=path_source(old))
    new = build_tree("9.0.0")
    real_fsync = os.fsync
    ext = str(market_root / "extensions")
    calls = {"n": 0}

    def failing(fd):
        # the flush of extensions/ after the new folder is swapped in
        if os.readlink(f"/proc/self/fd/{fd}") == os.path.realpath(ext):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError):
        services.extension_install(source=path_source(new))
    side = json.loads(
        (market_root / "extensions" / old.manifest.id / ".market.json").read_text()
    )
    assert side["package"]["sha256"] == old.sha256
    assert InstalledExtension.objects.get().version == old.manifest.version
    assert list((market_root / "staging").iterdir()) == []
    assert LifecycleError.objects.get().code == "server_error"


@pytest.mark.django_db(transaction=True)
def test_submission_flushes_the_stored_bundle_before_the_row_commits(
    build_bundle, make_user, market_root, fslog
):
    modder = make_user("modder")
    result = build_bundle("hello_minimal")
    fslog.events.clear()
    entry = review.catalog_entry_submit(bundle_path=result.path, actor=modder)
    stored = Path(entry.package.path)
    assert stored.is_relative_to(market_root / "catalog")
    commit_at = fslog.commits()[-1]
    file_at = first_fsync(fslog, stored)
    assert file_at < fslog.first_fsync_after(stored.parent, file_at) < commit_at
    # bundles/<id>/ was new: its entry in bundles/ is flushed too
    assert fslog.first_fsync_after(stored.parent.parent, file_at) < commit_at
    assert CatalogEntry.objects.get().package.name == entry.package.name


@pytest.mark.django_db(transaction=True)
def test_verified_approval_flushes_the_signed_bundle_before_the_commit(
    build_bundle, make_user, fslog
):
    modder, reviewer = make_user("modder"), make_user("reviewer")
    result = build_bundle("hello_minimal")
    entry = review.catalog_entry_submit(bundle_path=result.path, actor=modder)
    fslog.events.clear()
    approved = review.catalog_entry_approve(
        entry=entry, reviewer=reviewer, trust_level="verified"
    )
    signed = Path(approved.package.path)
    commit_at = fslog.commits()[-1]
    file_at = first_fsync(fslog, signed)
    assert file_at < fslog.first_fsync_after(signed.parent, file_at) < commit_at


def test_flag_writes_are_atomic_and_durable(settings, fslog):
    path = Path(settings.COMFYVN_CONFIG)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"features": {}, "other": {"kept": True}}))
    path.chmod(0o600)
    flags.write_flags({"enable_marketplace": True})
    at, tmp = replace_into(fslog, path)
    assert first_fsync(fslog, tmp) < at
    assert fslog.first_fsync_after(path.parent, at) > at
    assert json.loads(path.read_text()) == {
        "features": {"enable_marketplace": True},
        "other": {"kept": True},
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the operator's mode is kept
    assert sorted(p.name for p in path.parent.iterdir()) == ["comfyvn.json"]
    assert flags.get_flags().marketplace is True


def test_the_flags_page_writes_durably(admin_client, settings, fslog):
    from django.urls import reverse

    response = admin_client.post(
        reverse("market-flags"),
        {"enable_marketplace": "on", "seen-enable_marketplace": "0"},
    )
    assert response.status_code == 302
    path = Path(settings.COMFYVN_CONFIG)
    at, tmp = replace_into(fslog, path)
    assert first_fsync(fslog, tmp) < at < fslog.first_fsync_after(path.parent, at)
    assert json.loads(path.read_text())["features"] == {"enable_marketplace": True}


def test_the_packager_flushes_the_bundle_before_renaming_it(
    sample_src, tmp_path, fslog
):
    out = tmp_path / "new" / "dist"
    result = packaging.build_package(sample_src("hello_minimal"), out)
    at, tmp = replace_into(fslog, result.path)
    assert first_fsync(fslog, tmp) < at < fslog.first_fsync_after(out, at)
    # the output folders it created are flushed into their parents
    assert fslog.first_fsync_after(tmp_path, -1) < at
    assert fslog.first_fsync_after(tmp_path / "new", -1) < at
    assert sorted(p.name for p in out.iterdir()) == [result.path.name]


def test_a_rebuild_for_comparison_is_not_flushed(sample_src, tmp_path, fslog):
    src = sample_src("hello_minimal")
    built = packaging.build_package(src, tmp_path / "dist")
    fslog.events.clear()
    identical, _ = packaging.check_package(src, built.path)
    assert identical
    assert [e for e in fslog.events if e[0] == "fsync"] == []


@pytest.mark.django_db(transaction=True)
def test_doctor_removes_a_rowless_folder_by_moving_it_out_first(market_root, fslog):
    ext = common.ensure(market_root / "extensions")
    half = ext / "half.done"
    (half / "pkg").mkdir(parents=True)
    (half / "pkg" / "a.py").write_text("x = 1\n")
    (half / ".market.json").write_text('{"id": "half.done"}')
    fslog.events.clear()
    report = market_doctor(fix=True, min_age_seconds=0)
    assert [(f["kind"], f["repaired"]) for f in report.findings] == [
        ("folder_without_row", True)
    ]
    move_at, aside = next(
        (i, e[2])
        for i, e in enumerate(fslog.events)
        if e[0] == "replace" and e[1] == fslog.p(half)
    )
    assert fslog.first_fsync_after(ext, move_at) > move_at
    deletes = [i for i, e in fslog.under(aside) if e[0] in ("unlink", "rmdir")]
    assert deletes and min(deletes) > fslog.first_fsync_after(ext, move_at)
    assert [e for _, e in fslog.under(ext) if e[0] in ("unlink", "rmdir")] == []
    assert not half.exists() and list((market_root / "staging").iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_doctor_restores_an_interrupted_swap_durably(
    build_tree, market_root, monkeypatch, fslog
):
    """A process killed between the swap and the commit: the renames stay, the
    transaction is gone. The doctor puts the committed version back."""
    old = build_tree()
    services.extension_install(source=path_source(old))
    new = build_tree("9.0.0")

    class Killed(BaseException):
        pass

    def fault(name):
        if name == "install.swapped":
            raise Killed

    monkeypatch.setattr(lifecycle, "fault_point", fault)
    monkeypatch.setattr(common.Moves, "undo", lambda self: None)  # no time to undo
    with pytest.raises(Killed):
        services.extension_install(source=path_source(new))
    monkeypatch.undo()
    fslog.install(monkeypatch, connection)
    ext = market_root / "extensions"
    target = ext / old.manifest.id
    assert json.loads((target / ".market.json").read_text())["version"] == "9.0.0"
    fslog.events.clear()

    report = market_doctor(fix=True, min_age_seconds=0)
    assert [(f["kind"], f["repaired"]) for f in report.findings] == [
        ("interrupted_swap", True)
    ]
    aside_at, aside = next(
        (i, e[2])
        for i, e in enumerate(fslog.events)
        if e[0] == "replace" and e[1] == fslog.p(target)
    )
    restore_at, trash = replace_into(fslog, target)
    assert aside_at < restore_at < fslog.first_fsync_after(ext, restore_at)
    assert os.path.basename(trash).startswith(f"trash-{old.manifest.id}-")
    deletes = [i for i, e in fslog.under(aside) if e[0] in ("unlink", "rmdir")]
    assert deletes and min(deletes) > restore_at
    side = json.loads((target / ".market.json").read_text())
    assert side["package"]["sha256"] == old.sha256
    assert list((market_root / "staging").iterdir()) == []


def test_doctor_removes_temp_files_of_interrupted_durable_writes(
    db, settings, market_root
):
    from market import durable

    config = Path(settings.COMFYVN_CONFIG)
    key = Path(settings.MARKET_SIGNING_KEY_FILE)
    retired = key.with_name(key.name + ".retired") / "cvn-0123456789abcdef.pem"
    link = key.with_name(key.name + ".chain") / "cvn-0123456789abcdef.json"
    for folder in (config.parent, key.parent, retired.parent, link.parent):
        folder.mkdir(parents=True, exist_ok=True)
    config.write_text("{}")
    stale = sorted(durable.temp_name(path) for path in (config, key, retired, link))
    for path in stale:
        path.write_bytes(b"half written")
        os.utime(path, (0, 0))  # long ago
    fresh = durable.temp_name(config)
    fresh.write_bytes(b"being written now")
    foreign = config.parent / ".notes.tmp"
    foreign.write_text("not ours")

    report = market_doctor(fix=False, min_age_seconds=600)
    assert sorted((f["kind"], f["target"]) for f in report.findings) == sorted(
        ("stale_temp", p.name) for p in stale
    )
    assert all(p.exists() for p in stale)  # a report changes nothing

    report = market_doctor(fix=True, min_age_seconds=600)
    assert all(f["repaired"] for f in report.findings)
    assert not any(p.exists() for p in stale)
    assert fresh.exists() and foreign.exists() and config.exists()


def _link_into(log: FsLog, dst: Path) -> tuple[int, str]:
    """Position and source of the hard link that created ``dst``."""
    for i, event in enumerate(log.events):
        if event[0] == "link" and event[2] == log.p(dst):
            return i, event[1]
    raise AssertionError(f"nothing linked to {dst}")


def test_key_creation_flushes_the_key_before_it_appears_and_its_folder_after(
    settings, market_root, fslog
):
    from market import signing

    # A key folder that does not exist yet (the module's fixture made the default).
    path = settings.MARKET_SIGNING_KEY_FILE = market_root / "new-keys" / "catalog.pem"
    fslog.events.clear()
    signing.create_signing_key()
    # written to a private temp file (mode 0600 from the start), flushed, then linked
    # into place exclusively (never replacing a key), then the folder flushed
    at, tmp = _link_into(fslog, path)
    # the new key folder was flushed into its parent before the key appeared
    assert fslog.index("fsync", path.parent.parent) < at
    assert first_fsync(fslog, tmp) < at < fslog.first_fsync_after(path.parent, at)
    assert not any(e[0] == "replace" and e[2] == fslog.p(path) for e in fslog.events)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "catalog.pem",
        "catalog.pem.chain",
    ]
    # the chain's first link is filed the same way, after the key
    [record] = signing.chain_dir().iterdir()
    record_at, record_tmp = _link_into(fslog, record)
    assert at < first_fsync(fslog, record_tmp) < record_at
    assert fslog.first_fsync_after(record.parent, record_at) > record_at


def test_rotation_files_the_old_public_key_durably_before_replacing_the_key(
    settings, catalog_key, fslog
):
    from market import signing

    path = Path(settings.MARKET_SIGNING_KEY_FILE)
    fslog.events.clear()
    old_id, _ = signing.rotate_signing_key()
    retired = signing.retired_dir() / f"{old_id}.pem"
    filed_at, filed_tmp = _link_into(fslog, retired)
    assert first_fsync(fslog, filed_tmp) < filed_at
    filed_flushed = fslog.first_fsync_after(retired.parent, filed_at)
    replaced_at, tmp = replace_into(fslog, path)
    assert filed_flushed < replaced_at
    # the new key's link, signed by the old key, is durable before the new key serves
    new_id = signing.key_id_for(signing.require_signing_key().public_key())
    link = signing.chain_dir() / f"{new_id}.json"
    link_at, link_tmp = _link_into(fslog, link)
    assert first_fsync(fslog, link_tmp) < link_at
    assert link_at < fslog.first_fsync_after(link.parent, link_at) < replaced_at
    assert first_fsync(fslog, tmp) < replaced_at
    assert fslog.first_fsync_after(path.parent, replaced_at) > replaced_at
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
