"""Every collection answers ``{ok, items, next, previous, count}``; the catalogue,
paged by keyset, leaves out ``count`` (it would cost a pass over the catalogue)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from market.models import InstalledExtension

LISTS = (
    "market-api:catalog-list",
    "market-api:installed-list",
    "market-api:errors-list",
    "market-api:events-list",
    "market-api:submissions-list",
)
UNCOUNTED = ("market-api:catalog-list",)


def envelope_keys(name: str) -> set[str]:
    keys = {"ok", "items", "next", "previous", "count"}
    return keys - {"count"} if name in UNCOUNTED else keys


@pytest.fixture
def operator(make_user, token_client):
    return token_client(
        make_user(
            "operator",
            "market.view_lifecycleerror",
            "market.view_lifecycleevent",
            "market.review_catalogentry",
        )
    )


def grow_installed(n: int) -> None:
    now = timezone.now()
    InstalledExtension.objects.bulk_create(
        InstalledExtension(
            extension_id=f"ext.{i:05d}",
            version="1.0.0",
            trust_level="unverified",
            manifest={"id": f"ext.{i:05d}", "name": "X", "version": "1.0.0"},
            manifest_sha256="0" * 64,
            package_name="x.cvnext",
            package_sha256="0" * 64,
            package_size=1,
            source="path",
            installed_at=now,
        )
        for i in range(n)
    )


@pytest.mark.parametrize("name", LISTS)
def test_every_list_uses_the_items_envelope(flags_on, operator, name):
    response = operator.get(reverse(name))
    assert response.status_code == 200
    empty = {"ok": True, "items": [], "next": None, "previous": None, "count": 0}
    assert response.json() == {k: empty[k] for k in envelope_keys(name)}


@pytest.mark.parametrize("name", LISTS)
def test_paged_lists_link_their_pages(flags_on, operator, api, build_bundle, name):
    # Two of everything: two catalogue entries, installs, events, errors, submissions.
    from market import review

    for sample in ("hello_minimal", "legacy_tools"):
        result = build_bundle(sample)
        entry = review.catalog_entry_submit(bundle_path=result.path)
        review.catalog_entry_approve(entry=entry, trust_level="unverified")
        api.post(reverse("market-api:install"), {"id": result.manifest.id})
        api.post(reverse("market-api:uninstall"), {"id": "not.there"})
    first = operator.get(reverse(name), {"page_size": 1}).json()
    assert set(first) == envelope_keys(name)
    assert name in UNCOUNTED or first["count"] >= 2
    assert len(first["items"]) == 1
    assert first["previous"] is None
    second = operator.get(first["next"]).json()
    assert len(second["items"]) == 1
    assert second["items"] != first["items"]
    assert second["previous"]


def test_installed_returns_everything_without_a_page_parameter(
    db, flags_on, client, django_assert_max_num_queries
):
    grow_installed(120)  # more than the default page size of 50
    with django_assert_max_num_queries(3):
        body = client.get(reverse("market-api:installed-list")).json()
    assert [item["id"] for item in body["items"]] == [
        f"ext.{i:05d}" for i in range(120)
    ]
    assert body["count"] == 120
    assert body["next"] is None and body["previous"] is None


def test_installed_pages_when_asked(db, flags_on, client):
    grow_installed(120)
    url = reverse("market-api:installed-list")
    first = client.get(url, {"page_size": 100}).json()
    assert len(first["items"]) == 100
    assert first["count"] == 120
    assert "page=2" in first["next"]
    last = client.get(url, {"page": 3}).json()  # default page size 50
    assert [item["id"] for item in last["items"]] == [
        f"ext.{i:05d}" for i in range(100, 120)
    ]
    assert last["next"] is None
    assert client.get(url, {"page": 4}).json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("size", [10, 200])
def test_whole_installed_list_uses_fixed_queries(
    db, flags_on, client, django_assert_max_num_queries, size
):
    grow_installed(size)
    with django_assert_max_num_queries(3):
        body = client.get(reverse("market-api:installed-list")).json()
    assert len(body["items"]) == size


def test_openapi_shows_the_items_envelope(db, client):
    doc = client.get(reverse("openapi-schema"), {"format": "json"}).json()
    schemas = doc["components"]["schemas"]
    for path in (
        "/api/market/catalog",
        "/api/market/installed",
        "/api/market/errors",
        "/api/market/events",
        "/api/market/submissions",
    ):
        ok = doc["paths"][path]["get"]["responses"]["200"]
        ref = ok["content"]["application/json"]["schema"]["$ref"]
        envelope = schemas[ref.rsplit("/", 1)[1]]
        name = "market-api:" + path.rsplit("/", 1)[1] + "-list"
        assert set(envelope["properties"]) == envelope_keys(name), path
        assert "results" not in envelope["properties"]
        assert envelope["properties"]["items"]["type"] == "array"
    installed = doc["paths"]["/api/market/installed"]["get"]["parameters"]
    assert any(
        p["name"] == "page" and "every item" in p["description"] for p in installed
    )


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "true", "", "٣", "0000"])
def test_malformed_page_size_is_refused(flags_on, operator, name, value):
    response = operator.get(reverse(name), {"page_size": value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert [p["path"] for p in error["details"]["problems"]] == ["page_size"]


def test_large_page_size_counts_as_the_maximum(db, flags_on, client):
    grow_installed(210)
    url = reverse("market-api:installed-list")
    for value in ("201", "99999999999999999999", "00150"):
        body = client.get(url, {"page_size": value}).json()
        assert len(body["items"]) == (150 if value == "00150" else 200), value


def test_catalog_trust_filter_takes_only_the_levels(db, flags_on, client):
    url = reverse("market-api:catalog-list")
    assert client.get(url, {"trust": "verified"}).status_code == 200
    for value in ("AAA", "", "Verified"):
        response = client.get(url, {"trust": value})
        assert response.status_code == 400, value
        [problem] = response.json()["error"]["details"]["problems"]
        assert problem["path"] == "trust"
