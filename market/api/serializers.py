"""Request validation and response shapes of the marketplace API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from market import selectors
from market.api.openapi import CatalogItemSerializer, InstalledItemSerializer
from market.models import (
    CatalogEntry,
    InstalledExtension,
    LifecycleError,
    LifecycleEvent,
)


class InstallRequestSerializer(serializers.Serializer):
    """JSON ``{"package": "/abs/path.cvnext"}`` or ``{"id": ..., "version"?: ...}``."""

    package = serializers.CharField(required=False, allow_blank=False, max_length=4096)
    id = serializers.CharField(required=False, max_length=64)
    version = serializers.CharField(required=False, max_length=128)
    reinstall = serializers.BooleanField(required=False, default=False)
    allow_downgrade = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_file = bool(self.context.get("has_file"))
        sources = [bool(attrs.get("package")), bool(attrs.get("id")), has_file]
        if sum(sources) != 1:
            raise serializers.ValidationError(
                "give exactly one source: an uploaded file in 'package', a server path "
                "in 'package', or a catalogue 'id' (with an optional 'version')",
                code="invalid_source",
            )
        if attrs.get("version") and not attrs.get("id"):
            raise serializers.ValidationError(
                {"version": "version goes with id"}, code="invalid_source"
            )
        return attrs


class UninstallRequestSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=200)


class CatalogEntrySerializer(CatalogItemSerializer):
    """A catalogue row as the selectors shape it (fields declared for the schema)."""

    def to_representation(self, instance: CatalogEntry) -> dict[str, Any]:
        return selectors.catalog_entry_payload(instance)


class InstalledExtensionSerializer(InstalledItemSerializer):
    """An installed extension as the selectors shape it."""

    def to_representation(self, instance: InstalledExtension) -> dict[str, Any]:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return selectors.installed_payload(
            instance,
            show_actor=bool(user and user.is_authenticated),
            latest=self.context.get("latest"),
        )


class LifecycleErrorSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None)

    class Meta:
        model = LifecycleError
        fields = (
            "id",
            "action",
            "extension_id",
            "code",
            "message",
            "detail",
            "actor",
            "created_at",
        )


class LifecycleEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None)

    class Meta:
        model = LifecycleEvent
        fields = (
            "id",
            "action",
            "extension_id",
            "version",
            "trust_level",
            "package_sha256",
            "actor",
            "detail",
            "created_at",
        )


class SubmissionSerializer(serializers.ModelSerializer):
    """A submitted bundle as its submitter sees it: state, report, reviewer's reason."""

    id = serializers.IntegerField(source="pk", read_only=True)
    submitted_by = serializers.CharField(source="submitted_by.username", default=None)

    class Meta:
        model = CatalogEntry
        fields = (
            "id",
            "extension_id",
            "version",
            "name",
            "status",
            "trust_level",
            "package_sha256",
            "manifest_sha256",
            "package_size",
            "submitted_by",
            "submitted_at",
            "reviewed_at",
            "review_reason",
            "report",
        )
        read_only_fields = fields
