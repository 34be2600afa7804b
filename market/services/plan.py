"""Installs and uninstalls that take other extensions along: dependency plans and
cascades, all or nothing.

A dependency plan walks the manifest's ``dependencies`` through the installed
extensions and the catalogue: a dependency installed at a version in its range is
used as it is; any other gets the newest approved catalogue version in its range
(and compatible with the Studio, when its version is known) that every installed
dependent still accepts. A walk that comes back to an extension on its own path
is ``dependency_cycle``.

The plan runs in one outer transaction: every id it reads is locked first (in id
order, so two plans never wait on each other in a circle), the plan is made again
under the locks, then each dependency is installed, dependencies first, and the
extension last. Each install is the ordinary one (:func:`extension_install`), its
swap collected by :func:`swap_journal`; if any step fails, the transaction rolls
back every row and event, and the collected swaps are undone: new folders go,
replaced ones come back. A cascade uninstall works the same way, dependents first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from market import archive, lifecycle
from market.errors import (
    DependencyCycleError,
    InstallInProgressError,
    InvalidRequestError,
)
from market.lifecycle import record_rolled_back, recording
from market.manifest import dependency_ranges, satisfies
from market.models import CatalogEntry, InstalledExtension, LifecycleAction
from market.services.common import (
    ID_RE,
    archive_limits,
    lock_slot,
    server_allowlist,
    swap_journal,
    undo_swaps,
)
from market.services.install import extension_install
from market.services.requirements import (
    approved_versions,
    check_compatible,
    dependents_of,
    missing_error,
    missing_item,
    newest_compatible,
    planned,
    satisfying,
)
from market.services.sources import (
    InstallSource,
    source_from_catalog,
    source_from_path,
    source_from_upload,
)
from market.services.uninstall import extension_uninstall

# How deep a dependency chain may go (each level is a catalogue read).
MAX_DEPTH = 32


@dataclass(frozen=True)
class PlanStep:
    """A dependency the plan installs: the catalogue version, why, and what it
    replaces (the installed version out of range, or None)."""

    entry: CatalogEntry
    range: str
    required_by: str
    installed: str | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.entry.extension_id, self.entry.version)


@dataclass(frozen=True)
class InstallPlan:
    steps: tuple[PlanStep, ...]  # dependencies first
    ids: frozenset[str]  # every id the plan read, the extension's own included
    missing: tuple[dict[str, Any], ...] = ()  # dependencies nothing satisfies


@dataclass(frozen=True)
class InstallResult:
    row: InstalledExtension
    dependencies: tuple[InstalledExtension, ...] = ()


@dataclass(frozen=True)
class _Options:
    """What the request asked of the extension's own install."""

    reinstall: bool
    allow_downgrade: bool
    trust: str | None
    studio: str | None
    accept: list[str] | None = None

    def install(self, source: InstallSource, actor: Any) -> InstalledExtension:
        return extension_install(
            source=source,
            actor=actor,
            reinstall=self.reinstall,
            allow_downgrade=self.allow_downgrade,
            trust=self.trust,
            studio=self.studio,
            accept=self.accept,
        )


def extension_install_planned(
    *,
    upload: Any = None,
    package: str | None = None,
    ext_id: str | None = None,
    version: str | None = None,
    actor: Any = None,
    reinstall: bool = False,
    allow_downgrade: bool = False,
    trust: str | None = None,
    studio: str | None = None,
    with_dependencies: bool = False,
    accept: list[str] | None = None,
) -> InstallResult:
    """Install from an upload, a server path or the catalogue, with its dependencies.

    Without ``with_dependencies`` a dependency not installed in range is
    ``missing_dependency``; with it, the whole plan is installed or nothing is.
    ``studio`` (the Studio's version) refuses an incompatible bundle, and picks the
    newest compatible catalogue version when no version is named.
    """
    label = ext_id if isinstance(ext_id, str) and ID_RE.fullmatch(ext_id) else ""
    with recording(LifecycleAction.INSTALL, label, actor=actor) as rec:
        source = _source(upload, package, ext_id, version, studio)
        options = _Options(reinstall, allow_downgrade, trust, studio, accept)
        try:
            data = _root_manifest(source, with_dependencies)
            if data is None or not dependency_ranges(data):
                return InstallResult(options.install(source, actor))
            rec.ext_id = str(data["id"])
            check_compatible(data, studio)
            plan = dependency_plan(data, studio=studio)
            if plan.missing or (plan.steps and not with_dependencies):
                raise missing_error(
                    str(data["id"]),
                    [*plan.missing, *(_listed(step, studio) for step in plan.steps)],
                )
            return _run_plan(plan, data, source, actor, options)
        finally:
            if source.temporary:
                source.path.unlink(missing_ok=True)


