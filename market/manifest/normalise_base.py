"""The normaliser's shared state and helpers, used by every ``normalise_*`` section.

Nothing here raises on bad input: every check appends a ``Problem`` (an error) or a
warning, and ``normalise_manifest`` decides what to raise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from market.errors import Problem


def fold_strings(values: Iterable[Any]) -> list[str]:
    """Strings stripped, blanks and duplicates dropped, first occurrence order kept."""
    out: list[str] = []
    for value in values:
        if isinstance(value, str):
            value = value.strip()
            if value and value not in out:
                out.append(value)
    return out


class NormaliserBase:
    """Raw input, the manifest being built, and the problems and warnings found.

    Values of the wrong type are skipped by the sections: the schema already
    reports them.
    """

    def __init__(self, raw: dict[str, Any], trust_level: str | None) -> None:
        self.raw = raw
        self.trust_level = trust_level
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.data: dict[str, Any] = {}

    def error(self, path: str, code: str, message: str) -> None:
        self.problems.append(Problem(path, code, message))

    def warn(self, path: str, code: str, message: str) -> None:
        self.warnings.append(Problem(path, code, message))

    def _unknown_keys(self, obj: dict[str, Any], known: Iterable[str], at: str) -> None:
        for key in obj:
            if key not in known:
                path = f"{at}.{key}" if at else key
                self.warn(path, "unknown_field", f"unknown field {key!r} (kept)")

    def _scopes(self) -> set[str]:
        return {p["scope"] for p in self.data.get("permissions", [])}
