"""Risk signals for the reviewer, computed from a bundle's bytes and manifest.

Pure package: no Django. Each finding has a code, a severity (info, low, medium,
high), a file and line, and a message; the score sums the severities. Signals inform
the reviewer; they never decide.

- :mod:`~market.risk.findings`: findings, severities, score, the bounded collector;
- :mod:`~market.risk.manifest_signals`: sensitive permissions and hooks, global
  routes, new and unexplained permissions;
- :mod:`~market.risk.python_code`: Python read with :mod:`ast`;
- :mod:`~market.risk.binaries`: native binaries and minified JavaScript;
- :mod:`~market.risk.scan`: :func:`assess_bundle` within :class:`RiskLimits`.
"""

from market.risk.findings import SEVERITIES, Finding, score
from market.risk.scan import (
    DEFAULT_RISK_LIMITS,
    FileSource,
    MemoryFiles,
    RiskLimits,
    assess_bundle,
)

__all__ = [
    "DEFAULT_RISK_LIMITS",
    "SEVERITIES",
    "FileSource",
    "Finding",
    "MemoryFiles",
    "RiskLimits",
    "assess_bundle",
    "score",
]
