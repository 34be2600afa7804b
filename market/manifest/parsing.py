"""Reading manifests: bytes to a dict, and the JSON values no manifest may hold.

Refuses what JSON parsers disagree on (duplicate keys, ``NaN``, lone surrogates,
integers beyond 2**53) so a reviewer and the Studio always see the same manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from market.errors import ManifestError, ManifestMissingError, Problem
from market.manifest.problems import format_path, short
from market.manifest.registry import MANIFEST_FILENAMES, MAX_DEPTH, MAX_SAFE_INTEGER


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which duplicate wins, so a reviewer could see one value
    # and the Studio use another: refuse them.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_manifest_bytes(raw: bytes, *, source_name: str = "manifest.json") -> dict:
    """Decode manifest bytes (UTF-8, optional BOM) into a dict, or ManifestError."""
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
    except (ValueError, RecursionError) as exc:
        raise ManifestError(
            [Problem("", "invalid_json", f"{source_name} is not valid JSON: {exc}")]
        ) from exc
    if not isinstance(value, dict):
        raise ManifestError(
            [Problem("", "not_an_object", f"{source_name} must hold a JSON object")]
        )
    return value


def read_manifest_dir(src: Path) -> tuple[dict, str]:
    """The raw manifest of a source tree and the file name it came from."""
    src = Path(src)
    for name in MANIFEST_FILENAMES:
        path = src / name
        if path.is_file():
            try:
                raw = path.read_bytes()
            except OSError as exc:
                raise ManifestMissingError(
                    f"{path}: cannot read the manifest: {exc.strerror or exc}"
                ) from exc
            return parse_manifest_bytes(raw, source_name=name), name
    raise ManifestMissingError(
        f"{src} has no {' or '.join(MANIFEST_FILENAMES)}",
        details={"path": str(src)},
    )


def json_value_problems(value: Any) -> list[Problem]:
    """Values that cannot round-trip through RFC 8785 JSON, or nest too deeply."""
    problems: list[Problem] = []
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, parts = stack.pop()
        path = format_path(parts)
        if len(parts) > MAX_DEPTH:
            problems.append(Problem(path, "invalid_value", "nested too deeply"))
            continue
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or not _encodable(key):
                    problems.append(
                        Problem(path, "invalid_value", f"bad object key {short(key)}")
                    )
                    continue
                stack.append((child, [*parts, key]))
        elif isinstance(item, list):
            stack.extend((child, [*parts, i]) for i, child in enumerate(item))
        elif isinstance(item, str):
            if not _encodable(item):
                problems.append(
                    Problem(path, "invalid_value", "string is not valid Unicode")
                )
        elif isinstance(item, bool) or item is None:
            pass
        elif isinstance(item, int):
            if abs(item) > MAX_SAFE_INTEGER:
                problems.append(
                    Problem(path, "invalid_value", "integer outside +/-(2**53-1)")
                )
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                problems.append(Problem(path, "invalid_value", "number must be finite"))
        else:
            problems.append(
                Problem(
                    path, "invalid_type", f"not a JSON value: {type(item).__name__}"
                )
            )
    return problems


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from "\ud800" escapes
        return False
    return True
