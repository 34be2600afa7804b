"""Concurrent decisions: every row of an id is locked in one order, so decisions on
one id serialise (never deadlock), one decision on an entry wins, and no signed
bundle is left behind by the loser. Meant for PostgreSQL (``DATABASE_URL``); on
SQLite the IMMEDIATE transactions serialise the same way."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connections, transaction

from market import review
from market.errors import MarketError
from market.models import CatalogEntry, LifecycleError, LifecycleEvent

pytestmark = [
    pytest.mark.usefixtures("catalog_key"),
    pytest.mark.django_db(transaction=True),
]


def race(*calls):
    """Run the calls at once in threads; their results or MarketErrors, in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    crashes: list[BaseException] = []

    def worker(n, call):
        try:
            barrier.wait(timeout=60)
            results[n] = call()
        except MarketError as exc:
            results[n] = exc
        except BaseException as exc:  # surfaced by the assertion below
            crashes.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=worker, args=(n, c)) for n, c in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not crashes, crashes
    return results


@pytest.fixture
def submit(build_bundle, make_user):
    modder = make_user("modder")

    def make(version, name="sample_toolkit"):
        bundle = build_bundle(name, edit=lambda d: d.update(version=version))
        return review.catalog_entry_submit(bundle_path=bundle.path, actor=modder)

    return make


@pytest.fixture
def reviewers(make_user):
    return make_user("r1"), make_user("r2")


def bundle_files(ext_id: str, market_root: Path) -> list[str]:
    return sorted(
        p.name for p in (market_root / "catalog" / "bundles" / ext_id).iterdir()
    )


@pytest.mark.parametrize("attempt", range(3))
def test_two_versions_of_one_id_approved_at_once(
    submit, reviewers, market_root, attempt
):
    one, two = submit("1.0.0"), submit("2.0.0")
    results = race(
        lambda: review.transition(
            entry=one, action="approve_verified", actor=reviewers[0]
        ),
        lambda: review.transition(
            entry=two, action="approve_verified", actor=reviewers[1]
        ),
    )
    assert all(isinstance(r, CatalogEntry) for r in results), results
    rows = {e.version: e for e in CatalogEntry.objects.all()}
    assert {v: (e.status, e.is_latest) for v, e in rows.items()} == {
        "1.0.0": ("approved", False),
        "2.0.0": ("approved", True),
    }
    # only the two signed bundles remain: the submitted ones went after the commit
    assert bundle_files("sample.toolkit", market_root) == sorted(
        Path(e.package.name).name for e in rows.values()
    )
    assert LifecycleEvent.objects.filter(action="approve").count() == 2
    assert not LifecycleError.objects.exists()


def test_one_entry_decided_twice_at_once_has_one_winner(submit, reviewers, market_root):
    entry = submit("1.0.0")
    results = race(
        lambda: review.transition(
            entry=entry, action="approve_verified", actor=reviewers[0]
        ),
        lambda: review.transition(
            entry=entry, action="reject", actor=reviewers[1], reason="no"
        ),
    )
    winners = [r for r in results if isinstance(r, CatalogEntry)]
    losers = [r for r in results if isinstance(r, MarketError)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].code == "review_refused"
    entry.refresh_from_db()
    assert entry.status == winners[0].status
    assert LifecycleEvent.objects.exclude(action="submit").count() == 1
    assert LifecycleError.objects.get().code == "review_refused"
    # one bundle on disk: the signed one if approval won, else the submitted one
    assert bundle_files("sample.toolkit", market_root) == [
        Path(entry.package.name).name
    ]


def test_many_decisions_on_one_id_leave_one_newest(submit, reviewers):
    entries = [submit(f"1.{n}.0", "hello_minimal") for n in range(4)]
    for entry in entries[:2]:
        review.transition(entry=entry, action="approve_unverified", actor=reviewers[0])
    calls = [
        lambda: review.transition(
            entry=entries[0], action="yank", actor=reviewers[0], reason="bad"
        ),
        lambda: review.transition(
            entry=entries[1], action="delist", actor=reviewers[1], reason="bad"
        ),
        lambda: review.transition(
            entry=entries[2], action="approve_unverified", actor=reviewers[0]
        ),
        lambda: review.transition(
            entry=entries[3], action="approve_unverified", actor=reviewers[1]
        ),
        lambda: review.transition(
            entry=entries[3], action="reject", actor=reviewers[0], reason="no"
        ),
    ]
    results = race(*calls)
    assert all(
        isinstance(r, CatalogEntry) or r.code == "review_refused" for r in results
    ), results
    approved = CatalogEntry.objects.filter(status="approved")
    newest = max(approved, key=lambda e: tuple(map(int, e.version.split("."))))
    assert list(CatalogEntry.objects.filter(is_latest=True)) == [newest]


@pytest.mark.skipif(
    connections["default"].vendor != "postgresql",
    reason="row-lock timeouts are PostgreSQL's; SQLite waits on its busy timeout",
)
def test_a_decision_waits_for_the_id_lock_then_says_review_in_progress(
    submit, reviewers, settings
):
    from market.review.locking import lock_extension

    settings.MARKET_LOCK_TIMEOUT = 0.3
    one, two = submit("1.0.0"), submit("2.0.0")
    held, release = threading.Event(), threading.Event()

    def holder():
        try:
            with transaction.atomic():
                lock_extension(one.extension_id)
                held.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(timeout=30)
        with pytest.raises(MarketError) as info:
            # another version of the same id: it waits for the same lock
            review.transition(
                entry=two, action="reject", actor=reviewers[0], reason="x"
            )
    finally:
        release.set()
        thread.join(timeout=30)
    assert info.value.code == "review_in_progress"
    assert LifecycleError.objects.get().code == "review_in_progress"
    two.refresh_from_db()
    assert two.status == "pending"
