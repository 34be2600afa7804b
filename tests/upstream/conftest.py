"""Fixtures of the studio-side tests: a stand-in central server and its key."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from market import signing
from tests.upstream.central import FakeCentral, public_b64


@pytest.fixture
def central_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def central(settings, central_key):
    fake = FakeCentral()
    settings.MARKET_UPSTREAM_URL = fake.url
    settings.MARKET_UPSTREAM_KEYS = {
        signing.key_id_for(central_key.public_key()): public_b64(central_key)
    }
    settings.MARKET_UPSTREAM_SYNC_AFTER = 0
    settings.MARKET_UPSTREAM_LIMITS = {"timeout": 5.0, "deadline": 3.0, "attempts": 2}
    yield fake
    fake.close()
