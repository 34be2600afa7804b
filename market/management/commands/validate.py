"""``manage.py validate SRC_OR_BUNDLE``: the packager's checks, without keeping output.

For a source folder the bundle is built in a temporary folder and discarded, so the
printed ``sha256`` is the one ``package`` would produce. For a ``.cvnext`` file every
member is checked as the installer checks it (names, types, limits, content record);
nothing is extracted. Exit codes as ``package``: 65 for manifest problems, 1 otherwise.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from market.archive import inspect_bundle
from market.errors import MarketError
from market.packaging import build_package
from market.packaging.cli import (
    add_manifest_options,
    fail,
    load_allowlist,
    write_warnings,
)
from market.services import archive_limits


class Command(BaseCommand):
    help = (
        "Validate an extension source folder or a .cvnext bundle with the packager's "
        "and the installer's checks; nothing is written."
    )
    requires_system_checks: list[str] = []  # no database or apps needed

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("target", metavar="SRC_OR_BUNDLE")
        add_manifest_options(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        target = Path(opts["target"])
        try:
            allowlist = load_allowlist(opts["allowlist"])
            if target.is_dir():
                summary = self._source(target, allowlist, opts)
            else:
                summary = self._bundle(target, allowlist, opts)
        except (MarketError, OSError) as exc:
            fail(self.stdout, self.stderr, exc, as_json=opts["json"])
        warnings = summary.pop("_warnings")
        if opts["json"]:
            summary["warnings"] = [w.as_dict() for w in warnings]
            self.stdout.write(json.dumps(summary, indent=2))
            return
        write_warnings(self.stderr, warnings)
        self.stdout.write(
            f"[ok] {summary['id']} {summary['version']} "
            f"manifest_sha256={summary['manifest_sha256']} sha256={summary['sha256']}"
        )

    def _source(self, src: Path, allowlist: Any, opts: dict[str, Any]) -> dict:
        with tempfile.TemporaryDirectory(prefix="cvnext-validate-") as tmp:
            result = build_package(
                src,
                tmp,
                trust_level=opts["trust"],
                allowlist=allowlist,
                include_hidden=opts["include_hidden"],
                ignore=tuple(opts["ignore"]),
            )
        manifest = result.manifest
        return {
            "ok": True,
            "kind": "source",
            "path": str(src.resolve()),
            "id": manifest.id,
            "version": manifest.version,
            "trust": manifest.trust_level,
            "manifest_sha256": result.manifest_sha256,
            "sha256": result.sha256,
            "bytes": result.bytes,
            "files": result.files,
            "content_verified": True,
            "_warnings": manifest.warnings,
        }

    def _bundle(self, bundle: Path, allowlist: Any, opts: dict[str, Any]) -> dict:
        info = inspect_bundle(
            bundle,
            limits=archive_limits(),
            allowlist=allowlist,
            trust_level=opts["trust"],
        )
        manifest = info.manifest
        return {
            "ok": True,
            "kind": "bundle",
            "path": str(bundle.resolve()),
            "id": manifest.id,
            "version": manifest.version,
            "trust": manifest.trust_level,
            "manifest_sha256": manifest.digest(),
            "sha256": info.sha256,
            "bytes": info.size,
            "files": len(info.entries),
            "content_verified": info.content_verified,
            "_warnings": info.warnings,
        }
