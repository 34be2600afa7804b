"""Ed25519 catalogue signatures over ``manifest_sha256``, and the catalogue's keys.

A sha256 "signature" only proves integrity; an Ed25519 signature made with the
catalogue's private key proves a reviewer approved the bundle. The catalogue key lives
in ``MARKET_SIGNING_KEY_FILE`` (PEM, PKCS#8) and is made on purpose, never as a side
effect of an approval (``manage.py market_keys create``): hosts that each made their
own key on first use would sign with keys nobody publishes.

Rotation (``market_keys rotate``) files the old public key under
``<key file>.retired/<key id>.pem`` before the new private key replaces the old one,
so every signature ever handed out still verifies against a key ``GET keys`` lists.

The keys also form a chain that studios follow (``GET snapshot/keys``): ``create``
records the first key (signed by nobody) and each rotation records the new public
key signed by the key it replaces, over RFC 8785 of ``{key_id, public_key}``, in
``<key file>.chain/<key id>.json`` before the swap. A studio that pinned one key can
so accept its successor, and only it.
More trusted public keys can be listed in ``MARKET_TRUSTED_KEYS`` as
``{key_id: base64 raw public key}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from market.clock import iso
from market.conf import market_conf
from market.durable import atomic_write_bytes, ensure_dir
from market.errors import ConfigError, SigningKeyExistsError, SigningKeyMissingError

try:  # POSIX; on Windows rotations are not serialised against each other
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

KEY_MODE = 0o600
CREATE_HINT = "create it on purpose with `manage.py market_keys create`"


def key_id_for(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return "cvn-" + hashlib.sha256(raw).hexdigest()[:16]


def key_path() -> Path:
    return market_conf().signing_key_file


def retired_dir() -> Path:
    """Where rotation files the public keys it retired, one ``<key id>.pem`` each."""
    path = key_path()
    return path.with_name(path.name + ".retired")


def chain_dir() -> Path:
    """Where the key chain's records live, one ``<key id>.json`` per key."""
    path = key_path()
    return path.with_name(path.name + ".chain")


def load_signing_key() -> Ed25519PrivateKey | None:
    """The catalogue's private key, or None when there is none (never created)."""
    path = key_path()
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: unreadable signing key: {exc}") from exc
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise ConfigError(f"{path}: unreadable signing key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: the signing key must be an Ed25519 key")
    return key


def require_signing_key() -> Ed25519PrivateKey:
    """The catalogue's private key; ``signing_key_missing`` when there is none."""
    key = load_signing_key()
    if key is None:
        raise SigningKeyMissingError(
            f"the catalogue has no signing key, so nothing can be approved as "
            f"verified; {CREATE_HINT}"
        )
    return key


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def create_signing_key() -> str:
    """Make the catalogue key (mode 0600, written durably); its key id.

    Exclusive: an existing key is never replaced, and of processes creating it at
    once exactly one succeeds; the others get ``signing_key_exists``.
    """
    path = key_path()
    key = Ed25519PrivateKey.generate()
    ensure_dir(path.parent)
    try:
        atomic_write_bytes(path, _private_pem(key), mode=KEY_MODE, exclusive=True)
    except FileExistsError as exc:
        raise SigningKeyExistsError(
            "the catalogue already has a signing key; it is never overwritten "
            "(`market_keys rotate` replaces it and keeps its public key published)",
            details={"key_id": _existing_key_id()},
        ) from exc
    _write_chain_record(key.public_key(), None, _now())
    return key_id_for(key.public_key())


def _existing_key_id() -> str | None:
    try:
        key = load_signing_key()
    except ConfigError:
        return None
    return key_id_for(key.public_key()) if key is not None else None


@contextmanager
def _rotation_lock() -> Iterator[None]:
    path = key_path()
    ensure_dir(path.parent)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, KEY_MODE)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def rotate_signing_key() -> tuple[str, str]:
    """Replace the catalogue key with a new one: ``(old key id, new key id)``.

    The old public key is filed (durably) among the retired keys first, so at no
    point is a key that signed something missing from :func:`trusted_keys`. Rotations
    are serialised by a lock file beside the key.
    """
    with _rotation_lock():
        old = require_signing_key()
        old_id = key_id_for(old.public_key())
        # A key made before the chain was kept becomes its first link.
        _write_chain_record(old.public_key(), None, _key_file_time())
        retired = ensure_dir(retired_dir())
        # FileExistsError: filed by an earlier rotation that stopped before the swap.
        with suppress(FileExistsError):
            atomic_write_bytes(
                retired / f"{old_id}.pem",
                _public_pem(old.public_key()),
                exclusive=True,
            )
        new = Ed25519PrivateKey.generate()
        # Recorded before the swap: the key that signs snapshots is always in the
        # chain. A record whose key never took over is left out of it (key_chain).
        _write_chain_record(new.public_key(), old, _now())
        atomic_write_bytes(key_path(), _private_pem(new), mode=KEY_MODE)
    return old_id, key_id_for(new.public_key())


def retired_keys() -> dict[str, Ed25519PublicKey]:
    """Public keys replaced by rotations, by key id."""
    folder = retired_dir()
    keys: dict[str, Ed25519PublicKey] = {}
    if not folder.is_dir():
        return keys
    for path in sorted(folder.glob("cvn-*.pem")):
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable retired key: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"{path}: a retired key must be an Ed25519 key")
        keys[key_id_for(key)] = key
    return keys


