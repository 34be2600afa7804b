"""The admin site: the marketplace's name in the header, and the Debug & Feature Flags
page listed with the marketplace's models (index and navigation sidebar alike) for
those who may use it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin import apps as admin_apps
from django.http import HttpRequest
from django.urls import reverse

SITE_HEADER = "ComfyVN Marketplace"
FLAGS_PERMISSION = "market.manage_feature_flags"


class MarketAdminSite(admin.AdminSite):
    site_header = SITE_HEADER
    site_title = SITE_HEADER
    index_title = "Administration"

    def get_app_list(
        self, request: HttpRequest, app_label: str | None = None
    ) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        if not request.user.has_perm(FLAGS_PERMISSION):
            return apps
        for app in apps:
            if app["app_label"] == "market":
                app["models"].append(
                    {
                        "name": "Debug & Feature Flags",
                        "object_name": "FeatureFlags",
                        "admin_url": reverse("market-flags"),
                        "add_url": None,
                        "view_only": False,
                        "perms": {"change": True},
                    }
                )
        return apps


class MarketAdminConfig(admin_apps.AdminConfig):
    """Django's admin (``django.contrib.admin``), on the marketplace's site."""

    default_site = "market.admin_site.MarketAdminSite"
