"""Django admin: the review workflow and read-only lifecycle tables."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.http import require_http_methods

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
from market.workbench import queue
from market.workbench import review as review_views


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
}


@admin.register(CatalogEntry)
class CatalogEntryAdmin(admin.ModelAdmin):
    """The review queue (the changelist: pending, oldest first) and the review page
    (:mod:`market.workbench.review`) in place of the stock change form."""

    list_display = (
        "extension_id",
        "version",
        "status",
        "submitter",
        "waiting",
        "risk",
        "new_permissions",
        "size",
    )
    list_display_links = ("extension_id", "version")
    list_filter = (queue.QueueStatusFilter, "trust_level")
    search_fields = ("extension_id", "name", "summary")
    list_select_related = ("submitted_by",)
    ordering = ("submitted_at", "pk")
    actions = ("reject", "delist")

    # Submitted data and review state change through review.transition() only, and
    # a submitted id+version stays reserved whatever became of it: nothing is added,
    # edited or deleted here.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("market.review_catalogentry")

    def get_queryset(self, request):
        return queue.queue_queryset(super().get_queryset(request))

    def get_urls(self):
        decide = self.admin_site.admin_view(
            require_http_methods(["GET", "HEAD", "POST"])(review_views.decide)
        )
        return [
            path(
                "<path:pk>/decide/<str:action>/",
                decide,
                name="market_catalogentry_decide",
            ),
            *super().get_urls(),
        ]

    def get_list_display(self, request):
        # One status at a time needs no status column: room for the others.
        shown = super().get_list_display(request)
        if queue.status_shown(request) == queue.ALL:
            return shown
        return tuple(name for name in shown if name != "status")

    def changelist_view(self, request, extra_context=None):
        title = queue.queue_title(queue.status_shown(request))
        return super().changelist_view(
            request, {"title": title, **(extra_context or {})}
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method not in ("GET", "HEAD"):
            # Refused by the stock view: nothing here is edited.
            return super().change_view(request, object_id, form_url, extra_context)
        if not (
            self.has_view_permission(request) or self.has_review_permission(request)
        ):
            raise PermissionDenied
        return review_views.review_page(request, object_id)

    @admin.display(description="submitter", ordering="submitted_by__username")
    def submitter(self, obj: CatalogEntry) -> str:
        return obj.submitted_by.get_username() if obj.submitted_by else "(server)"

    @admin.display(description="waiting", ordering="submitted_at")
    def waiting(self, obj: CatalogEntry) -> str:
        return queue.waiting(obj)

    @admin.display(description="risk", ordering="risk_score")
    def risk(self, obj: CatalogEntry) -> str:
        return queue.risk_cell(obj)

    @admin.display(description="new permissions")
    def new_permissions(self, obj: CatalogEntry) -> str:
        return queue.new_permissions_cell(obj)

    @admin.display(description="size", ordering="package_size")
    def size(self, obj: CatalogEntry) -> str:
        return filesizeformat(obj.package_size)

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

    # Approvals are made one entry at a time, from the review page's confirmation.
    @admin.action(permissions=["review"], description="Reject (with a reason)")
    def reject(self, request, queryset):
        return self._with_reason(request, queryset, "reject", "Rejected")

    @admin.action(permissions=["review"], description="Delist (with a reason)")
    def delist(self, request, queryset):
        return self._with_reason(request, queryset, "delist", "Delisted")


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
