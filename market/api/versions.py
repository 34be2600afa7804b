"""Versions over time over the API: updates, yank, rollback, lockfile and restore.

``GET updates``, ``POST catalog/<id>/<version>/yank``, ``POST rollback``,
``GET lock`` and ``POST restore``. Views translate HTTP; the services decide
(:mod:`market.services.rollback`, :mod:`market.services.lockfile`, the review
transitions) and :mod:`market.versions` reads.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from market import selectors, versions
from market.api import openapi as o
from market.api.permissions import HasModelPermission
from market.api.serializers import ExtensionIdField
from market.api.throttling import AtomicScopedRateThrottle
from market.clock import iso
from market.errors import NotFoundError
from market.manifest import TRUST_LEVELS
from market.models import CatalogEntry
from market.review.transitions import transition
from market.services import lockfile, rollback

MAX_LOCK_ENTRIES = 1000
SHA256 = r"^[0-9a-f]{64}$"


class ChangesSerializer(serializers.Serializer):
    permissions = serializers.ListField(child=serializers.CharField())
    global_routes = serializers.ListField(child=serializers.CharField())
    hooks = serializers.ListField(child=serializers.CharField())


class UpdateSerializer(serializers.Serializer):
    version = serializers.CharField()
    sha256 = serializers.CharField()
    trust = serializers.CharField()
    added = ChangesSerializer()
    removed = ChangesSerializer()
    accept = serializers.ListField(
        child=serializers.CharField(),
        help_text="The items to send as 'accept' with the upgrade's install "
        "request: every item the new version adds.",
    )
    consent_required = serializers.BooleanField()


class UpdateItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    installed = serializers.CharField()
    update = UpdateSerializer(allow_null=True)
    yanked = o.VersionMarkSerializer(allow_null=True)
    blocked = o.VersionMarkSerializer(allow_null=True)


class UpdatesResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    items = UpdateItemSerializer(many=True)


class YankRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000,
        allow_blank=True,
        help_text="Why; shown to the submitter and on installed copies.",
    )


class YankedEntrySerializer(serializers.Serializer):
    id = serializers.CharField()
    version = serializers.CharField()
    status = serializers.CharField()
    reason = serializers.CharField()
    at = serializers.DateTimeField()


class YankResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    entry = YankedEntrySerializer()


class RollbackRequestSerializer(serializers.Serializer):
    id = ExtensionIdField(max_length=200, help_text="The installed extension's id.")


class RollbackResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    installed = o.InstalledItemSerializer()
    previous = serializers.DictField(
        help_text="The version now kept for the next rollback: {version, sha256}."
    )


class LockTrustSerializer(serializers.Serializer):
    # A plain string checked below: a second choice field over the trust levels
    # would give the OpenAPI document two names for one enum.
    level = serializers.CharField(
        max_length=16, help_text="unverified or verified, as GET lock gives it."
    )
    proof = serializers.CharField(required=False, max_length=200)

    def validate_level(self, value: str) -> str:
        if value not in TRUST_LEVELS:
            raise serializers.ValidationError(
                "must be one of: " + ", ".join(TRUST_LEVELS), code="invalid_choice"
            )
        return value


class LockEntrySerializer(serializers.Serializer):
    id = ExtensionIdField(max_length=64)
    version = serializers.CharField(max_length=128)
    sha256 = serializers.RegexField(SHA256)
    manifest_sha256 = serializers.RegexField(SHA256)
    trust = LockTrustSerializer()


class LockSerializer(serializers.Serializer):
    format = serializers.IntegerField(min_value=1, max_value=versions.LOCK_FORMAT)
    extensions = LockEntrySerializer(many=True, max_length=MAX_LOCK_ENTRIES)

    def validate_extensions(self, value: list[dict[str, Any]]) -> Any:
        ids = [e["id"] for e in value]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise serializers.ValidationError(
                f"each id once: {', '.join(duplicates)}", code="duplicate_id"
            )
        return value


class LockResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    lock = LockSerializer()


class RestoreRequestSerializer(serializers.Serializer):
    lock = LockSerializer(help_text="The 'lock' of another studio's GET lock.")


class RestoreResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    installed = serializers.ListField(child=serializers.CharField())
    unchanged = serializers.ListField(child=serializers.CharField())


class UpdatesView(APIView):
    """Each installed extension, its newest approved version when newer, and what
    that version adds and removes."""

    @extend_schema(responses={200: UpdatesResponseSerializer, **o.errors(401, 403)})
    def get(self, request: Request) -> Response:
        return Response({"ok": True, "items": versions.market_updates()})


class YankView(APIView):
    """A reviewer withdraws one version: never newest, never an update."""

    permission_classes = (HasModelPermission,)
    required_permission = "market.review_catalogentry"

    @extend_schema(
        parameters=[
            OpenApiParameter("ext_id", str, OpenApiParameter.PATH),
            OpenApiParameter("version", str, OpenApiParameter.PATH),
        ],
        request=YankRequestSerializer,
        responses={200: YankResponseSerializer, **o.errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, ext_id: str, version: str) -> Response:
        serializer = YankRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry = CatalogEntry.objects.filter(
            extension_id=ext_id, version=version
        ).first()
        if entry is None:
            raise NotFoundError(
                f"no catalogue entry {ext_id} {version}",
                details={"id": ext_id, "version": version},
            )
        entry = transition(
            entry=entry,
            action="yank",
            actor=request.user,
            reason=serializer.validated_data["reason"],
        )
        return Response(
            {
                "ok": True,
                "entry": {
                    "id": entry.extension_id,
                    "version": entry.version,
                    "status": entry.status,
                    "reason": entry.review_reason,
                    "at": iso(entry.reviewed_at),
                },
            }
        )


class RollbackView(APIView):
    """Swap an upgraded extension back to the version the upgrade replaced."""

    permission_classes = (HasModelPermission,)
    required_permission = "market.install_extension"
    # Installs by another name: they spend the install budget.
    throttle_classes = (AtomicScopedRateThrottle,)
    throttle_scope = "market_install"

    @extend_schema(
        request=RollbackRequestSerializer,
        responses={
            200: RollbackResponseSerializer,
            **o.errors(400, 401, 403, 404, 409, 429),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = RollbackRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = rollback.extension_rollback(
            ext_id=serializer.validated_data["id"], actor=request.user
        )
        return Response(
            {
                "ok": True,
                "installed": selectors.installed_payload(row),
                "previous": rollback.previous_payload(row.extension_id),
            }
        )


class LockView(APIView):
    """Every installed extension with its version, digests and trust proof."""

    @extend_schema(responses={200: LockResponseSerializer, **o.errors(401, 403)})
    def get(self, request: Request) -> Response:
        return Response({"ok": True, "lock": versions.lock_document()})


class RestoreView(APIView):
    """Install exactly a lockfile's extensions from the catalogue, or nothing."""

    permission_classes = (HasModelPermission,)
    required_permission = "market.install_extension"
    # Installs by another name: they spend the install budget.
    throttle_classes = (AtomicScopedRateThrottle,)
    throttle_scope = "market_install"

    @extend_schema(
        request=RestoreRequestSerializer,
        responses={
            200: RestoreResponseSerializer,
            **o.errors(400, 401, 403, 404, 409, 422, 429),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = RestoreRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        extensions = [
            lockfile.LockedExtension(
                id=e["id"],
                version=e["version"],
                sha256=e["sha256"],
                manifest_sha256=e["manifest_sha256"],
                trust=e["trust"]["level"],
                proof=e["trust"].get("proof"),
            )
            for e in serializer.validated_data["lock"]["extensions"]
        ]
        result = lockfile.extensions_restore(extensions=extensions, actor=request.user)
        return Response(
            {"ok": True, "installed": result.installed, "unchanged": result.unchanged}
        )


__all__ = [
    "LockView",
    "RestoreView",
    "RollbackView",
    "UpdatesView",
    "YankView",
]
