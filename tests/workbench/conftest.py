"""Catalogue entries built from file dicts, and a reviewer's client."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from django.urls import reverse

from market import review
from tests.bundles import FILES, good_entries, write_zip

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def submit(db, tmp_path: Path):
    """Submit a bundle of ``files`` (manifest fields as keywords) as a pending entry."""
    counter = itertools.count()

    def make(files: dict[str, bytes] | None = None, **manifest: object):
        path = tmp_path / f"bundle{next(counter)}.cvnext"
        write_zip(path, good_entries(FILES if files is None else files, **manifest))
        return review.catalog_entry_submit(bundle_path=path)

    return make


@pytest.fixture
def reviewer(make_user):
    return make_user("reviewer", "market.review_catalogentry", staff=True)


@pytest.fixture
def rclient(client, reviewer):
    client.force_login(reviewer)
    return client


def url(name: str, entry, path: str | None = None) -> str:
    base = reverse(f"market-workbench:{name}", args=[entry.pk])
    if path is None:
        return base
    from urllib.parse import urlencode

    return f"{base}?{urlencode({'path': path})}"


def body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


CSP_PARTS = ("default-src 'none'", "frame-ancestors 'none'")


def assert_hardened(response) -> None:
    """The headers every workbench response carries, whatever its status."""
    assert response["X-Content-Type-Options"] == "nosniff"
    for part in CSP_PARTS:
        assert part in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
