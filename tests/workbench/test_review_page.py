"""The review page of one submission and the confirmation page of each decision."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from market import review
from market.models import CatalogEntry, LifecycleEvent
from tests.bundles import FILES
from tests.workbench.conftest import assert_hardened, body


def page_url(entry) -> str:
    return reverse("admin:market_catalogentry_change", args=[entry.pk])


def decide_url(entry, action: str) -> str:
    return reverse("admin:market_catalogentry_decide", args=[entry.pk, action])


def offered(html: str) -> list[str]:
    return re.findall(r'href="/admin/market/catalogentry/\d+/decide/(\w+)/"', html)


@pytest.fixture
def second(submit, make_user):
    """A pending 2.0.0 by a modder, over an approved 1.0.0: new code, new scope."""
    modder = make_user("mo", "market.submit_catalogentry")
    first = submit(
        authors=["Ada <ada@example.org>"],
        permissions=[{"scope": "assets.read", "description": "lists assets"}],
    )
    first.submitted_by = modder
    first.save()
    review.catalog_entry_approve(entry=first)
    entry = submit(
        {**FILES, "main.py": b"import socket\nprint('hello')\n"},
        version="2.0.0",
        authors=["Ada <ada@example.org>"],
        trust={"level": "unverified"},
        permissions=[
            {"scope": "assets.read", "description": "lists assets"},
            "assets.write",
        ],
    )
    entry.submitted_by = modder
    entry.save()
    return entry


def test_the_page_shows_header_risk_surface_and_links(rclient, second):
    response = rclient.get(page_url(second))
    assert response.status_code == 200
    assert_hardened(response)
    html = body(response)
    for text in (
        "<code>test.bundle</code>",
        "<strong>2.0.0</strong> (last approved: 1.0.0)",
        "Ada &lt;ada@example.org&gt;",
        "<th>Submitted by</th><td>mo</td>",
        "<strong>waiting 0",
        "<th>Trust asked</th><td>unverified</td>",
        "new permissions: <code>assets.write</code>",
        "Since approved version 1.0.0",
        "+ assets.write",
    ):
        assert text in html, text
    file_link = reverse("market-workbench:file", args=[second.pk])
    assert f'<a href="{file_link}?path=main.py#L-1">main.py:1</a>' in html
    assert "<code>network_access</code>" in html
    for view in ("tree", "diff", "download"):
        assert reverse(f"market-workbench:{view}", args=[second.pk]) in html
    assert "1.0.0</a></td><td>Approved" in html  # the other versions


def test_no_inline_script_or_style(rclient, second, catalog_key):
    for url in (page_url(second), decide_url(second, "reject")):
        html = body(rclient.get(url))
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert " style=" not in html and "<style" not in html
        assert not re.search(r"\son[a-z]+=", html)


@pytest.mark.parametrize(
    ("status", "actions"),
    [
        ("pending", ["approve_verified", "approve_unverified", "reject"]),
        ("approved", ["delist", "yank"]),
        ("yanked", ["delist"]),
        ("rejected", []),
        ("delisted", []),
    ],
)
def test_the_panel_offers_what_the_state_allows(rclient, submit, status, actions):
    entry = submit()
    CatalogEntry.objects.filter(pk=entry.pk).update(status=status)
    html = body(rclient.get(page_url(entry)))
    assert offered(html) == actions == review.allowed_actions(status)
    if not actions:
        assert "takes no further decision" in html


def test_a_reviewers_own_submission_says_why_they_cannot_decide(
    rclient, reviewer, submit
):
    entry = submit()
    entry.submitted_by = reviewer
    entry.save()
    html = body(rclient.get(page_url(entry)))
    assert offered(html) == []
    assert "nobody decides their own submission" in html
    confirm = body(rclient.get(decide_url(entry, "reject")))
    assert "another reviewer must decide it" in confirm
    assert 'name="confirm"' not in confirm
    done = rclient.post(decide_url(entry, "reject"), {"reason": "x"}, follow=True)
    assert "another reviewer must decide it [review_refused]" in body(done)
    entry.refresh_from_db()
    assert entry.status == "pending"


def test_without_the_review_permission_nothing_is_decided(client, make_user, submit):
    entry = submit()
    clerk = make_user("clerk", "market.view_catalogentry", staff=True)
    client.force_login(clerk)
    html = body(client.get(page_url(entry)))
    assert "Deciding needs the review permission." in html
    assert offered(html) == []
    assert client.get(decide_url(entry, "reject")).status_code == 403
    assert client.post(decide_url(entry, "reject"), {"reason": "x"}).status_code == 403
    entry.refresh_from_db()
    assert entry.status == "pending"


def test_pages_need_a_staff_login(client, submit):
    entry = submit()
    for url in (page_url(entry), decide_url(entry, "reject")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_unknown_entries_and_decisions_are_404(rclient, submit):
    entry = submit()
    assert rclient.get(decide_url(entry, "approve_everything")).status_code == 404
    assert (
        rclient.get(page_url(entry).replace(str(entry.pk), "99999")).status_code == 404
    )


def test_verified_approval_says_which_key_signs_then_signs(
    rclient, second, catalog_key
):
    confirm = body(rclient.get(decide_url(second, "approve_verified")))
    assert f"Signs test.bundle 2.0.0 with key {catalog_key} and re-packs it" in confirm
    assert 'value="Confirm: Approve as verified"' in confirm
    assert second.status == "pending"
    done = rclient.post(decide_url(second, "approve_verified"))
    assert done.status_code == 302 and done["Location"] == page_url(second)
    html = body(rclient.get(done["Location"]))
    second.refresh_from_db()
    assert (second.status, second.trust_level) == ("approved", "verified")
    assert "Approved test.bundle 2.0.0 as verified: signed and re-packed" in html
    assert offered(html) == ["delist", "yank"]
    event = LifecycleEvent.objects.latest("id")
    assert (event.action, event.actor.username) == ("approve", "reviewer")


def test_reject_needs_a_reason_and_joins_a_canned_one_with_the_text(rclient, second):
    confirm = body(rclient.get(decide_url(second, "reject")))
    assert "The submitter sees the reason" in confirm
    assert '<select name="canned"' in confirm
    blank = rclient.post(decide_url(second, "reject"), {"canned": "", "reason": " "})
    assert blank.status_code == 200
    assert "Pick a reason or write one" in body(blank)
    second.refresh_from_db()
    assert second.status == "pending"
    rclient.post(
        decide_url(second, "reject"),
        {"canned": "0", "reason": "assets.write is never used."},
    )
    second.refresh_from_db()
    assert second.status == "rejected"
    assert second.review_reason == (
        "It asks for permissions it does not explain or does not need. "
        "assets.write is never used."
    )


def test_a_written_reason_alone_is_kept_and_shown_escaped(rclient, second):
    done = rclient.post(
        decide_url(second, "reject"),
        {"reason": "<script>alert(1)</script> opens sockets"},
        follow=True,
    )
    html = body(done)
    second.refresh_from_db()
    assert second.review_reason == "<script>alert(1)</script> opens sockets"
    assert "<script>alert(1)</script>" not in html
    assert "Rejected: test.bundle 2.0.0. Reason: &lt;script&gt;" in html


def test_a_canned_reason_out_of_range_is_a_form_error(rclient, second):
    response = rclient.post(decide_url(second, "reject"), {"canned": "99"})
    assert response.status_code == 200
    assert "Select a valid choice" in body(response)
    second.refresh_from_db()
    assert second.status == "pending"


@pytest.mark.parametrize(
    ("action", "status"), [("delist", "delisted"), ("yank", "yanked")]
)
def test_delist_and_yank_from_the_review_page(rclient, submit, action, status):
    entry = review.catalog_entry_approve(entry=submit())
    confirm = body(rclient.get(decide_url(entry, action)))
    assert "What will happen" in confirm
    rclient.post(decide_url(entry, action), {"canned": "0"})
    entry.refresh_from_db()
    assert entry.status == status
    assert entry.review_reason


def test_a_refused_decision_comes_back_with_its_message(rclient, second):
    # Offered from pending, posted after someone else decided it.
    review.catalog_entry_reject(entry=second, reviewer=None, reason="gone")
    confirm = body(rclient.get(decide_url(second, "approve_unverified")))
    assert "This entry is rejected" in confirm
    assert 'name="confirm"' not in confirm
    done = rclient.post(decide_url(second, "approve_unverified"), follow=True)
    assert (
        "cannot approve as unverified an entry that is rejected" in body(done).lower()
    )


def test_decisions_need_the_csrf_token(client, reviewer, second):
    from django.test import Client

    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(reviewer)
    assert csrf.post(decide_url(second, "reject"), {"reason": "x"}).status_code == 403
    second.refresh_from_db()
    assert second.status == "pending"


def test_unverified_approval_of_a_bundle_claiming_more_warns_then_is_refused(
    rclient, submit
):
    entry = submit(trust={"level": "verified"})
    confirm = body(rclient.get(decide_url(entry, "approve_unverified")))
    assert "approval as unverified will be refused" in confirm
    done = rclient.post(decide_url(entry, "approve_unverified"), follow=True)
    assert "approve it as verified or reject it [review_refused]" in body(done)
    entry.refresh_from_db()
    assert entry.status == "pending"


def test_a_reason_with_hidden_characters_is_a_form_error(rclient, second):
    response = rclient.post(
        decide_url(second, "reject"), {"reason": "looks fine\u202e gnp.exe"}
    )
    assert response.status_code == 200
    assert "character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 10" in body(response)
    second.refresh_from_db()
    assert second.status == "pending"


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_decision_pages_answer_get_and_post_only(rclient, second, method):
    response = getattr(rclient, method)(decide_url(second, "reject"))
    assert response.status_code == 405
    second.refresh_from_db()
    assert second.status == "pending"
