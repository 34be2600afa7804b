"""Admin login throttling with django-axes: who is asking, and what a lockout says.

Failed logins are counted per username and client address (``AXES_LOCKOUT_PARAMETERS``
in the settings); after ``AXES_FAILURE_LIMIT`` of them that pair is locked for
``AXES_COOLOFF_MINUTES``, while other accounts, and the same account from elsewhere,
log in as before. Counts live in the database, so every worker and host shares them.
"""

from __future__ import annotations

import math
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from market.admin_site import SITE_HEADER
from market.conf import market_conf


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or the header a trusted proxy sets.

    Behind nginx every request comes from the proxy; ``MARKET_CLIENT_IP_HEADER``
    (e.g. ``HTTP_X_REAL_IP``, set by the proxy on every request) names the header that
    carries the real address. Never a header a client could send past the proxy.
    """
    header = market_conf().client_ip_header
    if header:
        value = str(request.META.get(header, "")).strip()
        if value:
            return value.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR")


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """The page a locked-out login gets: what happened, for how long, what to do."""
    from axes.helpers import get_client_username, get_cool_off, get_failure_limit
    from django.conf import settings

    cool_off = get_cool_off(request)
    context = {
        "username": get_client_username(request, credentials) or "",
        "failure_limit": get_failure_limit(request, credentials),
        "cooloff_minutes": math.ceil(cool_off.total_seconds() / 60) if cool_off else 0,
        "site_header": SITE_HEADER,
    }
    return render(
        request,
        "market/lockout.html",
        context,
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
