"""The admin: every marketplace table is browsable; audit tables are read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from market import review
from market.errors import MarketError
from market.models import CatalogEntry


@pytest.fixture
def admin_client_logged(client, make_user):
    client.force_login(make_user("boss", superuser=True))
    return client


@pytest.mark.parametrize(
    "model", ["catalogentry", "installedextension", "lifecycleerror", "lifecycleevent"]
)
def test_changelists_load(admin_client_logged, model):
    response = admin_client_logged.get(reverse(f"admin:market_{model}_changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "model", ["catalogentry", "installedextension", "lifecycleerror", "lifecycleevent"]
)
def test_nothing_is_added_by_hand(admin_client_logged, model):
    response = admin_client_logged.get(reverse(f"admin:market_{model}_add"))
    assert response.status_code == 403


def decide(entry, action: str) -> str:
    return reverse("admin:market_catalogentry_decide", args=[entry.pk, action])


def test_entry_page_shows_the_report_and_approval_from_it_lists_it(
    admin_client_logged, build_bundle
):
    result = build_bundle("hello_minimal")
    entry = review.catalog_entry_submit(bundle_path=result.path)
    page = admin_client_logged.get(
        reverse("admin:market_catalogentry_change", args=[entry.pk])
    )
    assert page.status_code == 200
    assert result.manifest_sha256 in page.content.decode()
    response = admin_client_logged.post(
        decide(entry, "approve_unverified"), follow=True
    )
    assert response.status_code == 200
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.APPROVED
    assert entry.is_latest


def test_review_actions_need_the_review_permission(client, make_user, build_bundle):
    clerk = make_user("clerk", "market.view_catalogentry", "market.change_catalogentry")
    clerk.is_staff = True
    clerk.save()
    client.force_login(clerk)
    result = build_bundle("hello_minimal")
    entry = review.catalog_entry_submit(bundle_path=result.path)
    assert client.post(decide(entry, "approve_unverified")).status_code == 403
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.PENDING


def test_reject_asks_for_a_reason_then_records_it(admin_client_logged, build_bundle):
    result = build_bundle("hello_minimal")
    entry = review.catalog_entry_submit(bundle_path=result.path)
    url = reverse("admin:market_catalogentry_changelist")
    form = admin_client_logged.post(
        url, {"action": "reject", "_selected_action": [entry.pk]}
    )
    assert form.status_code == 200
    assert "Reject submissions" in form.content.decode()
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.PENDING
    blank = admin_client_logged.post(
        url,
        {
            "action": "reject",
            "_selected_action": [entry.pk],
            "apply": "1",
            "reason": "",
        },
    )
    assert blank.status_code == 200  # the form again, with its error
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.PENDING
    done = admin_client_logged.post(
        url,
        {
            "action": "reject",
            "_selected_action": [entry.pk],
            "apply": "1",
            "reason": "Bundles global routes without a reason.",
        },
        follow=True,
    )
    assert "Rejected: 1 entry" in done.content.decode()
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.REJECTED
    assert entry.review_reason == "Bundles global routes without a reason."


def test_reject_form_refuses_hidden_characters_in_the_reason(
    admin_client_logged, build_bundle
):
    entry = review.catalog_entry_submit(bundle_path=build_bundle("hello_minimal").path)
    url = reverse("admin:market_catalogentry_changelist")
    response = admin_client_logged.post(
        url,
        {
            "action": "reject",
            "_selected_action": [entry.pk],
            "apply": "1",
            "reason": "Looks fine\u202e",
        },
    )
    assert response.status_code == 200  # the form again, saying why
    page = response.content.decode()
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE) at position 10" in page
    entry.refresh_from_db()
    assert (entry.status, entry.review_reason) == (CatalogEntry.Status.PENDING, "")


def test_reviewer_cannot_approve_own_submission(client, make_user, build_bundle):
    reviewer = make_user(
        "self.reviewer",
        "market.review_catalogentry",
        "market.view_catalogentry",
        staff=True,
    )
    client.force_login(reviewer)
    result = build_bundle("hello_minimal")
    entry = review.catalog_entry_submit(bundle_path=result.path, actor=reviewer)
    response = client.post(decide(entry, "approve_unverified"), follow=True)
    assert "cannot review a bundle they submitted" in response.content.decode()
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.PENDING


def test_flags_page_shows_and_toggles(admin_client_logged, settings):
    from market import flags

    page = admin_client_logged.get(reverse("market-flags"))
    assert page.status_code == 200
    assert "enable_marketplace" in page.content.decode()
    admin_client_logged.post(
        reverse("market-flags"),
        {"enable_marketplace": "on", "enable_extension_market_uploads": ""},
    )
    current = flags.get_flags()
    assert current.marketplace is True and current.uploads is False


def test_flags_page_needs_its_permission(client, make_user):
    client.force_login(make_user("staffer", staff=True))
    assert client.get(reverse("market-flags")).status_code == 403


def test_entry_page_shows_the_diff_and_escapes_manifest_text(
    admin_client_logged, build_bundle
):
    first = review.catalog_entry_submit(bundle_path=build_bundle("hello_minimal").path)
    review.catalog_entry_approve(entry=first, trust_level="unverified")

    def grow(data):
        data["version"] = "0.2.0"
        data["permissions"] = [
            {"scope": "assets.read", "description": "<script>alert(1)</script>"}
        ]

    second = review.catalog_entry_submit(
        bundle_path=build_bundle("hello_minimal", edit=grow).path
    )
    html = admin_client_logged.get(
        reverse("admin:market_catalogentry_change", args=[second.pk])
    ).content.decode()
    assert "Since approved version 0.1.0" in html
    assert "+ assets.read" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "/api/extensions/hello.minimal/hello" in html


def test_saving_the_flags_page_untouched_keeps_the_legacy_alias_working(
    admin_client_logged, settings
):
    import json
    from pathlib import Path

    from market import flags
    from tests.conftest import write_config

    write_config(settings, {"enable_extension_market": True})
    assert flags.get_flags().marketplace is True
    # the form as rendered: the legacy box ticked, the primary one not (absent)
    admin_client_logged.post(reverse("market-flags"), {"enable_extension_market": "on"})
    saved = json.loads(Path(settings.COMFYVN_CONFIG).read_text())["features"]
    assert saved == {"enable_extension_market": True}
    assert flags.get_flags().marketplace is True


def test_flags_page_does_not_revert_a_concurrent_edit(admin_client_logged, settings):
    import json
    from pathlib import Path

    from tests.conftest import write_config

    write_config(
        settings,
        {"enable_marketplace": False, "enable_extension_market_uploads": False},
    )
    page = admin_client_logged.get(reverse("market-flags")).content.decode()
    assert 'name="seen-enable_marketplace" value="0"' in page
    # someone else turns uploads on while the page is open
    write_config(
        settings, {"enable_marketplace": False, "enable_extension_market_uploads": True}
    )
    # the operator ticks only the marketplace box, from the page as it was shown
    admin_client_logged.post(
        reverse("market-flags"),
        {
            "enable_marketplace": "on",
            "seen-enable_marketplace": "0",
            "seen-enable_extension_market": "0",
            "seen-enable_extension_market_uploads": "0",
        },
    )
    saved = json.loads(Path(settings.COMFYVN_CONFIG).read_text())["features"]
    assert saved == {
        "enable_marketplace": True,
        "enable_extension_market_uploads": True,
    }


# Integrity: entries change through review.transition() only.


def _approved_entry(build_bundle):
    entry = review.catalog_entry_submit(bundle_path=build_bundle("hello_minimal").path)
    return review.catalog_entry_approve(entry=entry, trust_level="unverified")


def _inputs(html: str) -> list[str]:
    """The controls of the entry's page (decisions are links to their own pages)."""
    import re

    page = html.split('id="content-main"', 1)[1]
    return re.findall(r"<(?:input|textarea|select|button|form)\b[^>]*>", page)


