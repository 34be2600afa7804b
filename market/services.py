"""Install and uninstall: the writes of the extension lifecycle.

Every install is staged and swapped: the bundle is checked and extracted into a
private folder under ``<MARKET_ROOT>/staging``, the sidecar is written there, and only
then is it moved into ``extensions/<id>`` with ``os.replace`` while the database row
changes in the same transaction, under a row lock on the id's ``ExtensionSlot``. Any
failure undoes the moves, so a crash leaves the old install or nothing, never half.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import semver
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from market import archive, sandbox, signing
from market.errors import (
    AlreadyInstalledError,
    DowngradeRefusedError,
    InvalidRequestError,
    ManifestError,
    NotFoundError,
    NotInstalledError,
    PackageTooLargeError,
    PathNotAllowedError,
    TrustUnprovenError,
)
from market.lifecycle import fault_point, record_error, record_event
from market.manifest import ID_PATTERN, Manifest, capabilities, parse_signature
from market.models import (
    CatalogEntry,
    ExtensionSlot,
    InstalledExtension,
    LifecycleAction,
)

logger = logging.getLogger(__name__)

SIDECAR_NAME = ".market.json"
_ID_RE = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class InstallSource:
    """Where a bundle comes from: a local file plus how it got there."""

    kind: str  # InstalledExtension.Source
    path: Path
    name: str
    catalog_entry: CatalogEntry | None = field(default=None, compare=False)


# --- paths --------------------------------------------------------------------------


def extensions_dir() -> Path:
    return Path(settings.MARKET_ROOT) / "extensions"


def staging_dir() -> Path:
    return Path(settings.MARKET_ROOT) / "staging"


def archive_limits() -> archive.ArchiveLimits:
    return archive.ArchiveLimits(**settings.MARKET_ARCHIVE_LIMITS)


def server_allowlist() -> sandbox.Allowlist:
    extra = settings.MARKET_ROUTE_ALLOWLIST
    base = sandbox.default_allowlist()
    return base.merged(sandbox.parse_allowlist(extra)) if extra else base


# --- sources ------------------------------------------------------------------------


def source_from_path(raw: str) -> InstallSource:
    """A server-side bundle path, accepted only inside ``MARKET_PACKAGE_DIRS``."""
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        raise InvalidRequestError("package must be a non-empty path string")
    candidate = Path(raw)
    if not candidate.is_absolute():
        raise PathNotAllowedError(
            "package must be an absolute path", details={"package": raw}
        )
    resolved = Path(os.path.realpath(candidate))
    roots = [Path(os.path.realpath(p)) for p in settings.MARKET_PACKAGE_DIRS]
    if not any(resolved.is_relative_to(root) for root in roots):
        raise PathNotAllowedError(
            "package paths are accepted only inside the configured package folders",
            details={"package": raw, "allowed": [str(r) for r in roots]},
        )
    if resolved.suffix != ".cvnext" or not resolved.is_file():
        raise NotFoundError(f"no .cvnext bundle at {raw}", details={"package": raw})
    return InstallSource(InstalledExtension.Source.PATH, resolved, resolved.name)


def source_from_catalog(ext_id: str, version: str | None = None) -> InstallSource:
    """The approved catalogue bundle of ``ext_id``: that version, else the newest."""
    entries = CatalogEntry.objects.filter(
        extension_id=ext_id, status=CatalogEntry.Status.APPROVED
    )
    entry = (
        entries.filter(version=version).first()
        if version
        else entries.filter(is_latest=True).first()
    )
    if entry is None:
        wanted = f"{ext_id} {version}" if version else ext_id
        raise NotFoundError(f"no approved catalogue entry for {wanted}")
    return InstallSource(
        InstalledExtension.Source.CATALOG,
        materialise_catalog_package(entry),
        Path(entry.package.name or "").name,
        entry,
    )


def materialise_catalog_package(entry: CatalogEntry) -> Path:
    """A local path for a stored bundle (remote storages are copied to a temp file)."""
    try:
        return Path(entry.package.path)
    except NotImplementedError:
        pass
    fd, tmp = tempfile.mkstemp(suffix=".cvnext")
    with os.fdopen(fd, "wb") as out, entry.package.open("rb") as src:
        shutil.copyfileobj(src, out, 1024 * 1024)
    return Path(tmp)


def source_from_upload(upload: Any) -> InstallSource:
    """An uploaded file (Django ``UploadedFile``), spooled to a private temp file."""
    limit = settings.MARKET_ARCHIVE_LIMITS["max_package_bytes"]
    if upload.size is not None and upload.size > limit:
        raise PackageTooLargeError(
            f"the bundle is {upload.size} bytes; the limit is {limit}",
            details={"size": upload.size, "limit": limit},
        )
    fd, tmp = tempfile.mkstemp(suffix=".cvnext", dir=_ensure(staging_dir()))
    with os.fdopen(fd, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    name = Path(getattr(upload, "name", "") or "upload.cvnext").name
    return InstallSource(InstalledExtension.Source.UPLOAD, Path(tmp), name)


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- trust ----------------------------------------------------------------------------


def prove_trust(info: archive.BundleInfo) -> tuple[str, str | None]:
    """The trust level a bundle has earned, and how: ``(level, proof)``.

    ``verified`` is never taken on the bundle's word: its package must be a catalogue
    entry approved as verified, or carry a valid Ed25519 signature from a trusted key.
    """
    manifest = info.manifest
    if manifest.trust_level != "verified":
        return "unverified", None
    if not info.content_verified:
        raise TrustUnprovenError(
            "a verified bundle needs the packager's content record",
            details={"id": manifest.id},
        )
    if CatalogEntry.objects.filter(
        package_sha256=info.sha256,
        status=CatalogEntry.Status.APPROVED,
        trust_level=CatalogEntry.Trust.VERIFIED,
    ).exists():
        return "verified", "catalog"
    trust = manifest.data.get("trust", {})
    signature = trust.get("signature")
    if signature:
        algorithm, raw = parse_signature(signature)
        if algorithm == "ed25519":
            key_id = signing.verify_digest(
                manifest.digest(), raw, trust.get("signed_by")
            )
            if key_id:
                return "verified", f"ed25519:{key_id}"
    raise TrustUnprovenError(
        "the bundle claims trust level verified but is neither an approved verified "
        "catalogue bundle nor signed by a trusted key",
        details={"id": manifest.id, "sha256": info.sha256},
    )


# --- install --------------------------------------------------------------------


def extension_install_from(
    *,
    upload: Any = None,
    package: str | None = None,
    ext_id: str | None = None,
    version: str | None = None,
    actor: Any = None,
    reinstall: bool = False,
    allow_downgrade: bool = False,
) -> InstalledExtension:
    """Install from exactly one of: an upload, a server path, a catalogue reference."""
    try:
        if upload is not None:
            source = source_from_upload(upload)
        elif package:
            source = source_from_path(package)
        elif ext_id:
            source = source_from_catalog(ext_id, version)
        else:
            raise InvalidRequestError("no bundle named: give a file, a path or an id")
    except Exception as exc:
        label = ext_id if isinstance(ext_id, str) and _ID_RE.fullmatch(ext_id) else ""
        record_error(LifecycleAction.INSTALL, label, exc, actor=actor)
        raise
    return extension_install(
        source=source,
        actor=actor,
        reinstall=reinstall,
        allow_downgrade=allow_downgrade,
    )


def extension_install(
    *,
    source: InstallSource,
    actor: Any = None,
    reinstall: bool = False,
    allow_downgrade: bool = False,
) -> InstalledExtension:
    """Install (or upgrade, reinstall, downgrade) the bundle at ``source``."""
    ext_id = ""
    stage: Path | None = None
    try:
        stage = _ensure(staging_dir()) / f"install-{uuid.uuid4().hex}"
        info = archive.extract_bundle(
            source.path, stage, limits=archive_limits(), allowlist=server_allowlist()
        )
        ext_id = info.manifest.id
        fault_point("install.extracted")
        level, proof = prove_trust(info)
        # Whatever the bundle was built with, routes must pass this server's allowlist.
        problems = sandbox.check_routes(
            ext_id, info.manifest.data.get("routes", []), level, server_allowlist()
        )
        if problems:
            raise ManifestError(problems)
        sidecar = _sidecar(info, source, level, proof, actor)
        _write_json(stage / SIDECAR_NAME, sidecar)
        fault_point("install.sidecar_written")
        row = _swap_in(
            info=info,
            stage=stage,
            source=source,
            level=level,
            sidecar=sidecar,
            actor=actor,
            reinstall=reinstall,
            allow_downgrade=allow_downgrade,
        )
    except Exception as exc:
        record_error(LifecycleAction.INSTALL, ext_id, exc, actor=actor)
        raise
    finally:
        if stage is not None and stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
        if source.kind == InstalledExtension.Source.UPLOAD:
            source.path.unlink(missing_ok=True)
    return row


def _sidecar(
    info: archive.BundleInfo,
    source: InstallSource,
    level: str,
    proof: str | None,
    actor: Any,
) -> dict[str, Any]:
    trust = {k: v for k, v in info.manifest.data.get("trust", {}).items()}
    trust["level"] = level
    if proof:
        trust["proof"] = proof
    return {
        "id": info.manifest.id,
        "version": info.manifest.version,
        "trust": trust,
        "package": {"name": source.name, "sha256": info.sha256, "size": info.size},
        "manifest_sha256": info.manifest.digest(),
        "installed_at": timezone.now().isoformat(),
        "installed_by": getattr(actor, "username", None) or None,
        "source": source.kind,
        "warnings": [w.as_dict() for w in info.warnings],
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with path.open("x", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")


def _compare_versions(new: str, old: str) -> int:
    return semver.Version.parse(new).compare(old)


def _lock_slot(ext_id: str) -> None:
    ExtensionSlot.objects.get_or_create(extension_id=ext_id)
    ExtensionSlot.objects.select_for_update().get(extension_id=ext_id)


class _Moves:
    """Filesystem renames done inside a transaction, undone in reverse if it fails."""

    def __init__(self) -> None:
        self.done: list[tuple[Path, Path]] = []

    def move(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)
        self.done.append((src, dst))

    def undo(self) -> None:
        for src, dst in reversed(self.done):
            try:
                os.replace(dst, src)
            except OSError:
                logger.exception("could not undo move %s -> %s", src, dst)
        self.done.clear()


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
) -> InstalledExtension:
    manifest: Manifest = info.manifest
    ext_id = manifest.id
    target = _ensure(extensions_dir()) / ext_id
    trash = staging_dir() / f"trash-{ext_id}-{uuid.uuid4().hex}"
    moves = _Moves()
    try:
        with transaction.atomic():
            _lock_slot(ext_id)
            existing = InstalledExtension.objects.filter(extension_id=ext_id).first()
            action_detail = _check_upgrade(
                existing, manifest, reinstall, allow_downgrade
            )
            if existing is None and target.exists():
                raise AlreadyInstalledError(
                    f"extensions/{ext_id} exists but was not installed by the "
                    "marketplace; remove it or run market_doctor",
                    details={"id": ext_id, "reason": "unmanaged_folder"},
                )
            if target.exists():
                moves.move(target, trash)
            fault_point("install.old_moved")
            moves.move(stage, target)
            fault_point("install.swapped")
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
            row.installed_at = timezone.now()
            row.save()
            record_event(
                LifecycleAction.INSTALL,
                ext_id,
                version=manifest.version,
                trust=level,
                sha256=info.sha256,
                actor=actor,
                detail={**action_detail, "source": source.kind},
            )
            fault_point("install.recorded")
            transaction.on_commit(lambda: shutil.rmtree(trash, ignore_errors=True))
    except BaseException:
        moves.undo()
        raise
    return row


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


# --- uninstall ------------------------------------------------------------------


def extension_uninstall(*, ext_id: Any, actor: Any = None) -> str:
    """Remove a marketplace-installed extension: folder, sidecar and row, or nothing."""
    label = ext_id if isinstance(ext_id, str) and _ID_RE.fullmatch(ext_id) else ""
    try:
        if not label:
            raise InvalidRequestError(
                "id must be an extension id (^[a-z][a-z0-9_.-]{2,63}$)",
                details={"id": ext_id if isinstance(ext_id, str) else None},
            )
        _swap_out(label, actor)
    except Exception as exc:
        record_error(LifecycleAction.UNINSTALL, label, exc, actor=actor)
        raise
    return label


def _swap_out(ext_id: str, actor: Any) -> None:
    target = extensions_dir() / ext_id
    trash = staging_dir() / f"trash-{ext_id}-{uuid.uuid4().hex}"
    moves = _Moves()
    try:
        with transaction.atomic():
            _lock_slot(ext_id)
            row = InstalledExtension.objects.filter(extension_id=ext_id).first()
            if row is None:
                raise NotInstalledError(
                    f"{ext_id} is not installed by the marketplace",
                    details={"id": ext_id},
                )
            if target.exists():
                _ensure(staging_dir())
                moves.move(target, trash)
            fault_point("uninstall.moved")
            version, level, sha = row.version, row.trust_level, row.package_sha256
            row.delete()
            record_event(
                LifecycleAction.UNINSTALL,
                ext_id,
                version=version,
                trust=level,
                sha256=sha,
                actor=actor,
            )
            fault_point("uninstall.recorded")
            transaction.on_commit(lambda: shutil.rmtree(trash, ignore_errors=True))
    except BaseException:
        moves.undo()
        raise


def installed_capabilities(row: InstalledExtension) -> dict[str, Any]:
    return capabilities(row.manifest)
