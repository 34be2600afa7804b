"""Reads: catalogue and install snapshots, health, filtered querysets."""

from __future__ import annotations

import json
from typing import Any

import semver
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet

from market import health, hooks_catalog, versions
from market.clock import iso
from market.manifest import (
    TRUST_LEVELS,
    capabilities,
    dependency_ranges,
    manifest_summary,
    permissions_glossary,
    satisfies,
    slots_glossary,
    studio_range,
)
from market.models import (
    CatalogEntry,
    ExtensionMaintainer,
    ExtensionOwner,
    InstalledExtension,
)
from market.search import full_text
from market.upstream import state as upstream_state


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
    "source",
)


def pending_submission_count(*, user: Any) -> int:
    """How many of ``user``'s submissions wait for review."""
    if not getattr(user, "pk", None):
        return 0
    return CatalogEntry.objects.filter(
        submitted_by=user, status=CatalogEntry.Status.PENDING
    ).count()


def catalog_card(data: dict[str, Any]) -> dict[str, Any]:
    """The parts of a catalogue entry derived from its manifest."""
    return {
        "manifest_summary": manifest_summary(data),
        "permissions": data.get("permissions", []),
        "hooks": data.get("hooks", []),
        "compatibility": _compatibility(data),
        "dependencies": dependency_ranges(data),
    }


def _compatibility(data: dict[str, Any]) -> dict[str, str]:
    studio = studio_range(data)
    return {"studio": studio} if studio else {}


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
        "compatibility": card.get("compatibility", {}),
        "dependencies": card.get("dependencies", {}),
        "approved_at": iso(entry.reviewed_at),
        "source": entry.source,
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


def update_available(installed: str, latest: str | None) -> str | None:
    """``latest`` when it is newer than the installed version, else None."""
    if latest is None:
        return None
    try:
        newer = semver.Version.parse(latest) > semver.Version.parse(installed)
    except ValueError:
        return None
    return latest if newer else None


NO_MARKS: dict[str, Any] = {"yanked": None, "blocked": None}


