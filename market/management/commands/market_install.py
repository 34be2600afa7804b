"""``manage.py market_install BUNDLE``: install a bundle from the operator's shell."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from market import selectors, services
from market.errors import MarketError
from market.manifest import TRUST_LEVELS
from market.models import InstalledExtension


class Command(BaseCommand):
    help = "Install a .cvnext bundle through the same checks as the API."

    def add_arguments(self, parser) -> None:
        parser.add_argument("bundle", help="path to a .cvnext bundle")
        parser.add_argument("--reinstall", action="store_true")
        parser.add_argument("--allow-downgrade", action="store_true")
        parser.add_argument(
            "--trust",
            choices=TRUST_LEVELS,
            help="unverified: run it sandboxed whatever it proves; verified: refuse "
            "it unless it proves verified",
        )
        parser.add_argument(
            "--accept",
            action="append",
            default=[],
            metavar="ITEM",
            help="what an upgrade may add over the installed version (repeat for "
            "each: permission:<scope>, route:<path>, hook:<name>)",
        )
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args, **opts) -> None:
        try:
            path = Path(opts["bundle"]).resolve()
            regular = path.is_file()
        except (OSError, RuntimeError) as exc:  # too long a name, a symlink loop, ...
            reason = getattr(exc, "strerror", None) or exc
            raise CommandError(f"cannot use {opts['bundle']}: {reason}") from exc
        if not regular:
            raise CommandError(f"no such bundle: {path}")
        source = services.InstallSource(InstalledExtension.Source.PATH, path, path.name)
        try:
            row = services.extension_install(
                source=source,
                reinstall=opts["reinstall"],
                allow_downgrade=opts["allow_downgrade"],
                trust=opts["trust"],
                accept=opts["accept"],
            )
        except MarketError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        payload = selectors.installed_payload(row)
        if opts["json"]:
            self.stdout.write(json.dumps({"ok": True, "installed": payload}, indent=2))
            return
        self.stdout.write(
            f"[ok] installed {row.extension_id} {row.version} trust={row.trust_level} "
            f"sha256={row.package_sha256}"
        )
