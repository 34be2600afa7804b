"""The admin of owned ids: maintainers inline (through the services), transfers as a
reviewer's action with a reason, and the data migration that gave existing ids owners.
"""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.urls import reverse

from market import review
from market.models import (
    CatalogEntry,
    ExtensionMaintainer,
    ExtensionOwner,
    LifecycleError,
    LifecycleEvent,
)


@pytest.fixture
def reviewer(make_user):
    return make_user("rev", "market.review_catalogentry", staff=True)


@pytest.fixture
def row(make_user, build_bundle):
    alice = make_user("alice", "market.submit_catalogentry", staff=True)
    review.catalog_entry_submit(bundle_path=build_bundle().path, actor=alice)
    return ExtensionOwner.objects.get()


def inline_post(row, **extra):
    data = {
        "maintainer_rows-TOTAL_FORMS": "0",
        "maintainer_rows-INITIAL_FORMS": "0",
        "maintainer_rows-MIN_NUM_FORMS": "0",
        "maintainer_rows-MAX_NUM_FORMS": "1000",
    }
    existing = list(row.maintainer_rows.order_by("pk"))
    forms = [{"id": str(m.pk), "extension": str(row.pk)} for m in existing]
    data["maintainer_rows-INITIAL_FORMS"] = str(len(existing))
    forms.extend(extra.pop("new", []))
    for i, form in enumerate(forms):
        for key, value in form.items():
            data[f"maintainer_rows-{i}-{key}"] = value
    data["maintainer_rows-TOTAL_FORMS"] = str(len(forms))
    data.update(extra)
    return data


def change_url(row):
    return reverse("admin:market_extensionowner_change", args=[row.pk])


def test_a_reviewer_adds_and_removes_maintainers_inline(
    client, reviewer, row, make_user
):
    bob = make_user("bob")
    client.force_login(reviewer)
    page = client.get(change_url(row))
    assert page.status_code == 200
    assert "alice" in page.content.decode()
    new = [{"username": "bob", "extension": str(row.pk)}]
    response = client.post(change_url(row), inline_post(row, new=new), follow=True)
    assert response.status_code == 200
    maintainer = ExtensionMaintainer.objects.get()
    assert (maintainer.user, maintainer.added_by) == (bob, reviewer)
    assert LifecycleEvent.objects.filter(action="maintainer_add").count() == 1
    data = inline_post(row)
    data["maintainer_rows-0-DELETE"] = "on"
    client.post(change_url(row), data, follow=True)
    assert not ExtensionMaintainer.objects.exists()
    assert LifecycleEvent.objects.filter(action="maintainer_drop").count() == 1


def test_an_unknown_username_is_a_form_error(client, reviewer, row):
    client.force_login(reviewer)
    new = [{"username": "ghost", "extension": str(row.pk)}]
    response = client.post(change_url(row), inline_post(row, new=new))
    assert response.status_code == 200
    assert "there is no user" in response.content.decode()
    assert not ExtensionMaintainer.objects.exists()


def test_a_staff_owner_manages_their_own_ids_only(client, row, make_user, build_bundle):
    client.force_login(row.owner)
    changelist = client.get(reverse("admin:market_extensionowner_changelist"))
    assert changelist.status_code == 200
    assert "hello.minimal" in changelist.content.decode()
    make_user("bob")
    new = [{"username": "bob", "extension": str(row.pk)}]
    client.post(change_url(row), inline_post(row, new=new), follow=True)
    assert ExtensionMaintainer.objects.get().user.username == "bob"
    # another staff user sees nothing and changes nothing
    other = make_user("mallory", "market.submit_catalogentry", staff=True)
    client.force_login(other)
    assert client.get(change_url(row)).status_code in (302, 403, 404)
    data = inline_post(row)
    data["maintainer_rows-0-DELETE"] = "on"
    client.post(change_url(row), data)
    assert ExtensionMaintainer.objects.count() == 1


