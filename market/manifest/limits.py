"""Bounds on a manifest's size and shape, and the JSON values no manifest may hold.

Every rule that runs on a manifest does work in proportion to its size, and a tiny
compressed bundle can carry a large manifest. So before any rule runs, the raw bytes
and then the parsed value are held to :data:`LIMITS`; the first bound crossed
refuses the manifest with ``limit_exceeded`` (:class:`ManifestLimitError`, whose
details name the limit, its value and where it was crossed). Within the bounds,
problem and warning lists keep their first ``MAX_LISTED`` items plus a count.

The same walk reports values that cannot round-trip through RFC 8785 JSON (lone
surrogates, integers beyond 2**53, non-finite numbers), and NUL characters in any
string or key (``nul_character``), which no database text column can store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from market.errors import MAX_LISTED, ManifestLimitError, Problem
from market.manifest.problems import format_path, short

MAX_SAFE_INTEGER = 2**53 - 1
# NUL is refused in every string and key: databases (PostgreSQL's text and jsonb)
# and C-string consumers cannot hold it, so it never gets past validation.
NUL = "\x00"
NUL_CODE = "nul_character"
KIB = 1024


@dataclass(frozen=True)
class ManifestLimits:
    """The most a manifest may hold. Real manifests are a few KiB and far inside."""

    # Bytes of the manifest file (before it is parsed; inside a bundle, of the
    # uncompressed member).
    max_bytes: int = 256 * KIB
    # Levels of nested objects and lists below the top-level object.
    max_depth: int = 32
    # JSON values in the whole manifest: objects, lists, strings, numbers, ...
    max_values: int = 20_000
    # Items in one list, keys in one object.
    max_array_items: int = 1_000
    max_object_keys: int = 256
    # Characters in one object key, and in one string value.
    max_key_chars: int = 128
    max_string_chars: int = 32 * KIB


LIMITS = ManifestLimits()
# Problems an error lists, warnings a manifest keeps (each with its full count).
MAX_PROBLEMS = MAX_LISTED
MAX_WARNINGS = MAX_LISTED
# Schema failures looked at before validation stops (the count is then a minimum):
# each costs the validator ~0.1 ms, so this bounds the worst case at ~0.1 s.
MAX_SCHEMA_ERRORS = 1_000


def check_size(size: int, limits: ManifestLimits = LIMITS) -> None:
    """``ManifestLimitError`` when a manifest file of ``size`` bytes is too big."""
    if size > limits.max_bytes:
        raise ManifestLimitError(
            name="max_bytes", limit=limits.max_bytes, value=size, path=""
        )


def check_value(value: Any, limits: ManifestLimits = LIMITS) -> list[Problem]:
    """Hold a parsed manifest to ``limits``; return the values JSON cannot carry.

    Raises ManifestLimitError at the first bound crossed, so the walk itself visits
    at most ``max_values`` values.
    """
    problems: list[Problem] = []
    seen = 0
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, parts = stack.pop()
        seen += 1
        if seen > limits.max_values:
            _over("max_values", limits.max_values, seen, parts)
        if len(parts) > limits.max_depth:
            _over("max_depth", limits.max_depth, len(parts), parts)
        if isinstance(item, dict):
            if len(item) > limits.max_object_keys:
                _over("max_object_keys", limits.max_object_keys, len(item), parts)
            children: list[tuple[Any, tuple[str | int, ...]]] = []
            for key, child in item.items():
                if not isinstance(key, str) or not _encodable(key):
                    problems.append(
                        Problem(
                            format_path(parts),
                            "invalid_value",
                            f"bad object key {short(key)}",
                        )
                    )
                    continue
                if len(key) > limits.max_key_chars:
                    # The path would carry the whole key: report where it is.
                    _over("max_key_chars", limits.max_key_chars, len(key), parts)
                if NUL in key:
                    problems.append(
                        _nul_problem(parts, key, f"object key {short(key)}")
                    )
                    continue
                children.append((child, (*parts, key)))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            if len(item) > limits.max_array_items:
                _over("max_array_items", limits.max_array_items, len(item), parts)
            stack.extend((item[i], (*parts, i)) for i in range(len(item) - 1, -1, -1))
        elif isinstance(item, str):
            if len(item) > limits.max_string_chars:
                _over("max_string_chars", limits.max_string_chars, len(item), parts)
            if not _encodable(item):
                problems.append(
                    Problem(
                        format_path(parts),
                        "invalid_value",
                        "string is not valid Unicode",
                    )
                )
            elif NUL in item:
                problems.append(_nul_problem(parts, item, "string"))
        elif isinstance(item, bool) or item is None:
            pass
        elif isinstance(item, int):
            if abs(item) > MAX_SAFE_INTEGER:
                problems.append(
                    Problem(
                        format_path(parts),
                        "invalid_value",
                        "integer outside +/-(2**53-1)",
                    )
                )
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                problems.append(
                    Problem(
                        format_path(parts), "invalid_value", "number must be finite"
                    )
                )
        else:
            problems.append(
                Problem(
                    format_path(parts),
                    "invalid_type",
                    f"not a JSON value: {type(item).__name__}",
                )
            )
    return problems


def _nul_problem(parts: tuple[str | int, ...], text: str, what: str) -> Problem:
    return Problem(
        format_path(parts),
        NUL_CODE,
        f"{what} holds a NUL character (U+0000) at position {text.index(NUL)}; "
        "no manifest text may",
    )


def _over(name: str, limit: int, value: int, parts: tuple[str | int, ...]) -> None:
    raise ManifestLimitError(
        name=name, limit=limit, value=value, path=format_path(parts)
    )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from "\ud800" escapes
        return False
    return True
