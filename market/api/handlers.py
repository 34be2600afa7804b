"""Django's own refusals under ``/api/``, in the API's one error shape.

Django answers some requests without a view, or instead of one: an unknown URL, a
request it finds suspicious (``RequestDataTooBig``, ``TooManyFieldsSent``,
``DisallowedHost``, ...), a failed CSRF check, an uncaught exception. Outside
``/api/`` those stay Django's HTML pages; under ``/api/`` they answer
``{"ok": false, "error": {...}}`` whether ``DEBUG`` is on or off:

- ``handler400/403/404/500`` and ``CSRF_FAILURE_VIEW`` (set in ``comfyvn_site``)
  answer when ``DEBUG`` is off;
- :class:`ApiErrorShapeMiddleware`, the outermost middleware, reshapes any error
  response under ``/api/`` that is not JSON (``DEBUG``'s technical pages included)
  from its status.

A 500 carries ``details.error_id``; the server log has the same id beside the
traceback (``market/serverlog.py``), so a report can be matched to its cause.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

from django.core.exceptions import (
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.signals import got_request_exception
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import csrf, defaults

from market.api.exceptions import error_payload, json_error, server_error_payload
from market.serverlog import new_error_id

# Django's refusals, by class along the MRO: (code, status, message).
REFUSALS: dict[type[Exception], tuple[str, int, str]] = {
    SuspiciousOperation: ("invalid_request", 400, "the request was refused"),
    RequestDataTooBig: ("request_too_large", 413, "the request body is too large"),
    TooManyFieldsSent: ("invalid_request", 400, "the request has too many fields"),
    TooManyFilesSent: ("invalid_request", 400, "the request has too many files"),
    DisallowedHost: ("invalid_request", 400, "the Host header is not allowed"),
    PermissionDenied: ("permission_denied", 403, "you may not do this"),
    Http404: ("not_found", 404, "no such resource"),
}
# Any other error status, for responses that reach the middleware already made.
BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "the request is invalid"),
    401: ("not_authenticated", "authentication is required"),
    403: ("permission_denied", "you may not do this"),
    404: ("not_found", "no such resource"),
    405: ("method_not_allowed", "this method is not allowed here"),
    406: ("not_acceptable", "no acceptable response format"),
    413: ("request_too_large", "the request body is too large"),
    415: ("unsupported_media_type", "unsupported media type"),
    429: ("throttled", "too many requests; try again later"),
}
# Headers of the original response that still apply to the reshaped one.
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Vary")

_SLASHES = re.compile(r"/{2,}")


def is_api_request(request: HttpRequest) -> bool:
    """Whether Django routes this request under ``/api/`` (``path_info``, not the
    prefixed ``path``, so a ``SCRIPT_NAME`` changes nothing)."""
    path = _SLASHES.sub("/", getattr(request, "path_info", "") or "")
    return path == "/api" or path.startswith("/api/")


def _lookup(exc: BaseException | None) -> tuple[str, int, str] | None:
    for klass in type(exc).__mro__ if exc is not None else ():
        if klass in REFUSALS:
            return REFUSALS[klass]
    return None


def refusal_response(
    exc: BaseException | None, default: tuple[str, int, str] | None = None
) -> JsonResponse:
    code, status, message = _lookup(exc) or default or REFUSALS[SuspiciousOperation]
    return json_error(error_payload(code, message), status)


def _server_error(request: HttpRequest) -> JsonResponse:
    error_id = getattr(request, "error_id", None) or new_error_id()
    return json_error(server_error_payload(error_id), 500)


def _not_found(request: HttpRequest) -> JsonResponse:
    return json_error(
        error_payload("not_found", "no such resource", {"path": request.path_info}),
        404,
    )


@receiver(got_request_exception)
def tag_server_error(sender: Any, request: HttpRequest | None = None, **_: Any) -> None:
    """Give an uncaught exception its reference id before Django logs it.

    A lifecycle service that already stored the failure set the id on the
    exception; the response, the stored row and the log then share one id.
    """
    if request is None:
        return
    exc = sys.exc_info()[1]
    request.error_id = getattr(exc, "error_id", None) or new_error_id()  # type: ignore[attr-defined]


def bad_request(request: HttpRequest, exception: Exception | None = None):
    if is_api_request(request):
        return refusal_response(exception)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception | None = None):
    if is_api_request(request):
        return refusal_response(exception, REFUSALS[PermissionDenied])
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception | None = None):
    if is_api_request(request):
        return _not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest):
    if is_api_request(request):
        return _server_error(request)
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = ""):
    if is_api_request(request):
        return json_error(
            error_payload(
                "permission_denied", "the CSRF check failed", {"reason": reason}
            ),
            403,
        )
    return csrf.csrf_failure(request, reason)


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


class ApiErrorShapeMiddleware:
    """Outermost: an error under ``/api/`` that is not JSON becomes the payload."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not is_api_request(request)
            or _is_json(response)
        ):
            return response
        reshaped = self._reshape(request, response.status_code)
        for header in KEPT_HEADERS:
            if header in response:
                reshaped[header] = response[header]
        for cookie in response.cookies.values():
            reshaped.cookies[cookie.key] = cookie
        # Django logs an error response once; the reshaped one is the same answer.
        if getattr(response, "_has_been_logged", False):
            reshaped._has_been_logged = True  # type: ignore[attr-defined]
        return reshaped

    @staticmethod
    def _reshape(request: HttpRequest, status: int) -> JsonResponse:
        if status == 404:
            return _not_found(request)
        if status >= 500:
            response = _server_error(request)
            response.status_code = status
            return response
        code, message = BY_STATUS.get(status, ("invalid_request", "the request failed"))
        return json_error(error_payload(code, message), status)
