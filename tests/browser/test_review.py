"""A reviewer's whole review in a real browser: the queue, the review page, the diff
of the changed Python file, and a decision confirmed on its own page.

The data is the demo's: ``demo.word_count`` 1.0.0 approved and 2.0.0 pending, both
submitted by a modder, 2.0.0 changing the code and asking for ``assets.write``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.support.ui import Select

from market import packaging, review, signing
from market.models import CatalogEntry

pytestmark = pytest.mark.django_db(transaction=True)

SOURCES = (
    Path(__file__).resolve().parent.parent.parent
    / "fixtures"
    / "extensions"
    / "review_demo"
)


@pytest.fixture
def pending(make_user, package_dir) -> CatalogEntry:
    modder = make_user("modder", "market.submit_catalogentry")
    entry = None
    for version in ("1.0.0", "2.0.0"):
        built = packaging.build_package(SOURCES / version, package_dir, force=True)
        entry = review.catalog_entry_submit(bundle_path=built.path, actor=modder)
        if version == "1.0.0":
            review.catalog_entry_approve(entry=entry)
    assert entry is not None
    return entry


@pytest.fixture
def reviewer(make_user):
    return make_user(
        "rita", "market.review_catalogentry", "market.view_catalogentry", staff=True
    )


def open_review_from_the_queue(browser) -> None:
    browser.login("rita", "pw-rita")
    browser.wait_for("#content")
    browser.open("/admin/market/catalogentry/")
    browser.wait_for("#result_list")
    queue = browser.text("#result_list")
    assert "demo.word_count" in queue and "2.0.0" in queue
    assert "1.0.0" not in queue  # approved: not in the queue
    assert "1: assets.write" in queue
    browser.shot("queue")
    browser.click_link("demo.word_count")
    browser.wait_for(".review-decision")
    page = browser.text()
    assert "Review demo.word_count 2.0.0" in page
    assert "Submitted by modder" in page
    assert "network_access" in page
    browser.shot("review page")


def test_reviewer_reads_the_changed_code_and_approves_as_verified(
    browser, reviewer, pending
):
    key_id = signing.create_signing_key()  # what `market_keys create` runs
    open_review_from_the_queue(browser)

    browser.click_link("Changes since 1.0.0")
    browser.wait_for(".workbench-diff")
    diff = browser.text()
    assert "word_count/routes.py" in diff
    assert "+import urllib.request" in diff
    assert "+@lru_cache(maxsize=1024)" in diff
    assert '-    return {"scenes": counted, "total": sum(counted.values())}' in diff
    browser.shot("diff of the changed file")
    browser.driver.back()
    browser.wait_for(".review-decision")

    browser.click_link("Approve as verified")
    browser.wait_for("input[name=confirm]")
    confirm = browser.text()
    assert f"Signs demo.word_count 2.0.0 with key {key_id} and re-packs it" in confirm
    browser.shot("confirm approval")
    browser.click("input[name=confirm]")
    browser.wait_for("ul.messagelist")
    page = browser.text()
    assert "Approved demo.word_count 2.0.0 as verified: signed and re-packed" in page
    assert browser.text(".review-status") == "Approved"
    assert "as verified" in browser.text(".review-header")
    browser.shot("approved")
    pending.refresh_from_db()
    assert (pending.status, pending.trust_level) == ("approved", "verified")
    assert pending.reviewed_by.username == "rita"


def test_reviewer_rejects_with_a_reason(browser, reviewer, pending):
    open_review_from_the_queue(browser)
    browser.click_link("Reject")
    browser.wait_for("select[name=canned]")
    Select(browser.find("select[name=canned]")).select_by_index(2)
    browser.fill("textarea[name=reason]", "The update check calls out on every count.")
    browser.shot("reject with a reason")
    browser.click("input[name=confirm]")
    browser.wait_for("ul.messagelist")
    reason = (
        "Its code does things the manifest does not declare (network access, "
        "subprocesses, dynamic imports). The update check calls out on every count."
    )
    assert browser.text(".review-status") == "Rejected"
    assert browser.text(".review-reason") == reason
    assert f"Rejected: demo.word_count 2.0.0. Reason: {reason}" in browser.text()
    assert browser.find_all(".review-actions") == []  # nothing left to decide
    browser.shot("rejected")
    pending.refresh_from_db()
    assert (pending.status, pending.review_reason) == ("rejected", reason)
