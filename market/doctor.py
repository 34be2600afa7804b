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


@dataclass
class DoctorReport:
    findings: list[dict[str, str]] = field(default_factory=list)

    def add(self, kind: str, target: str, action: str) -> None:
        self.findings.append({"kind": kind, "target": target, "action": action})

    @property
    def clean(self) -> bool:
        return not self.findings


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


def market_doctor(*, fix: bool, min_age_seconds: float = 600.0) -> DoctorReport:
    """Report (and with ``fix``, repair) what disk and database disagree on."""
    report = DoctorReport()
    claimed: set[str] = set()
    ext_root = extensions_dir()
    rows = {r.extension_id: r for r in InstalledExtension.objects.all()}
    folders = {p.name: p for p in ext_root.iterdir()} if ext_root.is_dir() else {}

    for ext_id, row in rows.items():
        folder = folders.get(ext_id)
        side = _sidecar(folder) if folder else None
        if side and side.get("package", {}).get("sha256") == row.package_sha256:
            continue
        trash = _trash_for(ext_id, row.package_sha256)
        if trash is not None:
            claimed.add(trash.name)
            report.add("interrupted_swap", ext_id, "restored the installed version")
            if fix:
                if folder is not None:
                    shutil.rmtree(folder)
                os.replace(trash, ext_root / ext_id)
        elif folder is None:
            report.add("row_without_folder", ext_id, "removed the row")
            if fix:
                with transaction.atomic():
                    row.delete()
                    record_event(
                        LifecycleAction.REPAIR,
                        ext_id,
                        version=row.version,
                        detail={"kind": "row_without_folder"},
                    )
        else:
            report.add("sidecar_mismatch", ext_id, "none (reinstall to repair)")

    for name, folder in folders.items():
        if name in rows:
            continue
        if _sidecar(folder) is None:
            report.add(
                "unmanaged_folder", name, "none (not installed by the marketplace)"
            )
            continue
        report.add("folder_without_row", name, "removed the folder")
        if fix:
            shutil.rmtree(folder)

    now = time.time()
    stage_root = staging_dir()
    if stage_root.is_dir():
        for leftover in sorted(stage_root.iterdir()):
            if leftover.name in claimed:
                continue
            if now - leftover.stat().st_mtime < min_age_seconds:
                continue  # may belong to an install that is still running
            report.add("orphan_staging", leftover.name, "removed")
            if fix:
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()
    return report
