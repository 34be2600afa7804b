"""Hidden characters and NUL through the API and the review, on any database.

Run with ``DATABASE_URL=postgres://...`` too: PostgreSQL's text and jsonb refuse NUL,
so a NUL that got past validation would be a 500 there. Each refusal is a 4xx with
its own code, and nothing is stored but the ``LifecycleError`` row.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from market import review
from market.errors import InvalidCharactersError, MarketError
from market.models import CatalogEntry, InstalledExtension, LifecycleError
from tests.bundles import good_entries, write_zip

MANIFESTS = {
    "bidi_name": ({"name": "Tool\u202egnp.exe"}, "invalid_characters", "name"),
    "zero_width_author": (
        {"authors": ["Ann\u200b"]},
        "invalid_characters",
        "authors[0]",
    ),
    "isolate_summary": ({"summary": "\u2067x\u2069"}, "invalid_characters", "summary"),
    "nul_name": ({"name": "a\x00b"}, "nul_character", "name"),
    "nul_description": ({"description": "x\x00"}, "nul_character", "description"),
    "nul_unknown_field": ({"x_note": {"k": "\x00"}}, "nul_character", "x_note.k"),
    "nul_key": ({"x_note": {"k\x00": 1}}, "nul_character", "x_note"),
}


@pytest.fixture
def modder(make_user):
    return make_user("modder", "market.submit_catalogentry")


def bundle(path, fields):
    return write_zip(path, good_entries(**fields))


def assert_refused(response, code, path, action):
    assert response.status_code == 422, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "manifest_invalid"
    assert [(p["path"], p["code"]) for p in error["details"]["problems"]] == [
        (path, code)
    ]
    assert CatalogEntry.objects.count() == 0
    assert InstalledExtension.objects.count() == 0
    row = LifecycleError.objects.get()
    assert (row.action, row.code) == (action, "manifest_invalid")
    assert row.detail["problems"][0]["code"] == code


@pytest.mark.parametrize("case", sorted(MANIFESTS))
def test_install_by_path(api, package_dir, market_root, case):
    fields, code, path = MANIFESTS[case]
    bad = bundle(package_dir / f"{case}.cvnext", fields)
    response = api.post(
        reverse("market-api:install"), {"package": str(bad)}, format="json"
    )
    assert_refused(response, code, path, "install")
    assert not (market_root / "extensions").exists() or not any(
        (market_root / "extensions").iterdir()
    )


@pytest.mark.parametrize("case", sorted(MANIFESTS))
def test_submission(flags_on, token_client, modder, tmp_path, case):
    fields, code, path = MANIFESTS[case]
    bad = bundle(tmp_path / f"{case}.cvnext", fields)
    with bad.open("rb") as fh:
        response = token_client(modder).post(
            reverse("market-api:submissions-list"), {"package": fh}, format="multipart"
        )
    assert_refused(response, code, path, "submit")


def test_upload_file_name_with_nul_or_hidden_characters(api, build_bundle):
    """The name an upload arrives under is stored too (sidecar, package_name)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = build_bundle("hello_minimal").path.read_bytes()
    for name in ("he\x00llo.cvnext", "hello\u202e.cvnext"):
        upload = SimpleUploadedFile(name, data)
        response = api.post(
            reverse("market-api:install"),
            {"package": upload, "reinstall": True},
            format="multipart",
        )
        assert response.status_code == 200, response.content[:300]
        row = InstalledExtension.objects.get()
        assert "\x00" not in row.package_name
        assert "\x00" not in row.sidecar["package"]["name"]


@pytest.mark.parametrize(
    ("reason", "position", "char"),
    [
        ("Looks fine\u202e", 10, "U+202E"),
        ("zero\u200bwidth", 4, "U+200B"),
        ("bell\x07", 4, "U+0007"),
        ("private \ue000", 8, "U+E000"),
        ("nul\x00here", 3, "U+0000"),
    ],
)
def test_review_reasons_are_display_text(db, build_bundle, reason, position, char):
    entry = review.catalog_entry_submit(bundle_path=build_bundle("hello_minimal").path)
    with pytest.raises(InvalidCharactersError) as info:
        review.catalog_entry_reject(entry=entry, reviewer=None, reason=reason)
    assert info.value.code == "invalid_characters"
    assert info.value.details == {
        "path": "reason",
        "character": char,
        "position": position,
    }
    entry.refresh_from_db()
    assert (entry.status, entry.review_reason) == ("pending", "")
    assert LifecycleError.objects.get().code == "invalid_characters"

    approved = review.catalog_entry_approve(entry=entry, trust_level="unverified")
    with pytest.raises(InvalidCharactersError):
        review.catalog_entry_delist(entry=approved, reviewer=None, reason=reason)
    approved.refresh_from_db()
    assert approved.status == "approved"
    assert LifecycleError.objects.filter(action="delist").count() == 1


def test_multiline_reasons_are_kept(db, build_bundle):
    entry = review.catalog_entry_submit(bundle_path=build_bundle("hello_minimal").path)
    rejected = review.catalog_entry_reject(
        entry=entry, reviewer=None, reason="  Two problems:\r\n- one\n\t- two  "
    )
    assert rejected.review_reason == "Two problems:\r\n- one\n\t- two"
    with pytest.raises(MarketError) as info:
        review.catalog_entry_reject(entry=entry, reviewer=None, reason=" \n ")
    assert info.value.code == "reason_required"


def test_transfer_reasons_are_display_text(
    flags_on, token_client, make_user, build_bundle
):
    from market.models import ExtensionOwner, LifecycleEvent

    alice = make_user("alice", "market.submit_catalogentry")
    make_user("bob")
    reviewer = make_user("rev", "market.review_catalogentry")
    path = build_bundle("hello_minimal").path
    with path.open("rb") as fh:
        created = token_client(alice).post(
            reverse("market-api:submissions-list"), {"package": fh}, format="multipart"
        )
    assert created.status_code == 201
    response = token_client(reviewer).post(
        reverse("market-api:transfers"),
        {"id": "hello.minimal", "username": "bob", "reason": "asked\u202e by mail"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_characters"
    assert response.json()["error"]["details"] == {
        "path": "reason",
        "character": "U+202E",
        "position": 5,
    }
    assert ExtensionOwner.objects.get().owner == alice
    assert not LifecycleEvent.objects.filter(action="transfer").exists()
    row = LifecycleError.objects.get(action="transfer")
    assert row.code == "invalid_characters"
