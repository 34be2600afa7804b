"""One error payload for the whole API.

``{"ok": false, "error": {"code", "message", "details"}}``.

Domain errors carry no HTTP status; ``market/api/status.py`` maps exception classes
(and bare codes) to statuses in one table. The middleware, Django's handlers
(``market/api/handlers.py``) and DRF's exception handler below all build their
responses with :func:`error_payload`, which also takes server paths out of every
message and detail (``market/redact.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from market.api.status import STATUS_BY_CODE, status_for_code, status_for_error
from market.conf import market_conf
from market.errors import ConfigError, MarketError
from market.redact import redact
from market.serverlog import new_error_id

logger = logging.getLogger(__name__)

__all__ = [
    "STATUS_BY_CODE",
    "error_payload",
    "error_response",
    "market_exception_handler",
    "server_error_payload",
]

SERVER_ERROR_MESSAGE = "internal server error"

# DRF's refusals, by class along the MRO: the code each one answers with. DRF's own
# status_code on the exception stays the response's status.
DRF_CODES: dict[type[drf_exceptions.APIException], str] = {
    drf_exceptions.APIException: "server_error",
    drf_exceptions.ValidationError: "invalid_request",
    drf_exceptions.ParseError: "invalid_request",
    drf_exceptions.AuthenticationFailed: "not_authenticated",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
}


def _by_mro(table: dict[type, Any], exc: BaseException) -> Any:
    for klass in type(exc).__mro__:
        if klass in table:
            return table[klass]
    return None


def error_payload(code: str, message: str, details: Any = None) -> dict[str, Any]:
    roots = market_conf().redaction_roots
    return {
        "ok": False,
        "error": {
            "code": code,
            "message": redact(message, roots),
            "details": redact(details, roots) if details else {},
        },
    }


def server_error_payload(error_id: str) -> dict[str, Any]:
    """What a client learns of a server fault: a reference to quote, nothing more."""
    return error_payload("server_error", SERVER_ERROR_MESSAGE, {"error_id": error_id})


def json_error(payload: dict[str, Any], status: int) -> JsonResponse:
    """A plain Django response, compact as DRF renders, for code outside DRF."""
    return JsonResponse(
        payload, status=status, json_dumps_params={"separators": (",", ":")}
    )


def error_response(
    code: str, message: str, details: Any = None, status: int | None = None
) -> JsonResponse:
    """The payload of a code as a plain Django response (middleware, handlers)."""
    return json_error(
        error_payload(code, message, details), status or status_for_code(code)
    )


def _field_problems(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """Flatten DRF's nested validation detail into ``[{path, code, message}]``."""
    problems: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                path = prefix
            problems.extend(_field_problems(value, path))
    elif isinstance(detail, list):
        for item in detail:
            problems.extend(_field_problems(item, prefix))
    else:
        code = getattr(detail, "code", "invalid")
        problems.append({"path": prefix, "code": str(code), "message": str(detail)})
    return problems


def _market_error_response(exc: MarketError, context: dict[str, Any]) -> Response:
    if isinstance(exc, ConfigError):
        # The server's own configuration is broken: the operator reads the log (with
        # the reference), the client learns nothing about the server's files.
        error_id = new_error_id()
        logger.error(
            "server configuration error: %s",
            exc.message,
            extra={"error_id": error_id, "request": context.get("request")},
        )
        return Response(server_error_payload(error_id), status=500)
    return Response(
        error_payload(exc.code, exc.message, exc.details),
        status=status_for_error(exc),
    )


def _log_refusal(code: str, context: dict[str, Any]) -> None:
    # Refused before any lifecycle work: logged for the operator, not stored.
    request = context.get("request")
    logger.info(
        "event=market.refused reason=%s method=%s path=%s user=%s",
        code,
        getattr(request, "method", "-"),
        getattr(request, "path", "-"),
        getattr(getattr(request, "user", None), "username", "") or "-",
    )


def market_exception_handler(
    exc: Exception, context: dict[str, Any]
) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: every refusal in the one payload shape.

    Anything it does not know (a bug, a database failure) is left to Django, whose
    ``handler500`` answers with a reference id and logs the traceback.
    """
    if isinstance(exc, MarketError):
        return _market_error_response(exc, context)
    if isinstance(exc, SuspiciousOperation):
        # Too large a body, too many fields or files: Django's own refusals, raised
        # while DRF parsed the request.
        from market.api.handlers import refusal_response

        return refusal_response(exc)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, drf_exceptions.APIException):
        return response
    code = _by_mro(DRF_CODES, exc)
    if code in ("not_authenticated", "permission_denied", "throttled"):
        _log_refusal(code, context)
    details: Any = {}
    if isinstance(exc, drf_exceptions.ValidationError):
        details = {"problems": _field_problems(exc.detail)}
        message = "the request is invalid"
    elif isinstance(exc, drf_exceptions.Throttled):
        message = "too many requests; try again later"
        details = {"retry_after": exc.wait}
    elif response.status_code >= 500:
        message = SERVER_ERROR_MESSAGE
    else:
        message = str(exc.detail)
    response.data = error_payload(code, message, details)
    return response
