"""``list`` by catalogue revision: its ETag, and its rendered body in the cache.

The ETag is known before anything is built: the revision (one small row), what the
code renders around the catalogue (permission glossary, hook catalogue, the payload's
format), and what varies by reader. So a 304 costs one query and no rendering.

A 200 is served from the configured cache (``CACHE_URL``; shared by every worker
when it is Redis), gzip-compressed once when the body is built. A cold body is built
once per change: the first request takes a short lock in the cache, the others wait
for its result instead of building the same bytes again.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import time
from collections.abc import Callable

from django.core.cache import cache

from market import hooks_catalog
from market.manifest import TRUST_LEVELS, permissions_glossary, satisfies
from market.revision import Revision

# Bump when the shape of ``list`` changes, so no client keeps a body of the old shape
# on a 304 after an upgrade.
LIST_FORMAT = "4"
KEY_PREFIX = "market:list"
BODY_TIMEOUT = 24 * 3600  # bodies of older revisions are never read again
BUILD_LOCK_TIMEOUT = 60
WAIT_FOR_BUILD = 30.0
_POLL = 0.02
GZIP_LEVEL = 6


@functools.cache
def code_tag() -> str:
    """What the running code puts around the catalogue, as a short hash: a deploy
    that changes the glossary, the hook catalogue or the format changes every ETag."""
    data = [
        LIST_FORMAT,
        permissions_glossary(),
        hooks_catalog.hooks_catalog(),
        list(TRUST_LEVELS),
    ]
    encoded = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:10]


def reader_variant(*, show_actor: bool) -> str:
    """What in the body depends on who asks: installers' names are for logged-in
    readers only."""
    return "a" if show_actor else "p"


def studio_variant(
    rev: Revision, studio: str | None, load_ranges: Callable[[], list[str]]
) -> str:
    """What in the body depends on the Studio's version: which of the catalogue's
    compatibility ranges hold it. Versions that fall the same way share one body and
    one ETag, so a cache entry per Studio release is never needed; no version sent
    is a variant of its own (the body leaves ``compatible`` out)."""
    if studio is None:
        return ""
    key = f"{KEY_PREFIX}:ranges:{rev.tag}"
    ranges = cache.get(key)
    if ranges is None:
        ranges = load_ranges()
        cache.set(key, ranges, timeout=BODY_TIMEOUT)
    bits = "".join("1" if satisfies(studio, text) else "0" for text in ranges)
    return ".s" + hashlib.sha256(bits.encode()).hexdigest()[:12]


def etag(rev: Revision, variant: str) -> str:
    # Weak: the same body is sent gzip-compressed or not.
    return f'W/"{rev.tag}.{code_tag()}.{variant}"'


def etag_matches(if_none_match: str, tag: str) -> bool:
    """RFC 9110 weak comparison of ``If-None-Match`` with our tag."""
    if if_none_match.strip() == "*":
        return True
    ours = tag.removeprefix("W/")
    return any(
        candidate.strip().removeprefix("W/") == ours
        for candidate in if_none_match.split(",")
    )


def compressed_body(rev: Revision, variant: str, build: Callable[[], bytes]) -> bytes:
    """The gzip-compressed body for this revision and reader, built at most once per
    change while the cache holds it."""
    key = f"{KEY_PREFIX}:{rev.tag}:{code_tag()}:{variant}"
    body = cache.get(key)
    if body is not None:
        return body
    lock = f"{key}:building"
    owner = cache.add(lock, 1, timeout=BUILD_LOCK_TIMEOUT)
    if not owner:
        deadline = time.monotonic() + WAIT_FOR_BUILD
        while time.monotonic() < deadline:
            time.sleep(_POLL)
            body = cache.get(key)
            if body is not None:
                return body
            if cache.get(lock) is None:
                break  # the builder failed or gave up: build it here
    try:
        body = gzip.compress(build(), compresslevel=GZIP_LEVEL, mtime=0)
        cache.set(key, body, timeout=BODY_TIMEOUT)
    finally:
        if owner:
            cache.delete(lock)
    return body
