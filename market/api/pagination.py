"""Page-number pagination with the marketplace's ``ok`` envelope."""

from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class MarketPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_paginated_response(self, data):
        return Response(
            {
                "ok": True,
                "count": self.page.paginator.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        wrapped = super().get_paginated_response_schema(schema)
        wrapped["properties"] = {"ok": {"type": "boolean"}, **wrapped["properties"]}
        return wrapped
