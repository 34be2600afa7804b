"""How problems are worded: suggestions for typos, rules in words instead of regexes.

A modder reads ``unknown hook 'on_scene_exit'; did you mean 'on_scene_enter'?`` and
``must be a Python name or dotted name``, never ``does not match ^[A-Za-z_]...$``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from market.manifest.registry import (
    HOOKS_DOC,
    ID_PATTERN,
    ID_RULE,
    PERMISSIONS_DOC,
    SLOTS_DOC,
)

# Suggestions are only looked for in short values: a typo is short, and difflib's
# cost grows with the length of what it compares.
_MAX_SUGGESTED_LENGTH = 100

CALLABLE_RULE = (
    "must be a Python name or dotted name (letters, digits and '_', each part not "
    "starting with a digit), e.g. list_scenes or views.list_scenes"
)

# Every ``pattern`` of the manifest schema, said in words (a test walks the schema).
PATTERN_RULES: dict[str, str] = {
    ID_PATTERN: ID_RULE,
    r"\S": "must not be blank",
    (
        r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
        r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
        r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
        r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
    ): "is not a SemVer 2.0.0 version (e.g. 1.2.3)",
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$": CALLABLE_RULE,
    r"^[A-Za-z0-9][A-Za-z0-9_.:/*-]*$": (
        "must start with a letter or digit and hold only letters, digits and "
        "_ . : / * - (e.g. modder.on_scene_enter)"
    ),
    r"^[0-9a-f]{64}$": "must be 64 lower-case hexadecimal digits (a SHA-256)",
}
_FALLBACK_RULE = "is not in the form the manifest schema allows"

# Registries whose unknown names get a suggestion and a pointer to the full list.
REGISTRIES: dict[str, tuple[str, str]] = {
    "unknown_permission": ("scope", PERMISSIONS_DOC),
    "unknown_hook": ("hook", HOOKS_DOC),
    "unknown_slot": ("slot", SLOTS_DOC),
}


def did_you_mean(value: Any, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    if not isinstance(value, str) or not value or len(value) > _MAX_SUGGESTED_LENGTH:
        return ""
    import difflib  # here: a valid manifest never needs it

    options = [c for c in choices if c != value]
    found = difflib.get_close_matches(value, options, n=1)
    if not found:
        # Case slips ("Sidebar", "Verified") count as close too.
        lowered = {option.lower(): option for option in options}
        found = [lowered[m] for m in difflib.get_close_matches(value.lower(), lowered)]
    return f"; did you mean {found[0]!r}?" if found else ""


def unknown_name(code: str, value: Any, names: Iterable[str], quoted: str) -> str:
    """``unknown hook 'x'; did you mean 'y'? (known hooks: docs/...)``."""
    kind, where = REGISTRIES[code]
    return (
        f"unknown {kind} {quoted}{did_you_mean(value, names)} (known {kind}s: {where})"
    )


def pattern_rule(pattern: str) -> str:
    """What ``pattern`` (from the manifest schema) allows, in words."""
    return PATTERN_RULES.get(pattern, _FALLBACK_RULE)
