"""Catalogue writes: submitting bundles and the reviewer's decisions on them."""

from __future__ import annotations

import logging
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import semver
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from market import archive, packaging, sandbox, signing
from market.clock import iso
from market.errors import ReviewError
from market.lifecycle import record_error, record_event
from market.manifest import Manifest, capabilities, manifest_json_bytes
from market.models import CatalogEntry, LifecycleAction
from market.selectors import catalog_card
from market.services import (
    archive_limits,
    local_package,
    server_allowlist,
    source_from_upload,
)

logger = logging.getLogger(__name__)


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


def _report(info: archive.BundleInfo, previous: CatalogEntry | None) -> dict[str, Any]:
    manifest: Manifest = info.manifest
    return {
        "warnings": [w.as_dict() for w in info.warnings],
        "content_verified": info.content_verified,
        "capabilities": capabilities(manifest.data),
        "effective_routes": sandbox.effective_routes(
            manifest.id, manifest.data.get("routes", [])
        ),
        "digests": {"sha256": info.sha256, "manifest_sha256": manifest.digest()},
        "files": list(info.entries),
        "diff": review_diff(manifest.data, previous.manifest if previous else None),
    }


def _index(values: list[str]) -> str:
    return " " + " ".join(values) + " " if values else ""


def catalog_entry_submit(
    *, bundle_path: Path, actor: Any = None, original_name: str | None = None
) -> CatalogEntry:
    """Check a bundle and store it as a ``pending`` catalogue entry."""
    ext_id = ""
    try:
        info = archive.inspect_bundle(
            bundle_path, limits=archive_limits(), allowlist=server_allowlist()
        )
        manifest = info.manifest
        ext_id = manifest.id
        if CatalogEntry.objects.filter(
            extension_id=ext_id, version=manifest.version
        ).exists():
            raise ReviewError(
                f"{ext_id} {manifest.version} was already submitted; bump the version",
                code="version_exists",
                details={"id": ext_id, "version": manifest.version},
            )
        previous = latest_approved(ext_id)
        caps = capabilities(manifest.data)
        with transaction.atomic():
            entry = CatalogEntry(
                extension_id=ext_id,
                version=manifest.version,
                name=manifest.name,
                summary=manifest.data.get("summary", ""),
                authors=manifest.data.get("authors", []),
                manifest=manifest.data,
                manifest_sha256=manifest.digest(),
                package_sha256=info.sha256,
                package_size=info.size,
                trust_level=CatalogEntry.Trust.UNVERIFIED,
                status=CatalogEntry.Status.PENDING,
                permission_index=_index(caps.get("permissions", [])),
                hook_index=_index(caps.get("hooks", [])),
                report=_report(info, previous),
                card=catalog_card(manifest.data),
                submitted_by=actor if getattr(actor, "pk", None) else None,
            )
            stem = f"{ext_id}-{manifest.version}-{info.sha256[:12]}"
            # upload_to adds "bundles/": stored as bundles/<id>/<stem>.cvnext
            name = f"{ext_id}/{stem}.cvnext"
            with open(bundle_path, "rb") as fh:
                entry.package.save(name, File(fh), save=False)
            entry.save()
            record_event(
                LifecycleAction.SUBMIT,
                ext_id,
                version=manifest.version,
                sha256=info.sha256,
                actor=actor,
                detail={"original_name": original_name or Path(bundle_path).name},
            )
    except Exception as exc:
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


def latest_approved(ext_id: str) -> CatalogEntry | None:
    entries = list(
        CatalogEntry.objects.filter(
            extension_id=ext_id, status=CatalogEntry.Status.APPROVED
        )
    )
    if not entries:
        return None
    return max(entries, key=lambda e: semver.Version.parse(e.version))


def _refresh_latest(ext_id: str) -> None:
    newest = latest_approved(ext_id)
    others = CatalogEntry.objects.filter(extension_id=ext_id)
    if newest is not None:
        others = others.exclude(pk=newest.pk)
    others.update(is_latest=False)
    if newest is not None:
        CatalogEntry.objects.filter(pk=newest.pk).update(is_latest=True)


