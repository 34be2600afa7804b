"""The Studio's version, from the ``X-Studio-Version`` request header.

Reads that mark catalogue versions ``compatible`` and installs that refuse an
incompatible version take it from here; a header that is not a SemVer 2.0.0
version is refused (``invalid_request``), never ignored.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from market.errors import InvalidRequestError
from market.manifest import parse_version

HEADER = "X-Studio-Version"

PARAMETER = OpenApiParameter(
    HEADER,
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="The Studio's SemVer version (e.g. 1.4.2). With it, every catalogue "
    "version carries compatible: true|false (from its compatibility.studio range) "
    "and install refuses an incompatible version; without it the field is left out.",
)


def studio_version(request: Request) -> str | None:
    """The header's version (normalised), None when it was not sent."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    version = parse_version(raw.strip())
    if version is None:
        raise InvalidRequestError(
            f"{HEADER} must be a SemVer 2.0.0 version such as 1.4.2",
            details={"header": HEADER},
        )
    return str(version)
