"""Restore a studio's extensions from a lockfile (``GET lock`` of another studio).

The whole document is checked before anything is written: every entry must name a
catalogue version (approved, or yanked: a lock pins what was installed) whose package
sha256, manifest sha256 and trust level are the lock's, and whose stored bundle still
hashes to that sha256; every problem is reported at once (``lock_mismatch``). Installs
already here at exactly the locked bytes are kept; an install the lock does not name,
or names at other bytes, is ``restore_conflict`` (nothing is replaced or removed
behind the operator's back). Then the missing extensions are installed from the
catalogue, one id at a time under its lock; if any of them fails, those this restore
installed are uninstalled again, so the studio is left as it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from market.errors import LockMismatchError, RestoreConflictError
from market.models import CatalogEntry, InstalledExtension
from market.services.install import extension_install
from market.services.sources import check_stored_bundle, source_from_catalog
from market.services.uninstall import extension_uninstall

logger = logging.getLogger(__name__)

Status = CatalogEntry.Status


@dataclass(frozen=True)
class LockedExtension:
    id: str
    version: str
    sha256: str
    manifest_sha256: str
    trust: str
    proof: str | None = None


@dataclass(frozen=True)
class RestoreResult:
    installed: list[str]
    unchanged: list[str]


def _mismatches(locked: LockedExtension) -> list[dict[str, Any]]:
    entry = CatalogEntry.objects.filter(
        extension_id=locked.id,
        version=locked.version,
        status__in=(Status.APPROVED, Status.YANKED),
    ).first()
    where = {"id": locked.id, "version": locked.version}
    if entry is None:
        return [{**where, "field": "version", "reason": "not_in_catalogue"}]
    problems = []
    for field, expected, actual in (
        ("sha256", locked.sha256, entry.package_sha256),
        ("manifest_sha256", locked.manifest_sha256, entry.manifest_sha256),
        ("trust", locked.trust, entry.trust_level),
    ):
        if expected != actual:
            problems.append(
                {
                    **where,
                    "field": field,
                    "reason": "differs",
                    "lock": expected,
                    "catalogue": actual,
                }
            )
    if not problems:
        try:
            check_stored_bundle(entry)
        except Exception:
            problems.append({**where, "field": "sha256", "reason": "stored_changed"})
    return problems


def _installed_differs(
    row: InstalledExtension, locked: LockedExtension | None
) -> dict[str, Any] | None:
    if locked is None:
        return {"id": row.extension_id, "installed": row.version, "lock": None}
    if (row.package_sha256, row.manifest_sha256) != (
        locked.sha256,
        locked.manifest_sha256,
    ):
        return {
            "id": row.extension_id,
            "installed": row.version,
            "lock": locked.version,
        }
    return None


def extensions_restore(
    *, extensions: list[LockedExtension], actor: Any = None
) -> RestoreResult:
    """Make the installed set exactly ``extensions``, from the catalogue, or refuse
    and change nothing."""
    problems = [p for locked in extensions for p in _mismatches(locked)]
    if problems:
        raise LockMismatchError(
            f"{len(problems)} lock entr{'y does' if len(problems) == 1 else 'ies do'} "
            "not match the catalogue; nothing was installed",
            details={"problems": problems},
        )
    by_id = {locked.id: locked for locked in extensions}
    rows = list(InstalledExtension.objects.order_by("extension_id"))
    conflicts = [
        c for r in rows if (c := _installed_differs(r, by_id.get(r.extension_id)))
    ]
    if conflicts:
        raise RestoreConflictError(
            "installed extensions differ from the lock; uninstall them (or install the "
            "locked versions) first: a restore neither replaces nor removes installs",
            details={"conflicts": conflicts},
        )
    present = {r.extension_id for r in rows}
    done: list[str] = []
    try:
        for locked in extensions:
            if locked.id in present:
                continue
            row = extension_install(
                source=source_from_catalog(locked.id, locked.version), actor=actor
            )
            done.append(locked.id)
            proof = (row.sidecar.get("trust") or {}).get("proof")
            if locked.proof is not None and proof != locked.proof:
                raise LockMismatchError(
                    f"{locked.id} {locked.version} installed with trust proof "
                    f"{proof!r}, the lock says {locked.proof!r}; nothing was kept",
                    details={
                        "problems": [
                            {
                                "id": locked.id,
                                "version": locked.version,
                                "field": "trust.proof",
                                "reason": "differs",
                                "lock": locked.proof,
                                "installed": proof,
                            }
                        ]
                    },
                )
    except BaseException:
        for ext_id in reversed(done):
            try:
                extension_uninstall(ext_id=ext_id, actor=actor)
            except Exception:
                # Recorded as an uninstall error; the restore's own failure is
                # what the caller hears about.
                logger.exception("restore: could not uninstall %s again", ext_id)
        raise
    return RestoreResult(installed=done, unchanged=sorted(present & set(by_id)))