def _check_reviewer(entry: CatalogEntry, reviewer: Any) -> None:
    if (
        reviewer is not None
        and entry.submitted_by_id is not None
        and entry.submitted_by_id == getattr(reviewer, "pk", None)
    ):
        raise ReviewError("a reviewer cannot review a bundle they submitted")


def _decide(
    entry: CatalogEntry,
    reviewer: Any,
    action: str,
    status: str,
    allowed_from: tuple[str, ...],
    **changes: Any,
) -> CatalogEntry:
    try:
        with transaction.atomic():
            locked = CatalogEntry.objects.select_for_update().get(pk=entry.pk)
            _check_reviewer(locked, reviewer)
            if locked.status not in allowed_from:
                raise ReviewError(
                    f"cannot {action} an entry that is {locked.status}",
                    details={"status": locked.status},
                )
            locked.status = status
            locked.reviewed_by = reviewer if getattr(reviewer, "pk", None) else None
            locked.reviewed_at = timezone.now()
            for key, value in changes.items():
                setattr(locked, key, value)
            locked.save()
            _refresh_latest(locked.extension_id)
            record_event(
                action,
                locked.extension_id,
                version=locked.version,
                trust=locked.trust_level,
                sha256=locked.package_sha256,
                actor=reviewer,
                detail={"reason": locked.review_reason} if locked.review_reason else {},
            )
    except Exception as exc:
        record_error(action, entry.extension_id, exc, actor=reviewer)
        raise
    locked.refresh_from_db()
    return locked


def _write_manifest(tree: Path, data: dict[str, Any]) -> None:
    for name in ("manifest.json", "extension.json"):
        (tree / name).unlink(missing_ok=True)
    (tree / "manifest.json").write_bytes(manifest_json_bytes(data))


def sign_and_repack(entry: CatalogEntry, out_dir: Path) -> packaging.PackageResult:
    """The entry's bundle, re-packed with an Ed25519 catalogue signature.

    The signature covers ``manifest_sha256`` of the manifest as it will be shipped
    (trust level, signer and time included; the signature itself excluded), and that
    digest covers every other file through the content record. Re-packing is
    deterministic, and must keep exactly the files the reviewer saw.
    """
    key = signing.load_signing_key(create=True)
    assert key is not None
    key_id = signing.key_id_for(key.public_key())
    with tempfile.TemporaryDirectory(prefix="cvnext-sign-") as tmp:
        tree = Path(tmp) / "tree"
        with local_package(entry) as bundle:
            info = archive.extract_bundle(bundle, tree, limits=archive_limits())
        data = {k: v for k, v in info.manifest.data.items() if k != "content"}
        trust = {
            k: v
            for k, v in (data.get("trust") or {}).items()
            if k not in ("signature", "signature_type")
        }
        trust.update(
            level="verified",
            signed_by=key_id,
            verified_at=iso(timezone.now().replace(microsecond=0)),
        )
        data["trust"] = trust
        _write_manifest(tree, data)
        allowlist = server_allowlist()
        unsigned = packaging.build_package(
            tree,
            Path(tmp) / "unsigned",
            force=True,
            include_hidden=True,
            allowlist=allowlist,
        )
        _, signature = signing.sign_digest(unsigned.manifest_sha256)
        data["trust"] = {**trust, "signature": signature}
        _write_manifest(tree, data)
        signed = packaging.build_package(
            tree, out_dir, force=True, include_hidden=True, allowlist=allowlist
        )
    if signed.manifest_sha256 != unsigned.manifest_sha256:
        raise ReviewError("re-packing changed the manifest digest; nothing was signed")
    kept = {n for n in info.entries if n not in ("manifest.json", "extension.json")}
    with zipfile.ZipFile(signed.path) as zf:
        repacked = {n for n in zf.namelist() if n != "manifest.json"}
    if kept != repacked:
        signed.path.unlink(missing_ok=True)
        raise ReviewError(
            "the bundle holds files the packager would not pack; ask for a rebuild",
            details={"files": sorted(kept ^ repacked)},
        )
    return signed


