"""The feature-flag gate in front of ``/api/market/*``.

DRF never sees a middleware response, so refusals are built with the API's own
``error_response`` helper and carry the same payload as every other error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from market import flags
from market.api.exceptions import error_response

logger = logging.getLogger(__name__)

API_PREFIX = "/api/market/"
# Routes that change what is installed or submitted also need the uploads flag.
WRITE_ROUTES = ("install", "uninstall", "submissions")


class FeatureFlagMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            refusal = self._refusal(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        current = flags.get_flags()
        if not current.marketplace:
            return self._refuse(request, flags.MARKETPLACE)
        route = request.path[len(API_PREFIX) :].strip("/").split("/", 1)[0]
        writes = request.method not in ("GET", "HEAD", "OPTIONS")
        if route in WRITE_ROUTES and writes and not current.uploads:
            return self._refuse(request, flags.UPLOADS)
        return None

    @staticmethod
    def _refuse(request: HttpRequest, flag: str) -> HttpResponse:
        logger.info(
            "event=market.refused reason=feature_disabled flag=%s method=%s path=%s",
            flag,
            request.method,
            request.path,
        )
        return error_response(
            "feature_disabled",
            f"the feature flag {flag} is off",
            {"flag": flag},
        )
