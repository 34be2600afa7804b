"""Review state: the one table of decisions, and the one function that makes them.

:data:`TRANSITIONS` says, for every decision a reviewer can make, from which states it
may be made and to which state it leads. :func:`transition` is the only way a
catalogue entry changes state (the admin's actions and the wrappers below call it):

1. it takes the review lock: every row of the entry's extension id, in one order
   (:mod:`market.review.locking`), so decisions on two versions of one id serialise;
2. it checks the decision: the state table, the four-eyes rule (nobody decides their
   own submission) and the reason (required to reject, delist or yank, and display
   text: no control, bidi or invisible characters, ``market/characters.py``);
3. it applies it: an approval re-checks that the stored bundle is byte for byte the
   one submitted (``content_mismatch``); approval as verified signs and re-packs
   those bytes with the catalogue key, which must exist (``signing_key_missing``);
4. it rebuilds every derived column (:mod:`market.review.derived`) and ``is_latest``;
5. it records the decision as a ``LifecycleEvent`` in the same transaction.

Any refusal or failure rolls all of it back (a signed bundle already stored is
deleted) and is recorded as a ``LifecycleError`` after the rollback, the same way for
every decision.

Yank withdraws one version, not the extension: the version stays reserved (as every
submitted id+version does), is no longer offered as the newest, and another version
of the id becomes the newest. Delisting withdraws the entry from the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import OperationalError, transaction
from django.utils import timezone

from market import revision, sandbox, signing
from market.characters import require_display_text
from market.errors import NotFoundError, ReviewError
from market.lifecycle import record_event, recording
from market.models import CatalogEntry, LifecycleAction
from market.review.derived import rebuild_derived, refresh_latest
from market.review.locking import lock_extension
from market.review.signed import store_signed
from market.services import check_stored_bundle, server_allowlist
from market.services.common import is_lock_timeout

Status = CatalogEntry.Status
Trust = CatalogEntry.Trust
# The states the signed catalogue snapshot publishes (market/snapshot.py).
PUBLISHED = (Status.APPROVED, Status.YANKED, Status.DELISTED)


@dataclass(frozen=True)
class Transition:
    """One decision: the event it records, where it may start and where it leads."""

    event: str
    allowed_from: tuple[str, ...]
    to: str
    needs_reason: bool = False
    # The trust level an approval lists the entry at.
    trust: str | None = None


TRANSITIONS: dict[str, Transition] = {
    "approve_verified": Transition(
        LifecycleAction.APPROVE,
        (Status.PENDING,),
        Status.APPROVED,
        trust=Trust.VERIFIED,
    ),
    "approve_unverified": Transition(
        LifecycleAction.APPROVE,
        (Status.PENDING,),
        Status.APPROVED,
        trust=Trust.UNVERIFIED,
    ),
    "reject": Transition(
        LifecycleAction.REJECT, (Status.PENDING,), Status.REJECTED, needs_reason=True
    ),
    "delist": Transition(
        LifecycleAction.DELIST,
        (Status.APPROVED, Status.YANKED),
        Status.DELISTED,
        needs_reason=True,
    ),
    "yank": Transition(
        LifecycleAction.YANK, (Status.APPROVED,), Status.YANKED, needs_reason=True
    ),
}


def allowed_actions(status: str) -> list[str]:
    """The decisions an entry in ``status`` can take."""
    return [name for name, spec in TRANSITIONS.items() if status in spec.allowed_from]


def _actor_row(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def _check(spec: Transition, action: str, entry: CatalogEntry, actor: Any) -> None:
    if entry.submitted_by_id is not None and entry.submitted_by_id == getattr(
        actor, "pk", None
    ):
        raise ReviewError(
            "a reviewer cannot review a bundle they submitted; another reviewer "
            "must decide it",
            details={"id": entry.extension_id, "version": entry.version},
        )
    if entry.status not in spec.allowed_from:
        verb = action.replace("_", " as ")  # "approve as verified", "reject", ...
        raise ReviewError(
            f"cannot {verb} an entry that is {entry.status}",
            details={
                "status": entry.status,
                "action": action,
                "allowed_from": list(spec.allowed_from),
            },
        )


def _check_unverified_approval(entry: CatalogEntry) -> None:
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


def _approval_changes(
    spec: Transition, entry: CatalogEntry, stored: list[str]
) -> dict[str, Any]:
    """What an approval changes besides the state; signed files go to ``stored``."""
    if spec.trust == Trust.VERIFIED:
        key = signing.require_signing_key()
        check_stored_bundle(entry)
        changes = store_signed(entry, key)  # checks again the very bytes it signs
        stored.append(changes["package"])
        return changes
    _check_unverified_approval(entry)
    check_stored_bundle(entry)
    return {"trust_level": Trust.UNVERIFIED}


def transition(
    *,
    entry: CatalogEntry,
    action: str,
    actor: Any,
    reason: str | None = None,
) -> CatalogEntry:
    """Make the decision ``action`` (a key of :data:`TRANSITIONS`) on ``entry``.

    ``actor`` is the reviewer (None for the system, e.g. the demo); ``reason`` is
    required to reject, delist or yank, and shown to the submitter. Returns the
    entry as stored; raises a ``MarketError`` (recorded) when refused.
    """
    spec = TRANSITIONS.get(action)
    event = spec.event if spec is not None else "review"
    stored: list[str] = []
    storage = entry.package.storage
    with recording(event, entry.extension_id, actor=actor):
        if spec is None:
            raise ReviewError(
                f"unknown review action {action!r}",
                details={"actions": list(TRANSITIONS)},
            )
        if entry.source == CatalogEntry.Source.UPSTREAM:
            # Synced from the central marketplace: decided there, and the next sync
            # would overwrite a local decision.
            raise ReviewError(
                f"{entry.extension_id} {entry.version} comes from the central "
                "marketplace; it is reviewed, yanked and delisted there",
                details={"id": entry.extension_id, "source": entry.source},
            )
        text = (reason or "").strip()
        if spec.needs_reason and not text:
            raise ReviewError(
                f"{action.replace('_', ' ')} needs a reason; it is shown to the "
                "submitter",
                code="reason_required",
                details={"action": action},
            )
        # Shown to the submitter: refused with invalid_characters, like manifest text.
        require_display_text(text, path="reason", multiline=True)
        try:
            with transaction.atomic():
                locked = _lock(entry)
                _check(spec, action, locked, actor)
                previous = locked.status
                changes = _approval_changes(spec, locked, stored) if spec.trust else {}
                replaced = locked.package.name if "package" in changes else None
                for name, value in changes.items():
                    setattr(locked, name, value)
                locked.status = spec.to
                locked.reviewed_by = _actor_row(actor)
                locked.reviewed_at = timezone.now()
                locked.review_reason = text
                if spec.to == Status.APPROVED:
                    locked.approved_at = locked.reviewed_at
                rebuild_derived(locked)
                locked.save()
                refresh_latest(locked.extension_id)
                record_event(
                    spec.event,
                    locked.extension_id,
                    version=locked.version,
                    trust=locked.trust_level,
                    sha256=locked.package_sha256,
                    actor=actor,
                    detail={
                        "transition": action,
                        "from": previous,
                        "to": spec.to,
                        **({"reason": text} if text else {}),
                    },
                )
                if spec.to in PUBLISHED:
                    revision.stamp_changed(CatalogEntry.objects.filter(pk=locked.pk))
                if replaced:
                    # The submitted bundle goes once the signed one is committed.
                    transaction.on_commit(lambda: storage.delete(replaced))
        except BaseException:
            for name in stored:
                storage.delete(name)
            raise
    locked.refresh_from_db()
    return locked


def _lock(entry: CatalogEntry) -> CatalogEntry:
    try:
        rows = lock_extension(entry.extension_id)
    except OperationalError as exc:
        if is_lock_timeout(exc):
            raise ReviewError(
                f"another decision on {entry.extension_id} is still running; "
                "try again shortly",
                code="review_in_progress",
                details={"id": entry.extension_id},
            ) from exc
        raise
    locked = rows.get(entry.pk)
    if locked is None:
        raise NotFoundError(f"no catalogue entry {entry.extension_id} {entry.version}")
    return locked


# Keyword wrappers kept for callers that name the decision by its parts.


def catalog_entry_approve(
    *, entry: CatalogEntry, reviewer: Any = None, trust_level: str = "unverified"
) -> CatalogEntry:
    """List a pending entry as ``verified`` (signed) or ``unverified``."""
    return transition(entry=entry, action=f"approve_{trust_level}", actor=reviewer)


def catalog_entry_reject(
    *, entry: CatalogEntry, reviewer: Any, reason: str
) -> CatalogEntry:
    return transition(entry=entry, action="reject", actor=reviewer, reason=reason)


def catalog_entry_delist(
    *, entry: CatalogEntry, reviewer: Any, reason: str
) -> CatalogEntry:
    return transition(entry=entry, action="delist", actor=reviewer, reason=reason)


def catalog_entry_yank(
    *, entry: CatalogEntry, reviewer: Any, reason: str
) -> CatalogEntry:
    return transition(entry=entry, action="yank", actor=reviewer, reason=reason)
