"""The admin's "Debug & Feature Flags" page: shows and toggles the marketplace flags."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from market import flags
from market.errors import ConfigError

PERMISSION = "market.manage_feature_flags"


SEEN_PREFIX = "seen-"


class FlagsForm(forms.Form):
    """One box per flag. The page also carries the values it showed (``seen-<flag>``)
    so a save changes only what the operator changed, even if the file was edited
    by someone else in the meantime."""

    def __init__(self, *args, shown: dict[str, bool], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for spec in flags.FLAGS:
            self.fields[spec.name] = forms.BooleanField(
                required=False,
                initial=shown[spec.name],
                label=spec.name,
                help_text=spec.description,
            )


def _shown(request: HttpRequest, current: flags.Flags) -> dict[str, bool]:
    values = current.as_dict()
    if request.method != "POST":
        return values
    return {
        name: request.POST.get(SEEN_PREFIX + name, "1" if value else "0") == "1"
        for name, value in values.items()
    }


def feature_flags_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    current = flags.get_flags()
    form = FlagsForm(request.POST or None, shown=_shown(request, current))
    if request.method == "POST" and form.is_valid():
        # Only what the operator changed: saving the page untouched must not turn a
        # flag that is merely absent (e.g. the primary flag next to its legacy alias)
        # into an explicit false.
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            if changed:
                flags.write_flags(changed)
        except ConfigError as exc:
            messages.error(request, f"{exc.message} [{exc.code}]")
        else:
            if changed:
                messages.success(
                    request, f"Saved {', '.join(changed)} to {flags.config_path()}"
                )
            else:
                messages.info(request, "Nothing changed.")
            return redirect("market-flags")
    context = {
        **admin.site.each_context(request),
        "title": "Debug & Feature Flags",
        "form": form,
        "seen_prefix": SEEN_PREFIX,
        "config_path": flags.config_path(),
        "effective": {"marketplace": current.marketplace, "uploads": current.uploads},
    }
    return TemplateResponse(request, "admin/market/flags.html", context)
