"""A crash at any step of install or uninstall leaves the old install or nothing."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from market import lifecycle, services
from market.doctor import market_doctor
from market.models import InstalledExtension, LifecycleError

INSTALL_STEPS = [
    "install.extracted",
    "install.sidecar_written",
    "install.old_moved",
    "install.swapped",
    "install.recorded",
]
UNINSTALL_STEPS = ["uninstall.moved", "uninstall.recorded"]


class Crash(RuntimeError):
    pass


def crash_at(monkeypatch, step):
    def fault(name):
        if name == step:
            raise Crash(step)

    monkeypatch.setattr(lifecycle, "fault_point", fault)


def path_source(result):
    return services.InstallSource("path", result.path, result.path.name)


def snapshot(root):
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if "logs" not in p.relative_to(root).parts
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", INSTALL_STEPS)
def test_crash_during_first_install_leaves_nothing(
    monkeypatch, build_bundle, market_root, step
):
    result = build_bundle("hello_minimal")
    crash_at(monkeypatch, step)
    with pytest.raises(Crash):
        services.extension_install(source=path_source(result))
    assert not (market_root / "extensions" / result.manifest.id).exists()
    assert list((market_root / "staging").iterdir()) == []
    assert InstalledExtension.objects.count() == 0
    assert LifecycleError.objects.get().code == "server_error"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", INSTALL_STEPS)
def test_crash_during_upgrade_keeps_old_install(
    monkeypatch, build_bundle, market_root, step
):
    old = build_bundle("hello_minimal")
    services.extension_install(source=path_source(old))

    def bump(data):
        data["version"] = "2.0.0"

    new = build_bundle("hello_minimal", edit=bump)
    crash_at(monkeypatch, step)
    with pytest.raises(Crash):
        services.extension_install(source=path_source(new))
    folder = market_root / "extensions" / old.manifest.id
    sidecar = json.loads((folder / ".market.json").read_text())
    assert sidecar["version"] == old.manifest.version
    assert sidecar["package"]["sha256"] == old.sha256
    assert InstalledExtension.objects.get().version == old.manifest.version
    assert list((market_root / "staging").iterdir()) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", UNINSTALL_STEPS)
def test_crash_during_uninstall_keeps_the_install(
    monkeypatch, build_bundle, market_root, step
):
    result = build_bundle("hello_minimal")
    services.extension_install(source=path_source(result))
    crash_at(monkeypatch, step)
    with pytest.raises(Crash):
        services.extension_uninstall(ext_id=result.manifest.id)
    assert (market_root / "extensions" / result.manifest.id / ".market.json").is_file()
    assert InstalledExtension.objects.count() == 1


def test_doctor_reports_and_repairs_orphans(db, build_bundle, market_root):
    kept = build_bundle("hello_minimal")
    services.extension_install(source=path_source(kept))
    ext = market_root / "extensions"
    staging = market_root / "staging"
    # a process killed mid-swap: row says installed, folder sits in the trash
    killed = build_bundle("legacy_tools")
    services.extension_install(source=path_source(killed))
    killed_id = killed.manifest.id
    (ext / killed_id).rename(staging / f"trash-{killed_id}-deadbeef")
    # a row whose folder is gone for good
    InstalledExtension.objects.create(
        extension_id="gone.forever",
        version="1.0.0",
        trust_level="unverified",
        manifest={},
        manifest_sha256="0" * 64,
        package_name="x.cvnext",
        package_sha256="0" * 64,
        package_size=1,
        source="path",
        installed_at="2026-01-01T00:00:00Z",
    )
    # a folder with our sidecar but no row (killed before the commit)
    (ext / "half.done").mkdir()
    (ext / "half.done" / ".market.json").write_text('{"id": "half.done"}')
    # a hand-made folder: never touched
    (ext / "hand.made").mkdir()
    (ext / "hand.made" / "keep.txt").write_text("mine")
    # a staging leftover
    (staging / "install-0123").mkdir()

    report = market_doctor(fix=False, min_age_seconds=0)
    kinds = sorted((f["kind"], f["target"]) for f in report.findings)
    assert kinds == [
        ("folder_without_row", "half.done"),
        ("interrupted_swap", killed_id),
        ("orphan_staging", "install-0123"),
        ("row_without_folder", "gone.forever"),
        ("unmanaged_folder", "hand.made"),
    ]
    assert (staging / "install-0123").exists()  # a report changes nothing
    with pytest.raises(SystemExit) as exited:
        call_command("market_doctor", "--min-age", "0")
    assert exited.value.code == 1

    out = StringIO()
    call_command("market_doctor", "--fix", "--min-age", "0", stdout=out)  # exits 0
    lines = out.getvalue().splitlines()
    assert "[fixed] folder_without_row half.done: removed the folder" in lines
    assert any(line.startswith("[found] unmanaged_folder hand.made") for line in lines)
    assert (ext / killed_id / ".market.json").is_file()
    assert not (ext / "half.done").exists()
    assert (ext / "hand.made" / "keep.txt").read_text() == "mine"
    assert sorted(
        InstalledExtension.objects.values_list("extension_id", flat=True)
    ) == [
        kept.manifest.id,
        killed_id,
    ]
    assert list(staging.iterdir()) == []
    again = market_doctor(fix=False, min_age_seconds=0)
    assert [(f["kind"], f["target"]) for f in again.findings] == [
        ("unmanaged_folder", "hand.made")
    ]


@pytest.mark.django_db(transaction=True)
def test_doctor_waits_for_an_install_in_flight(monkeypatch, build_bundle, market_root):
    import threading
    import time

    from django.db import connections

    result = build_bundle("hello_minimal")
    swapped, release = threading.Event(), threading.Event()

    def fault(name):
        if name == "install.recorded":  # folder in place, row not yet committed
            swapped.set()
            release.wait(timeout=30)

    monkeypatch.setattr(lifecycle, "fault_point", fault)
    reports = []

    def install():
        try:
            services.extension_install(source=path_source(result))
        finally:
            connections.close_all()

    def doctor():
        try:
            reports.append(market_doctor(fix=True, min_age_seconds=0))
        finally:
            connections.close_all()

    installer = threading.Thread(target=install)
    installer.start()
    assert swapped.wait(timeout=30)
    fixer = threading.Thread(target=doctor)
    fixer.start()
    time.sleep(0.5)  # the doctor is now waiting on the slot lock
    release.set()
    installer.join(timeout=60)
    fixer.join(timeout=60)
    assert (market_root / "extensions" / result.manifest.id / ".market.json").is_file()
    assert InstalledExtension.objects.filter(extension_id=result.manifest.id).exists()
    assert [f["kind"] for f in reports[0].findings] == []


def test_doctor_never_claims_a_repair_it_did_not_make(db, market_root):
    # our sidecar, but a folder name no extension id can have: reported, not touched
    odd = market_root / "extensions" / "Not An Id"
    odd.mkdir(parents=True)
    (odd / ".market.json").write_text('{"id": "x"}')
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("market_doctor", "--fix", "--min-age", "0", stdout=out)
    assert exited.value.code == 1
    assert "[found] folder_without_row Not An Id" in out.getvalue()
    assert odd.exists()
