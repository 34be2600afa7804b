"""``manage.py market_submit BUNDLE_OR_SRC --server URL``: publish for review.

The modder's command-line (and CI) path, like ``vsce publish``: a source folder is
packaged first (with ``package``'s options), the bundle is uploaded to the server's
``submissions/`` with the modder's token, and the review state and report link are
printed. A refusal prints the server's error code and exits non-zero: 65 for an
invalid manifest (as ``package``), 1 for anything else.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, OutputWrapper

from market.client import ClientConfig, MarketClient, RemoteError, load_config
from market.errors import ManifestError, MarketError
from market.packaging import build_package
from market.packaging.cli import (
    EXIT_FAILURE,
    EXIT_MANIFEST_INVALID,
    add_manifest_options,
    fail,
    load_allowlist,
    write_warnings,
)


def add_server_options(parser: Any) -> None:
    """Options shared by ``market_submit`` and ``market_status``."""
    parser.add_argument(
        "--server",
        metavar="URL",
        help="the marketplace, e.g. http://127.0.0.1:8000 (else COMFYVN_MARKET_SERVER "
        "or the config file)",
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help="read the API token from FILE (else COMFYVN_MARKET_TOKEN or the config "
        "file)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long to wait for the server (default 120)",
    )


def remote_fail(
    stdout: OutputWrapper, stderr: OutputWrapper, exc: RemoteError, *, as_json: bool
) -> NoReturn:
    """Print the server's refusal and exit: 65 for an invalid manifest, else 1."""
    problems = (exc.details or {}).get("problems") if exc.details else None
    if as_json:
        stdout.write(json.dumps({"ok": False, "error": exc.as_dict()}, indent=2))
    else:
        stderr.write(f"[error] {exc.code}: {exc.message}")
        for problem in problems or []:
            if isinstance(problem, dict):
                stderr.write(
                    f"  {problem.get('path') or '(root)'}: {problem.get('message')} "
                    f"[{problem.get('code')}]"
                )
    invalid = exc.code == ManifestError.code
    sys.exit(EXIT_MANIFEST_INVALID if invalid else EXIT_FAILURE)


def write_config_warnings(stderr: OutputWrapper, config: ClientConfig) -> None:
    for warning in config.warnings:
        stderr.write(f"[warn] {warning}", style_func=lambda text: text)


def submission_lines(client: MarketClient, submission: dict[str, Any]) -> list[str]:
    """One submission's state, as ``market_submit`` and ``market_status`` say it."""
    number = submission.get("id")
    lines = [
        f"{submission.get('extension_id')} {submission.get('version')} "
        f"(submission {number}): {submission.get('status')}"
    ]
    if submission.get("review_reason"):
        lines.append(f"      reason: {submission['review_reason']}")
    lines.append(
        f"      sha256={submission.get('package_sha256')} "
        f"manifest_sha256={submission.get('manifest_sha256')}"
    )
    lines.append(f"      report: {client.url(f'submissions/{number}/')}")
    return lines


class Command(BaseCommand):
    help = (
        "Package (if given a folder) and upload an extension for review; print its "
        "review state and report link."
    )
    requires_system_checks: list[str] = []  # a client: no database needed

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "target",
            metavar="BUNDLE_OR_SRC",
            help="a .cvnext bundle or a source folder",
        )
        add_server_options(parser)
        add_manifest_options(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        as_json = opts["json"]
        target = Path(opts["target"])
        try:
            config = load_config(server=opts["server"], token_file=opts["token_file"])
        except RemoteError as exc:
            remote_fail(self.stdout, self.stderr, exc, as_json=as_json)
        write_config_warnings(self.stderr, config)
        with tempfile.TemporaryDirectory(prefix="cvnext-submit-") as tmp:
            try:
                bundle = self._bundle(target, Path(tmp), opts)
            except (MarketError, OSError) as exc:
                fail(self.stdout, self.stderr, exc, as_json=as_json)
            with MarketClient(config, timeout=opts["timeout"]) as client:
                try:
                    submission = client.submit(bundle)
                except RemoteError as exc:
                    remote_fail(self.stdout, self.stderr, exc, as_json=as_json)
                if as_json:
                    payload = {"ok": True, "submission": submission}
                    payload["report_url"] = client.url(
                        f"submissions/{submission.get('id')}/"
                    )
                    self.stdout.write(json.dumps(payload, indent=2))
                    return
                self._print(client, submission)

    def _bundle(self, target: Path, tmp: Path, opts: dict[str, Any]) -> Path:
        if not target.is_dir():
            if not target.is_file():
                raise OSError(2, "no such bundle or folder", str(target))
            return target
        result = build_package(
            target,
            tmp,
            trust_level=opts["trust"],
            allowlist=load_allowlist(opts["allowlist"]),
            include_hidden=opts["include_hidden"],
            ignore=tuple(opts["ignore"]),
        )
        if not opts["json"]:
            self.stdout.write(
                f"[ok] packaged {result.manifest.id} {result.manifest.version} "
                f"sha256={result.sha256}"
            )
        return result.path

    def _print(self, client: MarketClient, submission: dict[str, Any]) -> None:
        report = submission.get("report") or {}
        warnings = report.get("warnings") or []
        write_warnings(self.stderr, [_Warning(**w) for w in warnings])
        first, *rest = submission_lines(client, submission)
        self.stdout.write(f"[ok] submitted {first}")
        for line in rest:
            self.stdout.write(line)
        if submission.get("status") == "pending":
            self.stdout.write(
                f"      follow it: manage.py market_status {submission.get('id')}"
            )


class _Warning:
    """A report warning with the attributes ``write_warnings`` prints."""

    def __init__(self, path: str = "", code: str = "", message: str = "", **_: Any):
        self.path, self.code, self.message = path, code, message
