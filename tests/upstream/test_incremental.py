"""``since=``: of 10,000 upstream entries with 10 changed, an incremental sync
transfers and writes only the changes. The figures (bytes and time of a full and an
incremental sync) are printed; run with ``-s`` to see them."""

from __future__ import annotations

import copy
import time

import pytest
from django.core.management import call_command

from market.manifest import manifest_sha256
from market.models import CatalogEntry
from market.upstream import sync
from tests.upstream.central import entry_for, signed_document, snapshot

N = 10_000
CHANGED = 10


def _variant(base: dict, ext_id: str) -> dict:
    entry = copy.deepcopy(base)
    entry["id"] = entry["manifest"]["id"] = ext_id
    entry["name"] = entry["manifest"]["name"] = f"Entry {ext_id}"
    entry["manifest_sha256"] = manifest_sha256(entry["manifest"])
    return entry


@pytest.mark.django_db(transaction=True)
def test_since_sync_of_ten_thousand_entries_transfers_only_the_changes(
    build_bundle,
    central,
    central_key,
):
    base = entry_for(build_bundle("hello_minimal").path)
    entries = [_variant(base, f"bulk.e{i:05d}") for i in range(N)]
    central.serve_snapshot(
        signed_document(snapshot(central_key, entries, revision=100), central_key)
    )
    started = time.perf_counter()
    full = sync.sync()
    full_time = time.perf_counter() - started
    assert full.created == N and full.since is None
    assert CatalogEntry.objects.filter(source="upstream", is_latest=True).count() == N

    changed = [
        {**e, "state": "yanked", "reason": "withdrawn", "state_at": e["approved_at"]}
        for e in entries[:CHANGED]
    ]
    central.serve_snapshot(
        signed_document(
            snapshot(central_key, changed, revision=110, since=100), central_key
        ),
        since=100,
    )
    started = time.perf_counter()
    incremental = sync.sync()
    incremental_time = time.perf_counter() - started
    assert central.requests[-1] == "/api/market/snapshot?since=100"
    assert incremental.since == 100
    assert (incremental.created, incremental.updated) == (0, CHANGED)
    assert incremental.bytes * 500 < full.bytes
    assert CatalogEntry.objects.filter(status="yanked").count() == CHANGED
    assert CatalogEntry.objects.filter(source="upstream", is_latest=True).count() == (
        N - CHANGED
    )
    print(
        f"\nfull sync of {N} entries: {full.bytes} bytes, {full_time:.2f} s; "
        f"since= sync of {CHANGED} changes: {incremental.bytes} bytes, "
        f"{incremental_time:.3f} s"
    )
    # Nothing changed since: the same revision again is accepted, nothing written.
    central.serve_snapshot(
        signed_document(
            snapshot(central_key, [], revision=110, since=110), central_key
        ),
        since=110,
    )
    call_command("market_sync")
    assert CatalogEntry.objects.filter(status="yanked").count() == CHANGED
