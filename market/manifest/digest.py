"""Digests: canonical JSON, the manifest digest, the content record, bundle bytes.

``manifest_sha256`` is what a sha256 ``trust.signature`` signs and what the
catalogue stores; ``canonical_json`` (RFC 8785) makes it the same in every language.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import rfc8785

# Keys a digest cannot cover: they are computed from it.
_UNDIGESTED_TRUST_KEYS = ("signature", "signature_type")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON: the same bytes in every language."""
    return rfc8785.dumps(value)


def manifest_sha256(data: dict) -> str:
    """Hex SHA-256 of the canonical manifest, without the fields derived from it."""
    digestible = dict(data)
    trust = digestible.get("trust")
    if isinstance(trust, dict):
        digestible["trust"] = {
            k: v for k, v in trust.items() if k not in _UNDIGESTED_TRUST_KEYS
        }
    return hashlib.sha256(canonical_json(digestible)).hexdigest()


def content_record(entries: Iterable[tuple[str, str, int]]) -> dict[str, Any]:
    """The ``content`` block for a bundle's files: ``(path, sha256 hex, size)`` each."""
    rows = sorted([str(path), str(sha), int(size)] for path, sha, size in entries)
    return {
        "sha256": hashlib.sha256(canonical_json(rows)).hexdigest(),
        "files": len(rows),
        "bytes": sum(row[2] for row in rows),
    }


def manifest_json_bytes(data: dict) -> bytes:
    """The manifest as written into a bundle: stable, readable, UTF-8."""
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    return (text + "\n").encode("utf-8")
