"""Route sandbox: which HTTP paths an extension may claim, per trust level.

Routes exposed as ``extension`` are mounted under ``/api/extensions/<id>`` and are
always allowed. Routes exposed as ``global`` must fall under a prefix allowlisted for
the bundle's trust level: none by default for ``unverified``; ``/api/modder/``,
``/api/hooks/``, ``/api/extensions/<own id>/`` and ``/ws/modder`` for ``verified``.
Operators extend the ``verified`` list with a JSON file ``{level: [prefixes]}``;
prefixes for ``unverified`` are refused, since unverified bundles never get global
routes.

Matching is by path segment, so ``/ws/modder`` covers ``/ws/modder/x`` but not
``/ws/modderevil``. Paths that are not in a plain, normalised form (dot segments,
empty segments, backslashes, percent-escapes, control characters) never match: a router
that decodes or collapses them later could otherwise reach a path we never approved.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from market.errors import ConfigError, Problem
from market.manifest.registry import TRUST_LEVELS, TrustLevel

EXTENSION_MOUNT = "/api/extensions/{id}"
LEVELS = TRUST_LEVELS
ID_PLACEHOLDER = "{id}"

_DEFAULT_PREFIXES: dict[str, tuple[str, ...]] = {
    TrustLevel.UNVERIFIED.value: (),
    TrustLevel.VERIFIED.value: (
        "/api/modder/",
        "/api/hooks/",
        "/api/extensions/{id}/",
        "/ws/modder",
    ),
}
# A global route here would shadow another extension's mounted routes.
_EXTENSIONS_NAMESPACE = ("api", "extensions")
# "%" is refused so that "%2e%2e" cannot decode into a dot segment after our check.
_FORBIDDEN_CHARS = frozenset("\\%?#")


@dataclass(frozen=True)
class Allowlist:
    """Global-route prefixes per trust level; ``{id}`` stands for the extension id."""

    prefixes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Copy into tuples so a caller's later edits cannot widen a live allowlist.
        frozen = {level: tuple(values) for level, values in self.prefixes.items()}
        object.__setattr__(self, "prefixes", frozen)

    def merged(self, other: Allowlist) -> Allowlist:
        """The union per level: our prefixes first, then ``other``'s new ones."""
        result: dict[str, tuple[str, ...]] = dict(self.prefixes)
        for level, values in other.prefixes.items():
            current = result.get(level, ())
            result[level] = current + tuple(v for v in values if v not in current)
        return Allowlist(result)

    def for_level(self, level: str, ext_id: str) -> tuple[str, ...]:
        """The prefixes of ``level`` with ``{id}`` filled in (unknown level: none)."""
        return tuple(
            p.replace(ID_PLACEHOLDER, ext_id) for p in self.prefixes.get(level, ())
        )

    def as_dict(self) -> dict[str, list[str]]:
        return {level: list(values) for level, values in self.prefixes.items()}


def default_allowlist() -> Allowlist:
    return Allowlist(_DEFAULT_PREFIXES)


def _prefix_problem(value: Any) -> str | None:
    """Why ``value`` is not an acceptable configured prefix, or ``None``."""
    if not isinstance(value, str):
        return "must be a string"
    if not value.startswith("/"):
        return "must start with '/'"
    if ".." in value:
        return "must not contain '..'"
    if _split(value.replace(ID_PLACEHOLDER, "id")) is None:
        return "must be a plain path (no empty or '.' segments, '\\', '%', '?', '#')"
    if not value.strip("/"):
        return "must name at least one path segment ('/' would allow every route)"
    braces = value.replace(ID_PLACEHOLDER, "")
    if "{" in braces or "}" in braces:
        return "may only use the placeholder '{id}'"
    return None


def parse_allowlist(obj: Any) -> Allowlist:
    """Validate ``{level: [prefixes]}`` and merge it into the defaults.

    The result always contains the defaults, so callers may pass it on as-is.
    Raises ``ConfigError`` listing every problem found.
    """
    if not isinstance(obj, Mapping):
        raise ConfigError(
            "the route allowlist must be a JSON object mapping a trust level "
            f"({', '.join(LEVELS)}) to a list of path prefixes",
            details={"problems": []},
        )
    problems: list[Problem] = []
    extra: dict[str, tuple[str, ...]] = {}
    for level, values in obj.items():
        if level not in LEVELS:
            problems.append(
                Problem(
                    str(level),
                    "unknown_trust_level",
                    f"unknown trust level {level!r}; expected {' or '.join(LEVELS)}",
                )
            )
            continue
        if not isinstance(values, list):
            problems.append(
                Problem(level, "not_a_list", "must be a list of path prefixes")
            )
            continue
        if level == TrustLevel.UNVERIFIED and values:
            # The install re-checks with the level a bundle earned: a prefix here
            # would let `package` promise routes every server refuses.
            problems.append(
                Problem(
                    level,
                    "unverified_prefixes",
                    "unverified bundles never expose global routes, so they get no "
                    'allowlisted prefixes; list these prefixes under "verified", '
                    "or expose the routes as 'extension' (mounted under "
                    f"{EXTENSION_MOUNT.format(id='<id>')})",
                )
            )
            continue
        for i, value in enumerate(values):
            reason = _prefix_problem(value)
            if reason:
                problems.append(
                    Problem(f"{level}[{i}]", "invalid_prefix", f"{value!r} {reason}")
                )
        extra[level] = tuple(v for v in values if isinstance(v, str))
    if problems:
        first = problems[0]
        raise ConfigError(
            f"invalid route allowlist: {first.path}: {first.message}",
            details={"problems": [p.as_dict() for p in problems]},
        )
    return default_allowlist().merged(Allowlist(extra))


