"""Routes under ``/api/market/``. Every route answers with or without a trailing slash,
so a POST is never lost to a redirect."""

from django.urls import include, re_path
from rest_framework.routers import SimpleRouter

from market.api import maintainers, snapshot, versions, views

app_name = "market-api"

# Path parameters: an extension id's form, a SemVer version's characters, and Django's
# default username characters.
ID = r"[a-z][a-z0-9_.-]{2,63}"
VERSION = r"[0-9A-Za-z.+-]{1,128}"
USERNAME = r"[\w.@+-]{1,150}"


class OptionalSlashRouter(SimpleRouter):
    def __init__(self) -> None:
        super().__init__()
        # SimpleRouter only knows "/" or ""; its regex routes take an optional one.
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("catalog", views.CatalogViewSet, basename="catalog")
router.register("installed", views.InstalledViewSet, basename="installed")
router.register("errors", views.LifecycleErrorViewSet, basename="errors")
router.register("events", views.LifecycleEventViewSet, basename="events")
router.register("submissions", views.SubmissionViewSet, basename="submissions")

urlpatterns = [
    re_path(r"^list/?$", views.MarketListView.as_view(), name="list"),
    re_path(r"^install/?$", views.InstallView.as_view(), name="install"),
    re_path(r"^uninstall/?$", views.UninstallView.as_view(), name="uninstall"),
    re_path(r"^health/?$", views.MarketHealthView.as_view(), name="health"),
    re_path(r"^keys/?$", views.KeysView.as_view(), name="keys"),
    re_path(
        r"^manifest-schema/?$",
        views.ManifestSchemaView.as_view(),
        name="manifest-schema",
    ),
    re_path(
        r"^maintainers/?$", maintainers.MaintainerAddView.as_view(), name="maintainers"
    ),
    re_path(
        rf"^maintainers/(?P<ext_id>{ID})/?$",
        maintainers.MaintainerListView.as_view(),
        name="maintainers-of",
    ),
    re_path(
        rf"^maintainers/(?P<ext_id>{ID})/(?P<username>{USERNAME})/?$",
        maintainers.MaintainerRemoveView.as_view(),
        name="maintainer",
    ),
    re_path(r"^transfers/?$", maintainers.TransferView.as_view(), name="transfers"),
    re_path(r"^updates/?$", versions.UpdatesView.as_view(), name="updates"),
    re_path(r"^rollback/?$", versions.RollbackView.as_view(), name="rollback"),
    re_path(r"^lock/?$", versions.LockView.as_view(), name="lock"),
    re_path(r"^restore/?$", versions.RestoreView.as_view(), name="restore"),
    re_path(
        rf"^catalog/(?P<ext_id>{ID})/(?P<version>{VERSION})/yank/?$",
        versions.YankView.as_view(),
        name="yank",
    ),
    re_path(
        rf"^catalog/(?P<ext_id>{ID})/(?P<version>{VERSION})/bundle/?$",
        snapshot.BundleView.as_view(),
        name="bundle",
    ),
    re_path(r"^snapshot/?$", snapshot.SnapshotView.as_view(), name="snapshot"),
    re_path(
        r"^snapshot/keys/?$", snapshot.SnapshotKeysView.as_view(), name="snapshot-keys"
    ),
    re_path(r"^", include(router.urls)),
]
