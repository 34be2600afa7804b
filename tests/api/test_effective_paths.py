"""Every route in every API payload says where it is served: ``effective_path``."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from market import review

SAMPLE_ROUTES = {
    ("/api/modder/sample-toolkit/scenes", "global"): (
        "/api/modder/sample-toolkit/scenes"
    ),
    ("/api/hooks/sample-toolkit/relay", "global"): "/api/hooks/sample-toolkit/relay",
    ("/status", "extension"): "/api/extensions/sample.toolkit/status",
    ("/assets/{uid}", "extension"): "/api/extensions/sample.toolkit/assets/{uid}",
}
HELLO_ROUTES = {("/hello", "extension"): "/api/extensions/hello.minimal/hello"}

# Approving as verified needs the catalogue key, made on purpose.
pytestmark = pytest.mark.usefixtures("catalog_key")


def routes_in(payload: Any) -> list[dict[str, Any]]:
    """Every route object anywhere in a JSON payload."""
    if isinstance(payload, dict):
        found = [payload] if {"path", "methods", "expose"} <= set(payload) else []
        return found + [r for value in payload.values() for r in routes_in(value)]
    if isinstance(payload, list):
        return [r for value in payload for r in routes_in(value)]
    return []


@pytest.fixture
def catalogue(build_bundle, make_user):
    modder = make_user("mia", "market.submit_catalogentry")
    for name, level in (
        ("sample_toolkit", "verified"),
        ("hello_minimal", "unverified"),
    ):
        entry = review.catalog_entry_submit(
            bundle_path=build_bundle(name).path, actor=modder
        )
        review.catalog_entry_approve(entry=entry, trust_level=level)
    return modder


def test_every_route_in_every_payload_has_its_effective_path(
    api, catalogue, token_client, make_user
):
    installed = [
        api.post(reverse("market-api:install"), {"id": ext_id}, format="json")
        for ext_id in ("sample.toolkit", "hello.minimal")
    ]
    assert [r.status_code for r in installed] == [200, 200]
    reviewer = make_user("rita", "market.review_catalogentry")
    payloads = {
        "install": [r.json() for r in installed],
        "list": api.get(reverse("market-api:list")).json(),
        "catalog": api.get(reverse("market-api:catalog-list")).json(),
        "catalog-detail": api.get(
            reverse("market-api:catalog-detail", args=["sample.toolkit"])
        ).json(),
        "installed": api.get(reverse("market-api:installed-list")).json(),
        "installed-detail": api.get(
            reverse("market-api:installed-detail", args=["hello.minimal"])
        ).json(),
        "submissions": token_client(reviewer)
        .get(reverse("market-api:submissions-list"))
        .json(),
    }
    expected = {**SAMPLE_ROUTES, **HELLO_ROUTES}
    for name, payload in payloads.items():
        routes = routes_in(payload)
        assert routes, name
        for route in routes:
            key = (route["path"], route["expose"])
            assert route.get("effective_path") == expected[key], (name, route)
    # list: the catalogue's and the installed copies' summaries both carry it.
    listing = payloads["list"]
    for section in ("catalog", "installed"):
        [toolkit] = [e for e in listing[section] if e["id"] == "sample.toolkit"]
        routes = toolkit["manifest_summary"]["capabilities"]["routes"]
        assert {(r["path"], r["expose"]): r["effective_path"] for r in routes} == (
            SAMPLE_ROUTES
        )


def test_migration_adds_effective_paths_to_stored_cards_and_listings(catalogue):
    import importlib
    import json

    from django.apps import apps

    from market.models import CatalogEntry

    migration = importlib.import_module("market.migrations.0006_route_effective_paths")

    def strip(summary: dict) -> None:
        for route in summary["capabilities"]["routes"]:
            del route["effective_path"]

    # Rows as an older version stored them: routes without effective_path.
    for entry in CatalogEntry.objects.all():
        listing = json.loads(entry.listing)
        strip(listing["manifest_summary"])
        strip(entry.card["manifest_summary"])
        CatalogEntry.objects.filter(pk=entry.pk).update(
            card=entry.card, listing=json.dumps(listing)
        )
    migration.rebuild_routes(apps, None)
    expected = {**SAMPLE_ROUTES, **HELLO_ROUTES}
    for entry in CatalogEntry.objects.all():
        for summary in (
            entry.card["manifest_summary"],
            json.loads(entry.listing)["manifest_summary"],
        ):
            routes = summary["capabilities"]["routes"]
            assert routes
            for route in routes:
                assert (
                    route["effective_path"]
                    == expected[(route["path"], route["expose"])]
                )
        assert json.loads(entry.listing)["id"] == entry.extension_id
