"""Shared pieces of the lifecycle services: folders, limits, the slot lock, renames."""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.db import OperationalError, connection, transaction

from market import archive, sandbox
from market.conf import market_conf
from market.errors import InstallInProgressError
from market.manifest import ID_PATTERN
from market.models import ExtensionSlot

logger = logging.getLogger(__name__)

SIDECAR_NAME = ".market.json"
ID_RE = re.compile(ID_PATTERN)


def extensions_dir() -> Path:
    return market_conf().extensions_dir


def staging_dir() -> Path:
    return market_conf().staging_dir


def archive_limits() -> archive.ArchiveLimits:
    return market_conf().archive_limits


def server_allowlist() -> sandbox.Allowlist:
    return market_conf().route_allowlist


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def lock_slot(ext_id: str) -> None:
    """Take the id's row lock, waiting at most ``MARKET_LOCK_TIMEOUT`` seconds."""
    if connection.vendor == "postgresql":
        timeout_ms = int(market_conf().lock_timeout * 1000)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true)", [f"{timeout_ms}ms"]
            )
    ExtensionSlot.objects.get_or_create(extension_id=ext_id)
    ExtensionSlot.objects.select_for_update().get(extension_id=ext_id)


def is_lock_timeout(exc: BaseException) -> bool:
    """A database error that means "another writer holds the lock", nothing worse."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == "55P03":  # PostgreSQL lock_not_available
        return True
    return "database is locked" in str(exc)  # SQLite's busy timeout


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


@dataclass
class Swap:
    """The folders of one locked install or uninstall, and the renames done so far."""

    target: Path
    trash: Path
    moves: Moves = field(default_factory=Moves)

    def retire_current(self) -> None:
        """Move the installed folder (if any) aside; it is deleted after the commit."""
        if self.target.exists():
            ensure(self.trash.parent)
            self.moves.move(self.target, self.trash)


@contextmanager
def locked_swap(ext_id: str) -> Iterator[Swap]:
    """A transaction holding the id's slot lock, whose renames are undone on failure.

    The retired folder is removed only once the transaction has committed, so a
    rollback (or a crash before the commit) can always put it back.
    """
    swap = Swap(
        target=ensure(extensions_dir()) / ext_id,
        trash=staging_dir() / f"trash-{ext_id}-{uuid.uuid4().hex}",
    )
    try:
        with transaction.atomic():
            lock_slot(ext_id)
            yield swap
            trash = swap.trash
            transaction.on_commit(lambda: shutil.rmtree(trash, ignore_errors=True))
    except BaseException as exc:
        swap.moves.undo()
        if is_lock_timeout(exc):
            raise InstallInProgressError(
                f"another install or uninstall of {ext_id} is still running; "
                "try again shortly",
                details={"id": ext_id},
            ) from exc
        raise
