"""``manage.py market_demo``: demo data for a first run.

Turns the marketplace flags on in the config file, packages the sample extensions under
``fixtures/extensions`` into ``<MARKET_ROOT>/packages``, lists them in the catalogue
(``sample.toolkit`` as verified, the rest as unverified community bundles) and makes an
``admin`` superuser with a fresh password and API token, printed at the end.

The catalogue key is created explicitly (as ``market_keys create`` would) when
missing, since ``sample.toolkit`` is approved as verified. A second staff account,
``reviewer``, holds the reviewer role and a fresh password (printed), so the review
flow can be tried in the admin at once: nobody may decide their own submission.
A ``modder`` account (password and token printed) owns ``demo.word_count``: its 1.0.0
is approved and its 2.0.0, which changes the Python code and asks for a new
permission, is left pending for the reviewer (sources under
``fixtures/extensions/review_demo``).

``--env-file FILE`` also writes what the examples in the README and ``docs/`` use, as a
file a shell can source: the API base ``B``, tokens of the admin (``TOKEN``,
``ADMIN_TOKEN``), a modder, an installer and a user without permissions
(``MODDER_TOKEN``, ``INSTALLER_TOKEN``, ``VIEWER_TOKEN``), and ``COMFYVN_MARKET_SERVER``
/ ``COMFYVN_MARKET_TOKEN`` for ``market_submit``, the reviewer's login and token
(``REVIEWER_USER``, ``REVIEWER_PASSWORD``, ``REVIEWER_TOKEN``) and the modder's login
(``MODDER_USER``, ``MODDER_PASSWORD``).
"""

from __future__ import annotations

import secrets
import shlex
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from rest_framework.authtoken.models import Token

from market import flags, packaging, review, services, signing
from market.conf import market_conf
from market.errors import MarketError
from market.models import CatalogEntry

VERIFIED_SAMPLES = {"sample.toolkit"}
# Under --samples: two versions of one extension, for the review demo (not samples).
REVIEW_DEMO = "review_demo"
REVIEW_DEMO_VERSIONS = ("1.0.0", "2.0.0")
# Accounts the docs' examples use: variable -> (user name, roles).
DEMO_ACCOUNTS: dict[str, tuple[str, list[str]]] = {
    "MODDER_TOKEN": ("modder", ["modder"]),
    "INSTALLER_TOKEN": ("studio", ["installer"]),
    "VIEWER_TOKEN": ("viewer", []),
}


def _account_token(username: str, roles: list[str]) -> str:
    """The token of a demo account, created (with its roles) on first use."""
    user_model = get_user_model()
    if not user_model.objects.filter(username=username).exists():
        if roles:
            return services.market_user_create(username=username, roles=roles).token
        user_model.objects.create_user(username=username)
    return services.market_user_token(username=username)


