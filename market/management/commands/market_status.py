"""``manage.py market_status [ID]``: a modder's submissions and their review state.

Without an id: every submission of the token's user (newest first) with its state and
the reviewer's reason. With an id: that submission, its warnings and its report link.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from market.client import MarketClient, RemoteError, load_config
from market.management.commands.market_submit import (
    add_server_options,
    remote_fail,
    submission_lines,
    write_config_warnings,
)

COLUMNS = ("id", "extension_id", "version", "status", "submitted_at")


class Command(BaseCommand):
    help = "Show your submissions and their review state (or one of them by id)."
    requires_system_checks: list[str] = []  # a client: no database needed

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("id", nargs="?", type=int, help="one submission's id")
        add_server_options(parser)
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: Any, **opts: Any) -> None:
        as_json = opts["json"]
        try:
            config = load_config(server=opts["server"], token_file=opts["token_file"])
            write_config_warnings(self.stderr, config)
            with MarketClient(config, timeout=opts["timeout"]) as client:
                if opts["id"] is not None:
                    self._one(client, client.submission(opts["id"]), as_json)
                else:
                    self._all(client, *client.submissions(), as_json)
        except RemoteError as exc:
            remote_fail(self.stdout, self.stderr, exc, as_json=as_json)

    def _one(self, client: MarketClient, submission: dict, as_json: bool) -> None:
        if as_json:
            self.stdout.write(
                json.dumps({"ok": True, "submission": submission}, indent=2)
            )
            return
        for line in submission_lines(client, submission):
            self.stdout.write(line)
        for warning in (submission.get("report") or {}).get("warnings") or []:
            self.stdout.write(
                f"      [warn] {warning.get('path') or '(root)'}: "
                f"{warning.get('message')} [{warning.get('code')}]"
            )

    def _all(
        self, client: MarketClient, items: list[dict], total: int, as_json: bool
    ) -> None:
        if as_json:
            payload = {"ok": True, "count": total, "items": items}
            self.stdout.write(json.dumps(payload, indent=2))
            return
        if not items:
            self.stdout.write("no submissions yet")
            return
        rows = [[str(item.get(c) or "") for c in COLUMNS] for item in items]
        widths = [
            max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)
        ]
        header = [c.upper().ljust(w) for c, w in zip(COLUMNS, widths, strict=True)]
        self.stdout.write("  ".join([*header, "REASON"]))
        for item, row in zip(items, rows, strict=True):
            cells = [v.ljust(w) for v, w in zip(row, widths, strict=True)]
            self.stdout.write(
                "  ".join([*cells, item.get("review_reason") or ""]).rstrip()
            )
        if total > len(items):
            self.stdout.write(f"({len(items)} newest of {total} shown)")
