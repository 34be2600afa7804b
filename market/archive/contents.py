"""What a bundle's manifest says about its files, checked against the files.

Two rules shared by the packager and the installer: every file the manifest references
(panel pages and icons, ``.py`` route and event entries) is present, reported as
``missing_file`` problems, and every module a route or event ``entry`` names
(``pkg.mod``, ``pkg.mod:func``, ``pkg/mod.py:func``) is packed, else
``missing_entry_module``, together with the manifest's other problems; and the
manifest's ``content`` record (a digest over the path, SHA-256 and size of every
other file) matches the files, else ``ContentMismatchError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from market.errors import (
    ContentMismatchError,
    ManifestError,
    ManifestLimitError,
    Problem,
)
from market.manifest import (
    Manifest,
    ProblemList,
    content_record,
    normalise_manifest,
    reference_problems,
)
from market.sandbox import Allowlist

NO_CONTENT_RECORD = Problem(
    "content",
    "content_record_missing",
    "the manifest has no content record (built by an older packager): file "
    "integrity is not proven, so the bundle can only be installed as unverified",
)


def normalise_with_files(
    raw: dict[str, Any],
    present: Iterable[str],
    *,
    source_name: str,
    trust_level: str | None = None,
    allowlist: Allowlist | None = None,
) -> Manifest:
    """:func:`normalise_manifest`, plus ``missing_file`` and ``missing_entry_module``
    problems against ``present``.

    ``present`` are the bundle paths of the files shipped. Every problem comes in one
    ``ManifestError``: when the manifest is invalid anyway, references are looked up
    as written, except at paths that already have a problem.
    """
    have = frozenset(present)
    try:
        manifest = normalise_manifest(
            raw, source_name=source_name, trust_level=trust_level, allowlist=allowlist
        )
    except ManifestLimitError:
        raise
    except ManifestError as exc:
        flagged = {p.path for p in exc.problems}
        missing = [p for p in reference_problems(raw, have) if p.path not in flagged]
        if not missing:
            raise
        found = ProblemList()
        found.extend([*exc.problems, *missing])
        count = exc.problem_count + len(missing)
        raise ManifestError(found.first(), count=count) from exc
    problems = reference_problems(manifest.data, have)
    if problems:
        raise ManifestError(problems)
    return manifest


def _describe(record: dict[str, Any]) -> str:
    digest = str(record.get("sha256"))[:12]
    return f"{record.get('files')} files, {record.get('bytes')} bytes, sha256 {digest}…"


def check_content(
    data: dict[str, Any], records: list[tuple[str, str, int]]
) -> tuple[bool, tuple[Problem, ...]]:
    """``(verified, warnings)`` for the ``(path, sha256, size)`` of every other file.

    ``data`` is the manifest (normalised, or as read when it is invalid). No content
    record: not verified, with a warning. A record that does not match the files:
    ``ContentMismatchError``.
    """
    declared = data.get("content")
    if not isinstance(declared, dict):
        return False, (NO_CONTENT_RECORD,)
    actual = content_record(records)
    keys = ("sha256", "files", "bytes")
    if any(declared.get(k) != actual[k] for k in keys):
        raise ContentMismatchError(
            "the bundle's files do not match its manifest's content record "
            f"(declared {_describe(declared)}; found {_describe(actual)})",
            details={
                "declared": {k: declared.get(k) for k in keys},
                "actual": {k: actual[k] for k in keys},
                "entries": sorted(path for path, _, _ in records),
            },
        )
    return True, ()


__all__ = ["NO_CONTENT_RECORD", "check_content", "normalise_with_files"]
