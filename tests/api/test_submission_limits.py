"""Submissions are throttled like installs, and one user may have only so many waiting
for review (``MARKET_SUBMIT_THROTTLE``, ``MARKET_MAX_PENDING_SUBMISSIONS``)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from market import review
from market.models import CatalogEntry, LifecycleError


@pytest.fixture
def modders(make_user):
    return [make_user(name, "market.submit_catalogentry") for name in ("ann", "bob")]


@pytest.fixture
def bundles(build_bundle):
    """``bundles(n, ext_id)``: paths of n versions of one extension (ids are owned
    by their first submitter, so each user submits an id of their own)."""

    def build(count: int, ext_id: str = "hello.minimal"):
        paths = []
        for minor in range(count):

            def edit(data, minor=minor):
                data["id"] = ext_id
                data["version"] = f"1.{minor}.0"

            paths.append(build_bundle("hello_minimal", edit=edit).path)
        return paths

    return build


def submit(client, path=None):
    url = reverse("market-api:submissions-list")
    if path is None:
        return client.post(url, {}, format="multipart")
    with path.open("rb") as fh:
        return client.post(url, {"package": fh}, format="multipart")


def rate(settings, value: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "market_submit": value,
        },
    }


def test_submitting_is_throttled_per_user(
    flags_on, settings, token_client, modders, bundles
):
    rate(settings, "2/min")
    first, _, third = bundles(3)
    (second,) = bundles(1, "bob.extension")
    ann = token_client(modders[0])
    assert submit(ann, first).status_code == 201
    assert submit(ann).status_code == 400  # a refused request counts too
    response = submit(ann, third)
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert error["details"]["retry_after"] > 0
    assert int(response["Retry-After"]) > 0
    assert CatalogEntry.objects.count() == 1
    # Reading one's submissions is not throttled; another user has a budget of
    # their own.
    for _ in range(5):
        assert ann.get(reverse("market-api:submissions-list")).status_code == 200
    assert submit(token_client(modders[1]), second).status_code == 201


def test_installs_and_submissions_have_separate_budgets(
    flags_on, settings, token_client, make_user, bundles
):
    rate(settings, "1/min")
    user = make_user("both", "market.submit_catalogentry", "market.install_extension")
    client = token_client(user)
    (path,) = bundles(1)
    assert submit(client, path).status_code == 201
    install = client.post(
        reverse("market-api:install"), {"package": str(path)}, format="json"
    )
    assert install.status_code == 200
    assert submit(client, path).status_code == 429


def test_pending_submissions_are_capped_per_user(
    flags_on, settings, token_client, modders, bundles, market_root
):
    settings.MARKET_MAX_PENDING_SUBMISSIONS = 2
    paths = bundles(4)
    ann = token_client(modders[0])
    assert [submit(ann, p).status_code for p in paths[:2]] == [201, 201]
    errors_before = LifecycleError.objects.count()
    response = submit(ann, paths[2])
    assert response.status_code == 429
    assert response.json() == {
        "ok": False,
        "error": {
            "code": "too_many_pending",
            "message": "you have 2 submissions waiting for review; the limit is 2: "
            "wait for a decision (or ask a reviewer) before submitting more",
            "details": {"limit": 2, "pending": 2},
        },
    }
    assert "Retry-After" not in response
    # Nothing kept of the refused upload.
    assert CatalogEntry.objects.count() == 2
    assert LifecycleError.objects.count() == errors_before
    assert list((market_root / "staging").iterdir()) == []
    # Another user's queue is their own.
    (bobs,) = bundles(1, "bob.extension")
    assert submit(token_client(modders[1]), bobs).status_code == 201

    # A decision frees a place.
    entry = CatalogEntry.objects.filter(submitted_by=modders[0]).first()
    review.catalog_entry_reject(entry=entry, reviewer=None, reason="no")
    assert submit(ann, paths[3]).status_code == 201
    assert submit(ann, paths[3]).json()["error"]["code"] == "too_many_pending"


def test_the_cap_is_checked_before_the_upload_is_read(
    flags_on, settings, token_client, modders, bundles
):
    settings.MARKET_MAX_PENDING_SUBMISSIONS = 1
    first, second = bundles(2)
    ann = token_client(modders[0])
    assert submit(ann, first).status_code == 201
    settings.MARKET_ARCHIVE_LIMITS = {"max_package_bytes": 10}
    # Over the size limit too, but refused for the queue before it is read.
    response = submit(ann, second)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_pending"


def test_the_cap_counts_only_pending_entries(db, modders, bundles):
    from market.selectors import pending_submission_count

    ann, bob = modders
    paths = bundles(2)
    entries = [review.catalog_entry_submit(bundle_path=p, actor=ann) for p in paths]
    (bobs,) = bundles(1, "bob.extension")
    review.catalog_entry_submit(bundle_path=bobs, actor=bob)
    assert pending_submission_count(user=ann) == 2
    review.catalog_entry_approve(entry=entries[0], trust_level="unverified")
    assert pending_submission_count(user=ann) == 1
    assert pending_submission_count(user=bob) == 1
    assert pending_submission_count(user=None) == 0
