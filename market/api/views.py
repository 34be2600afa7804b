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

from market import (
    list_cache,
    review,
    revision,
    selectors,
    services,
    signing,
    versions,
)
from market.api import openapi as o
from market.api import serializers as s
from market.api import studio
from market.api.pagination import KeysetPagination, WholeUnlessPagedPagination
from market.api.parsers import BoundedFormParser, BoundedJSONParser
from market.api.permissions import HasModelPermission
from market.api.throttling import AtomicScopedRateThrottle, WriteRateThrottle
from market.api.uploads import UploadLimitMixin
from market.clock import iso
from market.conf import market_conf
from market.errors import InvalidRequestError, TooManyPendingError
from market.manifest import TRUST_LEVELS, dependency_ranges, load_schema
from market.models import (
    CatalogEntry,
    InstalledExtension,
    LifecycleError,
    LifecycleEvent,
)

ACCEPTS_GZIP = re.compile(r"\bgzip\b")  # as Django's GZipMiddleware reads it


class MarketListView(APIView):
    """Catalogue snapshot, installed state, permission glossary and hook catalogue."""

    @extend_schema(
        parameters=[studio.PARAMETER],
        responses={200: o.ListResponseSerializer, **o.errors(400, 401, 403)},
    )
    def get(self, request: Request) -> Any:
        show_actor = request.user.is_authenticated
        studio_version = studio.studio_version(request)
        rev = revision.current()  # the only query of a 304 (and the ranges, cached)
        variant = (
            list_cache.reader_variant(show_actor=show_actor)
            + list_cache.studio_variant(
                rev, studio_version, selectors.catalog_studio_ranges
            )
            + upstream_variant()
        )
        etag = list_cache.etag(rev, variant)
        if list_cache.etag_matches(request.headers.get("If-None-Match", ""), etag):
            response: HttpResponse = HttpResponseNotModified()
        else:
            body = list_cache.compressed_body(
                rev,
                variant,
                lambda: selectors.market_snapshot_json(
                    show_actor=show_actor, studio=studio_version
                ),
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
        # Who is asking changes the body (installers' names are for logged-in readers,
        # compatible for the Studio version sent).
        patch_vary_headers(
            response,
            ("Accept-Encoding", "Authorization", "Cookie", studio.HEADER),
        )
        return response


def upstream_variant() -> str:
    """With a central server configured: ``.x`` once its snapshot expired (the body
    marks upstream entries stale), after starting a background sync when one is due
    (never waited for). Without one, nothing and no query."""
    from market.upstream import state, sync

    if not state.configured():
        return ""
    row = state.current()
    sync.sync_in_background(row)
    return ".x" if state.snapshot_expired(row) else ""


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
        parameters=[studio.PARAMETER],
        request={
            "application/json": s.InstallRequestSerializer,
            "multipart/form-data": s.InstallRequestSerializer,
        },
        responses={
            200: o.InstallResponseSerializer,
            **o.errors(400, 401, 403, 404, 413, 422, 429),
            **o.conflict(o.InstallConflictSerializer),
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
        result = services.extension_install_planned(
            upload=upload,
            package=opts.get("package"),
            ext_id=opts.get("id"),
            version=opts.get("version"),
            actor=request.user,
            reinstall=opts["reinstall"],
            allow_downgrade=opts["allow_downgrade"],
            trust=opts.get("trust"),
            studio=studio.studio_version(request),
            with_dependencies=opts["with_dependencies"],
            accept=opts.get("accept"),
        )
        payload = selectors.installed_payload(result.row)
        body: dict[str, Any] = {"ok": True, "installed": payload}
        if opts["with_dependencies"]:
            body["dependencies_installed"] = [
                selectors.installed_payload(row) for row in result.dependencies
            ]
        if payload["yanked"]:
            body["warnings"] = [
                {
                    "code": "yanked_version",
                    "message": f"{result.row.extension_id} {result.row.version} was "
                    f"yanked: {payload['yanked']['reason']}",
                    "details": payload["yanked"],
                }
            ]
        return Response(body)


class UninstallView(APIView):
    permission_classes = (HasModelPermission,)
    required_permission = "market.uninstall_extension"

    @extend_schema(
        request=s.UninstallRequestSerializer,
        responses={
            200: o.UninstallResponseSerializer,
            **o.errors(400, 401, 403, 404),
            **o.conflict(o.UninstallConflictSerializer),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = s.UninstallRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cascade = serializer.validated_data["cascade"]
        ext_id, dependents = services.extension_uninstall_planned(
            ext_id=serializer.validated_data["id"], actor=request.user, cascade=cascade
        )
        body: dict[str, Any] = {"ok": True, "id": ext_id}
        if cascade:
            body["dependents_removed"] = dependents
        return Response(body)


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
            OpenApiParameter("trust", str, enum=list(TRUST_LEVELS)),
            OpenApiParameter("permission", str, description="A declared scope."),
            OpenApiParameter("hook", str, description="A declared hook name."),
            studio.PARAMETER,
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
        # A NUL in any parameter was refused already (QueryTextMiddleware).
        params = self.request.query_params
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
        studio_version = studio.studio_version(request)
        rows = self.get_queryset().values(
            "pk", "extension_id", "listing", "studio_range", "source"
        )
        page = self.paginate_queryset(rows)
        assert page is not None and self.paginator is not None
        items = selectors.listings_joined(
            [(r["pk"], r["listing"]) for r in page],
            selectors.compatible_marks(
                [(r["pk"], r["studio_range"]) for r in page], studio_version
            ),
            selectors.stale_marks([(r["pk"], r["source"]) for r in page]),
        )
        links = selectors.encode(
            {
                "next": self.paginator.get_next_link(),
                "previous": self.paginator.get_previous_link(),
            }
        )
        body = '{"ok":true,"items":[' + items + "]," + links[1:]
        response = HttpResponse(body.encode(), content_type="application/json")
        patch_vary_headers(response, (studio.HEADER,))
        return response

    @extend_schema(
        parameters=[studio.PARAMETER],
        responses={
            200: o.CatalogDetailResponseSerializer,
            **o.errors(400, 401, 403, 404),
        },
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        studio_version = studio.studio_version(request)
        entry = self.get_object()
        versions = CatalogEntry.objects.filter(
            extension_id=entry.extension_id, status=CatalogEntry.Status.APPROVED
        ).order_by("-reviewed_at")
        payload = selectors.catalog_entry_payload(entry)
        if selectors.stale_marks([(entry.pk, entry.source)]):
            payload["stale"] = True
        payload["versions"] = [
            {
                "version": v.version,
                "trust": v.trust_level,
                "sha256": v.package_sha256,
                "approved_at": iso(v.reviewed_at),
                "compatibility": {"studio": v.studio_range} if v.studio_range else {},
                "dependencies": dependency_ranges(v.manifest),
                **_compatibility(v, studio_version),
            }
            for v in versions
        ]
        payload.update(_compatibility(entry, studio_version))
        response = Response({"ok": True, "entry": payload})
        patch_vary_headers(response, (studio.HEADER,))
        return response


def _compatibility(entry: CatalogEntry, studio_version: str | None) -> dict[str, Any]:
    """A version's ``compatible`` member, when a Studio version was sent."""
    if studio_version is None:
        return {}
    return {"compatible": selectors.is_compatible(studio_version, entry.studio_range)}


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
    queryset = InstalledExtension.objects.order_by("extension_id")

    def get_serializer_context(self) -> dict[str, Any]:
        # One query for every row's "update_available", "yanked" and "blocked",
        # not one per row.
        latest, marks = versions.catalog_state()
        return {**super().get_serializer_context(), "latest": latest, "marks": marks}


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
    # Submitting is throttled like install (MARKET_SUBMIT_THROTTLE); reading is not.
    throttle_classes = (WriteRateThrottle,)
    throttle_scope = "market_submit"

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
        responses={201: dict, **o.errors(400, 401, 403, 409, 413, 422, 429)},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Before the body is read: a user at the cap spools no upload.
        limit = market_conf().max_pending_submissions
        pending = selectors.pending_submission_count(user=request.user)
        if pending >= limit:
            raise TooManyPendingError(limit=limit, pending=pending)
        upload = request.FILES.get("package")
        if upload is None:
            raise InvalidRequestError(
                "upload the bundle as multipart form data in the field 'package'"
            )
        entry = review.catalog_entry_submit_upload(upload=upload, actor=request.user)
        body = {"ok": True, "submission": s.SubmissionSerializer(entry).data}
        return Response(body, status=status.HTTP_201_CREATED)