def load_allowlist_file(path: str | Path) -> Allowlist:
    """Read and validate an allowlist JSON file (``ConfigError`` on any failure)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read allowlist file {path}: {exc.strerror or exc}",
            details={"path": str(path)},
        ) from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"allowlist file {path} is not UTF-8", details={"path": str(path)}
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"allowlist file {path} is not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})",
            details={"path": str(path)},
        ) from exc
    return parse_allowlist(data)


def _split(path: str) -> list[str] | None:
    """The segments of a normalised absolute path, or ``None`` if it is not one."""
    if not path.startswith("/") or any(
        ch in _FORBIDDEN_CHARS or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path
    ):
        return None
    segments = path[1:].split("/")
    if segments and segments[-1] == "":
        segments.pop()  # one trailing slash is just a spelling of the same node
    if any(s in ("", ".", "..") for s in segments):
        return None
    return segments


def path_matches(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` itself or lies below it, segment by segment."""
    path_segments = _split(path)
    prefix_segments = _split(prefix)
    if path_segments is None or prefix_segments is None:
        return False
    return path_segments[: len(prefix_segments)] == prefix_segments


def _is_global(route: Mapping[str, Any]) -> bool:
    return route.get("expose", "extension") != "extension"


def check_routes(
    ext_id: str,
    routes: Iterable[Any],
    trust_level: str | None,
    allowlist: Allowlist | None = None,
) -> list[Problem]:
    """Every route the sandbox refuses, as ``route_not_allowed`` problems.

    Malformed route entries are left to the manifest schema, which reports them.
    An unknown trust level is treated as ``unverified``.
    """
    level = trust_level if trust_level in LEVELS else TrustLevel.UNVERIFIED
    prefixes = (allowlist or default_allowlist()).for_level(level, ext_id)
    problems: list[Problem] = []
    for i, route in enumerate(routes):
        if not isinstance(route, Mapping) or not isinstance(route.get("path"), str):
            continue
        path = route["path"]
        reason = _refusal(ext_id, path, _is_global(route), level, prefixes)
        if reason:
            problems.append(Problem(f"routes[{i}].path", "route_not_allowed", reason))
    return problems


def _refusal(
    ext_id: str, path: str, is_global: bool, level: str, prefixes: tuple[str, ...]
) -> str | None:
    segments = _split(path)
    if segments is None:
        return (
            f"route path {path!r} must be a plain absolute path (no empty, '.' or "
            "'..' segments, '\\', '%', '?', '#' or control characters)"
        )
    if not is_global:
        return None
    namespace = segments[: len(_EXTENSIONS_NAMESPACE)]
    if tuple(namespace) == _EXTENSIONS_NAMESPACE and segments[2:3] != [ext_id]:
        return (
            f"global route {path} is in another extension's namespace; "
            f"only {EXTENSION_MOUNT.format(id=ext_id)}/ belongs to {ext_id}"
        )
    if not prefixes:
        return (
            f"{level} bundles cannot expose global routes; expose {path} as "
            f"'extension' (mounted under {EXTENSION_MOUNT.format(id=ext_id)}) or "
            "have the bundle verified"
        )
    if any(path_matches(path, prefix) for prefix in prefixes):
        return None
    return (
        f"global route {path} is outside the allowlist for {level} bundles "
        f"({', '.join(prefixes)})"
    )


def effective_path(ext_id: str, route: Mapping[str, Any]) -> str:
    """Where a route is served: under the extension's mount unless it is global."""
    path = str(route.get("path", "/"))
    if _is_global(route):
        return path
    return EXTENSION_MOUNT.format(id=ext_id) + path


def effective_routes(ext_id: str, routes: Iterable[Any]) -> list[dict[str, Any]]:
    """Copies of ``routes`` with an ``effective_path`` key each."""
    return [
        {**route, "effective_path": effective_path(ext_id, route)}
        for route in routes
        if isinstance(route, Mapping)
    ]
