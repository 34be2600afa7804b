"""Publishing to studio servers: the signed snapshot, its key chain and the bundles.

``GET snapshot[?since=]``, ``GET snapshot/keys`` and
``GET catalog/<id>/<version>/bundle``; public while ``MARKET_PUBLIC_READS`` is on,
like ``list``. Views translate HTTP; :mod:`market.snapshot` builds and signs the
document and :mod:`market.signing` keeps the keys.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import FileResponse, HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from market import signing, snapshot
from market.api import openapi as o
from market.api.views import ACCEPTS_GZIP
from market.errors import NotFoundError
from market.list_cache import etag_matches
from market.models import CatalogEntry
from market.services.sources import open_stored_bundle

# The states whose bundle is served: a yanked version still installs (pinned).
SERVED = (CatalogEntry.Status.APPROVED, CatalogEntry.Status.YANKED)
STREAM_BLOCK = 64 * 1024


class SnapshotEntrySerializer(serializers.Serializer):
    id = serializers.CharField()
    version = serializers.CharField()
    name = serializers.CharField()
    summary = serializers.CharField()
    authors = serializers.ListField(child=serializers.CharField())
    trust = serializers.ChoiceField(choices=("verified", "unverified"))
    state = serializers.ChoiceField(choices=("approved", "yanked", "delisted"))
    reason = serializers.CharField(
        allow_null=True, help_text="Why it was yanked or delisted; null if approved."
    )
    state_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was yanked or delisted; null if approved."
    )
    manifest = serializers.DictField(help_text="The normalised manifest as stored.")
    manifest_sha256 = serializers.CharField()
    package_sha256 = serializers.CharField()
    package_size = serializers.IntegerField()
    signature = serializers.CharField(
        allow_null=True,
        help_text="The bundle's Ed25519 catalogue signature (trust.signature) for "
        "verified entries, else null.",
    )
    approved_at = serializers.DateTimeField()


class SnapshotSerializer(serializers.Serializer):
    format = serializers.IntegerField(help_text="1")
    origin = serializers.CharField()
    revision = serializers.IntegerField(help_text="The catalogue revision, monotonic.")
    since = serializers.IntegerField(
        allow_null=True,
        help_text="The since= asked: entries then hold only the ids changed after it.",
    )
    issued_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    key_id = serializers.CharField(help_text="The catalogue key that signs it.")
    entries = SnapshotEntrySerializer(many=True)
    removed = serializers.ListField(
        child=serializers.CharField(), help_text="Reserved; always empty."
    )


class SnapshotResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    snapshot = SnapshotSerializer()
    signature = serializers.CharField(
        help_text="base64 Ed25519 signature over the RFC 8785 form of 'snapshot'."
    )


class KeyLinkSerializer(serializers.Serializer):
    key_id = serializers.CharField()
    public_key = serializers.CharField(help_text="base64 of the raw 32-byte key.")
    created_at = serializers.DateTimeField()
    signed_by = serializers.CharField(
        allow_null=True, help_text="The previous key's id; null for the first key."
    )
    signature = serializers.CharField(
        allow_null=True,
        help_text="base64 Ed25519 signature by the previous key over the RFC 8785 "
        "form of {key_id, public_key}; null for the first key.",
    )


class KeyChainResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    items = KeyLinkSerializer(many=True)


SIGNATURE_HEADER = OpenApiParameter(
    snapshot.SIGNATURE_HEADER,
    str,
    location=OpenApiParameter.HEADER,
    response=[200],
    description="<key_id>:<base64 signature>, the same signature as the body's.",
)


class SnapshotView(APIView):
    """The signed catalogue snapshot studio servers sync from."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "since",
                int,
                description="Only the ids changed after this catalogue revision.",
            ),
            SIGNATURE_HEADER,
        ],
        responses={
            200: SnapshotResponseSerializer,
            **o.errors(400, 401, 403),
            409: OpenApiResponse(
                o.ErrorSerializer, description="signing_key_missing: no catalogue key."
            ),
        },
    )
    def get(self, request: Request) -> HttpResponse:
        signed = snapshot.signed_snapshot(
            since=request.query_params.get("since"),
            origin=request.build_absolute_uri("/").rstrip("/"),
        )
        if ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")):
            response = HttpResponse(signed.body_gz, content_type="application/json")
            response["Content-Encoding"] = "gzip"
        else:
            response = HttpResponse(signed.body, content_type="application/json")
        response[snapshot.SIGNATURE_HEADER] = signed.header
        response["Cache-Control"] = "no-cache"
        patch_vary_headers(response, ("Accept-Encoding",))
        return response


class SnapshotKeysView(APIView):
    """The catalogue's keys, each signed by the one it replaced."""

    @extend_schema(responses={200: KeyChainResponseSerializer, **o.errors(401, 403)})
    def get(self, request: Request) -> Response:
        return Response({"ok": True, "items": signing.key_chain()})


def _attachment_name(ext_id: str, version: str) -> str:
    # Both were matched by the route's patterns; keep the name plain anyway.
    return re.sub(r"[^0-9A-Za-z._+-]", "_", f"{ext_id}-{version}.cvnext")


class BundleView(APIView):
    """The stored bundle of an approved or yanked version, streamed."""

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # A download may ask for application/zip, which no renderer produces: the
        # bundle is not rendered, and refusals fall back to the JSON error payload.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            304: OpenApiResponse(description="If-None-Match matched the ETag."),
            **o.errors(401, 403, 404),
        },
        parameters=[
            OpenApiParameter(
                "ETag",
                str,
                location=OpenApiParameter.HEADER,
                response=[200],
                description='"<package_sha256>"',
            )
        ],
    )
    def get(self, request: Request, ext_id: str, version: str) -> Any:
        entry = (
            CatalogEntry.objects.filter(
                extension_id=ext_id,
                version=version,
                status__in=SERVED,
                # A studio's upstream rows have no stored bundle to serve.
                source=CatalogEntry.Source.LOCAL,
            )
            .only("extension_id", "version", "package", "package_sha256")
            .first()
        )
        if entry is None:
            raise NotFoundError(
                f"no downloadable bundle of {ext_id} {version}",
                details={"id": ext_id, "version": version},
            )
        etag = f'"{entry.package_sha256}"'
        if etag_matches(request.headers.get("If-None-Match", ""), etag):
            response: Any = HttpResponseNotModified()
        else:
            handle = open_stored_bundle(entry)
            response = FileResponse(
                handle,
                as_attachment=True,
                filename=_attachment_name(ext_id, version),
                content_type="application/zip",
            )
            response.block_size = STREAM_BLOCK
        response["ETag"] = etag
        # Revalidated every time: a yank or delisting withdraws it at once.
        response["Cache-Control"] = "no-cache"
        return response
