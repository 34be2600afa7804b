"""Signatures: parsing ``trust.signature`` and checking a sha256 one.

A sha256 signature is checked here against ``manifest_sha256``; an Ed25519 one is
only parsed and labelled, since the trusted keys belong to the install service.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import hmac
import re

from market.errors import SignatureMismatchError, SignatureUnsupportedError
from market.manifest.normalise import Manifest

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _b64decode(text: str) -> bytes | None:
    # Standard and URL-safe alphabets, padding optional.
    normalised = text.replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        return base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_signature(value: str) -> tuple[str, bytes]:
    """``(algorithm, raw bytes)`` of a ``trust.signature``.

    ``sha256:<hex>``, 64 hex digits or base64 of 32 bytes -> ``("sha256", 32 bytes)``;
    ``ed25519:<base64>`` -> ``("ed25519", 64 bytes)``; anything else raises
    SignatureUnsupportedError.
    """
    if not isinstance(value, str) or not value.strip():
        raise SignatureUnsupportedError("the signature is empty or not a string")
    text = value.strip()
    algorithm, sep, payload = text.partition(":")
    algorithm = algorithm.lower()
    if sep:
        if algorithm == "sha256" and _HEX64.fullmatch(payload):
            return "sha256", bytes.fromhex(payload)
        if algorithm == "ed25519":
            raw = _b64decode(payload)
            if raw is not None and len(raw) == 64:
                return "ed25519", raw
            raise SignatureUnsupportedError(
                "an ed25519 signature must be base64 of 64 bytes",
                details={"algorithm": "ed25519"},
            )
        if algorithm == "sha256":
            raise SignatureUnsupportedError(
                "a sha256 signature must be 64 hex digits after 'sha256:'",
                details={"algorithm": "sha256"},
            )
        raise SignatureUnsupportedError(
            f"unsupported signature algorithm {algorithm[:32]!r}; "
            "use sha256 or ed25519",
            details={"algorithm": algorithm[:32]},
        )
    if _HEX64.fullmatch(text):
        return "sha256", bytes.fromhex(text)
    raw = _b64decode(text)
    if raw is not None and len(raw) == 32:
        return "sha256", raw
    raise SignatureUnsupportedError(
        "unrecognised signature: expected sha256:<hex>, 64 hex digits, base64 of "
        "32 bytes or ed25519:<base64>"
    )


def verify_digest_signature(manifest: Manifest) -> Manifest:
    """Check a sha256 ``trust.signature`` against ``manifest_sha256``.

    On a match the returned manifest has ``trust.signature_type = "sha256"``. An
    Ed25519 signature is only recorded as ``signature_type = "ed25519"``: whether a
    trusted key made it is for the install service, which holds the keys. Unsigned
    manifests come back unchanged.
    """
    trust = manifest.data.get("trust") or {}
    signature = trust.get("signature")
    if not signature:
        return manifest
    algorithm, raw = parse_signature(signature)
    if algorithm == "sha256":
        expected = manifest.digest()
        if not hmac.compare_digest(raw, bytes.fromhex(expected)):
            raise SignatureMismatchError(
                "trust.signature does not match the manifest digest",
                details={"expected": expected, "actual": raw.hex()},
            )
    if trust.get("signature_type") == algorithm:
        return manifest
    data = copy.deepcopy(manifest.data)
    data["trust"]["signature_type"] = algorithm
    return dataclasses.replace(manifest, data=data)
