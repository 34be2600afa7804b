"""``manage.py market_demo``: demo data for a first run.

Turns the marketplace flags on in the config file, packages the sample extensions under
``fixtures/extensions`` into ``<MARKET_ROOT>/packages``, lists them in the catalogue
(``sample.toolkit`` as verified, the rest as unverified community bundles) and makes an
``admin`` superuser with a fresh password and API token, printed at the end.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from market import flags, packaging, review
from market.conf import market_conf
from market.errors import MarketError
from market.models import CatalogEntry

VERIFIED_SAMPLES = {"sample.toolkit"}


class Command(BaseCommand):
    help = "Package and list the sample extensions, enable the flags, create an admin."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--samples",
            default=str(Path(settings.BASE_DIR) / "fixtures" / "extensions"),
            help="folder of sample extension sources",
        )
        parser.add_argument("--username", default="admin")

    def handle(self, *args, **opts) -> None:
        flags.write_flags({flags.MARKETPLACE: True, flags.UPLOADS: True})
        self.stdout.write(f"[ok] flags on in {flags.config_path()}")
        out = market_conf().package_dirs[0]
        samples = sorted(p for p in Path(opts["samples"]).iterdir() if p.is_dir())
        for src in samples:
            try:
                result = packaging.build_package(src, out, force=True)
            except MarketError as exc:
                raise CommandError(f"{src.name}: {exc.code}: {exc.message}") from exc
            self._list(result)
        self._admin(opts["username"])

    def _list(self, result: packaging.PackageResult) -> None:
        manifest = result.manifest
        existing = CatalogEntry.objects.filter(
            extension_id=manifest.id, version=manifest.version
        ).first()
        submitted = existing.report.get("submitted_sha256") if existing else None
        if existing is not None and result.sha256 in (
            existing.package_sha256,
            submitted,
        ):
            self.stdout.write(f"[ok] {manifest.id} {manifest.version} already listed")
            return
        if existing is not None:
            existing.package.delete(save=False)
            existing.delete()
        entry = review.catalog_entry_submit(bundle_path=result.path)
        level = "verified" if manifest.id in VERIFIED_SAMPLES else "unverified"
        entry = review.catalog_entry_approve(entry=entry, trust_level=level)
        if level == "verified":
            # The catalogue signed and re-packed it: keep the signed bundle on disk too.
            with entry.package.open("rb") as signed:
                result.path.write_bytes(signed.read())
        self.stdout.write(
            f"[ok] listed {manifest.id} {manifest.version} trust={level} "
            f"sha256={entry.package_sha256[:16]}..."
        )

    def _admin(self, username: str) -> None:
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        password = secrets.token_urlsafe(12)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(
            self.style.SUCCESS(
                f"admin login: {username} / {password}   API token: {token.key}"
            )
        )
