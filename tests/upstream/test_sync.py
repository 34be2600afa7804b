"""The studio side against a stand-in central server over real HTTP on 127.0.0.1:
sync, install by id, and every attack refused with its code, nothing stored or
installed. (tests/upstream/test_two_servers.py runs against the real central app.)"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.urls import reverse

from market import signing
from market.models import CatalogEntry, InstalledExtension, LifecycleError
from market.upstream import sync
from tests.upstream.central import (
    entry_for,
    public_b64,
    signed_bundle,
    signed_document,
    snapshot,
)

BUNDLE = "/api/market/catalog/{id}/{version}/bundle"


@pytest.fixture
def published(build_bundle, central, central_key, tmp_path):
    """One verified bundle published on the stand-in central: (entry, bundle path)."""

    def edit(data):
        data.update(id="up.hello", version="1.0.0", name="Upstream hello")

    plain = build_bundle("hello_minimal", edit=edit)
    bundle = signed_bundle(plain.path, central_key, tmp_path / "central")
    entry = entry_for(bundle.path)
    central.serve(
        BUNDLE.format(id="up.hello", version="1.0.0"), bundle.path.read_bytes()
    )
    return entry, bundle.path


def serve(central, key, entries, **opts):
    since = opts.pop("asked", None)
    central.serve_snapshot(signed_document(snapshot(key, entries, **opts), key), since)


def install(api, ext_id, **extra):
    return api.post(
        reverse("market-api:install"), {"id": ext_id, **extra}, format="json"
    )


def catalog(api):
    return json.loads(api.get(reverse("market-api:list")).content)["catalog"]


def upstream_rows():
    return CatalogEntry.objects.filter(source="upstream")


def refused(code):
    with pytest.raises(CommandError) as info:
        call_command("market_sync")
    assert str(info.value).startswith(code + ":"), info.value


def test_sync_lists_and_installs_verified_then_uninstalls(
    api, central, central_key, published
):
    entry, _ = published
    serve(central, central_key, [entry])
    call_command("market_sync")
    [item] = catalog(api)
    assert item["id"] == "up.hello" and item["source"] == "upstream"
    assert item["trust"] == "verified" and "stale" not in item
    page = json.loads(api.get("/api/market/catalog/").content)["items"]
    assert page[0]["source"] == "upstream"

    response = install(api, "up.hello")
    assert response.status_code == 200, response.content
    row = InstalledExtension.objects.get(extension_id="up.hello")
    assert row.trust_level == "verified"
    kid = signing.key_id_for(central_key.public_key())
    assert row.sidecar["trust"]["proof"] == f"upstream:{kid}"
    assert row.package_sha256 == entry["package_sha256"]

    health = json.loads(api.get(reverse("market-api:health")).content)
    assert health["upstream"]["revision"] == 5
    assert health["upstream"]["last_error"] is None

    response = api.post(
        reverse("market-api:uninstall"), {"id": "up.hello"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert not InstalledExtension.objects.exists()


def test_yank_upstream_then_sync_marks_the_install(
    api, central, central_key, published
):
    entry, _ = published
    serve(central, central_key, [entry], revision=5)
    call_command("market_sync")
    assert install(api, "up.hello").status_code == 200
    yanked = {
        **entry,
        "state": "yanked",
        "reason": "broken save files",
        "state_at": entry["approved_at"],
    }
    serve(central, central_key, [yanked], revision=7, since=5, asked=5)
    call_command("market_sync")
    assert central.requests[-1] == "/api/market/snapshot?since=5"
    assert catalog(api) == []
    [installed] = json.loads(api.get(reverse("market-api:list")).content)["installed"]
    assert installed["yanked"]["reason"] == "broken save files"
    # As locally: a yanked version is never the newest, still installable pinned.
    assert install(api, "up.hello").status_code == 404


def test_bundle_changed_on_central_is_content_mismatch(
    api, central, central_key, published
):
    entry, path = published
    serve(central, central_key, [entry])
    call_command("market_sync")
    data = bytearray(path.read_bytes())
    data[-30] ^= 0xFF  # same size, other bytes
    central.serve(BUNDLE.format(id="up.hello", version="1.0.0"), bytes(data))
    response = install(api, "up.hello")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "content_mismatch"
    assert not InstalledExtension.objects.exists()
    assert LifecycleError.objects.filter(code="content_mismatch").exists()
    assert not list((Path(api_root()) / "staging").glob("*.cvnext"))


def api_root():
    from market.conf import market_conf

    return market_conf().root


def test_oversized_and_endless_bundle_downloads_are_stopped(
    api, central, central_key, published
):
    entry, path = published
    serve(central, central_key, [entry])
    call_command("market_sync")
    central.serve(
        BUNDLE.format(id="up.hello", version="1.0.0"), path.read_bytes() + b"x" * 4096
    )
    response = install(api, "up.hello")
    assert response.json()["error"]["code"] == "limit_exceeded"

    def endless():
        while True:
            yield b"\0" * 1024

    central.serve(BUNDLE.format(id="up.hello", version="1.0.0"), endless())
    response = install(api, "up.hello")
    assert response.json()["error"]["code"] == "limit_exceeded"
    assert not InstalledExtension.objects.exists()
    assert not list((Path(api_root()) / "staging").glob("*.cvnext"))


def test_endless_snapshot_is_limit_exceeded(settings, api, central, central_key):
    settings.MARKET_UPSTREAM_LIMITS = {"max_snapshot_bytes": 100_000, "attempts": 1}

    def endless():
        yield b'{"ok":true,"snapshot":{"entries":['
        while True:
            yield b"{}," * 1000

    central.serve("/api/market/snapshot", endless())
    refused("limit_exceeded")
    assert not upstream_rows().exists()


def test_gzip_snapshot_is_read_and_a_gzip_bomb_stopped(
    settings, api, central, central_key, published
):
    import gzip

    entry, _ = published
    document = signed_document(snapshot(central_key, [entry]), central_key)
    central.serve(
        "/api/market/snapshot",
        gzip.compress(json.dumps(document).encode()),
        **{"Content-Encoding": "gzip"},
    )
    call_command("market_sync")
    assert upstream_rows().count() == 1
    settings.MARKET_UPSTREAM_LIMITS = {"max_snapshot_bytes": 1_000_000, "attempts": 1}
    bomb = gzip.compress(b"[" + b" " * 50_000_000 + b"]")  # 50 MB in ~50 KB
    assert len(bomb) < 100_000
    central.serve("/api/market/snapshot?since=5", bomb, **{"Content-Encoding": "gzip"})
    refused("limit_exceeded")
    assert upstream_rows().count() == 1


def test_snapshot_signed_by_an_unknown_key_is_untrusted(api, central, published):
    entry, _ = published
    stranger = Ed25519PrivateKey.generate()
    serve(central, stranger, [entry])
    refused("snapshot_untrusted")
    assert not upstream_rows().exists()
    health = json.loads(api.get(reverse("market-api:health")).content)
    assert health["upstream"]["last_error"]["code"] == "snapshot_untrusted"


def test_replayed_older_snapshot_is_rollback(api, central, central_key, published):
    entry, _ = published
    serve(central, central_key, [entry], revision=9)
    call_command("market_sync")
    old = {**entry, "state": "approved"}
    serve(central, central_key, [old], revision=4)
    central.serve_snapshot(
        signed_document(snapshot(central_key, [old], revision=4), central_key), 9
    )
    refused("snapshot_rollback")
    assert upstream_rows().get().version == "1.0.0"


def test_expired_snapshot_is_refused(api, central, central_key, published):
    entry, _ = published
    serve(central, central_key, [entry], expires_in=timedelta(seconds=-1))
    refused("snapshot_expired")
    assert not upstream_rows().exists()


def test_entry_digest_altered_after_signing_is_invalid(
    api, central, central_key, published
):
    entry, _ = published
    document = signed_document(snapshot(central_key, [entry]), central_key)
    tampered = copy.deepcopy(document)
    tampered["snapshot"]["entries"][0]["package_sha256"] = "0" * 64
    central.serve_snapshot(tampered)
    refused("snapshot_invalid")
    # Re-signed by the right key but the digest no longer the manifest's: refused too.
    mixed = {**entry, "manifest_sha256": "1" * 64}
    serve(central, central_key, [mixed])
    refused("snapshot_invalid")
    assert not upstream_rows().exists()


def test_central_down_keeps_the_last_snapshot_serving(
    api, central, central_key, published
):
    entry, _ = published
    serve(central, central_key, [entry])
    call_command("market_sync")
    central.close()
    refused("upstream_unavailable")
    [item] = catalog(api)
    assert item["id"] == "up.hello"
    health = json.loads(api.get(reverse("market-api:health")).content)
    assert health["upstream"]["last_error"]["code"] == "upstream_unavailable"
    assert health["upstream"]["revision"] == 5


def test_after_expiry_list_marks_stale_and_install_is_refused(
    api, central, central_key, published
):
    from market.models import UpstreamState

    entry, _ = published
    serve(central, central_key, [entry])
    call_command("market_sync")
    assert "stale" not in catalog(api)[0]
    from django.utils import timezone

    UpstreamState.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert catalog(api)[0]["stale"] is True
    page = json.loads(api.get("/api/market/catalog/").content)["items"]
    assert page[0]["stale"] is True
    response = install(api, "up.hello")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "snapshot_expired"
    assert not InstalledExtension.objects.exists()
    health = json.loads(api.get(reverse("market-api:health")).content)
    assert health["upstream"]["stale"] is True


def rotation_item(new, old):
    key_id = signing.key_id_for(new.public_key())
    public = public_b64(new)
    import base64

    return {
        "key_id": key_id,
        "public_key": public,
        "created_at": "2026-01-01T00:00:00Z",
        "signed_by": signing.key_id_for(old.public_key()),
        "signature": base64.b64encode(
            old.sign(rfc8785.dumps({"key_id": key_id, "public_key": public}))
        ).decode(),
    }


def test_rotated_key_is_accepted_once_when_signed_by_a_pinned_key(
    api, central, central_key, published
):
    from market.models import UpstreamKey

    entry, _ = published
    new = Ed25519PrivateKey.generate()
    forged = Ed25519PrivateKey.generate()
    items = [rotation_item(new, central_key), rotation_item(forged, forged)]
    central.serve(
        "/api/market/snapshot/keys", json.dumps({"ok": True, "items": items}).encode()
    )
    serve(central, new, [entry])
    call_command("market_sync")
    assert list(UpstreamKey.objects.values_list("key_id", flat=True)) == [
        signing.key_id_for(new.public_key())
    ]
    assert upstream_rows().count() == 1
    # A snapshot signed by the self-signed key is still refused.
    serve(central, forged, [entry], revision=6)
    central.serve_snapshot(
        signed_document(snapshot(forged, [entry], revision=6), forged), 5
    )
    refused("snapshot_untrusted")
    # Accepted once: a second sync with the same chain records nothing new.
    central.serve_snapshot(signed_document(snapshot(new, [entry], revision=6), new), 5)
    call_command("market_sync")
    assert UpstreamKey.objects.count() == 1


def test_list_starts_at_most_one_background_sync(api, settings, central, monkeypatch):
    from market.upstream import state

    settings.MARKET_UPSTREAM_SYNC_AFTER = 60
    started = []
    monkeypatch.setattr(
        sync.threading, "Thread", lambda **kw: started.append(kw) or _NoThread()
    )
    api.get(reverse("market-api:list"))
    assert len(started) == 1
    # A sync that runs holds the state: neither list nor market_sync starts another.
    assert state.claim()
    sync._local.release()
    api.get(reverse("market-api:list"))
    assert len(started) == 1
    refused("sync_in_progress")


class _NoThread:
    def start(self) -> None:
        pass


def test_settings_are_checked(settings):
    from market.checks import check_market_settings

    settings.MARKET_UPSTREAM_URL = "ftp://central"
    settings.MARKET_UPSTREAM_KEYS = {}
    settings.MARKET_UPSTREAM_SYNC_AFTER = -1
    settings.MARKET_UPSTREAM_LIMITS = {"max_snapshot_bytes": 0}
    ids = {m.id for m in check_market_settings()}
    assert {"market.E014", "market.E016", "market.E017"} <= ids
    settings.MARKET_UPSTREAM_URL = "https://central.example.org"
    assert "market.E015" in {m.id for m in check_market_settings()}


def test_list_answers_at_once_and_syncs_in_the_background(
    api, settings, central, central_key, published
):
    import time

    entry, _ = published
    settings.MARKET_UPSTREAM_SYNC_AFTER = 3600
    serve(central, central_key, [entry])
    first = catalog(api)  # answered from what is stored: nothing yet
    assert first == []
    deadline = time.monotonic() + 20
    while not upstream_rows().exists():
        assert time.monotonic() < deadline, "the background sync never stored"
        time.sleep(0.1)
    while sync._local.locked():  # the thread finishes and lets go
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [i["id"] for i in catalog(api)] == ["up.hello"]
    # Synced just now: the next list starts none.
    requests = len(central.requests)
    catalog(api)
    time.sleep(0.3)
    assert len(central.requests) == requests


def test_the_migration_gives_stored_listings_their_source(db, build_bundle):
    """Entries listed before upstream rows existed are local, and say so."""
    import importlib

    from django.apps import apps

    from market import revision, selectors
    from tests.publishing import publish

    migration = importlib.import_module("market.migrations.0012_upstream")
    entry = publish(build_bundle, "old.entry", "1.0.0")
    listing = json.loads(entry.listing)
    del listing["source"]
    CatalogEntry.objects.filter(pk=entry.pk).update(listing=json.dumps(listing))
    before = revision.current().number
    migration.listings_with_source(apps, None)
    stored = CatalogEntry.objects.get(pk=entry.pk)
    assert json.loads(stored.listing) == json.loads(selectors.catalog_listing(stored))
    assert json.loads(stored.listing)["source"] == "local"
    assert revision.current().number == before + 1


def test_upstream_entries_are_not_reviewed_on_the_studio(
    api, central, central_key, published, make_user
):
    from market import review
    from market.errors import ReviewError

    entry, _ = published
    serve(central, central_key, [entry])
    call_command("market_sync")
    row = upstream_rows().get()
    reviewer = make_user("rev", "market.review_catalogentry")
    with pytest.raises(ReviewError, match="central marketplace"):
        review.catalog_entry_yank(entry=row, reviewer=reviewer, reason="local yank")
    assert upstream_rows().get().status == "approved"


def test_a_studio_never_republishes_upstream_rows(
    api, central, central_key, published, catalog_key
):
    entry, _ = published
    serve(central, central_key, [entry])
    call_command("market_sync")
    response = api.get("/api/market/snapshot", HTTP_ACCEPT_ENCODING="identity")
    assert response.status_code == 200
    assert json.loads(response.content)["snapshot"]["entries"] == []
    response = api.get(BUNDLE.format(id="up.hello", version="1.0.0"))
    assert response.status_code == 404


def test_the_admin_lists_upstream_rows(
    api, central, central_key, published, make_user, client
):
    entry, _ = published
    serve(central, central_key, [entry])
    call_command("market_sync")
    admin = make_user("boss", superuser=True)
    client.force_login(admin)
    response = client.get("/admin/market/catalogentry/?status=approved")
    assert response.status_code == 200
    assert b"up.hello" in response.content
    row = upstream_rows().get()
    response = client.get(f"/admin/market/catalogentry/{row.pk}/change/")
    assert response.status_code == 200
