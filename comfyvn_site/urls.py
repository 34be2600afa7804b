"""Root URLs: the admin, the marketplace API and its OpenAPI document."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from market.admin_flags import feature_flags_view
from market.api import handlers

urlpatterns = [
    path(
        "admin/flags/",
        admin.site.admin_view(feature_flags_view),
        name="market-flags",
    ),
    # Before the admin's own URLs, whose change view would take this path.
    path(
        "admin/market/catalogentry/<int:pk>/bundle/",
        include("market.workbench.urls"),
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

# Under /api/ these answer with the API's JSON error payload; elsewhere with Django's
# own pages.
handler400 = handlers.bad_request
handler403 = handlers.permission_denied
handler404 = handlers.page_not_found
handler500 = handlers.server_error
