"""``list`` by catalogue revision: bumped with every change, ETag/304 in one query,
bodies built once per change and served gzip-compressed."""

from __future__ import annotations

import gzip
import json
import threading
import time

import pytest
from django.urls import reverse

from market import list_cache, review, revision, selectors
from market.errors import MarketError
from market.models import CatalogEntry, CatalogRevision

LIST = "market-api:list"

# Approving as verified needs the catalogue key, made on purpose.
pytestmark = pytest.mark.usefixtures("catalog_key")


def number() -> int:
    return revision.current().number


def list_etag(client) -> str:
    response = client.get(reverse(LIST))
    assert response.status_code == 200
    return response["ETag"]


def test_every_change_to_list_bumps_the_revision_once(api, build_bundle, make_user):
    """approve, reject, delist, install and uninstall each bump it in their own
    transaction; a submission (pending, not listed) and a refused action do not."""
    seen = [number()]

    def bumped(expected: int = 1) -> None:
        now = number()
        assert now == seen[-1] + expected
        seen.append(now)

    first = build_bundle("hello_minimal")
    entry = review.catalog_entry_submit(bundle_path=first.path)
    bumped(0)
    review.catalog_entry_approve(entry=entry, trust_level="unverified")
    bumped()
    assert revision.current().listed == 1
    etag = list_etag(api)

    later = build_bundle("hello_minimal", edit=lambda d: d.update(version="0.2.0"))
    pending = review.catalog_entry_submit(bundle_path=later.path)
    bumped(0)
    review.catalog_entry_reject(entry=pending, reviewer=None, reason="no")
    bumped()
    with pytest.raises(MarketError):  # refused: rejected entries can't be delisted
        review.catalog_entry_delist(entry=pending, reviewer=None, reason="gone")
    bumped(0)

    installed = api.post(
        reverse("market-api:install"), {"id": "hello.minimal"}, format="json"
    )
    assert installed.status_code == 200, installed.json()
    bumped()
    again = api.post(
        reverse("market-api:install"), {"id": "hello.minimal"}, format="json"
    )
    assert again.json()["error"]["code"] == "already_installed"
    bumped(0)  # rolled back with the refused install
    assert list_etag(api) != etag

    gone = api.post(reverse("market-api:uninstall"), {"id": "hello.minimal"})
    assert gone.status_code == 200
    bumped()
    review.catalog_entry_delist(
        entry=CatalogEntry.objects.get(extension_id="hello.minimal", status="approved"),
        reviewer=None,
        reason="abandoned",
    )
    bumped()
    assert revision.current().listed == 0
    health = api.get(reverse("market-api:health")).json()
    assert health["counts"]["catalog"] == 0


def test_304_reads_one_row_and_renders_nothing(
    db,
    flags_on,
    client,
    monkeypatch,
    django_assert_max_num_queries,
    token_client,
    make_user,
):
    revision.rebuild()
    etag = list_etag(client)
    assert etag.startswith('W/"') and client.get(reverse(LIST))["ETag"] == etag

    # A logged-in reader sees installers' names: another body, another tag.
    reader = token_client(make_user("reader"))
    theirs = reader.get(reverse(LIST), HTTP_IF_NONE_MATCH=etag)
    assert theirs.status_code == 200 and theirs["ETag"] != etag

    def boom(*args, **kwargs):
        raise AssertionError("a 304 must not render the snapshot")

    monkeypatch.setattr(selectors, "market_snapshot_json", boom)
    monkeypatch.setattr(list_cache, "compressed_body", boom)
    for header in (etag, etag.removeprefix("W/"), f'"x", {etag}', "*"):
        with django_assert_max_num_queries(1):
            response = client.get(reverse(LIST), HTTP_IF_NONE_MATCH=header)
        assert response.status_code == 304, header
        assert response["ETag"] == etag and response.content == b""
        assert response["Cache-Control"] == "no-cache"
        assert "Authorization" in response["Vary"]

    # For a token reader the token lookup is the only other query.
    with django_assert_max_num_queries(2):
        mine = reader.get(reverse(LIST), HTTP_IF_NONE_MATCH=theirs["ETag"])
    assert mine.status_code == 304


def test_rows_written_outside_the_services_show_after_a_rebuild(
    db, flags_on, client, build_bundle
):
    entry = review.catalog_entry_submit(bundle_path=build_bundle().path)
    review.catalog_entry_approve(entry=entry, trust_level="unverified")
    before = client.get(reverse(LIST))
    CatalogEntry.objects.filter(pk=entry.pk).update(status="delisted")
    # The revision didn't move, so the cached body (and the ETag) still stand...
    assert client.get(reverse(LIST)).content == before.content
    revision.rebuild()
    # ...until the revision is rebuilt.
    after = client.get(reverse(LIST))
    assert after["ETag"] != before["ETag"]
    assert after.json()["catalog"] == []
    assert revision.current().listed == 0


