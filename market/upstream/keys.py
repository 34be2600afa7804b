"""The central catalogue keys this server trusts: pinned in ``MARKET_UPSTREAM_KEYS``,
plus the keys accepted by rotation (:class:`market.models.UpstreamKey`).

A rotation is published at ``snapshot/keys``: each new key with an Ed25519
signature, by the key before it, over the RFC 8785 form of ``{key_id, public_key}``.
A key is accepted once, when that signature verifies with a key already trusted and
its key id is the one its public bytes give; it is recorded, and trusted from then on.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db import IntegrityError, transaction

from market.conf import market_conf
from market.models import UpstreamKey
from market.signing import key_id_for

logger = logging.getLogger(__name__)
MAX_KEYS_BYTES = 1024 * 1024


def upstream_keys() -> dict[str, Ed25519PublicKey]:
    """Pinned keys, then those accepted by rotation."""
    keys = dict(market_conf().upstream_keys)
    for row in UpstreamKey.objects.all():
        try:
            raw = base64.b64decode(row.public_key, validate=True)
            keys.setdefault(row.key_id, Ed25519PublicKey.from_public_bytes(raw))
        except (binascii.Error, ValueError):
            logger.error("accepted upstream key %s is unreadable", row.key_id)
    return keys


def _rotation(item: Any) -> tuple[str, str, bytes, str, bytes] | None:
    """``(key_id, public_key b64, raw, signed_by, signature)`` of a well-formed item."""
    if not isinstance(item, dict):
        return None
    key_id, public, signed_by, signature = (
        item.get("key_id"),
        item.get("public_key"),
        item.get("signed_by"),
        item.get("signature"),
    )
    if not (
        isinstance(key_id, str)
        and isinstance(public, str)
        and isinstance(signed_by, str)
        and isinstance(signature, str)
    ):
        return None
    try:
        raw = base64.b64decode(public, validate=True)
        sig = base64.b64decode(signature, validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        return None
    return key_id, public, raw, signed_by, sig


def accept_rotations(body: bytes) -> list[str]:
    """Accept the keys of a ``snapshot/keys`` body that chain to trusted ones; the
    key ids newly accepted. Items that do not verify are ignored."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    items = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return []
    parsed = [p for p in (_rotation(i) for i in items) if p is not None]
    trusted = upstream_keys()
    accepted: list[str] = []
    progress = True
    while progress:  # a chain of rotations: each new key may sign the next one
        progress = False
        for key_id, public, raw, signed_by, sig in parsed:
            if key_id in trusted or signed_by not in trusted:
                continue
            key = Ed25519PublicKey.from_public_bytes(raw)
            if key_id_for(key) != key_id:
                continue
            message = rfc8785.dumps({"key_id": key_id, "public_key": public})
            try:
                trusted[signed_by].verify(sig, message)
            except InvalidSignature:
                continue
            try:
                with transaction.atomic():
                    UpstreamKey.objects.create(
                        key_id=key_id, public_key=public, signed_by=signed_by
                    )
            except IntegrityError:
                pass  # accepted by a concurrent sync
            trusted[key_id] = key
            accepted.append(key_id)
            progress = True
    return accepted
