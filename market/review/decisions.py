"""The reviewer's decisions: approve, reject, delist."""

from __future__ import annotations

from typing import Any

from market import sandbox
from market.errors import ReviewError
from market.lifecycle import record_error
from market.models import CatalogEntry, LifecycleAction
from market.review.signed import approve_verified
from market.review.state import decide
from market.services import server_allowlist


def _check_unverified_approval(entry: CatalogEntry, trust_level: str) -> None:
    if trust_level not in CatalogEntry.Trust.values:
        raise ReviewError(f"unknown trust level {trust_level!r}")
    problems = sandbox.check_routes(
        entry.extension_id,
        entry.manifest.get("routes", []),
        "unverified",
        server_allowlist(),
    )
    if problems or entry.manifest.get("trust", {}).get("level") == "verified":
        raise ReviewError(
            "this bundle declares verified trust or global routes; approve it as "
            "verified or reject it",
            details={"problems": [p.as_dict() for p in problems]},
        )


def catalog_entry_approve(
    *, entry: CatalogEntry, reviewer: Any = None, trust_level: str = "unverified"
) -> CatalogEntry:
    """List a pending entry as ``verified`` (global routes) or ``unverified``."""
    if trust_level == CatalogEntry.Trust.VERIFIED:
        return approve_verified(entry, reviewer)  # records its own refusals
    try:
        _check_unverified_approval(entry, trust_level)
    except ReviewError as exc:
        record_error(LifecycleAction.APPROVE, entry.extension_id, exc, actor=reviewer)
        raise
    return decide(
        entry,
        reviewer,
        LifecycleAction.APPROVE,
        CatalogEntry.Status.APPROVED,
        (CatalogEntry.Status.PENDING,),
        trust_level=trust_level,
        review_reason="",
    )


def catalog_entry_reject(
    *, entry: CatalogEntry, reviewer: Any, reason: str
) -> CatalogEntry:
    if not reason or not reason.strip():
        raise ReviewError("a rejection needs a reason")
    return decide(
        entry,
        reviewer,
        LifecycleAction.REJECT,
        CatalogEntry.Status.REJECTED,
        (CatalogEntry.Status.PENDING,),
        review_reason=reason.strip(),
    )


def catalog_entry_delist(
    *, entry: CatalogEntry, reviewer: Any, reason: str = ""
) -> CatalogEntry:
    return decide(
        entry,
        reviewer,
        LifecycleAction.DELIST,
        CatalogEntry.Status.DELISTED,
        (CatalogEntry.Status.APPROVED,),
        review_reason=reason.strip(),
    )
