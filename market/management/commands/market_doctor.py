"""``manage.py market_doctor [--fix]``: reconcile disk and database after a crash."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from market.doctor import market_doctor


class Command(BaseCommand):
    help = "Report (and with --fix repair) disagreements between disk and database."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--fix", action="store_true", help="repair what is found")
        parser.add_argument(
            "--min-age",
            type=float,
            default=600.0,
            help="only treat staging leftovers older than this many seconds as orphans",
        )
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args, **opts) -> None:
        report = market_doctor(fix=opts["fix"], min_age_seconds=opts["min_age"])
        if opts["json"]:
            attention = report.needs_attention(fixed=opts["fix"])
            payload = {
                "ok": not attention,
                "fixed": opts["fix"],
                "findings": report.findings,
            }
            self.stdout.write(json.dumps(payload, indent=2))
            if attention:
                raise SystemExit(1)
            return
        if report.clean:
            self.stdout.write("[ok] disk and database agree")
            return
        for item in report.findings:
            if item["repaired"]:
                line = f"[fixed] {item['kind']} {item['target']}: {item['action']}"
            elif opts["fix"]:
                line = f"[found] {item['kind']} {item['target']}: {item['action']}"
            else:
                line = (
                    f"[found] {item['kind']} {item['target']}: "
                    f"would be: {item['action']}"
                )
            self.stdout.write(line)
        if not opts["fix"]:
            self.stdout.write("run with --fix to repair")
        if report.needs_attention(fixed=opts["fix"]):
            # Non-zero so monitoring and scripts notice; the report above says what.
            raise SystemExit(1)
