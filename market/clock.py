"""One timestamp format everywhere: ISO 8601 in UTC with a ``Z``, as DRF writes it."""

from __future__ import annotations

from datetime import datetime


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat().replace("+00:00", "Z")
