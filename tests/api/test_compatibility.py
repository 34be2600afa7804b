"""Studio compatibility: ``X-Studio-Version`` marks catalogue versions ``compatible``
in ``list``, ``catalog/`` and ``catalog/<id>/``, and install refuses an incompatible
version (or picks the newest compatible one)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from market.models import InstalledExtension, LifecycleError
from tests.publishing import publish

pytestmark = pytest.mark.usefixtures("catalog_key")

STUDIOS = ("1.2.0", "1.6.0", "2.1.0")
# Listed (newest) versions: id -> compatible with each of STUDIOS.
LISTED = {
    "compat.none": (True, True, True),  # no range: runs anywhere
    "compat.old": (True, False, False),  # <1.5
    "compat.new": (False, False, True),  # 2.0.0: >=2
}
# Every version of compat.new, newest first.
NEW_VERSIONS = {
    "2.0.0": (False, False, True),  # >=2
    "1.0.0": (False, True, False),  # >=1.5 <2
}
# What install by id (no version) gives for each Studio: a version, or "incompatible".
INSTALL_BY_ID = {
    "compat.none": ("1.0.0", "1.0.0", "1.0.0"),
    "compat.old": ("1.0.0", "incompatible", "incompatible"),
    "compat.new": ("incompatible", "1.0.0", "2.0.0"),
}


@pytest.fixture
def catalogue(build_bundle):
    publish(build_bundle, "compat.none", "1.0.0")
    publish(build_bundle, "compat.old", "1.0.0", studio="<1.5")
    publish(build_bundle, "compat.new", "1.0.0", studio=">=1.5 <2")
    publish(build_bundle, "compat.new", "2.0.0", studio=">=2")


def studio(version: str | None) -> dict[str, str]:
    return {} if version is None else {"HTTP_X_STUDIO_VERSION": version}


def marks(items: list[dict]) -> dict[str, bool | None]:
    return {item["id"]: item.get("compatible") for item in items}


@pytest.mark.parametrize("index", range(len(STUDIOS)), ids=STUDIOS)
def test_compatibility_matrix(api, catalogue, index):
    version = STUDIOS[index]
    expected = {ext_id: row[index] for ext_id, row in LISTED.items()}

    listed = api.get(reverse("market-api:list"), **studio(version))
    assert listed.status_code == 200
    assert marks(listed.json()["catalog"]) == expected
    assert "X-Studio-Version" in listed["Vary"]

    page = api.get(reverse("market-api:catalog-list"), **studio(version))
    assert page.status_code == 200
    assert marks(page.json()["items"]) == expected
    assert "X-Studio-Version" in page["Vary"]

    detail = api.get(
        reverse("market-api:catalog-detail", args=["compat.new"]), **studio(version)
    ).json()["entry"]
    assert detail["compatible"] == LISTED["compat.new"][index]
    assert [
        (v["version"], v["compatibility"], v["compatible"]) for v in detail["versions"]
    ] == [
        ("2.0.0", {"studio": ">=2"}, NEW_VERSIONS["2.0.0"][index]),
        ("1.0.0", {"studio": ">=1.5 <2"}, NEW_VERSIONS["1.0.0"][index]),
    ]

    for ext_id, outcomes in INSTALL_BY_ID.items():
        response = api.post(
            reverse("market-api:install"),
            {"id": ext_id},
            format="json",
            **studio(version),
        )
        body = response.json()
        if outcomes[index] == "incompatible":
            assert response.status_code == 409, body
            assert body["error"]["code"] == "incompatible"
            assert body["error"]["details"]["studio_version"] == version
            assert not InstalledExtension.objects.filter(extension_id=ext_id).exists()
        else:
            assert response.status_code == 200, body
            assert body["installed"]["version"] == outcomes[index]


def test_without_the_header_the_field_is_left_out_and_the_newest_installs(
    api, catalogue
):
    listed = api.get(reverse("market-api:list")).json()["catalog"]
    assert all("compatible" not in item for item in listed)
    assert {item["id"]: item["compatibility"] for item in listed} == {
        "compat.none": {},
        "compat.old": {"studio": "<1.5"},
        "compat.new": {"studio": ">=2"},
    }
    page = api.get(reverse("market-api:catalog-list")).json()["items"]
    assert all("compatible" not in item for item in page)
    detail = api.get(reverse("market-api:catalog-detail", args=["compat.new"]))
    entry = detail.json()["entry"]
    assert "compatible" not in entry
    assert all("compatible" not in v for v in entry["versions"])
    response = api.post(reverse("market-api:install"), {"id": "compat.new"})
    assert response.status_code == 200
    assert response.json()["installed"]["version"] == "2.0.0"


def test_an_incompatible_version_named_exactly_is_refused_with_both_versions(
    api, catalogue, market_root
):
    response = api.post(
        reverse("market-api:install"),
        {"id": "compat.new", "version": "2.0.0"},
        format="json",
        HTTP_X_STUDIO_VERSION="1.6.0",
    )
    assert response.status_code == 409
    assert response.json() == {
        "ok": False,
        "error": {
            "code": "incompatible",
            "message": "compat.new 2.0.0 runs on Studio >=2; this Studio is 1.6.0",
            "details": {
                "id": "compat.new",
                "version": "2.0.0",
                "studio_version": "1.6.0",
                "compatibility": {"studio": ">=2"},
            },
        },
    }
    assert not (market_root / "extensions" / "compat.new").exists()
    assert not any((market_root / "staging").iterdir())
    assert LifecycleError.objects.get().code == "incompatible"


def test_an_uploaded_bundle_is_checked_too(api, build_bundle):
    bundle = build_bundle(
        "hello_minimal", edit=lambda d: d.update(compatibility={"studio": "^3"})
    )
    response = api.post(
        reverse("market-api:install"),
        {"package": str(bundle.path)},
        format="json",
        HTTP_X_STUDIO_VERSION="2.9.9",
    )
    assert response.status_code == 409
    assert response.json()["error"]["details"]["version"] == "0.1.0"
    ok = api.post(
        reverse("market-api:install"),
        {"package": str(bundle.path)},
        format="json",
        HTTP_X_STUDIO_VERSION="3.0.1",
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "header", ["1.2", "latest", "1.2.3.4", " ", "v1.2.3", "x" * 300]
)
def test_a_bad_header_is_refused_everywhere(api, catalogue, header):
    for response in (
        api.get(reverse("market-api:list"), HTTP_X_STUDIO_VERSION=header),
        api.get(reverse("market-api:catalog-list"), HTTP_X_STUDIO_VERSION=header),
        api.get(
            reverse("market-api:catalog-detail", args=["compat.new"]),
            HTTP_X_STUDIO_VERSION=header,
        ),
        api.post(
            reverse("market-api:install"),
            {"id": "compat.none"},
            format="json",
            HTTP_X_STUDIO_VERSION=header,
        ),
    ):
        assert response.status_code == 400
        body = response.json()
        assert body["error"]["code"] == "invalid_request"
        assert body["error"]["details"] == {"header": "X-Studio-Version"}
    assert not InstalledExtension.objects.exists()


def test_etag_and_cached_body_vary_by_studio_version(api, catalogue):
    url = reverse("market-api:list")
    tags = {}
    bodies = {}
    for version in (None, *STUDIOS):
        response = api.get(url, **studio(version))
        tags[version] = response["ETag"]
        bodies[version] = json.loads(response.content)
    assert len(set(tags.values())) == 4
    assert marks(bodies["1.2.0"]["catalog"]) != marks(bodies["2.1.0"]["catalog"])

    # A Studio version that every range treats the same way shares the body and tag.
    same = api.get(url, HTTP_X_STUDIO_VERSION="1.3.9")
    assert same["ETag"] == tags["1.2.0"]
    assert (
        api.get(
            url, HTTP_X_STUDIO_VERSION="1.4.0", HTTP_IF_NONE_MATCH=tags["1.2.0"]
        ).status_code
        == 304
    )
    # Another version's tag is not this one's: the full body comes back.
    other = api.get(
        url, HTTP_X_STUDIO_VERSION="1.6.0", HTTP_IF_NONE_MATCH=tags["1.2.0"]
    )
    assert other.status_code == 200
    assert marks(json.loads(other.content)["catalog"]) == marks(
        bodies["1.6.0"]["catalog"]
    )
    # Without the header, a tag of a versioned body never matches.
    assert api.get(url, HTTP_IF_NONE_MATCH=tags["1.2.0"]).status_code == 200
    assert all("compatible" not in item for item in bodies[None]["catalog"])


def test_a_new_range_in_the_catalogue_changes_the_studio_variants(
    api, catalogue, build_bundle
):
    url = reverse("market-api:list")
    before = api.get(url, HTTP_X_STUDIO_VERSION="1.3.0")
    assert before["ETag"] == api.get(url, HTTP_X_STUDIO_VERSION="1.2.0")["ETag"]
    publish(build_bundle, "compat.mid", "1.0.0", studio=">=1.3")
    low = api.get(url, HTTP_X_STUDIO_VERSION="1.2.0")
    high = api.get(url, HTTP_X_STUDIO_VERSION="1.3.0")
    assert low["ETag"] != high["ETag"] != before["ETag"]
    assert marks(high.json()["catalog"])["compat.mid"] is True
    assert marks(low.json()["catalog"])["compat.mid"] is False


def test_catalog_pages_mark_without_extra_queries(
    api, catalogue, django_assert_max_num_queries
):
    url = reverse("market-api:catalog-list")
    api.get(url)  # the token lookup warmed like every other request
    with django_assert_max_num_queries(3):
        response = api.get(url, HTTP_X_STUDIO_VERSION="1.6.0")
    assert len(response.json()["items"]) == 3


def test_the_migration_fills_ranges_cards_and_listings(db, build_bundle):
    """Entries stored before compatibility existed get what a rebuild would write."""
    import importlib

    from django.apps import apps

    from market import revision, selectors
    from market.models import CatalogEntry
    from market.review.derived import derived_columns

    migration = importlib.import_module("market.migrations.0009_deps")
    entry = publish(
        build_bundle, "old.entry", "1.0.0", studio="^1.4", deps={"dep.base": "1.x"}
    )
    listing = json.loads(entry.listing)
    card = dict(entry.card)
    for stale in (listing, card):
        del stale["compatibility"], stale["dependencies"]
    CatalogEntry.objects.filter(pk=entry.pk).update(
        studio_range="", card=card, listing=json.dumps(listing)
    )
    before = revision.current().number
    migration.fill_versions(apps, None)
    stored = CatalogEntry.objects.get(pk=entry.pk)
    assert stored.studio_range == "^1.4"
    assert stored.card == derived_columns(stored)["card"]
    assert json.loads(stored.listing) == json.loads(selectors.catalog_listing(stored))
    assert json.loads(stored.listing)["dependencies"] == {"dep.base": "1.x"}
    assert revision.current().number == before + 1
