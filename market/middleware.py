"""The feature-flag gate in front of the marketplace API, and the query-text check.

The gate decides on the route Django actually resolved, never on the raw path: it runs
in ``process_view``, after the URL resolver matched ``request.path_info``, and looks at
the resolved view and its namespace. A prefix (``SCRIPT_NAME``), a trailing or doubled
slash, percent-encoding or a change of case therefore either reaches the same view,
and the same gate, or no view at all (404).

DRF never sees a middleware response, so refusals are built with the API's own
``error_response`` helper and carry the same payload as every other error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from market import flags
from market.api.exceptions import error_response
from market.serverlog import logfmt

logger = logging.getLogger(__name__)

API_NAMESPACE = "market-api"
API_MODULE = "market.api"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def is_market_view(request: HttpRequest, view_func: Callable[..., Any]) -> bool:
    """Whether the resolved view is part of the marketplace API.

    Either test suffices: the route sits in the API's URL namespace, or the view is
    one of the API's classes (so an alias mounted anywhere else is gated too).
    """
    match = getattr(request, "resolver_match", None)
    if match is not None and API_NAMESPACE in match.namespaces:
        return True
    view_class = getattr(view_func, "cls", None) or getattr(
        view_func, "view_class", None
    )
    module = getattr(view_class or view_func, "__module__", "") or ""
    return module == API_MODULE or module.startswith(API_MODULE + ".")


class _ViewGate:
    """A middleware that decides in ``process_view``, on the resolved view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)


class FeatureFlagMiddleware(_ViewGate):
    """Every marketplace route needs the marketplace flag; every change (any method
    but GET/HEAD/OPTIONS: install, uninstall, submissions, ...) also needs uploads."""

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if not is_market_view(request, view_func):
            return None
        current = flags.get_flags()
        if not current.marketplace:
            return self._refuse(request, flags.MARKETPLACE)
        if request.method not in SAFE_METHODS and not current.uploads:
            return self._refuse(request, flags.UPLOADS)
        return None

    @staticmethod
    def _refuse(request: HttpRequest, flag: str) -> HttpResponse:
        # logfmt quoting: a hostile path cannot forge a second log line.
        logger.info(
            "%s",
            logfmt(
                {
                    "event": "market.refused",
                    "reason": "feature_disabled",
                    "flag": flag,
                    "method": request.method,
                    "path": request.path,
                }
            ),
        )
        return error_response(
            "feature_disabled",
            f"the feature flag {flag} is off",
            {"flag": flag},
        )


class QueryTextMiddleware(_ViewGate):
    """No marketplace view sees a query parameter holding a NUL character.

    Databases refuse NUL in text (PostgreSQL fails the whole query), so a filter such
    as ``errors/?extension_id=%00`` would be a server error; here it is
    ``400 invalid_request`` for every route, whatever filters a view reads.
    """

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if not is_market_view(request, view_func):
            return None
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return error_response(
                    "invalid_request",
                    "query parameters cannot contain NUL characters",
                    {"parameter": key.replace("\x00", "\\x00")},
                )
        return None
