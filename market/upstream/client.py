"""HTTP to the central marketplace: httpx with timeouts, retries with back-off, a
size limit enforced while streaming, an overall deadline, and TLS verified.

Bundles are asked for and read as sent (``Accept-Encoding: identity``; a compressed
answer is refused). The snapshot may come gzip-compressed (about 25 times smaller):
it is decompressed in bounded steps, and the limit counts the decompressed bytes, so
a small compressed body can never expand past it. Redirects are not followed: the
central server's URL is the one configured.
"""

from __future__ import annotations

import hashlib
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from market.conf import UpstreamLimits, market_conf
from market.errors import LimitExceededError, UpstreamUnavailableError

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF = 0.25  # seconds before the second attempt, doubled for each next one
CHUNK = 64 * 1024

# Tests replace the transport (e.g. a fault injector); None: the network.
Transport = httpx.BaseTransport | None


def _client(
    limits: UpstreamLimits, transport: Transport = None, encoding: str = "identity"
) -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(limits.timeout),
        verify=True,
        follow_redirects=False,
        headers={"Accept-Encoding": encoding, "User-Agent": "comfyvn-market"},
        transport=transport,
    )


class _Retry(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@contextmanager
def _streamed(
    url: str, limits: UpstreamLimits, transport: Transport, encoding: str = "identity"
) -> Iterator[httpx.Response]:
    """The response to ``GET url``, retried on a network error or a 429/5xx."""
    last = ""
    for attempt in range(limits.attempts):
        if attempt:
            time.sleep(BACKOFF * 2 ** (attempt - 1))
        answered = False
        try:
            with (
                _client(limits, transport, encoding) as client,
                client.stream("GET", url) as r,
            ):
                if r.status_code in RETRY_STATUSES:
                    last = f"HTTP {r.status_code}"
                    continue
                answered = True
                yield r
                return
        except httpx.TransportError as exc:
            if answered:  # raised while the caller read the body: not retried
                raise
            last = type(exc).__name__
            logger.info("upstream %s: attempt %d failed: %s", url, attempt + 1, last)
    raise UpstreamUnavailableError(
        f"the central marketplace did not answer ({last}) after "
        f"{limits.attempts} attempts",
        details={"url": url, "reason": last, "attempts": limits.attempts},
    )


def _check_response(
    r: httpx.Response, url: str, max_bytes: int, gzip_ok: bool = False
) -> str:
    """The body's content coding ("identity" or "gzip"), once the answer is one to
    read."""
    if r.status_code != 200:
        raise UpstreamUnavailableError(
            f"the central marketplace answered HTTP {r.status_code}",
            details={"url": url, "status": r.status_code},
        )
    encoding = r.headers.get("Content-Encoding", "").strip().lower() or "identity"
    if encoding not in ("identity", "gzip") or (encoding == "gzip" and not gzip_ok):
        raise UpstreamUnavailableError(
            "the central marketplace sent a compressed body when asked for none",
            details={"url": url, "content_encoding": encoding},
        )
    declared = r.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(url, max_bytes, int(declared))
    return encoding


def _gunzip(chunks: Iterator[bytes], url: str, max_bytes: int) -> Iterator[bytes]:
    """Decompress a gzip body in steps of at most what the limit still allows."""
    inflate = zlib.decompressobj(wbits=31)
    total = 0
    try:
        for chunk in chunks:
            data = chunk
            while data:
                out = inflate.decompress(data, max_bytes - total + 1)
                total += len(out)
                if total > max_bytes:
                    raise _too_large(url, max_bytes)
                yield out
                data = inflate.unconsumed_tail
        if not inflate.eof:
            raise zlib.error("truncated")
    except zlib.error as exc:
        raise UpstreamUnavailableError(
            "the central marketplace sent a corrupt gzip body",
            details={"url": url, "reason": "corrupt_gzip"},
        ) from exc


def _too_large(url: str, limit: int, size: int | None = None) -> LimitExceededError:
    return LimitExceededError(
        f"the download from the central marketplace is larger than {limit} bytes; "
        "it was stopped and nothing of it kept",
        details={"url": url, "limit": limit, **({"size": size} if size else {})},
    )


def _chunks(
    r: httpx.Response, url: str, max_bytes: int, limits: UpstreamLimits
) -> Iterator[bytes]:
    deadline = time.monotonic() + limits.deadline
    total = 0
    try:
        for chunk in r.iter_raw(CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise _too_large(url, max_bytes)
            if time.monotonic() > deadline:
                raise LimitExceededError(
                    f"the download from the central marketplace took longer than "
                    f"{limits.deadline:.0f} seconds; it was stopped",
                    details={"url": url, "limit_seconds": limits.deadline},
                )
            yield chunk
    except httpx.TransportError as exc:
        raise UpstreamUnavailableError(
            f"the central marketplace broke off the download ({type(exc).__name__})",
            details={"url": url, "reason": type(exc).__name__},
        ) from exc


def fetch_bytes(url: str, *, max_bytes: int, transport: Transport = None) -> bytes:
    """The body of ``GET url``, at most ``max_bytes`` (else ``limit_exceeded``),
    asked for gzip-compressed and counted decompressed."""
    limits = market_conf().upstream_limits
    with _streamed(url, limits, transport, "gzip") as r:
        encoding = _check_response(r, url, max_bytes, gzip_ok=True)
        chunks = _chunks(r, url, max_bytes, limits)
        if encoding == "gzip":
            chunks = _gunzip(chunks, url, max_bytes)
        return b"".join(chunks)


def download(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    transport: Transport = None,
    progress: Callable[[int], Any] | None = None,
) -> tuple[str, int]:
    """Stream ``GET url`` into ``dest``: ``(sha256 hex, size)``; at most
    ``max_bytes`` are read (else ``limit_exceeded``)."""
    limits = market_conf().upstream_limits
    digest = hashlib.sha256()
    size = 0
    with _streamed(url, limits, transport) as r:
        _check_response(r, url, max_bytes)
        with dest.open("wb") as out:
            for chunk in _chunks(r, url, max_bytes, limits):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                if progress is not None:
                    progress(size)
    return digest.hexdigest(), size
