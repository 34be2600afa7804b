"""The packager's command line: ``manage.py package SRC`` without Django.

Prints the spec's four-line block (or one JSON object with ``--json``). A manifest
error (files it references but that are not packed included: ``missing_file``) lists
every problem on stderr and exits 65 (``EX_DATAERR``); any other failure, such as
source paths that collide once case and Unicode are folded (``duplicate_entry``),
prints one ``[error] <code>: <message>`` line and exits 1. ``--check BUNDLE`` rebuilds
the source in a temporary folder and says whether the bytes are identical.

Pure like the rest of the packager: ``manage.py`` runs :func:`main` before Django is
imported, so a modder's build starts in the time Python takes to load the manifest
checks, not the web app. The ``package`` management command runs the same code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn, Protocol, TextIO

from market.errors import ManifestError, MarketError
from market.manifest import TRUST_LEVELS
from market.packaging.builder import build_package, check_package, file_digest
from market.sandbox import Allowlist, load_allowlist_file

EXIT_FAILURE = 1
EXIT_MANIFEST_INVALID = 65  # sysexits.h EX_DATAERR: the input data was incorrect
PROGRESS_MIN_FILES = 200
PROGRESS_MIN_BYTES = 50 * 1024 * 1024
_PROGRESS_INTERVAL = 0.1
HELP = (
    "Package an extension source folder into <output>/<id>-<version>.cvnext "
    "(deterministic: the same source gives the same bytes)."
)


class Output(Protocol):
    """What the commands write through: Django's ``OutputWrapper`` or :class:`Lines`."""

    def write(self, msg: str = "", style_func: Any = None, ending: Any = None) -> None:
        """Write ``msg`` and a newline (or ``ending``)."""

    def flush(self) -> None:
        """Flush the stream."""

    def isatty(self) -> bool:
        """Whether the stream is a terminal."""


