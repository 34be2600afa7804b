"""Concurrent installs/uninstalls of one id: row, folder and sidecar end up agreeing."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connections
from django.urls import reverse

from market.models import InstalledExtension
from tests.races import race


@pytest.mark.django_db(transaction=True)
def test_eight_threads_installing_and_uninstalling_one_id(
    # On PostgreSQL the ExtensionSlot row lock serialises the swaps; on SQLite the
    # IMMEDIATE transactions do. Both must end consistent.
    token_client,
    installer,
    flags_on,
    build_bundle,
    market_root,
):
    v1 = build_bundle("hello_minimal")

    def bump(data):
        data["version"] = "1.5.0"

    v2 = build_bundle("hello_minimal", edit=bump)
    ext_id = v1.manifest.id
    clients = [token_client(installer) for _ in range(8)]

    def request(client, n: int, i: int):
        if (n + i) % 3 == 0:
            r = client.post(
                reverse("market-api:uninstall"), {"id": ext_id}, format="json"
            )
        else:
            bundle = v1 if (n + i) % 2 else v2
            r = client.post(
                reverse("market-api:install"),
                {
                    "package": str(bundle.path),
                    "reinstall": True,
                    "allow_downgrade": True,
                },
                format="json",
            )
        return r

    statuses = race(clients, 4, request)
    assert all(s in (200, 404, 409) for s in statuses), statuses
    assert statuses.count(200) >= 8

    folder = market_root / "extensions" / ext_id
    row = InstalledExtension.objects.filter(extension_id=ext_id).first()
    if row is None:
        assert not folder.exists()
    else:
        sidecar = json.loads((folder / ".market.json").read_text())
        assert sidecar["version"] == row.version
        assert sidecar["package"]["sha256"] == row.package_sha256
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["version"] == row.version
    leftovers = [p.name for p in (market_root / "staging").iterdir()]
    assert leftovers == []


def test_lock_timeouts_are_recognised():
    from django.db import OperationalError

    from market.services.common import is_lock_timeout

    assert is_lock_timeout(OperationalError("database is locked"))
    assert not is_lock_timeout(OperationalError("no such table: x"))
    assert not is_lock_timeout(RuntimeError("database is locked"))


@pytest.mark.skipif(
    connections["default"].vendor != "postgresql",
    reason="row-lock timeouts are PostgreSQL's; SQLite waits on its busy timeout",
)
@pytest.mark.django_db(transaction=True)
def test_a_held_lock_gives_install_in_progress(api, settings, build_bundle):
    from django.db import transaction

    from market.models import ExtensionSlot
    from market.services.common import lock_slot

    settings.MARKET_LOCK_TIMEOUT = 0.3
    result = build_bundle("hello_minimal")
    ExtensionSlot.objects.create(extension_id=result.manifest.id)
    held = threading.Event()
    release = threading.Event()

    def holder():
        try:
            with transaction.atomic():
                lock_slot(result.manifest.id)
                held.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(timeout=30)
        response = api.post(
            reverse("market-api:install"), {"package": str(result.path)}, format="json"
        )
    finally:
        release.set()
        thread.join(timeout=30)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "install_in_progress"
    assert InstalledExtension.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_eight_threads_upgrading_rolling_back_and_uninstalling_one_id(
    token_client,
    installer,
    flags_on,
    build_bundle,
    market_root,
):
    # Upgrades keep the previous version, rollbacks swap it back, uninstalls drop
    # both: whatever the interleaving, each row agrees with its folder's sidecar.
    def version(v):
        def edit(data):
            data["version"] = v

        return edit

    bundles = [
        build_bundle("hello_minimal", edit=version(v))
        for v in ("1.0.0", "1.1.0", "1.2.0")
    ]
    ext_id = bundles[0].manifest.id
    clients = [token_client(installer) for _ in range(8)]

    def request(client, n: int, i: int):
        step = (n + i) % 4
        if step == 0:
            r = client.post(
                reverse("market-api:uninstall"), {"id": ext_id}, format="json"
            )
        elif step == 1:
            r = client.post(
                reverse("market-api:rollback"), {"id": ext_id}, format="json"
            )
        else:
            r = client.post(
                reverse("market-api:install"),
                {
                    "package": str(bundles[(n + i) % 3].path),
                    "reinstall": True,
                    "allow_downgrade": True,
                },
                format="json",
            )
        return r

    statuses = race(clients, 5, request)
    assert all(s in (200, 404, 409) for s in statuses), statuses
    assert statuses.count(200) >= 8

    from market.models import PreviousInstall

    def agrees(folder, row):
        sidecar = json.loads((folder / ".market.json").read_text())
        manifest = json.loads((folder / "manifest.json").read_text())
        assert sidecar["version"] == row.version == manifest["version"]
        assert sidecar["package"]["sha256"] == row.package_sha256

    row = InstalledExtension.objects.filter(extension_id=ext_id).first()
    kept = PreviousInstall.objects.filter(extension_id=ext_id).first()
    folder = market_root / "extensions" / ext_id
    slot = market_root / "previous" / ext_id
    if row is None:
        assert not folder.exists()
        assert kept is None
    else:
        agrees(folder, row)
    if kept is None:
        assert not slot.exists()
    else:
        agrees(slot, kept)
    assert [p.name for p in (market_root / "staging").iterdir()] == []
