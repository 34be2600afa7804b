"""Installing an upstream entry: its bundle downloaded into staging and checked
against the snapshot (size, then sha256) before the usual archive checks."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from market.conf import market_conf
from market.errors import (
    ContentMismatchError,
    LimitExceededError,
    SnapshotExpiredError,
    UpstreamNotConfiguredError,
)
from market.models import CatalogEntry
from market.services.common import ensure, staging_dir
from market.upstream import client, state


def bundle_url(entry: CatalogEntry) -> str:
    return (
        f"{market_conf().upstream_url}/api/market/catalog/"
        f"{quote(entry.extension_id, safe='')}/{quote(entry.version, safe='')}/bundle"
    )


def check_fresh() -> None:
    """Refuse (``snapshot_expired``, 409) once the last accepted snapshot expired:
    what it says may since have been yanked or delisted."""
    row = state.current()
    if state.snapshot_expired(row):
        assert row is not None
        raise SnapshotExpiredError(
            "the central marketplace's snapshot this catalogue came from expired at "
            f"{row.expires_at.isoformat() if row.expires_at else '?'}; sync "
            "(manage.py market_sync) before installing from it",
            details={
                "expires_at": row.expires_at.isoformat() if row.expires_at else None,
                "revision": row.revision,
            },
        )


def download_bundle(entry: CatalogEntry, *, transport: client.Transport = None) -> Path:
    """The entry's bundle in a private staging file (the caller removes it), its
    size and sha256 those of the snapshot; refused and removed otherwise."""
    if not state.configured():
        raise UpstreamNotConfiguredError(
            f"{entry.extension_id} {entry.version} comes from a central marketplace, "
            "but none is configured (MARKET_UPSTREAM_URL)",
            details={"id": entry.extension_id, "version": entry.version},
        )
    check_fresh()
    limit = min(
        market_conf().upstream_limits.max_bundle_bytes,
        market_conf().archive_limits.max_package_bytes,
    )
    if entry.package_size > limit:
        raise LimitExceededError(
            f"{entry.extension_id} {entry.version} is {entry.package_size} bytes; "
            f"this server downloads at most {limit}",
            details={
                "id": entry.extension_id,
                "size": entry.package_size,
                "limit": limit,
            },
        )
    fd, tmp = tempfile.mkstemp(suffix=".cvnext", dir=ensure(staging_dir()))
    os.close(fd)
    path = Path(tmp)
    try:
        # One byte past the snapshot's size is enough to know it is not that bundle.
        sha256, size = client.download(
            bundle_url(entry),
            path,
            max_bytes=entry.package_size,
            transport=transport,
        )
        if size != entry.package_size or sha256 != entry.package_sha256:
            raise ContentMismatchError(
                f"the bundle of {entry.extension_id} {entry.version} downloaded from "
                "the central marketplace is not the one its signed snapshot "
                "describes; nothing was installed",
                details={
                    "id": entry.extension_id,
                    "version": entry.version,
                    "expected_sha256": entry.package_sha256,
                    "sha256": sha256,
                    "expected_size": entry.package_size,
                    "size": size,
                },
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
