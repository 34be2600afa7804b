"""The manifest format's registries: versions, trust levels, permission scopes, keys.

Every fixed list the rules check against lives here, so the schema test can hold
them against ``market/schemas/manifest-1.1.schema.json`` in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MANIFEST_FILENAMES = ("manifest.json", "extension.json")
SCHEMA_ID = "https://comfyvn.dev/schemas/manifest-1.1.schema.json"

SUPPORTED_MANIFEST_VERSIONS = ("1.0", "1.1")
DEFAULT_MANIFEST_VERSION = "1.1"


class TrustLevel(StrEnum):
    """How far the marketplace trusts a bundle, lowest first.

    ``unverified`` bundles run sandboxed (no global routes); ``verified`` ones proved
    who built them (a signature the server trusts, or the catalogue's approval). The
    model choices, serializers, the sandbox's allowlists and the packager's ``--trust``
    are all built from this one enum.
    """

    UNVERIFIED = "unverified"
    VERIFIED = "verified"

    @property
    def label(self) -> str:
        return self.value.capitalize()


TRUST_LEVELS: tuple[str, ...] = tuple(level.value for level in TrustLevel)
SIGNATURE_TYPES = ("sha256", "ed25519")
ROUTE_EXPOSURES = ("extension", "global")
# ECMA-262 syntax so the schema can carry it; Python callers should use fullmatch,
# because ``$`` also matches before a trailing newline.
ID_PATTERN = r"^[a-z][a-z0-9_.-]{2,63}$"
ID_RE = re.compile(r"[a-z][a-z0-9_.-]{2,63}")
ID_RULE = "must be 3-64 characters of a-z, 0-9, '_', '.', '-', starting with a letter"
MAX_VERSION_LENGTH = 128
MAX_ROUTE_PATH_LENGTH = 512


@dataclass(frozen=True)
class PermissionScope:
    """A registry scope: the spec's description, and whether a reviewer should look
    twice (``sensitive``: it reaches outside the extension's own sandbox)."""

    description: str
    sensitive: bool = False


# The spec's registry, in the spec's order, with the spec's descriptions.
PERMISSION_SCOPES: dict[str, PermissionScope] = {
    "assets.read": PermissionScope("List/query asset registry metadata."),
    "assets.write": PermissionScope(
        "Register or update asset metadata & sidecars.", sensitive=True
    ),
    "assets.events": PermissionScope("Subscribe to asset registry hook events."),
    "assets.debug": PermissionScope("Access asset debug metrics/traces/thumbnails."),
    "hooks.emit": PermissionScope("Emit modder hook events via the internal bus."),
    "hooks.listen": PermissionScope("Subscribe to modder hook events from the bus."),
    "extensions.lifecycle": PermissionScope(
        "Listen for extension install/uninstall lifecycle updates."
    ),
    "ui.panels": PermissionScope("Register Studio UI panels."),
    "api.global": PermissionScope(
        "Expose HTTP routes outside the extension namespace.", sensitive=True
    ),
    "diagnostics.read": PermissionScope(
        "Access debug tooling endpoints exposed by the extension."
    ),
    "sandbox.fs.limited": PermissionScope(
        "Request write access to additional filesystem roots.", sensitive=True
    ),
}
KNOWN_PERMISSION_SCOPES: dict[str, str] = {
    scope: entry.description for scope, entry in PERMISSION_SCOPES.items()
}
SENSITIVE_PERMISSION_SCOPES: frozenset[str] = frozenset(
    scope for scope, entry in PERMISSION_SCOPES.items() if entry.sensitive
)

# Where a Studio UI panel may go (``ui.panels[].slot``), in the Studio's layout order.
# docs/manifest.md#panel-slots lists them; an unknown slot is ``unknown_slot``.
KNOWN_UI_SLOTS: dict[str, str] = {
    "sidebar": "A tab in the left sidebar, beside the project tree.",
    "inspector": "A section of the right-hand inspector for the selected scene, node "
    "or asset.",
    "toolbar": "A button in the main toolbar that opens the panel in a popover.",
    "bottom_panel": "A tab in the bottom dock, beside the console and the timeline.",
    "scene_editor": "A tab beside the scene editor's canvas.",
    "settings": "A page under Settings > Extensions.",
    "debug": "A tab of the Debug & diagnostics drawer.",
}

# Where each registry is listed for a modder, named in "unknown ..." problems.
PERMISSIONS_DOC = "docs/manifest.md#permission-registry"
HOOKS_DOC = "docs/manifest.md#hooks"
SLOTS_DOC = "docs/manifest.md#panel-slots"
VERIFIED_DOC = "docs/manifest.md#how-a-bundle-becomes-verified"

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
