"""The review page of one submission, and the confirmation page of each decision.

The review page replaces the admin's stock change form: who submitted what and when,
the trust it asks for, its risk signals (each linked to the file and line in the
workbench), the declared surface and what changed since the last approved version,
and a decision panel offering exactly the decisions
:data:`market.review.TRANSITIONS` allows from the entry's state. Each decision opens
a confirmation page that says what will happen; its POST goes through
:func:`market.review.transition` (the only way an entry changes state) and returns to
the review page with the outcome.

Both pages carry the workbench's CSP: no inline script or style.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from market import review
from market.errors import MarketError
from market.models import CatalogEntry
from market.workbench.decisions import (
    DECISIONS,
    DecisionForm,
    outcome,
    what_happens,
)
from market.workbench.views import PAGE_CSP, REVIEW_PERMISSION, harden, linked_findings

Status = CatalogEntry.Status


def _page(request: HttpRequest, template: str, context: dict[str, Any]) -> Any:
    response = TemplateResponse(
        request,
        f"market/review/{template}",
        {**admin.site.each_context(request), "opts": CatalogEntry._meta, **context},
    )
    return harden(response, PAGE_CSP)


def _entry(pk: str) -> CatalogEntry | None:
    try:
        key = int(pk)
    except ValueError:
        return None
    return (
        CatalogEntry.objects.select_related("submitted_by", "reviewed_by")
        .filter(pk=key)
        .first()
    )


def _own(request: HttpRequest, entry: CatalogEntry) -> bool:
    return entry.submitted_by_id is not None and entry.submitted_by_id == getattr(
        request.user, "pk", None
    )


def review_url(entry: CatalogEntry) -> str:
    return reverse("admin:market_catalogentry_change", args=[entry.pk])


def decide_url(entry: CatalogEntry, action: str) -> str:
    return reverse("admin:market_catalogentry_decide", args=[entry.pk, action])


def _panel(request: HttpRequest, entry: CatalogEntry) -> dict[str, Any]:
    """What the decision panel offers this reviewer, or why it offers nothing."""
    if not request.user.has_perm(REVIEW_PERMISSION):
        return {"why_not": "Deciding needs the review permission."}
    if _own(request, entry):
        return {
            "why_not": "You submitted this bundle, and nobody decides their own "
            "submission: another reviewer must decide it."
        }
    actions = review.allowed_actions(entry.status)
    if not actions:
        return {
            "why_not": f"A {entry.get_status_display().lower()} entry takes no "
            "further decision; its version stays reserved (a fix is a new version)."
        }
    return {
        "decisions": [
            {"action": a, "label": DECISIONS[a].label, "url": decide_url(entry, a)}
            for a in actions
        ]
    }


def _new_permissions(entry: CatalogEntry) -> list[str] | None:
    """Scopes new since the last approved version; None for a first version."""
    diff = entry.report.get("diff") or {}
    if not diff.get("previous_version"):
        return None
    added = ((diff.get("changes") or {}).get("permissions") or {}).get("added")
    return [str(s) for s in added] if isinstance(added, list) else []


def _summary(entry: CatalogEntry) -> str:
    report = entry.report
    return render_to_string(
        "admin/market/review_summary.html",
        {
            "diff": report.get("diff", {}),
            "permissions": entry.manifest.get("permissions", []),
            "routes": report.get("effective_routes", []),
            "capabilities": report.get("capabilities", {}),
            "content_verified": report.get("content_verified"),
            "files": report.get("files", []),
            "warnings": report.get("warnings", []),
            "warning_count": report.get(
                "warning_count", len(report.get("warnings", []))
            ),
        },
    )


def _versions(entry: CatalogEntry) -> QuerySet[CatalogEntry]:
    return (
        CatalogEntry.objects.filter(extension_id=entry.extension_id)
        .exclude(pk=entry.pk)
        .only("pk", "extension_id", "version", "status", "trust_level", "submitted_at")
        .order_by("-submitted_at", "-pk")
    )


def _wb(view: str, entry: CatalogEntry) -> str:
    return reverse(f"market-workbench:{view}", args=[entry.pk])


def review_page(request: HttpRequest, pk: str) -> HttpResponseBase:
    """GET the review page of entry ``pk`` (the caller checked the view permission)."""
    entry = _entry(pk)
    if entry is None:
        return harden(_text(404, "No such catalogue entry."), PAGE_CSP)
    report = entry.report if isinstance(entry.report, dict) else {}
    trust = entry.manifest.get("trust")
    now = timezone.now()
    context = {
        "title": f"Review {entry.extension_id} {entry.version}",
        "entry": entry,
        "authors": [str(a) for a in entry.authors or []],
        "trust_asked": trust.get("level") if isinstance(trust, dict) else None,
        "pending": entry.status == Status.PENDING,
        "age": timesince(entry.submitted_at, now),
        "decided_after": timesince(entry.submitted_at, entry.reviewed_at)
        if entry.reviewed_at
        else "",
        "risk": report.get("risk") if isinstance(report.get("risk"), dict) else None,
        "findings": linked_findings(entry),
        "new_permissions": _new_permissions(entry),
        "previous_version": (report.get("diff") or {}).get("previous_version"),
        "summary": _summary(entry),
        "versions": [{"entry": v, "url": review_url(v)} for v in _versions(entry)[:50]],
        "panel": _panel(request, entry),
        "tree_url": _wb("tree", entry),
        "diff_url": _wb("diff", entry),
        "download_url": _wb("download", entry),
        "report_json": json.dumps(report, indent=2, sort_keys=True),
        "manifest_json": json.dumps(entry.manifest, indent=2, sort_keys=True),
    }
    return _page(request, "page.html", context)


def _text(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, content_type="text/plain; charset=utf-8", status=status)


def decide(request: HttpRequest, pk: str, action: str) -> HttpResponseBase:
    """GET the confirmation page of ``action`` on entry ``pk``; POST makes it."""
    if not request.user.has_perm(REVIEW_PERMISSION):
        return harden(_text(403, "Deciding needs the review permission."), PAGE_CSP)
    entry = _entry(pk)
    spec = review.TRANSITIONS.get(action)
    if entry is None or spec is None:
        return harden(_text(404, "No such entry or decision."), PAGE_CSP)
    decision = DECISIONS[action]
    form = (
        DecisionForm(
            request.POST if request.method == "POST" else None,
            canned=decision.canned,
        )
        if spec.needs_reason
        else None
    )
    if request.method == "POST" and (form is None or form.is_valid()):
        reason = form.cleaned_data["text"] if form is not None else None
        try:
            done = review.transition(
                entry=entry, action=action, actor=request.user, reason=reason
            )
        except MarketError as exc:
            messages.error(request, f"{exc.message} [{exc.code}]")
        else:
            messages.success(request, outcome(done, action))
        return redirect(review_url(entry))
    sentences, possible = what_happens(entry, action)
    refusal = ""
    if _own(request, entry):
        refusal = "You submitted this bundle: another reviewer must decide it."
    elif entry.status not in spec.allowed_from:
        refusal = (
            f"This entry is {entry.status}; {decision.label.lower()} is possible "
            f"only from: {', '.join(spec.allowed_from)}."
        )
    context = {
        "title": f"{decision.label}: {entry.extension_id} {entry.version}",
        "entry": entry,
        "action": action,
        "label": decision.label,
        "sentences": sentences,
        "possible": possible and not refusal,
        "refusal": refusal,
        "form": form,
        "review_url": review_url(entry),
    }
    return _page(request, "confirm.html", context)
