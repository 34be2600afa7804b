"""``GET catalog/<id>/<version>/bundle``: the stored bundle, streamed, by its sha256."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from market import review
from market.api import snapshot as snapshot_views
from market.models import CatalogEntry
from tests.publishing import publish


def url(ext_id: str, version: str) -> str:
    return reverse("market-api:bundle", args=[ext_id, version])


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def entry(db, flags_on, build_bundle, catalog_key) -> CatalogEntry:
    return publish(build_bundle, "hello.alpha", "1.0.0")


def test_the_bundle_streams_with_its_sha256_as_etag(client, entry):
    response = client.get(url("hello.alpha", "1.0.0"))
    assert response.status_code == 200
    assert response.streaming
    data = body_of(response)
    assert hashlib.sha256(data).hexdigest() == entry.package_sha256
    assert response["ETag"] == f'"{entry.package_sha256}"'
    assert int(response["Content-Length"]) == entry.package_size == len(data)
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == (
        'attachment; filename="hello.alpha-1.0.0.cvnext"'
    )
    assert "Content-Encoding" not in response


def test_a_client_asking_for_a_zip_gets_it_and_json_refusals(client, entry):
    ok = client.get(url("hello.alpha", "1.0.0"), HTTP_ACCEPT="application/zip")
    assert ok.status_code == 200
    assert hashlib.sha256(body_of(ok)).hexdigest() == entry.package_sha256
    missing = client.get(url("hello.alpha", "9.9.9"), HTTP_ACCEPT="application/zip")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_the_bundle_is_read_in_blocks_never_whole(client, entry, monkeypatch):
    monkeypatch.setattr(snapshot_views, "STREAM_BLOCK", 512)
    response = client.get(url("hello.alpha", "1.0.0"))
    chunks = list(response.streaming_content)
    assert len(chunks) > 1
    assert all(len(chunk) <= 512 for chunk in chunks)
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == entry.package_sha256


def test_a_matching_if_none_match_is_a_304(client, entry):
    etag = f'"{entry.package_sha256}"'
    response = client.get(url("hello.alpha", "1.0.0"), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response["ETag"] == etag
    other = client.get(url("hello.alpha", "1.0.0"), HTTP_IF_NONE_MATCH='"0"')
    assert other.status_code == 200


def test_a_verified_bundle_is_the_signed_one(
    db, flags_on, client, build_bundle, catalog_key
):
    bundle = build_bundle(
        "hello_minimal", edit=lambda d: d.update(id="hello.signed", version="1.0.0")
    )
    entry = review.catalog_entry_submit(bundle_path=bundle.path)
    entry = review.catalog_entry_approve(entry=entry, trust_level="verified")
    data = body_of(client.get(url("hello.signed", "1.0.0")))
    assert hashlib.sha256(data).hexdigest() == entry.package_sha256
    assert entry.package_sha256 != bundle.sha256  # re-packed with the signature


def test_a_yanked_version_still_downloads(client, entry):
    review.catalog_entry_yank(entry=entry, reviewer=None, reason="old")
    assert client.get(url("hello.alpha", "1.0.0")).status_code == 200


@pytest.mark.parametrize("state", ["pending", "rejected", "delisted", "missing"])
def test_versions_not_served_are_404(client, entry, build_bundle, state):
    if state == "pending":
        publish(build_bundle, "hello.alpha", "2.0.0", approve=False)
    elif state == "rejected":
        pending = publish(build_bundle, "hello.alpha", "2.0.0", approve=False)
        review.catalog_entry_reject(entry=pending, reviewer=None, reason="no")
    elif state == "delisted":
        delisted = publish(build_bundle, "hello.alpha", "2.0.0")
        review.catalog_entry_delist(entry=delisted, reviewer=None, reason="bad")
    response = client.get(url("hello.alpha", "2.0.0"))
    assert response.status_code == 404
    assert response.json() == {
        "ok": False,
        "error": {
            "code": "not_found",
            "message": "no downloadable bundle of hello.alpha 2.0.0",
            "details": {"id": "hello.alpha", "version": "2.0.0"},
        },
    }


def test_the_bundle_is_public_only_while_public_reads_are_on(
    client, settings, entry, make_user, token_client
):
    settings.MARKET_PUBLIC_READS = False
    response = client.get(url("hello.alpha", "1.0.0"))
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"
    reader = token_client(make_user("reader"))
    assert reader.get(url("hello.alpha", "1.0.0")).status_code == 200


def test_the_bundle_streams_from_storage_without_local_paths(
    client, settings, db, flags_on, build_bundle, catalog_key
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            **settings.STORAGES["default"],
            "BACKEND": "tests.remote_storage.RemoteLikeStorage",
        },
    }
    entry = publish(build_bundle, "hello.remote", "1.0.0")
    response = client.get(url("hello.remote", "1.0.0"))
    data = body_of(response)
    assert hashlib.sha256(data).hexdigest() == entry.package_sha256
    assert int(response["Content-Length"]) == len(data)


def test_a_bundle_gone_from_storage_is_content_mismatch_not_a_server_error(
    client, entry
):
    entry.package.storage.delete(entry.package.name)
    response = client.get(url(entry.extension_id, entry.version))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "content_mismatch"
