"""Re-consent: what an upgrade adds and removes, and the check that it was accepted.

An installed extension was accepted with its permissions, global routes and hooks.
A new version (an upgrade, and likewise a downgrade or reinstall that replaces it)
asking for anything more is refused ``consent_required`` unless the request names
every new item in ``accept``. Items are strings, the same in the refusal's details,
in ``GET updates`` and in ``accept``:

- ``permission:<scope>``, e.g. ``permission:assets.write``;
- ``route:<path>`` for a route exposed globally (``expose: "global"``);
- ``hook:<name>``, e.g. ``hook:on_scene_enter``.

The diff is a pure function of two manifests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from market.errors import ConsentRequiredError, InvalidRequestError

KINDS = (("permissions", "permission"), ("global_routes", "route"), ("hooks", "hook"))
MAX_ACCEPT = 500


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def consent_surface(data: dict[str, Any]) -> dict[str, set[str]]:
    """What a manifest asks the user to accept: scopes, global route paths, hooks."""
    return {
        "permissions": {
            str(p.get("scope")) if isinstance(p, dict) else p
            for p in (data.get("permissions") or [])
            if (isinstance(p, dict) and p.get("scope")) or (isinstance(p, str) and p)
        },
        "global_routes": {
            str(r.get("path"))
            for r in _dicts(data.get("routes"))
            if r.get("expose") == "global" and r.get("path")
        },
        "hooks": {
            str(h) for h in (data.get("hooks") or []) if isinstance(h, str) and h
        },
    }


def capability_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``{"added": {...}, "removed": {...}}``, each ``{permissions, global_routes,
    hooks}`` as sorted lists, from the manifest ``old`` to the manifest ``new``."""
    before, after = consent_surface(old), consent_surface(new)
    return {
        "added": {k: sorted(after[k] - before[k]) for k, _ in KINDS},
        "removed": {k: sorted(before[k] - after[k]) for k, _ in KINDS},
    }


def consent_items(changes: dict[str, list[str]]) -> list[str]:
    """The ``accept`` strings naming every item of ``changes`` (an added/removed
    half of :func:`capability_diff`)."""
    return [f"{prefix}:{name}" for key, prefix in KINDS for name in changes[key]]


def normalise_accept(accept: Any) -> list[str]:
    """The request's ``accept`` as a sorted list of distinct strings."""
    if accept is None:
        return []
    if not isinstance(accept, list | tuple) or not all(
        isinstance(a, str) for a in accept
    ):
        raise InvalidRequestError(
            "accept must be a list of strings such as 'permission:assets.write'",
            details={"field": "accept"},
        )
    if len(accept) > MAX_ACCEPT:
        raise InvalidRequestError(
            f"accept names at most {MAX_ACCEPT} items", details={"field": "accept"}
        )
    return sorted(set(accept))


def require_consent(
    *,
    ext_id: str,
    installed_version: str,
    installed_manifest: dict[str, Any],
    version: str,
    manifest: dict[str, Any],
    accept: Iterable[str],
) -> list[str]:
    """The items ``manifest`` adds over ``installed_manifest``, all of them named in
    ``accept``; else ``consent_required`` naming exactly the added items and which
    of them ``accept`` missed."""
    diff = capability_diff(installed_manifest, manifest)
    added = consent_items(diff["added"])
    accepted = set(accept)
    missing = [item for item in added if item not in accepted]
    if missing:
        raise ConsentRequiredError(
            f"{ext_id} {version} asks for more than the installed {installed_version}:"
            f" {', '.join(missing)}; accept every new item to upgrade",
            details={
                "id": ext_id,
                "installed": installed_version,
                "bundle": version,
                "added": diff["added"],
                "items": added,
                "missing": missing,
            },
        )
    return added
