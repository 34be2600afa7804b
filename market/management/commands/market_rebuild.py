"""``manage.py market_rebuild``: recompute every catalogue entry's derived columns.

Names, summaries, authors, the permission and hook indexes, catalogue cards, stored
listings and ``is_latest`` are all derived from each entry's manifest and review
state (:mod:`market.review.derived`). Run this after a change to how any of them is
computed; it is idempotent (a second run changes nothing) and prints what it did.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from market import review
from market.errors import MarketError


class Command(BaseCommand):
    help = "Rebuild the columns every catalogue entry derives from its manifest."

    def handle(self, *args, **opts) -> None:
        try:
            result = review.catalog_rebuild()
        except MarketError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(
            f"[ok] {result.rows} entries of {result.ids} extensions checked; "
            f"{result.changed} rebuilt, {result.latest_changed} is_latest changed"
        )
