"""Workbench URLs, mounted under the catalogue entry's admin page."""

from django.urls import path

from market.workbench import views

app_name = "market-workbench"

urlpatterns = [
    path("", views.tree, name="tree"),
    path("file/", views.file, name="file"),
    path("raw/", views.raw, name="raw"),
    path("image/", views.image, name="image"),
    path("diff/", views.diff, name="diff"),
    path("download/", views.download, name="download"),
]
