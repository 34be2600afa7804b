"""Owned extension ids: who may submit an id, its maintainers, transfers.

An id belongs to the first user who submits it. Its owner names maintainers, who may
submit versions too; the owner or a reviewer changes that list; only a reviewer moves
an id to another owner, with a reason. Every change is a ``LifecycleEvent`` and every
refusal a ``LifecycleError``.

The owner row doubles as the catalogue's lock on the id: :func:`extension_claim`
takes it ``FOR UPDATE`` inside the submission's transaction (creating it for a new
id), so two submissions of one id run one after the other and each sees what the
other stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from market.characters import require_display_text
from market.errors import (
    InvalidRequestError,
    NotFoundError,
    NotMaintainerError,
    NotOwnerError,
    OwnershipError,
    PermissionDeniedError,
    UnknownUserError,
)
from market.lifecycle import record_event, recording
from market.models import ExtensionMaintainer, ExtensionOwner, LifecycleAction

REVIEW_PERMISSION = "market.review_catalogentry"


@dataclass(frozen=True)
class Transfer:
    """A completed transfer, as recorded."""

    ext_id: str
    owner: str
    previous_owner: str | None
    reason: str


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def is_reviewer(actor: Any) -> bool:
    user = _user(actor)
    return bool(user is not None and user.has_perm(REVIEW_PERMISSION))


def may_submit(row: ExtensionOwner, actor: Any) -> bool:
    """Whether ``actor`` may submit versions of the id: its owner or a maintainer."""
    user = _user(actor)
    if user is None or row.owner_id is None:
        return True
    if row.owner_id == user.pk:
        return True
    return row.maintainer_rows.filter(user_id=user.pk).exists()


def extension_claim(*, ext_id: str, actor: Any) -> ExtensionOwner:
    """Lock the id for a submission, creating its owner row for a new id.

    Call inside the submission's ``transaction.atomic()`` block. A user submitting
    an id nobody owns becomes its owner (committed with the submission, or not at
    all); a user who is neither its owner nor a maintainer is refused ``not_owner``.
    Submissions by the server itself (no user: commands, the demo) are not refused.
    """
    # Two first submissions at once: one INSERT waits for the other's commit and
    # fails on the unique id, and get_or_create then reads the committed row.
    ExtensionOwner.objects.get_or_create(extension_id=ext_id)
    row = ExtensionOwner.objects.select_for_update().get(extension_id=ext_id)
    user = _user(actor)
    if row.owner_id is None and user is not None:
        row.owner = user
        row.owner_since = timezone.now()
        row.save(update_fields=("owner", "owner_since"))
        return row
    if not may_submit(row, user):
        raise NotOwnerError(
            f"{ext_id} belongs to another user; its owner can add you as a maintainer",
            details={"id": ext_id},
        )
    return row


def _row(ext_id: str, *, lock: bool) -> ExtensionOwner:
    rows = ExtensionOwner.objects.select_related("owner")
    if lock:
        rows = rows.select_for_update(of=("self",))
    try:
        return rows.get(extension_id=ext_id)
    except ExtensionOwner.DoesNotExist:
        raise NotFoundError(
            f"no extension {ext_id!r} has been submitted", details={"id": ext_id}
        ) from None


def _user_named(username: str) -> Any:
    model = get_user_model()
    try:
        return model.objects.get(**{model.USERNAME_FIELD: username})
    except model.DoesNotExist:
        raise UnknownUserError(
            f"there is no user {username!r}", details={"username": username}
        ) from None


def may_manage(row: ExtensionOwner | None, actor: Any) -> bool:
    """Whether ``actor`` may change the maintainers of ``row`` (``None``: of any id
    they own): its owner or a reviewer."""
    user = _user(actor)
    if user is None:
        return False
    if is_reviewer(user):
        return True
    if row is None:
        return ExtensionOwner.objects.filter(owner_id=user.pk).exists()
    return row.owner_id == user.pk


def _check_manager(row: ExtensionOwner, actor: Any) -> None:
    if may_manage(row, actor):
        return
    raise NotOwnerError(
        f"only the owner of {row.extension_id} or a reviewer can change its "
        "maintainers",
        details={"id": row.extension_id},
    )


def extension_for_reader(*, ext_id: str, actor: Any) -> ExtensionOwner:
    """The id's owner row, for its owner, its maintainers and reviewers only."""
    row = _row(ext_id, lock=False)
    member = _user(actor) is not None and may_submit(row, actor)
    if not (member or is_reviewer(actor)):
        raise NotOwnerError(
            f"only the owner, the maintainers of {ext_id} and reviewers can see "
            "its maintainers",
            details={"id": ext_id},
        )
    return row


