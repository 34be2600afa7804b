"""Request body parsers that keep to Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``.

Django checks that limit when ``request.body`` or ``request.POST`` is read; DRF's JSON
and form parsers read the stream instead, past the check, so a JSON body of any size
would be read into memory. These read at most the limit and refuse the rest with
Django's own ``RequestDataTooBig`` (``413 request_too_large``). Multipart bodies are
bounded already: Django's multipart parser checks the fields, and
``market/api/uploads.py`` the files.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.parsers import FormParser, JSONParser


def _bounded(stream: Any, parser_context: dict[str, Any] | None) -> io.BytesIO:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return io.BytesIO(stream.read())
    request = (parser_context or {}).get("request")
    declared = str(getattr(request, "META", {}).get("CONTENT_LENGTH") or "0")
    if declared.isdigit() and int(declared) > limit:
        raise RequestDataTooBig(f"the request body is over {limit} bytes")
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise RequestDataTooBig(f"the request body is over {limit} bytes")
    return io.BytesIO(data)


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body = _bounded(stream, parser_context)
        return super().parse(body, media_type, parser_context)


class BoundedFormParser(FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body = _bounded(stream, parser_context)
        return super().parse(body, media_type, parser_context)
