"""Normaliser sections for what an extension plugs into the Studio.

``routes`` (paths, methods, exposure), ``events``, ``ui.panels``, ``hooks`` (checked
against the hook catalogue) and ``diagnostics``.
"""

from __future__ import annotations

import copy
from typing import Any

from market.manifest.normalise_base import NormaliserBase, fold_strings
from market.manifest.paths import (
    bundle_path_problem,
    clean_relative,
    route_path_problem,
)
from market.manifest.problems import short
from market.manifest.registry import (
    DIAGNOSTICS_KEYS,
    EVENT_KEYS,
    HTTP_METHODS,
    KNOWN_UI_SLOTS,
    PANEL_KEYS,
    ROUTE_KEYS,
    UI_KEYS,
)
from market.manifest.wording import did_you_mean, unknown_name


class RouteSections(NormaliserBase):
    """Routes, events, UI panels, hooks and diagnostics."""

    def _routes(self) -> None:
        items = self.raw.get("routes", [])
        out: list[dict[str, Any]] = []
        seen: dict[tuple[str, str, str], int] = {}
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict):
                route = self._route(i, item)
                out.append(route)
                expose, path = route["expose"], route.get("path")
                if not (isinstance(expose, str) and isinstance(path, str) and path):
                    continue  # already reported by the schema
                for method in route["methods"]:
                    key = (expose, path, method)
                    if key in seen:
                        self.error(
                            f"routes[{i}].path",
                            "invalid_route",
                            f"{method} {route['path']} is already declared by "
                            f"routes[{seen[key]}]",
                        )
                        break
                    seen.setdefault(key, i)
            else:
                out.append(copy.deepcopy(item))
        self.data["routes"] = out

    def _route(self, i: int, item: dict[str, Any]) -> dict[str, Any]:
        at = f"routes[{i}]"
        route: dict[str, Any] = {}
        path = item.get("path")
        if isinstance(path, str):
            path = path.strip()
            if path and not path.startswith("/"):
                path = "/" + path
            route["path"] = path
            problem = route_path_problem(path)
            if problem:
                self.error(f"{at}.path", "invalid_route", f"{short(path)} {problem}")
        methods = item.get("methods", ["GET"])
        route["methods"] = []
        for j, method in enumerate(methods if isinstance(methods, list) else []):
            if not isinstance(method, str):
                continue
            verb = method.strip().upper()
            if verb not in HTTP_METHODS:
                self.error(
                    f"{at}.methods[{j}]",
                    "invalid_route",
                    f"{short(method)} is not an HTTP method; use one of "
                    + ", ".join(sorted(HTTP_METHODS))
                    + did_you_mean(verb, HTTP_METHODS),
                )
            elif verb not in route["methods"]:
                route["methods"].append(verb)
        expose = item.get("expose", "extension")
        route["expose"] = expose
        if expose == "global" and "api.global" not in self._scopes():
            self.error(
                f"{at}.expose",
                "missing_permission",
                "a global route needs the api.global permission",
            )
        self._entry(item, route, at, "invalid_route")
        for key in ("summary", "name"):
            if isinstance(item.get(key), str):
                route[key] = item[key].strip()
        tags = item.get("tags", [])
        route["tags"] = fold_strings(tags if isinstance(tags, list) else [])
        self._unknown_keys(item, ROUTE_KEYS, at)
        route.update(
            (k, copy.deepcopy(v)) for k, v in item.items() if k not in ROUTE_KEYS
        )
        return route

    def _entry(
        self, item: dict[str, Any], out: dict[str, Any], at: str, code: str
    ) -> None:
        entry = item.get("entry")
        if isinstance(entry, str):
            out["entry"] = entry.strip()
            problem = bundle_path_problem(out["entry"], allow_colon=True)
            if problem:
                self.error(f"{at}.entry", code, f"{short(entry)} {problem}")
        if isinstance(item.get("callable"), str):
            out["callable"] = item["callable"]

    def _events(self) -> None:
        items = self.raw.get("events", [])
        out: list[Any] = []
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                out.append(copy.deepcopy(item))
                continue
            at = f"events[{i}]"
            event: dict[str, Any] = {}
            if isinstance(item.get("topic"), str):
                event["topic"] = item["topic"]
            self._entry(item, event, at, "invalid_event")
            once = item.get("once", False)
            event["once"] = once if isinstance(once, bool) else False
            self._unknown_keys(item, EVENT_KEYS, at)
            event.update(
                (k, copy.deepcopy(v)) for k, v in item.items() if k not in EVENT_KEYS
            )
            out.append(event)
        self.data["events"] = out

    def _ui(self) -> None:
        ui = self.raw.get("ui", {})
        if not isinstance(ui, dict):
            self.data["ui"] = {"panels": []}
            return
        panels = ui.get("panels", [])
        out: list[Any] = []
        for i, item in enumerate(panels if isinstance(panels, list) else []):
            if not isinstance(item, dict):
                out.append(copy.deepcopy(item))
                continue
            at = f"ui.panels[{i}]"
            panel: dict[str, Any] = {}
            for key in ("slot", "label"):
                if isinstance(item.get(key), str):
                    panel[key] = item[key].strip()
            # The label is the panel's title in the Studio: display text.
            self.display_text(item.get("label"), f"{at}.label")
            slot = panel.get("slot")
            if isinstance(slot, str) and slot not in KNOWN_UI_SLOTS:
                self.error(
                    f"{at}.slot",
                    "unknown_slot",
                    unknown_name("unknown_slot", slot, KNOWN_UI_SLOTS, short(slot)),
                )
            for key in ("path", "icon"):
                value = item.get(key)
                if not isinstance(value, str):
                    continue
                problem = bundle_path_problem(value.strip())
                panel[key] = value.strip() if problem else clean_relative(value)
                if problem:
                    self.error(
                        f"{at}.{key}", "invalid_panel", f"{short(value)} {problem}"
                    )
            self._unknown_keys(item, PANEL_KEYS, at)
            panel.update(
                (k, copy.deepcopy(v)) for k, v in item.items() if k not in PANEL_KEYS
            )
            out.append(panel)
        if out and "ui.panels" not in self._scopes():
            self.warn(
                "ui.panels",
                "missing_permission",
                "panels are declared without the ui.panels permission",
            )
        self._unknown_keys(ui, UI_KEYS, "ui")
        result = {k: copy.deepcopy(v) for k, v in ui.items() if k not in UI_KEYS}
        result["panels"] = out
        self.data["ui"] = result

    def _hooks(self) -> None:
        items = self.raw.get("hooks", [])
        if not isinstance(items, list) or not items:
            self.data["hooks"] = []
            return
        # Here: the hook catalogue is loaded only for a manifest that names hooks.
        from market.hooks_catalog import HOOK_NAMES, get_hook

        out: list[str] = []
        scopes = self._scopes()
        for i, name in enumerate(items):
            if not isinstance(name, str):
                continue
            hook = get_hook(name)
            if hook is None:
                self.error(
                    f"hooks[{i}]",
                    "unknown_hook",
                    unknown_name("unknown_hook", name, HOOK_NAMES, short(name)),
                )
                continue
            if name in out:
                continue
            out.append(name)
            if hook.permission not in scopes:
                self.warn(
                    f"hooks[{i}]",
                    "missing_permission",
                    f"{name} is delivered to extensions with {hook.permission}",
                )
        self.data["hooks"] = out

    def _diagnostics(self) -> None:
        diag = self.raw.get("diagnostics", {})
        diag = diag if isinstance(diag, dict) else {}
        out: dict[str, Any] = {}
        for key in DIAGNOSTICS_KEYS:
            values = diag.get(key, [])
            out[key] = fold_strings(values if isinstance(values, list) else [])
        self._unknown_keys(diag, DIAGNOSTICS_KEYS, "diagnostics")
        out.update(
            (k, copy.deepcopy(v)) for k, v in diag.items() if k not in DIAGNOSTICS_KEYS
        )
        self.data["diagnostics"] = out
