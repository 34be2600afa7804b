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
from market.errors import ManifestError, Problem
from market.manifest.digest import manifest_sha256
from market.manifest.normalise_identity import IdentitySections
from market.manifest.normalise_routes import RouteSections
from market.manifest.normalise_trust import TrustSections
from market.manifest.parsing import json_value_problems
from market.manifest.problems import finish_problems, schema_problems
from market.manifest.registry import TOP_LEVEL_KEYS
from market.manifest.schema import schema_validator

# The sandbox needs a valid id, routes and trust level to say anything useful.
_SANDBOX_INPUTS = frozenset({"", "id", "routes", "trust"})


@dataclass(frozen=True)
class Manifest:
    """A valid, normalised manifest. ``data`` is shared: copy it before changing it."""

    data: dict[str, Any]
    warnings: tuple[Problem, ...] = ()
    source_name: str = "manifest.json"

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


class Normaliser(IdentitySections, RouteSections, TrustSections):
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
        if isinstance(raw.get("content"), dict):
            self._content(raw["content"])
        self._unknown_keys(raw, TOP_LEVEL_KEYS, "")
        for key, value in raw.items():
            if key not in TOP_LEVEL_KEYS:
                self.data[key] = copy.deepcopy(value)
        return self.data


def normalise_manifest(
    raw: dict,
    *,
    source_name: str = "manifest.json",
    trust_level: str | None = None,
    allowlist: sandbox.Allowlist | None = None,
) -> Manifest:
    """Validate ``raw`` and return it normalised, or raise ManifestError with every
    problem found (schema, semantic rules and the sandbox's route allowlist).

    ``trust_level`` overrides ``trust.level`` (the packager's ``--trust``).
    """
    value_problems = json_value_problems(raw)
    if not isinstance(raw, dict):
        raise ManifestError(
            [Problem("", "not_an_object", "the manifest must be a JSON object")]
        )
    schema_found = schema_problems(schema_validator(), raw)
    if value_problems:
        # Values that no JSON library round-trips: stop before copying them.
        raise ManifestError(finish_problems([*value_problems, *schema_found]))

    normaliser = Normaliser(raw, trust_level)
    data = normaliser.run()
    # Semantic problems first: on the same (path, code) their message is clearer.
    problems = finish_problems([*normaliser.problems, *schema_found])
    if not any(p.path.split("[")[0].split(".")[0] in _SANDBOX_INPUTS for p in problems):
        problems = finish_problems(
            [
                *problems,
                *sandbox.check_routes(
                    data["id"],
                    data["routes"],
                    data["trust"]["level"],
                    allowlist or sandbox.default_allowlist(),
                ),
            ]
        )
    if problems:
        raise ManifestError(problems)

    warnings = list(normaliser.warnings)
    if source_name == "extension.json":
        warnings.insert(
            0,
            Problem(
                "",
                "legacy_filename",
                "extension.json is the legacy name; rename it to manifest.json",
            ),
        )
    return Manifest(data=data, warnings=tuple(warnings), source_name=source_name)
