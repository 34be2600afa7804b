"""The list envelope of every collection: ``{ok, items, next, previous, count}``.

``items`` holds the page; ``next`` and ``previous`` are links to the neighbouring pages
(``null`` at either end) and ``count`` the size of the whole collection. A client reads
``items`` and follows ``next`` until it is ``null``; it never builds page URLs itself,
so the page parameters behind the links can change (to a cursor, say) without breaking
it. ``count`` is given where it is cheap and may be left out by a paginator that
cannot count cheaply.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response

from market.errors import InvalidRequestError
from market.manifest import ID_PATTERN

ID_RE = re.compile(ID_PATTERN)

ITEMS = "items"


def envelope_schema(item_schema: dict[str, Any], *, count: bool = True) -> dict:
    """The OpenAPI schema of the envelope around a list of ``item_schema``."""
    link = {"type": "string", "format": "uri", "nullable": True}
    properties: dict[str, Any] = {
        "ok": {"type": "boolean", "example": True},
        ITEMS: item_schema,
        "next": {**link, "description": "The next page, or null on the last one."},
        "previous": {**link, "description": "The previous page, or null."},
    }
    if count:
        properties["count"] = {
            "type": "integer",
            "description": "Items in the whole collection, not in this page.",
        }
    return {
        "type": "object",
        "required": ["ok", ITEMS, "next", "previous"],
        "properties": properties,
    }


class MarketPagination(PageNumberPagination):
    """Page-number paging (``?page=``, ``?page_size=``) in the market envelope."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request) -> int:
        """``page_size`` must be a whole number from 1; above the maximum counts as it.

        A malformed value is the client's mistake, refused rather than replaced by
        the default as DRF does.
        """
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        digits = raw.lstrip("0") if raw.isascii() and raw.isdigit() else ""
        if not digits:
            raise ValidationError(
                {self.page_size_query_param: "must be a whole number from 1"},
                code="invalid",
            )
        if len(digits) > len(str(self.max_page_size)):
            return self.max_page_size
        return min(int(digits), self.max_page_size)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "ok": True,
                ITEMS: data,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "count": self.page.paginator.count,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict:
        return envelope_schema(schema)

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
        return parameters


class WholeUnlessPagedPagination(MarketPagination):
    """Every item in one response unless the client asks for a page.

    For small collections (a studio has tens of installed extensions, not thousands):
    a client that sends neither ``page`` nor ``page_size`` gets them all, with ``next``
    and ``previous`` null; one that sends either gets ordinary pages.
    """

    def paginate_queryset(self, queryset, request, view=None):
        params = request.query_params
        if self.page_query_param in params or self.page_size_query_param in params:
            self.whole = None
            return super().paginate_queryset(queryset, request, view)
        self.whole = list(queryset)
        return self.whole

    def get_paginated_response(self, data: Any) -> Response:
        if self.whole is None:
            return super().get_paginated_response(data)
        return Response(
            {
                "ok": True,
                ITEMS: data,
                "next": None,
                "previous": None,
                "count": len(data),
            }
        )

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["description"] = (
                parameter["description"]
                + " Without page and page_size, every item is returned at once."
            )
        return parameters


class KeysetPagination(CursorPagination):
    """Keyset (cursor) paging in the market envelope, for large collections.

    A page is one index range scan from the last key of the previous page
    (``WHERE key > last ORDER BY key LIMIT n``), so page 2,000 costs what page 1 does;
    OFFSET paging reads and discards every row before the page. There is no
    ``count``: counting would read the whole collection again. ``next`` and
    ``previous`` carry an opaque ``cursor``; ``?page_size=`` up to 200.
    """

    ordering = "extension_id"  # unique within the collections that use it
    page_size_query_param = "page_size"
    max_page_size = 200
    invalid_cursor_message = "the cursor is not one this server gave out"
    get_page_size = MarketPagination.get_page_size

    def decode_cursor(self, request: Any) -> Any:
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise self._invalid() from exc
        # Only cursors this server could have made: offset 0 (keys are unique) and a
        # position that is a key (never NUL or other text the database refuses).
        if cursor is not None and (
            cursor.offset != 0
            or (cursor.position is not None and not ID_RE.fullmatch(cursor.position))
        ):
            raise self._invalid()
        return cursor

    def _invalid(self) -> InvalidRequestError:
        return InvalidRequestError(
            self.invalid_cursor_message, details={"cursor": "invalid"}
        )

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "ok": True,
                ITEMS: data,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict:
        return envelope_schema(schema, count=False)
