"""Reading manifests: bytes to a dict.

Refuses what JSON parsers disagree on (duplicate keys, ``NaN``; lone surrogates and
integers beyond 2**53 are left to :mod:`market.manifest.limits`) so a reviewer and
the Studio always see the same manifest, and bounds the work: the bytes are held to
``LIMITS.max_bytes`` before they are parsed, and nesting too deep for the parser is
``limit_exceeded``, never a crash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from market.errors import (
    ManifestError,
    ManifestLimitError,
    ManifestMissingError,
    Problem,
)
from market.manifest.limits import LIMITS, check_size, check_value
from market.manifest.problems import short
from market.manifest.registry import MANIFEST_FILENAMES


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which duplicate wins, so a reviewer could see one value
    # and the Studio use another: refuse them.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {short(key)}")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_manifest_bytes(raw: bytes, *, source_name: str = "manifest.json") -> dict:
    """Decode manifest bytes (UTF-8, optional BOM) into a dict, or ManifestError."""
    check_size(len(raw))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            [Problem("", "invalid_encoding", f"{source_name} is not UTF-8: {exc}")]
        ) from exc
    try:
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as exc:
        message = f"{source_name} is not valid JSON: {exc.msg} (line {exc.lineno}, "
        message += f"column {exc.colno})"
        raise ManifestError([Problem("", "invalid_json", message)]) from exc
    except RecursionError as exc:
        # Far deeper than LIMITS.max_depth: the parser's own stack gave out first.
        raise ManifestLimitError(
            name="max_depth",
            limit=LIMITS.max_depth,
            value=LIMITS.max_depth + 1,
            path="",
        ) from exc
    except ValueError as exc:
        # Duplicate keys, NaN, integers longer than Python's digit limit.
        raise ManifestError(
            [Problem("", "invalid_json", f"{source_name} is not valid JSON: {exc}")]
        ) from exc
    if not isinstance(value, dict):
        raise ManifestError(
            [Problem("", "not_an_object", f"{source_name} must hold a JSON object")]
        )
    check_value(value)  # the bounds now; value problems are the normaliser's
    return value


def read_manifest_dir(src: Path) -> tuple[dict, str]:
    """The raw manifest of a source tree and the file name it came from."""
    src = Path(src)
    for name in MANIFEST_FILENAMES:
        path = src / name
        if path.is_file():
            try:
                with path.open("rb") as fh:
                    # One byte over the limit is enough to refuse it.
                    raw = fh.read(LIMITS.max_bytes + 1)
            except OSError as exc:
                raise ManifestMissingError(
                    f"{path}: cannot read the manifest: {exc.strerror or exc}"
                ) from exc
            return parse_manifest_bytes(raw, source_name=name), name
    raise ManifestMissingError(
        f"{src} has no {' or '.join(MANIFEST_FILENAMES)}",
        details={"path": str(src)},
    )
