"""Review state (market.review.transitions): the table, the checks, what is recorded,
yank, and what was reviewed is what is served (``content_mismatch``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from market import review, selectors
from market.errors import MarketError
from market.models import (
    CatalogEntry,
    InstalledExtension,
    LifecycleError,
    LifecycleEvent,
)
from market.review.transitions import TRANSITIONS

pytestmark = pytest.mark.usefixtures("catalog_key")

Status = CatalogEntry.Status
REASONED = ("reject", "delist", "yank")


def bump(version):
    def edit(data):
        data["version"] = version

    return edit


@pytest.fixture
def people(make_user):
    return make_user("modder"), make_user("reviewer"), make_user("second")


@pytest.fixture
def submit(build_bundle, people):
    def make(version="0.1.0", name="hello_minimal"):
        result = build_bundle(name, edit=bump(version))
        return review.catalog_entry_submit(bundle_path=result.path, actor=people[0])

    return make


def put_in(entry: CatalogEntry, status: str) -> CatalogEntry:
    """Walk ``entry`` to ``status`` through transition() (reviewer: the system)."""
    paths = {
        Status.PENDING: [],
        Status.APPROVED: ["approve_unverified"],
        Status.REJECTED: ["reject"],
        Status.DELISTED: ["approve_unverified", "delist"],
        Status.YANKED: ["approve_unverified", "yank"],
    }
    for action in paths[status]:
        entry = review.transition(
            entry=entry, action=action, actor=None, reason="because"
        )
    assert entry.status == status
    return entry


def test_the_table_names_every_decision_once():
    assert set(TRANSITIONS) == {
        "approve_verified",
        "approve_unverified",
        "reject",
        "delist",
        "yank",
    }
    assert {a for a, t in TRANSITIONS.items() if t.needs_reason} == set(REASONED)
    assert review.allowed_actions(Status.PENDING) == [
        "approve_verified",
        "approve_unverified",
        "reject",
    ]
    assert review.allowed_actions(Status.APPROVED) == ["delist", "yank"]
    assert review.allowed_actions(Status.YANKED) == ["delist"]
    assert review.allowed_actions(Status.REJECTED) == []
    assert review.allowed_actions(Status.DELISTED) == []


@pytest.mark.parametrize("status", Status.values)
@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_every_decision_from_every_state(db, submit, people, status, action):
    """Allowed: one event with from/to, derived columns rebuilt. Refused: the same
    kind of LifecycleError for every decision, and nothing changed."""
    _, reviewer, _ = people
    entry = put_in(submit(), status)
    spec = TRANSITIONS[action]
    events, errors = LifecycleEvent.objects.count(), LifecycleError.objects.count()
    before = CatalogEntry.objects.filter(pk=entry.pk).values().get()
    if status in spec.allowed_from:
        done = review.transition(
            entry=entry, action=action, actor=reviewer, reason="looked at it"
        )
        assert done.status == spec.to
        assert done.reviewed_by == reviewer
        event = LifecycleEvent.objects.latest("id")
        assert LifecycleEvent.objects.count() == events + 1
        assert event.action == spec.event
        assert event.actor == reviewer
        assert event.detail["transition"] == action
        assert event.detail["from"] == status and event.detail["to"] == spec.to
        assert (done.listing != "") == (spec.to == Status.APPROVED)
        assert LifecycleError.objects.count() == errors
    else:
        with pytest.raises(MarketError) as info:
            review.transition(
                entry=entry, action=action, actor=reviewer, reason="looked at it"
            )
        assert info.value.code == "review_refused"
        assert info.value.details["status"] == status
        error = LifecycleError.objects.latest("id")
        assert LifecycleError.objects.count() == errors + 1
        assert (error.action, error.code, error.actor) == (
            spec.event,
            "review_refused",
            reviewer,
        )
        assert LifecycleEvent.objects.count() == events
        assert CatalogEntry.objects.filter(pk=entry.pk).values().get() == before


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_nobody_decides_their_own_submission(db, submit, people, action):
    modder = people[0]
    spec = TRANSITIONS[action]
    entry = put_in(submit(), spec.allowed_from[0])
    with pytest.raises(MarketError) as info:
        review.transition(entry=entry, action=action, actor=modder, reason="mine")
    assert "cannot review a bundle they submitted" in info.value.message
    error = LifecycleError.objects.latest("id")
    assert (error.action, error.actor) == (spec.event, modder)
    entry.refresh_from_db()
    assert entry.status == spec.allowed_from[0]


@pytest.mark.parametrize("action", REASONED)
@pytest.mark.parametrize("reason", [None, "", "   \n"])
def test_reject_delist_and_yank_need_a_reason(db, submit, people, action, reason):
    spec = TRANSITIONS[action]
    entry = put_in(submit(), spec.allowed_from[0])
    with pytest.raises(MarketError) as info:
        review.transition(entry=entry, action=action, actor=people[1], reason=reason)
    assert info.value.code == "reason_required"
    assert LifecycleError.objects.latest("id").code == "reason_required"
    entry.refresh_from_db()
    assert entry.status == spec.allowed_from[0]


def test_reasons_are_recorded_and_shown_to_the_submitter(db, submit, people):
    entry = review.transition(
        entry=submit(), action="reject", actor=people[1], reason="  no reason given "
    )
    assert entry.review_reason == "no reason given"
    assert LifecycleEvent.objects.latest("id").detail["reason"] == "no reason given"


def test_an_unknown_decision_is_refused_and_recorded(db, submit, people):
    entry = submit()
    with pytest.raises(MarketError) as info:
        review.transition(entry=entry, action="approve_blessed", actor=people[1])
    assert info.value.code == "review_refused"
    assert LifecycleError.objects.latest("id").code == "review_refused"


def test_yank_keeps_the_version_reserved_and_offers_the_previous_one(
    db, submit, people, flags_on, client, build_bundle
):
    old = put_in(submit("1.0.0"), Status.APPROVED)
    new = put_in(submit("1.1.0"), Status.APPROVED)
    assert [e.version for e in selectors.catalog_queryset()] == ["1.1.0"]
    yanked = review.transition(
        entry=new, action="yank", actor=people[1], reason="breaks saves"
    )
    assert yanked.status == Status.YANKED and not yanked.is_latest
    old.refresh_from_db()
    assert old.is_latest
    assert review.latest_approved("hello.minimal") == old
    # list and catalog/ keep working, and offer 1.0.0
    listed = client.get(reverse("market-api:list"))
    assert listed.status_code == 200
    assert [(c["id"], c["version"]) for c in listed.json()["catalog"]] == [
        ("hello.minimal", "1.0.0")
    ]
    page = client.get(reverse("market-api:catalog-list"))
    assert page.status_code == 200
    assert [i["version"] for i in page.json()["items"]] == ["1.0.0"]
    # the version stays reserved
    with pytest.raises(MarketError) as info:
        review.catalog_entry_submit(
            bundle_path=build_bundle("hello_minimal", edit=bump("1.1.0")).path
        )
    assert info.value.code == "version_exists"
    # a yanked version can still be delisted, not approved again
    assert review.allowed_actions(yanked.status) == ["delist"]
    review.transition(entry=yanked, action="delist", actor=people[1], reason="gone")


def test_decisions_on_one_version_rebuild_is_latest_across_the_id(db, submit, people):
    a = put_in(submit("1.0.0"), Status.APPROVED)
    b = submit("2.0.0")
    review.transition(entry=b, action="approve_unverified", actor=people[1])
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.is_latest, b.is_latest) == (False, True)
    review.transition(entry=b, action="delist", actor=people[1], reason="x")
    a.refresh_from_db()
    assert a.is_latest


# What was reviewed is what is served.


@pytest.fixture
def tamper(build_bundle):
    """Replace a stored bundle's bytes after submission with another valid bundle of
    the same id and version (its own content record intact): only the digest the
    reviewer saw tells them apart."""

    def other(data):
        data["version"] = "0.1.0"
        data["summary"] = "not what the reviewer saw"

    def swap(entry: CatalogEntry) -> None:
        replacement = build_bundle("hello_minimal", edit=other)
        Path(entry.package.path).write_bytes(replacement.path.read_bytes())

    return swap


@pytest.mark.parametrize("action", ["approve_verified", "approve_unverified"])
def test_a_stored_bundle_changed_after_submission_cannot_be_approved(
    db, submit, people, action, tamper
):
    entry = submit()
    tamper(entry)
    stored = set(Path(entry.package.path).parent.iterdir())
    with pytest.raises(MarketError) as info:
        review.transition(entry=entry, action=action, actor=people[1])
    assert info.value.code == "content_mismatch"
    assert info.value.details["expected_sha256"] == entry.package_sha256
    error = LifecycleError.objects.latest("id")
    assert (error.action, error.code) == ("approve", "content_mismatch")
    after = CatalogEntry.objects.get(pk=entry.pk)
    assert after.status == Status.PENDING and after.listing == ""
    assert not LifecycleEvent.objects.filter(action="approve").exists()
    # nothing signed, nothing stored
    assert set(Path(entry.package.path).parent.iterdir()) == stored


@pytest.mark.django_db(transaction=True)
def test_a_catalogue_bundle_changed_in_storage_cannot_be_installed_by_id(
    api, submit, people, tamper
):
    entry = put_in(submit(), Status.APPROVED)
    tamper(entry)
    response = api.post(
        reverse("market-api:install"), {"id": entry.extension_id}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "content_mismatch"
    assert not InstalledExtension.objects.exists()
    error = LifecycleError.objects.latest("id")
    assert (error.action, error.code) == ("install", "content_mismatch")
    assert not LifecycleEvent.objects.filter(action="install").exists()
    # the same refusal by exact version
    response = api.post(
        reverse("market-api:install"),
        {"id": entry.extension_id, "version": entry.version},
        format="json",
    )
    assert response.json()["error"]["code"] == "content_mismatch"


def test_bytes_swapped_after_the_digest_check_are_not_signed(
    db, submit, people, monkeypatch, tamper
):
    """Signing checks the digest of the very bytes it extracts and signs."""
    from market.review import transitions

    entry = submit()
    real = transitions.store_signed

    def swap_then_sign(entry, key):
        tamper(entry)
        return real(entry, key)

    monkeypatch.setattr(transitions, "store_signed", swap_then_sign)
    with pytest.raises(MarketError) as info:
        review.transition(entry=entry, action="approve_verified", actor=people[1])
    assert info.value.code == "content_mismatch"
    assert CatalogEntry.objects.get(pk=entry.pk).status == Status.PENDING
    assert [p.name for p in Path(entry.package.path).parent.iterdir()] == [
        Path(entry.package.name).name
    ]
