"""Rules behind ``market.manifest``: registries, schema-error mapping, normalisation.

``market.manifest`` is the public face; this module holds the field-by-field work so
both stay readable. Nothing here raises on bad input: every check appends a
``Problem`` (an error) or a warning, and the caller decides what to raise.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import semver
from jsonschema import Draft202012Validator, ValidationError

from market.errors import Problem
from market.hooks_catalog import get_hook

SUPPORTED_MANIFEST_VERSIONS = ("1.0", "1.1")
DEFAULT_MANIFEST_VERSION = "1.1"
TRUST_LEVELS = ("unverified", "verified")
SIGNATURE_TYPES = ("sha256", "ed25519")
ROUTE_EXPOSURES = ("extension", "global")
# ECMA-262 syntax so the schema can carry it; Python callers should use fullmatch,
# because ``$`` also matches before a trailing newline.
ID_PATTERN = r"^[a-z][a-z0-9_.-]{2,63}$"
ID_RE = re.compile(r"[a-z][a-z0-9_.-]{2,63}")
MAX_VERSION_LENGTH = 128
MAX_ROUTE_PATH_LENGTH = 512
# Deeper values are refused rather than risk recursion limits in JSON libraries.
MAX_DEPTH = 32
MAX_SAFE_INTEGER = 2**53 - 1

# The spec's registry, in the spec's order, with the spec's descriptions.
KNOWN_PERMISSION_SCOPES: dict[str, str] = {
    "assets.read": "List/query asset registry metadata.",
    "assets.write": "Register or update asset metadata & sidecars.",
    "assets.events": "Subscribe to asset registry hook events.",
    "assets.debug": "Access asset debug metrics/traces/thumbnails.",
    "hooks.emit": "Emit modder hook events via the internal bus.",
    "hooks.listen": "Subscribe to modder hook events from the bus.",
    "extensions.lifecycle": "Listen for extension install/uninstall lifecycle updates.",
    "ui.panels": "Register Studio UI panels.",
    "api.global": "Expose HTTP routes outside the extension namespace.",
    "diagnostics.read": "Access debug tooling endpoints exposed by the extension.",
    "sandbox.fs.limited": "Request write access to additional filesystem roots.",
}

# Methods an extension route may serve. CONNECT and TRACE are left out on purpose:
# they are proxy/diagnostic verbs no extension endpoint should answer.
HTTP_METHODS: frozenset[str] = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

TOP_LEVEL_KEYS = frozenset(
    {
        "$schema",
        "manifest_version",
        "id",
        "name",
        "version",
        "author",
        "authors",
        "summary",
        "description",
        "permissions",
        "routes",
        "events",
        "ui",
        "hooks",
        "diagnostics",
        "trust",
        "content",
    }
)
PERMISSION_KEYS = frozenset({"scope", "description", "optional"})
ROUTE_KEYS = frozenset(
    {"path", "methods", "expose", "entry", "callable", "summary", "name", "tags"}
)
EVENT_KEYS = frozenset({"topic", "entry", "callable", "once"})
UI_KEYS = frozenset({"panels"})
PANEL_KEYS = frozenset({"slot", "label", "path", "icon"})
DIAGNOSTICS_KEYS = ("log_topics", "metrics", "traces")
TRUST_KEYS = frozenset(
    {"level", "signed_by", "signature", "signature_type", "reason", "verified_at"}
)
CONTENT_KEYS = frozenset({"sha256", "files", "bytes"})

# Problem code of a schema failure (other than type/required) by top-level field.
_FIELD_CODES = {
    "manifest_version": "unsupported_manifest_version",
    "id": "invalid_id",
    "name": "invalid_name",
    "version": "invalid_version",
    "permissions": "unknown_permission",
    "routes": "invalid_route",
    "events": "invalid_event",
    "ui": "invalid_panel",
    "hooks": "unknown_hook",
    "trust": "invalid_trust",
    "content": "invalid_content",
}
_TYPE_NAMES = {
    "string": "a string",
    "array": "a list",
    "object": "an object",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "null": "null",
}
_MAX_MESSAGE = 200


# --- paths and problems -----------------------------------------------------------


def format_path(parts: Iterable[str | int]) -> str:
    """``["routes", 1, "methods"]`` -> ``"routes[1].methods"``; the root is ``""``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _path_key(problem: Problem) -> tuple[tuple[int, int | str], ...]:
    # Natural order, so routes[2] sorts before routes[10].
    tokens = re.findall(r"\[(\d+)\]|([^.\[\]]+)", problem.path)
    return tuple((0, int(num)) if num else (1, name) for num, name in tokens)


