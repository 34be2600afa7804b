"""One error payload for the whole API.

``{"ok": false, "error": {"code", "message", "details"}}``.

Domain errors carry no HTTP status; ``STATUS_BY_CODE`` maps their codes to statuses in
one place. The middleware, the 404/500 handlers and DRF's exception handler all build
their responses with :func:`error_response`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.views import defaults
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from market.errors import MarketError

logger = logging.getLogger(__name__)

STATUS_BY_CODE: dict[str, int] = {
    "manifest_missing": 422,
    "manifest_invalid": 422,
    "signature_mismatch": 422,
    "signature_unsupported": 422,
    "trust_unproven": 422,
    "content_mismatch": 422,
    "corrupt_archive": 422,
    "unsafe_path": 422,
    "unsafe_entry_type": 422,
    "duplicate_entry": 422,
    "unsupported_compression": 422,
    "encrypted_entry": 422,
    "limit_exceeded": 422,
    "packaging_failed": 422,
    "package_too_large": 413,
    "path_not_allowed": 403,
    "already_installed": 409,
    "downgrade_refused": 409,
    "install_in_progress": 409,
    "review_refused": 409,
    "version_exists": 409,
    "not_installed": 404,
    "not_found": 404,
    "invalid_request": 400,
    "config_invalid": 500,
    "feature_disabled": 403,
    "not_authenticated": 401,
    "permission_denied": 403,
    "method_not_allowed": 405,
    "unsupported_media_type": 415,
    "throttled": 429,
    "server_error": 500,
}


def error_payload(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {
        "ok": False,
        "error": {"code": code, "message": message, "details": details or {}},
    }


def error_response(
    code: str, message: str, details: Any = None, status: int | None = None
) -> JsonResponse:
    """A plain Django response, for code outside DRF (middleware, handlers)."""
    return JsonResponse(
        error_payload(code, message, details),
        status=status or STATUS_BY_CODE.get(code, 400),
    )


def _drf_code(exc: drf_exceptions.APIException) -> str:
    if isinstance(
        exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed
    ):
        return "not_authenticated"
    if isinstance(exc, drf_exceptions.PermissionDenied):
        return "permission_denied"
    if isinstance(exc, drf_exceptions.NotFound):
        return "not_found"
    if isinstance(exc, drf_exceptions.Throttled):
        return "throttled"
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return "method_not_allowed"
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return "unsupported_media_type"
    return "invalid_request"


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


def market_exception_handler(
    exc: Exception, context: dict[str, Any]
) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: every refusal in the one payload shape."""
    if isinstance(exc, MarketError):
        if exc.code == "config_invalid":
            # The server's own configuration is broken: the operator reads the log,
            # the client learns nothing about the server's files.
            logger.error("server configuration error: %s", exc.message)
            return Response(
                error_payload("server_error", "internal server error"), status=500
            )
        status = STATUS_BY_CODE.get(exc.code, 400)
        return Response(
            error_payload(exc.code, exc.message, exc.details), status=status
        )
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, drf_exceptions.APIException):
        return response
    code = _drf_code(exc)
    if code in ("not_authenticated", "permission_denied", "throttled"):
        # Refused before any lifecycle work: logged for the operator, not stored.
        request = context.get("request")
        logger.info(
            "event=market.refused reason=%s method=%s path=%s user=%s",
            code,
            getattr(request, "method", "-"),
            getattr(request, "path", "-"),
            getattr(getattr(request, "user", None), "username", "") or "-",
        )
    details: Any = {}
    if isinstance(exc, drf_exceptions.ValidationError):
        details = {"problems": _field_problems(exc.detail)}
        message = "the request is invalid"
    elif isinstance(exc, drf_exceptions.Throttled):
        message = "too many requests; try again later"
        details = {"retry_after": exc.wait}
    else:
        message = str(exc.detail)
    response.data = error_payload(code, message, details)
    return response


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def json_not_found(request: HttpRequest, exception: Exception | None = None):
    if _wants_json(request):
        return error_response("not_found", f"no such resource: {request.path}")
    return defaults.page_not_found(request, exception)


def json_server_error(request: HttpRequest):
    if _wants_json(request):
        return error_response("server_error", "internal server error")
    return defaults.server_error(request)
