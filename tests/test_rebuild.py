"""Derived columns come from one function; ``manage.py market_rebuild`` rebuilds all."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from market import review, revision
from market.models import CatalogEntry

DERIVED = (
    "name",
    "summary",
    "authors",
    "permission_index",
    "hook_index",
    "card",
    "listing",
    "is_latest",
)


def rebuild() -> str:
    out = StringIO()
    call_command("market_rebuild", stdout=out)
    return out.getvalue()


def derived() -> dict[int, tuple]:
    """Every entry's derived columns (the listing parsed: on PostgreSQL its key order
    follows jsonb's)."""
    return {
        row["pk"]: tuple(
            json.loads(row[f]) if f == "listing" and row[f] else row[f] for f in DERIVED
        )
        for row in CatalogEntry.objects.values("pk", *DERIVED)
    }


@pytest.fixture
def catalogue(db, build_bundle):
    def submit(version, name="hello_minimal"):
        bundle = build_bundle(name, edit=lambda d: d.update(version=version))
        return review.catalog_entry_submit(bundle_path=bundle.path)

    for version in ("0.1.0", "0.2.0"):
        review.catalog_entry_approve(entry=submit(version), trust_level="unverified")
    review.catalog_entry_reject(entry=submit("0.3.0"), reviewer=None, reason="no")
    submit("0.4.0")  # pending
    submit("1.0.0", "sample_toolkit")


def test_submission_and_decisions_store_what_the_rebuild_computes(catalogue):
    assert rebuild() == (
        "[ok] 5 entries of 2 extensions checked; 0 rebuilt, 0 is_latest changed\n"
    )


def test_rebuild_restores_every_derived_column_and_is_idempotent(
    catalogue, flags_on, client
):
    good = derived()
    CatalogEntry.objects.update(
        name="edited",
        summary="",
        authors=[],
        permission_index=" x ",
        hook_index="",
        card={},
        is_latest=True,
    )
    CatalogEntry.objects.filter(status="approved").update(listing='{"id":"trunc')
    before = revision.current().number
    assert rebuild() == (
        "[ok] 5 entries of 2 extensions checked; 5 rebuilt, 4 is_latest changed\n"
    )
    assert derived() == good
    assert revision.current().number > before
    body = client.get(reverse("market-api:list"))
    assert body.status_code == 200
    assert [c["version"] for c in json.loads(body.content)["catalog"]] == ["0.2.0"]
    # again: nothing to do, and the revision (so every cached list body) is kept
    after = revision.current().number
    assert rebuild() == (
        "[ok] 5 entries of 2 extensions checked; 0 rebuilt, 0 is_latest changed\n"
    )
    assert revision.current().number == after


def test_a_rebuild_that_changes_what_the_snapshot_says_marks_the_id_changed(
    catalogue, flags_on, client, catalog_key
):
    before = revision.current().number
    CatalogEntry.objects.filter(extension_id="hello.minimal").update(name="edited")
    rebuild()
    response = client.get(reverse("market-api:snapshot"), {"since": before})
    entries = response.json()["snapshot"]["entries"]
    assert [(e["id"], e["version"]) for e in entries] == [
        ("hello.minimal", "0.1.0"),
        ("hello.minimal", "0.2.0"),
    ]
    assert {e["name"] for e in entries} != {"edited"}
    # Nothing to rebuild: nothing changed for studios either.
    after = revision.current().number
    rebuild()
    again = client.get(reverse("market-api:snapshot"), {"since": after})
    assert again.json()["snapshot"]["entries"] == []
