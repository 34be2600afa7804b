"""Owned extension ids over the API: maintainers of an id, and transfers.

``GET maintainers/<id>``, ``POST maintainers``, ``DELETE maintainers/<id>/<username>``
and ``POST transfers``. Views translate HTTP; ``market.services.ownership`` decides
who may do what and records it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from market import selectors
from market.api import openapi as o
from market.api import serializers as s
from market.api.pagination import WholeUnlessPagedPagination
from market.services import ownership

ID_PARAMETER = OpenApiParameter(
    "ext_id", str, OpenApiParameter.PATH, description="The extension id."
)
USERNAME_PARAMETER = OpenApiParameter(
    "username", str, OpenApiParameter.PATH, description="The maintainer's username."
)


class MaintainerListView(generics.ListAPIView):
    """Who may submit an id: its owner, then its maintainers. Readable by them and
    by reviewers."""

    permission_classes = (IsAuthenticated,)
    pagination_class = WholeUnlessPagedPagination
    serializer_class = o.MaintainerSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return []
        row = ownership.extension_for_reader(
            ext_id=self.kwargs["ext_id"], actor=self.request.user
        )
        return selectors.maintainer_items(row)

    @extend_schema(
        parameters=[ID_PARAMETER],
        responses={
            200: o.MaintainerSerializer(many=True),
            **o.errors(400, 401, 403, 404),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class MaintainerAddView(APIView):
    """Add a maintainer to an id (its owner or a reviewer)."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(
        request=s.MaintainerRequestSerializer,
        responses={
            201: o.MaintainerAddResponseSerializer,
            **o.errors(400, 401, 403, 404, 409),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = s.MaintainerRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        added = ownership.maintainer_add(
            ext_id=data["id"], username=data["username"], actor=request.user
        )
        item = selectors.maintainer_item(added)
        body = {"ok": True, "id": data["id"], "maintainer": item}
        return Response(body, status=status.HTTP_201_CREATED)


class MaintainerRemoveView(APIView):
    """Remove a maintainer from an id (its owner or a reviewer)."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(
        parameters=[ID_PARAMETER, USERNAME_PARAMETER],
        responses={
            200: o.MaintainerRemoveResponseSerializer,
            **o.errors(401, 403, 404, 409),
        },
    )
    def delete(self, request: Request, ext_id: str, username: str) -> Response:
        ownership.maintainer_remove(
            ext_id=ext_id, username=username, actor=request.user
        )
        return Response({"ok": True, "id": ext_id, "username": username})


class TransferView(APIView):
    """Give an id to another user (reviewers only, with a reason; audited)."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(
        request=s.TransferRequestSerializer,
        responses={
            200: o.TransferResponseSerializer,
            **o.errors(400, 401, 403, 404, 409),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = s.TransferRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        done = ownership.ownership_transfer(
            ext_id=data["id"],
            username=data["username"],
            reason=data["reason"],
            actor=request.user,
        )
        return Response(
            {
                "ok": True,
                "id": done.ext_id,
                "owner": done.owner,
                "previous_owner": done.previous_owner,
            }
        )
