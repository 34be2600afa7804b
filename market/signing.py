"""Ed25519 catalogue signatures over ``manifest_sha256``.

A sha256 "signature" only proves integrity; an Ed25519 signature made with the
catalogue's private key proves a reviewer approved the bundle. The catalogue key lives
in ``MARKET_SIGNING_KEY_FILE`` (PEM, PKCS#8); more trusted public keys can be listed in
``MARKET_TRUSTED_KEYS`` as ``{key_id: base64 raw public key}``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from market.conf import market_conf
from market.errors import ConfigError


def key_id_for(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return "cvn-" + hashlib.sha256(raw).hexdigest()[:16]


def _key_path() -> Path:
    return market_conf().signing_key_file


def load_signing_key(*, create: bool = False) -> Ed25519PrivateKey | None:
    path = _key_path()
    if not path.exists():
        if not create:
            return None
        return _create_key(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable signing key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: the signing key must be an Ed25519 key")
    return key


def _create_key(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.replace(tmp, path)
    return key


def trusted_keys() -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    own = load_signing_key()
    if own is not None:
        keys[key_id_for(own.public_key())] = own.public_key()
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


def sign_digest(digest_hex: str) -> tuple[str, str]:
    """Sign a manifest digest with the catalogue key: ``(key_id, "ed25519:<b64>")``."""
    key = load_signing_key(create=True)
    assert key is not None
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
