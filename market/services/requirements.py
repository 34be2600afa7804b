"""What an install or uninstall requires of the others: compatibility, dependencies.

The checks here run under the slot locks of the lifecycle services, so they see
every install and uninstall that committed before: :func:`check_dependencies`
inside an install's swap (each dependency's slot locked, so it cannot be
uninstalled meanwhile), :func:`refuse_if_in_use` inside an uninstall's swap.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import semver

from market.errors import (
    DependencyInUseError,
    IncompatibleError,
    MissingDependencyError,
)
from market.manifest import dependency_ranges, satisfies, studio_range
from market.models import CatalogEntry, InstalledExtension
from market.services.common import lock_slot

# How many satisfying catalogue versions a refusal lists per dependency.
MAX_LISTED_VERSIONS = 10

# The ids a running dependency plan installs anew: their installed versions' ranges
# do not hold back the plan's other installs (each new version is checked itself).
_PLANNED: ContextVar[frozenset[str]] = ContextVar("market_planned", default=frozenset())


@contextmanager
def planned(ids: Iterable[str]) -> Iterator[None]:
    """Run a plan that installs ``ids`` (see :data:`_PLANNED`)."""
    token = _PLANNED.set(frozenset(ids))
    try:
        yield
    finally:
        _PLANNED.reset(token)


def check_compatible(data: dict[str, Any], studio: str | None) -> None:
    """Refuse (``incompatible``) a manifest whose Studio range excludes ``studio``."""
    if studio is None:
        return
    text = studio_range(data)
    if text and not satisfies(studio, text):
        raise IncompatibleError(
            f"{data.get('id')} {data.get('version')} runs on Studio {text}; this "
            f"Studio is {studio}",
            details={
                "id": data.get("id"),
                "version": data.get("version"),
                "studio_version": studio,
                "compatibility": {"studio": text},
            },
        )


def approved_versions(ext_id: str) -> list[CatalogEntry]:
    """The approved catalogue versions of ``ext_id``, newest first."""
    entries = list(
        CatalogEntry.objects.filter(
            extension_id=ext_id, status=CatalogEntry.Status.APPROVED
        )
    )
    entries.sort(key=lambda e: semver.Version.parse(e.version), reverse=True)
    return entries


def satisfying(
    entries: list[CatalogEntry], text: str, studio: str | None
) -> list[CatalogEntry]:
    """The entries in the range ``text`` (and compatible with ``studio``), in order."""
    return [
        e
        for e in entries
        if satisfies(e.version, text)
        and (studio is None or not e.studio_range or satisfies(studio, e.studio_range))
    ]


def newest_compatible(ext_id: str, studio: str) -> CatalogEntry | None:
    """The newest approved version of ``ext_id`` that runs on ``studio``; None when
    the catalogue has no approved version at all."""
    entries = approved_versions(ext_id)
    if not entries:
        return None
    for entry in entries:
        if not entry.studio_range or satisfies(studio, entry.studio_range):
            return entry
    newest = entries[0]
    raise IncompatibleError(
        f"no approved version of {ext_id} runs on Studio {studio}",
        details={
            "id": ext_id,
            "version": newest.version,
            "studio_version": studio,
            "compatibility": {"studio": newest.studio_range},
        },
    )


def missing_item(
    dep_id: str,
    text: str,
    required_by: str,
    installed: str | None,
    studio: str | None,
    entries: list[CatalogEntry] | None = None,
) -> dict[str, Any]:
    """One dependency a refusal lists, with the catalogue versions that satisfy it."""
    found = satisfying(
        approved_versions(dep_id) if entries is None else entries, text, studio
    )
    return {
        "id": dep_id,
        "range": text,
        "required_by": required_by,
        "installed": installed,
        "satisfying": [e.version for e in found[:MAX_LISTED_VERSIONS]],
    }


def missing_error(root: str, missing: list[dict[str, Any]]) -> MissingDependencyError:
    names = ", ".join(f"{m['id']} {m['range']}" for m in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return MissingDependencyError(
        f"{root} needs {names}{more}, not installed at a version in range; install "
        "them first or pass with_dependencies",
        details={"id": root, "missing": missing},
    )


def check_dependencies(data: dict[str, Any]) -> None:
    """Refuse an install that would leave a dependency unmet, on either side.

    ``missing_dependency`` unless every dependency of the manifest is installed at a
    version in range; ``dependency_in_use`` when installed extensions depend on this
    one and the new version is outside their range (an upgrade or downgrade that
    would break them). Call with the installing id's slot locked: each dependency's
    slot is locked too, so none goes while this install commits.
    """
    ext_id, version = str(data["id"]), str(data["version"])
    deps = dependency_ranges(data)
    for dep_id in sorted(deps):
        lock_slot(dep_id)
    rows = dict(
        InstalledExtension.objects.filter(extension_id__in=list(deps)).values_list(
            "extension_id", "version"
        )
    )
    missing = []
    for dep_id, text in deps.items():
        installed = rows.get(dep_id)
        if installed is None or not satisfies(installed, text):
            missing.append(missing_item(dep_id, text, ext_id, installed, None))
    if missing:
        raise missing_error(ext_id, missing)
    replaced = _PLANNED.get()
    broken = [
        d
        for d in dependents_of(ext_id)
        if d["id"] not in replaced and not satisfies(version, d["range"])
    ]
    if broken:
        names = ", ".join(f"{d['id']} ({d['range']})" for d in broken[:5])
        raise DependencyInUseError(
            f"{ext_id} {version} is outside the range that {names} need; "
            "uninstall or upgrade them first",
            details={"id": ext_id, "version": version, "dependents": broken},
        )


def dependents_of(ext_id: str) -> list[dict[str, Any]]:
    """Installed extensions whose manifests depend on ``ext_id``, by id."""
    rows = InstalledExtension.objects.filter(
        manifest__dependencies__has_key=ext_id
    ).values_list("extension_id", "version", "manifest")
    found = []
    for dep_id, version, manifest in rows:
        text = dependency_ranges(manifest).get(ext_id)
        if text is not None:
            found.append({"id": dep_id, "version": version, "range": text})
    return sorted(found, key=lambda d: d["id"])


def refuse_if_in_use(ext_id: str) -> None:
    """Refuse (``dependency_in_use``) to remove an extension others depend on."""
    dependents = dependents_of(ext_id)
    if dependents:
        names = ", ".join(d["id"] for d in dependents[:5])
        raise DependencyInUseError(
            f"{ext_id} is needed by {names}; uninstall those first or pass cascade",
            details={"id": ext_id, "dependents": dependents},
        )
