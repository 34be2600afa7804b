"""Django admin: the review workflow and read-only lifecycle tables."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from market import review
from market.errors import MarketError
from market.forms import ReasonField
from market.models import (
    CatalogEntry,
    InstalledExtension,
    LifecycleError,
    LifecycleEvent,
    PreviousInstall,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Audit records are written by the services only."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReasonForm(forms.Form):
    reason = ReasonField(help_text="Required. Shown to the submitter.")


# Decisions that ask for a reason on an intermediate page: title, button, question.
REASON_PAGES = {
    "reject": (
        "Reject submissions",
        "Reject",
        "Reject these submissions? The modder sees the reason.",
    ),
    "delist": (
        "Delist entries",
        "Delist",
        "Delist these entries? They leave the catalogue and can no longer be "
        "installed by id; installed copies stay.",
    ),
    "yank": (
        "Yank versions",
        "Yank",
        "Yank these versions? Each stays reserved but is no longer offered as the "
        "newest version of its extension.",
    ),
}


def _pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


@admin.register(CatalogEntry)
class CatalogEntryAdmin(admin.ModelAdmin):
    list_display = (
        "extension_id",
        "version",
        "status",
        "trust_level",
        "is_latest",
        "submitted_by",
        "submitted_at",
    )
    list_filter = ("status", "trust_level", "is_latest")
    search_fields = ("extension_id", "name", "summary")
    list_select_related = ("submitted_by", "reviewed_by")
    readonly_fields = (
        "extension_id",
        "version",
        "name",
        "status",
        "trust_level",
        "review_summary",
        "summary",
        "authors",
        "package_link",
        "package_sha256",
        "package_size",
        "manifest_sha256",
        "is_latest",
        "submitted_by",
        "submitted_at",
        "reviewed_by",
        "reviewed_at",
        "review_reason",
        "validation_report",
        "manifest_json",
    )
    # Derived from the manifest (market.review.derived) and shown through it.
    exclude = (
        "manifest",
        "report",
        "card",
        "permission_index",
        "hook_index",
        "listing",
        "package",
    )
    actions = ("approve_verified", "approve_unverified", "reject", "delist", "yank")

    # Submitted data and review state change through review.transition() only, and
    # a submitted id+version stays reserved whatever became of it: nothing is added,
    # edited or deleted here.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="What it asks for")
    def review_summary(self, obj: CatalogEntry) -> str:
        report = obj.report
        return render_to_string(
            "admin/market/review_summary.html",
            {
                "diff": report.get("diff", {}),
                "permissions": obj.manifest.get("permissions", []),
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

    @admin.display(description="Package")
    def package_link(self, obj: CatalogEntry) -> str:
        # The workbench views check the review permission themselves.
        def url(name: str) -> str:
            return reverse(f"market-workbench:{name}", args=[obj.pk])

        risk = obj.report.get("risk") if isinstance(obj.report, dict) else None
        if isinstance(risk, dict):
            total = risk.get("total")
            plural = "" if total == 1 else "s"
            score = f" (risk score {risk.get('score')}, {total} finding{plural})"
        else:
            score = " (not scanned yet)"
        return format_html(
            '<a href="{}">Download {}-{}.cvnext</a> &middot; <a href="{}">Files and '
            'risk signals</a>{} &middot; <a href="{}">Changes since the last approved '
            "version</a>",
            url("download"),
            obj.extension_id,
            obj.version,
            url("tree"),
            score,
            url("diff"),
        )

    @admin.display(description="Validation report (raw)")
    def validation_report(self, obj: CatalogEntry) -> str:
        return _pretty(obj.report)

    @admin.display(description="Manifest")
    def manifest_json(self, obj: CatalogEntry) -> str:
        return _pretty(obj.manifest)

    def _run(self, request, queryset, label: str, action: str, reason=None) -> None:
        done = 0
        for entry in queryset:
            try:
                review.transition(
                    entry=entry, action=action, actor=request.user, reason=reason
                )
            except MarketError as exc:
                self.message_user(
                    request, f"{entry}: {exc.message} [{exc.code}]", messages.ERROR
                )
            else:
                done += 1
        if done:
            self.message_user(
                request, f"{label}: {done} entr{'y' if done == 1 else 'ies'}"
            )

    def _with_reason(self, request, queryset, action: str, label: str):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._run(request, queryset, label, action, form.cleaned_data["reason"])
            return None
        title, button, question = REASON_PAGES[action]
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "button": button,
            "question": question,
            "action": action,
            "queryset": queryset,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/market/decision_reason.html", context)

    @admin.action(permissions=["review"], description="Approve as verified (sign)")
    def approve_verified(self, request, queryset) -> None:
        self._run(request, queryset, "Approved as verified", "approve_verified")

    @admin.action(
        permissions=["review"], description="Approve as unverified (sandboxed)"
    )
    def approve_unverified(self, request, queryset) -> None:
        self._run(request, queryset, "Approved as unverified", "approve_unverified")

    @admin.action(permissions=["review"], description="Reject (with a reason)")
    def reject(self, request, queryset):
        return self._with_reason(request, queryset, "reject", "Rejected")

    @admin.action(permissions=["review"], description="Delist (with a reason)")
    def delist(self, request, queryset):
        return self._with_reason(request, queryset, "delist", "Delisted")

    @admin.action(permissions=["review"], description="Yank version (with a reason)")
    def yank(self, request, queryset):
        return self._with_reason(request, queryset, "yank", "Yanked")

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("market.review_catalogentry")


@admin.register(InstalledExtension)
class InstalledExtensionAdmin(ReadOnlyAdmin):
    list_display = ("extension_id", "version", "trust_level", "source", "installed_at")
    list_filter = ("trust_level", "source")
    search_fields = ("extension_id",)
    list_select_related = ("installed_by",)


@admin.register(PreviousInstall)
class PreviousInstallAdmin(ReadOnlyAdmin):
    """Versions kept for rollback; the services write and remove them with their
    folders, so nobody deletes one here either."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    list_display = ("extension_id", "version", "trust_level", "source", "kept_at")
    search_fields = ("extension_id",)
    list_select_related = ("installed_by",)


@admin.register(LifecycleError)
class LifecycleErrorAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "extension_id", "code", "message", "actor")
    list_filter = ("action", "code")
    search_fields = ("extension_id", "message")
    list_select_related = ("actor",)


@admin.register(LifecycleEvent)
class LifecycleEventAdmin(ReadOnlyAdmin):
    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the audit trail of every decision

    list_display = (
        "created_at",
        "action",
        "extension_id",
        "version",
        "trust_level",
        "actor",
    )
    list_filter = ("action", "trust_level")
    search_fields = ("extension_id",)
    list_select_related = ("actor",)


from market import admin_owners  # noqa: E402, F401  (registers ExtensionOwner)
