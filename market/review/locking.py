"""The review lock: every catalogue row of one extension id, taken in one order.

Decisions on two versions of one id (approve 1.1 while 1.0 is delisted) both change
``is_latest`` across the id's rows, so they must serialise. Each locks all the id's
rows in primary-key order, which is the same order for every locker: one waits for
the other, and neither can hold a row the other needs first (no deadlock).
"""

from __future__ import annotations

from django.db import connection

from market.conf import market_conf
from market.models import CatalogEntry


def lock_extension(ext_id: str) -> dict[int, CatalogEntry]:
    """Lock every catalogue row of ``ext_id`` (in the caller's transaction), waiting
    at most ``MARKET_LOCK_TIMEOUT`` seconds; the rows by primary key."""
    if connection.vendor == "postgresql":
        timeout_ms = int(market_conf().lock_timeout * 1000)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true)", [f"{timeout_ms}ms"]
            )
    rows = (
        CatalogEntry.objects.select_for_update()
        .filter(extension_id=ext_id)
        .order_by("pk")
    )
    return {row.pk: row for row in rows}