def trusted_keys() -> dict[str, Ed25519PublicKey]:
    """Every key whose signature proves ``verified``: the current catalogue key,
    the keys it replaced, and ``MARKET_TRUSTED_KEYS``."""
    keys: dict[str, Ed25519PublicKey] = {}
    own = load_signing_key()
    if own is not None:
        keys[key_id_for(own.public_key())] = own.public_key()
    for key_id, key in retired_keys().items():
        keys.setdefault(key_id, key)
    keys.update(market_conf().trusted_keys)
    return keys


def public_keys_payload() -> list[dict[str, str]]:
    return [
        {
            "key_id": key_id,
            "algorithm": "ed25519",
            "public_key": base64.b64encode(
                key.public_bytes(
                    serialization.Encoding.Raw, serialization.PublicFormat.Raw
                )
            ).decode("ascii"),
        }
        for key_id, key in sorted(trusted_keys().items())
    ]


def sign_digest(digest_hex: str, key: Ed25519PrivateKey) -> tuple[str, str]:
    """Sign a manifest digest with ``key``: ``(key_id, "ed25519:<b64>")``."""
    signature = key.sign(bytes.fromhex(digest_hex))
    return key_id_for(key.public_key()), "ed25519:" + base64.b64encode(
        signature
    ).decode("ascii")


def verify_digest(
    digest_hex: str, signature: bytes, signed_by: str | None
) -> str | None:
    """The id of the trusted key that signed ``digest_hex``, or None."""
    keys = trusted_keys()
    candidates = [signed_by] if signed_by in keys else list(keys)
    for key_id in candidates:
        try:
            keys[key_id].verify(signature, bytes.fromhex(digest_hex))
        except InvalidSignature:
            continue
        return key_id
    return None


# The key chain (``GET snapshot/keys``).


def raw_public_key(key: Ed25519PublicKey) -> str:
    """The base64 of the raw 32-byte public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def link_message(key_id: str, public_key: str) -> bytes:
    """What the previous key signs for its successor: RFC 8785 of the pair."""
    return bytes(rfc8785.dumps({"key_id": key_id, "public_key": public_key}))


def _now() -> str:
    return str(iso(datetime.now(UTC).replace(microsecond=0)))


def _key_file_time() -> str:
    try:
        moment = datetime.fromtimestamp(key_path().stat().st_mtime, UTC)
    except OSError:
        return _now()
    return str(iso(moment.replace(microsecond=0)))


def _chain_record(
    key: Ed25519PublicKey, signer: Ed25519PrivateKey | None, created_at: str
) -> dict[str, Any]:
    key_id, public_key = key_id_for(key), raw_public_key(key)
    signature = None
    if signer is not None:
        signature = base64.b64encode(
            signer.sign(link_message(key_id, public_key))
        ).decode("ascii")
    return {
        "key_id": key_id,
        "public_key": public_key,
        "created_at": created_at,
        "signed_by": key_id_for(signer.public_key()) if signer else None,
        "signature": signature,
    }


def _write_chain_record(
    key: Ed25519PublicKey, signer: Ed25519PrivateKey | None, created_at: str
) -> None:
    """File the key's record durably; an existing record is kept as it is."""
    record = _chain_record(key, signer, created_at)
    folder = ensure_dir(chain_dir())
    with suppress(FileExistsError):
        atomic_write_bytes(
            folder / f"{record['key_id']}.json",
            json.dumps(record, indent=2, sort_keys=True).encode() + b"\n",
            exclusive=True,
        )


def _read_chain_records() -> dict[str, dict[str, Any]]:
    folder = chain_dir()
    records: dict[str, dict[str, Any]] = {}
    if not folder.is_dir():
        return records
    for path in sorted(folder.glob("cvn-*.json")):
        try:
            record = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable key chain record: {exc}") from exc
        if not isinstance(record, dict) or record.get("key_id") != path.stem:
            raise ConfigError(f"{path}: not a key chain record")
        records[path.stem] = record
    return records


def key_chain() -> list[dict[str, Any]]:
    """The catalogue's keys in the order they signed, oldest first; each but the
    first signed by the one before it.

    Only keys that were in service (the current key and the retired ones) are
    listed: a record written by a rotation that stopped before its swap is not.
    A key made before the chain was kept is listed as the first, unsigned.
    """
    current = load_signing_key()
    in_service = set(retired_keys())
    if current is not None:
        in_service.add(key_id_for(current.public_key()))
    records = {k: r for k, r in _read_chain_records().items() if k in in_service}
    if current is not None and not records:
        records[key_id_for(current.public_key())] = _chain_record(
            current.public_key(), None, _key_file_time()
        )
    successor = {r["signed_by"]: r for r in records.values() if r["signed_by"]}
    roots = sorted(
        (r for r in records.values() if r["signed_by"] is None),
        key=lambda r: (r["created_at"], r["key_id"]),
    )
    chain: list[dict[str, Any]] = []
    for root in roots:
        link: dict[str, Any] | None = root
        while link is not None and link not in chain:
            chain.append(link)
            link = successor.get(link["key_id"])
    return chain
