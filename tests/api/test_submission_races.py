"""Concurrent submissions of one id: one winner, clear refusals, no orphan bundle.

Eight threads post at once through the API. On PostgreSQL the id's owner row lock
serialises them (the first INSERT of a new id makes the others wait for its commit);
on SQLite the IMMEDIATE transactions do. Run with ``DATABASE_URL=postgres://...`` for
the former.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connections
from django.urls import reverse

from market.models import CatalogEntry, ExtensionOwner

THREADS = 8


def _race(clients, bundles) -> tuple[list[int], list[dict]]:
    """Post ``bundles[n]`` with ``clients[n]``, all at once; statuses and bodies."""
    barrier = threading.Barrier(len(clients))
    results: list[tuple[int, dict]] = []
    crashes: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        client = clients[n]
        client.raise_request_exception = False
        try:
            with bundles[n].open("rb") as fh:
                barrier.wait(timeout=30)
                response = client.post(
                    reverse("market-api:submissions-list"),
                    {"package": fh},
                    format="multipart",
                )
            with lock:
                results.append((response.status_code, response.json()))
        except BaseException as exc:  # surfaced by the assertion below
            crashes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not crashes
    assert len(results) == len(clients)
    return [s for s, _ in results], [b for _, b in results]


def _assert_no_orphans(market_root) -> None:
    folder = market_root / "catalog" / "bundles"
    on_disk = sorted(
        str(p.relative_to(market_root / "catalog"))
        for p in folder.rglob("*")
        if p.is_file()
    )
    rows = sorted(CatalogEntry.objects.values_list("package", flat=True))
    assert on_disk == rows
    assert list((market_root / "staging").iterdir()) == []


def _owned_first(owned: bool, client, build_bundle) -> int:
    """With ``owned``, the id exists before the race (its owner row is there to be
    locked), so the race is decided by the lock, not by the first INSERT."""
    if not owned:
        return 0

    def old(data):
        data["version"] = "0.0.1"

    with build_bundle("hello_minimal", edit=old).path.open("rb") as fh:
        response = client.post(
            reverse("market-api:submissions-list"), {"package": fh}, format="multipart"
        )
    assert response.status_code == 201
    return 1


@pytest.mark.parametrize("owned", [False, True], ids=["new_id", "owned_id"])
@pytest.mark.django_db(transaction=True)
def test_eight_submissions_of_one_version_store_exactly_one(
    flags_on, token_client, make_user, build_bundle, market_root, owned
):
    modder = make_user("modder", "market.submit_catalogentry")
    before = _owned_first(owned, token_client(modder), build_bundle)
    bundle = build_bundle("hello_minimal")
    statuses, bodies = _race(
        [token_client(modder) for _ in range(THREADS)], [bundle.path] * THREADS
    )
    assert Counter(statuses) == {201: 1, 409: THREADS - 1}, bodies
    assert {b["error"]["code"] for b in bodies if not b["ok"]} == {"version_exists"}
    assert CatalogEntry.objects.count() == before + 1
    _assert_no_orphans(market_root)


@pytest.mark.parametrize("owned", [False, True], ids=["new_id", "owned_id"])
@pytest.mark.django_db(transaction=True)
def test_equal_precedence_versions_at_once_store_exactly_one(
    flags_on, token_client, make_user, build_bundle, market_root, owned
):
    modder = make_user("modder", "market.submit_catalogentry")
    before = _owned_first(owned, token_client(modder), build_bundle)

    def tagged(n: int):
        def edit(data):
            data["version"] = "2.0.0" if n == 0 else f"2.0.0+build.{n}"

        return edit

    bundles = [
        build_bundle("hello_minimal", edit=tagged(n)).path for n in range(THREADS)
    ]
    statuses, bodies = _race([token_client(modder) for _ in range(THREADS)], bundles)
    assert Counter(statuses) == {201: 1, 409: THREADS - 1}, bodies
    assert CatalogEntry.objects.count() == before + 1
    _assert_no_orphans(market_root)


@pytest.mark.django_db(transaction=True)
def test_eight_users_claiming_a_new_id_at_once_leave_one_owner(
    flags_on, token_client, make_user, build_bundle, market_root
):
    users = [make_user(f"m{n}", "market.submit_catalogentry") for n in range(THREADS)]

    def numbered(n: int):
        def edit(data):
            data["version"] = f"1.{n}.0"

        return edit

    bundles = [
        build_bundle("hello_minimal", edit=numbered(n)).path for n in range(THREADS)
    ]
    statuses, bodies = _race([token_client(u) for u in users], bundles)
    assert Counter(statuses) == {201: 1, 403: THREADS - 1}, bodies
    assert {b["error"]["code"] for b in bodies if not b["ok"]} == {"not_owner"}
    [winner] = [b["submission"]["submitted_by"] for b in bodies if b["ok"]]
    assert ExtensionOwner.objects.get().owner.username == winner
    assert CatalogEntry.objects.count() == 1
    _assert_no_orphans(market_root)


@pytest.mark.django_db(transaction=True)
def test_a_failed_save_leaves_no_stored_file(
    flags_on, token_client, make_user, build_bundle, market_root, monkeypatch
):
    """A failure after the bundle was saved (here: the audit write) deletes it."""
    from market.review import submit as submit_module

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(submit_module, "record_event", broken)
    modder = make_user("modder", "market.submit_catalogentry")
    client = token_client(modder)
    client.raise_request_exception = False
    with build_bundle("hello_minimal").path.open("rb") as fh:
        response = client.post(
            reverse("market-api:submissions-list"), {"package": fh}, format="multipart"
        )
    assert response.status_code == 500
    assert CatalogEntry.objects.count() == 0
    assert ExtensionOwner.objects.count() == 0
    folder = market_root / "catalog" / "bundles"
    assert not folder.exists() or not [p for p in folder.rglob("*") if p.is_file()]
