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
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from market import review, signing
from market.errors import MarketError
from market.models import CatalogEntry
from market.workbench.views import PAGE_CSP, REVIEW_PERMISSION, harden, linked_findings

Status = CatalogEntry.Status


@dataclass(frozen=True)
class Decision:
    """How a decision is offered: its button, and its reasons to pick from."""

    label: str
    canned: tuple[str, ...] = ()


DECISIONS: dict[str, Decision] = {
    "approve_verified": Decision("Approve as verified"),
    "approve_unverified": Decision("Approve as unverified"),
    "reject": Decision(
        "Reject",
        (
            "It asks for permissions it does not explain or does not need.",
            "Its code does things the manifest does not declare (network access, "
            "subprocesses, dynamic imports).",
            "It ships compiled, minified or encoded code that cannot be reviewed.",
            "It does not work: it fails to load or breaks the Studio.",
        ),
    ),
    "delist": Decision(
        "Delist",
        (
            "It was found to be harmful after approval.",
            "It no longer works with the current Studio.",
            "Withdrawn at its author's request.",
        ),
    ),
    "yank": Decision(
        "Yank this version",
        (
            "This version has a serious bug; the previous version is offered instead.",
            "This version was published by mistake.",
        ),
    ),
}
# Bounded as the stored reason is read back on every page showing it.
MAX_REASON_CHARS = 2000


class DecisionForm(forms.Form):
    """A reason from the canned list, written, or both (joined)."""

    canned = forms.ChoiceField(label="Reason", required=False)
    reason = forms.CharField(
        label="In your words",
        required=False,
        max_length=MAX_REASON_CHARS,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70}),
        help_text="Added after the reason picked above, or on its own. "
        "The submitter sees it.",
    )

    def __init__(self, *args: Any, canned: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.canned_texts = canned
        field = self.fields["canned"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            ("", "(write your own below)"),
            *((str(i), text) for i, text in enumerate(canned)),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        picked = data.get("canned")
        parts = [
            self.canned_texts[int(picked)] if picked else "",
            (data.get("reason") or "").strip(),
        ]
        text = " ".join(p for p in parts if p)
        if not text:
            raise forms.ValidationError(
                "Pick a reason or write one: the submitter is told why."
            )
        data["text"] = text
        return data


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


def _what_happens(entry: CatalogEntry, action: str) -> tuple[list[str], bool]:
    """The confirmation page's sentences, and whether the decision can be made."""
    ident = f"{entry.extension_id} {entry.version}"
    if action == "approve_verified":
        key = signing.load_signing_key()
        if key is None:
            return (
                [
                    "Approving as verified signs the bundle with the catalogue key, "
                    "and the catalogue has none yet.",
                    "Create it with `manage.py market_keys create` on the server, "
                    "then come back to approve.",
                ],
                False,
            )
        key_id = signing.key_id_for(key.public_key())
        return (
            [
                f"Signs {ident} with key {key_id} and re-packs it: the signed "
                "bundle replaces the submitted one (a new sha256; every file the "
                "reviewer saw is kept byte for byte).",
                "Lists it in the catalogue as verified: Studios run it with full "
                "trust, global routes included.",
                f"It becomes the newest version of {entry.extension_id} unless a "
                "higher version is approved.",
            ],
            True,
        )
    if action == "approve_unverified":
        return (
            [
                f"Lists {ident} in the catalogue as unverified: Studios run it "
                "sandboxed, its routes only under its own namespace.",
                f"The bundle is not changed (sha256 {entry.package_sha256[:16]}...).",
                f"It becomes the newest version of {entry.extension_id} unless a "
                "higher version is approved.",
            ],
            True,
        )
    if action == "reject":
        return (
            [
                f"Marks {ident} rejected; it is never listed.",
                "The submitter sees the reason. The version stays reserved: a fixed "
                "bundle must be submitted as a new version.",
            ],
            True,
        )
    if action == "delist":
        return (
            [
                f"Removes {ident} from the catalogue: it can no longer be found or "
                "installed by id. Copies already installed stay installed.",
                "The reason is recorded and shown to the submitter.",
            ],
            True,
        )
    return (
        [
            f"Withdraws version {entry.version}: it stays reserved but is no longer "
            f"offered as the newest version of {entry.extension_id}; the highest "
            "other approved version takes its place.",
            "The reason is recorded and shown to the submitter.",
        ],
        True,
    )


def _outcome(entry: CatalogEntry, action: str) -> str:
    ident = f"{entry.extension_id} {entry.version}"
    if action == "approve_verified":
        return (
            f"Approved {ident} as verified: signed and re-packed "
            f"(sha256 {entry.package_sha256[:16]}...)."
        )
    if action == "approve_unverified":
        return f"Approved {ident} as unverified."
    return f"{entry.get_status_display()}: {ident}. Reason: {entry.review_reason}"


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
            messages.success(request, _outcome(done, action))
        return redirect(review_url(entry))
    sentences, possible = _what_happens(entry, action)
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
