"""The ``/api/market/*`` endpoints. Views translate HTTP; services do the work."""

from __future__ import annotations

import gzip
import re
from typing import Any

from django.http import HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from market import list_cache, review, revision, selectors, services, signing
from market.api import openapi as o
from market.api import serializers as s
from market.api.pagination import KeysetPagination, WholeUnlessPagedPagination
from market.api.parsers import BoundedFormParser, BoundedJSONParser
from market.api.permissions import HasModelPermission
from market.api.throttling import AtomicScopedRateThrottle
from market.api.uploads import UploadLimitMixin
from market.clock import iso
from market.errors import InvalidRequestError
from market.manifest import TRUST_LEVELS, load_schema
from market.models import (
    CatalogEntry,
    InstalledExtension,
    LifecycleError,
    LifecycleEvent,
)

ACCEPTS_GZIP = re.compile(r"\bgzip\b")  # as Django's GZipMiddleware reads it


class MarketListView(APIView):
    """Catalogue snapshot, installed state, permission glossary and hook catalogue."""

    @extend_schema(responses={200: o.ListResponseSerializer, **o.errors(401, 403)})
    def get(self, request: Request) -> Any:
        show_actor = request.user.is_authenticated
        variant = list_cache.reader_variant(show_actor=show_actor)
        rev = revision.current()  # the only query of a 304
        etag = list_cache.etag(rev, variant)
        if list_cache.etag_matches(request.headers.get("If-None-Match", ""), etag):
            response: HttpResponse = HttpResponseNotModified()
        else:
            body = list_cache.compressed_body(
                rev,
                variant,
                lambda: selectors.market_snapshot_json(show_actor=show_actor),
            )
            if ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")):
                response = HttpResponse(body, content_type="application/json")
                response["Content-Encoding"] = "gzip"
            else:
                response = HttpResponse(
                    gzip.decompress(body), content_type="application/json"
                )
        response["ETag"] = etag
        response["Cache-Control"] = "no-cache"
        # Who is asking changes the body (installers' names are for logged-in readers).
        patch_vary_headers(response, ("Accept-Encoding", "Authorization", "Cookie"))
        return response


class MarketHealthView(APIView):
    """Counts, trust breakdown, and the last error unless a success followed it."""

    @extend_schema(responses={200: o.HealthResponseSerializer, **o.errors(401, 403)})
    def get(self, request: Request) -> Response:
        return Response(selectors.market_health())


class InstallView(UploadLimitMixin, APIView):
    """Install from an upload, a catalogue reference, or an allowed server path."""

    permission_classes = (HasModelPermission,)
    required_permission = "market.install_extension"
    throttle_classes = (AtomicScopedRateThrottle,)
    throttle_scope = "market_install"
    parser_classes = (BoundedJSONParser, MultiPartParser, BoundedFormParser)

    @extend_schema(
        request={
            "application/json": s.InstallRequestSerializer,
            "multipart/form-data": s.InstallRequestSerializer,
        },
        responses={
            200: o.InstallResponseSerializer,
            **o.errors(400, 401, 403, 404, 409, 413, 422, 429),
        },
    )
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("package")
        if not hasattr(request.data, "items"):
            raise InvalidRequestError("the request body must be a JSON object")
        data = {k: v for k, v in request.data.items() if k != "package" or not upload}
        serializer = s.InstallRequestSerializer(data=data, context={"has_file": upload})
        serializer.is_valid(raise_exception=True)
        opts = serializer.validated_data
        row = services.extension_install_from(
            upload=upload,
            package=opts.get("package"),
            ext_id=opts.get("id"),
            version=opts.get("version"),
            actor=request.user,
            reinstall=opts["reinstall"],
            allow_downgrade=opts["allow_downgrade"],
            trust=opts.get("trust"),
        )
        return Response({"ok": True, "installed": selectors.installed_payload(row)})


