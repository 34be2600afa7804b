"""List endpoints run a fixed number of queries however large the catalogue grows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from market import revision
from market.models import CatalogEntry, InstalledExtension
from market.selectors import catalog_card, catalog_listing
from tests.api.test_flag_gate import READ_ROUTES, WRITE_ROUTES


def grow_catalogue(n: int) -> None:
    manifest = {
        "id": "x",
        "name": "X",
        "version": "1.0.0",
        "summary": "s",
        "authors": ["a"],
        "permissions": [
            {"scope": "assets.read", "description": "d", "optional": False}
        ],
        "hooks": ["on_scene_enter"],
        "trust": {"level": "unverified"},
    }
    now = timezone.now()
    entries = [
        CatalogEntry(
            extension_id=f"ext.{i:05d}",
            version="1.0.0",
            name=f"Extension {i}",
            summary="s",
            manifest={**manifest, "id": f"ext.{i:05d}"},
            manifest_sha256="0" * 64,
            package=f"bundles/ext.{i:05d}.cvnext",
            package_sha256=f"{i:064x}",
            package_size=100,
            status=CatalogEntry.Status.APPROVED,
            is_latest=True,
            permission_index=" assets.read ",
            hook_index=" on_scene_enter ",
            reviewed_at=now,
            card=catalog_card({**manifest, "id": f"ext.{i:05d}"}),
        )
        for i in range(n)
    ]
    for entry in entries:  # as approval stores it
        entry.listing = catalog_listing(entry)
    CatalogEntry.objects.bulk_create(entries)
    InstalledExtension.objects.bulk_create(
        InstalledExtension(
            extension_id=f"ext.{i:05d}",
            version="1.0.0",
            trust_level="unverified",
            manifest={**manifest, "id": f"ext.{i:05d}"},
            manifest_sha256="0" * 64,
            package_name="x.cvnext",
            package_sha256="0" * 64,
            package_size=1,
            source="path",
            installed_at=now,
        )
        for i in range(min(n, 50))
    )
    revision.rebuild()  # as the services do with every change


@pytest.mark.parametrize("size", [10, 1000])
def test_list_uses_fixed_queries(
    db, flags_on, client, django_assert_max_num_queries, size
):
    grow_catalogue(size)
    with django_assert_max_num_queries(5):  # built: revision + snapshot reads
        response = client.get(reverse("market-api:list"))
    assert response.status_code == 200
    assert len(response.json()["catalog"]) == size
    with django_assert_max_num_queries(1):  # cached for this revision
        again = client.get(reverse("market-api:list"))
    assert again.content == response.content
    with django_assert_max_num_queries(1):
        unchanged = client.get(
            reverse("market-api:list"), HTTP_IF_NONE_MATCH=response["ETag"]
        )
    assert unchanged.status_code == 304 and unchanged.content == b""


@pytest.mark.parametrize("size", [10, 1000])
def test_catalog_pages_use_fixed_queries(
    db, flags_on, client, django_assert_max_num_queries, size
):
    grow_catalogue(size)
    url = reverse("market-api:catalog-list")
    with django_assert_max_num_queries(1):
        body = client.get(url, {"page_size": 100}).json()
    assert set(body) == {"ok", "items", "next", "previous"}  # no count: keyset
    assert len(body["items"]) == min(size, 100)
    seen = [item["id"] for item in body["items"]]
    while body["next"]:
        with django_assert_max_num_queries(1):  # a deep page costs what the first does
            body = client.get(body["next"]).json()
        seen += [item["id"] for item in body["items"]]
        assert "page=" not in (body["next"] or "")
    assert seen == [f"ext.{i:05d}" for i in range(size)]
    if size > 100:
        back = client.get(body["previous"]).json()
        assert back["items"][-1]["id"] < body["items"][0]["id"]


def test_a_row_without_a_stored_listing_is_encoded_in_one_more_query(
    db, flags_on, client, django_assert_max_num_queries
):
    grow_catalogue(3)
    stored = client.get(reverse("market-api:catalog-list")).json()
    CatalogEntry.objects.filter(extension_id="ext.00001").update(listing="")
    with django_assert_max_num_queries(2):
        body = client.get(reverse("market-api:catalog-list")).json()
    assert body == stored


def all_ids(client, **params) -> list[str]:
    url = reverse("market-api:catalog-list")
    body = client.get(url, {"page_size": 200, **params}).json()
    assert body["ok"] is True, body
    assert body["next"] is None
    return [item["id"] for item in body["items"]]


def test_catalog_filters(db, flags_on, client):
    grow_catalogue(30)
    CatalogEntry.objects.filter(extension_id="ext.00003").update(
        trust_level="verified", permission_index=" api.global ", hook_index=""
    )
    assert all_ids(client, trust="verified") == ["ext.00003"]
    assert all_ids(client, permission="api.global") == ["ext.00003"]
    assert len(all_ids(client, permission="assets.read")) == 29
    assert len(all_ids(client, hook="on_scene_enter")) == 29
    url = reverse("market-api:catalog-list")
    page = client.get(url, {"page_size": 10}).json()
    page = client.get(client.get(page["next"]).json()["next"]).json()
    assert page["items"][0]["id"] == "ext.00020"
    assert page["next"] is None and page["previous"]


def test_catalog_search(db, flags_on, client):
    grow_catalogue(30)
    CatalogEntry.objects.filter(extension_id="ext.00007").update(
        extension_id="sample.toolkit",
        name="Sample Toolkit",
        summary="Scene inspector and asset relays.",
        listing="",  # encoded again from the columns
    )
    assert all_ids(client, search="toolkit") == ["sample.toolkit"]
    assert all_ids(client, search="sample.toolkit") == ["sample.toolkit"]
    assert all_ids(client, search="INSPECTOR asset") == ["sample.toolkit"]
    if connection.vendor == "postgresql":
        # Words, not substrings: "Extension 1" is the entry with the word "1".
        assert all_ids(client, search="Extension 1") == ["ext.00001"]
        assert all_ids(client, search='"scene inspector"') == ["sample.toolkit"]
        assert all_ids(client, search="extension -1") == [
            f"ext.{i:05d}" for i in range(30) if i not in (1, 7)
        ]
    else:
        # SQLite: every word a case-insensitive substring of the id, name or summary.
        assert all_ids(client, search="Extension 1") == [
            f"ext.{i:05d}" for i in (1, *range(10, 20), 21)
        ]
        assert all_ids(client, search="oolki") == ["sample.toolkit"]


@pytest.mark.parametrize(
    "params",
    [
        {"search": "&|!:*()'\\"},
        {"search": "x" * 3000},
        {"search": "-"},
        {"search": "or"},
    ],
)
def test_hostile_searches_match_nothing_and_never_fail(db, flags_on, client, params):
    grow_catalogue(5)
    assert all_ids(client, **params) == []


@pytest.mark.parametrize(
    "params",
    [
        {"search": "a\x00b"},
        {"permission": "\x00"},
        {"hook": "on_\x00"},
        {"trust": "veri\x00fied"},
        {"cursor": "bad"},
        {"cursor": "cD1leHQuMDAwMDEAeA=="},  # p=ext.00001<NUL>x
        {"cursor": "bz0tNSZwPXg="},  # o=-5&p=x
    ],
)
def test_unusable_catalogue_parameters_are_refused(db, flags_on, client, params):
    grow_catalogue(5)
    response = client.get(reverse("market-api:catalog-list"), params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_searches_use_the_full_text_index_on_postgresql(db, flags_on):
    from market.selectors import catalog_queryset

    grow_catalogue(50)
    query = catalog_queryset(search="extension")
    if connection.vendor != "postgresql":
        # No such index elsewhere: a plain substring filter.
        assert "LIKE" in str(query.query).upper()
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE market_catalogentry")
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query.explain()
    assert "market_catalog_search" in plan, plan


def test_list_supports_etag(db, flags_on, client):
    grow_catalogue(3)
    first = client.get(reverse("market-api:list"))
    etag = first["ETag"]
    assert etag
    assert "Authorization" in first["Vary"]
    again = client.get(reverse("market-api:list"), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    from market import review

    review.catalog_entry_delist(
        entry=CatalogEntry.objects.get(extension_id="ext.00001"),
        reviewer=None,
        reason="abandoned",
    )
    changed = client.get(reverse("market-api:list"), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_list_serves_the_listing_stored_at_approval(db, flags_on, client, build_bundle):
    import json

    from market import review
    from market.selectors import catalog_entry_payload

    entry = review.catalog_entry_submit(bundle_path=build_bundle("hello_minimal").path)
    assert entry.listing == ""  # pending entries are not listed
    approved = review.catalog_entry_approve(entry=entry, trust_level="unverified")
    assert json.loads(approved.listing) == json.loads(
        json.dumps(catalog_entry_payload(approved), default=str)
    )
    grow_catalogue(5)  # rows made outside the services: encoded on the fly
    body = client.get(reverse("market-api:list")).json()
    assert [c["id"] for c in body["catalog"]][:1] == ["ext.00000"]
    assert "hello.minimal" in [c["id"] for c in body["catalog"]]
    [hello] = [c for c in body["catalog"] if c["id"] == "hello.minimal"]
    assert hello == json.loads(approved.listing)
    review.catalog_entry_delist(entry=approved, reviewer=None, reason="abandoned")
    approved.refresh_from_db()
    assert approved.listing == ""


def test_update_lookup_reads_only_installed_ids(
    db, flags_on, client, django_assert_max_num_queries
):
    from market.selectors import latest_versions

    grow_catalogue(200)  # 200 listed, the first 50 installed
    InstalledExtension.objects.filter(extension_id__gte="ext.00003").delete()
    CatalogEntry.objects.filter(extension_id="ext.00001").update(version="1.1.0")
    with django_assert_max_num_queries(1):
        latest = latest_versions()
    assert latest == {"ext.00000": "1.0.0", "ext.00001": "1.1.0", "ext.00002": "1.0.0"}
    with django_assert_max_num_queries(3):
        body = client.get(reverse("market-api:installed-list")).json()
    assert [r["update_available"] for r in body["items"]] == [None, "1.1.0", None]


@pytest.mark.parametrize("size", [10, 1000])
def test_installed_is_two_queries_with_its_update_lookup(
    db, flags_on, client, django_assert_num_queries, size
):
    grow_catalogue(size)
    # a newer approved version of one id, and an installed id the catalogue lacks
    CatalogEntry.objects.filter(extension_id="ext.00001").update(is_latest=False)
    newer = CatalogEntry.objects.get(extension_id="ext.00001")
    newer.pk, newer.version, newer.is_latest = None, "1.2.0", True
    newer.save()
    CatalogEntry.objects.filter(extension_id="ext.00002").update(
        status=CatalogEntry.Status.DELISTED
    )
    # The rows, and the catalogue state of the installed ids (newest version, yanked,
    # blocked) in one more: the same two at any catalogue size.
    with django_assert_num_queries(2):
        body = client.get(reverse("market-api:installed-list")).json()
    assert body["count"] == min(size, 50)
    first = body["items"][:3]
    assert [r["id"] for r in first] == ["ext.00000", "ext.00001", "ext.00002"]
    assert [r["update_available"] for r in first] == [None, "1.2.0", None]
    with django_assert_num_queries(2):
        one = client.get(
            reverse("market-api:installed-detail", args=["ext.00001"])
        ).json()
    assert one == body["items"][1]


@pytest.mark.parametrize("size", [10, 1000])
def test_health_is_one_query(db, flags_on, client, django_assert_max_num_queries, size):
    from market.models import CatalogRevision, LifecycleError

    grow_catalogue(size)
    LifecycleError.objects.create(action="install", code="corrupt_archive", message="m")
    with django_assert_max_num_queries(1):
        body = client.get(reverse("market-api:health")).json()
    installed = min(size, 50)
    assert body["counts"] == {
        "catalog": size,
        "installed": installed,
        "errors": 1,
        "yanked": 0,
        "blocked": 0,
    }
    assert body["trust_breakdown"] == {"unverified": installed, "verified": 0}
    assert body["last_error"]["code"] == "corrupt_archive"
    assert body["last_error"]["timestamp"].endswith("Z")
    # Without the revision row (a database emptied by hand) the catalogue is counted.
    CatalogRevision.objects.all().delete()
    with django_assert_max_num_queries(1):
        again = client.get(reverse("market-api:health")).json()
    assert again == body


def test_api_json_reads_are_compressed_and_nothing_else(
    db, flags_on, client, admin_client
):
    grow_catalogue(30)
    url = reverse("market-api:catalog-list")
    packed = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    import gzip
    import json

    assert json.loads(gzip.decompress(packed.content)) == client.get(url).json()
    # HTML pages carry CSRF tokens in their forms: never compressed (BREACH).
    page = admin_client.get("/admin/market/catalogentry/", HTTP_ACCEPT_ENCODING="gzip")
    assert page.status_code == 200 and "Content-Encoding" not in page


@pytest.mark.parametrize(("method", "path"), READ_ROUTES + WRITE_ROUTES)
@pytest.mark.parametrize(
    "query",
    ["extension_id=a%00b", "action=%00", "search=x%00", "page=1%00", "a%00b=1"],
)
def test_nul_in_any_query_parameter_of_any_route_is_a_400(
    flags_on, make_user, token_client, method, path, query
):
    """On PostgreSQL a NUL in a filter (errors/?extension_id=) failed the query."""
    client = token_client(make_user("root", superuser=True))
    response = getattr(client, method)(f"{path}?{query}")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["message"] == (
        "query parameters cannot contain NUL characters"
    )
