"""``manage.py market_uninstall ID``: remove a marketplace-installed extension."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from market import services
from market.errors import MarketError


class Command(BaseCommand):
    help = "Uninstall an extension installed by the marketplace."

    def add_arguments(self, parser) -> None:
        parser.add_argument("id", help="extension id")
        parser.add_argument(
            "--cascade",
            action="store_true",
            help="also uninstall the extensions that depend on it (dependents first)",
        )

    def handle(self, *args, **opts) -> None:
        try:
            ext_id, dependents = services.extension_uninstall_planned(
                ext_id=opts["id"], cascade=opts["cascade"]
            )
        except MarketError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        for dependent in dependents:
            self.stdout.write(f"[ok] uninstalled {dependent} (depends on {ext_id})")
        self.stdout.write(f"[ok] uninstalled {ext_id}")
