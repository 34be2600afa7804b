"""Shared pieces of the lifecycle services: folders, limits, the slot lock, renames.

The order of a swap, and why a crash at any point is safe
(:func:`locked_swap`; install adds steps 1-2, uninstall skips 5):

1. the bundle is extracted into ``staging/install-<uuid>``, every file flushed as it
   is written, then every folder (:class:`market.durable.TreeSync`);
2. the sidecar is written there and flushed (temp file, link, folder flush);
3. the transaction opens and takes the id's slot lock;
4. the installed folder, if any, is renamed to ``staging/trash-<id>-<uuid>`` and
   both folders are flushed;
5. the staged folder is renamed to ``extensions/<id>`` and both folders flushed;
6. the row changes and the event is recorded, and the transaction commits: after
   the last flush, so the database never claims files that are not on disk;
7. once committed, the trash folder is deleted (not flushed: if a crash brings it
   back, ``market_doctor`` removes it as an orphan).

A failure before 6 rolls the transaction back and renames everything back. A crash
before 6 leaves the old row with the new folder in place and the old one in the trash
(``market_doctor`` restores it: ``interrupted_swap``), or a sidecar folder without a
row (removed: ``folder_without_row``), or staging leftovers (removed). A crash after
6 leaves only a trash folder. Deletions are never done in place: a folder is first
renamed out of ``extensions/`` (durably), so a half-deleted folder is never taken
for an install.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import OperationalError, connection, transaction

from market import archive, sandbox
from market.conf import market_conf
from market.durable import ensure_dir, fsync_dir, fsync_renamed, replace_durably
from market.errors import InstallInProgressError
from market.manifest import ID_PATTERN, MAX_WARNINGS
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


def bundle_warnings(info: archive.BundleInfo) -> tuple[list[dict[str, Any]], int]:
    """A bundle's warnings as stored and served: the first MAX_WARNINGS, and how
    many there are in all (a manifest may repeat one oddity thousands of times)."""
    listed = [w.as_dict() for w in info.warnings[:MAX_WARNINGS]]
    extra = len(info.warnings) - len(info.manifest.warnings)
    return listed, info.manifest.warning_count + extra


def ensure(path: Path) -> Path:
    """The folder, created if missing, its new entries flushed to disk."""
    return ensure_dir(path)


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
    # PostgreSQL's lock_not_available, and deadlock_detected: two writers that
    # lock several ids (a dependency plan, a cascade) in different orders.
    if getattr(cause, "sqlstate", None) in ("55P03", "40P01"):
        return True
    return "database is locked" in str(exc)  # SQLite's busy timeout


def delete_retired(folder: Path) -> None:
    """Delete a folder already moved out of ``extensions/``; never raises.

    Its sidecar goes first, flushed, so a crash midway never leaves a partial copy
    that ``market_doctor`` could take for an installed version and restore.
    """
    try:
        (folder / SIDECAR_NAME).unlink(missing_ok=True)
        fsync_dir(folder)
    except OSError:
        logger.warning("could not unmark retired folder %s", folder.name)
    shutil.rmtree(folder, ignore_errors=True)


class Moves:
    """Durable renames done inside a transaction, undone in reverse if it fails."""

    def __init__(self) -> None:
        self.done: list[tuple[Path, Path]] = []

    def move(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)
        self.done.append((src, dst))  # undone even if the flush below fails
        fsync_renamed(src, dst)

    def undo(self) -> None:
        for src, dst in reversed(self.done):
            try:
                replace_durably(dst, src)
            except OSError:
                logger.exception("could not undo move %s -> %s", src, dst)
        self.done.clear()


@dataclass
class Swap:
    """The folders of one locked install or uninstall, and the renames done so far."""

    target: Path
    trash: Path
    moves: Moves = field(default_factory=Moves)
    retired: bool = False

    def retire_current(self) -> None:
        """Move the installed folder (if any) aside; it is deleted after the commit."""
        if self.target.exists():
            ensure(self.trash.parent)
            self.moves.move(self.target, self.trash)
            self.retired = True


# The swaps of a multi-extension action (see :func:`swap_journal`), or None.
_JOURNAL: ContextVar[list[Swap] | None] = ContextVar("market_swaps", default=None)


@contextmanager
def swap_journal() -> Iterator[list[Swap]]:
    """Collect every swap that completes inside the block, in order.

    A plan that installs (or uninstalls) several extensions in one outer
    transaction undoes the collected swaps' renames if any later step fails
    (:func:`undo_swaps`); their trash is only deleted once the outer transaction
    commits.
    """
    token = _JOURNAL.set([])
    try:
        journal = _JOURNAL.get()
        assert journal is not None
        yield journal
    finally:
        _JOURNAL.reset(token)


def undo_swaps(swaps: list[Swap]) -> None:
    """Put back the folders of completed swaps, newest first; a folder staged for
    an install that is undone is removed (it was never committed)."""
    for swap in reversed(swaps):
        staged = [src for src, _ in swap.moves.done if src != swap.target]
        swap.moves.undo()
        for folder in staged:
            if folder.parent == swap.trash.parent and folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
    swaps.clear()


@contextmanager
def locked_swap(ext_id: str) -> Iterator[Swap]:
    """A transaction holding the id's slot lock, whose renames are undone on failure.

    Renames inside it are flushed before it commits; the retired folder is removed
    only once the transaction has committed, so a rollback (or a crash before the
    commit) can always put it back. See the module docstring for the whole order.
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
            if swap.retired:
                transaction.on_commit(lambda: delete_retired(trash))
        journal = _JOURNAL.get()
        if journal is not None:
            journal.append(swap)
    except BaseException as exc:
        swap.moves.undo()
        if is_lock_timeout(exc):
            raise InstallInProgressError(
                f"another install or uninstall of {ext_id} is still running; "
                "try again shortly",
                details={"id": ext_id},
            ) from exc
        raise
