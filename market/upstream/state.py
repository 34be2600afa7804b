"""The last snapshot accepted from the central marketplace, as the rest reads it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from market.clock import iso
from market.conf import market_conf
from market.models import UpstreamState

STATE_PK = 1
# A sync that claimed the state longer ago than this is taken to have died.
RUN_TIMEOUT = timedelta(minutes=30)


def configured() -> bool:
    return bool(market_conf().upstream_url)


def current() -> UpstreamState | None:
    return UpstreamState.objects.filter(pk=STATE_PK).first()


def snapshot_expired(row: UpstreamState | None = None) -> bool:
    """Whether the last accepted snapshot has expired (no snapshot: no)."""
    if not configured():
        return False
    row = row if row is not None else current()
    return bool(row and row.expires_at and row.expires_at <= timezone.now())


def health_payload() -> dict[str, Any] | None:
    """``health``'s ``upstream`` member; None when no central server is configured."""
    if not configured():
        return None
    row = current()
    if row is None:
        return {
            "url": market_conf().upstream_url,
            "last_sync": None,
            "revision": None,
            "expires_at": None,
            "stale": False,
            "last_error": None,
        }
    return {
        "url": market_conf().upstream_url,
        "last_sync": iso(row.last_sync),
        "revision": row.revision,
        "expires_at": iso(row.expires_at),
        "stale": snapshot_expired(row),
        "last_error": row.last_error,
    }


def claim() -> bool:
    """Mark a sync as running; False when another one is (at most one at a time,
    across processes: a conditional update of the one state row)."""
    now = timezone.now()
    UpstreamState.objects.get_or_create(pk=STATE_PK)
    return bool(
        UpstreamState.objects.filter(pk=STATE_PK)
        .filter(Q(running_since__isnull=True) | Q(running_since__lt=now - RUN_TIMEOUT))
        .update(running_since=now)
    )


def release() -> None:
    UpstreamState.objects.filter(pk=STATE_PK).update(running_since=None)


def due(row: UpstreamState | None) -> bool:
    """Whether ``list`` should start a sync: configured, enabled, none running, and
    the last attempt older than ``MARKET_UPSTREAM_SYNC_AFTER``."""
    after = market_conf().upstream_sync_after
    if not configured() or after == 0:
        return False
    if row is None:
        return True
    now = timezone.now()
    if row.running_since and row.running_since > now - RUN_TIMEOUT:
        return False
    last = row.last_attempt or row.last_sync
    return last is None or last <= now - timedelta(seconds=after)
