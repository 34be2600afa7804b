"""The signed catalogue snapshot studio servers sync from (``GET snapshot``), format 1.

The document lists every version of every id that was ever approved (approved,
yanked or delisted: ids are never deleted), with what a studio needs to show and
install it: the manifest as stored, its digests, the bundle's size and signature.
It names the catalogue revision it was read at, when it was issued and when it
expires, and is signed with the catalogue's Ed25519 key over its RFC 8785 form, so a
studio that pinned the key can refuse a changed, replayed (older revision) or frozen
(expired) copy.

``since=R`` lists only the ids whose published state changed after revision R
(every version of such an id), read through ``CatalogEntry.changed_revision``, which
the change sets in the transaction that bumps the revision
(:func:`market.revision.stamp_changed`).

The revision is read before the entries: a change that commits in between is then
sent under the older revision too, and sent again by the next ``since=``, never
missed. A full signed document is built once per revision, origin and key, and kept
gzip-compressed in the configured cache for at most half its lifetime, so every
copy served has most of its validity left; while one worker builds it, the others
wait for its result (a short lock in the cache) instead of building it again.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785
import semver
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.cache import cache

from market import revision, signing
from market.clock import iso
from market.conf import market_conf
from market.errors import InvalidRequestError
from market.models import CatalogEntry

SNAPSHOT_FORMAT = 1
Status = CatalogEntry.Status
PUBLISHED = (Status.APPROVED, Status.YANKED, Status.DELISTED)
KEY_PREFIX = "market:snapshot"
CACHE_TIMEOUT_MAX = 24 * 3600
BUILD_LOCK_TIMEOUT = 60
WAIT_FOR_BUILD = 30.0
_POLL = 0.02
GZIP_LEVEL = 6
SIGNATURE_HEADER = "X-Market-Signature"

_COLUMNS = (
    "extension_id",
    "version",
    "name",
    "summary",
    "authors",
    "trust_level",
    "status",
    "review_reason",
    "reviewed_at",
    "approved_at",
    "manifest",
    "manifest_sha256",
    "package_sha256",
    "package_size",
)


@dataclass(frozen=True)
class SignedSnapshot:
    """A snapshot as served: the gzip-compressed body and the signature header."""

    body_gz: bytes
    header: str
    revision: int

    @property
    def body(self) -> bytes:
        return gzip.decompress(self.body_gz)


def parse_since(value: str | None, current: int) -> int | None:
    """``?since=``: a whole number from 0 to the current revision, or None."""
    if value is None:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise InvalidRequestError(
            "since must be a catalogue revision: a whole number from 0",
            details={"since": value[:40], "revision": current},
        )
    since = int(text)
    if since > current:
        raise InvalidRequestError(
            f"since={since} is ahead of the catalogue's revision {current}",
            details={"since": since, "revision": current},
        )
    return since


def _signature(manifest: Any, trust: str) -> str | None:
    if trust != CatalogEntry.Trust.VERIFIED or not isinstance(manifest, dict):
        return None
    value = (manifest.get("trust") or {}).get("signature")
    return value if isinstance(value, str) else None


def _entry(row: tuple[Any, ...]) -> dict[str, Any]:
    (
        ext_id,
        version,
        name,
        summary,
        authors,
        trust,
        status,
        reason,
        reviewed_at,
        approved_at,
        manifest,
        manifest_sha256,
        package_sha256,
        package_size,
    ) = row
    withdrawn = status != Status.APPROVED
    return {
        "id": ext_id,
        "version": version,
        "name": name,
        "summary": summary,
        "authors": list(authors or []),
        "trust": trust,
        "state": status,
        "reason": (reason or None) if withdrawn else None,
        "state_at": iso(reviewed_at) if withdrawn else None,
        "manifest": manifest,
        "manifest_sha256": manifest_sha256,
        "package_sha256": package_sha256,
        "package_size": package_size,
        "signature": _signature(manifest, trust),
        "approved_at": iso(approved_at or reviewed_at),
    }


def _order(entry: dict[str, Any]) -> tuple[str, semver.Version]:
    return entry["id"], semver.Version.parse(entry["version"])


def snapshot_entries(*, since: int | None) -> list[dict[str, Any]]:
    """The published entries (of the ids changed after ``since``), in one query,
    sorted by id and version precedence."""
    # Sorted here, by SemVer precedence, which SQL can't.
    # Only what was reviewed here: a studio never republishes its upstream rows.
    rows = CatalogEntry.objects.filter(
        status__in=PUBLISHED, source=CatalogEntry.Source.LOCAL
    ).order_by()
    if since is not None:
        changed = (
            CatalogEntry.objects.filter(changed_revision__gt=since)
            .order_by()
            .values("extension_id")
        )
        rows = rows.filter(extension_id__in=changed)
    entries = [_entry(row) for row in rows.values_list(*_COLUMNS).iterator(2000)]
    entries.sort(key=_order)
    return entries


def build_snapshot(
    *,
    number: int,
    since: int | None,
    origin: str,
    key: Ed25519PrivateKey,
    now: datetime,
) -> tuple[dict[str, Any], bytes]:
    """The ``snapshot`` object and its RFC 8785 bytes (what is signed)."""
    issued = now.astimezone(UTC).replace(microsecond=0)
    snapshot: dict[str, Any] = {
        "format": SNAPSHOT_FORMAT,
        "origin": origin,
        "revision": number,
        "since": since,
        "issued_at": iso(issued),
        "expires_at": iso(issued + timedelta(seconds=market_conf().snapshot_ttl)),
        "key_id": signing.key_id_for(key.public_key()),
        "entries": snapshot_entries(since=since),
        "removed": [],
    }
    return snapshot, bytes(rfc8785.dumps(snapshot))


def sign(canonical: bytes, key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.sign(canonical)).decode("ascii")


def signed_snapshot(*, since: str | None, origin: str) -> SignedSnapshot:
    """The signed document for ``?since=`` (raw text, or None for the full one).

    ``signing_key_missing`` without a catalogue key, ``invalid_request`` for a
    ``since`` that is not a revision up to the current one.
    """
    key = signing.require_signing_key()
    origin = market_conf().snapshot_origin or origin
    current = revision.current()  # first: see the module's docstring
    after = parse_since(since, current.number)
    if after is not None:
        return _signed(current.number, after, origin, key)
    ttl = market_conf().snapshot_ttl
    key_id = signing.key_id_for(key.public_key())
    variant = f"{SNAPSHOT_FORMAT}\n{origin}\n{key_id}\n{ttl}"
    digest = hashlib.sha256(variant.encode()).hexdigest()[:16]
    cache_key = f"{KEY_PREFIX}:{current.tag}:{digest}"
    cached = _cached(cache_key)
    if cached is not None:
        return cached
    lock = f"{cache_key}:building"
    owner = cache.add(lock, 1, timeout=BUILD_LOCK_TIMEOUT)
    if not owner:
        # Another worker is building this revision: wait for its result rather
        # than build the same document again.
        deadline = time.monotonic() + WAIT_FOR_BUILD
        while time.monotonic() < deadline:
            time.sleep(_POLL)
            cached = _cached(cache_key)
            if cached is not None:
                return cached
            if cache.get(lock) is None:
                # The builder finished between the two reads (or gave up): its
                # result is in the cache now, unless it failed.
                cached = _cached(cache_key)
                if cached is not None:
                    return cached
                break
    try:
        result = _signed(current.number, None, origin, key)
        timeout = max(1, min(CACHE_TIMEOUT_MAX, ttl // 2))
        cache.set(cache_key, (result.body_gz, result.header, result.revision), timeout)
    finally:
        if owner:
            cache.delete(lock)
    return result


def _cached(cache_key: str) -> SignedSnapshot | None:
    value = cache.get(cache_key)
    return None if value is None else SignedSnapshot(*value)


def _signed(
    number: int, since: int | None, origin: str, key: Ed25519PrivateKey
) -> SignedSnapshot:
    _, canonical = build_snapshot(
        number=number, since=since, origin=origin, key=key, now=datetime.now(UTC)
    )
    signature = sign(canonical, key)
    body = b'{"ok":true,"snapshot":%s,"signature":"%s"}' % (
        canonical,
        signature.encode("ascii"),
    )
    return SignedSnapshot(
        gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0),
        f"{signing.key_id_for(key.public_key())}:{signature}",
        number,
    )
