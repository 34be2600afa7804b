"""Reconcile disk and database after a crash (``manage.py market_doctor``).

What a killed process can leave behind, and what ``fix`` does about it:
- staging folders and spooled uploads of installs that never finished: removed;
- a row whose folder is missing while the old folder waits in ``staging/trash-<id>-*``
  (killed mid-swap): the old folder is moved back;
- a row whose folder is gone for good: the row is removed;
- a folder with a marketplace sidecar but no row (killed before the commit): removed,
  so the id is back to "not installed";
- a folder without a sidecar: not ours; reported, never touched;
- the kept previous version of an upgrade (``previous/<id>``, see
  :mod:`market.services.rollback`): an installed version found there or in the trash
  is put back in ``extensions/<id>`` (a rollback or upgrade killed midway:
  ``interrupted_swap``), the previous version found in the trash goes back to
  ``previous/<id>`` (``interrupted_keep``), a kept row without its folder is removed
  (``previous_without_folder``) and a kept folder without its row is removed
  (``orphan_previous``);
- the temp file of a durable write killed midway (``.comfyvn.json.<hex>.tmp`` beside
  the flags file, ``.catalog.pem.<hex>.tmp`` beside the catalogue key,
  ``.cvn-<key id>.pem.<hex>.tmp`` among the retired keys,
  ``.cvn-<key id>.json.<hex>.tmp`` in the key chain): removed.

Repairs are as durable as the services (:mod:`market.services.common`): a folder is
renamed out of ``extensions/`` (flushed) before it is deleted, so a crash during a
repair never leaves a half-deleted folder that looks unmanaged, and running the doctor
again finishes the job. A repair that fails is stored as a ``repair``
``LifecycleError`` and stops the run.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from market import flags
from market.conf import market_conf
from market.durable import is_temp_name, replace_durably
from market.lifecycle import record_event, recording
from market.models import InstalledExtension, LifecycleAction, PreviousInstall
from market.services import SIDECAR_NAME, extensions_dir, staging_dir
from market.services.common import (
    ID_RE,
    delete_retired,
    ensure,
    is_lock_timeout,
    lock_slot,
)
from market.services.rollback import folder_sha256, previous_dir, previous_folder


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


def _trash_for(ext_id: str, sha256: str, *, kept: bool = True) -> Path | None:
    """A copy of the version with ``sha256`` outside ``extensions/``: in the trash
    of a swap, or (``kept``) in the previous-version folder."""
    root = staging_dir()
    if root.is_dir():
        for candidate in sorted(root.glob(f"trash-{ext_id}-*")):
            side = _sidecar(candidate)
            if side and side.get("package", {}).get("sha256") == sha256:
                return candidate
    slot = previous_folder(ext_id)
    if kept and slot.is_dir() and folder_sha256(slot) == sha256:
        return slot
    return None


def _kept_sha(ext_id: str) -> str | None:
    return (
        PreviousInstall.objects.filter(extension_id=ext_id)
        .values_list("package_sha256", flat=True)
        .first()
    )


def _diagnose_kept(ext_id: str, installed: bool) -> tuple[str, str] | None:
    """What is wrong with the kept previous version of an id (once its install is
    right)."""
    slot = previous_folder(ext_id)
    sha = _kept_sha(ext_id)
    if sha is None or not installed:
        if sha is not None:
            return ("previous_without_install", "removed the kept version")
        if slot.exists():
            return ("orphan_previous", "removed the folder")
        return None
    if folder_sha256(slot) == sha:
        return None
    if _trash_for(ext_id, sha, kept=False) is not None:
        return ("interrupted_keep", "restored the kept previous version")
    return ("previous_without_folder", "removed the kept version's row")


def _diagnose(ext_id: str) -> tuple[str, str] | None:
    """What is wrong with one id right now: ``(kind, repair)``, or None."""
    folder = extensions_dir() / ext_id
    has_folder = folder.is_dir()
    row = InstalledExtension.objects.filter(extension_id=ext_id).first()
    side = _sidecar(folder) if has_folder else None
    if row is None:
        if not has_folder:
            return _diagnose_kept(ext_id, installed=False)
        if side is None:
            return ("unmanaged_folder", "none (not installed by the marketplace)")
        return ("folder_without_row", "removed the folder")
    if side and side.get("package", {}).get("sha256") == row.package_sha256:
        return _diagnose_kept(ext_id, installed=True)
    if _trash_for(ext_id, row.package_sha256) is not None:
        return ("interrupted_swap", "restored the installed version")
    if not has_folder:
        return ("row_without_folder", "removed the row")
    return ("sidecar_mismatch", "none (reinstall to repair)")


def _discard(folder: Path, ext_id: str) -> Path | None:
    """Move a folder out of ``extensions/`` durably; the caller deletes it."""
    if not folder.exists():
        return None
    aside = ensure(staging_dir()) / f"discard-{ext_id}-{uuid.uuid4().hex}"
    replace_durably(folder, aside)
    return aside


def _set_aside(path: Path, ext_id: str) -> Path:
    """Move a copy out of ``previous/`` into the trash (durably) before its slot is
    reused; a copy already in the trash stays where it is."""
    if path.parent == staging_dir():
        return path
    aside = ensure(staging_dir()) / f"trash-{ext_id}-{uuid.uuid4().hex}"
    replace_durably(path, aside)
    return aside


def _retire(folder: Path, ext_id: str) -> Path | None:
    """Move ``extensions/<id>`` out of the way: into ``previous/<id>`` when it is the
    kept version whose folder is missing (a rollback killed midway); else aside,
    returned for the caller to delete once the installed version is back."""
    aside = _discard(folder, ext_id)
    if aside is None:
        return None
    slot = previous_folder(ext_id)
    sha = _kept_sha(ext_id)
    if sha is not None and folder_sha256(aside) == sha and not slot.exists():
        ensure(previous_dir())
        replace_durably(aside, slot)
        return None
    return aside


def _repair_kept(ext_id: str, kind: str) -> None:
    slot = previous_folder(ext_id)
    if kind == "interrupted_keep":
        sha = _kept_sha(ext_id)
        trash = _trash_for(ext_id, sha, kept=False) if sha else None
        if trash is not None:
            aside = _discard(slot, ext_id)
            ensure(previous_dir())
            replace_durably(trash, slot)
            if aside is not None:
                delete_retired(aside)
        return
    if kind in ("previous_without_folder", "previous_without_install"):
        row = PreviousInstall.objects.filter(extension_id=ext_id).first()
        if row is not None:
            row.delete()
            record_event(
                LifecycleAction.REPAIR,
                ext_id,
                version=row.version,
                detail={"kind": kind},
            )
    if slot.exists():  # orphan_previous, and what a removed row leaves behind
        aside = _discard(slot, ext_id)
        if aside is not None:
            delete_retired(aside)


def _repair(ext_id: str, kind: str) -> None:
    folder = extensions_dir() / ext_id
    row = InstalledExtension.objects.filter(extension_id=ext_id).first()
    if kind in KEPT_KINDS:
        _repair_kept(ext_id, kind)
    elif kind == "interrupted_swap" and row is not None:
        trash = _trash_for(ext_id, row.package_sha256)
        if trash is not None:
            trash = _set_aside(trash, ext_id)
            aside = _retire(folder, ext_id)
            replace_durably(trash, folder)
            if aside is not None:
                delete_retired(aside)
    elif kind == "row_without_folder" and row is not None:
        row.delete()
        record_event(
            LifecycleAction.REPAIR,
            ext_id,
            version=row.version,
            detail={"kind": kind},
        )
    elif kind == "folder_without_row":
        aside = _discard(folder, ext_id)
        if aside is not None:
            delete_retired(aside)


def _fix(ext_id: str) -> tuple[str, str, bool] | None:
    """Diagnose again under the slot lock and repair: ``(kind, repair, repaired)``,
    or None when there is nothing left to do."""
    with recording(LifecycleAction.REPAIR, ext_id):
        try:
            with transaction.atomic():
                lock_slot(ext_id)
                finding = _diagnose(ext_id)
                if finding is None:
                    return None
                kind, repair = finding
                if kind not in REPAIRABLE:
                    return kind, repair, False
                _repair(ext_id, kind)
                return kind, repair, True
        except Exception as exc:
            if not is_lock_timeout(exc):
                raise
            return "busy", "skipped: an install is running; run again", False


def market_doctor(*, fix: bool, min_age_seconds: float = 600.0) -> DoctorReport:
    """Report (and with ``fix``, repair) what disk and database disagree on.

    Each id is repaired under its slot lock and diagnosed again once the lock is
    held, so an install that is still running (folder swapped in, row not yet
    committed) is waited for, not mistaken for debris.
    """
    report = DoctorReport()
    ext_root = extensions_dir()
    ids = set(InstalledExtension.objects.values_list("extension_id", flat=True))
    ids |= set(PreviousInstall.objects.values_list("extension_id", flat=True))
    if ext_root.is_dir():
        ids |= {p.name for p in ext_root.iterdir()}
    if previous_dir().is_dir():
        ids |= {p.name for p in previous_dir().iterdir() if ID_RE.fullmatch(p.name)}
    for ext_id in sorted(ids):
        finding = _diagnose(ext_id)
        if finding is None:
            continue
        kind, repair = finding
        repaired = False
        if fix and kind in REPAIRABLE and ID_RE.fullmatch(ext_id):
            # One finding at a time (the install first, then its kept version).
            for _attempt in range(3):
                fixed = _fix(ext_id)
                if fixed is None:
                    break
                kind, repair, repaired = fixed
                report.add(kind, ext_id, repair, repaired=repaired)
                if not repaired:
                    break
            continue
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
    for temp in _stale_temps(now, min_age_seconds):
        report.add("stale_temp", temp.name, "removed", repaired=fix)
        if fix:
            temp.unlink(missing_ok=True)
    return report


def _stale_temps(now: float, min_age_seconds: float) -> list[Path]:
    """Temp files of durable writes (flags, catalogue key) that never finished."""
    found = []
    key = market_conf().signing_key_file
    retired = key.with_name(key.name + ".retired")
    for folder, of in (
        (flags.config_path().parent, flags.config_path().name),
        (key.parent, key.name),
        (retired, None),  # rotation files ``<key id>.pem`` there
        (key.with_name(key.name + ".chain"), None),  # ``<key id>.json`` records
    ):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if (
                is_temp_name(path.name, of=of)
                and (of is not None or path.name.startswith(".cvn-"))
                and path.is_file()
                and not path.is_symlink()
                and now - path.stat().st_mtime >= min_age_seconds
            ):
                found.append(path)
    return found


def _claimed(trash: Path) -> bool:
    """Is this trash folder the only copy of an installed or kept version?"""
    side = _sidecar(trash)
    if not side:
        return False
    ext_id = str(side.get("id", ""))
    sha = side.get("package", {}).get("sha256")
    row = InstalledExtension.objects.filter(extension_id=ext_id).first()
    if (
        row is not None
        and sha == row.package_sha256
        and folder_sha256(extensions_dir() / ext_id) != sha
    ):
        return True
    kept = _kept_sha(ext_id) if ID_RE.fullmatch(ext_id) else None
    slot_sha = folder_sha256(previous_folder(ext_id))
    return kept is not None and sha == kept and slot_sha != sha


KEPT_KINDS = frozenset(
    {
        "interrupted_keep",
        "previous_without_folder",
        "previous_without_install",
        "orphan_previous",
    }
)
REPAIRABLE = frozenset(
    {"interrupted_swap", "row_without_folder", "folder_without_row", *KEPT_KINDS}
)
