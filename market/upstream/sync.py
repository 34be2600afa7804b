"""``market_sync``: fetch the central marketplace's snapshot, verify it, store it.

Nothing of a refused snapshot is stored: the checks of :mod:`.snapshot` all run
before the one transaction that writes the catalogue rows and the state. Rows are
``CatalogEntry`` rows with ``source="upstream"`` and no stored bundle, so ``list``
and ``catalog/`` read them with the same bounded queries as local entries. An id
that has local entries is this server's own: upstream versions of it are skipped.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from market import revision
from market.clock import iso
from market.conf import market_conf
from market.errors import (
    MarketError,
    SyncInProgressError,
    UpstreamNotConfiguredError,
)
from market.models import CatalogEntry, LifecycleAction, UpstreamState
from market.redact import redact
from market.review.derived import derived_columns, newest_listable
from market.selectors import catalog_listing
from market.upstream import client, keys, state
from market.upstream.snapshot import (
    Snapshot,
    check_snapshot,
    now_utc,
    parse_document,
    verify_signature,
)

logger = logging.getLogger(__name__)
Status = CatalogEntry.Status
BATCH = 500


@dataclass
class SyncResult:
    revision: int
    since: int | None
    entries: int
    created: int = 0
    updated: int = 0
    skipped: list[str] = field(default_factory=list)
    keys_accepted: list[str] = field(default_factory=list)
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "since": self.since,
            "entries": self.entries,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "keys_accepted": self.keys_accepted,
            "bytes": self.bytes,
        }


def snapshot_url(since: int | None) -> str:
    base = market_conf().upstream_url + "/api/market/snapshot"
    return base if since is None else f"{base}?since={since}"


def sync(*, transport: client.Transport = None, full: bool = False) -> SyncResult:
    """Fetch, verify and store the central snapshot (``since`` the last accepted
    revision unless ``full``). A refusal is recorded in the state's ``last_error``
    and raised; ``sync_in_progress`` when another sync runs."""
    if not state.configured():
        raise UpstreamNotConfiguredError(
            "no central marketplace is configured (MARKET_UPSTREAM_URL)"
        )
    if not state.claim():
        raise SyncInProgressError(
            "another sync from the central marketplace is running; try again shortly"
        )
    try:
        result = _sync(transport, full)
    except MarketError as exc:
        _record_error(exc)
        raise
    finally:
        state.release()
    return result


def _sync(transport: client.Transport, full: bool) -> SyncResult:
    row = state.current()
    assert row is not None  # claim() created it
    last = row.revision
    has_rows = CatalogEntry.objects.filter(source=CatalogEntry.Source.UPSTREAM).exists()
    since = None if full or last is None or not has_rows else last
    limits = market_conf().upstream_limits
    body = client.fetch_bytes(
        snapshot_url(since), max_bytes=limits.max_snapshot_bytes, transport=transport
    )
    snapshot, signature = parse_document(body)
    trusted = keys.upstream_keys()
    accepted: list[str] = []
    if snapshot.get("key_id") not in trusted:
        accepted = _rotate(transport)
        trusted = keys.upstream_keys()
    key_id = verify_signature(snapshot, signature, trusted)
    checked = check_snapshot(
        snapshot,
        key_id=key_id,
        now=now_utc(),
        last_revision=last,
        asked_since=since,
        entry_keys=trusted,
    )
    result = _store(checked)
    result.keys_accepted = accepted
    result.bytes = len(body)
    return result


def _rotate(transport: client.Transport) -> list[str]:
    url = market_conf().upstream_url + "/api/market/snapshot/keys"
    try:
        body = client.fetch_bytes(
            url, max_bytes=keys.MAX_KEYS_BYTES, transport=transport
        )
    except MarketError as exc:
        logger.info("upstream keys unavailable: %s", exc.message)
        return []
    return keys.accept_rotations(body)


def _record_error(exc: MarketError) -> None:
    error = {
        "code": exc.code,
        "message": redact(exc.message, market_conf().redaction_roots),
        "timestamp": iso(timezone.now()),
    }
    UpstreamState.objects.filter(pk=state.STATE_PK).update(
        last_error=error, last_attempt=timezone.now()
    )


def _fields(item: dict[str, Any]) -> dict[str, Any]:
    at = item["state_at"] if item["state"] != "approved" and item["state_at"] else None
    return {
        "manifest": item["manifest"],
        "manifest_sha256": item["manifest_sha256"],
        "package_sha256": item["package_sha256"],
        "package_size": item["package_size"],
        # Verified only when its signature verifies with a trusted upstream key.
        "trust_level": (
            CatalogEntry.Trust.VERIFIED
            if item["trust"] == "verified" and item["signature_key"]
            else CatalogEntry.Trust.UNVERIFIED
        ),
        "status": item["state"],
        "review_reason": item["reason"],
        # What yanked/blocked marks show as "at"; approved_at for approved entries.
        "reviewed_at": at or item["approved_at"],
        "approved_at": item["approved_at"],
        "upstream": {
            "signature": item["signature"],
            "signature_key": item["signature_key"],
            "approved_at": iso(item["approved_at"]),
            "state_at": iso(item["state_at"]) if item["state_at"] else None,
        },
    }


STORED = (
    "manifest",
    "manifest_sha256",
    "package_sha256",
    "package_size",
    "trust_level",
    "status",
    "review_reason",
    "reviewed_at",
    "approved_at",
    "upstream",
    "name",
    "summary",
    "authors",
    "permission_index",
    "hook_index",
    "card",
    "studio_range",
    "listing",
    "is_latest",
)


def _listing(entry: CatalogEntry) -> str:
    return catalog_listing(entry) if entry.status == Status.APPROVED else ""


def _store(snap: Snapshot) -> SyncResult:
    result = SyncResult(revision=snap.revision, since=snap.since, entries=0)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for item in snap.entries:
        by_id.setdefault(item["id"], []).append(item)
    with transaction.atomic():
        row = UpstreamState.objects.select_for_update().get(pk=state.STATE_PK)
        if row.revision is not None and snap.revision < row.revision:
            # Another sync accepted a newer one meanwhile: keep it.
            return result
        local = set(
            CatalogEntry.objects.filter(extension_id__in=list(by_id))
            .exclude(source=CatalogEntry.Source.UPSTREAM)
            .values_list("extension_id", flat=True)
            .distinct()
        )
        result.skipped = sorted(local)
        ids = [i for i in by_id if i not in local]
        existing: dict[tuple[str, str], CatalogEntry] = {}
        for start in range(0, len(ids), BATCH):
            for entry in CatalogEntry.objects.filter(
                extension_id__in=ids[start : start + BATCH],
                source=CatalogEntry.Source.UPSTREAM,
            ):
                existing[(entry.extension_id, entry.version)] = entry
        new: list[CatalogEntry] = []
        changed: list[CatalogEntry] = []
        for ext_id in ids:
            rows = []
            for item in by_id[ext_id]:
                entry = existing.pop((ext_id, item["version"]), None)
                fresh = entry is None
                if entry is None:
                    entry = CatalogEntry(
                        extension_id=ext_id,
                        version=item["version"],
                        source=CatalogEntry.Source.UPSTREAM,
                        package="",
                    )
                for name, value in _fields(item).items():
                    setattr(entry, name, value)
                rows.append((entry, fresh))
            # Versions of the id the snapshot did not repeat keep their state.
            others = [e for (i, _), e in list(existing.items()) if i == ext_id]
            newest = newest_listable([e for e, _ in rows] + others)
            for entry in others:
                if entry.is_latest != (entry is newest):
                    entry.is_latest = entry is newest
                    entry.listing = _listing(entry)
                    changed.append(entry)
            for entry, fresh in rows:
                entry.is_latest = entry is newest
                for name, value in derived_columns(entry).items():
                    setattr(entry, name, value)
                entry.listing = _listing(entry)
                (new if fresh else changed).append(entry)
        CatalogEntry.objects.bulk_create(new, batch_size=BATCH)
        CatalogEntry.objects.bulk_update(changed, STORED, batch_size=BATCH)
        result.created, result.updated = len(new), len(changed)
        result.entries = len(new) + len(changed)
        if new or changed:
            revision.catalog_changed(LifecycleAction.APPROVE)
        now = timezone.now()
        row.url = market_conf().upstream_url
        row.revision = snap.revision
        row.key_id = snap.key_id
        row.issued_at = snap.issued_at
        row.expires_at = snap.expires_at
        row.last_sync = now
        row.last_attempt = now
        row.last_error = None
        row.save()
    return result


_local = threading.Lock()


def sync_in_background(row: UpstreamState | None = None) -> bool:
    """Start a sync in a thread when one is due (see :func:`state.due`; ``row``: the
    state already read); never waits for it. True when one was started."""
    if row is None:
        row = state.current()
    if not state.due(row) or not _local.acquire(blocking=False):
        return False
    thread = threading.Thread(target=_run_background, name="market-sync", daemon=True)
    try:
        thread.start()
    except RuntimeError:
        _local.release()
        return False
    return True


def _run_background() -> None:
    try:
        sync()
    except SyncInProgressError:
        pass
    except MarketError as exc:
        logger.warning("background sync refused: %s: %s", exc.code, exc.message)
    except Exception:
        logger.exception("background sync failed")
    finally:
        _local.release()
        close_old_connections()
        connection.close()
