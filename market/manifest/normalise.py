"""Normalisation: ``normalise_manifest``, the ``Normaliser`` and the ``Manifest``.

A raw manifest is checked for JSON values no library round-trips, against the JSON
Schema, by the semantic rules of the ``normalise_*`` sections and by the sandbox's
route allowlist; every problem is collected and raised together as one
``ManifestError``. The result is what the packager writes into a bundle, what
``manifest_sha256`` digests and what the catalogue stores.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from market import sandbox
from market.errors import ManifestError, Problem, sort_problems
from market.manifest.digest import manifest_sha256
from market.manifest.limits import MAX_SCHEMA_ERRORS, MAX_WARNINGS, check_value
from market.manifest.normalise_identity import IdentitySections
from market.manifest.normalise_routes import RouteSections
from market.manifest.normalise_trust import TrustSections
from market.manifest.normalise_versions import VersionSections
from market.manifest.problems import ProblemList, schema_problems
from market.manifest.registry import TOP_LEVEL_KEYS
from market.manifest.schema import schema_precheck, schema_validator

# The sandbox needs a valid id, routes and trust level to say anything useful.
_SANDBOX_INPUTS = frozenset({"", "id", "routes", "trust"})


@dataclass(frozen=True)
class Manifest:
    """A valid, normalised manifest. ``data`` is shared: copy it before changing it."""

    data: dict[str, Any]
    # The first MAX_WARNINGS warnings, and how many there are in all.
    warnings: tuple[Problem, ...] = ()
    source_name: str = "manifest.json"
    warning_count: int = 0

    def __post_init__(self) -> None:
        if self.warning_count < len(self.warnings):
            object.__setattr__(self, "warning_count", len(self.warnings))

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def version(self) -> str:
        return str(self.data["version"])

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def trust_level(self) -> str:
        return str(self.data.get("trust", {}).get("level", "unverified"))

    def digest(self) -> str:
        return manifest_sha256(self.data)


class Normaliser(IdentitySections, RouteSections, TrustSections, VersionSections):
    """Builds the normalised manifest from a raw one, collecting problems as it goes.

    Values of the wrong type are skipped here: the schema already reports them.
    """

    def run(self) -> dict[str, Any]:
        raw = self.raw
        if "$schema" in raw:
            self.data["$schema"] = raw["$schema"]
        self._identity()
        self._authors_and_summary()
        self._permissions()
        self._routes()
        self._events()
        self._ui()
        self._hooks()
        self._diagnostics()
        self._trust()
        self._compatibility()
        self._dependencies()
        if isinstance(raw.get("content"), dict):
            self._content(raw["content"])
        self._unknown_keys(raw, TOP_LEVEL_KEYS, "")
        for key, value in raw.items():
            if key not in TOP_LEVEL_KEYS:
                self.data[key] = copy.deepcopy(value)
        return self.data


def _schema_problems(raw: dict) -> tuple[list[Problem], bool]:
    """The schema's problems with ``raw`` (as ``schema_problems``): none, without
    loading the validator, when the schema's predicates already accept it."""
    precheck = schema_precheck()
    if precheck is not None and precheck(raw):
        return [], True
    return schema_problems(schema_validator(), raw, limit=MAX_SCHEMA_ERRORS)


def normalise_manifest(
    raw: dict,
    *,
    source_name: str = "manifest.json",
    trust_level: str | None = None,
    allowlist: sandbox.Allowlist | None = None,
) -> Manifest:
    """Validate ``raw`` and return it normalised, or raise ManifestError with every
    problem found (schema, semantic rules and the sandbox's route allowlist): the
    first ``MAX_PROBLEMS`` by path, and their count.

    ``raw`` is first held to the manifest limits (ManifestLimitError, code
    ``limit_exceeded``), which bounds the work of everything after.
    ``trust_level`` overrides ``trust.level`` (the packager's ``--trust``).
    """
    value_problems = check_value(raw)
    if not isinstance(raw, dict):
        raise ManifestError(
            [Problem("", "not_an_object", "the manifest must be a JSON object")]
        )
    schema_found, complete = _schema_problems(raw)
    if value_problems:
        # Values that no JSON library round-trips: stop before copying them.
        found = ProblemList()
        found.extend(value_problems)
        found.extend(schema_found)
        found.exact = complete
        raise found.error()

    normaliser = Normaliser(raw, trust_level)
    data = normaliser.run()
    # Semantic problems first: on the same (path, code) their message is clearer.
    problems = normaliser.problems
    problems.extend(schema_found)
    problems.exact = complete
    if not problems.roots & _SANDBOX_INPUTS:
        problems.extend(
            sandbox.check_routes(
                data["id"],
                data["routes"],
                data["trust"]["level"],
                allowlist or sandbox.default_allowlist(),
            )
        )
    if problems:
        raise problems.error()

    found_warnings = normaliser.warnings
    warnings = sort_problems(found_warnings.held)
    count = found_warnings.count
    if source_name == "extension.json":
        legacy = Problem(
            "",
            "legacy_filename",
            "extension.json is the legacy name; rename it to manifest.json",
        )
        warnings = [legacy, *warnings][:MAX_WARNINGS]
        count += 1
    return Manifest(
        data=data,
        warnings=tuple(warnings),
        source_name=source_name,
        warning_count=count,
    )
