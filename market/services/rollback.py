"""The previous version of an upgraded extension, and rolling back to it.

An install that replaces a version (upgrade, downgrade, reinstall) keeps the replaced
folder, sidecar included, in ``<MARKET_ROOT>/previous/<id>`` and its row as a
:class:`~market.models.PreviousInstall`: one generation, the older one is deleted.
A rollback swaps the two back under the id's slot lock, so rolling back twice
returns to where it started. Uninstall removes both.

Every rename is one of the swap's durable, undoable moves
(:class:`market.services.common.Moves`), done inside the transaction that changes the
rows; a failure undoes them, and a crash before the commit leaves folders whose
sidecars still say which version each is, which ``market_doctor`` puts back where
the rows say they belong (:mod:`market.doctor`). The order of a rollback:

1. the installed folder moves to ``staging/trash-<id>-<uuid>``;
2. the previous folder moves to ``extensions/<id>``;
3. the folder from step 1 moves to ``previous/<id>``;
4. the two rows swap and the event is recorded; the transaction commits.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from market import lifecycle
from market.conf import market_conf
from market.errors import (
    InvalidRequestError,
    NoPreviousVersionError,
    NotInstalledError,
    TrustUnprovenError,
)
from market.lifecycle import record_event, recording
from market.manifest import ID_RULE
from market.models import (
    CatalogEntry,
    InstalledExtension,
    LifecycleAction,
    PreviousInstall,
)
from market.services.common import (
    ID_RE,
    SIDECAR_NAME,
    Swap,
    delete_retired,
    ensure,
    locked_swap,
    staging_dir,
)

# The fields an installed row and its kept previous version share.
ROW_FIELDS = (
    "version",
    "trust_level",
    "manifest",
    "manifest_sha256",
    "package_name",
    "package_sha256",
    "package_size",
    "source",
    "sidecar",
    "warnings",
    "catalog_entry_id",
    "installed_by_id",
    "installed_at",
)


def previous_dir() -> Path:
    return market_conf().root / "previous"


def previous_folder(ext_id: str) -> Path:
    return previous_dir() / ext_id


def folder_sha256(folder: Path) -> str | None:
    """The package digest the folder's sidecar names, or None (no readable one)."""
    try:
        data = json.loads((folder / SIDECAR_NAME).read_text("utf-8"))
        sha = data["package"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sha if isinstance(sha, str) else None


def _copy_row(src: Any, dst: Any) -> None:
    for name in ROW_FIELDS:
        setattr(dst, name, getattr(src, name))


def _trash(ext_id: str) -> Path:
    return ensure(staging_dir()) / f"trash-{ext_id}-{uuid.uuid4().hex}"


def _discard_previous(swap: Swap, ext_id: str) -> None:
    """Move the kept folder out (undone if the transaction fails; deleted once it
    commits) and delete its row."""
    slot = previous_folder(ext_id)
    if slot.exists():
        aside = _trash(ext_id)
        swap.moves.move(slot, aside)
        transaction.on_commit(lambda: delete_retired(aside))
    PreviousInstall.objects.filter(extension_id=ext_id).delete()


def keep_previous(swap: Swap, existing: InstalledExtension | None) -> None:
    """Inside an install's locked swap, after the new folder is in place: keep the
    retired folder and ``existing``'s row as the previous version."""
    if existing is None or not swap.retired:
        return
    ext_id = existing.extension_id
    _discard_previous(swap, ext_id)
    ensure(previous_dir())
    swap.moves.move(swap.trash, previous_folder(ext_id))
    swap.retired = False  # kept, not deleted after the commit
    lifecycle.fault_point("install.previous_kept")
    kept = PreviousInstall(extension_id=ext_id, kept_at=timezone.now())
    _copy_row(existing, kept)
    kept.save()


def drop_previous(swap: Swap, ext_id: str) -> None:
    """Inside an uninstall's locked swap: the kept version goes with the install."""
    _discard_previous(swap, ext_id)


def previous_payload(ext_id: str) -> dict[str, Any] | None:
    row = PreviousInstall.objects.filter(extension_id=ext_id).first()
    if row is None:
        return None
    return {"version": row.version, "sha256": row.package_sha256}


def extension_rollback(*, ext_id: Any, actor: Any = None) -> InstalledExtension:
    """Swap the installed version and the kept previous version of ``ext_id``."""
    label = ext_id if isinstance(ext_id, str) and ID_RE.fullmatch(ext_id) else ""
    with recording(LifecycleAction.ROLLBACK, label, actor=actor):
        if not label:
            raise InvalidRequestError(
                f"id must be an extension id: it {ID_RULE}",
                details={"id": ext_id if isinstance(ext_id, str) else None},
            )
        return _swap_back(label, actor)


def _check_still_trusted(kept: PreviousInstall) -> None:
    """A verified version the catalogue has since withdrawn is not rolled back to:
    delisting is how a signed bundle is revoked (as an install would refuse it)."""
    if kept.trust_level != CatalogEntry.Trust.VERIFIED:
        return
    withdrawn = CatalogEntry.objects.filter(
        package_sha256=kept.package_sha256,
        status__in=(CatalogEntry.Status.DELISTED, CatalogEntry.Status.REJECTED),
    ).first()
    if withdrawn is not None:
        raise TrustUnprovenError(
            f"the catalogue withdrew {kept.extension_id} {kept.version} "
            f"({withdrawn.status}); its verified trust no longer holds, so it is not "
            "rolled back to",
            details={"id": kept.extension_id, "reason": withdrawn.status},
        )


def _swap_back(ext_id: str, actor: Any) -> InstalledExtension:
    with locked_swap(ext_id) as swap:
        row = InstalledExtension.objects.filter(extension_id=ext_id).first()
        if row is None:
            raise NotInstalledError(
                f"{ext_id} is not installed by the marketplace",
                details={"id": ext_id},
            )
        kept = PreviousInstall.objects.filter(extension_id=ext_id).first()
        slot = previous_folder(ext_id)
        if kept is None or folder_sha256(slot) != kept.package_sha256:
            raise NoPreviousVersionError(
                f"{ext_id} has no previous version to roll back to; an upgrade "
                "keeps one",
                details={"id": ext_id, "installed": row.version},
            )
        _check_still_trusted(kept)
        swap.retire_current()
        lifecycle.fault_point("rollback.current_moved")
        swap.moves.move(slot, swap.target)
        lifecycle.fault_point("rollback.previous_moved")
        replaced = InstalledExtension(extension_id=ext_id)
        _copy_row(row, replaced)
        _copy_row(kept, row)
        if swap.retired:
            swap.moves.move(swap.trash, slot)
            swap.retired = False
            _copy_row(replaced, kept)
            kept.kept_at = timezone.now()
            kept.save()
        else:
            kept.delete()  # nothing on disk to keep
        lifecycle.fault_point("rollback.kept")
        row.save()
        record_event(
            LifecycleAction.ROLLBACK,
            ext_id,
            version=row.version,
            trust=row.trust_level,
            sha256=row.package_sha256,
            actor=actor,
            detail={
                "from": replaced.version,
                "to": row.version,
                "from_sha256": replaced.package_sha256,
            },
        )
        lifecycle.fault_point("rollback.recorded")
    return row
