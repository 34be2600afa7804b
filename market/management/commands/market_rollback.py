"""``manage.py market_rollback ID``: swap an upgraded extension back to the version
its last upgrade replaced."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from market.errors import MarketError
from market.services.rollback import extension_rollback, previous_payload


class Command(BaseCommand):
    help = "Roll an upgraded extension back to the version its upgrade kept."

    def add_arguments(self, parser) -> None:
        parser.add_argument("id", help="extension id")

    def handle(self, *args, **opts) -> None:
        try:
            row = extension_rollback(ext_id=opts["id"])
        except MarketError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        kept = previous_payload(row.extension_id)
        line = f"[ok] rolled back {row.extension_id} to {row.version}"
        if kept:
            line += f" (kept {kept['version']} for the next rollback)"
        self.stdout.write(line)
