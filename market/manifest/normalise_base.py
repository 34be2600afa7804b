"""The normaliser's shared state and helpers, used by every ``normalise_*`` section.

Nothing here raises on bad input: every check appends a ``Problem`` (an error) or a
warning, and ``normalise_manifest`` decides what to raise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from market.characters import display_text_problem
from market.errors import Problem
from market.manifest.problems import ProblemList, WarningList, short
from market.manifest.wording import did_you_mean


def fold_strings(values: Iterable[Any]) -> list[str]:
    """Strings stripped, blanks and duplicates dropped, first occurrence order kept."""
    return list(dict.fromkeys(v for v in map(_stripped, values) if v))


def _stripped(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


class NormaliserBase:
    """Raw input, the manifest being built, and the problems and warnings found.

    Values of the wrong type are skipped by the sections: the schema already
    reports them.
    """

    def __init__(self, raw: dict[str, Any], trust_level: str | None) -> None:
        self.raw = raw
        self.trust_level = trust_level
        # Bounded: counted in full, only the first few held (see ProblemList).
        self.problems = ProblemList()
        self.warnings = WarningList()
        self.data: dict[str, Any] = {}

    def error(self, path: str, code: str, message: str) -> None:
        self.problems.add(Problem(path, code, message))

    def warn(self, path: str, code: str, message: str) -> None:
        self.warnings.add(Problem(path, code, message))

    def display_text(self, value: Any, path: str, *, multiline: bool = False) -> None:
        """Refuse a shown string holding a hidden character (``invalid_characters``).

        What is checked is what is kept: the value stripped, as the sections store
        it; the position reported counts from the start of the value as written.
        """
        if isinstance(value, str):
            kept = value.strip()
            problem = display_text_problem(
                kept,
                path=path,
                multiline=multiline,
                offset=len(value) - len(value.lstrip()),
            )
            if problem is not None:
                self.problems.add(problem)

    def _unknown_keys(self, obj: dict[str, Any], known: Iterable[str], at: str) -> None:
        for key in obj:
            if key not in known:
                path = f"{at}.{key}" if at else key
                self.warn(
                    path,
                    "unknown_field",
                    f"unknown field {short(key)} (kept){did_you_mean(key, known)}",
                )

    def _scopes(self) -> set[str]:
        return {p["scope"] for p in self.data.get("permissions", [])}
