"""Fixtures of the reference-server contract tests: a live server, a Studio client
holding a token, and the reference tests' sample bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.reference import SAMPLE_MANIFEST, Http, reference_bundle


@pytest.fixture
def studio(live_server, flags_on, installer) -> Http:
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=installer)
    return Http(live_server.url, token.key)


@pytest.fixture
def anonymous(live_server, flags_on) -> Http:
    return Http(live_server.url)


@pytest.fixture
def sample(package_dir: Path) -> Path:
    """The reference tests' sample bundle, inside ``MARKET_PACKAGE_DIRS``."""
    return reference_bundle(package_dir, SAMPLE_MANIFEST)
