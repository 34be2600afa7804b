"""Request body parsers that keep to Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``.

Django checks that limit when ``request.body`` or ``request.POST`` is read; DRF's JSON
and form parsers read the stream instead, past the check, so a JSON body of any size
would be read into memory. These read at most the limit and refuse the rest with
Django's own ``RequestDataTooBig`` (``413 request_too_large``). Multipart bodies are
bounded already: Django's multipart parser checks the fields, and
``market/api/uploads.py`` the files.

A JSON body is also bounded in depth: no request the API takes nests more than a few
levels, and code after the parser (validation, error details, logging) must never be
handed a value deep enough to exhaust the stack. A body nested past
:data:`MAX_JSON_DEPTH` (or past the parser's own stack), or holding a string that is
not valid Unicode, is ``400 invalid_request``.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser

# Levels of objects and lists a request body may nest; the deepest body the API
# takes (install, uninstall) has one.
MAX_JSON_DEPTH = 32


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


def _too_deep() -> ParseError:
    return ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_json_value(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """``ParseError`` if ``value`` nests objects or lists more than ``limit`` deep,
    or holds a string (or key) that is not valid Unicode.

    A lone surrogate (``"\\ud800"``) parses, but no response or database can carry
    it: echoed back in an error it would fail the response itself. Iterative, so the
    check cannot run out of stack.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                raise ParseError("JSON parse error - a string is not valid Unicode")
            continue
        if isinstance(item, dict):
            if not all(_encodable(key) for key in item):
                raise ParseError("JSON parse error - a key is not valid Unicode")
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            raise _too_deep()
        stack.extend((child, depth + 1) for child in children)


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body = _bounded(stream, parser_context)
        try:
            value = super().parse(body, media_type, parser_context)
        except RecursionError as exc:
            # Deeper than the parser's stack: far past the limit.
            raise _too_deep() from exc
        check_json_value(value)
        return value


class BoundedFormParser(FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body = _bounded(stream, parser_context)
        return super().parse(body, media_type, parser_context)
