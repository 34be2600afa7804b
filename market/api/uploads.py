"""Refuse oversized uploads while they arrive, not after they filled the disk.

Django spools file uploads to disk without a size cap of its own. Views that accept a
bundle check ``Content-Length`` before reading the body, and stream the body through
:class:`LimitedUploadHandler`, which stops at ``max_package_bytes`` even when the
client sent no length (chunked encoding) or lied about it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.files.uploadhandler import FileUploadHandler

from market.conf import market_conf
from market.errors import PackageTooLargeError

logger = logging.getLogger(__name__)

# Multipart framing (boundaries, headers, other fields) on top of the bundle itself.
ENVELOPE_BYTES = 64 * 1024


def package_limit() -> int:
    return int(market_conf().archive_limits.max_package_bytes)


def too_large(size: int, limit: int) -> PackageTooLargeError:
    # Refused before any lifecycle work (and before authentication): logged, not
    # stored, so oversized requests cannot flood the lifecycle error table.
    logger.info(
        "event=market.refused reason=package_too_large size=%s limit=%s", size, limit
    )
    return PackageTooLargeError(
        f"the upload is over the {limit}-byte bundle limit",
        details={"size": size, "limit": limit},
    )


class LimitedUploadHandler(FileUploadHandler):
    """Counts every uploaded byte and refuses the request past ``limit``."""

    def __init__(self, limit: int, request: Any = None) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            raise too_large(self.received, self.limit)
        return raw_data  # the next handler (memory or temp file) stores it

    def file_complete(self, file_size: int) -> None:
        return None


class UploadLimitMixin:
    """For APIViews that take a bundle upload."""

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # Must be in place before anything (authentication's CSRF check included)
        # reads the body.
        request.upload_handlers.insert(0, LimitedUploadHandler(package_limit()))
        return super().initialize_request(request, *args, **kwargs)  # type: ignore[misc]

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        length = request.META.get("CONTENT_LENGTH") or "0"
        limit = package_limit()
        if length.isdigit() and int(length) > limit + ENVELOPE_BYTES:
            raise too_large(int(length), limit)
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
