"""Reads about versions over time: yanked and blocked installs, updates, the lockfile.

- :func:`version_marks`: which installed versions the catalogue yanked, and which
  installed extensions it delisted (``blocked``), for every installed id in one query;
- :func:`market_updates`: each installed extension with the newest approved version
  newer than it (never a yanked one) and what that version adds and removes;
- :func:`lock_document`: every installed id with its version, digests and trust proof,
  the document ``POST restore`` installs from.
"""

from __future__ import annotations

from typing import Any

import semver
from django.db.models import CharField, OuterRef, Subquery, Value

from market.clock import iso
from market.models import CatalogEntry, InstalledExtension, PreviousInstall
from market.services.updates import capability_diff, consent_items

Status = CatalogEntry.Status
LOCK_FORMAT = 1


def _mark(reason: str, at: Any) -> dict[str, Any]:
    return {"reason": reason, "at": iso(at)}


def catalog_state(
    rows: list[tuple[str, str]] | None = None,
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """``(latest, marks)`` for the installed ``(id, version)`` pairs (default: every
    installed extension), in one query however large the catalogue is.

    ``latest``: the newest approved version of each id (what ``update_available``
    compares with; see :func:`market.selectors.latest_versions`). ``marks``:
    ``{id: {"yanked": {reason, at} | None, "blocked": {reason, at} | None}}``;
    ``yanked`` when the installed version was yanked, ``blocked`` when it was
    delisted, or the extension was (a delisted entry, and no version of it left
    approved or yanked).
    """
    entries = CatalogEntry.objects.filter(
        status__in=(Status.APPROVED, Status.YANKED, Status.DELISTED)
    ).order_by("extension_id", "-reviewed_at", "-id")
    if rows is None:
        installed_version = InstalledExtension.objects.filter(
            extension_id=OuterRef("extension_id")
        ).values("version")[:1]
        entries = entries.filter(
            extension_id__in=InstalledExtension.objects.values("extension_id")
        ).annotate(installed_version=Subquery(installed_version))
    else:
        versions = dict(rows)
        entries = entries.filter(extension_id__in=list(versions)).annotate(
            installed_version=Value(None, output_field=CharField())
        )
    latest: dict[str, str] = {}
    marks: dict[str, dict[str, Any]] = {}
    listed: set[str] = set()
    newest_delist: dict[str, dict[str, Any]] = {}
    for (
        ext_id,
        version,
        status,
        is_latest,
        reason,
        at,
        installed,
    ) in entries.values_list(
        "extension_id",
        "version",
        "status",
        "is_latest",
        "review_reason",
        "reviewed_at",
        "installed_version",
    ):
        if rows is not None:
            installed = versions[ext_id]
        mark = marks.setdefault(ext_id, {"yanked": None, "blocked": None})
        if status == Status.APPROVED and is_latest:
            latest[ext_id] = version
        if status in (Status.APPROVED, Status.YANKED):
            listed.add(ext_id)
        if status == Status.DELISTED:
            newest_delist.setdefault(ext_id, _mark(reason, at))
        if version != installed:
            continue
        if status == Status.YANKED:
            mark["yanked"] = _mark(reason, at)
        elif status == Status.DELISTED:
            mark["blocked"] = _mark(reason, at)
    for ext_id, delist in newest_delist.items():
        if ext_id not in listed and marks[ext_id]["blocked"] is None:
            marks[ext_id]["blocked"] = delist
    return latest, marks


def version_marks(
    rows: list[tuple[str, str]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The ``marks`` of :func:`catalog_state`."""
    return catalog_state(rows)[1]


def _newer(candidate: str, installed: str) -> bool:
    try:
        return semver.Version.parse(candidate) > semver.Version.parse(installed)
    except ValueError:
        return False


def market_updates() -> list[dict[str, Any]]:
    """Every installed extension and its update, if any (two queries)."""
    installed = list(InstalledExtension.objects.order_by("extension_id"))
    newest = {
        e.extension_id: e
        for e in CatalogEntry.objects.filter(
            status=Status.APPROVED,
            is_latest=True,
            extension_id__in=[r.extension_id for r in installed],
        ).only("extension_id", "version", "manifest", "package_sha256", "trust_level")
    }
    marks = version_marks([(r.extension_id, r.version) for r in installed])
    items = []
    for row in installed:
        entry = newest.get(row.extension_id)
        update = None
        if entry is not None and _newer(entry.version, row.version):
            diff = capability_diff(row.manifest, entry.manifest)
            update = {
                "version": entry.version,
                "sha256": entry.package_sha256,
                "trust": entry.trust_level,
                "added": diff["added"],
                "removed": diff["removed"],
                "accept": consent_items(diff["added"]),
                "consent_required": bool(consent_items(diff["added"])),
            }
        items.append(
            {
                "id": row.extension_id,
                "installed": row.version,
                "update": update,
                **marks[row.extension_id],
            }
        )
    return items


def lock_entry(row: InstalledExtension) -> dict[str, Any]:
    trust = {"level": row.trust_level}
    proof = (row.sidecar.get("trust") or {}).get("proof")
    if proof:
        trust["proof"] = proof
    return {
        "id": row.extension_id,
        "version": row.version,
        "sha256": row.package_sha256,
        "manifest_sha256": row.manifest_sha256,
        "trust": trust,
    }


def lock_document() -> dict[str, Any]:
    """The lockfile of this studio: what ``POST restore`` reproduces elsewhere."""
    rows = InstalledExtension.objects.order_by("extension_id")
    return {"format": LOCK_FORMAT, "extensions": [lock_entry(r) for r in rows]}


def previous_versions() -> dict[str, str]:
    """The kept previous version of every id that has one."""
    return dict(PreviousInstall.objects.values_list("extension_id", "version"))