class UninstallView(APIView):
    permission_classes = (HasModelPermission,)
    required_permission = "market.uninstall_extension"

    @extend_schema(
        request=s.UninstallRequestSerializer,
        responses={
            200: o.UninstallResponseSerializer,
            **o.errors(400, 401, 403, 404, 409),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = s.UninstallRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ext_id = services.extension_uninstall(
            ext_id=serializer.validated_data["id"], actor=request.user
        )
        return Response({"ok": True, "id": ext_id})


class KeysView(APIView):
    """Public keys whose Ed25519 signatures make a bundle ``verified``."""

    @extend_schema(responses={200: o.KeysResponseSerializer, **o.errors(401, 403)})
    def get(self, request: Request) -> Response:
        return Response({"ok": True, "keys": signing.public_keys_payload()})


class ManifestSchemaView(APIView):
    """The manifest JSON Schema, for ``"$schema"`` in a modder's editor."""

    @extend_schema(
        responses={
            (200, "application/schema+json"): OpenApiTypes.OBJECT,
            **o.errors(401, 403),
        }
    )
    def get(self, request: Request) -> Response:
        return Response(load_schema(), content_type="application/schema+json")


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "search", str, description="Substring of the id, name or summary."
            ),
            OpenApiParameter("trust", str, enum=["unverified", "verified"]),
            OpenApiParameter("permission", str, description="A declared scope."),
            OpenApiParameter("hook", str, description="A declared hook name."),
        ],
        responses={
            200: s.CatalogEntrySerializer(many=True),
            **o.errors(400, 401, 403, 404),
        },
    )
)
class CatalogViewSet(viewsets.ReadOnlyModelViewSet):
    """The catalogue: approved extensions at their newest version."""

    serializer_class = s.CatalogEntrySerializer
    pagination_class = KeysetPagination
    lookup_field = "extension_id"
    lookup_value_regex = r"[a-z][a-z0-9_.-]{2,63}"

    def get_queryset(self):
        params = self.request.query_params
        if any("\x00" in value for value in params.values()):
            # PostgreSQL refuses NUL in text: a bad request, not a server error.
            raise InvalidRequestError("query parameters cannot contain NUL characters")
        if params.get("trust", "unverified") not in TRUST_LEVELS:
            raise ValidationError(
                {"trust": "must be one of: " + ", ".join(TRUST_LEVELS)},
                code="invalid_choice",
            )
        queryset = selectors.catalog_queryset(
            search=params.get("search"),
            trust=params.get("trust"),
            permission=params.get("permission"),
            hook=params.get("hook"),
        )
        return queryset

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        # Items are the catalogue JSON stored at approval, joined as they are: a page
        # costs one query, builds no model instances and encodes nothing per entry
        # (the same shape the serializer declares for the schema).
        rows = self.get_queryset().values("pk", "extension_id", "listing")
        page = self.paginate_queryset(rows)
        assert page is not None and self.paginator is not None
        items = selectors.listings_joined([(r["pk"], r["listing"]) for r in page])
        links = selectors.encode(
            {
                "next": self.paginator.get_next_link(),
                "previous": self.paginator.get_previous_link(),
            }
        )
        body = '{"ok":true,"items":[' + items + "]," + links[1:]
        return HttpResponse(body.encode(), content_type="application/json")

    @extend_schema(
        responses={200: o.CatalogDetailResponseSerializer, **o.errors(401, 403, 404)}
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        entry = self.get_object()
        versions = CatalogEntry.objects.filter(
            extension_id=entry.extension_id, status=CatalogEntry.Status.APPROVED
        ).order_by("-reviewed_at")
        payload = selectors.catalog_entry_payload(entry)
        payload["versions"] = [
            {
                "version": v.version,
                "trust": v.trust_level,
                "sha256": v.package_sha256,
                "approved_at": iso(v.reviewed_at),
            }
            for v in versions
        ]
        return Response({"ok": True, "entry": payload})


@extend_schema_view(
    list=extend_schema(
        responses={
            200: s.InstalledExtensionSerializer(many=True),
            **o.errors(400, 401, 403, 404),
        }
    ),
    retrieve=extend_schema(
        responses={200: s.InstalledExtensionSerializer, **o.errors(401, 403, 404)}
    ),
)
class InstalledViewSet(viewsets.ReadOnlyModelViewSet):
    """Installed extensions by id: all of them at once unless a page is asked for."""

    serializer_class = s.InstalledExtensionSerializer
    pagination_class = WholeUnlessPagedPagination
    lookup_field = "extension_id"
    lookup_value_regex = r"[a-z][a-z0-9_.-]{2,63}"
    queryset = InstalledExtension.objects.none()  # the schema's model; see below

    def get_queryset(self):
        # Each row carries its catalogue's newest version: one query in all.
        return selectors.installed_queryset()


def _lifecycle_schema(serializer: type) -> Any:
    """The OpenAPI description of a lifecycle table: its filters and responses."""
    return extend_schema_view(
        list=extend_schema(
            parameters=[
                OpenApiParameter(
                    "extension_id", str, description="Only this extension."
                ),
                OpenApiParameter("action", str, description="install, uninstall, ..."),
            ],
            responses={200: serializer(many=True), **o.errors(400, 401, 403, 404)},
        ),
        retrieve=extend_schema(responses={200: serializer, **o.errors(401, 403, 404)}),
    )


class _LifecycleFilterMixin:
    """``?extension_id=`` and ``?action=`` filters for the lifecycle tables."""

    request: Request
    queryset: Any

    def get_queryset(self):
        queryset = self.queryset.all()
        params = self.request.query_params
        if params.get("extension_id"):
            queryset = queryset.filter(extension_id=params["extension_id"])
        if params.get("action"):
            queryset = queryset.filter(action=params["action"])
        return queryset


@_lifecycle_schema(s.LifecycleErrorSerializer)
class LifecycleErrorViewSet(_LifecycleFilterMixin, viewsets.ReadOnlyModelViewSet):
    """Stored lifecycle failures, newest first (operators only)."""

    serializer_class = s.LifecycleErrorSerializer
    permission_classes = (HasModelPermission,)
    required_permission = "market.view_lifecycleerror"
    queryset = LifecycleError.objects.select_related("actor").order_by(
        "-created_at", "-id"
    )


@_lifecycle_schema(s.LifecycleEventSerializer)
class LifecycleEventViewSet(_LifecycleFilterMixin, viewsets.ReadOnlyModelViewSet):
    """The audit log of successful lifecycle actions, newest first (operators only)."""

    serializer_class = s.LifecycleEventSerializer
    permission_classes = (HasModelPermission,)
    required_permission = "market.view_lifecycleevent"
    queryset = LifecycleEvent.objects.select_related("actor").order_by(
        "-created_at", "-id"
    )


@extend_schema_view(
    list=extend_schema(
        responses={
            200: s.SubmissionSerializer(many=True),
            **o.errors(400, 401, 403, 404),
        }
    ),
    retrieve=extend_schema(
        responses={200: s.SubmissionSerializer, **o.errors(401, 403, 404)}
    ),
)
class SubmissionViewSet(
    UploadLimitMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Bundles submitted for review. Submitters see their own; reviewers see all."""

    serializer_class = s.SubmissionSerializer
    permission_classes = (HasModelPermission,)
    required_permission = "market.submit_catalogentry"
    parser_classes = (MultiPartParser, BoundedFormParser)

    def get_permissions(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [IsAuthenticated()]
        return super().get_permissions()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation, no user
            return CatalogEntry.objects.none()
        queryset = CatalogEntry.objects.select_related("submitted_by").order_by(
            "-submitted_at", "-id"
        )
        user = self.request.user
        if user.has_perm("market.review_catalogentry"):
            return queryset
        return queryset.filter(submitted_by=user)

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"package": {"type": "string", "format": "binary"}},
                "required": ["package"],
            }
        },
        responses={201: dict, **o.errors(400, 401, 403, 409, 413, 422)},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        upload = request.FILES.get("package")
        if upload is None:
            raise InvalidRequestError(
                "upload the bundle as multipart form data in the field 'package'"
            )
        entry = review.catalog_entry_submit_upload(upload=upload, actor=request.user)
        body = {"ok": True, "submission": s.SubmissionSerializer(entry).data}
        return Response(body, status=status.HTTP_201_CREATED)
