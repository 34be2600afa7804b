"""Shared pieces of the lifecycle services: folders, limits, the slot lock, renames."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from django.conf import settings

from market import archive, sandbox
from market.manifest import ID_PATTERN
from market.models import ExtensionSlot

logger = logging.getLogger(__name__)

SIDECAR_NAME = ".market.json"
ID_RE = re.compile(ID_PATTERN)


def extensions_dir() -> Path:
    return Path(settings.MARKET_ROOT) / "extensions"


def staging_dir() -> Path:
    return Path(settings.MARKET_ROOT) / "staging"


def archive_limits() -> archive.ArchiveLimits:
    return archive.ArchiveLimits(**settings.MARKET_ARCHIVE_LIMITS)


def server_allowlist() -> sandbox.Allowlist:
    extra = settings.MARKET_ROUTE_ALLOWLIST
    base = sandbox.default_allowlist()
    return base.merged(sandbox.parse_allowlist(extra)) if extra else base


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def lock_slot(ext_id: str) -> None:
    ExtensionSlot.objects.get_or_create(extension_id=ext_id)
    ExtensionSlot.objects.select_for_update().get(extension_id=ext_id)


class Moves:
    """Filesystem renames done inside a transaction, undone in reverse if it fails."""

    def __init__(self) -> None:
        self.done: list[tuple[Path, Path]] = []

    def move(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)
        self.done.append((src, dst))

    def undo(self) -> None:
        for src, dst in reversed(self.done):
            try:
                os.replace(dst, src)
            except OSError:
                logger.exception("could not undo move %s -> %s", src, dst)
        self.done.clear()