class Lines:
    """A stream written a line at a time, as Django's ``OutputWrapper`` writes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, msg: str = "", style_func: Any = None, ending: Any = None) -> None:
        ending = "\n" if ending is None else ending
        if ending and not msg.endswith(ending):
            msg += ending
        self.stream.write(msg)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return hasattr(self.stream, "isatty") and self.stream.isatty()


def add_manifest_options(parser: Any) -> None:
    """Options shared by ``package`` and ``validate``."""
    parser.add_argument(
        "--trust",
        choices=TRUST_LEVELS,
        help="override the manifest's trust.level for this build",
    )
    parser.add_argument(
        "--allowlist",
        metavar="FILE",
        help="JSON {level: [prefixes]} merged into the default global-route allowlist",
    )
    parser.add_argument(
        "--include-hidden",
        action="store_true",
        help="also pack files and folders whose name starts with '.'",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="PATTERN",
        help="skip paths matching this glob (relative path or file name); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def add_package_arguments(parser: Any) -> None:
    parser.add_argument("src", help="extension source folder (with manifest.json)")
    parser.add_argument(
        "--output",
        default=".",
        metavar="DIR",
        help="folder for the bundle, created if missing (default: the current folder)",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing bundle"
    )
    parser.add_argument(
        "--check",
        metavar="BUNDLE",
        help="rebuild SRC in a temporary folder and compare with BUNDLE byte for "
        "byte (exit 0 if identical, 1 if not); --output and --force are ignored",
    )
    add_manifest_options(parser)


def load_allowlist(path: str | None) -> Allowlist | None:
    return None if path is None else load_allowlist_file(path)


def fail(stdout: Output, stderr: Output, exc: Exception, *, as_json: bool) -> NoReturn:
    """Report ``exc`` the command-line way and exit: 65 for a manifest, else 1."""
    if isinstance(exc, MarketError):
        error = exc.as_dict()
    else:  # OSError: a file system failure outside the packager's own checks
        path = getattr(exc, "filename", None)
        message = getattr(exc, "strerror", None) or str(exc)
        error = {
            "code": "io_error",
            "message": f"{path}: {message}" if path else message,
            "details": {},
        }
    code = EXIT_MANIFEST_INVALID if isinstance(exc, ManifestError) else EXIT_FAILURE
    if as_json:
        stdout.write(json.dumps({"ok": False, "error": error}, indent=2))
    else:
        stderr.write(f"[error] {error['code']}: {error['message']}")
        if isinstance(exc, ManifestError):
            for problem in exc.problems:
                stderr.write(
                    f"  {problem.path or '(root)'}: {problem.message} [{problem.code}]"
                )
            more = exc.problem_count - len(exc.problems)
            if more > 0:
                stderr.write(f"  ... and {more} more")
    sys.exit(code)


def write_warnings(stderr: Output, warnings: Any, count: int = 0) -> None:
    for warning in warnings:
        stderr.write(
            f"[warn] {warning.path or '(root)'}: {warning.message} [{warning.code}]",
            style_func=_plain,
        )
    if count > len(warnings):
        stderr.write(f"[warn] ... and {count - len(warnings)} more", style_func=_plain)


def _plain(text: str) -> str:
    return text


class Progress:
    """A one-line progress meter on stderr, for large trees on a terminal only."""

    def __init__(self, stderr: Output, *, enabled: bool) -> None:
        self.stderr = stderr
        self.enabled = enabled
        self.shown = False
        self._last = 0.0

    def __call__(
        self, done: int, total: int, done_bytes: int, total_bytes: int
    ) -> None:
        if not self.enabled:
            return
        if total <= PROGRESS_MIN_FILES and total_bytes <= PROGRESS_MIN_BYTES:
            self.enabled = False
            return
        now = time.monotonic()
        if done < total and now - self._last < _PROGRESS_INTERVAL:
            return
        self._last = now
        self.shown = True
        mib = 1024 * 1024
        self.stderr.write(
            f"\r  packing {done}/{total} files, "
            f"{done_bytes / mib:.1f}/{total_bytes / mib:.1f} MiB",
            style_func=_plain,
            ending="",
        )
        self.stderr.flush()

    def finish(self) -> None:
        if self.shown:
            self.stderr.write("", style_func=_plain)
            self.shown = False


def _content_verdict(bundle: str, ours: str) -> str:
    """Whether differing bytes still hold the same files (e.g. another zlib)."""
    # Only a failed --check reads a bundle: a build starts without the reader.
    from market.archive import inspect_bundle

    try:
        theirs = inspect_bundle(bundle).manifest.digest()
    except MarketError as exc:
        return f"the bundle cannot be read as a bundle: {exc.code}: {exc.message}"
    if theirs == ours:
        return (
            "same manifest_sha256 (same files and manifest): only the compressed "
            "bytes differ, e.g. another zlib"
        )
    return f"manifest_sha256 differs too: bundle {theirs}, rebuilt {ours}"


def run_package(opts: dict[str, Any], stdout: Output, stderr: Output) -> None:
    """Build (or ``--check``) as the parsed options say; exits non-zero on failure."""
    as_json = opts["json"]
    progress = Progress(stderr, enabled=not as_json and stderr.isatty())
    try:
        options = {
            "trust_level": opts["trust"],
            "allowlist": load_allowlist(opts["allowlist"]),
            "include_hidden": opts["include_hidden"],
            "ignore": tuple(opts["ignore"]),
            "progress": progress,
        }
        if opts["check"]:
            _check(opts["src"], opts["check"], options, stdout, stderr, as_json)
            return
        result = build_package(
            opts["src"], opts["output"], force=opts["force"], **options
        )
    except (MarketError, OSError) as exc:
        progress.finish()
        fail(stdout, stderr, exc, as_json=as_json)
    progress.finish()
    if as_json:
        stdout.write(json.dumps(result.as_dict(), indent=2))
        return
    write_warnings(stderr, result.manifest.warnings, result.manifest.warning_count)
    stdout.write(result.format_text())


def _check(
    src: str,
    bundle: str,
    options: dict[str, Any],
    stdout: Output,
    stderr: Output,
    as_json: bool,
) -> None:
    bundle_sha256, bundle_bytes = file_digest(bundle)
    identical, rebuilt = check_package(src, bundle, **options)
    options["progress"].finish()
    bundle_path = str(Path(bundle).resolve())
    if as_json:
        rebuilt_dict = rebuilt.as_dict()
        del rebuilt_dict["ok"], rebuilt_dict["path"]
        payload = {
            "ok": identical,
            "identical": identical,
            "bundle": {
                "path": bundle_path,
                "sha256": bundle_sha256,
                "bytes": bundle_bytes,
            },
            "rebuilt": rebuilt_dict,
        }
        stdout.write(json.dumps(payload, indent=2))
    elif identical:
        stdout.write(
            f"[ok] identical: {bundle_path}\n"
            f"      sha256={bundle_sha256} bytes={bundle_bytes}\n"
            f"      manifest id={rebuilt.manifest.id} "
            f"version={rebuilt.manifest.version} "
            f"manifest_sha256={rebuilt.manifest_sha256}"
        )
    else:
        stderr.write(
            f"[error] not_identical: {bundle_path} differs from a rebuild of {src}\n"
            f"      bundle  sha256={bundle_sha256} bytes={bundle_bytes}\n"
            f"      rebuilt sha256={rebuilt.sha256} bytes={rebuilt.bytes}\n"
            f"      {_content_verdict(bundle, rebuilt.manifest_sha256)}"
        )
    if not identical:
        sys.exit(EXIT_FAILURE)


def main(argv: list[str]) -> int:
    """``manage.py package ...`` (``argv`` as ``sys.argv``): the exit status."""
    parser = argparse.ArgumentParser(
        prog=f"{Path(argv[0]).name} package", description=HELP
    )
    add_package_arguments(parser)
    opts = vars(parser.parse_args(argv[2:]))
    try:
        run_package(opts, Lines(sys.stdout), Lines(sys.stderr))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    return 0