def test_the_entry_page_has_no_inputs(admin_client_logged, build_bundle):
    entry = _approved_entry(build_bundle)
    page = admin_client_logged.get(
        reverse("admin:market_catalogentry_change", args=[entry.pk])
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert _inputs(html) == []
    assert entry.listing not in html  # derived text is not shown as a field


def test_a_crafted_change_post_changes_nothing(admin_client_logged, build_bundle):
    entry = _approved_entry(build_bundle)
    before = CatalogEntry.objects.filter(pk=entry.pk).values().get()
    crafted = {
        field.name: "tampered"
        for field in CatalogEntry._meta.concrete_fields
        if field.name not in ("id", "submitted_by", "reviewed_by")
    }
    crafted.update(
        status="delisted",
        trust_level="verified",
        is_latest="",
        package_size="1",
        listing='{"id":"evil"}',
        manifest='{"id":"evil"}',
        card="{}",
        _save="Save",
    )
    response = admin_client_logged.post(
        reverse("admin:market_catalogentry_change", args=[entry.pk]), crafted
    )
    assert response.status_code == 403
    assert CatalogEntry.objects.filter(pk=entry.pk).values().get() == before


def test_entries_cannot_be_deleted_one_by_one_or_in_bulk(
    admin_client_logged, build_bundle
):
    from market.models import LifecycleEvent

    entry = _approved_entry(build_bundle)
    events = LifecycleEvent.objects.count()
    url = reverse("admin:market_catalogentry_delete", args=[entry.pk])
    assert admin_client_logged.get(url).status_code == 403
    assert admin_client_logged.post(url, {"post": "yes"}).status_code == 403
    changelist = reverse("admin:market_catalogentry_changelist")
    page = admin_client_logged.get(changelist).content.decode()
    assert "delete_selected" not in page
    bulk = admin_client_logged.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
        follow=True,
    )
    assert bulk.status_code == 200
    assert CatalogEntry.objects.filter(pk=entry.pk).exists()
    assert LifecycleEvent.objects.count() == events
    event = LifecycleEvent.objects.latest("id")
    assert (
        admin_client_logged.get(
            reverse("admin:market_lifecycleevent_delete", args=[event.pk])
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("action", "button", "status"), [("delist", "Delist", "delisted")]
)
def test_bulk_delist_asks_for_a_reason(
    admin_client_logged, build_bundle, action, button, status
):
    entry = _approved_entry(build_bundle)
    # Actions apply to the list shown: the queue shows pending entries by default.
    url = reverse("admin:market_catalogentry_changelist") + "?status=approved"
    form = admin_client_logged.post(
        url, {"action": action, "_selected_action": [entry.pk]}
    )
    assert form.status_code == 200
    assert f'value="{button}"' in form.content.decode()
    entry.refresh_from_db()
    assert entry.status == "approved"
    done = admin_client_logged.post(
        url,
        {
            "action": action,
            "_selected_action": [entry.pk],
            "apply": "1",
            "reason": "Crashes the Studio on load.",
        },
        follow=True,
    )
    assert done.status_code == 200
    entry.refresh_from_db()
    assert entry.status == status
    assert entry.review_reason == "Crashes the Studio on load."


def test_approving_as_verified_without_a_key_says_how_to_make_one(
    admin_client_logged, build_bundle, settings
):
    from pathlib import Path

    from market.models import LifecycleError

    entry = review.catalog_entry_submit(bundle_path=build_bundle("sample_toolkit").path)
    confirm = admin_client_logged.get(decide(entry, "approve_verified"))
    assert "manage.py market_keys create" in confirm.content.decode()
    assert 'name="confirm"' not in confirm.content.decode()
    # Posted anyway (a page open from before the key went): refused, said why.
    response = admin_client_logged.post(decide(entry, "approve_verified"), follow=True)
    html = response.content.decode()
    assert "[signing_key_missing]" in html
    assert "manage.py market_keys create" in html
    assert not Path(settings.MARKET_SIGNING_KEY_FILE).exists()
    assert LifecycleError.objects.get().code == "signing_key_missing"
    entry.refresh_from_db()
    assert entry.status == "pending"


def test_the_admin_shows_capped_lists_with_their_counts(admin_client_logged, tmp_path):
    """A bundle with hundreds of warnings, and a refusal with a thousand problems,
    show at most MAX_LISTED of them in the review pages (item: amplification)."""
    from market.errors import MAX_LISTED
    from market.manifest import LIMITS
    from market.models import LifecycleError
    from tests.bundles import good_entries, write_zip

    width = LIMITS.max_key_chars
    keys = {f"x{i:03}".ljust(width, "k"): i for i in range(200)}
    noisy = write_zip(tmp_path / "noisy.cvnext", good_entries(**keys))
    entry = review.catalog_entry_submit(bundle_path=noisy)
    assert entry.report["warning_count"] == 200
    page = admin_client_logged.get(
        reverse("admin:market_catalogentry_change", args=[entry.pk])
    ).content.decode()
    shown = page.count("unknown_field")
    assert MAX_LISTED <= shown <= 2 * MAX_LISTED  # the summary and the raw report
    assert "200" in page

    repeated = write_zip(
        tmp_path / "repeated.cvnext", good_entries(hooks=["on_nothing"] * 1000)
    )
    with pytest.raises(MarketError):
        review.catalog_entry_submit(bundle_path=repeated)
    row = LifecycleError.objects.get()
    assert row.detail["problem_count"] == 1000
    page = admin_client_logged.get(
        reverse("admin:market_lifecycleerror_change", args=[row.pk])
    ).content.decode()
    assert page.count("unknown_hook") <= MAX_LISTED + 1  # + the message's first
    assert len(page) < 64 * 1024
