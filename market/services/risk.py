"""Risk signals of a catalogue bundle, computed at submission and stored in its report.

The findings come from :mod:`market.risk` (pure) over the stored bundle's files;
this module only opens the bundle and finds the manifest to compare with.
:func:`catalog_entry_rescan` fills ``report["risk"]`` of entries submitted before
the scanner existed (``manage.py market_risk``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import semver

from market import risk
from market.archive.files import open_bundle_files
from market.errors import MarketError
from market.models import CatalogEntry
from market.services.common import archive_limits
from market.services.sources import local_package

logger = logging.getLogger(__name__)


def scan_bundle(
    bundle_path: Path, manifest: dict[str, Any], previous: dict[str, Any] | None
) -> dict[str, Any]:
    """``{score, total, counts, findings}``; an unreadable bundle raises."""
    with open_bundle_files(bundle_path, limits=archive_limits()) as files:
        return risk.assess_bundle(files, manifest, previous)


def bundle_risk(
    *, bundle_path: Path, manifest: dict[str, Any], previous: dict[str, Any] | None
) -> dict[str, Any]:
    """:func:`scan_bundle` for a bundle just found sound, which never fails a
    submission: a bundle that cannot be read again is reported as not scanned."""
    try:
        return scan_bundle(bundle_path, manifest, previous)
    except MarketError as exc:
        # The bundle passed every archive check moments ago; if it cannot be read
        # again, the reviewer is told so rather than shown an empty (clean) report.
        logger.warning("event=market.risk_failed code=%s", exc.code)
        return {
            "score": 0,
            "total": 1,
            "counts": {"info": 1, "low": 0, "medium": 0, "high": 0},
            "findings": [
                risk.Finding(
                    "not_scanned", "info", None, None, f"not scanned: {exc.message}"
                ).as_dict()
            ],
        }


def previous_approved(entry: CatalogEntry) -> CatalogEntry | None:
    """The newest approved version of the same id below ``entry``'s version."""
    try:
        own = semver.Version.parse(entry.version)
    except ValueError:
        return None
    best: tuple[semver.Version, CatalogEntry] | None = None
    for other in CatalogEntry.objects.filter(
        extension_id=entry.extension_id, status=CatalogEntry.Status.APPROVED
    ).exclude(pk=entry.pk):
        try:
            version = semver.Version.parse(other.version)
        except ValueError:
            continue
        if version.compare(own) < 0 and (best is None or version > best[0]):
            best = (version, other)
    return best[1] if best else None


def catalog_entry_rescan(*, entry: CatalogEntry) -> dict[str, Any]:
    """Recompute an entry's risk from its stored bundle and store it in its report.

    Only ``report["risk"]`` changes (a targeted update, no other field is saved).
    """
    previous = previous_approved(entry)
    with local_package(entry) as path:
        found = scan_bundle(
            path, entry.manifest, previous.manifest if previous else None
        )
    report = {**entry.report, "risk": found}
    CatalogEntry.objects.filter(pk=entry.pk).update(report=report)
    entry.report = report
    return found
