"""gzip for the API's JSON reads, and nothing else.

Compression is safe only where a response carries no secret an attacker could guess
byte by byte from its compressed size while reflecting their own input into the same
body (BREACH). The API's JSON reads carry none: tokens and CSRF values never appear
in an API body, only in headers and cookies. Admin and other HTML pages hold CSRF
tokens in their forms, so they are never compressed here, and neither is anything
answering a write. ``list`` arrives already compressed (from its cache) and is
passed through untouched.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware

API_PREFIX = "/api/"
JSON_TYPES = ("application/json", "application/schema+json", "application/vnd.oai")


class ApiGZipMiddleware(GZipMiddleware):
    """Django's ``GZipMiddleware`` (it adds ``Vary: Accept-Encoding`` and weakens
    ETags) for ``GET``/``HEAD`` JSON under ``/api/``."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if request.method not in ("GET", "HEAD") or not request.path.startswith(
            API_PREFIX
        ):
            return response
        content_type = response.get("Content-Type", "")
        if not content_type.startswith(JSON_TYPES):
            return response
        return super().process_response(request, response)
