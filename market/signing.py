"""Ed25519 catalogue signatures over ``manifest_sha256``, and the catalogue's keys.

A sha256 "signature" only proves integrity; an Ed25519 signature made with the
catalogue's private key proves a reviewer approved the bundle. The catalogue key lives
in ``MARKET_SIGNING_KEY_FILE`` (PEM, PKCS#8) and is made on purpose, never as a side
effect of an approval (``manage.py market_keys create``): hosts that each made their
own key on first use would sign with keys nobody publishes.

Rotation (``market_keys rotate``) files the old public key under
``<key file>.retired/<key id>.pem`` before the new private key replaces the old one,
so every signature ever handed out still verifies against a key ``GET keys`` lists.
More trusted public keys can be listed in ``MARKET_TRUSTED_KEYS`` as
``{key_id: base64 raw public key}``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

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
        retired = ensure_dir(retired_dir())
        # FileExistsError: filed by an earlier rotation that stopped before the swap.
        with suppress(FileExistsError):
            atomic_write_bytes(
                retired / f"{old_id}.pem",
                _public_pem(old.public_key()),
                exclusive=True,
            )
        new = Ed25519PrivateKey.generate()
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