def test_ids_are_neither_added_nor_deleted_by_hand(client, reviewer, row):
    client.force_login(reviewer)
    assert client.get(reverse("admin:market_extensionowner_add")).status_code == 403
    delete = reverse("admin:market_extensionowner_delete", args=[row.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert ExtensionOwner.objects.count() == 1


def test_transfer_action_asks_for_a_reason_and_is_audited(
    client, reviewer, row, make_user
):
    bob = make_user("bob")
    client.force_login(reviewer)
    url = reverse("admin:market_extensionowner_changelist")
    form = client.post(url, {"action": "transfer", "_selected_action": [row.pk]})
    assert form.status_code == 200
    assert "Transfer ownership" in form.content.decode()
    blank = client.post(
        url,
        {
            "action": "transfer",
            "_selected_action": [row.pk],
            "apply": "1",
            "username": "bob",
            "reason": "",
        },
    )
    assert blank.status_code == 200  # the form again, nothing done
    row.refresh_from_db()
    assert row.owner.username == "alice"
    client.post(
        url,
        {
            "action": "transfer",
            "_selected_action": [row.pk],
            "apply": "1",
            "username": "bob",
            "reason": "account recovery, ticket 42",
        },
        follow=True,
    )
    row.refresh_from_db()
    assert row.owner == bob
    event = LifecycleEvent.objects.get(action="transfer")
    assert event.actor == reviewer
    assert event.detail == {
        "from": "alice",
        "to": "bob",
        "reason": "account recovery, ticket 42",
    }


def test_the_transfer_action_needs_the_review_permission(client, row, make_user):
    make_user("bob")
    client.force_login(row.owner)
    client.post(
        reverse("admin:market_extensionowner_changelist"),
        {
            "action": "transfer",
            "_selected_action": [row.pk],
            "apply": "1",
            "username": "bob",
            "reason": "mine now",
        },
    )
    row.refresh_from_db()
    assert row.owner.username == "alice"
    assert not LifecycleEvent.objects.filter(action="transfer").exists()
    assert not LifecycleError.objects.filter(action="transfer").exists()


def test_the_migration_gives_each_id_to_its_earliest_submitter(make_user, build_bundle):
    alice, bob = make_user("alice"), make_user("bob")

    def at(v):
        def edit(data):
            data["version"] = v

        return edit

    # hello.minimal: a server submission first, then alice, then bob
    review.catalog_entry_submit(bundle_path=build_bundle(edit=at("0.1.0")).path)
    review.catalog_entry_submit(
        bundle_path=build_bundle(edit=at("0.2.0")).path, actor=alice
    )
    ExtensionOwner.objects.all().delete()  # as before the migration
    review.catalog_entry_submit(
        bundle_path=build_bundle(edit=at("0.3.0")).path, actor=bob
    )
    review.catalog_entry_submit(bundle_path=build_bundle("legacy_tools").path)
    ExtensionOwner.objects.all().delete()
    CatalogEntry.objects.filter(version="0.3.0").update(
        submitted_at=CatalogEntry.objects.get(version="0.2.0").submitted_at
    )
    migration = importlib.import_module("market.migrations.0007_ownership")
    migration.give_ids_to_first_submitters(apps, None)
    owners = dict(ExtensionOwner.objects.values_list("extension_id", "owner__username"))
    assert owners == {"hello.minimal": "alice", "legacy.tools": None}


def test_the_transfer_form_refuses_hidden_characters_in_the_reason(
    client, reviewer, row, make_user
):
    make_user("bob")
    client.force_login(reviewer)
    response = client.post(
        reverse("admin:market_extensionowner_changelist"),
        {
            "action": "transfer",
            "_selected_action": [row.pk],
            "apply": "1",
            "username": "bob",
            "reason": "recovery\u2067 ticket",
        },
    )
    assert response.status_code == 200  # the form again, saying why
    assert "U+2067 (RIGHT-TO-LEFT ISOLATE) at position 8" in response.content.decode()
    row.refresh_from_db()
    assert row.owner.username == "alice"
    assert not LifecycleEvent.objects.filter(action="transfer").exists()
