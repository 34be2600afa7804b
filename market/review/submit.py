"""Submissions: a bundle is checked, stored and queued as a ``pending`` entry.

The stored report (warnings, capabilities, effective routes, digests, files), the
diff against the last approved version and the risk signals (:mod:`market.risk`)
are what the reviewer reads in the admin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import Q

from market import archive, sandbox
from market.errors import ReviewError
from market.lifecycle import record_error, record_event
from market.manifest import Manifest, capabilities, dependency_ranges, studio_range
from market.models import CatalogEntry, LifecycleAction
from market.review.derived import latest_approved, rebuild_derived
from market.services import (
    archive_limits,
    bundle_warnings,
    server_allowlist,
    source_from_upload,
)
from market.services.ownership import extension_claim
from market.services.risk import bundle_risk


def _diff_list(old: list[str], new: list[str]) -> dict[str, list[str]]:
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
    }


def _surface(data: dict[str, Any]) -> dict[str, list[str]]:
    caps = capabilities(data)
    return {
        "permissions": [p for p in caps.get("permissions", [])],
        "routes": [
            f"{','.join(r.get('methods', []))} {r.get('path')} ({r.get('expose')})"
            for r in caps.get("routes", [])
        ],
        "hooks": list(caps.get("hooks", [])),
        "ui_panels": list(caps.get("ui_panels", [])),
        # A changed range shows as the old one removed and the new one added.
        "compatibility": [f"studio {text}" for text in [studio_range(data)] if text],
        "dependencies": [
            f"{dep_id} {text}" for dep_id, text in dependency_ranges(data).items()
        ],
    }


def review_diff(new: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """What a bundle asks for that the last approved version did not, and vice versa."""
    if previous is None:
        return {"previous_version": None, "changes": {}}
    old_surface, new_surface = _surface(previous), _surface(new)
    return {
        "previous_version": previous.get("version"),
        "changes": {k: _diff_list(old_surface[k], new_surface[k]) for k in new_surface},
    }


def _report(
    info: archive.BundleInfo, previous: CatalogEntry | None, bundle_path: Path
) -> dict[str, Any]:
    manifest: Manifest = info.manifest
    warnings, warning_count = bundle_warnings(info)
    old = previous.manifest if previous else None
    return {
        "warnings": warnings,
        "warning_count": warning_count,
        "content_verified": info.content_verified,
        "capabilities": capabilities(manifest.data),
        "effective_routes": sandbox.effective_routes(
            manifest.id, manifest.data.get("routes", [])
        ),
        "digests": {"sha256": info.sha256, "manifest_sha256": manifest.digest()},
        "files": list(info.entries),
        "diff": review_diff(manifest.data, old),
        "risk": bundle_risk(
            bundle_path=bundle_path, manifest=manifest.data, previous=old
        ),
    }


def _index(values: list[str]) -> str:
    return " " + " ".join(values) + " " if values else ""


def _refuse_taken_version(ext_id: str, version: str) -> None:
    """``version_exists`` when a version of equal SemVer precedence was submitted:
    build metadata (``2.0.0+hotfix`` beside ``2.0.0``) does not make a new version.
    Whatever became of it, a submitted id+version stays reserved."""
    core = version.split("+", 1)[0]
    taken = (
        CatalogEntry.objects.filter(extension_id=ext_id)
        .filter(Q(version=core) | Q(version__startswith=core + "+"))
        .values_list("version", flat=True)
        .first()
    )
    if taken is None:
        return
    details = {"id": ext_id, "version": version}
    if taken == version:
        message = f"{ext_id} {version} was already submitted; bump the version"
    else:
        message = (
            f"{ext_id} {version} is the same version as {taken}, already submitted "
            "(build metadata does not count); bump the version"
        )
        details["submitted"] = taken
    raise ReviewError(message, code="version_exists", details=details)


def catalog_entry_submit(
    *, bundle_path: Path, actor: Any = None, original_name: str | None = None
) -> CatalogEntry:
    """Check a bundle and store it as a ``pending`` catalogue entry.

    Under the id's lock (:func:`~market.services.ownership.extension_claim`), so
    only its owner or a maintainer submits it (``not_owner``), and of two
    submissions of one version exactly one is stored (``version_exists``). A bundle
    file saved for a submission that then fails is deleted: nothing is left behind.
    """
    ext_id = ""
    stored = ""
    try:
        info = archive.inspect_bundle(
            bundle_path, limits=archive_limits(), allowlist=server_allowlist()
        )
        manifest = info.manifest
        ext_id = manifest.id
        # The risk scan re-reads the bundle: done before the id's lock is taken, and
        # again under it only if an approval landed meanwhile.
        scanned_against = latest_approved(ext_id)
        report = _report(info, scanned_against, bundle_path)
        with transaction.atomic():
            claim = extension_claim(ext_id=ext_id, actor=actor)
            _refuse_taken_version(ext_id, manifest.version)
            previous = latest_approved(ext_id)
            if getattr(previous, "pk", None) != getattr(scanned_against, "pk", None):
                report = _report(info, previous, bundle_path)
            entry = CatalogEntry(
                extension_id=ext_id,
                version=manifest.version,
                manifest=manifest.data,
                manifest_sha256=manifest.digest(),
                package_sha256=info.sha256,
                package_size=info.size,
                trust_level=CatalogEntry.Trust.UNVERIFIED,
                status=CatalogEntry.Status.PENDING,
                report=report,
                submitted_by=actor if getattr(actor, "pk", None) else None,
            )
            rebuild_derived(entry)
            stem = f"{ext_id}-{manifest.version}-{info.sha256[:12]}"
            # upload_to adds "bundles/": stored as bundles/<id>/<stem>.cvnext
            name = f"{ext_id}/{stem}.cvnext"
            with open(bundle_path, "rb") as fh:
                entry.package.save(name, File(fh), save=False)
            stored = entry.package.name or ""
            entry.save()
            record_event(
                LifecycleAction.SUBMIT,
                ext_id,
                version=manifest.version,
                sha256=info.sha256,
                actor=actor,
                detail={
                    "original_name": original_name or Path(bundle_path).name,
                    "owner": claim.owner.get_username() if claim.owner else None,
                },
            )
    except Exception as exc:
        if stored:
            # Saved under a name of its own (the storage never overwrites), so it
            # is this submission's file and no other's.
            entry.package.storage.delete(stored)
        record_error(LifecycleAction.SUBMIT, ext_id, exc, actor=actor)
        raise
    return entry


def catalog_entry_submit_upload(*, upload: Any, actor: Any) -> CatalogEntry:
    """Submit an uploaded bundle (spooled to a private temp file, removed after)."""
    try:
        source = source_from_upload(upload)
    except Exception as exc:
        record_error(LifecycleAction.SUBMIT, "", exc, actor=actor)
        raise
    try:
        return catalog_entry_submit(
            bundle_path=source.path, actor=actor, original_name=source.name
        )
    finally:
        source.path.unlink(missing_ok=True)
