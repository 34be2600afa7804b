"""Risk findings, their severities, the score, and a bounded collector.

A finding is information for the reviewer (a code, a severity, where and why), never
a decision. The collector keeps the first ``max_findings`` and counts the rest, so a
hostile bundle cannot grow a report without bound, while the score still counts
every finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("info", "low", "medium", "high")
WEIGHTS = {"info": 0, "low": 1, "medium": 5, "high": 15}
MAX_SCORE = 100


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    file: str | None
    line: int | None
    message: str

    def __post_init__(self) -> None:
        if self.severity not in WEIGHTS:
            raise ValueError(f"unknown severity {self.severity!r}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "message": self.message,
        }


def score(severities: list[str] | tuple[str, ...]) -> int:
    """0 (nothing found) to 100: high findings weigh most, info ones nothing."""
    return min(MAX_SCORE, sum(WEIGHTS[s] for s in severities))


@dataclass
class FindingSink:
    """Keeps the first ``limit`` findings, drops repeats, and counts everything."""

    limit: int
    kept: list[Finding] = field(default_factory=list)
    total: int = 0
    weight: int = 0
    by_severity: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(SEVERITIES, 0)
    )
    _seen: set[tuple[str, str | None, int | None]] = field(default_factory=set)

    def add(self, finding: Finding) -> None:
        key = (finding.code, finding.file, finding.line)
        if key in self._seen:
            return
        # Only the kept findings are remembered, so memory stays bounded too; a
        # repeat past the limit may be counted twice, which only errs high.
        if len(self._seen) < self.limit:
            self._seen.add(key)
        self.total += 1
        self.weight += WEIGHTS[finding.severity]
        self.by_severity[finding.severity] += 1
        if len(self.kept) < self.limit:
            self.kept.append(finding)

    def report(self) -> dict[str, Any]:
        return {
            "score": min(MAX_SCORE, self.weight),
            "total": self.total,
            "counts": dict(self.by_severity),
            "findings": [f.as_dict() for f in self.kept],
        }


__all__ = ["MAX_SCORE", "SEVERITIES", "WEIGHTS", "Finding", "FindingSink", "score"]
