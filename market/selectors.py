"""Reads: catalogue and install snapshots, health, filtered querysets."""

from __future__ import annotations

import json
from typing import Any

import semver
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import OuterRef, QuerySet, Subquery

from market import health, hooks_catalog
from market.clock import iso
from market.manifest import (
    TRUST_LEVELS,
    capabilities,
    manifest_summary,
    permissions_glossary,
    slots_glossary,
)
from market.models import CatalogEntry, InstalledExtension
from market.search import full_text


def catalog_queryset(
    *,
    search: str | None = None,
    trust: str | None = None,
    permission: str | None = None,
    hook: str | None = None,
) -> QuerySet[CatalogEntry]:
    """Approved entries at their newest version, filtered for the catalogue."""
    qs = CatalogEntry.objects.filter(
        status=CatalogEntry.Status.APPROVED, is_latest=True
    ).order_by("extension_id")
    if search:
        qs = full_text(qs, search)
    if trust:
        qs = qs.filter(trust_level=trust)
    if permission:
        qs = qs.filter(permission_index__contains=f" {permission} ")
    if hook:
        qs = qs.filter(hook_index__contains=f" {hook} ")
    return qs


CARD_FIELDS = (
    "extension_id",
    "version",
    "name",
    "summary",
    "trust_level",
    "package_sha256",
    "manifest_sha256",
    "package_size",
    "reviewed_at",
    "card",
)


def catalog_card(data: dict[str, Any]) -> dict[str, Any]:
    """The parts of a catalogue entry derived from its manifest."""
    return {
        "manifest_summary": manifest_summary(data),
        "permissions": data.get("permissions", []),
        "hooks": data.get("hooks", []),
    }


# A catalogue entry carries its permissions (with descriptions) and hooks at the top
# level, so its capabilities leave them out instead of repeating them.
ENTRY_LEVEL_CAPABILITIES = ("permissions", "hooks")


def catalog_entry_payload(entry: CatalogEntry) -> dict[str, Any]:
    card = entry.card
    summary = dict(card["manifest_summary"])
    # The level the marketplace established, not what the bundle claimed.
    summary["trust"] = {**(summary.get("trust") or {}), "level": entry.trust_level}
    summary["capabilities"] = {
        key: value
        for key, value in (summary.get("capabilities") or {}).items()
        if key not in ENTRY_LEVEL_CAPABILITIES
    }
    return {
        "id": entry.extension_id,
        "version": entry.version,
        "name": entry.name,
        "summary": entry.summary,
        "trust": entry.trust_level,
        "sha256": entry.package_sha256,
        "manifest_sha256": entry.manifest_sha256,
        "size": entry.package_size,
        "manifest_summary": summary,
        "permissions": card["permissions"],
        "hooks": card["hooks"],
        "approved_at": iso(entry.reviewed_at),
    }


def encode(value: Any) -> str:
    """Compact JSON, as every ``list`` fragment is encoded."""
    return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":"))


def catalog_listing(entry: CatalogEntry) -> str:
    """The stored ``listing`` of an approved entry."""
    return encode(catalog_entry_payload(entry))


def latest_versions() -> dict[str, str]:
    """The default (newest approved) catalogue version of every installed id.

    One query that reads only the installed ids' catalogue rows (an index seek per
    installed extension), however large the catalogue is.
    """
    installed = InstalledExtension.objects.values("extension_id")
    return dict(
        catalog_queryset()
        .filter(extension_id__in=installed)
        .values_list("extension_id", "version")
    )


def installed_queryset() -> QuerySet[InstalledExtension]:
    """Installed extensions by id, each annotated with ``latest_version``: the
    default (newest approved) catalogue version of its id, read in the same query
    (an index seek per installed row, however large the catalogue)."""
    newest = (
        catalog_queryset()
        .filter(extension_id=OuterRef("extension_id"))
        .values("version")[:1]
    )
    return InstalledExtension.objects.annotate(
        latest_version=Subquery(newest)
    ).order_by("extension_id")


def update_available(installed: str, latest: str | None) -> str | None:
    """``latest`` when it is newer than the installed version, else None."""
    if latest is None:
        return None
    try:
        newer = semver.Version.parse(latest) > semver.Version.parse(installed)
    except ValueError:
        return None
    return latest if newer else None


def installed_payload(
    row: InstalledExtension,
    *,
    show_actor: bool = True,
    latest: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An installed extension. ``show_actor=False`` hides who installed it (for
    anonymous readers of a public catalogue); ``latest`` (from
    :func:`latest_versions`), or else the row's ``latest_version`` (from
    :func:`installed_queryset`), says which catalogue version would upgrade it."""
    if latest is None:
        if hasattr(row, "latest_version"):
            latest = {row.extension_id: row.latest_version}
        else:
            latest = dict(
                catalog_queryset()
                .filter(extension_id=row.extension_id)
                .values_list("extension_id", "version")
            )
    sidecar = row.sidecar
    if not show_actor:
        sidecar = {k: v for k, v in sidecar.items() if k != "installed_by"}
    return {
        "id": row.extension_id,
        "version": row.version,
        "trust": row.trust_level,
        "path": f"extensions/{row.extension_id}",
        "sha256": row.package_sha256,
        "manifest_sha256": row.manifest_sha256,
        "installed_at": iso(row.installed_at),
        "source": row.source,
        "sidecar": sidecar,
        "manifest_summary": _summary_with_trust(row.manifest, row.trust_level),
        "capabilities": capabilities(row.manifest),
        "diagnostics": row.manifest.get("diagnostics", {}),
        "warnings": row.warnings,
        "warning_count": sidecar.get("warning_count", len(row.warnings)),
        "update_available": update_available(row.version, latest.get(row.extension_id)),
    }


def _summary_with_trust(data: dict[str, Any], level: str) -> dict[str, Any]:
    summary = manifest_summary(data)
    # The level the marketplace established, not what the bundle claimed.
    trust = dict(summary.get("trust") or {})
    trust["level"] = level
    summary["trust"] = trust
    return summary


def listings_joined(rows: list[tuple[int, str]]) -> str:
    """The stored listings of ``(pk, listing)`` rows, joined by commas, in row order.

    An approved row without a stored listing (made outside the review services) is
    encoded here instead, in one more query for all of them.
    """
    missing = [pk for pk, listing in rows if not listing]
    encoded = {}
    if missing:
        for entry in CatalogEntry.objects.filter(pk__in=missing).only(*CARD_FIELDS):
            encoded[entry.pk] = catalog_listing(entry)
    return ",".join(listing or encoded[pk] for pk, listing in rows)


def market_snapshot_json(*, show_actor: bool = True) -> bytes:
    """The spec's ``list`` payload as JSON bytes, in at most three queries.

    Catalogue entries are the ``listing`` text stored at approval; an approved row
    without one (made outside the review services) is encoded here instead.
    """
    catalog = listings_joined(list(catalog_queryset().values_list("pk", "listing")))
    latest = latest_versions()
    rest = encode(
        {
            "installed": [
                installed_payload(r, show_actor=show_actor, latest=latest)
                for r in InstalledExtension.objects.all()
            ],
            "permissions": permissions_glossary(),
            "hooks": hooks_catalog.hooks_catalog(),
            "trust_levels": list(TRUST_LEVELS),
            "ui_slots": slots_glossary(),
        }
    )
    return ('{"ok":true,"catalog":[' + catalog + "]," + rest[1:]).encode()


def market_health() -> dict[str, Any]:
    """The spec's ``health`` payload, in one query (see :mod:`market.health`)."""
    return health.market_health()