def _source(
    upload: Any,
    package: str | None,
    ext_id: str | None,
    version: str | None,
    studio: str | None,
) -> InstallSource:
    if upload is not None:
        return source_from_upload(upload)
    if package:
        return source_from_path(package)
    if ext_id:
        if version is None and studio is not None:
            entry = newest_compatible(ext_id, studio)
            version = entry.version if entry is not None else None
        return source_from_catalog(ext_id, version)
    raise InvalidRequestError("no bundle named: give a file, a path or an id")


def _root_manifest(source: InstallSource, with_dependencies: bool) -> dict | None:
    """The manifest to plan from: the catalogue's copy, or (to install an uploaded
    bundle's dependencies) the bundle's own, checked whole. An upload installed
    without its dependencies needs no plan: its install refuses a missing one."""
    if source.catalog_entry is not None:
        return dict(source.catalog_entry.manifest)
    if not with_dependencies:
        return None
    info = archive.inspect_bundle(
        source.path, limits=archive_limits(), allowlist=server_allowlist()
    )
    return info.manifest.data


def _listed(step: PlanStep, studio: str | None) -> dict[str, Any]:
    return missing_item(
        step.entry.extension_id, step.range, step.required_by, step.installed, studio
    )


def dependency_plan(data: dict[str, Any], *, studio: str | None = None) -> InstallPlan:
    """What installing the manifest ``data`` needs first (see the module docstring)."""
    walk = _Walk(str(data["id"]), str(data["version"]), studio)
    walk.visit(walk.root, data, [walk.root])
    return InstallPlan(tuple(walk.steps), frozenset(walk.ids), tuple(walk.missing))


class _Walk:
    """One depth-first walk of the dependency graph, dependencies first."""

    def __init__(self, root: str, version: str, studio: str | None) -> None:
        self.root = root
        self.studio = studio
        self.installed = {
            row.extension_id: row
            for row in InstalledExtension.objects.only(
                "extension_id", "version", "manifest"
            )
        }
        self.chosen: dict[str, str] = {root: version}
        self.open: set[str] = set()
        self.ids: set[str] = {root}
        self.steps: list[PlanStep] = []
        self.missing: list[dict[str, Any]] = []

    def visit(self, node: str, data: dict[str, Any], trail: list[str]) -> None:
        if len(trail) > MAX_DEPTH:
            raise InvalidRequestError(
                f"the dependencies of {self.root} go more than {MAX_DEPTH} deep",
                details={"id": self.root, "chain": trail[:MAX_DEPTH]},
            )
        self.open.add(node)
        for dep_id, text in dependency_ranges(data).items():
            self.ids.add(dep_id)
            if dep_id in self.open:
                cycle = [*trail[trail.index(dep_id) :], dep_id]
                raise DependencyCycleError(
                    "the dependencies come back to themselves: " + " -> ".join(cycle),
                    details={"id": self.root, "cycle": cycle},
                )
            if dep_id in self.chosen:
                if not satisfies(self.chosen[dep_id], text):
                    self._miss(dep_id, text, node)
                continue
            row = self.installed.get(dep_id)
            if row is not None and satisfies(row.version, text):
                # Used as it is: its own dependencies were checked when it came.
                self.chosen[dep_id] = row.version
                continue
            entry = self._pick(dep_id, text)
            if entry is None:
                self._miss(dep_id, text, node)
                continue
            self.chosen[dep_id] = entry.version
            self.visit(dep_id, entry.manifest, [*trail, dep_id])
            installed = row.version if row is not None else None
            self.steps.append(PlanStep(entry, text, node, installed))
        self.open.discard(node)

    def _pick(self, dep_id: str, text: str) -> CatalogEntry | None:
        """The newest catalogue version in range that every installed dependent of
        ``dep_id`` (the extension being installed aside) still accepts."""
        ranges = [
            d["range"]
            for d in dependents_of(dep_id)
            if d["id"] != self.root and d["id"] in self.installed
        ]
        for entry in satisfying(approved_versions(dep_id), text, self.studio):
            if all(satisfies(entry.version, r) for r in ranges):
                return entry
        return None

    def _miss(self, dep_id: str, text: str, node: str) -> None:
        row = self.installed.get(dep_id)
        installed = row.version if row is not None else None
        self.missing.append(missing_item(dep_id, text, node, installed, self.studio))


