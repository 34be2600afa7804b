"""Install, upgrade, reinstall and downgrade: staged extraction and an atomic swap.

The bundle is checked and extracted into a private folder under
``<MARKET_ROOT>/staging``, the sidecar is written there, both flushed to disk, and
only then is it moved into ``extensions/<id>`` with ``os.replace`` while the database
row changes in the same transaction, under a row lock on the id's ``ExtensionSlot``;
the transaction commits after the last flush (the full order, and what a crash at
each step leaves, is in :mod:`market.services.common`). Any failure undoes the
moves, so a crash leaves the old install or nothing, never half of one.
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import semver
from django.utils import timezone

from market import archive, lifecycle, sandbox
from market.clock import iso
from market.durable import atomic_write_bytes
from market.errors import (
    AlreadyInstalledError,
    DowngradeRefusedError,
    ManifestError,
)
from market.lifecycle import record_event, recording
from market.manifest import TRUST_KEYS, Manifest
from market.models import InstalledExtension, LifecycleAction
from market.services import rollback, updates
from market.services.common import (
    SIDECAR_NAME,
    archive_limits,
    bundle_warnings,
    ensure,
    locked_swap,
    server_allowlist,
    staging_dir,
)
from market.services.requirements import check_compatible, check_dependencies
from market.services.sources import (
    InstallSource,
    stored_bundle_mismatch,
)
from market.services.trust import establish_trust


def extension_install(
    *,
    source: InstallSource,
    actor: Any = None,
    reinstall: bool = False,
    allow_downgrade: bool = False,
    trust: str | None = None,
    studio: str | None = None,
    accept: list[str] | None = None,
) -> InstalledExtension:
    """Install (or upgrade, reinstall, downgrade) the bundle at ``source``.

    ``trust`` is what the request asked for (see :func:`establish_trust`);
    ``studio`` the Studio version the bundle must be compatible with, if known.
    ``accept`` names what a replacing version may add (:mod:`.updates`).
    """
    accept = updates.normalise_accept(accept)
    stage: Path | None = None
    with recording(LifecycleAction.INSTALL, actor=actor) as rec:
        try:
            stage = ensure(staging_dir()) / f"install-{uuid.uuid4().hex}"
            info = archive.extract_bundle(
                source.path,
                stage,
                limits=archive_limits(),
                allowlist=server_allowlist(),
                durable=True,
            )
            ext_id = rec.ext_id = info.manifest.id
            check_compatible(info.manifest.data, studio)
            entry = source.catalog_entry
            if entry is not None and info.sha256 != entry.package_sha256:
                # What is installed from the catalogue is what was reviewed.
                raise stored_bundle_mismatch(entry, info.sha256)
            lifecycle.fault_point("install.extracted")
            level, proof = establish_trust(info, requested=trust)
            # Whatever the bundle was built with, routes must pass this server's
            # allowlist.
            problems = sandbox.check_routes(
                ext_id, info.manifest.data.get("routes", []), level, server_allowlist()
            )
            if problems:
                raise ManifestError(problems)
            now = timezone.now()
            sidecar = _sidecar(info, source, level, proof, trust, actor, now)
            accepted = _consent(info.manifest, accept)
            if accepted:
                sidecar["consent"] = {"accepted": accepted}
            # Exclusive: a bundle shipping its own sidecar is never silently trusted.
            atomic_write_bytes(
                stage / SIDECAR_NAME, _json_bytes(sidecar), exclusive=True
            )
            lifecycle.fault_point("install.sidecar_written")
            return _swap_in(
                info=info,
                stage=stage,
                source=source,
                level=level,
                sidecar=sidecar,
                actor=actor,
                reinstall=reinstall,
                allow_downgrade=allow_downgrade,
                installed_at=now,
                accept=accept,
            )
        finally:
            if stage is not None and stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
            if source.temporary:
                source.path.unlink(missing_ok=True)


def _sidecar(
    info: archive.BundleInfo,
    source: InstallSource,
    level: str,
    proof: str | None,
    requested: str | None,
    actor: Any,
    now: datetime,
) -> dict[str, Any]:
    warnings, warning_count = bundle_warnings(info)
    trust = {
        k: v for k, v in info.manifest.data.get("trust", {}).items() if k in TRUST_KEYS
    }
    trust["level"] = level
    if proof:
        trust["proof"] = proof
    if requested:
        # The operator's choice, kept beside what the bundle itself carries.
        trust["requested"] = requested
    return {
        "id": info.manifest.id,
        "version": info.manifest.version,
        "trust": trust,
        "package": {"name": source.name, "sha256": info.sha256, "size": info.size},
        "manifest_sha256": info.manifest.digest(),
        "installed_at": iso(now),
        "installed_by": getattr(actor, "username", None) or None,
        "source": source.kind,
        "warnings": warnings,
        "warning_count": warning_count,
    }


def _json_bytes(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _compare_versions(new: str, old: str) -> int:
    return semver.Version.parse(new).compare(old)


def _swap_in(
    *,
    info: archive.BundleInfo,
    stage: Path,
    source: InstallSource,
    level: str,
    sidecar: dict[str, Any],
    actor: Any,
    reinstall: bool,
    allow_downgrade: bool,
    installed_at: datetime,
    accept: list[str],
) -> InstalledExtension:
    manifest: Manifest = info.manifest
    ext_id = manifest.id
    with locked_swap(ext_id) as swap:
        existing = InstalledExtension.objects.filter(extension_id=ext_id).first()
        action_detail = _check_upgrade(existing, manifest, reinstall, allow_downgrade)
        check_dependencies(manifest.data)
        accepted = _consent(manifest, accept, existing)
        if existing is None and swap.target.exists():
            raise AlreadyInstalledError(
                f"extensions/{ext_id} exists but was not installed by the "
                "marketplace; remove it or run market_doctor",
                details={"id": ext_id, "reason": "unmanaged_folder"},
            )
        swap.retire_current()
        lifecycle.fault_point("install.old_moved")
        swap.moves.move(stage, swap.target)
        lifecycle.fault_point("install.swapped")
        rollback.keep_previous(swap, existing)
        row = existing or InstalledExtension(extension_id=ext_id)
        row.version = manifest.version
        row.trust_level = level
        row.manifest = manifest.data
        row.manifest_sha256 = manifest.digest()
        row.package_name = source.name
        row.package_sha256 = info.sha256
        row.package_size = info.size
        row.source = source.kind
        row.sidecar = sidecar
        row.warnings = sidecar["warnings"]
        row.catalog_entry = source.catalog_entry
        row.installed_by = actor if getattr(actor, "pk", None) else None
        row.installed_at = installed_at
        row.save()
        record_event(
            LifecycleAction.INSTALL,
            ext_id,
            version=manifest.version,
            trust=level,
            sha256=info.sha256,
            actor=actor,
            detail={
                **action_detail,
                "source": source.kind,
                **_requested(sidecar),
                **({"accepted": accepted} if accepted else {}),
            },
        )
        lifecycle.fault_point("install.recorded")
    return row


def _consent(
    manifest: Manifest,
    accept: list[str],
    existing: InstalledExtension | None = None,
) -> list[str]:
    """What this bundle adds over the installed version, all of it accepted (else
    ``consent_required``). Without ``existing``, the installed row is read."""
    if existing is None:
        existing = InstalledExtension.objects.filter(extension_id=manifest.id).first()
    if existing is None:
        return []
    return updates.require_consent(
        ext_id=manifest.id,
        installed_version=existing.version,
        installed_manifest=existing.manifest,
        version=manifest.version,
        manifest=manifest.data,
        accept=accept,
    )


def _requested(sidecar: dict[str, Any]) -> dict[str, Any]:
    requested = sidecar["trust"].get("requested")
    return {"trust_requested": requested} if requested else {}


def _check_upgrade(
    existing: InstalledExtension | None,
    manifest: Manifest,
    reinstall: bool,
    allow_downgrade: bool,
) -> dict[str, Any]:
    if existing is None:
        return {"kind": "install"}
    order = _compare_versions(manifest.version, existing.version)
    details = {
        "id": manifest.id,
        "installed": existing.version,
        "bundle": manifest.version,
    }
    if order == 0 and not reinstall:
        raise AlreadyInstalledError(
            f"{manifest.id} {manifest.version} is already installed; "
            "pass reinstall to install it again",
            details=details,
        )
    if order < 0 and not allow_downgrade:
        raise DowngradeRefusedError(
            f"{manifest.id} {existing.version} is installed; installing the older "
            f"{manifest.version} needs allow_downgrade",
            details=details,
        )
    kind = "reinstall" if order == 0 else ("upgrade" if order > 0 else "downgrade")
    return {"kind": kind, "previous_version": existing.version}
