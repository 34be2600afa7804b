"""Findings from what a manifest asks for: sensitive permissions and hooks, global
routes, permissions new since the last approved version, unexplained permissions.

The manifest is the normalised one stored with the entry; the line of each finding
is looked up in the manifest file as shipped (the first line holding the value as a
JSON string), so the code viewer can point at it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from market.hooks_catalog import SENSITIVE_HOOKS
from market.manifest import KNOWN_PERMISSION_SCOPES, SENSITIVE_PERMISSION_SCOPES
from market.risk.findings import Finding


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _permissions(data: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    raw = data.get("permissions")
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, str):
            found.append({"scope": item})
        elif isinstance(item, dict) and isinstance(item.get("scope"), str):
            found.append(item)
    return found


def _scopes(data: dict[str, Any] | None) -> set[str]:
    return {p["scope"] for p in _permissions(data or {})}


def line_finder(text: str) -> Callable[[str], int | None]:
    """``find(value)``: the first line (1-based) holding ``value`` as a JSON string."""
    lines = text.splitlines()

    def find(value: str) -> int | None:
        needle = json.dumps(value)
        for number, line in enumerate(lines, start=1):
            if needle in line:
                return number
        return None

    return find


def _justified(permission: dict[str, Any]) -> bool:
    # The normaliser fills a missing reason with the registry's stock text, which
    # says what the scope is, not why this extension needs it.
    text = permission.get("description")
    if not (isinstance(text, str) and text.strip()):
        return False
    stock = KNOWN_PERMISSION_SCOPES.get(permission["scope"], "")
    return text.strip() != stock.strip()


def manifest_findings(
    data: dict[str, Any],
    previous: dict[str, Any] | None,
    *,
    manifest_name: str,
    manifest_text: str,
) -> Iterable[Finding]:
    find = line_finder(manifest_text)

    def at(code: str, severity: str, value: str, message: str) -> Finding:
        return Finding(code, severity, manifest_name, find(value), message)

    old_scopes = _scopes(previous) if previous is not None else None
    for permission in _permissions(data):
        scope = permission["scope"]
        sensitive = scope in SENSITIVE_PERMISSION_SCOPES
        if sensitive:
            yield at(
                "sensitive_permission",
                "medium",
                scope,
                f"asks for {scope}, which reaches outside the extension's sandbox",
            )
        if old_scopes is not None and scope not in old_scopes:
            yield at(
                "new_permission",
                "medium" if sensitive else "low",
                scope,
                f"{scope} is new since approved version {previous.get('version')}"
                if previous
                else f"{scope} is new",
            )
        if not _justified(permission):
            yield at(
                "unjustified_permission",
                "medium" if sensitive else "low",
                scope,
                f"{scope} is requested without a reason from the modder",
            )
    hooks = data.get("hooks")
    for hook in hooks if isinstance(hooks, list) else []:
        if isinstance(hook, str) and hook in SENSITIVE_HOOKS:
            yield at(
                "sensitive_hook",
                "medium",
                hook,
                f"listens to {hook}, a secrets or sandbox-defence event",
            )
    for route in _dicts(data.get("routes")):
        if route.get("expose") == "global":
            path = str(route.get("path", ""))
            yield at(
                "global_route",
                "high",
                path,
                f"route {path} is served outside the extension's namespace",
            )


__all__ = ["line_finder", "manifest_findings"]