def _run_plan(
    plan: InstallPlan,
    data: dict[str, Any],
    source: InstallSource,
    actor: Any,
    options: _Options,
) -> InstallResult:
    studio = options.studio
    installs = {str(data["id"]), *(step.entry.extension_id for step in plan.steps)}
    with swap_journal() as swaps, planned(installs):
        try:
            with transaction.atomic():
                for ext_id in sorted(plan.ids):
                    lock_slot(ext_id)
                fresh = dependency_plan(data, studio=studio)
                if fresh.ids != plan.ids or [s.key for s in fresh.steps] != [
                    s.key for s in plan.steps
                ]:
                    raise InstallInProgressError(
                        f"the extensions {data['id']} depends on changed while its "
                        "install was planned; try again",
                        details={"id": data["id"]},
                    )
                dependencies = []
                for step in plan.steps:
                    dependencies.append(
                        extension_install(
                            source=source_from_catalog(
                                step.entry.extension_id, step.entry.version
                            ),
                            actor=actor,
                            allow_downgrade=options.allow_downgrade,
                            studio=studio,
                            accept=options.accept,
                        )
                    )
                    lifecycle.fault_point("plan.dependency_installed")
                row = options.install(source, actor)
                lifecycle.fault_point("plan.installed")
        except BaseException as exc:
            undo_swaps(swaps)
            # The failed step's record went with the transaction: store it again.
            record_rolled_back(exc)
            raise
    return InstallResult(row, tuple(dependencies))


def extension_uninstall_planned(
    *, ext_id: Any, actor: Any = None, cascade: bool = False
) -> tuple[str, list[str]]:
    """Uninstall ``ext_id``; with ``cascade``, every installed extension that depends
    on it (directly or not) first, all or nothing. Returns the id and the dependents
    removed, in order. Without ``cascade`` a dependent refuses it
    (``dependency_in_use``)."""
    label = ext_id if isinstance(ext_id, str) and ID_RE.fullmatch(ext_id) else ""
    if not cascade or not label:
        return extension_uninstall(ext_id=ext_id, actor=actor), []
    with (
        recording(LifecycleAction.UNINSTALL, label, actor=actor),
        swap_journal() as swaps,
    ):
        try:
            with transaction.atomic():
                order = dependents_order(label)
                for dep_id in sorted({*order, label}):
                    lock_slot(dep_id)
                if dependents_order(label) != order:
                    raise InstallInProgressError(
                        f"the extensions that depend on {label} changed while its "
                        "uninstall was planned; try again",
                        details={"id": label},
                    )
                for dep_id in order:
                    extension_uninstall(ext_id=dep_id, actor=actor)
                extension_uninstall(ext_id=label, actor=actor)
                lifecycle.fault_point("cascade.uninstalled")
        except BaseException as exc:
            undo_swaps(swaps)
            record_rolled_back(exc)
            raise
    return label, order


def dependents_order(ext_id: str) -> list[str]:
    """Every installed extension that depends on ``ext_id``, directly or through
    others, each before everything it depends on."""
    order: list[str] = []
    seen = {ext_id}

    def visit(node: str) -> None:
        for dependent in dependents_of(node):
            if dependent["id"] not in seen:
                seen.add(dependent["id"])
                visit(dependent["id"])
                order.append(dependent["id"])

    visit(ext_id)
    return order
