"""``GET snapshot``: the signed catalogue snapshot studios sync from, and ``since=``."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from datetime import datetime, timedelta

import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.urls import reverse
from django.utils import timezone

from market import review, revision
from market.models import CatalogEntry
from market.selectors import catalog_card
from tests.publishing import publish

SNAPSHOT = reverse("market-api:snapshot")


def published_key(client, key_id: str) -> Ed25519PublicKey:
    """The key as a studio gets it: from ``GET keys``, by id."""
    listed = client.get(reverse("market-api:keys")).json()["keys"]
    keys = {k["key_id"]: k for k in listed}
    raw = base64.b64decode(keys[key_id]["public_key"])
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(key: Ed25519PublicKey, snapshot: dict, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature), rfc8785.dumps(snapshot))
    except InvalidSignature:
        return False
    return True


def fetch(client, **params) -> dict:
    response = client.get(SNAPSHOT, params)
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    key_id, signature = response["X-Market-Signature"].split(":", 1)
    assert key_id == body["snapshot"]["key_id"]
    assert signature == body["signature"]
    return body


def grow(n: int, *, start: int = 0) -> None:
    """``n`` approved entries written as approval writes them, stamped at the
    revision the load bumps to."""
    now = timezone.now()
    rows = []
    for i in range(start, start + n):
        ext_id = f"ext.{i:05d}"
        manifest = {
            "id": ext_id,
            "name": f"Extension {i}",
            "version": "1.0.0",
            "summary": "s",
            "authors": ["a"],
            "permissions": [],
            "trust": {"level": "unverified"},
        }
        rows.append(
            CatalogEntry(
                extension_id=ext_id,
                version="1.0.0",
                name=manifest["name"],
                summary="s",
                authors=["a"],
                manifest=manifest,
                manifest_sha256=f"{i:064x}",
                package=f"bundles/{ext_id}.cvnext",
                package_sha256=f"{i + 1:064x}",
                package_size=1000 + i,
                status=CatalogEntry.Status.APPROVED,
                is_latest=True,
                reviewed_at=now,
                approved_at=now,
                card=catalog_card(manifest),
            )
        )
    CatalogEntry.objects.bulk_create(rows, batch_size=2000)
    rev = revision.rebuild()
    CatalogEntry.objects.filter(changed_revision=0).update(changed_revision=rev.number)


@pytest.fixture
def catalogue(db, flags_on, build_bundle, catalog_key):
    """hello.alpha 1.0.0 verified + 1.1.0 unverified, hello.beta 2.0.0 unverified."""
    bundle = build_bundle(
        "hello_minimal",
        edit=lambda d: d.update(id="hello.alpha", version="1.0.0", name="Alpha"),
    )
    entry = review.catalog_entry_submit(bundle_path=bundle.path)
    review.catalog_entry_approve(entry=entry, trust_level="verified")
    publish(build_bundle, "hello.alpha", "1.1.0")
    publish(build_bundle, "hello.beta", "2.0.0")
    publish(build_bundle, "hello.pending", "1.0.0", approve=False)
    return catalog_key


def test_the_snapshot_is_signed_by_the_published_key_over_rfc8785(client, catalogue):
    body = fetch(client)
    snap = body["snapshot"]
    assert verify(published_key(client, catalogue), snap, body["signature"])
    assert snap["format"] == 1
    assert snap["origin"] == "http://testserver"
    assert snap["revision"] == revision.current().number
    assert snap["since"] is None
    assert snap["key_id"] == catalogue
    assert snap["removed"] == []
    issued = datetime.fromisoformat(snap["issued_at"])
    expires = datetime.fromisoformat(snap["expires_at"])
    assert snap["issued_at"].endswith("Z") and expires - issued == timedelta(days=7)
    assert [(e["id"], e["version"]) for e in snap["entries"]] == [
        ("hello.alpha", "1.0.0"),
        ("hello.alpha", "1.1.0"),
        ("hello.beta", "2.0.0"),
    ]
    verified = CatalogEntry.objects.get(extension_id="hello.alpha", version="1.0.0")
    first = snap["entries"][0]
    assert first == {
        "id": "hello.alpha",
        "version": "1.0.0",
        "name": "Alpha",
        "summary": verified.summary,
        "authors": verified.authors,
        "trust": "verified",
        "state": "approved",
        "reason": None,
        "state_at": None,
        "manifest": verified.manifest,
        "manifest_sha256": verified.manifest_sha256,
        "package_sha256": verified.package_sha256,
        "package_size": verified.package_size,
        "signature": verified.manifest["trust"]["signature"],
        "approved_at": first["approved_at"],
    }
    assert first["signature"].startswith("ed25519:")
    assert first["approved_at"].endswith("Z")
    assert snap["entries"][1]["trust"] == "unverified"
    assert snap["entries"][1]["signature"] is None


def test_tampering_with_any_field_breaks_the_signature(client, catalogue):
    body = fetch(client)
    key = published_key(client, catalogue)
    snap = body["snapshot"]
    entry = snap["entries"][0]
    for field, value in entry.items():
        changed = copy.deepcopy(snap)
        if isinstance(value, dict):
            changed["entries"][0][field] = {**value, "name": "Evil"}
        elif isinstance(value, list):
            changed["entries"][0][field] = [*value, "evil"]
        elif isinstance(value, int):
            changed["entries"][0][field] = value + 1
        elif value is None:
            changed["entries"][0][field] = "x"
        else:
            last = "0" if value[-1] != "0" else "1"
            changed["entries"][0][field] = value[:-1] + last
        assert not verify(key, changed, body["signature"]), field
    for field in ("revision", "expires_at", "origin", "since", "key_id"):
        changed = copy.deepcopy(snap)
        changed[field] = 10**6 if field in ("revision", "since") else "x"
        assert not verify(key, changed, body["signature"]), field
    # Swapping two entries' digests (mix-and-match) breaks it too.
    changed = copy.deepcopy(snap)
    a, b = changed["entries"][0], changed["entries"][2]
    a["package_sha256"], b["package_sha256"] = b["package_sha256"], a["package_sha256"]
    assert not verify(key, changed, body["signature"])
    assert verify(key, snap, body["signature"])


def test_since_returns_only_the_ids_each_decision_changed(client, catalogue):
    start = fetch(client)["snapshot"]["revision"]
    assert fetch(client, since=start)["snapshot"]["entries"] == []

    alpha = CatalogEntry.objects.get(extension_id="hello.alpha", version="1.1.0")
    review.catalog_entry_yank(entry=alpha, reviewer=None, reason="broken save files")
    body = fetch(client, since=start)
    snap = body["snapshot"]
    assert snap["since"] == start and snap["revision"] > start
    assert verify(published_key(client, catalogue), snap, body["signature"])
    assert [(e["id"], e["version"], e["state"]) for e in snap["entries"]] == [
        ("hello.alpha", "1.0.0", "approved"),
        ("hello.alpha", "1.1.0", "yanked"),
    ]
    yanked = snap["entries"][1]
    assert yanked["reason"] == "broken save files"
    assert yanked["state_at"].endswith("Z")
    approved = CatalogEntry.objects.get(pk=alpha.pk).approved_at
    assert yanked["approved_at"] == approved.isoformat().replace("+00:00", "Z")

    after_yank = snap["revision"]
    beta = CatalogEntry.objects.get(extension_id="hello.beta")
    review.catalog_entry_delist(entry=beta, reviewer=None, reason="malware")
    snap = fetch(client, since=after_yank)["snapshot"]
    assert [(e["id"], e["state"], e["reason"]) for e in snap["entries"]] == [
        ("hello.beta", "delisted", "malware")
    ]

    after_delist = snap["revision"]
    pending = CatalogEntry.objects.get(extension_id="hello.pending")
    review.catalog_entry_approve(entry=pending, trust_level="unverified")
    snap = fetch(client, since=after_delist)["snapshot"]
    assert [(e["id"], e["state"]) for e in snap["entries"]] == [
        ("hello.pending", "approved")
    ]
    # Everything since the start: the three ids, every version of each.
    snap = fetch(client, since=start)["snapshot"]
    assert [(e["id"], e["version"]) for e in snap["entries"]] == [
        ("hello.alpha", "1.0.0"),
        ("hello.alpha", "1.1.0"),
        ("hello.beta", "2.0.0"),
        ("hello.pending", "1.0.0"),
    ]
    # The full snapshot keeps withdrawn versions, as their state.
    full = fetch(client)["snapshot"]
    assert {(e["id"], e["state"]) for e in full["entries"]} >= {
        ("hello.alpha", "yanked"),
        ("hello.beta", "delisted"),
    }


def test_a_rejection_is_not_a_change_studios_see(client, catalogue, build_bundle):
    entry = publish(build_bundle, "hello.gamma", "1.0.0", approve=False)
    start = fetch(client)["snapshot"]["revision"]
    review.catalog_entry_reject(entry=entry, reviewer=None, reason="no")
    assert fetch(client, since=start)["snapshot"]["entries"] == []


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", "", " ", "\u0661", "9" * 30])
def test_a_since_that_is_not_a_revision_is_refused(client, catalogue, since):
    response = client.get(SNAPSHOT, {"since": since})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"]["revision"] == revision.current().number


def test_a_since_ahead_of_the_catalogue_is_refused(client, catalogue):
    current = revision.current().number
    response = client.get(SNAPSHOT, {"since": current + 1})
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": {
            "code": "invalid_request",
            "message": f"since={current + 1} is ahead of the catalogue's revision "
            f"{current}",
            "details": {"since": current + 1, "revision": current},
        },
    }


def test_without_a_catalogue_key_the_snapshot_is_refused(db, flags_on, client):
    response = client.get(SNAPSHOT)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "signing_key_missing"
    assert "X-Market-Signature" not in response


def test_the_snapshot_is_public_only_while_public_reads_are_on(
    client, settings, catalogue
):
    settings.MARKET_PUBLIC_READS = False
    for name in ("snapshot", "snapshot-keys"):
        response = client.get(reverse(f"market-api:{name}"))
        assert response.status_code in (401, 403), name
        assert response.json()["error"]["code"] == "not_authenticated"


def test_ttl_and_origin_come_from_the_settings(client, settings, catalogue):
    settings.MARKET_SNAPSHOT_TTL = 3600
    settings.MARKET_SNAPSHOT_ORIGIN = "https://market.example.org/"
    snap = fetch(client)["snapshot"]
    issued = datetime.fromisoformat(snap["issued_at"])
    assert datetime.fromisoformat(snap["expires_at"]) - issued == timedelta(hours=1)
    assert snap["origin"] == "https://market.example.org"


def test_the_full_snapshot_is_built_once_per_revision(
    client, catalogue, django_assert_max_num_queries, build_bundle
):
    first = client.get(SNAPSHOT, HTTP_ACCEPT_ENCODING="gzip")
    assert first["Content-Encoding"] == "gzip"
    with django_assert_max_num_queries(1):  # the revision row; the body is cached
        again = client.get(SNAPSHOT, HTTP_ACCEPT_ENCODING="gzip")
    assert again.content == first.content
    assert again["X-Market-Signature"] == first["X-Market-Signature"]
    publish(build_bundle, "hello.delta", "1.0.0")
    changed = client.get(SNAPSHOT).json()
    old = json.loads(gzip.decompress(first.content))
    assert changed["snapshot"]["revision"] > old["snapshot"]["revision"]
    assert "hello.delta" in {e["id"] for e in changed["snapshot"]["entries"]}


@pytest.mark.parametrize("size", [10, 500])
def test_the_snapshot_is_built_in_fixed_queries(
    db, flags_on, client, catalog_key, django_assert_max_num_queries, size
):
    grow(size)
    with django_assert_max_num_queries(3):
        body = fetch(client)
    assert len(body["snapshot"]["entries"]) == size
    since = body["snapshot"]["revision"]
    with django_assert_max_num_queries(3):
        assert fetch(client, since=since)["snapshot"]["entries"] == []


def test_ten_changes_among_ten_thousand_entries_send_only_those(
    db, flags_on, client, catalog_key, django_assert_max_num_queries, capsys
):
    grow(10_000)
    full = client.get(SNAPSHOT)
    start = full.json()["snapshot"]["revision"]
    changed = []
    for i in range(0, 10_000, 1000):
        entry = CatalogEntry.objects.get(extension_id=f"ext.{i:05d}")
        if i % 2000:
            review.catalog_entry_yank(entry=entry, reviewer=None, reason="r")
        else:
            review.catalog_entry_delist(entry=entry, reviewer=None, reason="r")
        changed.append(entry.extension_id)
    with django_assert_max_num_queries(3):
        incremental = client.get(SNAPSHOT, {"since": start})
    snap = incremental.json()["snapshot"]
    assert [e["id"] for e in snap["entries"]] == changed
    key = published_key(client, catalog_key)
    assert verify(key, snap, incremental.json()["signature"])
    packed_full = len(client.get(SNAPSHOT, HTTP_ACCEPT_ENCODING="gzip").content)
    packed_incremental = len(
        client.get(SNAPSHOT, {"since": start}, HTTP_ACCEPT_ENCODING="gzip").content
    )
    assert len(incremental.content) * 100 < len(full.content)
    with capsys.disabled():
        print(
            f"\nsnapshot of 10,000 entries: full {len(full.content)} bytes "
            f"({packed_full} gzip), since= with 10 changes {len(incremental.content)} "
            f"bytes ({packed_incremental} gzip)"
        )


def test_openapi_types_the_publishing_endpoints(db, client):
    doc = client.get(reverse("openapi-schema"), {"format": "json"}).json()
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    get = paths["/api/market/snapshot"]["get"]
    assert [p["name"] for p in get["parameters"]] == ["since"]
    assert get["parameters"][0]["schema"] == {"type": "integer"}
    ok = get["responses"]["200"]
    assert "X-Market-Signature" in ok["headers"]
    assert {"400", "401", "403", "409"} <= set(get["responses"])
    snap = schemas["Snapshot"]["properties"]
    assert set(snap) == {
        "format",
        "origin",
        "revision",
        "since",
        "issued_at",
        "expires_at",
        "key_id",
        "entries",
        "removed",
    }
    entry = schemas["SnapshotEntry"]["properties"]
    assert entry["state"]["$ref"].rsplit("/", 1)[1] in schemas
    assert entry["package_size"]["type"] == "integer"
    assert entry["signature"]["nullable"] is True
    keys = paths["/api/market/snapshot/keys"]["get"]["responses"]["200"]
    assert keys["content"]["application/json"]["schema"]["$ref"].endswith(
        "/KeyChainResponse"
    )
    link = schemas["KeyLink"]["properties"]
    assert link["signed_by"]["nullable"] is True
    bundle = paths["/api/market/catalog/{ext_id}/{version}/bundle"]["get"]
    assert bundle["responses"]["200"]["content"]["application/zip"]["schema"] == {
        "type": "string",
        "format": "binary",
    }
    assert "ETag" in bundle["responses"]["200"]["headers"]
    assert {"304", "401", "403", "404"} <= set(bundle["responses"])


def test_a_since_query_reads_the_changed_ids_through_their_index(db, flags_on):
    from django.db import connection

    grow(2000)
    changed = (
        CatalogEntry.objects.filter(changed_revision__gt=1)
        .order_by()
        .values("extension_id")
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE market_catalogentry")
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = changed.explain()
    assert "catalog_changed_revision" in plan, plan


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_build_the_full_snapshot_once(
    flags_on, catalog_key, monkeypatch
):
    import threading
    import time

    from django.db import connections

    from market import snapshot

    grow(50)
    built: list[int] = []
    real = snapshot._signed

    def slow(*args, **kwargs):
        built.append(1)
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(snapshot, "_signed", slow)
    barrier = threading.Barrier(4)
    results: list[str] = []

    def fetch_one() -> None:
        try:
            barrier.wait(timeout=30)
            signed = snapshot.signed_snapshot(since=None, origin="http://testserver")
            results.append(signed.header)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=fetch_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 4 and len(set(results)) == 1
    assert built == [1]