def test_a_new_epoch_never_matches_old_etags(db, flags_on, client):
    revision.rebuild()
    etag = list_etag(client)
    CatalogRevision.objects.all().delete()  # the database was reset by hand
    assert client.get(reverse(LIST), HTTP_IF_NONE_MATCH=etag).status_code == 200
    revision.rebuild()
    assert CatalogRevision.objects.get().number == 1
    fresh = client.get(reverse(LIST), HTTP_IF_NONE_MATCH=etag)
    assert fresh.status_code == 200 and fresh["ETag"] != etag


def test_a_cold_body_is_built_once_per_change(db, flags_on, client, monkeypatch):
    revision.rebuild()
    built = []
    real = selectors.market_snapshot_json

    def counted(**kwargs):
        built.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(selectors, "market_snapshot_json", counted)
    for _ in range(3):
        assert client.get(reverse(LIST)).status_code == 200
    assert len(built) == 1
    revision.rebuild()
    client.get(reverse(LIST))
    assert len(built) == 2


def test_concurrent_cold_requests_share_one_build(db):
    rev = revision.Revision(7, "test", 0)
    calls = []

    def slow_build() -> bytes:
        calls.append(1)
        time.sleep(0.3)
        return b'{"ok":true}'

    results = []

    def fetch() -> None:
        results.append(list_cache.compressed_body(rev, "p", slow_build))

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert [gzip.decompress(r) for r in results] == [b'{"ok":true}'] * 4


def test_a_failed_build_leaves_no_lock_behind(db):
    rev = revision.Revision(8, "test", 0)

    def broken() -> bytes:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        list_cache.compressed_body(rev, "p", broken)
    body = list_cache.compressed_body(rev, "p", lambda: b"{}")
    assert gzip.decompress(body) == b"{}"


def test_list_is_sent_gzip_compressed_to_clients_that_take_it(
    db, flags_on, client, build_bundle
):
    entry = review.catalog_entry_submit(bundle_path=build_bundle().path)
    review.catalog_entry_approve(entry=entry, trust_level="unverified")
    plain = client.get(reverse(LIST))
    assert "Content-Encoding" not in plain
    packed = client.get(reverse(LIST), HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert packed["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(packed.content)) == plain.json()
    assert int(packed["Content-Length"]) == len(packed.content)
    assert packed["ETag"] == plain["ETag"]
    for response in (plain, packed):
        vary = {v.strip() for v in response["Vary"].split(",")}
        assert {"Accept-Encoding", "Authorization", "Cookie"} <= vary


def test_catalogue_entries_say_each_thing_once(db, flags_on, client, build_bundle):
    result = build_bundle("sample_toolkit")
    entry = review.catalog_entry_submit(bundle_path=result.path)
    review.catalog_entry_approve(entry=entry, trust_level="verified")
    [item] = client.get(reverse(LIST)).json()["catalog"]
    data = result.manifest.data
    assert [p["scope"] for p in item["permissions"]] == [
        p["scope"] for p in data["permissions"]
    ]
    assert item["hooks"] == data["hooks"]
    caps = item["manifest_summary"]["capabilities"]
    assert set(caps) == {"routes", "events", "ui_panels", "diagnostics"}
    assert caps["diagnostics"] == data["diagnostics"]
    assert {"id", "name", "version", "summary", "authors", "primary_author"} <= set(
        item["manifest_summary"]
    )
    [page_item] = client.get(reverse("market-api:catalog-list")).json()["items"]
    assert page_item == item


def test_stored_listings_are_reencoded_by_the_migration(db, build_bundle):
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "market.migrations.0005_listing_without_repeats"
    )
    entry = review.catalog_entry_submit(bundle_path=build_bundle().path)
    approved = review.catalog_entry_approve(entry=entry, trust_level="unverified")
    old = json.loads(approved.listing)
    old["manifest_summary"]["capabilities"].update(permissions=[], hooks=[])
    CatalogEntry.objects.filter(pk=approved.pk).update(listing=json.dumps(old))
    before = revision.current().number
    migration.reencode(apps, None)
    stored = json.loads(CatalogEntry.objects.get(pk=approved.pk).listing)
    assert "hooks" not in stored["manifest_summary"]["capabilities"]
    assert stored == json.loads(selectors.catalog_listing(approved))
    assert revision.current().number == before + 1
