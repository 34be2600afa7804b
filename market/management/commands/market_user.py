"""``manage.py market_user``: marketplace accounts without the Django shell.

``create NAME --role modder|reviewer|installer`` makes a user holding the role's
permissions and prints an API token (and, for reviewers, who work in the admin, a
password); ``token NAME [--rotate]`` prints or replaces a user's token.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from market import services
from market.errors import MarketError


class Command(BaseCommand):
    help = "Create marketplace users (modder, reviewer, installer) and their tokens."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser(
            "create",
            help="create a user with one or more roles and print an API token",
            description="Roles: "
            + "; ".join(
                f"{role.name}: {role.description}" for role in services.ROLES.values()
            ),
        )
        create.add_argument("username")
        create.add_argument(
            "--role",
            action="append",
            required=True,
            choices=list(services.ROLES),
            help="repeat for several roles",
        )
        create.add_argument("--json", action="store_true", help="print JSON")
        token = actions.add_parser("token", help="print (or --rotate) a user's token")
        token.add_argument("username")
        token.add_argument(
            "--rotate", action="store_true", help="replace the token with a new one"
        )

    def handle(self, *args, **opts) -> None:
        try:
            if opts["action"] == "create":
                self._create(opts)
            else:
                key = services.market_user_token(
                    username=opts["username"], rotate=opts["rotate"]
                )
                self.stdout.write(key)
        except MarketError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc

    def _create(self, opts) -> None:
        created = services.market_user_create(
            username=opts["username"], roles=opts["role"]
        )
        name = created.user.get_username()
        if opts["json"]:
            payload = {
                "ok": True,
                "username": name,
                "roles": list(created.roles),
                "permissions": sorted(created.user.get_all_permissions()),
                "token": created.token,
                "password": created.password,
            }
            self.stdout.write(json.dumps(payload, indent=2))
            return
        self.stdout.write(f"[ok] created {name} roles={','.join(created.roles)}")
        self.stdout.write(f"      token={created.token}")
        if created.password is not None:
            self.stdout.write(
                f"      password={created.password} (admin login; shown once)"
            )
