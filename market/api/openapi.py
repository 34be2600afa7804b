"""Response shapes for the OpenAPI document (documentation only; views build payloads).

Studio developers generate clients from ``/api/schema/``; these serializers describe
what the selectors and views return, and the one error payload every endpoint shares.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS

from market.api.permissions import MarketReadPermission
from market.conf import market_conf
from market.manifest import TRUST_LEVELS


class MarketAutoSchema(AutoSchema):
    """Reads guarded by :class:`MarketReadPermission` need no credentials while
    ``MARKET_PUBLIC_READS`` is on; the document says so (an empty security entry)."""

    def get_auth(self) -> list:
        auth = super().get_auth()
        public = self.method in SAFE_METHODS and market_conf().public_reads
        if public and any(
            isinstance(p, MarketReadPermission) for p in self.view.get_permissions()
        ):
            auth.append({})
        return auth


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable snake_case error code.")
    message = serializers.CharField()
    details = serializers.JSONField(
        help_text="Structured details; manifest errors list every problem as "
        "{path, code, message} under 'problems'."
    )


class ErrorSerializer(serializers.Serializer):
    ok = serializers.BooleanField(default=False)
    error = ErrorBodySerializer()


class CapabilitiesSerializer(serializers.Serializer):
    permissions = serializers.ListField(child=serializers.CharField())
    routes = serializers.ListField(child=serializers.DictField())
    events = serializers.ListField(child=serializers.CharField())
    ui_panels = serializers.ListField(child=serializers.CharField())
    hooks = serializers.ListField(child=serializers.CharField())
    diagnostics = serializers.DictField()


class ManifestSummarySerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    summary = serializers.CharField()
    authors = serializers.ListField(child=serializers.CharField())
    primary_author = serializers.CharField(allow_null=True)
    trust = serializers.DictField()
    capabilities = CapabilitiesSerializer()


class CompatibilitySerializer(serializers.Serializer):
    studio = serializers.CharField(
        required=False,
        help_text="The Studio versions this version runs on, as a SemVer range.",
    )


COMPATIBLE_HELP = (
    "Whether this version runs on the Studio version sent in X-Studio-Version; "
    "left out when no version was sent."
)


def dependencies_field() -> serializers.DictField:
    return serializers.DictField(
        child=serializers.CharField(),
        help_text="Extension id -> SemVer range of the versions this one needs.",
    )


class CatalogItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    version = serializers.CharField()
    name = serializers.CharField()
    summary = serializers.CharField()
    trust = serializers.ChoiceField(choices=TRUST_LEVELS)
    sha256 = serializers.CharField()
    manifest_sha256 = serializers.CharField()
    size = serializers.IntegerField()
    manifest_summary = ManifestSummarySerializer()
    permissions = serializers.ListField(child=serializers.DictField())
    hooks = serializers.ListField(child=serializers.CharField())
    compatibility = CompatibilitySerializer()
    dependencies = dependencies_field()
    compatible = serializers.BooleanField(required=False, help_text=COMPATIBLE_HELP)
    approved_at = serializers.DateTimeField(allow_null=True)
    source = serializers.ChoiceField(
        choices=("local", "upstream"),
        help_text="local: reviewed on this server; upstream: synced from the central "
        "marketplace (MARKET_UPSTREAM_URL).",
    )
    stale = serializers.BooleanField(
        required=False,
        help_text="Upstream entries only, once the snapshot they came from expired: "
        "installing them is refused (snapshot_expired) until a sync succeeds.",
    )


class CatalogVersionSerializer(serializers.Serializer):
    version = serializers.CharField()
    trust = serializers.ChoiceField(choices=TRUST_LEVELS)
    sha256 = serializers.CharField()
    approved_at = serializers.DateTimeField(allow_null=True)
    compatibility = CompatibilitySerializer()
    dependencies = dependencies_field()
    compatible = serializers.BooleanField(required=False, help_text=COMPATIBLE_HELP)


class CatalogDetailItemSerializer(CatalogItemSerializer):
    versions = CatalogVersionSerializer(many=True)


class VersionMarkSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="The reviewer's reason.")
    at = serializers.DateTimeField(help_text="When the reviewer decided.")


class InstalledItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    version = serializers.CharField()
    trust = serializers.ChoiceField(choices=TRUST_LEVELS)
    path = serializers.CharField()
    sha256 = serializers.CharField()
    manifest_sha256 = serializers.CharField()
    installed_at = serializers.DateTimeField()
    source = serializers.ChoiceField(choices=["upload", "catalog", "path"])
    sidecar = serializers.DictField(help_text="The .market.json sidecar.")
    manifest_summary = ManifestSummarySerializer()
    capabilities = CapabilitiesSerializer()
    diagnostics = serializers.DictField()
    warnings = serializers.ListField(child=serializers.DictField())
    update_available = serializers.CharField(
        allow_null=True,
        help_text="The newest approved catalogue version when it is newer than the "
        "installed one; install it by id to upgrade.",
    )
    yanked = VersionMarkSerializer(
        allow_null=True,
        help_text="Set when the catalogue yanked the installed version.",
    )
    blocked = VersionMarkSerializer(
        allow_null=True,
        help_text="Set when the catalogue delisted the installed version or the "
        "extension.",
    )


class ListResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    catalog = CatalogItemSerializer(many=True)
    installed = InstalledItemSerializer(many=True)
    permissions = serializers.ListField(child=serializers.DictField())
    hooks = serializers.ListField(child=serializers.DictField())
    trust_levels = serializers.ListField(child=serializers.CharField())
    ui_slots = serializers.ListField(child=serializers.DictField())


class InstallWarningSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="yanked_version")
    message = serializers.CharField()
    details = serializers.DictField()


class InstallResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    installed = InstalledItemSerializer()
    dependencies_installed = InstalledItemSerializer(
        many=True,
        required=False,
        help_text="With with_dependencies: the dependencies installed first, in "
        "install order.",
    )
    warnings = InstallWarningSerializer(
        many=True,
        required=False,
        help_text="Present when the installed version was yanked (installed by "
        "its exact version).",
    )


class UninstallResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    id = serializers.CharField()
    dependents_removed = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="With cascade: the dependents uninstalled first, in order.",
    )


class LastErrorSerializer(serializers.Serializer):
    action = serializers.CharField()
    message = serializers.CharField()
    timestamp = serializers.DateTimeField()
    extension_id = serializers.CharField(allow_null=True)
    code = serializers.CharField()


class UpstreamErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    timestamp = serializers.DateTimeField()


class UpstreamHealthSerializer(serializers.Serializer):
    url = serializers.CharField()
    last_sync = serializers.DateTimeField(allow_null=True)
    revision = serializers.IntegerField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField()
    last_error = UpstreamErrorSerializer(allow_null=True)


class HealthResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    counts = serializers.DictField(child=serializers.IntegerField())
    trust_breakdown = serializers.DictField(child=serializers.IntegerField())
    last_error = LastErrorSerializer(allow_null=True)
    upstream = UpstreamHealthSerializer(
        required=False,
        help_text="Studio servers only (MARKET_UPSTREAM_URL set): the last snapshot "
        "accepted from the central marketplace and how the last sync went.",
    )


class CatalogDetailResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    entry = CatalogDetailItemSerializer()


class KeysResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    keys = serializers.ListField(child=serializers.DictField())


class MaintainerSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(
        choices=["owner", "maintainer"],
        help_text="The owner (first, one per id) or a maintainer; both may submit.",
    )
    added_at = serializers.DateTimeField(
        allow_null=True, help_text="When the user became owner or maintainer."
    )
    added_by = serializers.CharField(
        allow_null=True, help_text="Who added the maintainer (null for the owner)."
    )


class MaintainerAddResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    id = serializers.CharField()
    maintainer = MaintainerSerializer()


class MaintainerRemoveResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    id = serializers.CharField()
    username = serializers.CharField()


class TransferResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    id = serializers.CharField()
    owner = serializers.CharField()
    previous_owner = serializers.CharField(allow_null=True)


def _object(title: str, properties: dict, description: str = "") -> dict:
    return {
        "type": "object",
        "title": title,
        "description": description,
        "properties": properties,
        "required": sorted(properties),
    }


_STR = {"type": "string"}
_STRINGS = {"type": "array", "items": _STR}
_NULLABLE_STR = {"type": "string", "nullable": True}

INCOMPATIBLE_DETAILS = _object(
    "IncompatibleDetails",
    {
        "id": _STR,
        "version": _NULLABLE_STR,
        "studio_version": _STR,
        "compatibility": {
            "type": "object",
            "properties": {"studio": _STR},
        },
    },
    "incompatible: the extension's version, the Studio's, and the range.",
)
MISSING_DEPENDENCY_DETAILS = _object(
    "MissingDependencyDetails",
    {
        "id": _STR,
        "missing": {
            "type": "array",
            "items": _object(
                "DependencyNeed",
                {
                    "id": _STR,
                    "range": _STR,
                    "required_by": _STR,
                    "installed": _NULLABLE_STR,
                    "satisfying": _STRINGS,
                },
                "A dependency not installed in range; satisfying: the approved "
                "catalogue versions in range, newest first (at most 10).",
            ),
        },
    },
    "missing_dependency: every dependency to install first.",
)
DEPENDENCY_CYCLE_DETAILS = _object(
    "DependencyCycleDetails",
    {"id": _STR, "cycle": _STRINGS},
    "dependency_cycle: the ids around the cycle, in order.",
)
DEPENDENCY_IN_USE_DETAILS = _object(
    "DependencyInUseDetails",
    {
        "id": _STR,
        "dependents": {
            "type": "array",
            "items": _object("Dependent", {"id": _STR, "version": _STR, "range": _STR}),
        },
    },
    "dependency_in_use: the installed extensions that depend on it.",
)
OTHER_DETAILS = {
    "type": "object",
    "title": "OtherDetails",
    "description": "The other codes' details: keys depend on the code (docs/api.md).",
}


def _conflict_error(name: str, codes: str, details: list[dict]) -> type:
    """An error payload whose details are one of ``details`` (by error code), or
    another code's."""
    field = extend_schema_field({"anyOf": [*details, OTHER_DETAILS]})(
        type(f"{name}DetailsField", (serializers.JSONField,), {})
    )
    body = type(
        f"{name}BodySerializer",
        (serializers.Serializer,),
        {
            "code": serializers.CharField(help_text=codes),
            "message": serializers.CharField(),
            "details": field(),
        },
    )
    return type(
        f"{name}Serializer",
        (serializers.Serializer,),
        {"ok": serializers.BooleanField(default=False), "error": body()},
    )


InstallConflictSerializer = _conflict_error(
    "InstallConflict",
    "already_installed, downgrade_refused, install_in_progress, incompatible, "
    "missing_dependency or dependency_cycle.",
    [INCOMPATIBLE_DETAILS, MISSING_DEPENDENCY_DETAILS, DEPENDENCY_CYCLE_DETAILS],
)
UninstallConflictSerializer = _conflict_error(
    "UninstallConflict",
    "dependency_in_use or install_in_progress.",
    [DEPENDENCY_IN_USE_DETAILS],
)


def conflict(serializer: type) -> dict[int, OpenApiResponse]:
    return {409: OpenApiResponse(serializer, description="Refused: a conflict.")}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """The shared error payload under each of ``statuses``."""
    return {
        status: OpenApiResponse(ErrorSerializer, description="Refused.")
        for status in statuses
    }


def strip_optional_slash(result, generator, request, public):
    """drf-spectacular postprocessing hook: document routes without the optional "/".

    Every market route answers with or without a trailing slash; the spec writes them
    without (``/api/market/list``), so the document does too.
    """
    result["paths"] = {
        (path.rstrip("/") or "/"): item for path, item in result["paths"].items()
    }
    return result
