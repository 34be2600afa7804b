"""Root URLs: the admin, the marketplace API and its OpenAPI document."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from market.admin_flags import feature_flags_view
from market.api.exceptions import json_not_found, json_server_error

urlpatterns = [
    path(
        "admin/flags/",
        admin.site.admin_view(feature_flags_view),
        name="market-flags",
    ),
    path("admin/", admin.site.urls),
    path("api/market/", include("market.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="openapi-schema"),
        name="openapi-docs",
    ),
]

handler404 = json_not_found
handler500 = json_server_error
