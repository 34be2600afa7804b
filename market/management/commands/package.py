"""``manage.py package SRC``: build a deterministic ``.cvnext`` bundle.

The command line lives in :mod:`market.packaging.cli` (pure, no Django), which
``manage.py`` runs directly for ``package`` so a build starts fast; this command runs
the same code for ``call_command`` and Django's own option handling.

Needs no database: the packager is pure, so modders can run it on a fresh checkout.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from market.packaging import cli


class Command(BaseCommand):
    help = cli.HELP
    requires_system_checks: list[str] = []  # no database or apps needed

    def add_arguments(self, parser: Any) -> None:
        cli.add_package_arguments(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        cli.run_package(opts, self.stdout, self.stderr)
