"""The risk assessment of one bundle: every signal, within a fixed budget.

:func:`assess_bundle` reads the files it needs through a :class:`FileSource` (the
archive's :class:`~market.archive.BundleFiles`, or a dict in tests), never more
than :class:`RiskLimits` allows: files looked at, bytes parsed per file and in all.
What the budget left unread is itself reported (``not_scanned``), so a reviewer
knows the scan was partial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from market.manifest import MANIFEST_FILENAMES
from market.risk.binaries import (
    HEAD_BYTES,
    JS_SUFFIXES,
    minified_findings,
    native_finding,
)
from market.risk.findings import Finding, FindingSink
from market.risk.manifest_signals import manifest_findings
from market.risk.python_code import python_findings

MIB = 1024 * 1024


@dataclass(frozen=True)
class RiskLimits:
    max_files: int = 2000
    max_file_bytes: int = MIB
    max_total_bytes: int = 16 * MIB
    max_findings: int = 100
    blob_min_chars: int = 256
    minified_line_chars: int = 1000


DEFAULT_RISK_LIMITS = RiskLimits()


class FileSource(Protocol):
    @property
    def names(self) -> list[str]: ...

    def file_size(self, name: str) -> int: ...

    def read(self, name: str, *, max_bytes: int) -> bytes: ...


class MemoryFiles:
    """A :class:`FileSource` over a dict of ``{name: bytes}``."""

    def __init__(self, files: dict[str, bytes]):
        self._files = dict(files)

    @property
    def names(self) -> list[str]:
        return sorted(self._files)

    def file_size(self, name: str) -> int:
        return len(self._files[name])

    def read(self, name: str, *, max_bytes: int) -> bytes:
        return self._files[name][: max(max_bytes, 0)]


def _is_code(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(".py") or lower.endswith(JS_SUFFIXES)


def assess_bundle(
    files: FileSource,
    manifest: dict[str, Any],
    previous: dict[str, Any] | None = None,
    *,
    limits: RiskLimits = DEFAULT_RISK_LIMITS,
) -> dict[str, Any]:
    """``{score, total, counts, findings}`` for a bundle; ``previous`` is the manifest
    of the last approved version of the same id, if there is one."""
    sink = FindingSink(limits.max_findings)
    names = files.names
    manifest_name = next((n for n in MANIFEST_FILENAMES if n in names), None)
    text = ""
    if manifest_name is not None:
        raw = files.read(manifest_name, max_bytes=limits.max_file_bytes)
        text = raw.decode("utf-8", errors="replace")
    for finding in manifest_findings(
        manifest,
        previous,
        manifest_name=manifest_name or MANIFEST_FILENAMES[0],
        manifest_text=text,
    ):
        sink.add(finding)
    budget, skipped = limits.max_total_bytes, 0
    for index, name in enumerate(names):
        if name == manifest_name:
            continue
        if index >= limits.max_files:
            skipped += 1
            continue
        size = files.file_size(name)
        code = _is_code(name)
        want = min(size, limits.max_file_bytes) if code else min(size, HEAD_BYTES)
        if want > budget:
            skipped += 1
            continue
        data = files.read(name, max_bytes=want)
        budget -= len(data)
        native = native_finding(name, data[:HEAD_BYTES])
        if native is not None:
            sink.add(native)
            continue
        if code and size > limits.max_file_bytes:
            sink.add(
                Finding(
                    "not_scanned",
                    "info",
                    name,
                    None,
                    f"{size} bytes, over the {limits.max_file_bytes}-byte scan limit",
                )
            )
            continue
        if name.lower().endswith(".py"):
            for finding in python_findings(
                name, data, blob_min_chars=limits.blob_min_chars
            ):
                sink.add(finding)
        elif code:
            for finding in minified_findings(
                name, data, max_line_chars=limits.minified_line_chars
            ):
                sink.add(finding)
    if skipped:
        sink.add(
            Finding(
                "not_scanned",
                "info",
                None,
                None,
                f"{skipped} files were not scanned: the scan's budget ran out",
            )
        )
    return sink.report()


__all__ = [
    "DEFAULT_RISK_LIMITS",
    "FileSource",
    "MemoryFiles",
    "RiskLimits",
    "assess_bundle",
]
