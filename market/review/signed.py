"""Approval as verified: the catalogue signs the bundle and re-packs it.

The Ed25519 signature covers ``manifest_sha256`` of the manifest as shipped (trust
level, signer and time included), and that digest covers every other file through the
content record, so the signature vouches for every byte the reviewer saw.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Any

from django.core.files import File
from django.utils import timezone

from market import archive, packaging, signing
from market.clock import iso
from market.errors import ReviewError
from market.lifecycle import record_error
from market.manifest import manifest_json_bytes
from market.models import CatalogEntry, LifecycleAction
from market.review.state import check_reviewer, decide
from market.selectors import catalog_card
from market.services import archive_limits, local_package, server_allowlist


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


def approve_verified(entry: CatalogEntry, reviewer: Any) -> CatalogEntry:
    try:
        check_reviewer(entry, reviewer)
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
        approved = decide(
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