def finish_problems(problems: Iterable[Problem]) -> list[Problem]:
    """One problem per (path, code), the first reported kept, sorted by path."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for problem in problems:
        key = (problem.path, problem.code)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return sorted(unique, key=_path_key)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- raw JSON sanity --------------------------------------------------------------


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
                        Problem(path, "invalid_value", f"bad object key {_short(key)}")
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


# --- schema errors ----------------------------------------------------------------


def schema_problems(validator: Draft202012Validator, raw: Any) -> list[Problem]:
    """Every schema failure as a Problem with a stable code and a readable path."""
    errors = list(validator.iter_errors(raw))
    # A wrong type explains every other failure at the same place.
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    problems: list[Problem] = []
    for error in errors:
        parts = list(error.absolute_path)
        if error.validator != "type" and tuple(parts) in typed:
            continue
        problems.extend(_error_problems(error, parts))
    return problems


def _error_problems(error: ValidationError, parts: list[Any]) -> Iterator[Problem]:
    if error.validator == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        for key in error.validator_value:
            if key not in present:
                yield Problem(
                    format_path([*parts, key]), "missing_field", f"{key} is required"
                )
        return
    if error.validator == "type":
        if not parts:
            yield Problem("", "not_an_object", "the manifest must be a JSON object")
            return
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        yield Problem(format_path(parts), "invalid_type", f"must be {wanted}")
        return
    field = parts[0] if parts and isinstance(parts[0], str) else ""
    code = _FIELD_CODES.get(field, "invalid_value")
    if field == "permissions" and error.validator != "enum":
        code = "invalid_permission"
    # Strings and objects both report an unknown scope at the same place.
    if field == "permissions" and error.validator == "enum" and parts[-1] != "scope":
        parts = [*parts, "scope"]
    if error.validator == "enum":
        allowed = list(error.validator_value)
        listing = ", ".join(map(str, allowed)) if len(allowed) <= 12 else "see schema"
        message = f"{_short(error.instance)} is not one of: {listing}"
    elif error.validator == "pattern":
        message = f"{_short(error.instance)} does not match {error.validator_value}"
    else:
        message = error.message
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
    yield Problem(format_path(parts), code, message)


# --- path checks ------------------------------------------------------------------


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def route_path_problem(path: str) -> str | None:
    """Why ``path`` (already given its leading ``/``) is not a safe route path."""
    if not path:
        return "must not be empty"
    if len(path) > MAX_ROUTE_PATH_LENGTH:
        return f"longer than {MAX_ROUTE_PATH_LENGTH} characters"
    if _has_control(path):
        return "contains control characters"
    if "\\" in path:
        return "contains a backslash"
    # Routers decode "%2e%2e" to ".."; one plain spelling per path is safer.
    if "%" in path:
        return "must not contain percent-escapes"
    if "?" in path or "#" in path:
        return "must not contain a query or fragment"
    if "//" in path:
        return "contains an empty segment ('//')"
    if any(seg in (".", "..") for seg in path.split("/")):
        return "contains a '.' or '..' segment"
    return None


def bundle_path_problem(path: str, *, allow_colon: bool = False) -> str | None:
    """Why ``path`` is not a relative path inside the bundle, or None."""
    if not path:
        return "must not be empty"
    if _has_control(path):
        return "contains control characters"
    if "\\" in path:
        return "contains a backslash"
    if path.startswith("/"):
        return "must be relative to the bundle root (no leading '/')"
    if re.match(r"[A-Za-z]:", path) or (not allow_colon and ":" in path):
        return "must be a plain relative path (no drive letter or URL scheme)"
    segments = path.split("/")
    if ".." in segments:
        return "must stay inside the bundle (no '..')"
    if "" in segments:
        return "contains an empty segment"
    return None


def _clean_relative(path: str) -> str:
    # "./ui/panel.html" and "ui/./panel.html" name the same file as "ui/panel.html".
    return "/".join(seg for seg in path.strip().split("/") if seg != ".")


def fold_strings(values: Iterable[Any]) -> list[str]:
    """Strings stripped, blanks and duplicates dropped, first occurrence order kept."""
    out: list[str] = []
    for value in values:
        if isinstance(value, str):
            value = value.strip()
            if value and value not in out:
                out.append(value)
    return out


# --- normalisation ----------------------------------------------------------------


class Normaliser:
    """Builds the normalised manifest from a raw one, collecting problems as it goes.

    Values of the wrong type are skipped here: the schema already reports them.
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

    def run(self) -> dict[str, Any]:
        raw = self.raw
        if "$schema" in raw:
            self.data["$schema"] = raw["$schema"]
        self._identity()
        self._authors_and_summary()
        self._permissions()
        self._routes()
        self._events()
        self._ui()
        self._hooks()
        self._diagnostics()
        self._trust()
        if isinstance(raw.get("content"), dict):
            self._content(raw["content"])
        self._unknown_keys(raw, TOP_LEVEL_KEYS, "")
        for key, value in raw.items():
            if key not in TOP_LEVEL_KEYS:
                self.data[key] = copy.deepcopy(value)
        return self.data

    def _identity(self) -> None:
        raw, data = self.raw, self.data
        mv = raw.get("manifest_version", DEFAULT_MANIFEST_VERSION)
        data["manifest_version"] = mv
        if isinstance(mv, str) and mv not in SUPPORTED_MANIFEST_VERSIONS:
            self.error(
                "manifest_version",
                "unsupported_manifest_version",
                f"{_short(mv)} is not supported; use one of "
                + ", ".join(SUPPORTED_MANIFEST_VERSIONS),
            )
        ext_id = raw.get("id")
        if isinstance(ext_id, str):
            data["id"] = ext_id
            if not ID_RE.fullmatch(ext_id):
                self.error(
                    "id",
                    "invalid_id",
                    f"{_short(ext_id)} must be 3-64 characters of a-z, 0-9, '_', '.', "
                    "'-', starting with a letter",
                )
        name = raw.get("name")
        if isinstance(name, str):
            data["name"] = name.strip()
            if not data["name"]:
                self.error("name", "invalid_name", "name must not be blank")
        version = raw.get("version")
        if isinstance(version, str):
            data["version"] = version
            if not _is_semver(version):
                self.error(
                    "version",
                    "invalid_version",
                    f"{_short(version)} is not a SemVer 2.0.0 version (e.g. 1.2.3)",
                )

    def _authors_and_summary(self) -> None:
        raw, data = self.raw, self.data
        author = raw.get("author")
        names = [author] if isinstance(author, str) else []
        if isinstance(author, list):
            names.extend(author)
        if isinstance(raw.get("authors"), list):
            names.extend(raw["authors"])
        data["authors"] = fold_strings(names)

        summary, description = raw.get("summary"), raw.get("description")
        if isinstance(description, str):
            data["description"] = description.strip()
        text = summary.strip() if isinstance(summary, str) else ""
        if not text and isinstance(description, str):
            text = description.strip()
        data["summary"] = text
        wrong_type = (summary is not None and not isinstance(summary, str)) or (
            description is not None and not isinstance(description, str)
        )
        if not text and not wrong_type:
            self.error(
                "summary", "missing_field", "a summary (or a description) is required"
            )

    def _permissions(self) -> None:
        items = self.raw.get("permissions", [])
        out: list[dict[str, Any]] = []
        by_scope: dict[str, dict[str, Any]] = {}
        for i, item in enumerate(items if isinstance(items, list) else []):
            at = f"permissions[{i}]"
            scope: Any = None
            description: Any = None
            optional: Any = False
            if isinstance(item, str):
                scope = item
            elif isinstance(item, dict):
                scope = item.get("scope")
                description = item.get("description")
                optional = item.get("optional", False)
                self._unknown_keys(item, PERMISSION_KEYS, at)
            else:
                continue
            if not isinstance(scope, str):
                continue
            if scope not in KNOWN_PERMISSION_SCOPES:
                self.error(
                    f"{at}.scope",
                    "unknown_permission",
                    f"unknown scope {_short(scope)}",
                )
                continue
            if not (isinstance(description, str) and description.strip()):
                description = KNOWN_PERMISSION_SCOPES[scope]
            entry = {
                "scope": scope,
                "description": description.strip(),
                "optional": optional if isinstance(optional, bool) else False,
            }
            if scope in by_scope:
                # Declared twice: required if either declaration says so.
                first = by_scope[scope]
                first["optional"] = first["optional"] and entry["optional"]
                continue
            by_scope[scope] = entry
            out.append(entry)
        self.data["permissions"] = out

    def _scopes(self) -> set[str]:
        return {p["scope"] for p in self.data.get("permissions", [])}

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
                self.error(f"{at}.path", "invalid_route", f"{_short(path)} {problem}")
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
                    f"{_short(method)} is not an HTTP method; use one of "
                    + ", ".join(sorted(HTTP_METHODS)),
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

    def _entry(self, item: dict[str, Any], out: dict[str, Any], at: str, code: str):
        entry = item.get("entry")
        if isinstance(entry, str):
            out["entry"] = entry.strip()
            problem = bundle_path_problem(out["entry"], allow_colon=True)
            if problem:
                self.error(f"{at}.entry", code, f"{_short(entry)} {problem}")
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
            for key in ("path", "icon"):
                value = item.get(key)
                if not isinstance(value, str):
                    continue
                problem = bundle_path_problem(value.strip())
                panel[key] = value.strip() if problem else _clean_relative(value)
                if problem:
                    self.error(
                        f"{at}.{key}", "invalid_panel", f"{_short(value)} {problem}"
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
        out: list[str] = []
        scopes = self._scopes()
        for i, name in enumerate(items if isinstance(items, list) else []):
            if not isinstance(name, str):
                continue
            hook = get_hook(name)
            if hook is None:
                self.error(
                    f"hooks[{i}]", "unknown_hook", f"unknown hook {_short(name)}"
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

    def _trust(self) -> None:
        trust = self.raw.get("trust", {})
        trust = trust if isinstance(trust, dict) else {}
        out: dict[str, Any] = {"level": trust.get("level", "unverified")}
        if self.trust_level is not None:
            if self.trust_level in TRUST_LEVELS:
                out["level"] = self.trust_level
            else:
                self.error(
                    "trust.level",
                    "invalid_trust",
                    f"trust level override {_short(self.trust_level)} is not one of "
                    + ", ".join(TRUST_LEVELS),
                )
        if isinstance(out["level"], str) and out["level"] not in TRUST_LEVELS:
            self.error(
                "trust.level",
                "invalid_trust",
                f"{_short(out['level'])} is not one of " + ", ".join(TRUST_LEVELS),
            )
        # Blank values mean "not set": the spec tells modders to leave the signature
        # blank when unsure, and a blank must not count as a (failing) signature.
        for key in ("signed_by", "signature", "signature_type", "reason"):
            value = trust.get(key)
            if isinstance(value, str) and value.strip():
                out[key] = value.strip()
        verified_at = trust.get("verified_at")
        if isinstance(verified_at, str):
            out["verified_at"] = verified_at
            try:
                datetime.fromisoformat(verified_at)
            except ValueError:
                self.error(
                    "trust.verified_at",
                    "invalid_trust",
                    f"{_short(verified_at)} is not an ISO 8601 date-time",
                )
        self._unknown_keys(trust, TRUST_KEYS, "trust")
        out.update(
            (k, copy.deepcopy(v)) for k, v in trust.items() if k not in TRUST_KEYS
        )
        self.data["trust"] = out

    def _content(self, content: dict[str, Any]) -> None:
        out = copy.deepcopy(content)
        for key in ("files", "bytes"):
            value = out.get(key)
            # JSON Schema counts 3.0 as an integer; store it as one.
            if isinstance(value, float) and value.is_integer():
                out[key] = int(value)
        self._unknown_keys(content, CONTENT_KEYS, "content")
        self.data["content"] = out


def _is_semver(version: str) -> bool:
    if len(version) > MAX_VERSION_LENGTH:
        return False
    try:
        semver.Version.parse(version)
    except (ValueError, TypeError):
        return False
    return True
