"""The review queue: the catalogue entries changelist as a reviewer works it.

Pending entries by default, oldest first; approved, rejected, delisted, yanked or all
one click away (the status filter). Each row shows how long the entry has waited,
its risk score, the permissions new since the last approved version and its size,
all read from columns and report keys the database extracts, so a page of the queue
costs the same few queries however long the queue is and however large each
entry's report.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import IntegerField, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.http import HttpRequest
from django.utils import timezone
from django.utils.timesince import timesince

from market.models import CatalogEntry

Status = CatalogEntry.Status
ALL = "all"
SHOWN_SCOPES = 3


def status_shown(request: HttpRequest) -> str:
    """The status the changelist shows: pending unless another (or ``all``)."""
    value = request.GET.get(QueueStatusFilter.parameter_name)
    return value if value in {*Status.values, ALL} else Status.PENDING


def queue_title(status: str) -> str:
    if status == Status.PENDING:
        return "Review queue: pending submissions, oldest first"
    if status == ALL:
        return "Catalogue entries: all"
    return f"Catalogue entries: {Status(status).label.lower()}"


class QueueStatusFilter(admin.SimpleListFilter):
    """Status, pending unless another (or ``all``) is picked."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [*Status.choices, (ALL, "All")]

    def value(self) -> str:
        value = super().value()
        return value if value in {*Status.values, ALL} else Status.PENDING

    def choices(self, changelist) -> Any:
        current = self.value()
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: value}
                ),
                "display": label,
            }

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset if value == ALL else queryset.filter(status=value)


def queue_queryset(queryset: QuerySet[CatalogEntry]) -> QuerySet[CatalogEntry]:
    """The queue's rows: the report's few keys it shows, not the report itself."""
    return queryset.annotate(
        risk_score=Cast(KT("report__risk__score"), IntegerField()),
        risk_total=Cast(KT("report__risk__total"), IntegerField()),
        previous_version=KT("report__diff__previous_version"),
        new_scopes=KT("report__diff__changes__permissions__added"),
    ).defer("report", "manifest", "card", "listing")


def waiting(entry: CatalogEntry) -> str:
    if entry.status == Status.PENDING:
        return timesince(entry.submitted_at, timezone.now())
    return "decided" if entry.reviewed_at else "-"


def risk_cell(entry: CatalogEntry) -> str:
    score = getattr(entry, "risk_score", None)
    if score is None:
        return "not scanned"
    total = getattr(entry, "risk_total", None) or 0
    return f"{score} ({total} finding{'' if total == 1 else 's'})"


def _scopes(text: Any) -> list[str]:
    if isinstance(text, list):
        return [str(s) for s in text]
    if not isinstance(text, str) or not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return [str(s) for s in value] if isinstance(value, list) else []


def new_permissions_cell(entry: CatalogEntry) -> str:
    """New scopes since the last approved version; every scope of a first one."""
    # SQLite extracts a JSON null as the text "null", PostgreSQL as NULL.
    first = getattr(entry, "previous_version", None) in (None, "", "null")
    scopes = (
        entry.permission_index.split()
        if first
        else _scopes(getattr(entry, "new_scopes", None))
    )
    if not scopes:
        return "none"
    shown = ", ".join(scopes[:SHOWN_SCOPES])
    more = len(scopes) - SHOWN_SCOPES
    text = f"{len(scopes)}: {shown}" + (f" +{more} more" if more > 0 else "")
    return f"{text} (first version)" if first else text
