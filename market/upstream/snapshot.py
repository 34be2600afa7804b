"""A central marketplace's signed snapshot, checked before anything of it is used.

Pure: no Django. The order of the checks is the order of trust: the document's
shape, a known key, its signature over the RFC 8785 form of ``snapshot``, then what
the signed document says (format, expiry, revision against the last accepted one)
and every entry's fields, including that each ``manifest_sha256`` is the digest of
the manifest it comes with.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
import semver
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from market.errors import (
    SnapshotExpiredError,
    SnapshotInvalidError,
    SnapshotRollbackError,
    SnapshotUntrustedError,
)
from market.manifest import ID_PATTERN, TRUST_LEVELS, manifest_sha256

FORMAT = 1
STATES = ("approved", "yanked", "delisted")
HEX64 = re.compile(r"[0-9a-f]{64}")
ID_RE = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class Snapshot:
    revision: int
    since: int | None
    origin: str
    key_id: str
    issued_at: datetime
    expires_at: datetime
    entries: list[dict[str, Any]]


def _invalid(message: str, **details: Any) -> SnapshotInvalidError:
    return SnapshotInvalidError(
        f"the upstream snapshot is not valid: {message}; nothing of it was stored",
        details=details,
    )


def parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise _invalid(f"{name} must be an ISO 8601 time", field=name)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(f"{name} must be an ISO 8601 time", field=name) from None
    if parsed.tzinfo is None:
        raise _invalid(f"{name} must carry its time zone", field=name)
    return parsed.astimezone(UTC)


def parse_document(body: bytes) -> tuple[dict[str, Any], bytes]:
    """``(snapshot, signature)`` of a response body; ``snapshot_invalid`` if the
    body is not a signed snapshot document."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("the response is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("snapshot"), dict):
        raise _invalid("the response holds no snapshot object")
    signature = doc.get("signature")
    if not isinstance(signature, str):
        raise _invalid("the response holds no signature")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("the signature is not base64") from None
    return doc["snapshot"], raw


def verify_signature(
    snapshot: dict[str, Any], signature: bytes, keys: Mapping[str, Ed25519PublicKey]
) -> str:
    """The key id that signed ``snapshot``: ``snapshot_untrusted`` when its key is
    not one of ``keys``, ``snapshot_invalid`` when the signature does not verify."""
    key_id = snapshot.get("key_id")
    if not isinstance(key_id, str) or key_id not in keys:
        raise SnapshotUntrustedError(
            "the upstream snapshot is signed by a key this server neither pins "
            "(MARKET_UPSTREAM_KEYS) nor accepted by rotation; nothing of it was stored",
            details={"key_id": key_id if isinstance(key_id, str) else None},
        )
    try:
        message = rfc8785.dumps(snapshot)
    except Exception:  # anything rfc8785 cannot encode is malformed
        raise _invalid("the snapshot cannot be put in RFC 8785 form") from None
    try:
        keys[key_id].verify(signature, message)
    except InvalidSignature:
        raise _invalid(
            "its signature does not verify with the key it names", key_id=key_id
        ) from None
    return key_id


def check_snapshot(
    snapshot: dict[str, Any],
    *,
    key_id: str,
    now: datetime,
    last_revision: int | None,
    asked_since: int | None,
    entry_keys: Mapping[str, Ed25519PublicKey],
) -> Snapshot:
    """The signed ``snapshot``'s content, checked; raises the refusal's error."""
    if snapshot.get("format") != FORMAT:
        raise _invalid(f"format must be {FORMAT}", format=snapshot.get("format"))
    revision = snapshot.get("revision")
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise _invalid("revision must be a whole number", field="revision")
    since = snapshot.get("since")
    if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
        raise _invalid("since must be a whole number or null", field="since")
    issued_at = parse_time(snapshot.get("issued_at"), "issued_at")
    expires_at = parse_time(snapshot.get("expires_at"), "expires_at")
    if expires_at <= now:
        raise SnapshotExpiredError(
            "the upstream snapshot expired at "
            f"{snapshot.get('expires_at')}; a stale (frozen) catalogue is not "
            "accepted, nothing of it was stored",
            details={"expires_at": snapshot.get("expires_at"), "revision": revision},
        )
    if last_revision is not None and revision < last_revision:
        raise SnapshotRollbackError(
            f"the upstream snapshot has revision {revision}, older than revision "
            f"{last_revision} accepted before (a replayed snapshot); nothing of it "
            "was stored",
            details={"revision": revision, "accepted": last_revision},
        )
    if since is not None and since != asked_since:
        raise _invalid(
            "it answers changes since another revision than asked",
            since=since,
            asked=asked_since,
        )
    if since is not None and since > revision:
        raise _invalid("since is after its revision", since=since)
    entries = snapshot.get("entries")
    if not isinstance(entries, list):
        raise _invalid("entries must be a list", field="entries")
    seen: set[tuple[str, str]] = set()
    checked = []
    for index, entry in enumerate(entries):
        item = check_entry(entry, index, entry_keys)
        pair = (item["id"], item["version"])
        if pair in seen:
            raise _invalid("an id and version is listed twice", index=index)
        seen.add(pair)
        checked.append(item)
    origin = snapshot.get("origin")
    return Snapshot(
        revision=revision,
        since=since,
        origin=origin if isinstance(origin, str) else "",
        key_id=key_id,
        issued_at=issued_at,
        expires_at=expires_at,
        entries=checked,
    )


