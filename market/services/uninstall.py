"""Uninstall: folder, sidecar and row go together, or nothing does."""

from __future__ import annotations

import shutil
import uuid
from typing import Any

from django.db import transaction

from market import lifecycle
from market.errors import InvalidRequestError, NotInstalledError
from market.lifecycle import record_error, record_event
from market.models import InstalledExtension, LifecycleAction
from market.services.common import (
    ID_RE,
    Moves,
    ensure,
    extensions_dir,
    lock_slot,
    staging_dir,
)


def extension_uninstall(*, ext_id: Any, actor: Any = None) -> str:
    """Remove a marketplace-installed extension: folder, sidecar and row, or nothing."""
    label = ext_id if isinstance(ext_id, str) and ID_RE.fullmatch(ext_id) else ""
    try:
        if not label:
            raise InvalidRequestError(
                "id must be an extension id (^[a-z][a-z0-9_.-]{2,63}$)",
                details={"id": ext_id if isinstance(ext_id, str) else None},
            )
        _swap_out(label, actor)
    except Exception as exc:
        record_error(LifecycleAction.UNINSTALL, label, exc, actor=actor)
        raise
    return label


def _swap_out(ext_id: str, actor: Any) -> None:
    target = extensions_dir() / ext_id
    trash = staging_dir() / f"trash-{ext_id}-{uuid.uuid4().hex}"
    moves = Moves()
    try:
        with transaction.atomic():
            lock_slot(ext_id)
            row = InstalledExtension.objects.filter(extension_id=ext_id).first()
            if row is None:
                raise NotInstalledError(
                    f"{ext_id} is not installed by the marketplace",
                    details={"id": ext_id},
                )
            if target.exists():
                ensure(staging_dir())
                moves.move(target, trash)
            lifecycle.fault_point("uninstall.moved")
            version, level, sha = row.version, row.trust_level, row.package_sha256
            row.delete()
            record_event(
                LifecycleAction.UNINSTALL,
                ext_id,
                version=version,
                trust=level,
                sha256=sha,
                actor=actor,
            )
            lifecycle.fault_point("uninstall.recorded")
            transaction.on_commit(lambda: shutil.rmtree(trash, ignore_errors=True))
    except BaseException:
        moves.undo()
        raise