def _approve_verified(entry: CatalogEntry, reviewer: Any) -> CatalogEntry:
    try:
        _check_reviewer(entry, reviewer)
        if entry.status != CatalogEntry.Status.PENDING:
            raise ReviewError(f"cannot approve an entry that is {entry.status}")
        with tempfile.TemporaryDirectory(prefix="cvnext-signed-") as tmp:
            signed = sign_and_repack(entry, Path(tmp))
            stem = f"{signed.path.stem}-{signed.sha256[:12]}"
            with signed.path.open("rb") as fh:
                stored = entry.package.storage.save(
                    f"bundles/{entry.extension_id}/{stem}.cvnext", File(fh)
                )
    except Exception as exc:
        record_error(LifecycleAction.APPROVE, entry.extension_id, exc, actor=reviewer)
        raise
    data = signed.manifest.data
    original = entry.package.name or ""
    report = {**entry.report, "submitted_sha256": entry.package_sha256}
    try:
        approved = _decide(
            entry,
            reviewer,
            LifecycleAction.APPROVE,
            CatalogEntry.Status.APPROVED,
            (CatalogEntry.Status.PENDING,),
            trust_level=CatalogEntry.Trust.VERIFIED,
            review_reason="",
            package=stored,
            package_sha256=signed.sha256,
            package_size=signed.bytes,
            manifest=data,
            manifest_sha256=signed.manifest_sha256,
            card=catalog_card(data),
            report=report,
        )
    except Exception:
        entry.package.storage.delete(stored)
        raise
    entry.package.storage.delete(original)
    return approved


def _check_unverified_approval(entry: CatalogEntry, trust_level: str) -> None:
    if trust_level not in CatalogEntry.Trust.values:
        raise ReviewError(f"unknown trust level {trust_level!r}")
    problems = sandbox.check_routes(
        entry.extension_id,
        entry.manifest.get("routes", []),
        "unverified",
        server_allowlist(),
    )
    if problems or entry.manifest.get("trust", {}).get("level") == "verified":
        raise ReviewError(
            "this bundle declares verified trust or global routes; approve it as "
            "verified or reject it",
            details={"problems": [p.as_dict() for p in problems]},
        )


def catalog_entry_approve(
    *, entry: CatalogEntry, reviewer: Any = None, trust_level: str = "unverified"
) -> CatalogEntry:
    """List a pending entry as ``verified`` (global routes) or ``unverified``."""
    if trust_level == CatalogEntry.Trust.VERIFIED:
        return _approve_verified(entry, reviewer)  # records its own refusals
    try:
        _check_unverified_approval(entry, trust_level)
    except ReviewError as exc:
        record_error(LifecycleAction.APPROVE, entry.extension_id, exc, actor=reviewer)
        raise
    return _decide(
        entry,
        reviewer,
        LifecycleAction.APPROVE,
        CatalogEntry.Status.APPROVED,
        (CatalogEntry.Status.PENDING,),
        trust_level=trust_level,
        review_reason="",
    )


def catalog_entry_reject(
    *, entry: CatalogEntry, reviewer: Any, reason: str
) -> CatalogEntry:
    if not reason or not reason.strip():
        raise ReviewError("a rejection needs a reason")
    return _decide(
        entry,
        reviewer,
        LifecycleAction.REJECT,
        CatalogEntry.Status.REJECTED,
        (CatalogEntry.Status.PENDING,),
        review_reason=reason.strip(),
    )


def catalog_entry_delist(
    *, entry: CatalogEntry, reviewer: Any, reason: str = ""
) -> CatalogEntry:
    return _decide(
        entry,
        reviewer,
        LifecycleAction.DELIST,
        CatalogEntry.Status.DELISTED,
        (CatalogEntry.Status.APPROVED,),
        review_reason=reason.strip(),
    )
