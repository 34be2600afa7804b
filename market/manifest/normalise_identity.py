"""Normaliser sections for who an extension is and what it may do.

``manifest_version``, ``id``, ``name``, ``version``, authors, summary and
``permissions`` (checked against the permission registry).
"""

from __future__ import annotations

import re
from typing import Any

from market.manifest.normalise_base import NormaliserBase, fold_strings
from market.manifest.problems import short
from market.manifest.registry import (
    DEFAULT_MANIFEST_VERSION,
    ID_RE,
    ID_RULE,
    KNOWN_PERMISSION_SCOPES,
    MAX_VERSION_LENGTH,
    PERMISSION_KEYS,
    SUPPORTED_MANIFEST_VERSIONS,
)
from market.manifest.wording import did_you_mean, unknown_name

# SemVer 2.0.0 (the regular expression of semver.org), ASCII digits, matched against
# the whole string: what ``semver.Version.parse`` accepts, without loading semver
# for every manifest (the range parser, which needs its versions, loads it).
_SEMVER_RE = re.compile(
    r"(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)\.(?P<patch>0|[1-9][0-9]*)"
    r"(?:-(?P<prerelease>(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?",
    re.ASCII,
)


class IdentitySections(NormaliserBase):
    """Identity, authors and summary, permissions."""

    def _identity(self) -> None:
        raw, data = self.raw, self.data
        mv = raw.get("manifest_version", DEFAULT_MANIFEST_VERSION)
        data["manifest_version"] = mv
        if isinstance(mv, str) and mv not in SUPPORTED_MANIFEST_VERSIONS:
            self.error(
                "manifest_version",
                "unsupported_manifest_version",
                f"{short(mv)} is not supported; use one of "
                + ", ".join(SUPPORTED_MANIFEST_VERSIONS)
                + did_you_mean(mv, SUPPORTED_MANIFEST_VERSIONS),
            )
        ext_id = raw.get("id")
        if isinstance(ext_id, str):
            data["id"] = ext_id
            if not ID_RE.fullmatch(ext_id):
                self.error(
                    "id",
                    "invalid_id",
                    f"{short(ext_id)} {ID_RULE}",
                )
        name = raw.get("name")
        self.display_text(name, "name")
        if isinstance(name, str):
            data["name"] = name.strip()
            if not data["name"]:
                self.error("name", "invalid_name", "name must not be blank")
        version = raw.get("version")
        if isinstance(version, str):
            data["version"] = version
            if not _is_semver(version):
                self.error(
                    "version",
                    "invalid_version",
                    f"{short(version)} is not a SemVer 2.0.0 version (e.g. 1.2.3)",
                )

    def _authors_and_summary(self) -> None:
        raw, data = self.raw, self.data
        author = raw.get("author")
        names = [author] if isinstance(author, str) else []
        self.display_text(author, "author")
        if isinstance(author, list):
            names.extend(author)
            for i, item in enumerate(author):
                self.display_text(item, f"author[{i}]")
        if isinstance(raw.get("authors"), list):
            names.extend(raw["authors"])
            for i, item in enumerate(raw["authors"]):
                self.display_text(item, f"authors[{i}]")
        data["authors"] = fold_strings(names)

        summary, description = raw.get("summary"), raw.get("description")
        self.display_text(summary, "summary", multiline=True)
        self.display_text(description, "description", multiline=True)
        if isinstance(description, str):
            data["description"] = description.strip()
        text = summary.strip() if isinstance(summary, str) else ""
        if not text and isinstance(description, str):
            text = description.strip()
        data["summary"] = text
        wrong_type = (summary is not None and not isinstance(summary, str)) or (
            description is not None and not isinstance(description, str)
        )
        if not text and not wrong_type:
            self.error(
                "summary", "missing_field", "a summary (or a description) is required"
            )

    def _permissions(self) -> None:
        items = self.raw.get("permissions", [])
        out: list[dict[str, Any]] = []
        by_scope: dict[str, dict[str, Any]] = {}
        for i, item in enumerate(items if isinstance(items, list) else []):
            at = f"permissions[{i}]"
            scope: Any = None
            description: Any = None
            optional: Any = False
            extra: dict[str, Any] = {}
            if isinstance(item, str):
                scope = item
            elif isinstance(item, dict):
                scope = item.get("scope")
                description = item.get("description")
                optional = item.get("optional", False)
                self._unknown_keys(item, PERMISSION_KEYS, at)
                # Unknown keys are kept, as everywhere else in the manifest.
                extra = {k: v for k, v in item.items() if k not in PERMISSION_KEYS}
            else:
                continue
            if not isinstance(scope, str):
                continue
            if scope not in KNOWN_PERMISSION_SCOPES:
                self.error(
                    f"{at}.scope",
                    "unknown_permission",
                    unknown_name(
                        "unknown_permission",
                        scope,
                        KNOWN_PERMISSION_SCOPES,
                        short(scope),
                    ),
                )
                continue
            # Shown to whoever installs the extension, as why it asks.
            self.display_text(description, f"{at}.description", multiline=True)
            if not (isinstance(description, str) and description.strip()):
                description = KNOWN_PERMISSION_SCOPES[scope]
            entry = {
                **extra,
                "scope": scope,
                "description": description.strip(),
                "optional": optional if isinstance(optional, bool) else False,
            }
            if scope in by_scope:
                # Declared twice: required if either declaration says so.
                first = by_scope[scope]
                first["optional"] = first["optional"] and entry["optional"]
                continue
            by_scope[scope] = entry
            out.append(entry)
        self.data["permissions"] = out


def _is_semver(version: str) -> bool:
    if len(version) > MAX_VERSION_LENGTH:
        return False
    return _SEMVER_RE.fullmatch(version) is not None
