"""Request validation and response shapes of the marketplace API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from market import selectors
from market.api.openapi import CatalogItemSerializer, InstalledItemSerializer
from market.conf import market_conf
from market.manifest import ID_PATTERN, TRUST_LEVELS
from market.models import (
    CatalogEntry,
    InstalledExtension,
    LifecycleError,
    LifecycleEvent,
)
from market.redact import redact


@extend_schema_field(
    {"type": "string", "pattern": ID_PATTERN, "minLength": 3, "maxLength": 64}
)
class ExtensionIdField(serializers.CharField):
    """An extension id. The services check its form, and say what it must be."""


def merge_aliases(
    attrs: dict[str, Any], field: str, aliases: tuple[str, ...]
) -> dict[str, Any]:
    """Fold the alias fields of ``field`` into it; differing values are refused.

    The same value under two names is accepted (clients written against the
    reference server sometimes send both).
    """
    given = {name: attrs.pop(name) for name in (field, *aliases) if name in attrs}
    if len(set(given.values())) > 1:
        quoted = [f"'{name}'" for name in given]
        names = ", ".join(quoted[:-1]) + " and " + quoted[-1]
        message = f"{names} are one field under different names; send one value"
        raise serializers.ValidationError(
            {name: [message] for name in given}, code="alias_conflict"
        )
    if given:
        attrs[field] = next(iter(given.values()))
    return attrs


class InstallRequestSerializer(serializers.Serializer):
    """JSON ``{"package": "/abs/path.cvnext"}`` or ``{"id": ..., "version"?: ...}``."""

    package = serializers.CharField(
        required=False,
        allow_blank=False,
        min_length=1,
        max_length=4096,
        help_text="Absolute path of a bundle inside MARKET_PACKAGE_DIRS (JSON), or the "
        "uploaded bundle (multipart).",
    )
    package_path = serializers.CharField(
        required=False,
        allow_blank=False,
        min_length=1,
        max_length=4096,
        help_text="Alias of 'package' (a server path), as the reference server "
        "accepted it. Sending both with different values is invalid_request.",
    )
    id = ExtensionIdField(
        required=False, max_length=64, help_text="A catalogue extension id."
    )
    version = serializers.CharField(
        required=False,
        min_length=1,
        max_length=128,
        help_text="The catalogue version to install (with 'id'); default newest.",
    )
    reinstall = serializers.BooleanField(required=False, default=False)
    allow_downgrade = serializers.BooleanField(required=False, default=False)
    with_dependencies = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also install every missing (or out-of-range) dependency from the "
        "catalogue, dependencies first, all or nothing. Without it, such an install "
        "is refused missing_dependency.",
    )
    accept = serializers.ListField(
        child=serializers.CharField(max_length=300),
        required=False,
        max_length=500,
        help_text="What an upgrade may add over the installed version: every item "
        "GET updates lists under 'accept' (permission:<scope>, route:<path>, "
        "hook:<name>). Without all of them such an upgrade is consent_required.",
    )
    trust = serializers.ChoiceField(
        choices=TRUST_LEVELS,
        required=False,
        help_text="'unverified': install sandboxed whatever the bundle could prove "
        "(recorded in the sidecar as trust.requested). 'verified': a requirement; a "
        "bundle that does not prove it is refused trust_unproven. Absent: the bundle's "
        "proven level.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = merge_aliases(attrs, "package", ("package_path",))
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
    """``{"id": ...}``; ``extension_id`` and ``plugin_id`` are accepted aliases."""

    id = ExtensionIdField(
        required=False, max_length=200, help_text="The installed extension's id."
    )
    extension_id = ExtensionIdField(
        required=False,
        max_length=200,
        help_text="Alias of 'id', as the reference server accepted it.",
    )
    plugin_id = ExtensionIdField(
        required=False,
        max_length=200,
        help_text="Alias of 'id', as the reference server accepted it.",
    )

    cascade = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also uninstall every installed extension that depends on this one "
        "(dependents first). Without it, such an uninstall is refused "
        "dependency_in_use.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = merge_aliases(attrs, "id", ("extension_id", "plugin_id"))
        if "id" not in attrs:
            raise serializers.ValidationError(
                {"id": "This field is required."}, code="required"
            )
        return attrs


class MaintainerRequestSerializer(serializers.Serializer):
    """``{"id": ..., "username": ...}``: a maintainer to add to an owned id."""

    id = ExtensionIdField(max_length=64, help_text="The extension id.")
    username = serializers.CharField(max_length=150, help_text="The user to add.")


class TransferRequestSerializer(serializers.Serializer):
    """``{"id", "username", "reason"}``: a reviewer gives an id to another user."""

    id = ExtensionIdField(max_length=64, help_text="The extension id.")
    username = serializers.CharField(max_length=150, help_text="The new owner.")
    reason = serializers.CharField(
        max_length=2000, help_text="Why; recorded in the audit log."
    )


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
            marks=self.context.get("marks"),
        )


class LifecycleErrorSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(
        source="actor.username", default=None, allow_null=True
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        # Stored redacted; read redacted too, for rows written before that.
        roots = market_conf().redaction_roots
        data["message"] = redact(data["message"], roots)
        data["detail"] = redact(data["detail"], roots)
        return data

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
    actor = serializers.CharField(
        source="actor.username", default=None, allow_null=True
    )

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
    submitted_by = serializers.CharField(
        source="submitted_by.username", default=None, allow_null=True
    )

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
