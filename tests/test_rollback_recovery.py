"""A crash at any step of a rollback (or of an upgrade keeping its previous version)
leaves the installed and the kept version where their rows say, at once or after
``market_doctor --fix``."""

from __future__ import annotations

import json

import pytest

from market import lifecycle, services
from market.doctor import market_doctor
from market.models import InstalledExtension, LifecycleError, PreviousInstall
from market.services import rollback
from market.services.common import Moves

ROLLBACK_STEPS = [
    "rollback.current_moved",
    "rollback.previous_moved",
    "rollback.kept",
    "rollback.recorded",
]
UPGRADE_STEPS = [
    "install.extracted",
    "install.old_moved",
    "install.swapped",
    "install.previous_kept",
    "install.recorded",
]


class Crash(RuntimeError):
    pass


def crash_at(monkeypatch, step):
    def fault(name):
        if name == step:
            raise Crash(step)

    monkeypatch.setattr(lifecycle, "fault_point", fault)


def killed(monkeypatch):
    """The process dies: the transaction never commits and nothing is renamed back."""
    monkeypatch.setattr(Moves, "undo", lambda self: None)


def bump(version):
    def edit(data):
        data["version"] = version

    return edit


def install(result):
    source = services.InstallSource("path", result.path, result.path.name)
    return services.extension_install(source=source, allow_downgrade=True)


def side_sha(folder):
    return json.loads((folder / ".market.json").read_text())["package"]["sha256"]


@pytest.fixture
def three(build_bundle):
    """Versions 1, 2 and 3 installed in turn: 3 installed, 2 kept."""
    bundles = [build_bundle("hello_minimal", edit=bump(f"{n}.0.0")) for n in (1, 2, 3)]
    for bundle in bundles:
        install(bundle)
    return bundles


def assert_consistent(market_root, installed, kept):
    ext_id = installed.manifest.id
    row = InstalledExtension.objects.get()
    assert row.package_sha256 == installed.sha256
    assert side_sha(market_root / "extensions" / ext_id) == installed.sha256
    prev = PreviousInstall.objects.get()
    assert prev.package_sha256 == kept.sha256
    assert side_sha(market_root / "previous" / ext_id) == kept.sha256


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", ROLLBACK_STEPS)
def test_a_failed_rollback_changes_nothing(monkeypatch, market_root, three, step):
    _, v2, v3 = three
    crash_at(monkeypatch, step)
    with pytest.raises(Crash):
        rollback.extension_rollback(ext_id=v3.manifest.id)
    assert_consistent(market_root, installed=v3, kept=v2)
    assert list((market_root / "staging").iterdir()) == []
    error = LifecycleError.objects.get()
    assert (error.action, error.code) == ("rollback", "server_error")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", ROLLBACK_STEPS)
def test_a_rollback_killed_at_any_step_is_repaired_by_the_doctor(
    monkeypatch, market_root, three, step
):
    _, v2, v3 = three
    killed(monkeypatch)
    crash_at(monkeypatch, step)
    with pytest.raises(Crash):
        rollback.extension_rollback(ext_id=v3.manifest.id)
    monkeypatch.undo()
    market_doctor(fix=True, min_age_seconds=0)
    assert_consistent(market_root, installed=v3, kept=v2)
    assert list((market_root / "staging").iterdir()) == []
    assert market_doctor(fix=False, min_age_seconds=0).clean
    # and the rollback works afterwards
    rollback.extension_rollback(ext_id=v3.manifest.id)
    assert_consistent(market_root, installed=v2, kept=v3)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", UPGRADE_STEPS)
def test_an_upgrade_killed_at_any_step_keeps_both_versions(
    monkeypatch, build_bundle, market_root, three, step
):
    _, v2, v3 = three
    v4 = build_bundle("hello_minimal", edit=bump("4.0.0"))
    killed(monkeypatch)
    crash_at(monkeypatch, step)
    with pytest.raises(Crash):
        install(v4)
    monkeypatch.undo()
    market_doctor(fix=True, min_age_seconds=0)
    assert_consistent(market_root, installed=v3, kept=v2)
    assert list((market_root / "staging").iterdir()) == []
    assert market_doctor(fix=False, min_age_seconds=0).clean


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", UPGRADE_STEPS)
def test_a_failed_upgrade_keeps_the_previous_generation(
    monkeypatch, build_bundle, market_root, three, step
):
    _, v2, v3 = three
    v4 = build_bundle("hello_minimal", edit=bump("4.0.0"))
    crash_at(monkeypatch, step)
    with pytest.raises(Crash):
        install(v4)
    assert_consistent(market_root, installed=v3, kept=v2)
    assert list((market_root / "staging").iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_doctor_removes_kept_folders_and_rows_that_lost_their_other_half(
    market_root, three
):
    v3 = three[2]
    ext_id = v3.manifest.id
    slot = market_root / "previous" / ext_id
    # a kept row whose folder is gone
    (market_root / "previous" / ext_id).rename(market_root / "elsewhere")
    report = market_doctor(fix=False, min_age_seconds=0)
    assert [(f["kind"], f["target"]) for f in report.findings] == [
        ("previous_without_folder", ext_id)
    ]
    market_doctor(fix=True, min_age_seconds=0)
    assert PreviousInstall.objects.count() == 0
    assert InstalledExtension.objects.get().package_sha256 == v3.sha256
    # a kept folder without its row
    (market_root / "elsewhere").rename(slot)
    report = market_doctor(fix=False, min_age_seconds=0)
    assert [(f["kind"], f["target"]) for f in report.findings] == [
        ("orphan_previous", ext_id)
    ]
    market_doctor(fix=True, min_age_seconds=0)
    assert not slot.exists()
    assert market_doctor(fix=False, min_age_seconds=0).clean


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", ["uninstall.moved", "uninstall.recorded"])
def test_an_uninstall_killed_at_any_step_keeps_both_versions(
    monkeypatch, market_root, three, step
):
    _, v2, v3 = three
    killed(monkeypatch)
    crash_at(monkeypatch, step)
    with pytest.raises(Crash):
        services.extension_uninstall(ext_id=v3.manifest.id)
    monkeypatch.undo()
    market_doctor(fix=True, min_age_seconds=0)
    assert_consistent(market_root, installed=v3, kept=v2)
    assert list((market_root / "staging").iterdir()) == []
    assert market_doctor(fix=False, min_age_seconds=0).clean


@pytest.mark.django_db(transaction=True)
def test_the_commands_accept_new_items_and_roll_back(build_bundle, market_root):
    from io import StringIO

    from django.core.management import CommandError, call_command

    def adds(data):
        data["version"] = "2.0.0"
        data["permissions"] = ["assets.read"]

    old = build_bundle("hello_minimal")
    new = build_bundle("hello_minimal", edit=adds)
    call_command("market_install", str(old.path), stdout=StringIO())
    with pytest.raises(CommandError, match="consent_required"):
        call_command("market_install", str(new.path), stdout=StringIO())
    call_command(
        "market_install",
        str(new.path),
        "--accept",
        "permission:assets.read",
        stdout=StringIO(),
    )
    out = StringIO()
    call_command("market_rollback", "hello.minimal", stdout=out)
    assert out.getvalue().strip() == (
        "[ok] rolled back hello.minimal to 0.1.0 (kept 2.0.0 for the next rollback)"
    )
    assert InstalledExtension.objects.get().package_sha256 == old.sha256
    with pytest.raises(CommandError, match="not_installed"):
        call_command("market_rollback", "no.such.ext", stdout=StringIO())
