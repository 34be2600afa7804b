"""Views of a normalised manifest: capabilities, catalogue card, referenced files.

Read-only shapes the API, the review diff and the bundle checks share; none of them
validates (the normaliser already has) and all tolerate missing fields.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from market import sandbox
from market.errors import Problem
from market.manifest.registry import KNOWN_PERMISSION_SCOPES, KNOWN_UI_SLOTS, TRUST_KEYS


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def route_view(ext_id: str, route: dict[str, Any]) -> dict[str, Any]:
    """A route as every API payload shows it: declared ``path`` and where it is
    served (``effective_path``: under ``/api/extensions/<id>`` unless global)."""
    return {
        "path": route.get("path"),
        "methods": list(route.get("methods", ["GET"])),
        "expose": route.get("expose", "extension"),
        "effective_path": sandbox.effective_path(ext_id, route),
    }


def capabilities(data: dict) -> dict[str, Any]:
    """What a manifest asks for, in the shape the API and the review diff use."""
    ui = data.get("ui")
    ui = ui if isinstance(ui, dict) else {}
    diagnostics = data.get("diagnostics")
    ext_id = str(data.get("id", ""))
    return {
        "permissions": [p.get("scope") for p in _dicts(data.get("permissions"))],
        "routes": [route_view(ext_id, r) for r in _dicts(data.get("routes"))],
        "events": [e.get("topic") for e in _dicts(data.get("events"))],
        "ui_panels": [p.get("slot") for p in _dicts(ui.get("panels"))],
        "hooks": list(data.get("hooks") or []),
        "diagnostics": copy.deepcopy(diagnostics)
        if isinstance(diagnostics, dict)
        else {"log_topics": [], "metrics": [], "traces": []},
    }


def manifest_summary(data: dict) -> dict[str, Any]:
    """The catalogue card of a manifest. Its ``trust`` holds the known trust fields
    only: unknown keys stay in the manifest, not on every card of every listing."""
    authors = list(data.get("authors") or [])
    trust = data.get("trust")
    if not (isinstance(trust, dict) and trust):
        trust = {"level": "unverified"}
    return {
        "id": data.get("id"),
        "name": data.get("name"),
        "version": data.get("version"),
        "summary": data.get("summary", ""),
        "authors": authors,
        "primary_author": authors[0] if authors else None,
        "trust": {k: copy.deepcopy(v) for k, v in trust.items() if k in TRUST_KEYS},
        "capabilities": capabilities(data),
    }


def referenced_files(data: dict) -> list[tuple[str, str]]:
    """Files a manifest says the bundle contains: ``[(problem path, bundle path)]``.

    UI panel pages and icons always name files; a route or event ``entry`` names one
    when it is a path to a ``.py`` file (``pkg/module.py``), not a dotted module name.
    """
    found: list[tuple[str, str]] = []
    ui = data.get("ui")
    panels = _dicts(ui.get("panels")) if isinstance(ui, dict) else []
    for i, panel in enumerate(panels):
        for key in ("path", "icon"):
            if isinstance(panel.get(key), str):
                found.append((f"ui.panels[{i}].{key}", panel[key]))
    for kind in ("routes", "events"):
        for i, item in enumerate(_dicts(data.get(kind))):
            entry = item.get("entry")
            if isinstance(entry, str) and entry.endswith(".py") and ":" not in entry:
                found.append((f"{kind}[{i}].entry", entry))
    return found


def missing_file_problems(data: dict, present: Iterable[str]) -> list[Problem]:
    """``missing_file`` problems for referenced files absent from ``present``."""
    have = set(present)
    return [
        Problem(at, "missing_file", f"{path!r} is not in the bundle")
        for at, path in referenced_files(data)
        if path not in have
    ]


def entry_module_files(entry: str) -> tuple[str, ...] | None:
    """The bundle files one of which must hold the module a code ``entry`` names.

    ``None`` for a plain ``.py`` path, which is a referenced file
    (:func:`referenced_files`). ``pkg/mod.py:func`` needs ``pkg/mod.py``; a module
    name, alone or before ``:`` (``pkg.mod``, ``pkg.mod:func``), needs
    ``pkg/mod.py`` or the package ``pkg/mod/__init__.py``.
    """
    if entry.endswith(".py") and ":" not in entry:
        return None
    module = entry.split(":", 1)[0]
    if module.endswith(".py"):
        return (module,)
    base = module if "/" in module else module.replace(".", "/")
    return (f"{base}.py", f"{base}/__init__.py")


def missing_entry_problems(data: dict, present: Iterable[str]) -> list[Problem]:
    """``missing_entry_module`` problems: route and event entries naming a module
    that no file in ``present`` holds, at the entry's path (``routes[0].entry``)."""
    have = set(present)
    problems: list[Problem] = []
    for kind in ("routes", "events"):
        for i, item in enumerate(_dicts(data.get(kind))):
            entry = item.get("entry")
            files = entry_module_files(entry) if isinstance(entry, str) else None
            if files is None or any(f in have for f in files):
                continue
            if len(files) == 1:
                where = f"{files[0]!r} is not in the bundle"
            else:
                where = f"neither {files[0]!r} nor {files[1]!r} is in the bundle"
            problems.append(
                Problem(
                    f"{kind}[{i}].entry",
                    "missing_entry_module",
                    f"{entry!r} names a module the bundle does not pack: {where}",
                )
            )
    return problems


def reference_problems(data: dict, present: Iterable[str]) -> list[Problem]:
    """Every file and entry module the manifest names that ``present`` lacks."""
    have = set(present)
    return [*missing_file_problems(data, have), *missing_entry_problems(data, have)]


def slots_glossary() -> list[dict[str, str]]:
    """The UI panel slots, in the Studio's layout order."""
    return [
        {"slot": slot, "description": description}
        for slot, description in KNOWN_UI_SLOTS.items()
    ]


def permissions_glossary() -> list[dict[str, str]]:
    """The permission registry, in registry order."""
    return [
        {"scope": scope, "description": description}
        for scope, description in KNOWN_PERMISSION_SCOPES.items()
    ]
