"""``manage.py market_keys``: the catalogue's Ed25519 signing key, made on purpose.

``create`` makes ``MARKET_SIGNING_KEY_FILE`` (mode 0600, written durably) and refuses
when it exists; ``list`` shows the current key, the keys rotations retired and the
keys trusted by configuration; ``rotate`` replaces the key, keeping the old public key
published by ``GET /api/market/keys`` so bundles it signed still verify. ``create``
starts the key chain studios follow (``GET /api/market/snapshot/keys``) and each
``rotate`` adds the new key to it, signed by the old one.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from market import signing
from market.conf import market_conf
from market.errors import MarketError


class Command(BaseCommand):
    help = "Create, list or rotate the catalogue's signing key."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("create", help="create the key; refuses to overwrite one")
        actions.add_parser("list", help="list the current, retired and trusted keys")
        actions.add_parser(
            "rotate", help="replace the key, keeping the old public key trusted"
        )

    def handle(self, *args, **opts) -> None:
        try:
            getattr(self, f"_{opts['action']}")()
        except MarketError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc

    def _create(self) -> None:
        key_id = signing.create_signing_key()
        path = signing.key_path()
        self.stdout.write(f"[ok] created catalogue key {key_id} in {path}")

    def _rotate(self) -> None:
        old_id, new_id = signing.rotate_signing_key()
        self.stdout.write(
            f"[ok] rotated catalogue key {old_id} -> {new_id}; {old_id} stays "
            "published, so bundles it signed still verify; the key chain "
            f"(snapshot/keys) has {new_id} signed by {old_id}"
        )

    def _list(self) -> None:
        current = signing.load_signing_key()
        if current is None:
            self.stdout.write(f"current  (none)  {signing.CREATE_HINT}")
        else:
            key_id = signing.key_id_for(current.public_key())
            self.stdout.write(f"current  {key_id}  {signing.key_path()}")
        for key_id in sorted(signing.retired_keys()):
            self.stdout.write(f"retired  {key_id}  {signing.retired_dir()}")
        for key_id in sorted(market_conf().trusted_keys):
            self.stdout.write(f"trusted  {key_id}  MARKET_TRUSTED_KEYS")
