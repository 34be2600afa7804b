"""Request budgets that hold when requests arrive together.

DRF's ``SimpleRateThrottle`` reads a list of timestamps from the cache, appends one and
writes the list back, so requests that arrive together all read the same history and
all pass. Here each fixed window of the budget is one counter that the cache increments
atomically (``INCR`` on Redis, a lock in ``LocMemCache``), and the budget is a sliding
window estimated from the current and the previous fixed window: the previous count is
weighted by how much of it still overlaps the last ``duration`` seconds. A refused
request gives its increment back, so a client that keeps knocking spends nothing.

:class:`WriteRateThrottle` (submissions) counts only changes, and reads its rate from
the settings in force on each request rather than from DRF's import-time copy.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class AtomicScopedRateThrottle(ScopedRateThrottle):
    """``ScopedRateThrottle`` (same scopes, rates and keys) with atomic counters."""

    def allow_request(self, request: Any, view: Any) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window, self.offset = divmod(self.now, self.duration)
        current = f"{self.key}:{int(window)}"
        count = self._increment(current)
        self.previous = self.cache.get(f"{self.key}:{int(window) - 1}", 0)
        weight = 1 - self.offset / self.duration
        if self.previous * weight + count <= self.num_requests:
            return True
        self.spent = count - 1
        # A counter that expired meanwhile has nothing to give back.
        with contextlib.suppress(ValueError):
            self.cache.decr(current)
        return False

    def wait(self) -> float | None:
        """Seconds until one more request fits the budget (an estimate)."""
        left_in_window = self.duration - self.offset
        if self.spent + 1 > self.num_requests:
            # The current window alone is full: its count becomes the next window's
            # "previous", which must decay until one request fits beside it.
            needed = 1 - (self.num_requests - 1) / max(self.spent, 1)
            return left_in_window + max(0.0, needed) * self.duration
        if not self.previous:
            return 0.0
        # The previous window's weight must fall until prev * weight + spent + 1 <= N.
        fits = (self.num_requests - self.spent - 1) / self.previous
        delay = (1 - fits) * self.duration - self.offset
        return float(math.ceil(max(0.0, min(delay, left_in_window)) * 1000) / 1000)

    def _increment(self, key: str) -> int:
        # The counter lives two windows: it is the "previous" count during the next one.
        for _ in range(2):
            self.cache.add(key, 0, timeout=2 * self.duration)
            try:
                return int(self.cache.incr(key))
            except ValueError:  # expired between add and incr: add it again
                continue
        return int(self.cache.incr(key))


class WriteRateThrottle(AtomicScopedRateThrottle):
    """Counts only changes (POST, ...): reading one's submissions is not throttled.

    The rate is the one the settings give the view's scope now (DRF copies
    ``DEFAULT_THROTTLE_RATES`` once, at import), so a changed setting applies at once.
    """

    def allow_request(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)

    def get_rate(self) -> str | None:
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        try:
            return rates[self.scope]
        except KeyError:
            # market/checks.py reports a missing scope before the server starts.
            raise ImproperlyConfigured(
                f"no throttle rate is set for the scope {self.scope!r}"
            ) from None
