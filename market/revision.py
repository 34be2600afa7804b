"""The catalogue revision: one number for "has anything ``list`` shows changed?".

Every lifecycle write records a ``LifecycleEvent`` inside its own transaction
(:func:`market.lifecycle.record_event`), and that is where the revision is bumped:
the bump commits or rolls back with the change itself, so a reader never sees a new
revision without the change, nor the change under an old revision. Readers compare
one small row instead of re-reading the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, QuerySet, Subquery

from market.models import CatalogEntry, CatalogRevision, LifecycleAction

REVISION_PK = 1
# Actions that never change what ``list`` shows (a submission is pending, unlisted;
# who owns or maintains an id is not part of the catalogue).
UNLISTED_ACTIONS = frozenset(
    {
        LifecycleAction.SUBMIT,
        LifecycleAction.TRANSFER,
        LifecycleAction.MAINTAINER_ADD,
        LifecycleAction.MAINTAINER_REMOVE,
    }
)
# Actions that change installs only: the listed catalogue count stays as it is.
INSTALL_ACTIONS = frozenset(
    {
        LifecycleAction.INSTALL,
        LifecycleAction.UNINSTALL,
        LifecycleAction.REPAIR,
        LifecycleAction.ROLLBACK,
    }
)


@dataclass(frozen=True)
class Revision:
    number: int
    epoch: str
    listed: int

    @property
    def tag(self) -> str:
        """``<epoch>.<number>``: what ETags and cache keys are built from."""
        return f"{self.epoch}.{self.number}"


def listed_count() -> int:
    return CatalogEntry.objects.filter(
        status=CatalogEntry.Status.APPROVED, is_latest=True
    ).count()


def current() -> Revision:
    """The committed revision, in one query. Without its row (a database emptied by
    hand) it reads as revision 0 of epoch "0"; the next change creates the row."""
    row = (
        CatalogRevision.objects.filter(pk=REVISION_PK)
        .values_list("number", "epoch", "listed")
        .first()
    )
    return Revision(0, "0", 0) if row is None else Revision(*row)


def catalog_changed(action: str) -> None:
    """Bump the revision for ``action``, inside the caller's transaction.

    A catalogue decision also recounts the listed entries. The count is taken after
    the row lock, so two approvals committing at once can't both write a count that
    misses the other's entry (each statement under READ COMMITTED sees what committed
    before it started).
    """
    if action in UNLISTED_ACTIONS:
        return
    with transaction.atomic():
        if action in INSTALL_ACTIONS and CatalogRevision.objects.filter(
            pk=REVISION_PK
        ).update(number=F("number") + 1):
            return
        row, _ = CatalogRevision.objects.select_for_update().get_or_create(
            pk=REVISION_PK
        )
        row.number += 1
        row.listed = listed_count()
        row.save(update_fields=("number", "listed", "changed_at"))


def stamp_changed(entries: QuerySet[CatalogEntry]) -> int:
    """Record that ``entries`` changed at the revision just bumped, in the bumping
    transaction (which holds the revision row's lock, so no other change takes the
    number): ``snapshot?since=`` finds them by it. How many rows were stamped."""
    number = CatalogRevision.objects.filter(pk=REVISION_PK).values("number")[:1]
    return entries.update(changed_revision=Subquery(number))


def rebuild() -> Revision:
    """Recount and bump (after rows were written outside the services, e.g. a bulk
    load): every cached ``list`` body and ETag is invalidated."""
    catalog_changed(LifecycleAction.APPROVE)
    return current()
