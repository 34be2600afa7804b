"""``manage.py market_uninstall ID``: remove a marketplace-installed extension."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from market import services
from market.errors import MarketError


class Command(BaseCommand):
    help = "Uninstall an extension installed by the marketplace."

    def add_arguments(self, parser) -> None:
        parser.add_argument("id", help="extension id")

    def handle(self, *args, **opts) -> None:
        try:
            ext_id = services.extension_uninstall(ext_id=opts["id"])
        except MarketError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(f"[ok] uninstalled {ext_id}")
