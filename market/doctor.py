"""Reconcile disk and database after a crash (``manage.py market_doctor``).

What a killed process can leave behind, and what ``fix`` does about it:
- staging folders and spooled uploads of installs that never finished: removed;
- a row whose folder is missing while the old folder waits in ``staging/trash-<id>-*``
  (killed mid-swap): the old folder is moved back;
- a row whose folder is gone for good: the row is removed;
- a folder with a marketplace sidecar but no row (killed before the commit): removed,
  so the id is back to "not installed";
- a folder without a sidecar: not ours; reported, never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from market.lifecycle import record_event
from market.models import InstalledExtension, LifecycleAction
from market.services import SIDECAR_NAME, extensions_dir, staging_dir
from market.services.common import ID_RE, is_lock_timeout, lock_slot


@dataclass
class DoctorReport:
    findings: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, target: str, action: str, *, repaired: bool) -> None:
        self.findings.append(
            {"kind": kind, "target": target, "action": action, "repaired": repaired}
        )

    @property
    def clean(self) -> bool:
        return not self.findings

    def needs_attention(self, *, fixed: bool) -> bool:
        """Anything left for the operator: unrepaired findings (an unmanaged folder
        is someone else's business, not a problem)."""
        return any(
            not f["repaired"] and f["kind"] != "unmanaged_folder" for f in self.findings
        )


def _sidecar(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / SIDECAR_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _trash_for(ext_id: str, sha256: str) -> Path | None:
    root = staging_dir()
    if not root.is_dir():
        return None
    for candidate in sorted(root.glob(f"trash-{ext_id}-*")):
        side = _sidecar(candidate)
        if side and side.get("package", {}).get("sha256") == sha256:
            return candidate
    return None


def _diagnose(ext_id: str) -> tuple[str, str] | None:
    """What is wrong with one id right now: ``(kind, repair)``, or None."""
    folder = extensions_dir() / ext_id
    has_folder = folder.is_dir()
    row = InstalledExtension.objects.filter(extension_id=ext_id).first()
    side = _sidecar(folder) if has_folder else None
    if row is None:
        if not has_folder:
            return None
        if side is None:
            return ("unmanaged_folder", "none (not installed by the marketplace)")
        return ("folder_without_row", "removed the folder")
    if side and side.get("package", {}).get("sha256") == row.package_sha256:
        return None
    if _trash_for(ext_id, row.package_sha256) is not None:
        return ("interrupted_swap", "restored the installed version")
    if not has_folder:
        return ("row_without_folder", "removed the row")
    return ("sidecar_mismatch", "none (reinstall to repair)")


def _repair(ext_id: str, kind: str) -> None:
    folder = extensions_dir() / ext_id
    row = InstalledExtension.objects.filter(extension_id=ext_id).first()
    if kind == "interrupted_swap" and row is not None:
        trash = _trash_for(ext_id, row.package_sha256)
        if trash is not None:
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(trash, folder)
    elif kind == "row_without_folder" and row is not None:
        row.delete()
        record_event(
            LifecycleAction.REPAIR,
            ext_id,
            version=row.version,
            detail={"kind": kind},
        )
    elif kind == "folder_without_row":
        shutil.rmtree(folder)


def market_doctor(*, fix: bool, min_age_seconds: float = 600.0) -> DoctorReport:
    """Report (and with ``fix``, repair) what disk and database disagree on.

    Each id is repaired under its slot lock and diagnosed again once the lock is
    held, so an install that is still running (folder swapped in, row not yet
    committed) is waited for, not mistaken for debris.
    """
    report = DoctorReport()
    ext_root = extensions_dir()
    ids = set(InstalledExtension.objects.values_list("extension_id", flat=True))
    if ext_root.is_dir():
        ids |= {p.name for p in ext_root.iterdir()}
    for ext_id in sorted(ids):
        finding = _diagnose(ext_id)
        if finding is None:
            continue
        kind, repair = finding
        repaired = False
        if fix and kind in REPAIRABLE and ID_RE.fullmatch(ext_id):
            try:
                with transaction.atomic():
                    lock_slot(ext_id)
                    finding = _diagnose(ext_id)
                    if finding is None:
                        continue
                    kind, repair = finding
                    if kind in REPAIRABLE:
                        _repair(ext_id, kind)
                        repaired = True
            except Exception as exc:
                if not is_lock_timeout(exc):
                    raise
                kind, repair = "busy", "skipped: an install is running; run again"
        report.add(kind, ext_id, repair, repaired=repaired)

    now = time.time()
    stage_root = staging_dir()
    if stage_root.is_dir():
        for leftover in sorted(stage_root.iterdir()):
            if (
                not leftover.exists()
                or now - leftover.stat().st_mtime < min_age_seconds
            ):
                continue  # gone since, or may belong to an install still running
            if leftover.name.startswith("trash-") and _claimed(leftover):
                continue  # the old folder of an interrupted swap: restored above
            report.add("orphan_staging", leftover.name, "removed", repaired=fix)
            if fix:
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()
    return report


def _claimed(trash: Path) -> bool:
    """Is this trash folder the only copy of an installed version?"""
    side = _sidecar(trash)
    if not side:
        return False
    row = InstalledExtension.objects.filter(extension_id=side.get("id", "")).first()
    return (
        row is not None
        and side.get("package", {}).get("sha256") == (row.package_sha256)
        and not (extensions_dir() / row.extension_id / SIDECAR_NAME).exists()
    )


REPAIRABLE = frozenset({"interrupted_swap", "row_without_folder", "folder_without_row"})
