"""What the packager reports: :class:`PackageResult` and bundle-file digests.

``format_text`` is the spec's four-line block printed by ``manage.py package``;
``as_dict`` is the same as one JSON object (``--json``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from market.errors import PackagingError
from market.manifest import Manifest

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class PackageResult:
    """What the packager wrote: the bundle, its digests and the manifest inside it."""

    path: Path
    files: int
    bytes: int
    sha256: str
    manifest: Manifest
    manifest_sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "path": str(self.path),
            "files": self.files,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "manifest": {
                "id": self.manifest.id,
                "version": self.manifest.version,
                "trust": self.manifest.trust_level,
            },
            "manifest_sha256": self.manifest_sha256,
            "content": self.manifest.data.get("content"),
            "warnings": [w.as_dict() for w in self.manifest.warnings],
        }

    def format_text(self) -> str:
        return (
            f"[ok] created {self.path}\n"
            f"      files={self.files} bytes={self.bytes} sha256={self.sha256}\n"
            f"      manifest id={self.manifest.id} version={self.manifest.version}\n"
            f"      trust={self.manifest.trust_level} "
            f"manifest_sha256={self.manifest_sha256}"
        )


def file_digest(path: str | Path) -> tuple[str, int]:
    """The SHA-256 (hex) and size of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise PackagingError(
            f"cannot read {path}: {exc.strerror or exc}", details={"path": str(path)}
        ) from exc
    return digest.hexdigest(), size


__all__ = ["PackageResult", "file_digest"]
