"""Uninstall: folder, sidecar and row go together, or nothing does.

The folder is renamed out of ``extensions/`` into the trash and both folders are
flushed; then the row is deleted and the transaction commits; only then is the trash
deleted (:mod:`market.services.common` has the whole order).
"""

from __future__ import annotations

from typing import Any

from market import lifecycle
from market.errors import InvalidRequestError, NotInstalledError
from market.lifecycle import record_event, recording
from market.manifest import ID_RULE
from market.models import InstalledExtension, LifecycleAction
from market.services import rollback
from market.services.common import (
    ID_RE,
    locked_swap,
)
from market.services.requirements import refuse_if_in_use


def extension_uninstall(*, ext_id: Any, actor: Any = None) -> str:
    """Remove a marketplace-installed extension: folder, sidecar and row, or nothing."""
    label = ext_id if isinstance(ext_id, str) and ID_RE.fullmatch(ext_id) else ""
    with recording(LifecycleAction.UNINSTALL, label, actor=actor):
        if not label:
            raise InvalidRequestError(
                f"id must be an extension id: it {ID_RULE}",
                details={"id": ext_id if isinstance(ext_id, str) else None},
            )
        _swap_out(label, actor)
    return label


def _swap_out(ext_id: str, actor: Any) -> None:
    with locked_swap(ext_id) as swap:
        row = InstalledExtension.objects.filter(extension_id=ext_id).first()
        if row is None:
            raise NotInstalledError(
                f"{ext_id} is not installed by the marketplace",
                details={"id": ext_id},
            )
        refuse_if_in_use(ext_id)
        swap.retire_current()
        rollback.drop_previous(swap, ext_id)
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
