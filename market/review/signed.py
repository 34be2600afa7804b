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

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.files import File
from django.utils import timezone

from market import archive, packaging, signing
from market.clock import iso
from market.errors import ReviewError
from market.manifest import manifest_json_bytes
from market.models import CatalogEntry
from market.services import (
    archive_limits,
    local_package,
    server_allowlist,
    stored_bundle_mismatch,
)


def _write_manifest(tree: Path, data: dict[str, Any]) -> None:
    for name in ("manifest.json", "extension.json"):
        (tree / name).unlink(missing_ok=True)
    (tree / "manifest.json").write_bytes(manifest_json_bytes(data))


def sign_and_repack(
    entry: CatalogEntry, out_dir: Path, key: Ed25519PrivateKey
) -> packaging.PackageResult:
    """The entry's bundle, re-packed with an Ed25519 catalogue signature by ``key``.

    Only the bytes the reviewer saw are signed: the stored bundle is extracted, and
    refused (``content_mismatch``) unless the bytes extracted hash to the entry's
    ``package_sha256``. The signature covers ``manifest_sha256`` of the manifest as
    it will be shipped (trust level, signer and time included; the signature itself
    excluded), and that digest covers every other file through the content record.
    Re-packing is deterministic, and must keep exactly the files the reviewer saw.
    """
    key_id = signing.key_id_for(key.public_key())
    with tempfile.TemporaryDirectory(prefix="cvnext-sign-") as tmp:
        tree = Path(tmp) / "tree"
        with local_package(entry) as bundle:
            info = archive.extract_bundle(bundle, tree, limits=archive_limits())
        if info.sha256 != entry.package_sha256:
            raise stored_bundle_mismatch(entry, info.sha256)
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
        _, signature = signing.sign_digest(unsigned.manifest_sha256, key)
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


def store_signed(entry: CatalogEntry, key: Ed25519PrivateKey) -> dict[str, Any]:
    """Sign and re-pack the entry's bundle, store it; the entry's new column values.

    The caller owns the stored file (``package``): it deletes it if the decision
    does not commit, and the submitted bundle once it does.
    """
    with tempfile.TemporaryDirectory(prefix="cvnext-signed-") as tmp:
        signed = sign_and_repack(entry, Path(tmp), key)
        stem = f"{signed.path.stem}-{signed.sha256[:12]}"
        with signed.path.open("rb") as fh:
            stored = entry.package.storage.save(
                f"bundles/{entry.extension_id}/{stem}.cvnext", File(fh)
            )
    return {
        "trust_level": CatalogEntry.Trust.VERIFIED,
        "package": stored,
        "package_sha256": signed.sha256,
        "package_size": signed.bytes,
        "manifest": signed.manifest.data,
        "manifest_sha256": signed.manifest_sha256,
        "report": {**entry.report, "submitted_sha256": entry.package_sha256},
    }
