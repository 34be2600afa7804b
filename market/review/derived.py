"""Everything a catalogue entry derives from its manifest and review state.

The manifest (and the bundle's digests) are what was submitted; the columns below are
computed from them, never edited: the name, summary and authors shown in lists, the
``permission_index``/``hook_index`` filters, the catalogue ``card`` and the ``listing``
text ``list`` serves, plus ``is_latest`` across the versions of one id.
:func:`rebuild_derived` is the one function that writes them (submission, every
review transition, ``manage.py market_rebuild``), so a format change is a rebuild.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import semver
from django.db import transaction

from market import revision
from market.manifest import capabilities, studio_range
from market.models import CatalogEntry
from market.review.locking import lock_extension
from market.selectors import catalog_card, catalog_listing

# Statuses whose entries can be the newest version of an id (``is_latest``).
LISTABLE = (CatalogEntry.Status.APPROVED,)


def _index(values: list[str]) -> str:
    # " a b " so ``?permission=a`` is a substring lookup of " a " on any backend.
    return " " + " ".join(values) + " " if values else ""


def derived_columns(entry: CatalogEntry) -> dict[str, Any]:
    """The entry's derived columns, computed from its manifest and review state."""
    data = entry.manifest
    caps = capabilities(data)
    return {
        "name": str(data.get("name", "")),
        "summary": str(data.get("summary", "")),
        "authors": list(data.get("authors", [])),
        "permission_index": _index(list(caps.get("permissions", []))),
        "hook_index": _index(list(caps.get("hooks", []))),
        "card": catalog_card(data),
        "studio_range": studio_range(data),
    }


def rebuild_derived(entry: CatalogEntry) -> list[str]:
    """Set the entry's derived columns (in memory); the names of those that changed.

    The listing is encoded from the other columns, so it comes last; entries that are
    not approved have none (``list`` shows approved entries only).
    """
    changed = []
    for name, value in derived_columns(entry).items():
        if getattr(entry, name) != value:
            setattr(entry, name, value)
            changed.append(name)
    listing = catalog_listing(entry) if entry.status in LISTABLE else ""
    if not _same_json(entry.listing, listing):
        entry.listing = listing
        changed.append("listing")
    return changed


def _same_json(stored: str, fresh: str) -> bool:
    """Whether two listings say the same thing. Key order is not compared: it follows
    the order the manifest was read in, and PostgreSQL's jsonb reorders keys."""
    if stored == fresh:
        return True
    if not stored or not fresh:
        return False
    try:
        return bool(json.loads(stored) == json.loads(fresh))
    except ValueError:
        return False  # a damaged listing is rebuilt


def newest_listable(entries: list[CatalogEntry]) -> CatalogEntry | None:
    candidates = [e for e in entries if e.status in LISTABLE]
    if not candidates:
        return None
    return max(candidates, key=lambda e: semver.Version.parse(e.version))


def latest_approved(ext_id: str) -> CatalogEntry | None:
    """The version of ``ext_id`` the catalogue offers: the highest approved one."""
    return newest_listable(list(CatalogEntry.objects.filter(extension_id=ext_id)))


def refresh_latest(ext_id: str) -> int:
    """Mark the newest listable version of ``ext_id`` (only it) ``is_latest``; how
    many rows changed. Call with the id locked."""
    newest = latest_approved(ext_id)
    rows = CatalogEntry.objects.filter(extension_id=ext_id)
    changed = 0
    if newest is not None:
        rows = rows.exclude(pk=newest.pk)
        changed += CatalogEntry.objects.filter(pk=newest.pk, is_latest=False).update(
            is_latest=True
        )
    return changed + rows.filter(is_latest=True).update(is_latest=False)


@dataclass(frozen=True)
class RebuildResult:
    rows: int
    changed: int
    latest_changed: int
    ids: int


def catalog_rebuild() -> RebuildResult:
    """Rebuild the derived columns of every entry, one id at a time under its lock.

    Idempotent: a second run changes nothing. When anything changed, the catalogue
    revision is bumped, so no cached ``list`` body or ETag outlives the rebuild.
    """
    ids = list(
        CatalogEntry.objects.order_by("extension_id")
        .values_list("extension_id", flat=True)
        .distinct()
    )
    rows = changed = latest_changed = 0
    touched: list[str] = []
    for ext_id in ids:
        with transaction.atomic():
            before = changed
            for entry in lock_extension(ext_id).values():
                rows += 1
                fields = rebuild_derived(entry)
                if fields:
                    entry.save(update_fields=fields)
                    changed += 1
            latest_changed += refresh_latest(ext_id)
            if changed > before:
                touched.append(ext_id)
    if changed or latest_changed:
        with transaction.atomic():
            revision.rebuild()
            # The snapshot carries the name, summary and authors: studios re-read
            # the ids whose columns changed.
            revision.stamp_changed(
                CatalogEntry.objects.filter(extension_id__in=touched)
            )
    return RebuildResult(rows, changed, latest_changed, len(ids))
