"""Review state changes shared by every decision: locking, the newest version, audit."""

from __future__ import annotations

from typing import Any

import semver
from django.db import transaction
from django.utils import timezone

from market.errors import ReviewError
from market.lifecycle import record_error, record_event
from market.models import CatalogEntry
from market.selectors import catalog_listing


def latest_approved(ext_id: str) -> CatalogEntry | None:
    entries = list(
        CatalogEntry.objects.filter(
            extension_id=ext_id, status=CatalogEntry.Status.APPROVED
        )
    )
    if not entries:
        return None
    return max(entries, key=lambda e: semver.Version.parse(e.version))


def refresh_latest(ext_id: str) -> None:
    newest = latest_approved(ext_id)
    others = CatalogEntry.objects.filter(extension_id=ext_id)
    if newest is not None:
        others = others.exclude(pk=newest.pk)
    others.update(is_latest=False)
    if newest is not None:
        CatalogEntry.objects.filter(pk=newest.pk).update(is_latest=True)


def check_reviewer(entry: CatalogEntry, reviewer: Any) -> None:
    if (
        reviewer is not None
        and entry.submitted_by_id is not None
        and entry.submitted_by_id == getattr(reviewer, "pk", None)
    ):
        raise ReviewError("a reviewer cannot review a bundle they submitted")


def decide(
    entry: CatalogEntry,
    reviewer: Any,
    action: str,
    status: str,
    allowed_from: tuple[str, ...],
    **changes: Any,
) -> CatalogEntry:
    try:
        with transaction.atomic():
            locked = CatalogEntry.objects.select_for_update().get(pk=entry.pk)
            check_reviewer(locked, reviewer)
            if locked.status not in allowed_from:
                raise ReviewError(
                    f"cannot {action} an entry that is {locked.status}",
                    details={"status": locked.status},
                )
            locked.status = status
            locked.reviewed_by = reviewer if getattr(reviewer, "pk", None) else None
            locked.reviewed_at = timezone.now()
            for key, value in changes.items():
                setattr(locked, key, value)
            approved = status == CatalogEntry.Status.APPROVED
            locked.listing = catalog_listing(locked) if approved else ""
            locked.save()
            refresh_latest(locked.extension_id)
            record_event(
                action,
                locked.extension_id,
                version=locked.version,
                trust=locked.trust_level,
                sha256=locked.package_sha256,
                actor=reviewer,
                detail={"reason": locked.review_reason} if locked.review_reason else {},
            )
    except Exception as exc:
        record_error(action, entry.extension_id, exc, actor=reviewer)
        raise
    locked.refresh_from_db()
    return locked
