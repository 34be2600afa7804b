"""Modders submit bundles for review; the entry waits in ``pending`` with its report."""

from __future__ import annotations

import pytest
from django.urls import reverse

from market import review
from market.models import CatalogEntry, LifecycleError


@pytest.fixture
def modder(make_user):
    return make_user("modder", "market.submit_catalogentry")


def submit(client, path):
    with path.open("rb") as fh:
        return client.post(
            reverse("market-api:submissions-list"), {"package": fh}, format="multipart"
        )


def test_submission_creates_a_pending_entry_with_its_report(
    flags_on, token_client, modder, build_bundle, market_root
):
    result = build_bundle("sample_toolkit")
    response = submit(token_client(modder), result.path)
    assert response.status_code == 201, response.json()
    submission = response.json()["submission"]
    assert submission["extension_id"] == "sample.toolkit"
    assert submission["status"] == "pending"
    assert submission["submitted_by"] == "modder"
    assert submission["package_sha256"] == result.sha256
    report = submission["report"]
    assert report["digests"] == {
        "sha256": result.sha256,
        "manifest_sha256": result.manifest_sha256,
    }
    assert report["capabilities"]["hooks"] == result.manifest.data["hooks"]
    assert report["diff"] == {"previous_version": None, "changes": {}}
    assert any(
        r["effective_path"] == "/api/extensions/sample.toolkit/status"
        for r in report["effective_routes"]
    )
    # not listed until approved
    listing = token_client(None).get(reverse("market-api:list")).json()
    assert listing["catalog"] == []
    # the spooled upload is gone; the stored bundle is the catalogue's copy
    assert list((market_root / "staging").iterdir()) == []
    entry = CatalogEntry.objects.get()
    assert entry.package.size == result.path.stat().st_size


def test_second_version_reports_what_changed(
    flags_on, token_client, modder, build_bundle
):
    first = build_bundle("hello_minimal")
    entry = review.catalog_entry_submit(bundle_path=first.path)
    review.catalog_entry_approve(entry=entry, trust_level="unverified")

    def grow(data):
        data["version"] = "0.2.0"
        data["permissions"] = ["assets.read"]
        data["hooks"] = ["on_scene_enter"]

    second = build_bundle("hello_minimal", edit=grow)
    response = submit(token_client(modder), second.path)
    diff = response.json()["submission"]["report"]["diff"]
    assert diff["previous_version"] == "0.1.0"
    assert diff["changes"]["permissions"] == {"added": ["assets.read"], "removed": []}
    assert diff["changes"]["hooks"] == {"added": ["on_scene_enter"], "removed": []}


def test_same_version_twice_is_a_conflict(flags_on, token_client, modder, build_bundle):
    result = build_bundle("hello_minimal")
    client = token_client(modder)
    assert submit(client, result.path).status_code == 201
    again = submit(client, result.path)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "version_exists"
    assert CatalogEntry.objects.count() == 1


@pytest.mark.parametrize("decision", ["reject", "delist", "yank"])
def test_a_decided_id_and_version_stays_reserved(
    flags_on, token_client, modder, make_user, build_bundle, decision
):
    """Whatever became of a submission, its id+version is never free again: the
    identical bundle resubmitted is refused, and the decision stays on record."""
    reviewer = make_user("reviewer")
    result = build_bundle("hello_minimal")
    client = token_client(modder)
    assert submit(client, result.path).status_code == 201
    entry = CatalogEntry.objects.get()
    if decision != "reject":
        entry = review.transition(
            entry=entry, action="approve_unverified", actor=reviewer
        )
    review.transition(entry=entry, action=decision, actor=reviewer, reason="no")
    again = submit(client, result.path)
    assert again.status_code == 409
    assert again.json() == {
        "ok": False,
        "error": {
            "code": "version_exists",
            "message": "hello.minimal 0.1.0 was already submitted; bump the version",
            "details": {"id": "hello.minimal", "version": "0.1.0"},
        },
    }
    entry = CatalogEntry.objects.get()
    assert entry.status != "pending"
    assert entry.review_reason == "no"
    assert LifecycleError.objects.filter(code="version_exists").count() == 1


def test_hostile_submission_is_refused_and_recorded(
    flags_on, token_client, modder, tmp_path
):
    from tests.bundles import good_entries, write_zip

    bad = write_zip(tmp_path / "bad.cvnext", [*good_entries(), ("../evil", b"x")])
    response = submit(token_client(modder), bad)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unsafe_path"
    assert CatalogEntry.objects.count() == 0
    assert LifecycleError.objects.get().action == "submit"


def test_submissions_need_permission_and_the_uploads_flag(
    settings, token_client, make_user, build_bundle
):
    from tests.conftest import write_config

    result = build_bundle("hello_minimal")
    write_config(settings, {"enable_marketplace": True})
    modder = make_user("modder", "market.submit_catalogentry")
    refused = submit(token_client(modder), result.path)
    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == {
        "flag": "enable_extension_market_uploads"
    }
    write_config(
        settings,
        {"enable_marketplace": True, "enable_extension_market_uploads": True},
    )
    assert submit(token_client(None), result.path).status_code == 401
    assert submit(token_client(make_user("nobody")), result.path).status_code == 403


def test_submitters_see_their_own_reviewers_see_all(
    flags_on, token_client, make_user, build_bundle
):
    alice = make_user("alice", "market.submit_catalogentry")
    bob = make_user("bob", "market.submit_catalogentry")
    reviewer = make_user("rev", "market.review_catalogentry")
    submit(token_client(alice), build_bundle("hello_minimal").path)
    submit(token_client(bob), build_bundle("legacy_tools").path)
    url = reverse("market-api:submissions-list")
    mine = token_client(alice).get(url).json()
    assert [s["extension_id"] for s in mine["items"]] == ["hello.minimal"]
    everything = token_client(reviewer).get(url).json()
    assert everything["count"] == 2
    other = CatalogEntry.objects.get(extension_id="legacy.tools").pk
    hidden = token_client(alice).get(
        reverse("market-api:submissions-detail", args=[other])
    )
    assert hidden.status_code == 404


def test_a_refused_manifest_teaches_over_the_api(
    flags_on, token_client, modder, tmp_path
):
    from tests.bundles import FILES, good_entries, write_zip

    files = {**FILES, "ui/panel.html": b"<p>panel</p>\n"}
    bundle = write_zip(
        tmp_path / "typos.cvnext",
        good_entries(
            files,
            permissions=["ui.panel"],
            hooks=["on_scene_exit"],
            ui={"panels": [{"slot": "sidbar", "label": "P", "path": "ui/panel.html"}]},
        ),
    )
    response = submit(token_client(modder), bundle)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "manifest_invalid"
    assert [
        (p["path"], p["code"], p["message"]) for p in error["details"]["problems"]
    ] == [
        (
            "hooks[0]",
            "unknown_hook",
            "unknown hook 'on_scene_exit'; did you mean 'on_scene_enter'? "
            "(known hooks: docs/manifest.md#hooks)",
        ),
        (
            "permissions[0].scope",
            "unknown_permission",
            "unknown scope 'ui.panel'; did you mean 'ui.panels'? "
            "(known scopes: docs/manifest.md#permission-registry)",
        ),
        (
            "ui.panels[0].slot",
            "unknown_slot",
            "unknown slot 'sidbar'; did you mean 'sidebar'? "
            "(known slots: docs/manifest.md#panel-slots)",
        ),
    ]
    assert not CatalogEntry.objects.exists()