def maintainer_add(*, ext_id: str, username: str, actor: Any) -> ExtensionMaintainer:
    """Let ``username`` submit versions of ``ext_id`` (its owner or a reviewer)."""
    with (
        recording(LifecycleAction.MAINTAINER_ADD, ext_id, actor=actor),
        transaction.atomic(),
    ):
        row = _row(ext_id, lock=True)
        _check_manager(row, actor)
        user = _user_named(username)
        if row.owner_id == user.pk:
            raise OwnershipError(
                f"{username} owns {ext_id} already",
                code="already_owner",
                details={"id": ext_id, "username": username},
            )
        if row.maintainer_rows.filter(user_id=user.pk).exists():
            raise OwnershipError(
                f"{username} is a maintainer of {ext_id} already",
                code="already_maintainer",
                details={"id": ext_id, "username": username},
            )
        added = ExtensionMaintainer.objects.create(
            extension=row, user=user, added_by=_user(actor)
        )
        record_event(
            LifecycleAction.MAINTAINER_ADD,
            ext_id,
            actor=actor,
            detail={"username": username},
        )
    return added


def maintainer_remove(*, ext_id: str, username: str, actor: Any) -> None:
    """Take ``username`` off the maintainers of ``ext_id`` (its owner or a reviewer)."""
    with (
        recording(LifecycleAction.MAINTAINER_REMOVE, ext_id, actor=actor),
        transaction.atomic(),
    ):
        row = _row(ext_id, lock=True)
        _check_manager(row, actor)
        user = _user_named(username)
        if row.owner_id == user.pk:
            raise OwnershipError(
                f"{username} owns {ext_id} and cannot be removed; a reviewer "
                "can transfer the id to another user",
                code="owner_not_removable",
                details={"id": ext_id, "username": username},
            )
        deleted, _ = row.maintainer_rows.filter(user_id=user.pk).delete()
        if not deleted:
            raise NotMaintainerError(
                f"{username} is not a maintainer of {ext_id}",
                details={"id": ext_id, "username": username},
            )
        record_event(
            LifecycleAction.MAINTAINER_REMOVE,
            ext_id,
            actor=actor,
            detail={"username": username},
        )


def ownership_transfer(
    *, ext_id: str, username: str, reason: str, actor: Any
) -> Transfer:
    """Give ``ext_id`` to ``username`` (reviewers only; the reason is recorded).

    The new owner leaves the maintainers (an owner is not listed twice); the previous
    owner keeps no rights unless added back as a maintainer.
    """
    with recording(LifecycleAction.TRANSFER, ext_id, actor=actor):
        if not is_reviewer(actor):
            raise PermissionDeniedError(
                "only a reviewer can transfer an extension id",
                details={"id": ext_id},
            )
        reason = (reason or "").strip()
        if not reason:
            raise InvalidRequestError(
                "a transfer needs a reason", details={"field": "reason"}
            )
        # Shown in the audit log and the admin: display text (invalid_characters).
        require_display_text(reason, path="reason", multiline=True)
        with transaction.atomic():
            row = _row(ext_id, lock=True)
            user = _user_named(username)
            if user.pk == _user(actor).pk:
                raise PermissionDeniedError(
                    "a reviewer cannot transfer an extension id to themselves",
                    details={"id": ext_id},
                )
            if row.owner_id == user.pk:
                raise OwnershipError(
                    f"{username} owns {ext_id} already",
                    code="already_owner",
                    details={"id": ext_id, "username": username},
                )
            previous = row.owner.get_username() if row.owner is not None else None
            row.owner = user
            row.owner_since = timezone.now()
            row.save(update_fields=("owner", "owner_since"))
            row.maintainer_rows.filter(user_id=user.pk).delete()
            record_event(
                LifecycleAction.TRANSFER,
                ext_id,
                actor=actor,
                detail={"from": previous, "to": username, "reason": reason},
            )
    return Transfer(ext_id, username, previous, reason)
