"""``manage.py market_sync``: fetch the central marketplace's signed snapshot,
verify it with the pinned keys and store its entries as upstream catalogue rows.

``--full`` asks for the whole snapshot instead of the changes since the revision
accepted last; ``--json`` prints the result as JSON. A refused snapshot stores
nothing, is recorded (``health``'s ``upstream.last_error``) and exits non-zero with
its code.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from market.errors import MarketError
from market.upstream import sync


class Command(BaseCommand):
    help = "Sync the catalogue from the central marketplace (MARKET_UPSTREAM_URL)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--full", action="store_true", help="fetch every entry, not only changes"
        )
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args, **opts) -> None:
        try:
            result = sync.sync(full=opts["full"])
        except MarketError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        if opts["json"]:
            self.stdout.write(json.dumps({"ok": True, "sync": result.as_dict()}))
            return
        since = "full" if result.since is None else f"since {result.since}"
        self.stdout.write(
            f"[ok] revision {result.revision} ({since}): {result.created} new, "
            f"{result.updated} updated, {len(result.skipped)} skipped "
            f"(local ids), {result.bytes} bytes"
        )
        for key_id in result.keys_accepted:
            self.stdout.write(f"[ok] accepted rotated central key {key_id}")
