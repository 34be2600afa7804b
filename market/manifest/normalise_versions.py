"""Normaliser sections for how an extension fits with others over time.

``compatibility`` (the Studio versions it runs on) and ``dependencies`` (other
extensions it needs, by id and version range). Both take SemVer ranges in the
syntax of :mod:`market.manifest.ranges`. Each section is written into the
normalised manifest only when the raw one has it, so manifests without them keep
their digests.
"""

from __future__ import annotations

import copy
from typing import Any

from market.manifest.normalise_base import NormaliserBase
from market.manifest.problems import short
from market.manifest.registry import (
    COMPATIBILITY_KEYS,
    ID_RE,
    ID_RULE,
    MAX_DEPENDENCIES,
    RANGES_DOC,
)


class VersionSections(NormaliserBase):
    """Compatibility and dependencies."""

    def _compatibility(self) -> None:
        raw = self.raw.get("compatibility")
        if not isinstance(raw, dict):
            return  # absent, or the schema reports its type
        out: dict[str, Any] = {}
        studio = raw.get("studio")
        if isinstance(studio, str):
            out["studio"] = self._range(studio, "compatibility.studio")
        self._unknown_keys(raw, COMPATIBILITY_KEYS, "compatibility")
        for key, value in raw.items():
            if key not in COMPATIBILITY_KEYS:
                out[key] = copy.deepcopy(value)
        self.data["compatibility"] = out

    def _dependencies(self) -> None:
        raw = self.raw.get("dependencies")
        if not isinstance(raw, dict):
            return
        if len(raw) > MAX_DEPENDENCIES:
            return  # the schema's maxProperties reports it
        out: dict[str, str] = {}
        own_id = self.raw.get("id")
        for dep_id, spec in raw.items():
            at = f"dependencies.{dep_id}"
            if not ID_RE.fullmatch(dep_id):
                self.error(at, "invalid_dependency", f"{short(dep_id)} {ID_RULE}")
                continue
            if dep_id == own_id:
                self.error(
                    at,
                    "self_dependency",
                    f"{short(dep_id)} is this extension's own id; an extension "
                    "cannot depend on itself",
                )
                continue
            if isinstance(spec, str):
                out[dep_id] = self._range(spec, at)
        self.data["dependencies"] = out

    def _range(self, text: str, at: str) -> str:
        # Here: a manifest without ranges is checked without loading the parser.
        from market.manifest.ranges import RangeError, parse_range

        try:
            return parse_range(text).text
        except RangeError as exc:
            self.error(
                at,
                "invalid_range",
                f"{short(text)} is not a version range: {exc} (see {RANGES_DOC})",
            )
            return text