def _text(entry: dict[str, Any], name: str, index: int, *, null: bool = False) -> Any:
    value = entry.get(name)
    if value is None and null:
        return None
    if not isinstance(value, str):
        raise _invalid(f"entries[{index}].{name} must be text", index=index)
    return value


def check_entry(
    entry: Any, index: int, keys: Mapping[str, Ed25519PublicKey]
) -> dict[str, Any]:
    """One entry's fields, checked; ``signature_key`` is the upstream key whose
    Ed25519 signature over ``manifest_sha256`` verifies (None: unverified here)."""
    if not isinstance(entry, dict):
        raise _invalid(f"entries[{index}] must be an object", index=index)
    ext_id = _text(entry, "id", index)
    version = _text(entry, "version", index)
    if not ID_RE.fullmatch(ext_id):
        raise _invalid(f"entries[{index}].id is not an extension id", index=index)
    try:
        semver.Version.parse(version)
    except ValueError:
        raise _invalid(f"entries[{index}].version is not semver", index=index) from None
    state = entry.get("state")
    if state not in STATES:
        raise _invalid(f"entries[{index}].state is not one of {STATES}", index=index)
    trust = entry.get("trust")
    if trust not in TRUST_LEVELS:
        raise _invalid(f"entries[{index}].trust is not a trust level", index=index)
    for name in ("package_sha256", "manifest_sha256"):
        if not HEX64.fullmatch(_text(entry, name, index)):
            raise _invalid(f"entries[{index}].{name} is not a sha256", index=index)
    size = entry.get("package_size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise _invalid(f"entries[{index}].package_size must be above 0", index=index)
    manifest = entry.get("manifest")
    if not isinstance(manifest, dict):
        raise _invalid(f"entries[{index}].manifest must be an object", index=index)
    if manifest.get("id") != ext_id or manifest.get("version") != version:
        raise _invalid(
            f"entries[{index}].manifest is not the manifest of {ext_id} {version}",
            index=index,
        )
    if manifest_sha256(manifest) != entry["manifest_sha256"]:
        raise _invalid(
            f"entries[{index}].manifest_sha256 is not the digest of its manifest",
            index=index,
            id=ext_id,
            version=version,
        )
    approved_at = parse_time(entry.get("approved_at"), f"entries[{index}].approved_at")
    state_at = entry.get("state_at")
    state_time = (
        parse_time(state_at, f"entries[{index}].state_at") if state_at else None
    )
    authors = entry.get("authors", [])
    if not isinstance(authors, list):
        raise _invalid(f"entries[{index}].authors must be a list", index=index)
    signature = _text(entry, "signature", index, null=True)
    signature_key = None
    if trust == "verified" and signature:
        signature_key = verify_entry_signature(
            entry["manifest_sha256"], signature, manifest, keys
        )
    return {
        "id": ext_id,
        "version": version,
        "name": _text(entry, "name", index),
        "summary": _text(entry, "summary", index, null=True) or "",
        "authors": authors,
        "trust": trust,
        "state": state,
        "reason": _text(entry, "reason", index, null=True) or "",
        "state_at": state_time,
        "approved_at": approved_at,
        "manifest": manifest,
        "manifest_sha256": entry["manifest_sha256"],
        "package_sha256": entry["package_sha256"],
        "package_size": size,
        "signature": signature,
        "signature_key": signature_key,
    }


def verify_entry_signature(
    digest: str,
    signature: str,
    manifest: dict[str, Any],
    keys: Mapping[str, Ed25519PublicKey],
) -> str | None:
    """The upstream key whose ``ed25519:<base64>`` signature over ``digest``
    verifies, or None."""
    algorithm, _, encoded = signature.partition(":")
    if algorithm != "ed25519":
        return None
    try:
        raw = base64.b64decode(encoded, validate=True)
        message = bytes.fromhex(digest)
    except (binascii.Error, ValueError):
        return None
    trust = manifest.get("trust")
    signed_by = trust.get("signed_by") if isinstance(trust, dict) else None
    candidates = [str(signed_by)] if signed_by in keys else list(keys)
    for key_id in candidates:
        try:
            keys[key_id].verify(raw, message)
        except InvalidSignature:
            continue
        return str(key_id)
    return None


def now_utc() -> datetime:
    return datetime.now(UTC)
