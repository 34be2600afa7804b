"""Django admin for owned extension ids: maintainers inline, transfers as an action.

Nothing here writes a row itself: adding or removing a maintainer and transferring an
id go through ``market.services.ownership``, which checks who may, and records it.
Reviewers see every id; a staff user who owns ids sees and manages those.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.template.response import TemplateResponse

from market.errors import MarketError
from market.forms import ReasonField
from market.models import ExtensionMaintainer, ExtensionOwner
from market.services import ownership


class MaintainerForm(forms.ModelForm):
    """A maintainer by username (no list of every user, no user ids)."""

    username = forms.CharField(max_length=150, help_text="The user to add.")

    class Meta:
        model = ExtensionMaintainer
        fields = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            field = self.fields["username"]
            field.initial = self.instance.user.get_username()
            field.disabled = True
            field.help_text = ""

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        model = get_user_model()
        lookup = {model.USERNAME_FIELD: username}
        if not self.instance.pk and not model.objects.filter(**lookup).exists():
            raise forms.ValidationError(f"there is no user {username!r}")
        return username


class MaintainerInline(admin.TabularInline):
    model = ExtensionMaintainer
    fk_name = "extension"
    form = MaintainerForm
    fields = ("username", "added_by", "added_at")
    readonly_fields = ("added_by", "added_at")
    extra = 0

    def has_add_permission(self, request, obj=None) -> bool:
        return ownership.may_manage(obj, request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return ownership.may_manage(obj, request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return ownership.may_manage(obj, request.user)


class TransferForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="The new owner.")
    reason = ReasonField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required. Recorded in the audit log.",
    )


@admin.register(ExtensionOwner)
class ExtensionOwnerAdmin(admin.ModelAdmin):
    list_display = ("extension_id", "owner", "owner_since", "created_at")
    search_fields = ("extension_id", "owner__username")
    list_select_related = ("owner",)
    fields = ("extension_id", "owner", "owner_since", "created_at")
    readonly_fields = fields
    inlines = (MaintainerInline,)
    actions = ("transfer",)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if ownership.is_reviewer(request.user):
            return queryset
        return queryset.filter(owner_id=request.user.pk)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return ownership.may_manage(obj, request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return ownership.may_manage(obj, request.user)

    def has_review_permission(self, request) -> bool:
        return ownership.is_reviewer(request.user)

    def save_model(self, request, obj, form, change) -> None:
        """The row itself has nothing to edit; maintainers are saved below."""

    def save_related(self, request, form, formsets, change) -> None:
        ext_id = form.instance.extension_id
        for formset in formsets:
            deleted = set(formset.deleted_forms)
            for inline_form in formset.forms:
                row = inline_form.instance
                if inline_form in deleted and row.pk:
                    username = row.user.get_username()
                    self._call(
                        request,
                        f"Removed maintainer {username}",
                        lambda u=username: ownership.maintainer_remove(
                            ext_id=ext_id, username=u, actor=request.user
                        ),
                    )
                elif (
                    not row.pk
                    and inline_form.has_changed()
                    and inline_form not in deleted
                ):
                    username = inline_form.cleaned_data["username"]
                    self._call(
                        request,
                        f"Added maintainer {username}",
                        lambda u=username: ownership.maintainer_add(
                            ext_id=ext_id, username=u, actor=request.user
                        ),
                    )

    def construct_change_message(self, request, form, formsets, add=False) -> list:
        # The formsets were not saved (the services did the work, and recorded it
        # in the audit log), so Django's account of their new objects is empty.
        return []

    def _call(self, request, done: str, call) -> None:
        try:
            call()
        except MarketError as exc:
            self.message_user(request, f"{exc.message} [{exc.code}]", messages.ERROR)
        else:
            self.message_user(request, done)

    @admin.action(permissions=["review"], description="Transfer ownership")
    def transfer(self, request, queryset):
        form = TransferForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            new_owner, reason = (
                form.cleaned_data["username"],
                form.cleaned_data["reason"],
            )
            for row in queryset:
                self._call(
                    request,
                    f"{row.extension_id} now belongs to {new_owner}",
                    lambda r=row: ownership.ownership_transfer(
                        ext_id=r.extension_id,
                        username=new_owner,
                        reason=reason,
                        actor=request.user,
                    ),
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Transfer ownership",
            "queryset": queryset,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/market/transfer.html", context)
