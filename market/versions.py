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

from market.clock import iso
from market.models import CatalogEntry, InstalledExtension, PreviousInstall
from market.services.updates import capability_diff, consent_items

Status = CatalogEntry.Status
LOCK_FORMAT = 1


def _mark(reason: str, at: Any) -> dict[str, Any]:
    return {"reason": reason, "at": iso(at)}


def version_marks(
    rows: list[tuple[str, str]] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{id: {"yanked": {reason, at} | None, "blocked": {reason, at} | None}}`` for
    the installed ``(id, version)`` pairs (default: every installed extension).

    ``yanked``: the installed version was yanked. ``blocked``: the installed version
    was delisted, or the extension was (a delisted entry, and no version of it left
    listed). One query, however many versions the catalogue holds of other ids.
    """
    if rows is None:
        rows = list(InstalledExtension.objects.values_list("extension_id", "version"))
    installed = dict(rows)
    marks: dict[str, dict[str, Any]] = {
        ext_id: {"yanked": None, "blocked": None} for ext_id in installed
    }
    if not installed:
        return marks
    entries = (
        CatalogEntry.objects.filter(
            extension_id__in=list(installed),
            status__in=(Status.APPROVED, Status.YANKED, Status.DELISTED),
        )
        .order_by("extension_id", "-reviewed_at", "-id")
        .values_list(
            "extension_id", "version", "status", "review_reason", "reviewed_at"
        )
    )
    listed: set[str] = set()
    newest_delist: dict[str, dict[str, Any]] = {}
    for ext_id, version, status, reason, at in entries:
        mark = marks[ext_id]
        if status in (Status.APPROVED, Status.YANKED):
            listed.add(ext_id)
        if status == Status.DELISTED:
            newest_delist.setdefault(ext_id, _mark(reason, at))
        if version != installed[ext_id]:
            continue
        if status == Status.YANKED:
            mark["yanked"] = _mark(reason, at)
        elif status == Status.DELISTED:
            mark["blocked"] = _mark(reason, at)
    for ext_id, delist in newest_delist.items():
        if ext_id not in listed and marks[ext_id]["blocked"] is None:
            marks[ext_id]["blocked"] = delist
    return marks


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
