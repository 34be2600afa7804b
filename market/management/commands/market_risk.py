"""``manage.py market_risk``: compute the risk signals of entries that have none.

Entries submitted before the scanner existed have no ``report["risk"]``; this fills
it from each stored bundle, compared with the approved version before it. ``--all``
recomputes every entry (after the scanner learns a new signal). Only the report's
``risk`` key changes.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from market.errors import MarketError
from market.models import CatalogEntry
from market.services.risk import catalog_entry_rescan


class Command(BaseCommand):
    help = "Compute the stored risk signals of catalogue entries that lack them."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--all", action="store_true", help="recompute every entry")
        parser.add_argument("--id", dest="ext_id", help="only this extension id")

    def handle(self, *args: Any, **opts: Any) -> None:
        entries = CatalogEntry.objects.order_by("pk")
        if opts["ext_id"]:
            entries = entries.filter(extension_id=opts["ext_id"])
        done = failed = 0
        for entry in entries.iterator(chunk_size=200):
            if not opts["all"] and "risk" in (entry.report or {}):
                continue
            try:
                found = catalog_entry_rescan(entry=entry)
            except (MarketError, OSError) as exc:
                failed += 1
                self.stderr.write(f"{entry}: not scanned: {exc}")
                continue
            done += 1
            self.stdout.write(
                f"{entry.extension_id} {entry.version}: score {found['score']}, "
                f"{found['total']} findings"
            )
        self.stdout.write(f"scanned {done} entries, {failed} failed")
        if failed:
            raise CommandError(f"{failed} entries could not be scanned")