def installed_payload(
    row: InstalledExtension,
    *,
    show_actor: bool = True,
    latest: dict[str, str] | None = None,
    marks: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An installed extension. ``show_actor=False`` hides who installed it (for
    anonymous readers of a public catalogue); ``latest`` (from
    :func:`latest_versions`) says which catalogue version would upgrade it."""
    if latest is None:
        latest = dict(
            catalog_queryset()
            .filter(extension_id=row.extension_id)
            .values_list("extension_id", "version")
        )
    if marks is None:
        marks = versions.version_marks([(row.extension_id, row.version)])
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
        **marks.get(row.extension_id, NO_MARKS),
    }


def dependency_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A manifest's dependencies as a reviewer reads them: each id and range, with
    the newest approved catalogue version in range (None when nothing satisfies it,
    or the id is not in the catalogue)."""
    deps = dependency_ranges(data)
    versions: dict[str, list[str]] = {}
    rows = CatalogEntry.objects.filter(
        extension_id__in=list(deps), status=CatalogEntry.Status.APPROVED
    ).values_list("extension_id", "version")
    for ext_id, version in rows:
        versions.setdefault(ext_id, []).append(version)
    out = []
    for dep_id, text in deps.items():
        found = [v for v in versions.get(dep_id, []) if satisfies(v, text)]
        newest = max(found, key=semver.Version.parse) if found else None
        out.append({"id": dep_id, "range": text, "satisfied_by": newest})
    return out


def _summary_with_trust(data: dict[str, Any], level: str) -> dict[str, Any]:
    summary = manifest_summary(data)
    # The level the marketplace established, not what the bundle claimed.
    trust = dict(summary.get("trust") or {})
    trust["level"] = level
    summary["trust"] = trust
    return summary


def listings_joined(
    rows: list[tuple[int, str]],
    compatible: dict[int, bool] | None = None,
    stale: set[int] | None = None,
) -> str:
    """The stored listings of ``(pk, listing)`` rows, joined by commas, in row order.

    An approved row without a stored listing (made outside the review services) is
    encoded here instead, in one more query for all of them. ``compatible`` (from
    :func:`compatible_marks`) adds each row's ``compatible`` member to its text;
    ``stale`` (upstream rows of an expired snapshot) adds ``"stale":true``.
    """
    if stale:
        rows = [
            (pk, text[:-1] + ',"stale":true}' if pk in stale and text else text)
            for pk, text in rows
        ]
    missing = [pk for pk, listing in rows if not listing]
    encoded = {}
    if missing:
        for entry in CatalogEntry.objects.filter(pk__in=missing).only(*CARD_FIELDS):
            encoded[entry.pk] = catalog_listing(entry)
    texts = ((pk, listing or encoded[pk]) for pk, listing in rows)
    if compatible is None:
        return ",".join(text for _, text in texts)
    # A listing is one JSON object: the member goes before its closing brace.
    return ",".join(
        text[:-1]
        + (',"compatible":true}' if compatible[pk] else ',"compatible":false}')
        for pk, text in texts
    )


def stale_marks(rows: list[tuple[int, str]]) -> set[int]:
    """The upstream rows of ``(pk, source)`` rows, when the snapshot they came from
    has expired (else none)."""
    if not upstream_state.snapshot_expired():
        return set()
    return {pk for pk, source in rows if source == CatalogEntry.Source.UPSTREAM}


def is_compatible(studio: str, studio_range: str) -> bool:
    """Whether a version with ``studio_range`` ("" for none) runs on ``studio``."""
    return not studio_range or satisfies(studio, studio_range)


def compatible_marks(
    rows: list[tuple[int, str]], studio: str | None
) -> dict[int, bool] | None:
    """``{pk: compatible}`` of ``(pk, studio_range)`` rows; None without a version."""
    if studio is None:
        return None
    return {pk: is_compatible(studio, text) for pk, text in rows}


def catalog_studio_ranges() -> list[str]:
    """The distinct compatibility ranges of the listed catalogue, sorted."""
    return sorted(
        set(
            catalog_queryset()
            .exclude(studio_range="")
            .values_list("studio_range", flat=True)
        )
    )


def market_snapshot_json(
    *, show_actor: bool = True, studio: str | None = None
) -> bytes:
    """The spec's ``list`` payload as JSON bytes, in at most three queries.

    Catalogue entries are the ``listing`` text stored at approval; an approved row
    without one (made outside the review services) is encoded here instead. With a
    Studio version, each is marked ``compatible``.
    """
    listed = list(
        catalog_queryset().values_list("pk", "listing", "studio_range", "source")
    )
    catalog = listings_joined(
        [(pk, listing) for pk, listing, _, _ in listed],
        compatible_marks([(pk, text) for pk, _, text, _ in listed], studio),
        stale_marks([(pk, source) for pk, _, _, source in listed]),
    )
    rows = list(InstalledExtension.objects.all())
    latest, marks = versions.catalog_state([(r.extension_id, r.version) for r in rows])
    rest = encode(
        {
            "installed": [
                installed_payload(r, show_actor=show_actor, latest=latest, marks=marks)
                for r in rows
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


def _name(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def maintainer_items(row: ExtensionOwner) -> list[dict[str, Any]]:
    """Who may submit an id: its owner first, then its maintainers by username.

    Usernames only: a maintainer list is read by other modders, never given emails.
    """
    items = []
    if row.owner is not None:
        items.append(
            {
                "username": _name(row.owner),
                "role": "owner",
                "added_at": iso(row.owner_since),
                "added_by": None,
            }
        )
    maintainers = row.maintainer_rows.select_related("user", "added_by").order_by(
        "user__username"
    )
    items.extend(maintainer_item(m) for m in maintainers)
    return items


def maintainer_item(maintainer: ExtensionMaintainer) -> dict[str, Any]:
    return {
        "username": _name(maintainer.user),
        "role": "maintainer",
        "added_at": iso(maintainer.added_at),
        "added_by": _name(maintainer.added_by),
    }