class Command(BaseCommand):
    help = "Package and list the sample extensions, enable the flags, create an admin."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--samples",
            default=str(Path(settings.BASE_DIR) / "fixtures" / "extensions"),
            help="folder of sample extension sources",
        )
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--reviewer",
            default="reviewer",
            help="user name of the demo's second staff account, a reviewer",
        )
        parser.add_argument(
            "--env-file",
            metavar="FILE",
            help="write the demo's server URL and tokens as shell variables to FILE",
        )
        parser.add_argument(
            "--server-url",
            default="http://127.0.0.1:8000",
            metavar="URL",
            help="where the demo server listens (for --env-file)",
        )

    def handle(self, *args, **opts) -> None:
        flags.write_flags({flags.MARKETPLACE: True, flags.UPLOADS: True})
        self.stdout.write(f"[ok] flags on in {flags.config_path()}")
        self._catalogue_key()
        out = market_conf().package_dirs[0]
        samples = sorted(
            p
            for p in Path(opts["samples"]).iterdir()
            if p.is_dir() and p.name != REVIEW_DEMO
        )
        for src in samples:
            try:
                result = packaging.build_package(src, out, force=True)
            except MarketError as exc:
                raise CommandError(f"{src.name}: {exc.code}: {exc.message}") from exc
            self._list(result)
        admin_token = self._admin(opts["username"])
        reviewer = self._reviewer(opts["reviewer"])
        modder = self._modder(DEMO_ACCOUNTS["MODDER_TOKEN"][0])
        self._review_demo(
            Path(opts["samples"]) / REVIEW_DEMO,
            out,
            modder[0],
            opts["server_url"].rstrip("/"),
        )
        if opts["env_file"]:
            self._env_file(
                Path(opts["env_file"]),
                opts["server_url"],
                admin_token,
                reviewer,
                modder[1:],
            )

    def _catalogue_key(self) -> None:
        """The demo lists a verified sample, so it makes the key (on purpose)."""
        existing = signing.load_signing_key()
        if existing is not None:
            key_id = signing.key_id_for(existing.public_key())
            self.stdout.write(f"[ok] catalogue key {key_id} exists")
            return
        try:
            key_id = signing.create_signing_key()
        except MarketError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(f"[ok] created catalogue key {key_id} (market_keys create)")

    def _reviewer(self, username: str) -> tuple[str, str]:
        """A staff reviewer other than the admin, so the admin's own submissions can
        be reviewed (nobody decides their own): ``(username, password)``."""
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is None:
            created = services.market_user_create(username=username, roles=["reviewer"])
            user = created.user
        else:
            user.groups.add(services.role_group(services.ROLES["reviewer"]))
        password = secrets.token_urlsafe(12)
        user.is_staff = True
        user.set_password(password)
        user.save()
        self.stdout.write(
            self.style.SUCCESS(
                f"reviewer login: {username} / {password}   (admin at /admin/; "
                "reviews submissions, including the admin's)"
            )
        )
        return username, password

    def _modder(self, username: str) -> tuple[Any, str, str]:
        """The demo's modder, with a fresh password: ``(user, username, password)``."""
        _account_token(username, DEMO_ACCOUNTS["MODDER_TOKEN"][1])
        user = get_user_model().objects.get(username=username)
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.save()
        token = services.market_user_token(username=username)
        self.stdout.write(
            self.style.SUCCESS(
                f"modder login: {username} / {password}   API token: {token}   "
                "(submits demo.word_count)"
            )
        )
        return user, username, password

    def _review_demo(self, src: Path, out: Path, modder: Any, server: str) -> None:
        """``demo.word_count`` 1.0.0 approved, 2.0.0 pending, both by the modder."""
        if not src.is_dir():
            return
        for version in REVIEW_DEMO_VERSIONS:
            try:
                result = packaging.build_package(src / version, out, force=True)
                entry = CatalogEntry.objects.filter(
                    extension_id=result.manifest.id, version=version
                ).first()
                if entry is not None:
                    self.stdout.write(
                        f"[ok] {entry.extension_id} {version} already submitted "
                        f"({entry.status})"
                    )
                    continue
                entry = review.catalog_entry_submit(
                    bundle_path=result.path, actor=modder
                )
                if version != REVIEW_DEMO_VERSIONS[-1]:
                    entry = review.catalog_entry_approve(entry=entry)
                    self.stdout.write(
                        f"[ok] listed {entry.extension_id} {version} trust=unverified "
                        f"sha256={entry.package_sha256[:16]}..."
                    )
                    continue
            except MarketError as exc:
                raise CommandError(
                    f"{REVIEW_DEMO}/{version}: {exc.code}: {exc.message}"
                ) from exc
            url = server + reverse("admin:market_catalogentry_change", args=[entry.pk])
            self.stdout.write(
                f"[ok] {entry.extension_id} {version} submitted by "
                f"{modder.get_username()}, pending review (code and permissions "
                f"changed since {REVIEW_DEMO_VERSIONS[0]}): {url}"
            )

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
            # A submitted id+version is reserved for good, whatever its bytes now.
            self.stdout.write(
                f"[skip] {manifest.id} {manifest.version} was listed from other "
                "bytes; bump the sample's version to list it again"
            )
            return
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

    def _env_file(
        self,
        path: Path,
        server: str,
        admin_token: str,
        reviewer: tuple[str, str],
        modder: tuple[str, str],
    ) -> None:
        server = server.rstrip("/")
        tokens = {
            name: _account_token(user, roles)
            for name, (user, roles) in DEMO_ACCOUNTS.items()
        }
        values = {
            "B": f"{server}/api/market",
            "TOKEN": admin_token,
            "ADMIN_TOKEN": admin_token,
            **tokens,
            # manage.py commands in another shell must see the demo's flags file.
            "COMFYVN_CONFIG": str(flags.config_path()),
            # Lifecycle log lines go to var/logs/server.log; keep the shell quiet.
            "LOG_LEVEL": "WARNING",
            "COMFYVN_MARKET_SERVER": server,
            "COMFYVN_MARKET_TOKEN": tokens["MODDER_TOKEN"],
            # The admin login that reviews in /admin/ (see docs/operations.md).
            "REVIEWER_USER": reviewer[0],
            "REVIEWER_PASSWORD": reviewer[1],
            "REVIEWER_TOKEN": services.market_user_token(username=reviewer[0]),
            "MODDER_USER": modder[0],
            "MODDER_PASSWORD": modder[1],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            "# Written by `manage.py market_demo`; load it with `. " + str(path) + "`.",
            *(f"export {name}={shlex.quote(value)}" for name, value in values.items()),
        ]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        self.stdout.write(f"[ok] server URL and tokens in {path}")

    def _admin(self, username: str) -> str:
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
        return str(token.key)
