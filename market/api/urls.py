"""Routes under ``/api/market/``."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from market.api import views

app_name = "market-api"

router = SimpleRouter(trailing_slash="/?")
router.register("catalog", views.CatalogViewSet, basename="catalog")
router.register("installed", views.InstalledViewSet, basename="installed")
router.register("errors", views.LifecycleErrorViewSet, basename="errors")
router.register("events", views.LifecycleEventViewSet, basename="events")
router.register("submissions", views.SubmissionViewSet, basename="submissions")

urlpatterns = [
    path("list", views.MarketListView.as_view(), name="list"),
    path("install", views.InstallView.as_view(), name="install"),
    path("uninstall", views.UninstallView.as_view(), name="uninstall"),
    path("health", views.MarketHealthView.as_view(), name="health"),
    path("keys", views.KeysView.as_view(), name="keys"),
    path("manifest-schema", views.ManifestSchemaView.as_view(), name="manifest-schema"),
    path("", include(router.urls)),
]
